"""Scaling ``vnaw predict`` over a folder: plain, ``--ray`` (1 and 2 local workers), 2 shards.

Builds a folder of generated clips (a real face, scikit-image's astronaut, moving over a real
photograph, scikit-image's coffee, or over grey noise; one and two faces; one clip without a face),
then runs ``vnaw predict`` on it as a user does, each configuration in a fresh process:

* ``plain``: one process over the folder;
* ``ray1``: ``--ray --workers 1 --ray-cpus 2`` (a local Ray instance, one video at a time, the
  encoder on half the task's CPUs, as plain predict on this machine's cores);
* ``ray2``: ``--ray --workers 2 --ray-cpus 1`` (two videos at once);
* ``shard1+shard2+merge``: ``--shard 1/2`` then ``--shard 2/2`` one after the other (their times
  add up: what N array jobs cost in total), then ``--merge``; ``shards_parallel``: both at once;
* ``tiny_plain`` / ``tiny_ray``: a 1-second clip, to measure Ray's fixed start-up cost.

Measured per run: wall time, and CPU time (user + system) of the process and of every process it
started (Ray's raylet and workers included: this script makes itself the child subreaper, so the
orphans Ray leaves stay below it, and ``/proc`` is polled for all of them: :class:`TreeCPU`).
Runs go round-robin, ``--rounds`` times, so that
load from other users of the machine falls on every configuration alike; figures are medians, and
ratios are against ``plain`` of the same rounds. Results are appended per run to
``WORK/results.jsonl``: a rerun resumes. Finally the stage times of one clip (decode,
detect+align, encode) give the estimate for a node with one GPU (the encoder moved there).

    python benchmarks/scale.py --work /tmp/scale [--clips 8 --seconds 10 --rounds 3] [--json F]

Needs the dev extra (scikit-image) and, for the Ray runs, the ray extra.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _results import add_json_option, write_results

HERE = Path(__file__).resolve().parent
CONFIGS = {
    "plain": [],
    "ray1": ["--ray", "--workers", "1", "--ray-cpus", "2"],
    "ray2": ["--ray", "--workers", "2", "--ray-cpus", "1"],
    "shard1": ["--shard", "1/2"],
    "shard2": ["--shard", "2/2"],
    "merge": None,  # --merge of the two shards' outputs
    "shards_parallel": None,  # shard 1/2 and 2/2 at once
    "tiny_plain": [],
    "tiny_ray": ["--ray", "--workers", "1", "--ray-cpus", "2"],
}
HOURS = 10_000  # the collection to plan for


def make_folder(folder: Path, clips: int, seconds: int) -> list[Path]:
    """``clips`` clips of ``seconds`` s at 30 fps, 640×360; made once."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from PIL import Image
    from skimage import data

    from helpers.face_video import write_video

    photo = np.asarray(Image.fromarray(data.coffee()).resize((640, 360), Image.BILINEAR))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(clips):
        faces = 0 if i == clips - 1 else (2 if i % 4 == 3 else 1)
        background = photo if i % 2 == 0 else None  # photograph or grey noise
        sub = folder / f"site{i % 3}"
        path = sub / f"clip{i:03d}.mp4"
        if not path.is_file():
            sub.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp.mp4")
            write_video(tmp, seconds * 30, faces=faces, background=background)
            os.replace(tmp, path)
        paths.append(path)
    return paths


def _become_subreaper() -> None:
    """Orphaned descendants (Ray's processes) are reparented to this process, so they stay in
    the tree that :class:`TreeCPU` watches (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)


class TreeCPU:
    """CPU seconds of every process below this one, by polling ``/proc`` (Linux).

    ``RUSAGE_CHILDREN`` is not enough: Ray's raylet reaps its workers without passing their times
    up (measured: a task's 5 CPU-seconds did not reach it). Each process's last reading counts,
    so what a process spends in its final poll interval (0.25 s) is missed."""

    def __init__(self) -> None:
        self.seen: dict[tuple[int, int], int] = {}  # (pid, start tick) → utime + stime ticks

    def poll(self) -> int:
        """Take a reading; returns how many descendants are alive."""
        procs = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue  # exited meanwhile
                # after the name: state ppid … utime (12) stime (13) … starttime (20)
                procs[int(d)] = (int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19]))
        below, frontier = set(), {os.getpid()}
        while frontier:
            frontier = {p for p, (pp, _, _) in procs.items() if pp in frontier} - below
            below |= frontier
        for p in below:
            _, ticks, start = procs[p]
            self.seen[(p, start)] = max(self.seen.get((p, start), 0), ticks)
        return len(below)

    @property
    def seconds(self) -> float:
        return sum(self.seen.values()) / os.sysconf("SC_CLK_TCK")


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _cpu_children() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run_config(name: str, folder: Path, tiny: Path, out: Path) -> dict:
    """One run of ``name`` in fresh processes: wall and CPU seconds."""
    if name in ("shard1", "shard2", "merge"):
        out = out.parent / "shards"  # the shards' common folder, merged after them
    if name not in ("shard2", "merge"):
        shutil.rmtree(out, ignore_errors=True)
    base = [sys.executable, "-m", "vnaw", "predict", "--quiet", "--out", str(out)]
    src = str(tiny if name.startswith("tiny") else folder)
    if name == "merge":
        argvs = [[sys.executable, "-m", "vnaw", "predict", "--merge", str(out), src]]
    elif name == "shards_parallel":
        argvs = [[*base, src, "--shard", f"{k}/2"] for k in (1, 2)]
    else:
        argvs = [[*base, src, *CONFIGS[name]]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    tree, cpu0 = TreeCPU(), _cpu_children()
    logs = [out.parent / f"{name}.{i}.log" for i in range(len(argvs))]
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(a, env=env, stderr=open(log, "w"))
        for a, log in zip(argvs, logs, strict=True)
    ]
    while any(p.poll() is None for p in procs):
        tree.poll()
        time.sleep(0.25)
    wall = time.perf_counter() - t0
    end = time.monotonic() + 60
    while tree.poll() and time.monotonic() < end:  # Ray's processes end after the driver
        _reap()
        time.sleep(0.25)
    _reap()
    for p, log in zip(procs, logs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"{name}: exit {p.returncode}: {log.read_text().strip()[-500:]}")
    # cpu_rusage_s: what the kernel passed up (a check of the polling where nothing is lost).
    return {
        "config": name,
        "wall_s": wall,
        "cpu_s": tree.seconds,
        "cpu_rusage_s": _cpu_children() - cpu0,
    }


def stage_times(clip: Path) -> dict[str, float]:
    """Per-frame seconds of each stage of one clip, in this process (default model)."""
    from vnaw.inference.analyze import load_model
    from vnaw.inference.predict import predict_file
    from vnaw.inference.quiet import native_stderr_silenced

    with native_stderr_silenced(True):
        model = load_model(None, "cpu", threads=max(1, len(os.sched_getaffinity(0)) // 2))
        t0 = time.perf_counter()
        res = predict_file(clip, model)
        wall = time.perf_counter() - t0
    n = len(res.times)
    return {"frames": n, "wall": wall / n, **{k: v / n for k, v in res.timings.items()}}


def _per_round(results: list[dict], config: str, key: str) -> dict[int, float]:
    parts = ("shard1", "shard2", "merge") if config == "shards" else (config,)
    rounds: dict[int, float] = {}
    for r in {x["round"] for x in results}:
        got = [x[key] for x in results if x["round"] == r and x["config"] in parts]
        if len(got) == len(parts):
            rounds[r] = sum(got)  # shards: one after the other, so their times add up
    return rounds


def _ratio(results: list[dict], config: str, key: str, minus: dict[int, float] | None = None):
    """Median over rounds of config / plain of the same round (``minus``: subtracted first)."""
    a, b = _per_round(results, config, key), _per_round(results, "plain", key)
    vals = [(a[r] - (minus or {}).get(r, 0.0)) / b[r] for r in a if r in b]
    return statistics.median(vals), min(vals), max(vals)


def summarize(results: list[dict], videos: int, video_s: float, stages: dict) -> dict:
    """The table of docs/scale.md and the plan for :data:`HOURS` hours of video (printed, and
    returned as the figures of ``--json``)."""
    figures: dict = {"clips": videos, "video s": video_s, "rows": []}
    runs = [c for c in ("plain", "ray1", "ray2", "shards") if _per_round(results, c, "wall_s")]
    fixed = {}  # Ray's fixed cost per round: the 1-s clip with --ray minus without
    for key in ("wall_s", "cpu_s"):
        ray, plain = _per_round(results, "tiny_ray", key), _per_round(results, "tiny_plain", key)
        fixed[key] = {r: ray[r] - plain[r] for r in ray if r in plain}
    print(f"folder: {videos} clips, {video_s:.0f} s of video; {os.cpu_count()} cores here")
    print(
        "| run | rounds | wall s | CPU s | videos/h | CPU s per video s | wall / plain | "
        "CPU / plain | CPU / plain, Ray's fixed cost taken off |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for c in runs:
        wall = statistics.median(_per_round(results, c, "wall_s").values())
        cpu = statistics.median(_per_round(results, c, "cpu_s").values())
        rw, rc = _ratio(results, c, "wall_s"), _ratio(results, c, "cpu_s")
        steady = _ratio(results, c, "cpu_s", fixed["cpu_s"]) if c.startswith("ray") else rc
        name = {"shards": "shard 1/2 + shard 2/2 + merge"}.get(c, c)
        figures["rows"].append(
            {
                "run": name,
                "rounds": len(_per_round(results, c, "wall_s")),
                "wall s": wall,
                "CPU s": cpu,
                "videos/h": videos * 3600 / wall,
                "CPU s per video s": cpu / video_s,
                "wall / plain": rw[0],
                "CPU / plain": rc[0],
                "CPU / plain without Ray's fixed cost": steady[0],
            }
        )
        print(
            f"| {name} | {len(_per_round(results, c, 'wall_s'))} | {wall:.1f} | {cpu:.1f} | "
            f"{videos * 3600 / wall:.0f} | {cpu / video_s:.3f} | "
            + " | ".join(f"{m:.3f} ({lo:.2f}–{hi:.2f})" for m, lo, hi in (rw, rc, steady))
            + " |"
        )
    if fixed["cpu_s"]:
        fw, fc = (statistics.median(fixed[k].values()) for k in ("wall_s", "cpu_s"))
        cpu_per_video_s = (
            statistics.median(_per_round(results, "plain", "cpu_s").values()) / video_s
        )
        figures |= {"Ray fixed CPU s": fc, "Ray fixed wall s": fw}
        print(
            f"Ray's fixed cost per command (local start-up and shutdown, worker start): "
            f"{fc:.1f} CPU s, {fw:.1f} s wall (a 1-s clip with --ray minus without): "
            f"{100 * fc / (3600 * cpu_per_video_s):.2f} % of the CPU time of 1 h of video."
        )
    cpu_per_video_s = statistics.median(_per_round(results, "plain", "cpu_s").values()) / video_s
    core_h = HOURS * cpu_per_video_s
    print(
        f"\nPlan for {HOURS:,} h of video on CPU nodes: {cpu_per_video_s:.3f} CPU s per video s "
        f"(plain) = {core_h:,.0f} core-hours; on 16-core nodes {core_h / 16:,.0f} node-hours, "
        f"on 32-core nodes {core_h / 32:,.0f} (per-video work is independent: CPU time adds up)."
    )
    enc = stages.get("encode", 0.0)
    busy = stages.get("decode", 0.0) + stages.get("detect", 0.0) + enc
    share = enc / busy if busy else 0.0
    print(
        f"Stages of one clip (ms per frame, overlapping threads): decode "
        f"{1e3 * stages.get('decode', 0):.1f}, detect+align {1e3 * stages.get('detect', 0):.1f}, "
        f"encode {1e3 * enc:.1f}; encode = {100 * share:.0f} % of the stage time."
    )
    gpu_core_h = core_h * (1 - share)
    figures |= {
        "CPU s per video s (plain)": cpu_per_video_s,
        f"core-hours for {HOURS} h of video": core_h,
        "encode share of stage time": share,
        "ESTIMATE core-hours with the encoder on a GPU": gpu_core_h,
    }
    print(
        f"ESTIMATE (no GPU measured) for one GPU per node: the encoder on the GPU takes its "
        f"{100 * share:.0f} % off the CPUs, detection and decoding stay there: about "
        f"{gpu_core_h:,.0f} core-hours, i.e. {gpu_core_h / 16:,.0f} node-hours on 16-core + 1-GPU "
        f"nodes ({core_h / max(gpu_core_h, 1e-9):.2f}x the throughput of CPU-only nodes)."
    )
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="clips, outputs, results.jsonl")
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--seconds", type=int, default=8, help="length of each clip")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    add_json_option(ap)
    args = ap.parse_args()

    _become_subreaper()
    folder = args.work / "clips"
    clips = make_folder(folder, args.clips, args.seconds)
    tiny = make_folder(args.work / "tiny", 1, 1)[0]
    log = args.work / "results.jsonl"
    results = [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []
    for r in range(args.rounds):
        for c in args.configs:
            if any(x["config"] == c and x["round"] == r for x in results):
                continue  # resumed: measured before
            res = run_config(c, folder, tiny, args.work / "out" / c) | {"round": r}
            print(json.dumps(res), flush=True)
            with open(log, "a") as f:
                f.write(json.dumps(res) + "\n")
            results.append(res)
    stages = stage_times(clips[0])
    figures = summarize(results, len(clips), len(clips) * args.seconds, stages)
    write_results(args.json, figures)


if __name__ == "__main__":
    main()
