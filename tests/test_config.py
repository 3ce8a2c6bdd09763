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
    assert paper.augment.erase_mode == "pixels" and paper.trainer.micro_batch_size == 8
    features = load_config_args("paper_features", [])
    assert features.mode == "features" and features.loss.level == "clip"
    with pytest.raises(ConfigError, match="no shipped config of that name"):
        load_config_args("papr", [])
