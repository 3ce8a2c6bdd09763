"""Person baseline of the temporal encoder (``model.person_baseline``, design §6): the baseline
against hand-computed values, what ``subtract`` and ``token`` feed the Transformer, the config
switch, and a tiny training run with each mode through evaluation, prediction and ONNX export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vnaw.config import TemporalConfig, load_config
from vnaw.errors import ConfigError
from vnaw.models.temporal import TemporalEncoder, person_baseline, sinusoidal_encoding

SMALL = dict(feature_dim=3, d_model=8, num_layers=1, num_heads=2, dim_feedforward=16, dropout=0.0)


def _model(mode: str, seed: int = 0) -> TemporalEncoder:
    torch.manual_seed(seed)
    model = TemporalEncoder(TemporalConfig(**SMALL, person_baseline=mode)).eval()
    if mode == "token":
        torch.nn.init.normal_(model.baseline_embed)
    return model


def test_baseline_is_the_mean_of_present_frames_by_hand() -> None:
    feats = torch.tensor(
        [
            [[1.0, 2.0, 0.0], [3.0, 4.0, 6.0], [100.0, -100.0, 7.0], [2.0, 0.0, 3.0]],
            [[5.0, 5.0, 5.0], [-1.0, 1.0, 0.5], [9.0, 9.0, 9.0], [0.0, 0.0, 0.0]],
        ]
    )
    present = torch.tensor([[True, True, False, True], [False, True, False, False]])
    # Row 0: mean of frames 0, 1, 3 = ((1+3+2)/3, (2+4+0)/3, (0+6+3)/3); row 1: frame 1 alone.
    want = torch.tensor([[2.0, 2.0, 3.0], [-1.0, 1.0, 0.5]])
    torch.testing.assert_close(person_baseline(feats, present), want)
    # A clip with no present frame has a zero baseline (no NaN).
    none = torch.zeros(1, 4, dtype=torch.bool)
    torch.testing.assert_close(person_baseline(feats[:1], none), torch.zeros(1, 3))


def test_subtract_feeds_frames_minus_baseline() -> None:
    """``subtract`` = the plain model (same weights) run on ``F_p − b``."""
    sub, plain = _model("subtract"), _model("none")
    plain.load_state_dict(sub.state_dict())
    feats = torch.randn(2, 6, 3)
    present = torch.tensor([[True] * 6, [True, False, True, True, False, True]])
    b = person_baseline(feats, present)
    got = sub(feats, present)
    want = plain(feats - b[:, None], present)
    torch.testing.assert_close(got.logits, want.logits)
    # A per-person offset added to every frame (a resting face) changes nothing.
    shifted = sub(feats + torch.tensor([4.0, -2.0, 7.0]), present)
    torch.testing.assert_close(shifted.logits, got.logits, atol=1e-5, rtol=1e-5)
    # The plain model does see the offset.
    assert not torch.allclose(plain(feats + 4.0, present).logits, want.logits, atol=1e-3)


def test_token_is_one_extra_always_present_token() -> None:
    """``token``: the Transformer runs on ``[W b + e; W F_p + pos_p]`` and outputs the frames."""
    model = _model("token")
    feats = torch.randn(1, 5, 3)
    present = torch.tensor([[True, False, True, True, True]])
    b = feats[0, present[0]].mean(0)  # by hand
    frames = model.proj(feats) + sinusoidal_encoding(torch.arange(5)[None], 8)
    token = model.proj(b) + model.baseline_embed
    x = torch.cat([token[None, None], frames], dim=1)
    mask = torch.tensor([[False, False, True, False, False, False]])
    want = model.head(model.encoder(x, src_key_padding_mask=mask)[:, 1:])
    got = model(feats, present)
    torch.testing.assert_close(got.logits, want)
    assert got.probs.shape == (1, 5, 8)
    # A masked frame's features reach neither the frames nor the token.
    changed = feats.clone()
    changed[0, 1] = 50.0
    keep = present[0]
    torch.testing.assert_close(model(changed, present).logits[0, keep], got.logits[0, keep])


def test_config_switch() -> None:
    assert load_config().model.person_baseline == "none"  # the paper: off
    for name in ("paper", "paper_features", "demo"):
        from vnaw.config import resolve_config

        assert load_config(resolve_config(name)).model.person_baseline == "none"
    dim = "model.feature_dim=16"  # unset by default: training fills it from the features
    cfg = load_config(overrides=["model.person_baseline=token", dim])
    assert cfg.model.person_baseline == "token"
    assert hasattr(TemporalEncoder(cfg.model), "baseline_embed")
    assert not hasattr(TemporalEncoder(load_config(overrides=[dim]).model), "baseline_embed")
    with pytest.raises(ConfigError, match=r"model\.person_baseline must be one of"):
        load_config(overrides=["model.person_baseline=median"])
    with pytest.raises(ValueError, match="person_baseline must be one of"):
        TemporalEncoder(TemporalConfig(person_baseline="median"))


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory):
    from helpers.tiny_train import tiny_data

    return tiny_data(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("mode", ["subtract", "token"])
def test_tiny_training_run_with_a_baseline(tiny_root, tmp_path, mode: str) -> None:
    """Train, reload and evaluate; the reloaded model applies the baseline (``subtract``: a
    per-video offset in the features leaves the predictions unchanged)."""
    import pandas as pd

    from helpers.tiny_train import tiny_cfg
    from vnaw.evaluation.evaluate import evaluate, split_videos
    from vnaw.evaluation.windows import predict_video
    from vnaw.models.artifact import load_video_model
    from vnaw.training.train import train

    root, store = tiny_root
    cfg = tiny_cfg(root, tmp_path / "run", **{"model.person_baseline": mode, "optim.epochs": 1})
    run_dir = train(cfg, store=store)
    model, loaded = load_video_model(run_dir, with_encoder=False)
    assert loaded.model.person_baseline == mode == model.temporal.config.person_baseline
    assert f"person baseline: {mode})" in model.description  # what predict prints
    records = split_videos(root, "official")
    out = evaluate(model, records, store, tmp_path / "eval", progress=False)
    table = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert len(table) == sum(r.num_frames for r in records)
    assert out["labels"]["frames"] > 0

    rec = records[0]
    feats = store.features(rec.name).astype(np.float32)
    probs = predict_video(model.temporal, feats, rec.has_crop, model.clip_length, model.stride)
    offset = np.random.default_rng(0).normal(0, 3, feats.shape[1]).astype(np.float32)
    moved = predict_video(
        model.temporal, feats + offset, rec.has_crop, model.clip_length, model.stride
    )
    if mode == "subtract":
        np.testing.assert_allclose(moved, probs, atol=1e-4)
    else:  # the token carries the offset: the output moves
        assert np.abs(moved - probs).max() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["subtract", "token"])
def test_onnx_export_with_a_baseline(tmp_path, mode: str) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from helpers.tiny_run import make_run
    from vnaw.inference.export import export_onnx, max_abs_diff
    from vnaw.models.artifact import load_video_model

    model, _ = load_video_model(make_run(tmp_path / "run", person_baseline=mode))
    path = export_onnx(model, tmp_path / "model.onnx")
    # Traced at (2, 5); checked at (3, 9) with frames masked out of the baseline too.
    assert max_abs_diff(model, path, batch=3, length=9) <= 1e-4
