"""Configuration: dataclass defaults ← YAML ← command-line overrides; unknown keys are errors."""

import pytest

from vnaw.config import ConfigError, load_config, load_config_args, save_config


def test_layers_of_overrides(tmp_path):
    cfg = load_config()
    assert cfg.loss.level == "frame" and cfg.data.clip_length == 100 and cfg.optim.lr == 1e-4
    yaml = tmp_path / "run.yaml"
    yaml.write_text("data:\n  clip_length: 32\nloss:\n  level: clip\n")
    cfg = load_config(yaml, ["data.clip_length=16", "augment.erase=false"])
    assert cfg.data.clip_length == 16  # command line beats YAML
    assert cfg.loss.level == "clip"  # YAML beats defaults
    assert cfg.augment.erase is False
    save_config(cfg, tmp_path / "out" / "config.yaml")
    again = load_config(tmp_path / "out" / "config.yaml")
    assert again == cfg


def test_errors(tmp_path):
    with pytest.raises(ConfigError, match="clip_lenght"):
        load_config(overrides=["data.clip_lenght=3"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"loss\.level"):
        load_config(overrides=["loss.level=video"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="clip_length"):
        load_config(overrides=["data.clip_length=abc"])


def test_optional_config_file_on_command_line(tmp_path):
    cfg = load_config_args("loss.naw=false", ["data.clip_length=8"])
    assert cfg.loss.naw is False and cfg.data.clip_length == 8


def test_shipped_configs_load():

    from vnaw.config import load_config_args

    paper = load_config_args("paper", [])
    assert (paper.data.clip_length, paper.optim.lr, paper.loss.level) == (100, 1e-4, "clip")
    assert paper.augment.frame_skip and paper.augment.erase and paper.data.batch_size == 4096
    # The paper as written: end to end, the encoder fine-tuned, erasing on pixels.
    assert paper.mode == "end-to-end" and paper.encoder.finetune
    assert paper.augment.erase_mode == "pixels" and paper.trainer.micro_batch_size == 2
    features = load_config_args("paper_features", [])
    assert features.mode == "features" and features.loss.level == "clip"
    with pytest.raises(ConfigError, match="no shipped config of that name"):
        load_config_args("papr", [])


def test_paper_batch_is_4096_frames_and_clips_is_one_override():
    from vnaw.config import load_config_args
    from vnaw.data.datamodule import accumulation, batch_summary, global_clips, per_device_batch

    paper = load_config_args("paper", [])
    assert (paper.data.batch_size, paper.data.batch_unit) == (4096, "frames")
    assert global_clips(paper) == 41  # ⌈4096 / 100⌉
    # 8 devices × 2 clips per pass × 3 passes = 48 clips ≥ 41; one device: 21 passes of 2.
    assert (per_device_batch(paper, 8), accumulation(paper, 8)) == (2, 3)
    assert (per_device_batch(paper, 1), accumulation(paper, 1)) == (2, 21)
    assert batch_summary(paper, 1) == (
        "batch: 4096 frames = 41 clips of 100 per step (data.batch_size, data.batch_unit) -> "
        "1 device(s) × 2 clip(s) (200 frames) per pass × 21 accumulation step(s) = 42 clips, "
        "4200 frames per optimiser step"
    )
    clips = load_config_args("paper", ["data.batch_unit=clips"])
    assert global_clips(clips) == 4096 and accumulation(clips, 8) == 256
    # Without a micro-batch each device takes its share rounded up: 41 clips on 8 → 6 each.
    whole = load_config_args("paper", ["trainer.micro_batch_size=null"])
    assert (per_device_batch(whole, 8), accumulation(whole, 8)) == (6, 1)
    with pytest.raises(ConfigError, match="batch_unit"):
        load_config_args("paper", ["data.batch_unit=images"])
