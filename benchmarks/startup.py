"""Start-up time and memory of the ``vnaw`` command line (targets: ``vnaw --help`` < 1 s,
``vnaw predict`` ready in ≤ 2 s).

Runs every command below in a fresh process, ``--repeats`` times (after ``--warmup`` unmeasured
rounds that compile the bytecode and fill the disk cache), in rounds — each round runs every
command once, so drifts in machine load hit all alike — and prints a markdown table of the median
and minimum wall time, the median's ratio to the interpreter's own start-up (``python -c pass``,
measured in the same rounds), the median CPU time (user + system: less sensitive than wall time to
other jobs on the machine), the median peak resident memory and the exit status:

* ``python -c pass`` (the baseline) and ``python -c "import torch"`` (for reference);
* ``vnaw --help``, ``vnaw --version`` and ``vnaw CMD --help`` for every command of the parser;
* ``python -c "import vnaw"`` and ``import vnaw; vnaw.CLASSES`` (the lazy public API);
* an error path: ``vnaw evaluate /nonexistent --data /nonexistent`` (one line, exit status 2);
* ``vnaw predict EMPTY_DIR``: everything ``predict`` does before its first frame — imports, the
  model (the shipped encoder; and, with the test helpers importable, a small trained run via
  ``--model``), the face detector — after which it finds no video and exits with status 2;
* ``vnaw predict`` on a generated 1-second video (30 frames, 320×240, one face): start to exit,
  outputs (CSV and timeline plot) written.

It then checks, in one process each, that ``import vnaw`` and building the parser (what ``vnaw
--help`` and every ``vnaw CMD --help`` do) import none of torch, lightning, mediapipe, onnx,
onnxruntime. The exit status is 1 when a check fails: ``vnaw --help`` median ≥ 1 s, a heavy import,
an error path not answered with one line and status 2, or ``vnaw predict`` start-up median > 2 s.

    HF_HUB_OFFLINE=1 python benchmarks/startup.py [--repeats 5] [--json benchmarks/results/startup.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _results import add_json_option, write_results

HERE = Path(__file__).resolve().parent
HEAVY = ("torch", "lightning", "mediapipe", "onnx", "onnxruntime")
HELP_LIMIT_S = 1.0
PREDICT_LIMIT_S = 2.0
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").is_file() and sys.platform == "linux" else None

# Run in a fresh interpreter: the heavy modules loaded by `import vnaw`, by the lazy public API, and
# by building the parser and asking for each help (as `vnaw --help` / `vnaw CMD --help` do).
CHECK_SCRIPT = r"""
import contextlib, io, json, sys
HEAVY = set(sys.argv[1].split(","))
def heavy():
    return sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
out = {}
import vnaw
out["import vnaw"] = heavy()
vnaw.CLASSES, vnaw.NUM_CLASSES, vnaw.__version__
out["vnaw.CLASSES"] = heavy()
from vnaw.cli import build_parser, main
build_parser()
out["vnaw.cli.build_parser()"] = heavy()
parser = build_parser()
commands = list(parser._subparsers._group_actions[0].choices)
for argv in [["--help"], ["--version"]] + [[c, "--help"] for c in commands]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(argv)
    out["vnaw " + " ".join(argv)] = heavy()
out["_modules"] = len(sys.modules)
print(json.dumps(out))
"""


@dataclass
class Case:
    label: str  # as shown in the table
    argv: list[str]
    note: str = ""
    expect_status: int | None = 0
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    stderr: str = ""


def run_once(
    argv: list[str], env: dict[str, str], cwd: Path
) -> tuple[float, float, float, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS (MiB), exit status and stderr of one
    fresh process.

    Linux counts the resident memory of the process that forked a child into the child's peak
    (``exec`` keeps the larger of the two), so the peak is read through ``/usr/bin/time``, a small
    C program, where there is one; else it comes from ``wait4`` and this process's own size is a
    floor under it.
    """
    with tempfile.TemporaryDirectory() as d, tempfile.TemporaryFile() as err:
        rss_file = Path(d) / "rss"
        cmd = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv] if GNU_TIME else argv
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
        if GNU_TIME:
            rss = int(rss_file.read_text().split()[-1]) / 2**10  # KiB
        else:  # ru_maxrss is KiB on Linux, bytes on macOS
            rss = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return wall, usage.ru_utime + usage.ru_stime, rss, proc.returncode, text


def vnaw_command() -> tuple[list[str], str]:
    """The ``vnaw`` console script of this interpreter's environment (what a user runs)."""
    here = Path(sys.executable).parent / "vnaw"
    exe = str(here) if here.is_file() else shutil.which("vnaw")
    if exe:
        return [exe], "vnaw"
    return [sys.executable, "-m", "vnaw"], "python -m vnaw"


def commands() -> list[str]:
    from vnaw.cli import build_parser

    return list(build_parser()._subparsers._group_actions[0].choices)


def make_video(path: Path) -> str:
    """A 1-second 320×240 video with the test suite's real face if its helper can be imported."""
    try:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from helpers.face_video import write_video

        write_video(path, 30, width=320, height=240, fps=30, face_size=120)
        return "1 face"
    except ImportError:  # scikit-image missing (dev extra): a plain background, no face
        import av
        import numpy as np

        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
            frame = np.full((240, 320, 3), 90, np.uint8)
            for _ in range(30):
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        return "no face (scikit-image missing)"


def make_tiny_run(run_dir: Path) -> bool:
    try:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from helpers.tiny_run import make_run
    except ImportError:
        return False
    run_dir.mkdir(parents=True)
    make_run(run_dir)
    return True


def setup(tmp: Path) -> None:
    """Write the tiny run and the video into ``tmp`` (in a child process, so that this one does
    not grow by torch's size); print what was made as JSON."""
    made = {"run": make_tiny_run(tmp / "tiny_run"), "video": make_video(tmp / "clip.mp4")}
    print(json.dumps(made))


def build_cases(tmp: Path, env: dict[str, str]) -> list[Case]:
    py = sys.executable
    vnaw, vnaw_name = vnaw_command()
    cases = [
        Case("`python -c pass`", [py, "-c", "pass"], "baseline: the interpreter alone"),
        Case('`python -c "import torch"`', [py, "-c", "import torch"], "reference"),
        Case(f"`{vnaw_name} --help`", [*vnaw, "--help"], f"target: < {HELP_LIMIT_S:g} s"),
        Case(f"`{vnaw_name} --version`", [*vnaw, "--version"]),
    ]
    cases += [Case(f"`{vnaw_name} {c} --help`", [*vnaw, c, "--help"]) for c in commands()]
    cases += [
        Case('`python -c "import vnaw"`', [py, "-c", "import vnaw"]),
        Case(
            '`python -c "import vnaw; vnaw.CLASSES"`',
            [py, "-c", "import vnaw; vnaw.CLASSES"],
            "the lazy public API",
        ),
        Case(
            f"`{vnaw_name} evaluate /nonexistent --data /nonexistent`",
            [*vnaw, "evaluate", "/nonexistent", "--data", "/nonexistent"],
            "error path: one line, exit status 2",
            expect_status=2,
        ),
    ]
    empty = tmp / "no_videos"
    empty.mkdir()
    out = tmp / "predictions"
    cases.append(
        Case(
            f"`{vnaw_name} predict EMPTY_DIR`",
            [*vnaw, "predict", str(empty), "--out", str(out)],
            "predict start-up: imports, shipped encoder and face detector loaded, then "
            f"'no video files found' (exit 2); target: ≤ {PREDICT_LIMIT_S:g} s",
            expect_status=2,
        )
    )
    made = subprocess.run(
        [sys.executable, __file__, "--setup", str(tmp)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    made = json.loads(made.strip().splitlines()[-1])
    run = tmp / "tiny_run"
    if made["run"]:
        cases.append(
            Case(
                f"`{vnaw_name} predict EMPTY_DIR --model RUN`",
                [*vnaw, "predict", str(empty), "--model", str(run), "--out", str(out)],
                "the same with a small trained run (temporal model + shipped encoder)",
                expect_status=2,
            )
        )
    cases.append(
        Case(
            f"`{vnaw_name} predict clip.mp4`",
            [*vnaw, "predict", str(tmp / "clip.mp4"), "--out", str(out), "--quiet"],
            f"start to exit on a 1-s video (30 frames, 320×240, {made['video']}), CSV and plot "
            "written",
        )
    )
    return cases


def check_imports(env: dict[str, str]) -> dict[str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", CHECK_SCRIPT, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="measured runs of each command")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    add_json_option(ap)
    ap.add_argument("--setup", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.setup:
        setup(args.setup)
        return 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    failures: list[str] = []

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cases = build_cases(tmp, env)
        for r in range(args.warmup + args.repeats):
            for case in cases:
                wall, cpu, rss, status, err = run_once(case.argv, env, tmp)
                if r >= args.warmup:
                    case.walls.append(wall)
                    case.cpus.append(cpu)
                    case.rss_mib.append(rss)
                    case.statuses.append(status)
                    case.stderr = err
            print(
                f"round {r + 1}/{args.warmup + args.repeats}"
                f"{' (warm-up)' if r < args.warmup else ''} done",
                file=sys.stderr,
                flush=True,
            )

    base = statistics.median(cases[0].walls)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\nStart-up, {sys.platform}, Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), "
        f"load average {load:.1f} at the end; median and min of {args.repeats} runs, each a fresh "
        "process\n"
    )
    print(
        "| command | median s | min s | × `python -c pass` | CPU s | peak RSS MiB | exit | what |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for c in cases:
        med = statistics.median(c.walls)
        statuses = sorted(set(c.statuses))
        exits = ",".join(map(str, statuses))
        print(
            f"| {c.label} | {med:.3f} | {min(c.walls):.3f} | {med / base:.1f} "
            f"| {statistics.median(c.cpus):.2f} | {statistics.median(c.rss_mib):.0f} | {exits} "
            f"| {c.note} |"
        )
        if c.expect_status is not None and statuses != [c.expect_status]:
            failures.append(f"{c.label}: exit status {statuses}, expected {c.expect_status}")

    help_case = cases[2]
    if statistics.median(help_case.walls) >= HELP_LIMIT_S:
        failures.append(f"{help_case.label}: median {statistics.median(help_case.walls):.2f} s")
    err_case = next(c for c in cases if "/nonexistent" in c.label)
    lines = err_case.stderr.strip().splitlines()
    print(f"\nerror path stderr ({len(lines)} line(s)): {err_case.stderr.strip()!r}")
    if len(lines) != 1:
        failures.append(f"{err_case.label}: {len(lines)} lines on stderr, expected 1")
    predict = next(c for c in cases if "EMPTY_DIR" in c.label)
    if statistics.median(predict.walls) > PREDICT_LIMIT_S:
        failures.append(f"{predict.label}: median {statistics.median(predict.walls):.2f} s")

    heavy = check_imports(env)
    n_modules = heavy.pop("_modules")
    print(f"\nheavy modules ({', '.join(HEAVY)}) imported, in one fresh process:")
    for what, mods in heavy.items():
        print(f"  {what:32} {mods if mods else 'none'}")
        if mods:
            failures.append(f"{what} imports {mods}")
    print(f"  ({n_modules} modules loaded after all of these)")

    write_results(
        args.json,
        {
            "repeats": args.repeats,
            "checks passed": not failures,
            "failures": failures,
            "commands": [
                {
                    "command": c.label,
                    "median s": statistics.median(c.walls),
                    "min s": min(c.walls),
                    "× python -c pass": statistics.median(c.walls) / base,
                    "CPU s": statistics.median(c.cpus),
                    "peak RSS MiB": statistics.median(c.rss_mib),
                    "exit": sorted(set(c.statuses)),
                }
                for c in cases
            ],
            "heavy modules imported": [
                {"path": k, "modules": v or "none"} for k, v in heavy.items()
            ],
        },
    )
    print("\nchecks:", "all passed" if not failures else "FAILED")
    for f in failures:
        print(f"  FAIL {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
