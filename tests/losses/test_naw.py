"""NAW weight (eq. 11), weighted CE (eq. 12), JSD and the NLA total — design §5."""

import math

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from vnaw import naw_weight
from vnaw.losses.naw import (
    js_divergence,
    naw_cross_entropy,
    naw_epsilon,
    nla_loss,
    weighted_cross_entropy,
)

# design §5 reference points: (p_GT, p_NN, right?) -> (w at ε=0, w at ε=1).
REFERENCE = [
    ((0.95, 0.03), True, 0.1527, 0.2107),
    ((0.5, 0.4), True, 0.1977, 0.2463),
    ((0.4, 0.5), False, 0.3982, 0.3982),
    ((0.2, 0.7), False, 0.0563, 0.0563),
    ((0.05, 0.9), False, 0.0024, 0.0024),
]


def _probs_for(p_gt: float, p_nn: float) -> torch.Tensor:
    """A 3-class row with target 0: p[0] = p_GT, p[1] = p_NN, remainder on class 2."""
    return torch.tensor([p_gt, p_nn, 1.0 - p_gt - p_nn], dtype=torch.float64)


def _numpy_gaussian(x, mu, sigma):
    d = np.asarray(x) - np.asarray(mu)
    sigma = np.asarray(sigma)
    return math.exp(-0.5 * d @ np.linalg.inv(sigma) @ d) / (
        2 * math.pi * math.sqrt(np.linalg.det(sigma))
    )


@pytest.mark.parametrize("epsilon", [0.0, 1.0])
def test_reference_values(epsilon):
    probs = torch.stack([_probs_for(*x) for x, _, _, _ in REFERENCE])
    targets = torch.zeros(len(REFERENCE), dtype=torch.long)
    w = naw_weight(probs, targets, epsilon=epsilon)
    expected = [r[2] if epsilon == 0.0 else r[3] for r in REFERENCE]
    np.testing.assert_allclose(w.numpy(), expected, atol=1e-4)


def test_matches_numpy_gaussian_at_intermediate_epsilon():
    eps = 0.37
    sigma_t = [[0.80, -0.48 * eps], [-0.48 * eps, 0.80]]
    sigma_f = [[0.8511, 0.8051], [0.8051, 0.8511]]
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(64, 8, generator=gen, dtype=torch.float64), dim=1)
    targets = torch.randint(8, (64,), generator=gen)
    w = naw_weight(probs, targets, epsilon=eps)
    for i in range(64):
        p = probs[i].numpy()
        y = int(targets[i])
        x = (p[y], np.delete(p, y).max())
        right = int(p.argmax()) == y
        ref = (
            _numpy_gaussian(x, (0.5, 0.5), sigma_t)
            if right
            else _numpy_gaussian(x, (0.3, 0.15), sigma_f)
        )
        assert w[i].item() == pytest.approx(ref, rel=1e-9)


def test_branch_follows_correctness_not_position():
    # Same point (0.4, 0.5) scored as right vs wrong must use different Gaussians; here the
    # target decides: target 0 -> wrong (argmax is 1); target 1 -> right with x = (0.5, 0.4).
    probs = torch.tensor([[0.4, 0.5, 0.1], [0.4, 0.5, 0.1]])
    w = naw_weight(probs, torch.tensor([0, 1]), epsilon=1.0)
    assert w[0].item() == pytest.approx(0.3982, abs=1e-4)  # false Gaussian at (0.4, 0.5)
    assert w[1].item() == pytest.approx(0.2463, abs=1e-4)  # true Gaussian at (0.5, 0.4)


def test_normalize_off_drops_constant():
    probs = _probs_for(0.95, 0.03)[None]
    w_norm = naw_weight(probs, torch.tensor([0]), epsilon=0.0, normalize=True)
    w_raw = naw_weight(probs, torch.tensor([0]), epsilon=0.0, normalize=False)
    assert (w_norm / w_raw).item() == pytest.approx(1 / (2 * math.pi * 0.8), rel=1e-6)


def test_batch_of_one_and_bf16_input():
    probs = _probs_for(0.2, 0.7)[None]
    w = naw_weight(probs.to(torch.bfloat16), torch.tensor([0]))
    assert w.shape == (1,)
    assert w.dtype == torch.float32
    assert w.item() == pytest.approx(0.0563, abs=2e-3)  # bf16 rounding of the inputs


def test_gradients_reach_logits():
    logits = torch.randn(5, 8, requires_grad=True)
    targets = torch.tensor([0, 1, 2, 3, -1])
    loss, weights = naw_cross_entropy(torch.log_softmax(logits, 1), targets, epsilon=0.5)
    loss.backward()
    assert weights.shape == (4,)
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert logits.grad[:4].abs().sum() > 0
    assert logits.grad[4].abs().sum() == 0  # the -1 sample contributes nothing


def test_detach_changes_gradient_not_value():
    logits = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    targets = torch.tensor([0, 1, 2, 3, 4, 5])
    results = []
    for detach in (False, True):
        x = logits.clone().requires_grad_(True)
        loss, _ = naw_cross_entropy(torch.log_softmax(x, 1), targets, detach=detach)
        loss.backward()
        results.append((loss.item(), x.grad.clone()))
    assert results[0][0] == pytest.approx(results[1][0])
    assert not torch.allclose(results[0][1], results[1][1])


def test_undetached_weight_rewards_the_wrong_top_class_near_uniform():
    # Why training from scratch should detach w: near uniform predictions (a network at init)
    # a wrong sample's weight falls as its wrong top class rises (the false Gaussian is nearly
    # degenerate along p_GT − p_NN), and through w that outweighs cross-entropy's push down.
    # Every wrong sample then raises its current top class: the measured collapse on FERPlus
    # with 30 % noise (constant prediction from the first steps). Detached, CE's sign holds.
    logits = torch.tensor([[0.02, 0.0, -0.01, 0.01, 0.0, -0.02, 0.01, 0.0]])
    target = torch.tensor([1])  # the top class is 0: a wrong prediction
    grads = {}
    for detach in (False, True):
        x = logits.clone().requires_grad_(True)
        loss, _ = naw_cross_entropy(torch.log_softmax(x, 1), target, epsilon=0.0, detach=detach)
        loss.backward()
        grads[detach] = x.grad[0]
    assert grads[False][0] < 0  # descent raises the wrong top class
    assert grads[True][0] > 0  # descent lowers it, as plain CE does


def test_weighted_cross_entropy_hand_example():
    # Two valid samples: CE = -log 0.5 and -log 0.25, weights 0.5 and 0.1; one ignored.
    log_probs = torch.log(torch.tensor([[0.5, 0.5], [0.25, 0.75], [0.9, 0.1]]))
    targets = torch.tensor([0, 0, -1])
    loss = weighted_cross_entropy(log_probs, targets, torch.tensor([0.5, 0.1, 7.0]))
    expected = (1.5 * math.log(2) + 1.1 * math.log(4)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert weighted_cross_entropy(log_probs, targets).item() == pytest.approx(
        (math.log(2) + math.log(4)) / 2, rel=1e-6
    )


def test_epsilon_schedule():
    assert naw_epsilon(0, 60) == 0.0
    assert naw_epsilon(30, 60) == pytest.approx(1 - math.exp(-7.5))
    assert naw_epsilon(59, 60) == pytest.approx(1 - math.exp(-15 * 59 / 60))


def test_js_divergence_values():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    q = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_allclose(js_divergence(p, q).numpy(), [math.log(2), 0.0], atol=1e-7)


def test_nla_loss_combines_terms():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 8, generator=gen)
    flipped = torch.randn(4, 8, generator=gen)
    targets = torch.tensor([1, 2, 3, 4])
    loss, _ = nla_loss(logits, flipped, targets, epsilon=1.0, lam=0.5)
    naw_part, _ = naw_cross_entropy(torch.log_softmax(logits, 1), targets)
    jsd = js_divergence(logits.softmax(1), flipped.softmax(1)).mean()
    assert loss.item() == pytest.approx(0.5 * naw_part.item() + 0.5 * jsd.item(), rel=1e-6)
    same, _ = nla_loss(logits, logits, targets, naw=False, lam=0.5)
    ce = torch.nn.functional.cross_entropy(logits, targets)
    assert same.item() == pytest.approx(0.5 * ce.item(), rel=1e-6)
