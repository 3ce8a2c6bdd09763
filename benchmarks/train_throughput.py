"""Training throughput in features mode and the cost of NAW against plain cross-entropy.

Times full training steps (temporal encoder forward + V-NAW loss + backward + AdamW step) on random
cached-feature clips, for the loss with NAW and without (plain CE at the same level), measured
alternately in one run so machine load affects both alike. Also times the loss alone.

    python benchmarks/train_throughput.py [--batch 64] [--clip 100] [--dim 512] [--steps 20]
    python benchmarks/train_throughput.py --device cuda --batch 4096 --precision bf16   # on a GPU

``--json PATH`` writes the figures for ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import time

import torch

from _results import add_json_option, write_results
from vnaw import TemporalEncoder, VNAWLoss, frame_skip
from vnaw.models.temporal import TemporalConfig


def make_batch(b: int, t: int, d: int, device: str, gen: torch.Generator):
    feats = torch.randn(b, t, d, generator=gen).to(device)
    labels = torch.randint(-1, 8, (b, t), generator=gen).to(device)
    present = frame_skip(t, generator=gen, batch_size=b).to(device)
    return feats, labels, present


def time_steps(model, loss_fn, batch, steps: int, device: str, dtype) -> float:
    """Seconds per training step (after two warm-up steps)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    feats, labels, present = batch
    autocast = torch.autocast(
        device_type=device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32
    )

    def step():
        with autocast:
            out = model(feats, present)
            loss = loss_fn(out.logits, labels, present).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def time_loss_only(loss_fn, logits, labels, present, repeats: int) -> float:
    logits = logits.detach().requires_grad_(True)
    start = time.perf_counter()
    for _ in range(repeats):
        loss_fn(logits, labels, present).loss.backward()
    if logits.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--clip", type=int, default=100, help="P, frames per clip")
    ap.add_argument("--dim", type=int, default=512, help="feature size of the cached features")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    add_json_option(ap)
    args = ap.parse_args()
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    gen = torch.Generator().manual_seed(0)
    batch = make_batch(args.batch, args.clip, args.dim, args.device, gen)
    print(
        f"features mode: batch {args.batch} clips × P={args.clip} × D={args.dim}, "
        f"device {args.device}, {args.precision}, torch threads {torch.get_num_threads()}"
    )
    print(f"{'level':6} {'loss':5} {'s/step':>8} {'clips/s':>9} {'NAW/CE':>7}")
    steps, alone = [], []
    for level in ("clip", "frame"):
        times = {}
        # Alternate CE and NAW in rounds so drifts in machine load hit both.
        for _ in range(2):
            for naw in (False, True):
                torch.manual_seed(0)
                model = TemporalEncoder(TemporalConfig(feature_dim=args.dim)).to(args.device)
                loss_fn = VNAWLoss(level=level, naw=naw)
                t = time_steps(model, loss_fn, batch, args.steps // 2, args.device, dtype)
                times.setdefault(naw, []).append(t)
        ce, naw = (sum(times[k]) / len(times[k]) for k in (False, True))
        print(f"{level:6} {'CE':5} {ce:8.4f} {args.batch / ce:9.1f}")
        print(f"{level:6} {'NAW':5} {naw:8.4f} {args.batch / naw:9.1f} {naw / ce:7.3f}")
        steps += [
            {"level": level, "loss": "CE", "s/step": ce, "clips/s": args.batch / ce, "÷ CE": 1.0},
            {
                "level": level,
                "loss": "NAW",
                "s/step": naw,
                "clips/s": args.batch / naw,
                "÷ CE": naw / ce,
            },
        ]
    logits = torch.randn(args.batch, args.clip, 8, generator=gen).to(args.device)
    _, labels, present = batch
    for level in ("clip", "frame"):
        ce = time_loss_only(VNAWLoss(level=level, naw=False), logits, labels, present, 50)
        naw = time_loss_only(VNAWLoss(level=level, naw=True), logits, labels, present, 50)
        print(
            f"loss alone, {level} level: CE {1e3 * ce:.3f} ms, NAW {1e3 * naw:.3f} ms, ratio {naw / ce:.2f}"
        )
        alone.append({"level": level, "CE ms": 1e3 * ce, "NAW ms": 1e3 * naw, "NAW ÷ CE": naw / ce})
    write_results(
        args.json,
        {
            "batch × P × D": f"{args.batch} × {args.clip} × {args.dim}",
            "device": args.device,
            "precision": args.precision,
            "torch threads": torch.get_num_threads(),
            "training steps": steps,
            "loss alone": alone,
        },
    )


if __name__ == "__main__":
    main()
