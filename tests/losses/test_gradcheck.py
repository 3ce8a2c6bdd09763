"""float64 ``torch.autograd.gradcheck`` of the NAW weight (eq. 11) and of the V-NAW loss (eq. 9–12).

The weight is piecewise smooth (the argmax picks the Gaussian, the max picks ``p_NN``), so the test
points keep a clear margin from every switch; within a piece the analytic gradient must match
finite differences in double precision.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import torch

from vnaw import VNAWLoss, naw_weight
from vnaw.losses.naw import naw_cross_entropy


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add synchronisation (seconds on a busy 2-core box)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _probs_away_from_switches(n: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, k)`` float64 probabilities and targets, half right and half wrong, no near-ties."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        probs = torch.softmax(2.5 * torch.randn(n, k, generator=gen, dtype=torch.float64), dim=1)
        targets = torch.randint(k, (n,), generator=gen)
        targets[: n // 2] = probs[: n // 2].argmax(1)  # some predictions right
        top2 = probs.topk(3, dim=1).values
        others = probs.scatter(1, targets[:, None], -1.0).topk(2, dim=1).values
        if (top2[:, 0] - top2[:, 1]).min() > 1e-3 and (others[:, 0] - others[:, 1]).min() > 1e-3:
            break
    correct = probs.argmax(1) == targets
    assert correct.any() and (~correct).any()
    return probs.requires_grad_(True), targets


@pytest.mark.parametrize("epsilon", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("normalize", [True, False])
def test_naw_weight_gradcheck(epsilon: float, normalize: bool) -> None:
    probs, targets = _probs_away_from_switches(12, 8, seed=1)
    w = naw_weight(probs, targets, epsilon, normalize)
    assert w.dtype == torch.float64 and w.requires_grad
    assert torch.autograd.gradcheck(
        lambda p: naw_weight(p, targets, epsilon, normalize), (probs,), eps=1e-6, atol=1e-7
    )


def test_naw_cross_entropy_gradcheck_through_the_weight() -> None:
    probs, targets = _probs_away_from_switches(10, 8, seed=2)
    log_probs = probs.detach().log().requires_grad_(True)
    targets = targets.clone()
    targets[3] = -1  # ignored: must contribute nothing

    def loss(lp: torch.Tensor, detach: bool) -> torch.Tensor:
        return naw_cross_entropy(lp, targets, 0.7, detach=detach)[0]

    assert torch.autograd.gradcheck(lambda lp: loss(lp, False), (log_probs,))
    (g_full,) = torch.autograd.grad(loss(log_probs, False), log_probs)
    (g_detached,) = torch.autograd.grad(loss(log_probs, True), log_probs)
    assert torch.all(g_full[3] == 0)
    # The weight's own gradient is part of the loss's (the reference does not detach it).
    assert not torch.allclose(g_full, g_detached, atol=1e-6)


def _clip_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = 2.0 * torch.randn(3, 6, 8, generator=gen, dtype=torch.float64)
    labels = torch.randint(8, (3, 6), generator=gen)
    labels[0, :4] = 2  # a clear clip majority
    labels[1, 1] = -1
    present = torch.ones(3, 6, dtype=torch.bool)
    present[2, 0] = present[1, 4] = False
    return logits.requires_grad_(True), labels, present


@pytest.mark.parametrize("level", ["clip", "frame"])
@pytest.mark.parametrize("flip", [False, True])
def test_vnaw_loss_gradcheck(level: str, flip: bool) -> None:
    logits, labels, present = _clip_batch(seed=3)
    flipped = (logits.detach() + 0.3).requires_grad_(True) if flip else None
    loss_fn = VNAWLoss(level=level, naw=True)
    loss_fn.set_epoch(2, 10)  # ε between 0 and 1

    def loss(x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return loss_fn(x, labels, present, rest[0] if rest else None).loss

    inputs = (logits,) if flipped is None else (logits, flipped)
    out = loss(*inputs)
    assert out.dtype == torch.float64
    assert torch.autograd.gradcheck(loss, inputs)
