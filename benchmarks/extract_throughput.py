"""Throughput of ``vnaw extract`` vs the bare backbone forward on the same frames (design §7.3).

Both paths run in this process on the same crops of a synthetic Aff-Wild2 set: *bare* feeds
pre-decoded, pre-normalised tensors straight to the backbone (the upper bound); *extract* is the
full path (JPEG decoding and resizing in DataLoader workers, float16 conversion, per-video atomic
writes). Target on CPU with resnet18 at 112 px: extract ≥ 80 % of bare. Peak resident memory of this
process and of its DataLoader workers is printed too. ``--json PATH`` writes the figures for
``benchmarks/RESULTS.md``.

    HF_HUB_OFFLINE=1 python benchmarks/extract_throughput.py [--videos 8 --frames 100 --workers 1] \
        [--encoder resnet18|default|swin_tiny_patch4_window7_224] [--device cuda]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _results import add_json_option, write_results
from vnaw.data.affwild2 import index_dataset
from vnaw.data.synth import SynthConfig, generate
from vnaw.features.extract import extract
from vnaw.features.store import EraseSpec
from vnaw.models.frame_encoder import load_encoder
from vnaw.models.preprocess import load_crop, to_input


def bare_forward(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> float:
    """Seconds for the backbone alone over ``x`` in batches."""
    t0 = time.perf_counter()
    with torch.no_grad():
        for b in x.split(batch_size):
            model(b)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--encoder", default="resnet18")
    ap.add_argument("--input-size", type=int, default=112)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--erased-views", type=int, default=0)
    add_json_option(ap)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synth"
        generate(root, SynthConfig(seed=0, videos=args.videos, frames=args.frames, size=64))
        records = index_dataset(root)
        encoder = load_encoder(args.encoder, random_init=True, input_size=args.input_size, seed=0)
        model, meta = encoder.trunk.to(args.device), encoder.meta
        paths = [r.crop_path(int(k)) for r in records for k in np.flatnonzero(r.has_crop)]
        # The same preprocessing as extract (vnaw.models.preprocess), done up front here.
        crops = np.stack([load_crop(p, meta.input_size, meta.channels) for p in paths])
        x = to_input(crops, meta).repeat_interleave(1 + args.erased_views, 0).to(args.device)
        n = len(paths)
        bare_forward(model, x[: args.batch_size], args.batch_size)  # warm-up
        t_bare1 = bare_forward(model, x, args.batch_size)
        erase = EraseSpec(views=args.erased_views)
        t0 = time.perf_counter()
        extract(records, Path(tmp) / "store", encoder, erase=erase,
                batch_size=args.batch_size, num_workers=args.workers, device=args.device,
                progress=False)  # fmt: skip
        t_extract = time.perf_counter() - t0
        t_bare2 = bare_forward(model, x, args.batch_size)
    t_bare = (t_bare1 + t_bare2) / 2  # bracket the extract run: load drift on shared machines
    fps_bare, fps_extract = n / t_bare, n / t_extract
    # ru_maxrss is KiB on Linux, bytes on macOS.
    unit = 1 if sys.platform == "darwin" else 1024
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 2**20
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * unit / 2**20
    print(f"{args.encoder} @ {meta.input_size} px, {n} frames, erased views {args.erased_views}, "
          f"batch {args.batch_size}, workers {args.workers}, torch threads {torch.get_num_threads()}")  # fmt: skip
    print(f"bare forward : {fps_bare:8.1f} frames/s  (runs {n / t_bare1:.1f}, {n / t_bare2:.1f})")
    print(f"vnaw extract : {fps_extract:8.1f} frames/s")
    print(f"ratio        : {100 * fps_extract / fps_bare:6.1f} %  (target >= 80 %)")
    print(
        f"peak RSS     : {peak_self:.0f} MiB main process, {peak_children:.0f} MiB largest worker"
    )
    write_results(
        args.json,
        {
            "encoder": f"{args.encoder} @ {meta.input_size} px (random weights)",
            "frames": n,
            "erased views": args.erased_views,
            "batch": args.batch_size,
            "workers": args.workers,
            "torch threads": torch.get_num_threads(),
            "bare forward frames/s": fps_bare,
            "vnaw extract frames/s": fps_extract,
            "extract ÷ bare %": 100 * fps_extract / fps_bare,
            "target extract ÷ bare %": 80,
            "peak RSS MiB, main process": peak_self,
            "peak RSS MiB, largest worker": peak_children,
        },
    )


if __name__ == "__main__":
    main()
