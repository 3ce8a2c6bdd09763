"""A full disk during extract, train and predict: one line naming the file, nothing truncated
under a final name, no temporary files left, earlier results intact, and a rerun with space
finishes with the results a run without the full disk gives."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from helpers.full_disk import fill_disk
from helpers.tiny_train import tiny_cfg, tiny_data
from vnaw.cli import describe, main
from vnaw.data.synth import SynthConfig, generate
from vnaw.files import load_torch
from vnaw.training.train import train


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name or ".partial-" in p.name]


def _one_line_enospc(err: str, folder: Path) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "No space left on device" in lines[0] and str(folder) in lines[0], err
    assert "free" in lines[0]


@pytest.mark.slow
def test_extract_on_a_full_disk(tmp_path, monkeypatch, capsys):
    root = tmp_path / "data"
    generate(root, SynthConfig(seed=2, videos=4, frames=16, size=32))
    argv = ["extract", "--data", str(root), "--encoder", "resnet18", "--random-init"]
    argv += ["--input-size", "32", "--workers", "0", "--batch-size", "8", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "ref")]) == 0
    reference = {p.name: np.load(p) for p in (tmp_path / "ref").glob("*.npy")}
    size = sum(p.stat().st_size for p in (tmp_path / "ref").iterdir())
    store = tmp_path / "store"
    capsys.readouterr()
    with monkeypatch.context() as m:
        fill_disk(m, store, size // 2)
        assert main([*argv, "--out", str(store)]) == 2
    _one_line_enospc(capsys.readouterr().err, store)
    assert not _leftovers(store)
    finished = list(store.glob("*.npy"))
    assert finished, "the budget let no video finish: the test proves nothing"
    for p in finished:  # what is there is whole
        np.testing.assert_array_equal(np.load(p), reference[p.name])
    assert main([*argv, "--out", str(store)]) == 0  # space again: the rest is done
    assert {p.name for p in store.glob("*.npy")} == reference.keys()
    for name, arr in reference.items():
        np.testing.assert_array_equal(np.load(store / name), arr)


@pytest.mark.slow
def test_train_on_a_full_disk(tmp_path, monkeypatch):
    root, store = tiny_data(tmp_path / "data")
    ref = train(tiny_cfg(root, tmp_path / "ref"), store=store)
    ckpt = (ref / "checkpoints" / "last.ckpt").stat().st_size
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        # Room for epoch 0's two checkpoints (and the small files), not for epoch 1's.
        fill_disk(m, run, int(2.6 * ckpt))
        with pytest.raises(OSError) as info:
            train(tiny_cfg(root, run), store=store)
    err = info.value
    assert err.errno == errno.ENOSPC and Path(err.filename).parent == run / "checkpoints"
    line = describe(err)
    assert "\n" not in line and err.filename in line and "free" in line
    assert not _leftovers(run)
    assert not (run / "model.safetensors").exists()
    for name in ("best.ckpt", "last.ckpt"):  # epoch 0's, whole
        assert load_torch(run / "checkpoints" / name)["epoch"] == 0
    resumed = train(tiny_cfg(root, run), store=store, resume=True)
    a = torch.load(ref / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_predict_on_a_full_disk(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skimage")
    from helpers.face_video import write_video

    video = write_video(tmp_path / "clip.mp4", 12)
    argv = ["predict", str(video), "--threads", "1", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "ref")]) == 0
    out = tmp_path / "out"
    capsys.readouterr()
    with monkeypatch.context() as m:
        fill_disk(m, out, 0)
        assert main([*argv, "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert "No space left on device" in err and str(out) in err, err
    assert "Traceback" not in err
    assert not _leftovers(out)
    assert not [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert main([*argv, "--out", str(out)]) == 0
    assert (out / "clip.csv").read_bytes() == (tmp_path / "ref" / "clip.csv").read_bytes()
