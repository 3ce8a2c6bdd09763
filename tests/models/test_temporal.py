"""Temporal encoder — eqs. 6–9, design §6."""

import pytest

pytest.importorskip("torch")

import torch

from vnaw import TemporalEncoder
from vnaw.models.temporal import TemporalConfig, masked_clip_mean, sinusoidal_encoding


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TemporalEncoder(
        TemporalConfig(feature_dim=12, d_model=16, num_layers=2, num_heads=2, dim_feedforward=32)
    ).eval()


def test_shapes_and_probabilities(model):
    out = model(torch.randn(3, 7, 12))
    assert out.logits.shape == (3, 7, 8) and out.probs.shape == (3, 7, 8)
    assert out.clip_probs.shape == (3, 8)
    torch.testing.assert_close(out.probs.sum(-1), torch.ones(3, 7))
    torch.testing.assert_close(out.clip_probs, out.probs.mean(dim=1))  # all present: plain mean


def test_padding_does_not_change_present_frames(model):
    feats = torch.randn(1, 5, 12)
    present = torch.tensor([[True, True, False, True, False]])
    positions = torch.arange(5)[None]
    base = model(feats, present, positions)
    changed = feats.clone()
    changed[0, [2, 4]] = torch.randn(2, 12) * 10
    other = model(changed, present, positions)
    keep = present[0]
    torch.testing.assert_close(other.logits[0, keep], base.logits[0, keep])
    torch.testing.assert_close(other.clip_probs, base.clip_probs)
    # clip mean is over the present frames only (Eq. 9)
    torch.testing.assert_close(base.clip_probs[0], base.probs[0, keep].mean(dim=0))


def test_dropping_equals_removing_with_original_offsets(model):
    feats = torch.randn(1, 6, 12)
    present = torch.tensor([[True, False, True, True, False, True]])
    masked = model(feats, present)
    kept = present[0].nonzero().squeeze(1)
    removed = model(feats[:, kept], positions=kept[None])
    torch.testing.assert_close(masked.logits[0, kept], removed.logits[0], atol=1e-5, rtol=1e-5)


def test_reordering_changes_output(model):
    feats = torch.randn(1, 6, 12)
    base = model(feats).logits
    perm = torch.tensor([5, 4, 3, 2, 1, 0])
    shuffled = model(feats[:, perm]).logits[:, perm.argsort()]  # same frame, new position
    assert not torch.allclose(base, shuffled, atol=1e-4)


def test_batch_rows_independent_and_bf16(model):
    feats = torch.randn(2, 4, 12)
    present = torch.tensor([[True, True, True, True], [True, False, False, False]])
    out = model(feats, present)
    alone = model(feats[:1])
    torch.testing.assert_close(out.logits[0], alone.logits[0], atol=1e-5, rtol=1e-5)
    half = model(feats.to(torch.bfloat16), present)
    assert torch.isfinite(half.probs).all()


def test_gradients_flow_in_training_mode():
    model = TemporalEncoder(
        feature_dim=8, d_model=16, num_layers=1, num_heads=1, dim_feedforward=16
    )
    feats = torch.randn(2, 5, 8, requires_grad=True)
    out = model(feats, torch.rand(2, 5) > 0.3)
    out.clip_probs[:, 0].sum().backward()
    assert feats.grad is not None and all(p.grad is not None for p in model.head.parameters())


def test_helpers():
    enc = sinusoidal_encoding(torch.tensor([[0, 3]]), 6)
    assert enc.shape == (1, 2, 6)
    torch.testing.assert_close(enc[0, 0], torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 1.0]))
    probs = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]])
    mask = torch.tensor([[True, False, True]])
    torch.testing.assert_close(masked_clip_mean(probs, mask), torch.tensor([[0.75, 0.25]]))
    with pytest.raises(TypeError):
        TemporalEncoder(TemporalConfig(), d_model=8)
