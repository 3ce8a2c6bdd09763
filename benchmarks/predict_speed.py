"""End-to-end speed and memory of ``vnaw predict`` against the ``fer`` package — issue 6, design §8.

Generates a 640×360, 30 fps video with one real face (``skimage.data.astronaut()``) swaying across
the frame, then runs, each in a fresh process:

* ``vnaw predict``'s pipeline (:func:`vnaw.inference.predict.predict_file`, default model) on the 1-minute
  video: frames/s end to end and per stage (decode / detect+align / encode / temporal), real-time
  factor (video seconds per wall second);
* the same on a 5-minute video: peak resident memory must stay flat (streaming);
* ``fer``'s ``Video.analyze`` (Haar detector + its bundled quantised CNN) on the 1-minute video,
  in a separate Python environment (``--fer-python``), so that ``fer`` is no project dependency.

Setting up that environment (offline ``fer``, no TensorFlow; see docs/ANCHORS.md)::

    python -m venv fer-venv
    fer-venv/bin/pip install --no-deps fer==25.10.3
    fer-venv/bin/pip install ai-edge-litert "opencv-python-headless<5" pandas pillow requests \
        tqdm "setuptools<81" "numpy<2"

Run (needs the dev extra for scikit-image)::

    python benchmarks/predict_speed.py --fer-python fer-venv/bin/python --threads 2

Target (issue 6): ≥ 60 frames/s end to end with the default model on 2 CPU cores, faster than fer.
Measured on the shared 2-core machine, ``--threads 1`` (another job holding one core), one run:
default model 140 frames/s end to end, real-time factor 4.7 (decode 1.3, detect+align 3.6, encode
1.8 ms/frame); with a 4 × 512, P = 100 temporal model 113 frames/s (temporal 0.4 ms/frame); fer
42 frames/s on the same file (vnaw 3.3× as fast); peak memory 935 MiB at 1 min, 936 MiB at 5 min.
Stage times vary by up to ±50 % with the other job's load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# fer imports TensorFlow at import time but, in its default TFLite mode, only uses
# tf.lite.Interpreter: ai_edge_litert's Interpreter is the same runtime. cv2.waitKey raises with
# headless OpenCV and analyze() calls it every frame.
FER_SCRIPT = r"""
import json, resource, sys, time, types
from ai_edge_litert.interpreter import Interpreter
tf = types.ModuleType("tensorflow"); tf.lite = types.SimpleNamespace(Interpreter=Interpreter)
keras = types.ModuleType("tensorflow.keras"); models = types.ModuleType("tensorflow.keras.models")
models.load_model = None; keras.models = models; tf.keras = keras
sys.modules.update({"tensorflow": tf, "tensorflow.keras": keras, "tensorflow.keras.models": models})
import cv2
cv2.waitKey = lambda *a, **k: -1
cv2.setNumThreads(int(sys.argv[3]))
from fer.classes import Video
from fer.fer import FER
detector = FER()
video = Video(sys.argv[1], outdir=sys.argv[2])
u = resource.getrusage(resource.RUSAGE_SELF); cpu0 = u.ru_utime + u.ru_stime
t0 = time.perf_counter()
result = video.analyze(detector, display=False, save_frames=False, save_video=False,
                       annotate_frames=False, zip_images=False)
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": wall, "cpu_s": u.ru_utime + u.ru_stime - cpu0,
                  "frames_with_face": len(result)}))
"""


def make_video(path: Path, seconds: int, fps: int = 30) -> Path:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from helpers.face_video import write_video

    if not path.is_file():
        write_video(path, seconds * fps, width=640, height=360, fps=fps)
    return path


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all threads): robust to other jobs on the machine."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def child(video: str, threads: int, model: str | None, retinaface: str | None = None) -> None:
    """Run the predict pipeline once; print timings and peak memory as JSON."""
    import torch

    torch.set_num_threads(threads)
    from vnaw.inference.predict import predict_file
    from vnaw.models.artifact import default_video_model, load_video_model

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    p = load_video_model(model)[0] if model else default_video_model()
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    if retinaface:
        res = predict_file(video, p, detector="retinaface", detector_weights=retinaface)
    else:
        res = predict_file(video, p)
    wall = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "frames": len(res.times),
                "video_s": float(res.times[-1] + 1 / 30),
                "wall_s": wall,
                "timings": res.timings,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "cpu_s": _cpu_seconds() - cpu0,
                "rss_after_import_mb": rss0 / 1024,
            }
        )
    )


def random_run(run_dir: Path) -> str:
    """A run with an untrained temporal model of the released code's size (design §6), P = 100.

    Weights do not change speed; this times the temporal stage as a trained V-NAW model has it.
    """
    from vnaw.config import RunConfig, save_config
    from vnaw.models.artifact import CONFIG_FILE, save_run_model
    from vnaw.models.frame_encoder import load_encoder
    from vnaw.models.temporal import TemporalConfig, TemporalEncoder

    encoder = load_encoder("default")
    cfg = RunConfig()
    cfg.model = TemporalConfig(feature_dim=encoder.meta.feature_size)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / CONFIG_FILE)
    save_run_model(run_dir, TemporalEncoder(cfg.model).state_dict(), encoder.identity())
    return str(run_dir)


def report(title: str, r: dict) -> None:
    n, t = r["frames"], r["timings"]
    total = sum(t.values())
    print(title)
    print(
        f"  end to end: {n / r['wall_s']:.1f} frames/s, real-time factor "
        f"{r['video_s'] / r['wall_s']:.2f}× ({n / r['cpu_s']:.1f} frames per CPU-second)"
    )
    for stage, s in t.items():
        print(
            f"  {stage:>9}: {1000 * s / n:6.2f} ms/frame ({n / s:8.1f} frames/s, {100 * s / total:4.1f} %)"
        )


def run_child(video: Path, threads: int, model: str | None, retinaface: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(video), "--threads", str(threads)]
    cmd += ["--model", model] if model else []
    cmd += ["--retinaface", retinaface] if retinaface else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GLOG_minloglevel": "2"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_fer(python: str, video: Path, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "fer_bench.py"
        script.write_text(FER_SCRIPT)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        out = subprocess.run(
            [python, str(script), str(video), tmp, str(threads)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=tmp,  # analyze() writes data.csv into the working directory
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2, help="torch/OpenCV threads (2 = the target)")
    ap.add_argument("--model", help="a trained run; default: the shipped encoder, smoothed")
    ap.add_argument("--fer-python", help="Python of an environment with fer (see docstring)")
    ap.add_argument(
        "--videos",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vnaw-bench",
        help="folder for the generated videos (kept for reruns)",
    )
    ap.add_argument(
        "--short-seconds", type=int, default=60, help="length of the timed video (60 = the target)"
    )
    ap.add_argument(
        "--long-minutes", type=int, default=5, help="length of the memory video; 0 skips it"
    )
    ap.add_argument(
        "--retinaface",
        metavar="FILE",
        help="also time the pipeline with this RetinaFace checkpoint",
    )
    args = ap.parse_args()
    if args.child:
        child(args.child, args.threads, args.model, args.retinaface)
        return
    args.videos.mkdir(parents=True, exist_ok=True)
    short = make_video(args.videos / f"face_{args.short_seconds}s.mp4", args.short_seconds)

    r = run_child(short, args.threads, args.model)
    n = r["frames"]
    which = args.model or "default model: shipped encoder, smoothed"
    report(
        f"vnaw predict ({which}), {n} frames (640×360, 30 fps, {r['video_s']:.0f} s), "
        f"{args.threads} thread(s)",
        r,
    )
    if args.fer_python:
        f = run_fer(args.fer_python, short, args.threads)
        print(
            f"fer Video.analyze on the same file: {n / f['seconds']:.1f} frames/s "
            f"({n / f['cpu_s']:.1f} frames per CPU-second; {f['frames_with_face']} frames with a "
            f"face); vnaw is {f['seconds'] / r['wall_s']:.2f}× as fast"
        )
    else:
        print("fer: skipped (pass --fer-python)")
    if not args.model:
        rt = run_child(short, args.threads, random_run(args.videos / "random-run"))
        report("vnaw predict with a temporal model (untrained, 4 layers × 512, P = 100)", rt)
    if args.retinaface:
        rr = run_child(short, args.threads, args.model, args.retinaface)
        report(f"vnaw predict with RetinaFace ({args.retinaface}) on every frame", rr)
    if args.long_minutes <= 0:
        print(
            f"peak memory: {r['peak_rss_mb']:.0f} MiB at {r['video_s']:.0f} s (long video skipped)"
        )
        return
    long = make_video(args.videos / f"face_{args.long_minutes}min.mp4", 60 * args.long_minutes)
    r5 = run_child(long, args.threads, args.model)
    print(
        f"peak memory: {r['peak_rss_mb']:.0f} MiB at {r['video_s']:.0f} s, "
        f"{r5['peak_rss_mb']:.0f} MiB at {args.long_minutes} min "
        f"({r5['frames'] / r5['wall_s']:.1f} frames/s on the long video)"
    )


if __name__ == "__main__":
    main()
