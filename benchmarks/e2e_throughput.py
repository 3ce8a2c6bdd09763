"""End-to-end training throughput (encoder in the loop) against features mode.

Times full training steps of the video model as ``mode: end-to-end`` trains it (in-frame erasing on
the pixels of each clip, normalisation, image encoder, temporal encoder, V-NAW loss, backward, AdamW)
on random clips (crop decoding, done by the loader's workers, is not included), for an encoder
frozen and fine-tuned, and, in the same run, the same step on cached
features (the temporal model alone) as the baseline. Prints frames per second.

    HF_HUB_OFFLINE=1 python benchmarks/e2e_throughput.py [--encoder default] [--clips 2] \
        [--clip 16] [--steps 5] [--device cpu]
    HF_HUB_OFFLINE=1 python benchmarks/e2e_throughput.py --encoder swin_tiny_patch4_window7_224 \
        --random-init --device cuda --clips 8 --clip 100 --precision bf16      # on a GPU

``--encoder`` is ``default`` (the shipped encoder), an encoder file, or a timm name (with
``--random-init``: the architecture's cost, not its accuracy). ``--json PATH`` writes the figures
for ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import time

import torch

from _results import add_json_option, write_results
from vnaw import VNAWLoss, in_frame_erase
from vnaw.models.frame_encoder import load_encoder
from vnaw.models.preprocess import normalize
from vnaw.models.temporal import TemporalConfig, TemporalEncoder
from vnaw.models.video import VideoModel


def step_time(model: VideoModel, batch, finetune: bool | None, steps: int, dtype) -> float:
    """Seconds per training step after one warm-up step; ``finetune=None``: features mode."""
    frames, labels, present = batch
    if model.encoder is not None:
        model.encoder.requires_grad_(bool(finetune))
        model.encoder.train(bool(finetune))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    loss_fn = VNAWLoss(level="clip", naw=True)
    device = frames.device
    meta = model.meta

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            if finetune is None:
                x = frames  # (B, T, D) cached features
            else:
                x = in_frame_erase(frames)  # pixels in [0, 1], one Ω per clip
                x = normalize(x.flatten(0, 1), meta.mean, meta.std).view_as(x)
            out = model(x, present)
            loss = loss_fn(out.logits, labels, present).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", default="default")
    ap.add_argument("--random-init", action="store_true")
    ap.add_argument("--clips", type=int, default=2, help="clips per step")
    ap.add_argument("--clip", type=int, default=16, help="frames per clip (P)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--threads", type=int, default=0)
    add_json_option(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    enc = load_encoder(args.encoder, random_init=args.random_init)
    m = enc.meta
    temporal = TemporalEncoder(TemporalConfig(feature_dim=m.feature_size))  # 4 × 512, 1 head
    model = VideoModel(temporal, enc).to(device)
    g = torch.Generator().manual_seed(0)
    b, t = args.clips, args.clip
    shape = (b, t, m.channels, m.input_size, m.input_size)
    frames = torch.rand(shape, generator=g).to(device)
    labels = torch.randint(0, 8, (b, t), generator=g).to(device)
    present = torch.ones(b, t, dtype=torch.bool, device=device)
    feats = torch.randn(b, t, m.feature_size, generator=g).to(device)
    n = b * t
    rows = []
    for name, batch, finetune in (
        ("features (temporal model only)", (feats, labels, present), None),
        ("end-to-end, encoder frozen", (frames, labels, present), False),
        ("end-to-end, encoder fine-tuned", (frames, labels, present), True),
    ):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        s = step_time(model, batch, finetune, args.steps, dtype)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
        rows.append((name, s, n / s, peak))
    print(f"encoder {enc.name} ({m.input_size} px, {m.channels} ch), {b} clips × {t} frames, "
          f"{args.device}, {args.precision}, torch threads {torch.get_num_threads()}")  # fmt: skip
    print("\n| step | s/step | frames/s | × features mode | peak GPU memory GiB |")
    print("|---|---|---|---|---|")
    for name, s, fps, peak in rows:
        print(f"| {name} | {s:.3f} | {fps:.1f} | {rows[0][1] / s:.3f} | {peak:.1f} |")
    write_results(
        args.json,
        {
            "encoder": f"{enc.name} ({m.input_size} px, {m.channels} ch)",
            "clips × frames": f"{b} × {t}",
            "device": args.device,
            "precision": args.precision,
            "torch threads": torch.get_num_threads(),
            "steps": [
                {
                    "step": name,
                    "s/step": s,
                    "frames/s": fps,
                    "× features mode": rows[0][1] / s,
                    "peak GPU memory GiB": None if peak != peak else peak,
                }
                for name, s, fps, peak in rows
            ],
        },
    )


if __name__ == "__main__":
    main()
