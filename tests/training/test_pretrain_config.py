"""Pretraining configuration for other backbones (the paper's Swin-T) and weights to start from."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import torch

from vnaw.config import shipped_configs
from vnaw.errors import ConfigError, ModelFileError
from vnaw.models.encoder import ImageClassifier
from vnaw.training.pretrain import init_from_timm_weights
from vnaw.training.pretrain_config import encoder_meta, load_config


def test_default_is_the_shipped_recipe() -> None:
    meta = encoder_meta(load_config(None, []).model)
    assert (meta.backbone, meta.input_size, meta.channels, meta.stem_pool) == (
        "resnet18",
        48,
        1,
        False,
    )
    assert meta.model_kwargs == {"channels": [32, 64, 128, 256], "stem_width": 32}


def test_changing_the_backbone_alone_gives_timm_defaults() -> None:
    meta = encoder_meta(load_config(None, ["model.backbone=swin_tiny_patch4_window7_224"]).model)
    assert meta.model_kwargs == {} and meta.stem_pool
    assert (meta.input_size, meta.channels) == (224, 3)
    assert meta.mean == (0.485, 0.456, 0.406) and meta.std == (0.229, 0.224, 0.225)
    # The recipe's ResNet arguments can be cleared, and a grey input averages the statistics.
    meta = encoder_meta(load_config(None, ["model.model_kwargs={}", "model.channels=1"]).model)
    assert meta.model_kwargs == {} and meta.channels == 1 and meta.mean == (0.5,)


def test_overrides_a_user_would_try_are_refused_with_the_right_key() -> None:
    with pytest.raises(ConfigError, match=r"model\.backbone=swin_tiny"):
        load_config(None, ["model.name=swin_tiny_patch4_window7_224"])
    with pytest.raises(ConfigError, match="not a timm model name"):
        encoder_meta(load_config(None, ["model.backbone=swin_tinny"]).model)


def test_pretrain_swin_ships_and_streams() -> None:
    assert {"paper", "paper_features", "pretrain_swin", "demo"} <= set(shipped_configs())
    cfg = load_config("pretrain_swin", ["data.train=[ferplus:/x]"])
    assert cfg.model.backbone == "swin_tiny_patch4_window7_224" and cfg.data.preload is False
    assert (cfg.optim.optimizer, cfg.optim.lr, cfg.optim.schedule) == ("adam", 1e-4, "exponential")
    assert encoder_meta(cfg.model).input_size == 224


def test_model_pretrained_starts_the_trunk_from_a_timm_file(tmp_path) -> None:
    meta = encoder_meta(load_config(None, ["model.model_kwargs.channels=[8,16,32,64]"]).model)
    torch.manual_seed(1)
    source = ImageClassifier(meta)
    state = dict(source.trunk.state_dict())
    state["fc.weight"] = torch.zeros(1000, 64)  # an ImageNet head: left out
    torch.save(state, tmp_path / "imagenet.pth")
    torch.manual_seed(2)
    model = ImageClassifier(meta)
    init_from_timm_weights(model, str(tmp_path / "imagenet.pth"))
    for k, v in source.trunk.state_dict().items():
        assert torch.equal(model.trunk.state_dict()[k], v)
    wide = encoder_meta(load_config(None, []).model)
    with pytest.raises(ModelFileError, match=r"imagenet\.pth: weights do not fit"):
        init_from_timm_weights(ImageClassifier(wide), str(tmp_path / "imagenet.pth"))


def test_framing_comes_from_the_data_unless_set() -> None:
    cfg = load_config(None, [])
    assert encoder_meta(cfg.model, ["ferplus:/f", "muxspace:/m"]).framing == "ferplus"
    assert encoder_meta(cfg.model, ["ferplus:/f", "folder:/crops"]).framing == "arcface"
    cfg = load_config(None, ["model.framing=ferplus"])
    assert encoder_meta(cfg.model, ["ferplus:/f", "folder:/crops"]).framing == "ferplus"
    with pytest.raises(ConfigError, match=r"model\.framing must be one of"):
        load_config(None, ["model.framing=tight"])
