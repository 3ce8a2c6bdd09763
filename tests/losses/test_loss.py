"""V-NAW loss at clip and frame level — design §7.2, eqs. 9–12."""

import math

import numpy as np
import pytest

pytest.importorskip("torch")

import torch
import torch.nn.functional as F

from vnaw import VNAWLoss
from vnaw.losses.video import clip_majority_label


def _gauss(x, mu, sigma):
    d = np.asarray(x, dtype=float) - np.asarray(mu)
    s = np.asarray(sigma, dtype=float)
    return math.exp(-0.5 * d @ np.linalg.inv(s) @ d) / (2 * math.pi * math.sqrt(np.linalg.det(s)))


SIGMA_T1 = [[0.80, -0.48], [-0.48, 0.80]]  # ε = 1
SIGMA_F = [[0.8511, 0.8051], [0.8051, 0.8511]]


def _logits_from_probs(rows):
    return torch.log(torch.tensor(rows, dtype=torch.float32))


@pytest.fixture
def example():
    """One clip of 4 frames, 3 classes: frames 0–1 valid (label 1), frame 2 labelled -1, frame 3 dropped."""
    probs = [[0.1, 0.8, 0.1], [0.3, 0.5, 0.2], [0.6, 0.2, 0.2], [0.05, 0.05, 0.9]]
    logits = _logits_from_probs(probs)[None]  # (1, 4, 3)
    labels = torch.tensor([[1, 1, -1, 2]])
    present = torch.tensor([[True, True, True, False]])
    return logits, labels, present


def test_clip_level_hand_example(example):
    logits, labels, present = example
    out = VNAWLoss(level="clip", naw=True)(logits, labels, present)
    # p̄ = mean of frames 0 and 1 = (0.2, 0.65, 0.15); label 1 is the argmax -> true Gaussian.
    w = _gauss((0.65, 0.2), (0.5, 0.5), SIGMA_T1)
    assert out.loss.item() == pytest.approx((1 + w) * -math.log(0.65), rel=1e-5)
    np.testing.assert_allclose(out.probs.numpy(), [[0.2, 0.65, 0.15]], atol=1e-6)
    assert out.targets.tolist() == [1]
    assert out.weights.item() == pytest.approx(w, rel=1e-5)


def test_clip_level_without_naw_is_plain_ce(example):
    logits, labels, present = example
    out = VNAWLoss(level="clip", naw=False)(logits, labels, present)
    assert out.loss.item() == pytest.approx(-math.log(0.65), rel=1e-5)
    assert out.weights.numel() == 0


def test_frame_level_hand_example(example):
    logits, labels, present = example
    out = VNAWLoss(level="frame", naw=True)(logits, labels, present)
    w0 = _gauss((0.8, 0.1), (0.5, 0.5), SIGMA_T1)  # frame 0 right
    w1 = _gauss((0.5, 0.3), (0.5, 0.5), SIGMA_T1)  # frame 1 right
    expected = ((1 + w0) * -math.log(0.8) + (1 + w1) * -math.log(0.5)) / 2
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    plain = VNAWLoss(level="frame", naw=False)(logits, labels, present)
    assert plain.loss.item() == pytest.approx(
        F.cross_entropy(logits[0, :2], labels[0, :2]).item(), rel=1e-6
    )


def test_wrong_clip_uses_false_gaussian():
    logits = _logits_from_probs([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]])[None]
    out = VNAWLoss(level="clip")(logits, torch.tensor([[2, 2]]))
    w = _gauss((0.1, 0.7), (0.3, 0.15), SIGMA_F)
    assert out.loss.item() == pytest.approx((1 + w) * -math.log(0.1), rel=1e-5)


@pytest.mark.parametrize("level", ["clip", "frame"])
def test_ignored_and_dropped_frames_do_not_matter(example, level):
    logits, labels, present = example
    loss_fn = VNAWLoss(level=level)
    base = loss_fn(logits, labels, present)
    changed = logits.clone()
    changed[0, 2:] = torch.randn(2, 3, generator=torch.Generator().manual_seed(0)) * 5
    other = loss_fn(changed, labels, present)
    assert other.loss.item() == pytest.approx(base.loss.item(), rel=1e-6)
    torch.testing.assert_close(other.probs, base.probs)


def test_clip_without_valid_frames_is_excluded(example):
    logits, labels, present = example
    batch_logits = torch.cat([logits, torch.randn(1, 4, 3)])
    batch_labels = torch.cat([labels, torch.full((1, 4), -1)])
    batch_present = torch.cat([present, torch.ones(1, 4, dtype=torch.bool)])
    single = VNAWLoss()(logits, labels, present).loss
    both = VNAWLoss()(batch_logits, batch_labels, batch_present).loss
    assert both.item() == pytest.approx(single.item(), rel=1e-6)


def test_majority_label_and_ties():
    labels = torch.tensor(
        [
            [2, 2, 1, 1],  # tie 2:2, class 1 seen last -> 1
            [1, 2, 2, 1],  # tie, frame 4 is class 1 -> 1
            [1, 1, 2, -1],  # majority 1
            [3, 0, 0, 3],  # tie, but frame 4 dropped below -> 0
            [-1, -1, -1, -1],  # nothing valid -> -1
        ]
    )
    valid = labels != -1
    valid[3, 3] = False
    assert clip_majority_label(labels, valid, 8).tolist() == [1, 1, 1, 0, -1]


def test_consistency_term_and_epsilon_schedule(example):
    logits, labels, present = example
    loss_fn = VNAWLoss(level="clip", consistency=0.5)
    plain = loss_fn(logits, labels, present).loss
    same = loss_fn(logits, labels, present, flipped_logits=logits).loss
    assert same.item() == pytest.approx(0.5 * plain.item(), rel=1e-6)  # JSD = 0
    loss_fn.set_epoch(0, 10)
    assert loss_fn.epsilon == 0.0
    loss_fn.set_epoch(5, 10)
    assert loss_fn.epsilon == pytest.approx(1 - math.exp(-7.5))


def test_gradients_and_bf16():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, 8, generator=gen).to(torch.bfloat16).requires_grad_(True)
    labels = torch.randint(-1, 8, (3, 6), generator=gen)
    labels[:, 0] = 0  # every clip has a valid frame
    out = VNAWLoss(level="clip")(logits, labels)
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.loss.dtype == torch.float32
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_bad_level():
    with pytest.raises(ValueError, match="level"):
        VNAWLoss(level="video")
