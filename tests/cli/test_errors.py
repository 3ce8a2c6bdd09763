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
        (Path(__import__("vnaw").__file__).parent / "weights/ferplus_resnet18_48.json").read_text()
    )
    shipped["model_kwargs"]["checkpoint_path"] = str(d / "anything.pth")
    sneaky = d / "sneaky.json"
    sneaky.write_text(json.dumps(shipped))
    (d / "sneaky.safetensors").write_bytes(
        (
            Path(__import__("vnaw").__file__).parent / "weights/ferplus_resnet18_48.safetensors"
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
    ("pretrain: unknown key", ["pretrain", "--data", "folder:{good}", "--set", "optim.lr_typo=1", "--out", "{out}/pt2"], "lr_typo"),
    ("pretrain: missing folder", ["pretrain", "--data", "folder:{missing}", "--out", "{out}/pt3"], "{missing}"),
    ("pretrain evaluate: missing encoder", ["pretrain", "evaluate", "--encoder", "{missing}", "--data", "folder:{good}"], "{missing}"),
    ("pretrain export: garbage", ["pretrain", "export", "--checkpoint", "{pth}", "--out", "{out}/e"], "{pth}"),
    ("kfold: unknown key", ["kfold", "optim.lr_typo=1", "--out", "{out}/k"], "lr_typo"),
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
    # Nothing half-written: no temporary files, no new result files.
    after = {p for p in corpus["out"].rglob("*")} if corpus["out"].exists() else set()
    assert not [p for p in after if ".tmp" in p.name], after
    assert not [p for p in after - before if p.suffix in (".onnx", ".safetensors", ".csv")]


def test_debug_shows_the_traceback(corpus) -> None:
    argv = [sys.executable, "-m", "vnaw", "--debug", "data", "stats", str(corpus["bad_header"])]
    res = subprocess.run(argv, capture_output=True, text=True)
    assert res.returncode != 0 and "Traceback" in res.stderr and "DataError" in res.stderr
    res = subprocess.run([*argv[:3], *argv[4:]], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


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
