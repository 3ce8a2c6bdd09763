"""The CLI's error boundary: every bad input is one line on stderr naming the file, exit status 2,
no traceback (``--debug`` shows it), and nothing half-written.

The corpus is generated here: broken annotation files, broken or malicious model files, bad
configurations and data specs, missing folders.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch

from helpers.tiny_run import make_run
from vnaw.cli import main
from vnaw.data.synth import SynthConfig, generate


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("corpus")
    good = d / "good"
    generate(good, SynthConfig(seed=3, videos=3, frames=20, size=32))
    bad_header = d / "bad_header"
    generate(bad_header, SynthConfig(seed=3, videos=3, frames=20, size=32))
    ann = next((bad_header / "Train_Set").glob("*.txt"))
    lines = ann.read_text().splitlines()
    ann.write_text("\n".join(["Neutral,Angry,Disgust", *lines[1:]]) + "\n")
    bad_label = d / "bad_label"
    generate(bad_label, SynthConfig(seed=3, videos=3, frames=20, size=32))
    ann2 = next((bad_label / "Train_Set").glob("*.txt"))
    lines = ann2.read_text().splitlines()
    ann2.write_text("\n".join([lines[0], "9", *lines[2:]]) + "\n")

    run = make_run(d / "run")
    truncated = d / "truncated_run"
    make_run(truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    empty = d / "empty_run"
    make_run(empty)
    (empty / "model.safetensors").write_bytes(b"")
    wrong_shape = d / "wrong_shape_run"
    make_run(wrong_shape)
    cfg = (wrong_shape / "config.yaml").read_text().replace("d_model: 32", "d_model: 48")
    (wrong_shape / "config.yaml").write_text(cfg)
    no_config = d / "no_config_run"
    make_run(no_config)
    (no_config / "config.yaml").unlink()
    ckpt_dir = d / "ckpt_run" / "checkpoints"
    ckpt_dir.mkdir(parents=True)
    make_run(d / "ckpt_run")
    (ckpt_dir / "best.ckpt").write_bytes(b"PK\x03\x04 not a zip archive")

    bad_json = d / "bad_encoder.json"
    bad_json.write_text("{not json")
    (d / "bad_encoder.safetensors").write_bytes(b"")
    shipped = json.loads(
        (
            Path(__import__("vnaw").__file__).parent / "weights/ferplus_dlib_resnet18_112.json"
        ).read_text()
    )
    shipped["model_kwargs"]["checkpoint_path"] = str(d / "anything.pth")
    sneaky = d / "sneaky.json"
    sneaky.write_text(json.dumps(shipped))
    (d / "sneaky.safetensors").write_bytes(
        (
            Path(__import__("vnaw").__file__).parent
            / "weights/ferplus_dlib_resnet18_112.safetensors"
        ).read_bytes()
    )
    yaml = d / "broken.yaml"
    yaml.write_text("data: [unclosed\n")
    folds = d / "folds.json"
    folds.write_text("[1, 2")
    test_list = d / "test_list.txt"
    test_list.write_text("image_location\nclip/1.jpg\n")
    pth = d / "garbage.pth"
    pth.write_bytes(b"\x80\x04garbage")
    no_videos = d / "no_videos"
    no_videos.mkdir()
    return {
        **_more_corpus(d, good),
        "good": good,
        "bad_header": bad_header,
        "bad_header_file": ann,
        "bad_label": bad_label,
        "bad_label_file": ann2,
        "run": run,
        "truncated": truncated,
        "empty": empty,
        "wrong_shape": wrong_shape,
        "no_config": no_config,
        "ckpt": ckpt_dir / "best.ckpt",
        "bad_json": bad_json,
        "sneaky": sneaky,
        "yaml": yaml,
        "folds": folds,
        "test_list": test_list,
        "pth": pth,
        "no_videos": no_videos,
        "missing": d / "does_not_exist",
        "out": d / "out",
    }


def _more_corpus(d: Path, good: Path) -> dict[str, Path]:
    """Corrupted Aff-Wild2 copies (a truncated crop, no valid label), a feature store of the good
    copy, broken and duplicate-name videos, and a run whose last.ckpt is garbage."""
    import shutil

    import numpy as np

    from vnaw.data.affwild2 import index_dataset
    from vnaw.features.extract import extract
    from vnaw.models.frame_encoder import load_encoder

    bad_crop = d / "bad_crop"
    shutil.copytree(good, bad_crop)
    crop = sorted((bad_crop / "cropped_aligned").rglob("*.jpg"))[5]
    crop.write_bytes(crop.read_bytes()[:50])
    no_labels = d / "no_labels"
    shutil.copytree(good, no_labels)
    for ann in (no_labels / "Train_Set").glob("*.txt"):
        lines = ann.read_text().splitlines()
        ann.write_text("\n".join([lines[0], *["-1"] * (len(lines) - 1)]) + "\n")
    store = d / "store"
    encoder = load_encoder("resnet18", random_init=True, input_size=32, seed=0)
    extract(index_dataset(good), store, encoder, batch_size=32, progress=False)
    videos = d / "videos"
    for cam in ("cam1", "cam2"):
        (videos / "same" / cam).mkdir(parents=True)
        (videos / "same" / cam / "clip.mp4").write_bytes(b"x")
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "text.mp4").write_text("not a video\n" * 50)
    np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tofile(videos / "noise.avi")
    bad_resume = d / "bad_resume"
    (bad_resume / "checkpoints").mkdir(parents=True)
    (bad_resume / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 truncated")
    return {
        **_broken_runs(d, good, store),
        "bad_crop": bad_crop,
        "bad_crop_file": crop,
        "no_labels": no_labels,
        "store": store,
        "same_stem": videos / "same",
        "videos": videos,
        "bad_resume": bad_resume,
    }


def _broken_runs(d: Path, good: Path, store: Path) -> dict[str, Path]:
    """Runs whose config.yaml is a list, not UTF-8 or empty; runs with a truncated or pickled
    naw_weights.npy; encoder JSONs with a wrong input_size; a feature store with a pickled array."""
    import shutil

    import numpy as np

    out: dict[str, Path] = {}
    for key, text in (
        ("list_cfg", b"- 1\n"),
        ("latin1_cfg", b"mode: \xe9t\xe9\n"),
        ("empty_cfg", b""),
    ):
        run = make_run(d / key)
        (run / "config.yaml").write_bytes(text)
        out[key] = run
    np.save(d / "weights.npy", np.linspace(0, 1, 50))
    for key in ("truncated_naw", "pickled_naw"):
        out[key] = make_run(d / key)
    data = (d / "weights.npy").read_bytes()
    (out["truncated_naw"] / "naw_weights.npy").write_bytes(data[: len(data) // 2])
    np.save(out["pickled_naw"] / "naw_weights.npy", np.array([{}, 1], dtype=object))
    shipped = Path(__import__("vnaw").__file__).parent / "weights/ferplus_dlib_resnet18_112"
    for key, size in (("size0", 0), ("size_str", "big")):
        meta = json.loads(shipped.with_suffix(".json").read_text())
        meta["input_size"] = size
        (d / f"{key}.json").write_text(json.dumps(meta))
        shutil.copy(shipped.with_suffix(".safetensors"), d / f"{key}.safetensors")
        out[key] = d / f"{key}.json"
    pickled_store = d / "pickled_store"
    shutil.copytree(store, pickled_store)
    victim = sorted(pickled_store.glob("*.npy"))[0]
    np.save(victim, np.array([{"x": 1}], dtype=object))
    out["pickled_store"], out["pickled_store_file"] = pickled_store, victim
    finished = make_run(d / "finished_run")
    out["finished"] = finished
    return out


# (name, argv with {placeholders}, what the line must name)
CASES = [
    ("stats: missing folder", ["data", "stats", "{missing}"], "{missing}"),
    ("stats: wrong header", ["data", "stats", "{bad_header}"], "{bad_header_file}"),
    ("stats: label out of range", ["data", "stats", "{bad_label}"], "{bad_label_file}"),
    ("train: wrong header", ["train", "data.root={bad_header}", "out_dir={out}/t1"], "{bad_header_file}"),
    ("train: unknown key", ["train", "optim.lr_typo=1", "out_dir={out}/t2"], "lr_typo"),
    ("train: bad value", ["train", "loss.level=pixel", "out_dir={out}/t3"], "loss.level"),
    ("train: no data.root", ["train", "out_dir={out}/t4"], "data.root"),
    ("train: broken yaml", ["train", "{yaml}"], "{yaml}"),
    ("train: missing yaml", ["train", "{missing}.yaml"], "{missing}.yaml"),
    ("train: no store", ["train", "data.root={good}", "out_dir={out}/t5"], "data.features"),
    ("train: missing store", ["train", "data.root={good}", "data.features={missing}", "out_dir={out}/t6"], "{missing}"),
    ("train: bad folds", ["train", "data.root={good}", "data.split=fold1", "data.folds_file={folds}", "out_dir={out}/t7"], "{folds}"),
    ("evaluate: missing run", ["evaluate", "{missing}", "--data", "{good}"], "{missing}"),
    ("evaluate: no config", ["evaluate", "{no_config}", "--data", "{good}"], "config.yaml"),
    ("evaluate: truncated weights", ["evaluate", "{truncated}", "--data", "{good}"], "model.safetensors"),
    ("evaluate: wrong shape", ["evaluate", "{wrong_shape}", "--data", "{good}"], "model.safetensors"),
    ("evaluate: bad split", ["evaluate", "{run}", "--data", "{good}", "--split", "fold2"], "fold2"),
    ("evaluate: garbage ckpt", ["evaluate", "{ckpt}", "--data", "{good}"], "best.ckpt"),
    ("predict: empty weights", ["predict", "{no_videos}", "--model", "{empty}", "--out", "{out}/p1"], "model.safetensors"),
    ("predict: no videos", ["predict", "{no_videos}", "--out", "{out}/p2"], "{no_videos}"),
    ("predict: detector weights", ["predict", "{no_videos}", "--detector", "retinaface", "--detector-weights", "{pth}"], "{pth}"),
    ("export: empty weights", ["export", "--model", "{empty}", "--out", "{out}/m.onnx"], "model.safetensors"),
    ("export: garbage ckpt", ["export", "--model", "{ckpt}", "--out", "{out}/m.onnx"], "best.ckpt"),
    ("extract: bad encoder json", ["extract", "--data", "{good}", "--out", "{out}/s1", "--encoder", "{bad_json}"], "{bad_json}"),
    ("extract: encoder asks timm to load a file", ["extract", "--data", "{good}", "--out", "{out}/s2", "--encoder", "{sneaky}"], "checkpoint_path"),
    ("extract: unknown timm name", ["extract", "--data", "{good}", "--out", "{out}/s3", "--encoder", "no_such_net", "--random-init"], "no_such_net"),
    ("extract: garbage weights", ["extract", "--data", "{good}", "--out", "{out}/s4", "--encoder", "resnet18", "--weights", "{pth}"], "{pth}"),
    ("extract: wrong header", ["extract", "--data", "{bad_header}", "--out", "{out}/s5"], "{bad_header_file}"),
    ("pretrain: unknown reader", ["pretrain", "--data", "nosuch:{good}", "--out", "{out}/pt1"], "nosuch"),
    ("pretrain: unknown key", ["pretrain", "optim.lr_typo=1", "--data", "folder:{good}", "--out", "{out}/pt2"], "lr_typo"),
    ("pretrain: missing folder", ["pretrain", "--data", "folder:{missing}", "--out", "{out}/pt3"], "{missing}"),
    ("pretrain evaluate: missing encoder", ["pretrain", "evaluate", "--encoder", "{missing}", "--data", "folder:{good}"], "{missing}"),
    ("pretrain export: garbage", ["pretrain", "export", "--checkpoint", "{pth}", "--out", "{out}/e"], "{pth}"),
    ("kfold: unknown key", ["kfold", "optim.lr_typo=1", "--out", "{out}/k"], "lr_typo"),
    # Broken videos and duplicate names through `faces` (a broken video among others: below).
    ("faces: missing input", ["faces", "{missing}", "--out", "{out}/f1"], "{missing}"),
    ("faces: two videos, one name", ["faces", "{same_stem}", "--out", "{out}/f2"], "clip.mp4"),
    # Corrupted Aff-Wild2 copies through stats --check / extract / train / evaluate.
    ("stats --check: truncated crop", ["data", "stats", "{bad_crop}", "--check"], "{bad_crop_file}"),
    ("extract: truncated crop", ["extract", "--data", "{bad_crop}", "--out", "{out}/s6", "--encoder", "resnet18", "--random-init", "--input-size", "32", "--workers", "0"], "{bad_crop_file}"),
    ("extract: label out of range", ["extract", "--data", "{bad_label}", "--out", "{out}/s7"], "{bad_label_file}"),
    ("train: label out of range", ["train", "data.root={bad_label}", "out_dir={out}/t8"], "{bad_label_file}"),
    ("train: no valid label", ["train", "data.root={no_labels}", "data.features={store}", "out_dir={out}/t9"], "no valid label"),
    ("train end-to-end: truncated crop", ["train", "data.root={bad_crop}", "mode=end-to-end", "out_dir={out}/t10"], "{bad_crop_file}"),
    ("evaluate: wrong header", ["evaluate", "{run}", "--data", "{bad_header}"], "{bad_header_file}"),
    ("evaluate: label out of range", ["evaluate", "{run}", "--data", "{bad_label}"], "{bad_label_file}"),
    # Broken or malicious checkpoints for `train --resume`.
    ("train --resume: garbage last.ckpt", ["train", "data.root={good}", "data.features={store}", "out_dir={bad_resume}", "--resume"], "last.ckpt"),
    # A run's config.yaml that is a list, not UTF-8 or empty, in every command that reads runs.
    ("evaluate: config.yaml a list", ["evaluate", "{list_cfg}", "--data", "{good}"], "{list_cfg}/config.yaml"),
    ("evaluate: config.yaml not UTF-8", ["evaluate", "{latin1_cfg}", "--data", "{good}"], "{latin1_cfg}/config.yaml"),
    ("evaluate: config.yaml empty", ["evaluate", "{empty_cfg}", "--data", "{good}"], "{empty_cfg}/config.yaml"),
    ("predict: config.yaml a list", ["predict", "{no_videos}", "--model", "{list_cfg}", "--out", "{out}/p3"], "{list_cfg}/config.yaml"),
    ("predict: config.yaml not UTF-8", ["predict", "{no_videos}", "--model", "{latin1_cfg}", "--out", "{out}/p4"], "{latin1_cfg}/config.yaml"),
    ("export: config.yaml a list", ["export", "--model", "{list_cfg}", "--out", "{out}/m2.onnx"], "{list_cfg}/config.yaml"),
    ("export: config.yaml empty", ["export", "--model", "{empty_cfg}", "--out", "{out}/m3.onnx"], "{empty_cfg}/config.yaml"),
    ("submit: config.yaml not UTF-8", ["submit", "{latin1_cfg}", "--data", "{good}", "--test-list", "{test_list}", "--out", "{out}/sub.txt"], "{latin1_cfg}/config.yaml"),
    ("submit: config.yaml a list", ["submit", "{list_cfg}", "--data", "{good}", "--test-list", "{test_list}", "--out", "{out}/sub2.txt"], "{list_cfg}/config.yaml"),
    # Encoder JSONs with input_size 0 or a string.
    ("extract: encoder input_size 0", ["extract", "--data", "{good}", "--out", "{out}/s8", "--encoder", "{size0}"], "{size0}"),
    ("extract: encoder input_size a string", ["extract", "--data", "{good}", "--out", "{out}/s9", "--encoder", "{size_str}"], "{size_str}"),
    ("predict --encoder: input_size 0", ["predict", "{no_videos}", "--encoder", "{size0}", "--out", "{out}/p5"], "{size0}"),
    ("predict --encoder: input_size a string", ["predict", "{no_videos}", "--encoder", "{size_str}", "--out", "{out}/p6"], "{size_str}"),
    # Truncated or pickled .npy files (read with allow_pickle=False).
    ("evaluate: truncated naw_weights.npy", ["evaluate", "{truncated_naw}", "--data", "{good}"], "naw_weights.npy"),
    ("evaluate: pickled naw_weights.npy", ["evaluate", "{pickled_naw}", "--data", "{good}"], "naw_weights.npy"),
    ("train: pickled feature array", ["train", "data.root={good}", "data.features={pickled_store}", "out_dir={out}/t11", "trainer.progress_bar=false"], "{pickled_store_file}"),
    # Silent choices made loud, and blame put where it belongs.
    ("train: into an earlier run", ["train", "data.root={good}", "data.features={store}", "out_dir={finished}"], "--overwrite"),
    ("train: bad override after a config", ["train", "demo", "foo.bar=1", "out_dir={out}/t12"], "override foo.bar=1: Key 'foo'"),
]  # fmt: skip


def _fill(template: str, corpus: dict[str, Path]) -> str:
    return template.format(**{k: str(v) for k, v in corpus.items()})


@pytest.mark.parametrize(("name", "argv", "names"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(name, argv, names, corpus, capsys) -> None:
    before = {p for p in corpus["out"].rglob("*")} if corpus["out"].exists() else set()
    rc = main([_fill(a, corpus) for a in argv])
    captured = capsys.readouterr()
    err = [line for line in captured.err.splitlines() if line.strip()]
    assert rc == 2, captured.err
    problem = [line for line in err if line.startswith("vnaw ")]
    assert len(problem) == 1, err
    assert "Traceback" not in captured.err
    assert _fill(names, corpus) in problem[0], problem[0]
    assert "unexpected" not in problem[0], problem[0]  # a checked error, not the catch-all
    assert "demo.yaml" not in problem[0], problem[0]  # only blamed where the fault is
    # Nothing half-written: no temporary files, no new result files.
    after = {p for p in corpus["out"].rglob("*")} if corpus["out"].exists() else set()
    assert not [p for p in after if ".tmp" in p.name], after
    assert not [p for p in after - before if p.suffix in (".onnx", ".safetensors", ".csv")]
    # … and no folder holding nothing but a lock file.
    lock_only = [
        p
        for p in after
        if p.is_dir() and (kids := list(p.iterdir())) and all(k.suffix == ".lock" for k in kids)
    ]
    assert not lock_only, lock_only


def test_debug_shows_the_traceback(corpus) -> None:
    argv = [sys.executable, "-m", "vnaw", "--debug", "data", "stats", str(corpus["bad_header"])]
    res = subprocess.run(argv, capture_output=True, text=True)
    assert res.returncode != 0 and "Traceback" in res.stderr and "DataError" in res.stderr
    res = subprocess.run([*argv[:3], *argv[4:]], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_an_unforeseen_exception_is_one_line_too(monkeypatch, capsys) -> None:
    """The catch-all: one line with the type, the message and the file where the exception names
    one, marked as unexpected and pointing at --debug; --debug re-raises it."""
    import vnaw.cli.info as info

    def boom(args):
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(info, "add_parser", _parser_with(boom, info.add_parser))
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("vnaw info: error: unexpected UnicodeDecodeError: ") and "--debug" in err
    with pytest.raises(UnicodeDecodeError):
        main(["--debug", "info"])

    def missing(args):
        raise KeyError("frames")

    monkeypatch.setattr(info, "add_parser", _parser_with(missing, info.add_parser))
    assert main(["info"]) == 2
    assert "unexpected KeyError: 'frames'" in capsys.readouterr().err


def _parser_with(func, add_parser):
    def add(sub):
        add_parser(sub)
        sub.choices["info"].set_defaults(func=func)

    return add


@pytest.mark.parametrize("name", ["empty.mp4", "text.mp4", "noise.avi", "truncated.mp4"])
def test_a_broken_video_through_faces(name, corpus, tmp_path, capsys) -> None:
    """`faces` goes on with the other videos of a batch (exit 1); each broken one is one line
    naming it, and leaves nothing behind."""
    pytest.importorskip("onnxruntime")
    video = corpus["videos"] / name if name != "truncated.mp4" else _truncated_video(tmp_path)
    out = tmp_path / "out"
    assert main(["faces", str(video), "--out", str(out), "--quiet"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and str(video) in err[0] and "Traceback" not in err[0], err
    assert not [p for p in out.rglob("*") if not p.name.startswith(".")], list(out.rglob("*"))


def _truncated_video(tmp_path: Path) -> Path:
    from helpers.face_video import write_video

    pytest.importorskip("skimage")
    data = write_video(tmp_path / "whole.mp4", 20).read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    return tmp_path / "truncated.mp4"


def test_pickle_in_last_ckpt_never_runs_on_resume(corpus, tmp_path, capsys) -> None:
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (marker,))

    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "epoch": 0, "payload": Boom()}, last)
    argv = ["train", f"data.root={corpus['good']}", f"data.features={corpus['store']}"]
    assert main([*argv, f"out_dir={tmp_path / 'run'}", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(last) in err
    assert not marker.exists()


def test_pickle_in_a_checkpoint_never_runs(corpus, tmp_path) -> None:
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (Path.touch, (marker,))

    run = make_run(tmp_path / "run")
    ckpt = run / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir()
    torch.save({"state_dict": {}, "payload": Boom()}, ckpt)
    assert main(["export", "--model", str(ckpt), "--out", str(tmp_path / "m.onnx")]) == 2
    assert not marker.exists()
