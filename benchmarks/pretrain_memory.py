"""Peak memory of NLA pretraining of the paper's encoder (Swin-T, 224 px RGB) on FERPlus.

Runs ``vnaw pretrain pretrain_swin`` on FERPlus for a few optimiser steps, each in a fresh
process under ``/usr/bin/time -v``, and reports the peak resident memory of the training process:
images streamed from disk (the config's default: memory does not grow with the set) against
preloaded (memory grows with the number of images), each at two training-set sizes. Step time is
printed too (CPU; two cores shared with other work: expect it to vary).

    HF_HUB_OFFLINE=1 python benchmarks/pretrain_memory.py --data /path/to/ferplus \
        [--sizes 512 4096] [--steps 2] [--threads 2]

Swin-T's activations at batch 32 (image and mirror) dominate the peak; preloading adds the pixels
(4,096 × 224² × 3 bytes ≈ 0.6 GB), streaming keeps memory flat. ``--json PATH`` writes the
figures for ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time

from _results import add_json_option, write_results


def run(data: str, size: int, preload: bool, steps: int, threads: int, out: str) -> dict:
    sets = [f"data.limit={size}", "data.eval_limit=32", f"data.preload={str(preload).lower()}",
            "data.num_workers=1", f"trainer.max_steps={steps}", "trainer.accelerator=cpu",
            "trainer.progress=false", f"trainer.threads={threads}"]  # fmt: skip
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "vnaw", "pretrain", "pretrain_swin",
           *sets, "--data", f"ferplus:{data}", "--out", out]  # fmt: skip
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"pretrain failed ({res.returncode}):\n{res.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1))
    return {"size": size, "preload": preload, "peak_rss_mb": rss_kb / 1024, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="FERPlus root (FER2013Train/ …)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    add_json_option(ap)
    args = ap.parse_args()
    rows = []
    for preload in (False, True):
        for size in args.sizes:
            with tempfile.TemporaryDirectory() as out:
                rows.append(run(args.data, size, preload, args.steps, args.threads, out))
            print(rows[-1], flush=True)
    print("\n| images | pixels | peak RSS (MB) | wall (s, incl. start-up and scoring 64 images) |")
    print("|---|---|---|---|")
    for r in rows:
        mode = "preloaded" if r["preload"] else "streamed"
        print(f"| {r['size']} | {mode} | {r['peak_rss_mb']:.0f} | {r['wall_s']:.0f} |")
    write_results(
        args.json,
        {
            "steps": args.steps,
            "threads": args.threads,
            "runs": [
                {
                    "images": r["size"],
                    "pixels": "preloaded" if r["preload"] else "streamed",
                    "peak RSS MB": r["peak_rss_mb"],
                    "wall s": r["wall_s"],
                }
                for r in rows
            ],
        },
    )


if __name__ == "__main__":
    main()
