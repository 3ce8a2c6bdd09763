"""Macro-F1 of ABAW EXPR — eqs. 13–15, design §8."""

import numpy as np
import pytest

pytest.importorskip("torch")

import torch
from sklearn.metrics import f1_score

from vnaw import macro_f1
from vnaw.evaluation.metrics import confusion_matrix


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_with_absent_classes(seed):
    rng = np.random.default_rng(seed)
    n = 500
    y_true = rng.choice([0, 1, 4, 5, 7, -1], size=n)  # classes 2, 3, 6 never true
    y_pred = rng.choice([0, 1, 2, 4, 5, 7], size=n)  # 3 and 6 never predicted either
    per_class, mean = macro_f1(y_true, y_pred)
    keep = y_true != -1
    ref = f1_score(y_true[keep], y_pred[keep], labels=list(range(8)), average=None, zero_division=0)
    np.testing.assert_allclose(per_class, ref, atol=1e-12)
    assert mean == pytest.approx(ref.mean())
    assert per_class[3] == 0 and per_class[6] == 0  # no true, no predicted -> 0
    # torch inputs give the same
    per_t, mean_t = macro_f1(torch.from_numpy(y_true), torch.from_numpy(y_pred))
    np.testing.assert_allclose(per_t, per_class)
    assert mean_t == pytest.approx(mean)


def test_hand_example():
    # class 0: TP 2, FP 1, FN 0 -> F1 0.8; class 1: TP 1, FP 0, FN 1 -> 2/3; rest 0.
    per_class, mean = macro_f1([0, 0, 1, 1, -1], [0, 0, 1, 0, 3])
    assert per_class[0] == pytest.approx(0.8)
    assert per_class[1] == pytest.approx(2 / 3)
    assert mean == pytest.approx((0.8 + 2 / 3) / 8)


def test_bad_inputs():
    with pytest.raises(ValueError, match="length"):
        macro_f1([0, 1], [0])
    with pytest.raises(ValueError, match="outside"):
        macro_f1([0, 9], [0, 1])
    with pytest.raises(ValueError, match="y_pred"):
        macro_f1([0, 1], [0, -1])


def test_confusion_matrix():
    cm = confusion_matrix([0, 1, 1, -1], [1, 1, 0, 5])
    assert cm.sum() == 3 and cm[0, 1] == 1 and cm[1, 1] == 1 and cm[1, 0] == 1
