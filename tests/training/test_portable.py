"""A run is portable: trained with relative paths in one folder, moved to another, and evaluated
and used for prediction from a third, after the user's encoder file it was trained with is gone
(the run holds a copy of it, checked by hash when it was made)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from helpers.face_video import write_video
from helpers.tiny_encoder import tiny_encoder
from vnaw.cli import main

TINY = [
    "data.clip_length=8", "data.batch_size=4", "data.clips_per_epoch=8", "model.d_model=16",
    "model.num_layers=1", "model.num_heads=2", "model.dim_feedforward=16", "optim.epochs=1",
    "augment.erase=false", "trainer.progress_bar=false", "trainer.accelerator=cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vnaw.data.synth import SynthConfig, generate

    tmp = tmp_path_factory.mktemp("portable")
    generate(tmp / "data", SynthConfig(seed=4, videos=4, frames=24, size=32))
    write_video(tmp / "clip.mp4", 12)
    return tmp


@pytest.mark.parametrize("mode", ["features", "end-to-end"])
def test_moved_run_evaluates_and_predicts_from_a_third_folder(
    work: Path, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    a, b, c = (tmp_path / x for x in "abc")
    for d in (a, b, c):
        d.mkdir()
    shutil.copytree(work / "data", a / "data")
    tiny_encoder(a / "enc" / "tiny")
    monkeypatch.chdir(a)  # every path given relative to folder a
    if mode == "features":
        extract = ["extract", "--data", "data", "--out", "store", "--encoder", "enc/tiny",
                   "--workers", "0", "--quiet"]  # fmt: skip
        assert main(extract) == 0
        source = ["data.features=store"]
    else:
        source = ["mode=end-to-end", "encoder.finetune=false"]
    assert (
        main(["train", "data.root=data", "encoder.name=enc/tiny", "out_dir=run", *source, *TINY])
        == 0
    )
    info = json.loads((a / "run" / "encoder.json").read_text())
    assert info["copied"] and not info["trained_in_run"]
    assert Path(info["identity"]["weights"]).is_absolute()

    shutil.move(a / "run", b / "run")
    shutil.rmtree(a / "enc")  # the user's encoder file is gone; the run has its copy
    monkeypatch.chdir(c)
    capsys.readouterr()
    assert main(["evaluate", str(b / "run"), "--data", str(a / "data")]) == 0
    out = capsys.readouterr().out
    # Features mode scores the run's feature store (named by absolute path), end to end the crops.
    assert ("cached features" if mode == "features" else "copied into the run") in out
    assert "macro-F1 vs labels" in out
    assert (b / "run" / "eval-official" / "metrics.json").is_file()
    pred = ["predict", str(work / "clip.mp4"), "--model", str(b / "run"), "--out", "pred",
            "--threads", "1", "--quiet"]  # fmt: skip
    assert main(pred) == 0
    table = pd.read_csv(c / "pred" / "clip.csv")
    assert table["frame"].tolist() == list(range(1, 13))
