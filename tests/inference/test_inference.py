"""Whole-video inference: window averaging, nearest-face fill, ambiguity — design §8."""

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from vnaw.evaluation.windows import ambiguity, average_windows, fill_from_nearest, predict_video
from vnaw.models.temporal import TemporalConfig, TemporalEncoder


def test_average_windows_hand_example():
    windows = [(0, 2), (1, 3)]
    probs = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.5, 0.5]])]
    out = average_windows(3, windows, probs)
    np.testing.assert_allclose(out, [[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match="uncovered"):
        average_windows(4, windows, probs)


def test_fill_and_ambiguity():
    probs = np.array([[0.9, 0.1], [0.0, 0.0], [0.0, 0.0], [0.2, 0.8]])
    filled = fill_from_nearest(probs, np.array([True, False, False, True]))
    np.testing.assert_allclose(filled, [[0.9, 0.1], [0.9, 0.1], [0.2, 0.8], [0.2, 0.8]])
    np.testing.assert_allclose(ambiguity(np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])), [0.5, 1.0])


class _FirstFeature(torch.nn.Module):
    """A stand-in "temporal model" whose frame logits are the frame's features: known output."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, present=None):
        from vnaw.models.temporal import TemporalOutput

        probs = x.softmax(-1)
        return TemporalOutput(x, probs, probs.mean(1))


def test_predict_video_known_model():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(23, 8, generator=gen)
    has_face = np.ones(23, dtype=bool)
    has_face[[0, 10, 11]] = False
    probs = predict_video(_FirstFeature(), feats, has_face, clip_length=6, stride=3)
    expected = feats.softmax(-1).numpy()[[1, *range(1, 10), 9, 12, *range(12, 23)]]
    np.testing.assert_allclose(probs, expected, atol=1e-6)


def test_predict_video_matches_single_window_and_batching():
    torch.manual_seed(0)
    model = TemporalEncoder(
        TemporalConfig(feature_dim=4, d_model=8, num_layers=1, num_heads=1, dim_feedforward=8)
    )
    feats = torch.randn(10, 4)
    has_face = np.ones(10, dtype=bool)
    whole = predict_video(model, feats, has_face, clip_length=10)
    direct = model.eval()(feats[None]).probs[0].detach().numpy()
    np.testing.assert_allclose(whole, direct, atol=1e-6)
    a = predict_video(model, feats, has_face, clip_length=4, stride=2, batch_size=1)
    b = predict_video(model, feats, has_face, clip_length=4, stride=2, batch_size=64)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-6)
