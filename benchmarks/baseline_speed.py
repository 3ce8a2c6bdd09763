"""What person-relative scores cost ``vnaw predict`` — issue 33 (target: within 10 %).

Alternates, in fresh processes on the same clip (``benchmarks/predict_speed.py``'s generated
640×360 face video), ``vnaw predict`` of another source tree (``--before``, e.g. a checkout of the
commit before this feature) and of this one with ``--baseline auto`` (the default) and
``--baseline none``; prints the median wall time of each and the ratios. Then, in this process,
the two added pieces alone: the appearance descriptor per face crop and the whole-track baseline
with its relative scores per frame.

Run::

    python benchmarks/baseline_speed.py --before ../main/src [--seconds 20] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _results import add_json_option, write_results

HERE = Path(__file__).resolve().parent


def predict_seconds(src: Path, clip: Path, extra: list[str], out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "vnaw", "predict", str(clip), "--out", str(out), "--quiet", *extra],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def pieces(frames: int) -> dict[str, float]:
    """Microseconds per frame of the descriptor and of the whole-track relative scores."""
    from vnaw.inference.baseline import appearance
    from vnaw.inference.predict import TrackResult
    from vnaw.inference.relative import apply_track

    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    appearance(crop)  # imports OpenCV outside the timing
    t0 = time.perf_counter()
    for _ in range(frames):
        appearance(crop)
    desc = (time.perf_counter() - t0) / frames * 1e6
    probs = rng.dirichlet(np.ones(8), frames)
    looks = np.stack([appearance(crop)] * frames)
    track = TrackResult("x", probs, np.ones(frames, bool), np.zeros((frames, 4)), appearance=looks)
    t0 = time.perf_counter()
    apply_track(track)
    rel = (time.perf_counter() - t0) / frames * 1e6
    return {"descriptor_us_per_face": desc, "relative_us_per_frame": rel}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="src/ folder of the other tree")
    ap.add_argument("--seconds", type=int, default=20, help="clip length (30 fps)")
    ap.add_argument("--reps", type=int, default=3)
    add_json_option(ap)
    args = ap.parse_args()

    sys.path.insert(0, str(HERE))
    from predict_speed import make_video

    videos = Path(tempfile.gettempdir()) / "vnaw-bench"
    videos.mkdir(parents=True, exist_ok=True)
    clip = make_video(videos / f"face_{args.seconds}s_photo.mp4", args.seconds)
    here = HERE.parent / "src"
    systems = {
        "before": (args.before, []),
        "baseline auto": (here, ["--baseline", "auto"]),
        "baseline none": (here, ["--baseline", "none"]),
    }
    times: dict[str, list[float]] = {k: [] for k in systems}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):  # alternated: load changes hit every system alike
            for name, (src, extra) in systems.items():
                out = Path(tmp) / f"{name.replace(' ', '_')}_{rep}"
                times[name].append(predict_seconds(src, clip, extra, out))
                print(f"{name} #{rep}: {times[name][-1]:.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "frames": args.seconds * 30,
        "wall time": [
            {"system": k, "runs s": " ".join(f"{x:.2f}" for x in v), "median s": med[k]}
            for k, v in times.items()
        ],
        "auto_vs_before": med["baseline auto"] / med["before"],
        "none_vs_before": med["baseline none"] / med["before"],
        **pieces(args.seconds * 30),
    }
    print(json.dumps(result, indent=1))
    write_results(args.json, result)


if __name__ == "__main__":
    main()
