"""``vnaw kfold`` (Table 1) and ``vnaw ablation`` (Table 2) through the command line.

The fast tests replace training and evaluation by fakes that write a known ``metrics.json`` per
run, so the experiment logic (folds file, which runs, which test videos, table = mean of the runs'
scores, ``--score``, skipping finished runs) is checked in well under a second. The slow test runs
the real thing: 1-epoch trainings of a tiny temporal model on a generated data set.
"""

from __future__ import annotations

import json
import sys
import types
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vnaw.cli import main
from vnaw.data.affwild2 import write_annotation
from vnaw.data.splits import load_splits

CLASSES = ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"]
TRAIN = ["a_left", "a_right", "b", "c", "d", "e_left", "e_right", "f", "g"]
VALIDATION = ["h", "i", "j_left", "j_right"]


def _source(name: str) -> str:
    return name.removesuffix("_left").removesuffix("_right")


def _check_folds(folds_file: Path, names: list[str], folds: int) -> None:
    """Whole source videos, 70/30, ``_left``/``_right`` on one side, every track exactly once."""
    splits = load_splits(folds_file)
    assert [s.name for s in splits] == [f"fold{k}" for k in range(1, folds + 1)]
    sources = sorted({_source(n) for n in names})
    for s in splits:
        assert sorted(s.train + s.test) == sorted(names)
        train_src, test_src = {_source(n) for n in s.train}, {_source(n) for n in s.test}
        assert train_src.isdisjoint(test_src)  # _left and _right never split up
        assert len(train_src) == round(0.7 * len(sources))
    assert len({s.train for s in splits}) == folds  # independent draws, not copies


def _read_f1(metrics_file: Path, key: str) -> np.ndarray:
    f1 = json.loads(metrics_file.read_text())[key]["per_class_f1"]
    return np.array([f1[c] for c in CLASSES])


def _check_table(table_json: Path, out: Path, row_dirs: dict[str, str], seeds, key: str) -> None:
    """Each row's mean and std equal those of its runs' metrics.json F1 (percent)."""
    rows = {r["name"]: r for r in json.loads(table_json.read_text())}
    assert list(rows) == list(row_dirs)
    for name, folder in row_dirs.items():
        runs = np.array(
            [_read_f1(out / folder / f"seed{s}" / "eval" / "metrics.json", key) for s in seeds]
        )
        runs = np.hstack([runs, runs.mean(axis=1, keepdims=True)])  # + Avg.
        mean = runs.mean(axis=0)
        std = runs.std(axis=0, ddof=1) if len(seeds) > 1 else np.zeros(9)
        np.testing.assert_allclose(
            [rows[name]["mean"][c] for c in [*CLASSES, "Avg"]], mean, atol=1e-3
        )
        np.testing.assert_allclose(
            [rows[name]["std"][c] for c in [*CLASSES, "Avg"]], std, atol=1e-3
        )


# -- fast: fake training and evaluation --------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small Aff-Wild2-layout root (labels and one crop per video: no pixels needed)."""
    root = tmp_path_factory.mktemp("affwild2")
    blank = Image.fromarray(np.zeros((4, 4), dtype=np.uint8))
    for split, names in (("Train_Set", TRAIN), ("Validation_Set", VALIDATION)):
        for name in names:
            write_annotation(root / split / f"{name}.txt", [0, 1, 2, 3])
            (root / "cropped_aligned" / name).mkdir(parents=True)
            blank.save(root / "cropped_aligned" / name / "00001.jpg")
    return root


def _fake_f1(run_dir: Path, key: str) -> list[float]:
    """Distinct, reproducible per-class F1 (percent) per run and per label set."""
    rng = np.random.default_rng(zlib.crc32(f"{run_dir}|{key}".encode()))
    return rng.uniform(0, 100, 8).round(2).tolist()


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Training and evaluation replaced by recorders; evaluation writes a known metrics.json."""
    pytest.importorskip("torch")  # the modules patched here import it
    import vnaw.evaluation.evaluate as ev
    import vnaw.features.crops as crops
    import vnaw.features.store as fs
    import vnaw.models.artifact as art

    calls: dict = {"train": [], "evaluate": {}}

    def train(cfg, **kwargs):
        calls["train"].append(cfg)
        Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
        return Path(cfg.out_dir)

    def evaluate(model, records, store, out_dir, *, clean=None, **kwargs):
        run_dir = Path(out_dir).parent
        calls["evaluate"][run_dir.relative_to(run_dir.parents[1])] = sorted(r.name for r in records)
        metrics = {
            key: {"per_class_f1": dict(zip(CLASSES, _fake_f1(run_dir, key), strict=True))}
            for key in ["labels", *(["clean labels"] if clean is not None else [])]
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(metrics))
        return metrics

    # A stand-in module: the real one would import Lightning (seconds) for nothing.
    monkeypatch.setitem(sys.modules, "vnaw.training.train", types.SimpleNamespace(train=train))
    monkeypatch.setattr(ev, "evaluate", evaluate)
    model = types.SimpleNamespace(description="a fake run")
    monkeypatch.setattr(art, "load_video_model", lambda run_dir, **kw: (model, None))
    monkeypatch.setattr(fs, "FeatureStore", lambda path: path)
    monkeypatch.setattr(fs, "check_store", lambda store, records: None)
    monkeypatch.setattr(crops, "CropFeatures", lambda model, records: records)
    return calls


def test_kfold_runs_folds_and_tabulates_means(root: Path, tmp_path: Path, fakes, capsys) -> None:
    out = tmp_path / "kfold"
    argv = ["kfold", f"data.root={root}", "--out", str(out), "--folds", "2", "--seeds", "0", "1"]
    assert main(argv) == 0
    _check_folds(out / "folds.json", TRAIN + VALIDATION, 2)

    trained = [(c.data.split, c.trainer.seed, Path(c.out_dir)) for c in fakes["train"]]
    splits = ["official", "fold1", "fold2"]
    assert trained == [(s, seed, out / s / f"seed{seed}") for s in splits for seed in (0, 1)]
    assert all(c.data.folds_file == str(out / "folds.json") for c in fakes["train"])
    # Each run is scored on its own split's test videos.
    tests = {s.name: sorted(s.test) for s in load_splits(out / "folds.json")}
    tests["official"] = sorted(VALIDATION)
    for run, names in fakes["evaluate"].items():
        assert names == tests[run.parts[0]], run

    rows = {"Official": "official", "fold-1": "fold1", "fold-2": "fold2"}
    _check_table(out / "table1.json", out, rows, [0, 1], "labels")
    md = (out / "table1.md").read_text()
    assert md == capsys.readouterr().out.rstrip("\n") + "\n"
    # The markdown cells are the JSON's mean ± std, to two decimals.
    for row in json.loads((out / "table1.json").read_text()):
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| {row['name']} |"))
        cells = [c.split(" ± ") for c in line.strip("|").split("|")[1:]]
        keys = [*CLASSES, "Avg"]
        np.testing.assert_allclose(
            [float(m) for m, _ in cells], [row["mean"][k] for k in keys], atol=0.0051
        )
        np.testing.assert_allclose(
            [float(d) for _, d in cells], [row["std"][k] for k in keys], atol=0.0051
        )
    assert (out / "table1.png").is_file()

    # A rerun trains and evaluates nothing, and reads the same scores.
    folds_text = (out / "folds.json").read_text()
    fakes["train"].clear()
    fakes["evaluate"].clear()
    assert main([*argv, "--folds", "2"]) == 0
    assert fakes["train"] == [] and fakes["evaluate"] == {}
    assert (out / "folds.json").read_text() == folds_text
    assert (out / "table1.md").read_text() == md


def test_score_clean_reads_the_clean_label_scores(
    root: Path, tmp_path: Path, fakes, monkeypatch
) -> None:
    import vnaw.experiments as ex

    # The fake evaluation writes "clean labels" scores only when given clean records.
    monkeypatch.setattr(ex, "clean_records", lambda root: {})
    out = tmp_path / "kfold"
    base = ["kfold", f"data.root={root}", "--out", str(out), "--folds", "1"]
    assert main([*base, "--score", "clean"]) == 0
    rows = {"Official": "official", "fold-1": "fold1"}
    _check_table(out / "table1.json", out, rows, [0], "clean labels")
    clean = (out / "table1.json").read_text()
    assert main(base) == 0  # the same runs, scored against the annotations
    assert len(fakes["train"]) == 2
    _check_table(out / "table1.json", out, rows, [0], "labels")
    assert (out / "table1.json").read_text() != clean


def test_score_clean_without_clean_labels_is_an_error(
    root: Path, tmp_path: Path, fakes, capsys
) -> None:
    out = tmp_path / "kfold"
    assert (
        main(["kfold", f"data.root={root}", "--out", str(out), "--folds", "1", "--score", "clean"])
        == 2
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err and "clean labels" in err and "metrics.json" in err


def test_ablation_rows_flags_and_means(root: Path, tmp_path: Path, fakes) -> None:
    out = tmp_path / "ablation"
    assert main(["ablation", f"data.root={root}", "--out", str(out), "--seeds", "3", "4"]) == 0
    want = {
        "none": (False, False),
        "Aug": (True, False),
        "NAW": (False, True),
        "both": (True, True),
    }
    got = {}
    for c in fakes["train"]:
        assert c.augment.frame_skip == c.augment.erase
        row = Path(c.out_dir).parent.name
        got.setdefault(row, set()).add((c.augment.erase, c.loss.naw, c.trainer.seed))
    assert got == {r: {(a, n, 3), (a, n, 4)} for r, (a, n) in want.items()}
    rows = json.loads((out / "table2.json").read_text())
    assert [(r["name"], r["Aug"], r["NAW"]) for r in rows] == [(r, *f) for r, f in want.items()]
    _check_table(out / "table2.json", out, {r: r for r in want}, [3, 4], "labels")
    md = (out / "table2.md").read_text().splitlines()
    assert md[0].startswith("| Aug | NAW | Run |") and md[2].startswith("|  |  | none |")
    assert md[5].startswith("| ✓ | ✓ | both |")
    assert all(c.model.person_baseline == "none" for c in fakes["train"])


def test_ablation_person_baseline_rows(root: Path, tmp_path: Path, fakes) -> None:
    out = tmp_path / "ablation"
    argv = ["ablation", f"data.root={root}", "--out", str(out), "--seeds", "0"]
    assert main([*argv, "--person-baseline", "subtract", "token"]) == 0
    got = {Path(c.out_dir).parent.name: c for c in fakes["train"]}
    assert list(got) == ["none", "Aug", "NAW", "both", "both+subtract", "both+token"]
    for row, mode in (("both+subtract", "subtract"), ("both+token", "token")):
        c = got[row]
        assert (c.model.person_baseline, c.augment.erase, c.loss.naw) == (mode, True, True)
    assert {got[r].model.person_baseline for r in ("none", "Aug", "NAW", "both")} == {"none"}
    rows = json.loads((out / "table2.json").read_text())
    assert [(r["name"], r["Aug"], r["NAW"]) for r in rows][4:] == [
        ("both+subtract", True, True),
        ("both+token", True, True),
    ]
    _check_table(out / "table2.json", out, {r: r for r in got}, [0], "labels")


# -- slow: the real trainings ------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny synthetic data set and a feature store of a random-init encoder (one erased view)."""
    from vnaw.data.affwild2 import index_dataset
    from vnaw.data.synth import SynthConfig, generate
    from vnaw.features.extract import extract
    from vnaw.features.store import EraseSpec
    from vnaw.models.frame_encoder import load_encoder

    root = tmp_path_factory.mktemp("synth")
    generate(root, SynthConfig(seed=2, videos=8, frames=30, size=32))
    store = tmp_path_factory.mktemp("store")
    enc = load_encoder("resnet18", random_init=True, input_size=32, seed=0)
    extract(
        index_dataset(root), store, enc, erase=EraseSpec(views=1), batch_size=64, progress=False
    )
    return root, store


def _tiny(root: Path, store: Path) -> list[str]:
    return [
        f"data.root={root}", f"data.features={store}",
        "data.clip_length=8", "data.batch_size=8", "data.clips_per_epoch=16",
        "model.d_model=16", "model.num_layers=1", "model.num_heads=2", "model.dim_feedforward=32",
        "optim.epochs=1", "trainer.progress_bar=false", "trainer.accelerator=cpu",
    ]  # fmt: skip


def _mtimes(out: Path) -> dict[str, int]:
    files = [*out.glob("*/seed*/model.safetensors"), *out.glob("*/seed*/eval/metrics.json")]
    return {str(p): p.stat().st_mtime_ns for p in files}


@pytest.mark.slow
def test_real_kfold_and_ablation(synth: tuple[Path, Path], tmp_path: Path) -> None:
    root, store = synth
    names = sorted(p.stem for p in root.glob("*_Set/*.txt"))
    assert any(n.endswith("_left") for n in names)

    out = tmp_path / "kfold"
    argv = ["kfold", *_tiny(root, store), "--out", str(out), "--folds", "2"]
    assert main([*argv, "--score", "clean"]) == 0
    _check_folds(out / "folds.json", names, 2)
    rows = {"Official": "official", "fold-1": "fold1", "fold-2": "fold2"}
    _check_table(out / "table1.json", out, rows, [0], "clean labels")
    clean = json.loads((out / "table1.json").read_text())
    before = _mtimes(out)
    assert len(before) == 6

    assert main(argv) == 0  # rerun, scored against the annotations: nothing retrained
    assert _mtimes(out) == before
    _check_table(out / "table1.json", out, rows, [0], "labels")
    assert json.loads((out / "table1.json").read_text()) != clean

    out = tmp_path / "ablation"
    assert main(["ablation", *_tiny(root, store), "--out", str(out)]) == 0
    _check_table(
        out / "table2.json", out, {r: r for r in ("none", "Aug", "NAW", "both")}, [0], "labels"
    )
    assert len(_mtimes(out)) == 8


# -- the paper's configuration (end to end): no feature store to score with ---------------------


def _paper_tiny(root: Path, encoder: Path) -> list[str]:
    return [
        "paper", f"data.root={root}", f"encoder.name={encoder}", "data.clip_length=8",
        "data.eval_stride=4", "data.batch_size=4", "data.batch_unit=clips",
        "trainer.micro_batch_size=2", "data.clips_per_epoch=4", "data.num_workers=0",
        "model.d_model=16", "model.num_layers=1", "model.dim_feedforward=16", "optim.epochs=1",
        "trainer.progress_bar=false", "trainer.accelerator=cpu",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The miniature organisers' release and a tiny encoder file to fine-tune."""
    from helpers.release import make_release
    from helpers.tiny_encoder import tiny_encoder

    tmp = tmp_path_factory.mktemp("release")
    return make_release(tmp)[0], tiny_encoder(tmp / "tiny")


@pytest.mark.parametrize("config", ["paper", "paper_features"])
def test_kfold_with_paper_on_the_release(release, tmp_path: Path, config: str, capsys) -> None:
    """`vnaw kfold paper` on the miniature release: every run trains end to end and is scored
    from the crops with its own fine-tuned encoder (there is no feature store); `paper_features`
    trains and scores on a store of the same encoder's features."""
    root, enc = release
    argv = _paper_tiny(root, enc)
    if config == "paper_features":
        store = tmp_path / "store"
        extract = ["extract", "--data", str(root), "--out", str(store), "--encoder", str(enc),
                   "--workers", "0", "--quiet"]  # fmt: skip
        assert main(extract) == 0
        argv = ["paper_features", *argv[1:], f"data.features={store}", "augment.erase=false"]
    out = tmp_path / "kfold"
    assert main(["kfold", *argv, "--out", str(out), "--folds", "1"]) == 0
    rows = {"Official": "official", "fold-1": "fold1"}
    _check_table(out / "table1.json", out, rows, [0], "labels")
    mode = "end-to-end" if config == "paper" else "features"
    for split in rows.values():
        run = out / split / "seed0"
        assert f"mode: {mode}" in (run / "config.yaml").read_text()
        info = json.loads((run / "encoder.json").read_text())
        # Fine-tuned end to end, or the user's encoder of the store copied in: kept in the run.
        assert (
            info["trained_in_run"] == (config == "paper")
            and (run / "encoder.safetensors").is_file()
        )
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.slow
def test_ablation_with_paper_on_the_release(release, tmp_path: Path) -> None:
    out = tmp_path / "ablation"
    assert main(["ablation", *_paper_tiny(*release), "--out", str(out)]) == 0
    want = ("none", "Aug", "NAW", "both")
    _check_table(out / "table2.json", out, {r: r for r in want}, [0], "labels")
