"""End-to-end speed and memory of ``vnaw predict`` against the ``fer`` package — design §8.

Generates a 640×360, 30 fps video with one real face (``skimage.data.astronaut()``) swaying across
a real photograph (``skimage.data.coffee()``; ``--background noise``: grey noise), then runs, each
in a fresh process:

* ``vnaw predict``'s pipeline (:func:`vnaw.inference.predict.predict_file`, default model) on the 1-minute
  video: frames/s end to end and per stage (decode / detect+align / encode / temporal), real-time
  factor (video seconds per wall second);
* the same on a 5-minute video: peak resident memory must stay flat (streaming);
* ``fer``'s ``Video.analyze`` (Haar detector + its bundled quantised CNN) on the 1-minute video,
  in a separate Python environment (``--fer-python``), so that ``fer`` is no project dependency.
* the commands as a user runs them, each in a fresh process on the same 1-minute file, measured
  from outside (wall time, CPU time of all threads, peak RSS, start-up included): ``vnaw --help``,
  ``vnaw predict`` on a 1-frame video (start-up), ``vnaw predict`` on the video (its own thread
  default) and ``fer`` (whole process): one Markdown table.

Setting up that environment (offline ``fer``, no TensorFlow)::

    python -m venv fer-venv
    fer-venv/bin/pip install --no-deps fer==25.10.3
    fer-venv/bin/pip install ai-edge-litert "opencv-python-headless<5" pandas pillow requests \
        tqdm "setuptools<81" "numpy<2"

Run (needs the dev extra for scikit-image)::

    python benchmarks/predict_speed.py --fer-python fer-venv/bin/python --threads 2

Targets: ≥ 5× fer's frames/s end to end on 2 cores, CPU/wall ≥ 1.6, peak RSS ≤ 500 MB,
start-up ≤ 2 s; the last line of the command table says which were met. ``--json PATH`` writes the
figures for ``benchmarks/RESULTS.md``. Run it with the light install's Python (``pip install .
scikit-image``: no torch) for the figures of the inference-only install.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _results import add_json_option, write_results
from fer_peer import python_program

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
                  "frames_with_face": len(result), "peak_rss_mb": u.ru_maxrss / 1024}))
"""


def photo_background(width: int = 640, height: int = 360):
    """A real photograph (scikit-image's ``coffee``: a cup on a wooden table) at the video's size.

    The background matters to ``fer``: its Haar cascade scans the whole frame, and windows over
    texture cost more to reject than windows over flat noise, so a noise background flatters it."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.coffee()).resize((width, height), Image.BILINEAR))


def make_video(path: Path, seconds: int, fps: int = 30, background: str = "photo") -> Path:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from helpers.face_video import write_video

    if not path.is_file():
        bg = photo_background() if background == "photo" else None
        write_video(path, seconds * fps, width=640, height=360, fps=fps, background=bg)
    return path


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all threads): robust to other jobs on the machine."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory. ``ru_maxrss`` will not do in a child: Linux keeps the
    parent's resident size at fork across exec in it (a parent that had imported torch made a
    410 MiB child report 843 MiB); ``VmHWM`` is the peak of this program's own memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(video: str, threads: int, model: str | None, retinaface: str | None = None) -> None:
    """Run the predict pipeline once; print timings and peak memory as JSON."""
    from vnaw.inference.analyze import load_model
    from vnaw.inference.predict import predict_file

    rss0 = peak_rss_mb()
    # As `vnaw predict` loads it: the shipped encoder through ONNX Runtime, a run through torch.
    p = load_model(model, "cpu", threads=threads)
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
                "peak_rss_mb": peak_rss_mb(),
                "cpu_s": _cpu_seconds() - cpu0,
                "rss_after_import_mb": rss0,
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


def report(title: str, r: dict) -> dict:
    """Print one pipeline run; return its figures."""
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
    return {
        "run": title,
        "frames/s": n / r["wall_s"],
        "real-time factor": r["video_s"] / r["wall_s"],
        "frames per CPU-second": n / r["cpu_s"],
        "peak RSS MiB": r["peak_rss_mb"],
        **{f"{stage} ms/frame": 1000 * s / n for stage, s in t.items()},
    }


def run_child(video: Path, threads: int, model: str | None, retinaface: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", str(video), "--threads", str(threads)]
    cmd += ["--model", model] if model else []
    cmd += ["--retinaface", retinaface] if retinaface else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "GLOG_minloglevel": "2"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# Runs a command and reports its wall time, CPU time (user + system, all threads) and peak resident
# memory, from the kernel's accounting of the waited-for child: the whole process, start-up included.
MEASURE = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": r.returncode, "wall_s": wall, "cpu_s": u.ru_utime + u.ru_stime,
                  "peak_rss_mb": u.ru_maxrss / 1024, "stderr": r.stderr[-2000:]}))
"""


def measure(cmd: list[str], **kw) -> dict:
    """Wall, CPU and peak RSS of one fresh process running ``cmd`` (start-up included)."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True, **kw
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    if r["rc"] != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({r['rc']}): {r['stderr']}")
    return r


VNAW = [sys.executable, "-c", "import sys; from vnaw.cli import main; sys.exit(main())"]


def command_table(video: Path, frames: int, threads: int, fer_python: str | None) -> dict:
    """``vnaw predict`` and ``fer`` as a user runs them, each a fresh process on the same file:
    frames/s end to end, CPU/wall (how many cores did work), peak RSS; and vnaw's start-up."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one_frame.mp4"
        sys.path.insert(0, str(HERE.parent / "tests"))
        from helpers.face_video import write_video

        write_video(one, 1)
        rows = {
            "`vnaw --help`": measure([*VNAW, "--help"], env=env),
            "`vnaw predict` start-up (1-frame video)": measure(
                [*VNAW, "predict", str(one), "--out", f"{tmp}/o1", "--quiet"], env=env
            ),
        }
        # vnaw's own thread default (half the cores for the encoder), as a user runs it.
        run = [*VNAW, "predict", str(video), "--out", f"{tmp}/o", "--quiet"]
        rows[f"`vnaw predict` ({frames} frames)"] = measure(run, env=env)
        if fer_python:
            script = Path(tmp) / "fer_bench.py"
            script.write_text(FER_SCRIPT)
            rows[f"`fer` Video.analyze ({frames} frames)"] = measure(
                [fer_python, str(script), str(video), tmp, str(threads)], cwd=tmp
            )
    print("\n| command (fresh process) | wall s | frames/s | CPU/wall | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        fps = f"{frames / r['wall_s']:.1f}" if "frames)" in name else ""
        print(
            f"| {name} | {r['wall_s']:.2f} | {fps} | {r['cpu_s'] / r['wall_s']:.2f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    walls = [r["wall_s"] for name, r in rows.items() if "frames)" in name]
    if len(walls) == 2:
        print(f"\nvnaw predict is {walls[1] / walls[0]:.2f}× as fast as fer end to end")
    pred = rows[f"`vnaw predict` ({frames} frames)"]
    checks = {
        "≥ 5× fer end to end": walls[1] / walls[0] >= 5 if len(walls) == 2 else None,
        "CPU/wall ≥ 1.6": pred["cpu_s"] / pred["wall_s"] >= 1.6,
        "peak RSS ≤ 500 MiB": pred["peak_rss_mb"] <= 500,
        "start-up ≤ 2 s": rows["`vnaw predict` start-up (1-frame video)"]["wall_s"] <= 2,
    }
    said = {True: "met", False: "NOT met", None: "not measured (no --fer-python)"}
    print("targets: " + ", ".join(f"{k}: {said[v]}" for k, v in checks.items()))
    return {
        "commands (fresh processes)": [
            {
                "command": name,
                "wall s": r["wall_s"],
                "frames/s": frames / r["wall_s"] if "frames)" in name else None,
                "CPU/wall": r["cpu_s"] / r["wall_s"],
                "peak RSS MiB": r["peak_rss_mb"],
            }
            for name, r in rows.items()
        ],
        "vnaw predict ÷ fer, end to end": walls[1] / walls[0] if len(walls) == 2 else None,
        "targets met": [{"target": k, "met": v} for k, v in checks.items()],
    }


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
    ap.add_argument(
        "--fer-python", type=python_program, help="Python of an environment with fer (docstring)"
    )
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
        "--background",
        choices=("photo", "noise"),
        default="photo",
        help="behind the face: a real photograph (default) or grey noise (flatters fer)",
    )
    ap.add_argument(
        "--retinaface",
        metavar="FILE",
        help="also time the pipeline with this RetinaFace checkpoint",
    )
    add_json_option(ap)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.threads, args.model, args.retinaface)
        return
    args.videos.mkdir(parents=True, exist_ok=True)
    short = make_video(
        args.videos / f"face_{args.short_seconds}s_{args.background}.mp4",
        args.short_seconds,
        background=args.background,
    )

    r = run_child(short, args.threads, args.model)
    n = r["frames"]
    which = args.model or "default model: shipped encoder, smoothed"
    figures: dict = {"threads": args.threads, "background": args.background}
    runs = [
        report(
            f"vnaw predict ({which}), {n} frames (640×360, 30 fps, {r['video_s']:.0f} s, "
            f"{args.background} background), "
            f"{args.threads} thread(s)",
            r,
        )
    ]
    if args.fer_python:
        f = run_fer(args.fer_python, short, args.threads)
        figures["fer frames/s (pipeline run)"] = n / f["seconds"]
        figures["vnaw ÷ fer (pipeline run)"] = f["seconds"] / r["wall_s"]
        print(
            f"fer Video.analyze on the same file: {n / f['seconds']:.1f} frames/s "
            f"({n / f['cpu_s']:.1f} frames per CPU-second; {f['frames_with_face']} frames with a "
            f"face); vnaw is {f['seconds'] / r['wall_s']:.2f}× as fast"
        )
    else:
        print("fer: skipped (pass --fer-python)")
    figures.update(command_table(short, n, args.threads, args.fer_python))
    if not args.model and importlib.util.find_spec("torch") is not None:  # not in the light install
        rt = run_child(short, args.threads, random_run(args.videos / "random-run"))
        runs.append(
            report("vnaw predict with a temporal model (untrained, 4 layers × 512, P = 100)", rt)
        )
    if args.retinaface:
        rr = run_child(short, args.threads, args.model, args.retinaface)
        runs.append(report(f"vnaw predict with RetinaFace ({args.retinaface}) on every frame", rr))
    figures["pipeline runs"] = runs
    if args.long_minutes <= 0:
        print(
            f"peak memory: {r['peak_rss_mb']:.0f} MiB at {r['video_s']:.0f} s (long video skipped)"
        )
        write_results(args.json, figures)
        return
    long = make_video(
        args.videos / f"face_{args.long_minutes}min_{args.background}.mp4",
        60 * args.long_minutes,
        background=args.background,
    )
    r5 = run_child(long, args.threads, args.model)
    print(
        f"peak memory: {r['peak_rss_mb']:.0f} MiB at {r['video_s']:.0f} s, "
        f"{r5['peak_rss_mb']:.0f} MiB at {args.long_minutes} min "
        f"({r5['frames'] / r5['wall_s']:.1f} frames/s on the long video)"
    )
    figures[f"peak RSS MiB, {args.long_minutes}-minute video"] = r5["peak_rss_mb"]
    write_results(args.json, figures)


if __name__ == "__main__":
    main()
