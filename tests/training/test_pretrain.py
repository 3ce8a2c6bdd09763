"""``vnaw pretrain`` (design §5) on a generated FERPlus folder: files, resume, errors, helpers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

import torch

from helpers.ferplus_fake import VOTE_ROWS, make_ferplus
from vnaw import ImageClassifier
from vnaw.augment.image import random_affine
from vnaw.cli import build_parser
from vnaw.config import PretrainConfig
from vnaw.errors import ModelFileError
from vnaw.files import check_fits
from vnaw.training.pretrain import init_from_encoder, read_checkpoint_state
from vnaw.training.pretrain_config import load_config
from vnaw.training.pretrain_data import inject_symmetric_noise
from vnaw.training.pretrain_module import PretrainModule, warmup_cosine

TINY = [
    "model.model_kwargs.channels=[8,16,32,64]",
    "model.model_kwargs.stem_width=8",
    "model.input_size=24",
    "optim.batch_size=8",
    "trainer.progress=false",
    "trainer.threads=1",
]


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(["pretrain", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of NLA on 24 generated images; returns the run directory."""
    root = tmp_path_factory.mktemp("pretrain")
    make_ferplus(root / "ferplus", repeats=3)
    out = root / "run"
    # KEY=VALUE words before the options, and after --data's specs (given back to the config).
    argv = [*TINY[:3], "--data", f"ferplus:{root / 'ferplus'}", *TINY[3:], "trainer.seed=3"]
    assert _run([*argv, "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_every_override_reaches_the_saved_config(tiny_run: Path) -> None:
    cfg = load_config(str(tiny_run / "config.yaml"), [])
    assert (cfg.model.input_size, cfg.optim.batch_size, cfg.trainer.seed) == (24, 8, 3)


def test_tiny_run_writes_checkpoints_encoder_and_reports(tiny_run: Path) -> None:
    for name in (
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "encoder.safetensors",
        "encoder.json",
        "config.yaml",
        "metrics.csv",
        "confusion_test.png",
        "results.json",
    ):
        assert (tiny_run / name).is_file(), name
    results = json.loads((tiny_run / "results.json").read_text())
    model = ImageClassifier.from_file(tiny_run / "encoder")
    # The reported test accuracy, recomputed: the exported encoder's predictions on the test
    # images (read here with PIL) against the majority labels of the generated vote rows.
    names, labels = [], []
    for r in range(3):
        for i, (_, label) in enumerate(VOTE_ROWS):
            if label is not None:
                names.append(f"fer{r:04d}{i:03d}.png")
                labels.append(label)
    test_dir = tiny_run.parent / "ferplus" / "FER2013Test"
    images = [np.asarray(Image.open(test_dir / n).convert("L")) for n in names]
    pred = model.predict_proba(images).argmax(1)
    assert results["test"]["n"] == len(labels) == 24
    assert results["test"]["accuracy"] == pytest.approx(np.mean(pred == np.array(labels)))
    assert model.meta.input_size == 24
    assert model.meta.framing == "ferplus"  # trained on FERPlus images: predict frames faces so
    assert model.predict_proba([np.zeros((48, 48), np.uint8)]).shape == (1, 8)
    assert "val/acc" in (tiny_run / "metrics.csv").read_text()


def test_resume_of_a_finished_run_says_so_and_does_nothing(tiny_run: Path, capsys) -> None:
    stamps = {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*") if p.is_file()}
    assert _run([str(tiny_run / "config.yaml"), "--resume"]) == 0
    assert capsys.readouterr().out == f"{tiny_run}: already finished (1 epoch); nothing to do\n"
    assert {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*") if p.is_file()} == stamps


def test_resume_continues_to_more_epochs(tiny_run: Path) -> None:
    cfg_args = [str(tiny_run / "config.yaml"), "--epochs", "2", "--resume"]
    assert _run(cfg_args) == 0
    ckpt = torch.load(tiny_run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6  # 3 steps per epoch (24 images, batch 8), 2 epochs


def test_wrong_shape_checkpoint_gives_clear_error(tiny_run: Path) -> None:
    wide = load_config(None, [o.replace("[8,16,32,64]", "[8,16,32,32]") for o in TINY])
    last = tiny_run / "checkpoints" / "last.ckpt"
    with pytest.raises(
        ModelFileError, match=r"last\.ckpt: weights do not fit the model: .*wrong shape"
    ):
        check_fits(PretrainModule(wide), read_checkpoint_state(last)[0], last)
    argv = [str(tiny_run / "config.yaml"), "model.model_kwargs.channels=[8,16,32,32]", "--resume"]
    with pytest.raises(ModelFileError, match="do not fit the model"):
        _run(argv)


def test_init_starts_training_from_an_encoder(tiny_run: Path, tmp_path: Path) -> None:
    encoder = ImageClassifier.from_file(tiny_run / "encoder")
    data = tiny_run.parent / "ferplus"
    out = tmp_path / "ft"
    # lr = 0: the run's weights must stay those of the encoder it starts from.
    argv = [*TINY, f"model.init={tiny_run / 'encoder'}", "optim.lr=0"]
    assert _run([*argv, "--data", f"ferplus:{data}", "--epochs", "1", "--out", str(out)]) == 0
    tuned = ImageClassifier.from_file(out / "encoder")
    for name, value in encoder.state_dict().items():
        if name.endswith("weight") and value.ndim > 1:
            torch.testing.assert_close(tuned.state_dict()[name], value, rtol=0, atol=0)
    fresh = ImageClassifier(encoder.meta)
    assert not torch.equal(fresh.head.weight, encoder.head.weight)
    init_from_encoder(fresh, str(tiny_run / "encoder"))
    torch.testing.assert_close(fresh.head.weight, encoder.head.weight, rtol=0, atol=0)
    with pytest.raises(
        ValueError, match=r"model\.init=default: .*model_kwargs: encoder .* vs config"
    ):
        init_from_encoder(fresh, "default")
    # An encoder may be fine-tuned at another input size: the same weights.
    larger = ImageClassifier(replace(encoder.meta, input_size=32))
    init_from_encoder(larger, str(tiny_run / "encoder"))
    for name, value in encoder.state_dict().items():
        torch.testing.assert_close(larger.state_dict()[name], value, rtol=0, atol=0)


def test_init_encoder_settings_fill_the_unset_model_fields(tiny_run: Path) -> None:
    """`model.init=default` alone fine-tunes the shipped encoder as it is (its trunk, input size
    and normalisation), not the from-scratch recipe; fields that are set still win."""
    from vnaw.config import PretrainModelConfig as ModelConfig
    from vnaw.models.meta import default_encoder_path, encoder_paths, read_meta
    from vnaw.training.pretrain_config import encoder_meta

    shipped = read_meta(encoder_paths(default_encoder_path())[1])
    fields = ("backbone", "model_kwargs", "stem_pool", "input_size", "channels", "mean", "std")
    got = encoder_meta(ModelConfig(init="default"))
    assert {f: getattr(got, f) for f in fields} == {f: getattr(shipped, f) for f in fields}
    assert encoder_meta(ModelConfig(init="default", input_size=64)).input_size == 64
    tiny = read_meta(encoder_paths(tiny_run / "encoder")[1])
    assert (
        encoder_meta(ModelConfig(init=str(tiny_run / "encoder"))).model_kwargs == tiny.model_kwargs
    )


def test_config_layers_and_unknown_keys(tmp_path: Path) -> None:
    yaml = tmp_path / "c.yaml"
    yaml.write_text("optim:\n  lr: 0.05\nloss:\n  kind: ce\n")
    cfg = load_config(yaml, ["optim.lr=0.01"])
    assert isinstance(cfg, PretrainConfig) and cfg.loss.kind == "ce" and cfg.optim.lr == 0.01
    with pytest.raises(Exception, match="lr_typo"):
        load_config(None, ["optim.lr_typo=1"])
    with pytest.raises(ValueError, match=r"loss\.kind"):
        load_config(None, ["loss.kind=focal"])


def test_symmetric_noise_flips_exact_fraction_to_other_classes() -> None:
    labels = np.repeat(np.arange(8), 125)
    noisy, changed = inject_symmetric_noise(labels, 0.3, seed=1)
    assert changed.sum() == 300 and (noisy[changed] != labels[changed]).all()
    assert (noisy[~changed] == labels[~changed]).all()
    again, _ = inject_symmetric_noise(labels, 0.3, seed=1)
    np.testing.assert_array_equal(noisy, again)
    assert set(np.unique(noisy[changed])) == set(range(8))


def test_schedule_and_augmentation_helpers() -> None:
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(100, 100, 10) == pytest.approx(0.0)
    x = torch.randn(4, 1, 24, 24)
    same = random_affine(x, hflip=False, max_rotate=0.0, scale=(1.0, 1.0), max_shift=0.0)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    assert random_affine(x).shape == x.shape


def test_vote_draw_follows_the_vote_counts() -> None:
    from vnaw.training.pretrain_data import draw_votes

    votes = np.array([[10, 0, 0, 0, 0, 0, 0, 0], [0, 6, 0, 0, 4, 0, 0, 0]] * 5000, np.float32)
    votes[-1] = np.nan  # an image without votes keeps its label
    labels = np.array([0, 1] * 5000)
    labels[-1] = 7
    drawn, changed = draw_votes(votes, labels, seed=2)
    assert (drawn[0:-1:2] == 0).all()  # a unanimous image always gets its class
    second = drawn[1:-1:2]
    assert set(np.unique(second)) == {1, 4}
    assert abs((second == 4).mean() - 0.4) < 0.02  # 4 of its 10 votes
    assert drawn[-1] == 7 and not changed[-1]
    np.testing.assert_array_equal(changed, drawn != labels)
    np.testing.assert_array_equal(drawn, draw_votes(votes, labels, seed=2)[0])


def test_label_source_vote_combinations_are_checked() -> None:
    from vnaw.errors import ConfigError

    assert load_config(None, ["data.label_source=vote"]).data.label_source == "vote"
    vote = "data.label_source=vote"
    for bad in ([vote, "loss.soft=true"], [vote, "data.label_noise=0.2"], ["data.label_source=x"]):
        with pytest.raises(ConfigError):
            load_config(None, bad)


def test_transformer_from_scratch_gets_a_one_line_warning() -> None:
    from vnaw.training.pretrain import from_scratch_note

    swin = ["model.backbone=swin_tiny_patch4_window7_224"]
    note = from_scratch_note(load_config(None, swin))
    assert note is not None and "\n" not in note and "model.pretrained" in note
    assert from_scratch_note(load_config(None, [*swin, "model.pretrained=w.safetensors"])) is None
    assert (
        from_scratch_note(load_config(None, [])) is None
    )  # the CPU recipe: from scratch by design


def test_loader_workers_are_capped_at_the_usable_cores(monkeypatch, capsys) -> None:
    import vnaw.config
    import vnaw.training.console as console

    monkeypatch.setattr(vnaw.config.os, "sched_getaffinity", lambda pid: {0, 1})
    assert console.cap_workers(8) == 2
    assert capsys.readouterr().out == (
        "data.num_workers=8 capped to 2: the CPU cores this process can use\n"
    )
    assert console.cap_workers(2) == 2 and capsys.readouterr().out == ""


def test_step_lines_show_progress_within_an_epoch(tmp_path: Path, monkeypatch, capsys) -> None:
    import vnaw.training.pretrain as pretrain

    monkeypatch.setattr(pretrain, "STEP_LINE_SECONDS", 1e-9)  # every step
    make_ferplus(tmp_path / "ferplus", repeats=2)
    argv = [*TINY, "--data", f"ferplus:{tmp_path / 'ferplus'}", "--epochs", "1", "--out",
            str(tmp_path / "run")]  # fmt: skip
    assert _run(argv) == 0
    out = capsys.readouterr().out
    steps = [ln for ln in out.splitlines() if ln.startswith("step ")]
    assert steps and steps[0].startswith("step 1/") and "(epoch 1/1): loss " in steps[0]
    assert "images/s" in steps[0]
    assert "training resnet18 at 24 px: " in out
