"""``vnaw demo``: the packaged configuration (fast) and the whole pipeline end to end (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("torch")

from sklearn.metrics import f1_score

from vnaw.demo import demo_config

CLASSES = ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"]


def test_demo_config_is_the_packaged_yaml_pointed_at_the_paths(tmp_path: Path) -> None:
    packaged = resources.files("vnaw") / "configs" / "demo.yaml"
    raw = yaml.safe_load(packaged.read_text())
    data, store, run = tmp_path / "data", tmp_path / "features", tmp_path / "run"

    cfg = demo_config(data, store, run)
    assert (cfg.data.root, cfg.data.features, cfg.out_dir) == (str(data), str(store), str(run))
    # Every value the YAML sets is in the configuration, whatever the defaults are.
    for section, values in raw.items():
        if not isinstance(values, dict):
            assert getattr(cfg, section) == values, section
            continue
        for key, value in values.items():
            assert getattr(getattr(cfg, section), key) == value, f"{section}.{key}"

    cfg = demo_config(data, store, run, ["optim.epochs=1", "trainer.seed=5"])
    assert cfg.optim.epochs == 1 and cfg.trainer.seed == 5
    assert cfg.data.clip_length == raw["data"]["clip_length"]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    """``vnaw demo --epochs 1``: every step's files, and the reported scores recomputed."""
    out = tmp_path / "demo"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "vnaw", "demo", "--out", str(out), "--epochs", "1", "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    assert res.returncode == 0, res.stderr[-3000:]

    data, run = out / "data", out / "run"
    for path in (
        data / "synth.json",
        out / "encoder" / "encoder.safetensors",
        out / "encoder" / "encoder.json",
        out / "encoder" / "results.json",
        out / "features" / "manifest.json",
        run / "config.yaml",
        run / "model.safetensors",
        run / "metrics.csv",
        run / "training.png",
        run / "eval-official" / "metrics.md",
        run / "eval-official" / "confusion.png",
    ):
        assert path.is_file(), path
    assert yaml.safe_load((run / "config.yaml").read_text())["optim"]["epochs"] == 1
    assert len(pd.read_csv(run / "metrics.csv")["val_f1"].dropna()) == 1

    summary = json.loads((out / "demo.json").read_text())
    assert set(summary["seconds"]) == {"data", "pretrain", "extract", "train", "evaluate"}
    metrics = json.loads((run / "eval-official" / "metrics.json").read_text())
    assert summary["metrics"] == metrics and set(metrics) == {"labels", "clean labels"}

    # The predictions cover every frame of every validation video, and the scores follow from them.
    table = pd.read_csv(run / "eval-official" / "predictions.csv")
    want_frames = 0
    for ann in sorted((data / "Validation_Set").glob("*.txt")):
        labels = np.array([int(s) for s in ann.read_text().splitlines()[1:]])
        rows = table[table["video"] == ann.stem]
        assert len(rows) == len(labels)
        np.testing.assert_array_equal(rows["label"].to_numpy(), labels)
        want_frames += int((labels != -1).sum())
    assert len(table) == table.groupby("video").size().sum()
    np.testing.assert_allclose(table[CLASSES].sum(axis=1), 1.0, atol=1e-4)
    pred = table[CLASSES].to_numpy().argmax(axis=1)
    for key, column in (("labels", "label"), ("clean labels", "clean_label")):
        keep = table[column].to_numpy() != -1
        f1 = f1_score(
            table[column].to_numpy()[keep],
            pred[keep],
            labels=list(range(8)),
            average=None,
            zero_division=0,
        )
        assert metrics[key]["frames"] == int(keep.sum())
        got = [metrics[key]["per_class_f1"][c] for c in CLASSES]
        np.testing.assert_allclose(got, 100 * f1, atol=0.006)
        assert metrics[key]["macro_f1"] == pytest.approx(100 * f1.mean(), abs=0.006)
    assert metrics["labels"]["frames"] == want_frames
    assert "macro-F1 vs clean labels" in res.stdout

    # Rerun: every step is found finished; nothing is retrained.
    stamp = (run / "model.safetensors").stat().st_mtime_ns
    enc_stamp = (out / "encoder" / "encoder.safetensors").stat().st_mtime_ns
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (run / "model.safetensors").stat().st_mtime_ns == stamp
    assert (out / "encoder" / "encoder.safetensors").stat().st_mtime_ns == enc_stamp


def _demo_in_subprocess(out: Path, code: str) -> tuple[str, dict[str, str]]:
    """Run ``code`` in a fresh interpreter (its own hash seed, thread pools, RNG states); its
    printed figures and the hashes of the files the demo trained."""
    from vnaw.files import file_hash

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    env.pop("PYTHONHASHSEED", None)
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800
    )
    assert res.returncode == 0, res.stderr[-3000:]
    figures = "\n".join(ln for ln in res.stdout.splitlines() if ln.startswith("macro-F1 vs"))
    trained = ["encoder/encoder.safetensors", "run/model.safetensors"]
    trained += sorted(str(p.relative_to(out)) for p in (out / "features").glob("*.npy"))
    return figures, {f: file_hash(out / f) for f in trained}


def test_small_demo_is_the_same_twice(tmp_path: Path) -> None:
    """The demo's steps (data, encoder pretraining, extraction, training, evaluation) at a small
    size, twice from scratch in fresh processes: the same weights and the same figures."""
    runs = []
    for k in range(2):
        out = tmp_path / f"demo{k}"
        code = (
            "from pathlib import Path; from vnaw.demo import run_demo; "
            f"run_demo(Path({str(out)!r}), epochs=2, progress=False, "
            "synth={'videos': 6, 'frames': 60, 'size': 32}, "
            "pretrain=['optim.epochs=1', 'data.frame_every=4'])"
        )
        runs.append(_demo_in_subprocess(out, code))
    assert runs[0][0].count("macro-F1 vs") == 2
    assert runs[0] == runs[1]


@pytest.mark.slow
def test_demo_prints_the_same_figures_twice(tmp_path: Path) -> None:
    """`vnaw demo` as shipped, twice from scratch: the same figures (what the README quotes)."""
    runs = []
    for k in range(2):
        out = tmp_path / f"demo{k}"
        code = (
            "import sys; from vnaw.cli import main; "
            f"sys.exit(main(['demo', '--out', {str(out)!r}, '--quiet']))"
        )
        runs.append(_demo_in_subprocess(out, code))
    assert runs[0][0].count("macro-F1 vs") == 2
    assert runs[0] == runs[1]
