"""`vnaw faces` outputs: never shared by two videos, one writer per folder, workers die with it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")

from helpers.face_video import write_video
from vnaw.cli import main
from vnaw.faces.pipeline import FACES_DIR

VNAW = [sys.executable, "-m", "vnaw"]


def _crops(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "cropped_aligned").rglob("*.jpg"))
    }


def test_two_videos_with_one_name_are_refused_before_any_work(tmp_path, capsys):
    for cam in ("cam1", "cam2"):
        (tmp_path / "in" / cam).mkdir(parents=True)
        (tmp_path / "in" / cam / "clip.mp4").write_bytes(b"not looked at")
    out = tmp_path / "out"
    assert main(["faces", str(tmp_path / "in"), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(Path("cam1") / "clip.mp4") in err and str(Path("cam2") / "clip.mp4") in err
    assert not out.exists()
    # x.mp4 beside x.avi: the same.
    (tmp_path / "in" / "cam1" / "clip.avi").write_bytes(b"x")
    assert main(["faces", str(tmp_path / "in" / "cam1"), "--out", str(out)]) == 2


def test_another_video_cannot_take_a_finished_name(tmp_path, capsys):
    out = tmp_path / "out"
    for d in "abc":
        (tmp_path / d).mkdir()
    first = write_video(tmp_path / "a" / "clip.mp4", 6)
    other = write_video(tmp_path / "b" / "clip.mp4", 6, faces=2)
    assert main(["faces", str(first), "--out", str(out), "--quiet"]) == 0
    before = (out / FACES_DIR / "clip.csv").read_bytes(), _crops(out)
    assert main(["faces", str(other), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "same name" in err and str(first) in err
    assert ((out / FACES_DIR / "clip.csv").read_bytes(), _crops(out)) == before
    # The same video moved elsewhere is recognised as finished.
    moved = tmp_path / "c" / "clip.mp4"
    shutil.copy(first, moved)
    assert main(["faces", str(moved), "--out", str(out), "--quiet"]) == 0
    assert (out / FACES_DIR / "clip.csv").read_bytes() == before[0]


def test_a_second_writer_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    video = write_video(tmp_path / "v.mp4", 4)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from vnaw.files import output_lock\n"
            f"with output_lock({str(out)!r}, 'faces'):\n"
            "    print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["faces", str(video), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"another vnaw is writing to {out} (pid {holder.pid})" in err
        assert not (out / FACES_DIR).exists()
    finally:
        holder.kill()
        holder.wait()
    # The lock dies with its holder: no stale lock after a kill.
    assert main(["faces", str(video), "--out", str(out), "--quiet"]) == 0


@pytest.fixture(scope="module")
def four_videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("four")
    for k in range(4):
        write_video(d / f"v{k}.mp4", 40 + 10 * k, faces=1 + k % 2)
    return d


@pytest.mark.slow
def test_two_faces_runs_on_one_output(four_videos, tmp_path):
    """Both complete with the same result as one run alone, or the second refuses."""
    ref = tmp_path / "ref"
    assert main(["faces", str(four_videos), "--out", str(ref), "--quiet"]) == 0
    out = tmp_path / "out"
    cmd = [*VNAW, "faces", str(four_videos), "--out", str(out), "--quiet"]
    runs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in runs]
    for rc, err in results:
        assert rc == 0 or (rc == 2 and "another vnaw is writing to" in err), err
    assert any(rc == 0 for rc, _ in results)
    for k in range(4):
        name = f"{FACES_DIR}/v{k}.csv"
        assert (out / name).read_bytes() == (ref / name).read_bytes()
    assert _crops(out).keys() == _crops(ref).keys()
    table = pd.concat(pd.read_csv(p) for p in sorted((out / FACES_DIR).glob("*.csv")))
    assert len(_crops(out)) == table["face_found"].sum()
    assert not list((out / "cropped_aligned").glob(".partial-*"))


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_faces_kills_its_workers(tmp_path):
    for k in range(2):
        write_video(tmp_path / f"long{k}.mp4", 600)
    out = tmp_path / "o"
    cmd = [*VNAW, "faces", str(tmp_path), "--out", str(out), "--workers", "2", "--quiet"]
    parent = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    # Kill while both workers are writing crops (an idle worker would exit anyway).
    while time.time() < deadline and len(list(out.glob("cropped_aligned/.partial-*/*/*"))) < 4:
        time.sleep(0.1)
    workers = [p for p in _children(parent.pid) if b"spawn_main" in _cmdline(p)]
    assert len(workers) == 2, "workers did not start"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
