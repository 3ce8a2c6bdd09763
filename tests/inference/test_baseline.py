"""Person-relative scores (vnaw.inference.baseline) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vnaw.inference.baseline import (
    Baseline,
    BaselineConfig,
    RunningBaseline,
    appearance,
    appearance_change,
    baseline_from,
    guard,
    log_probs,
    most_neutral,
    relative_probs,
    relative_scores,
    track_baseline,
    trimmed_mean,
)


def test_trimmed_mean_drops_the_extremes_of_each_column():
    x = np.array([[1.0, 10.0], [2.0, -50.0], [3.0, 20.0], [100.0, 30.0]])
    # trim 0.25 of 4 rows = 1 row at each end, per column: (2 + 3) / 2 and (10 + 20) / 2
    np.testing.assert_allclose(trimmed_mean(x, 0.25), [2.5, 15.0])
    np.testing.assert_allclose(trimmed_mean(x, 0.1), [26.5, 2.5])  # floor(0.4) = 0: plain mean


def test_most_neutral_takes_the_share_with_the_highest_neutral_log_prob_in_input_order():
    logp = np.zeros((10, 8))
    logp[:, 0] = [-5, -0.1, -3, -0.2, -4, -0.3, -6, -7, -8, -9]
    np.testing.assert_array_equal(most_neutral(logp, 0.3), [1, 3, 5])
    np.testing.assert_array_equal(most_neutral(logp[:2], 0.2), [1])  # at least one row


def test_relative_probs_hand_computed():
    logp = np.array([-1.0, -2, -3, -4, -0.5, -5, -6, -7])
    base = np.array([-0.5, -2, -3, -4, -2.5, -5, -6, -7])
    # r = logp − base = [−0.5, 0, 0, 0, 2, 0, 0, 0]; Neutral's logit is the margin (1):
    # z = [1, 0, 0, 0, 2, 0, 0, 0] → softmax
    denom = math.e + math.e**2 + 6
    rel = relative_probs(logp, base, margin=1.0)
    assert rel.shape == (8,)
    np.testing.assert_allclose(rel[4], math.e**2 / denom)
    np.testing.assert_allclose(rel[0], math.e / denom)
    np.testing.assert_allclose(rel[1], 1 / denom)
    assert rel.argmax() == 4  # Happiness rose 2 above baseline > margin 1
    # A margin above the largest rise: Neutral ("nothing rose enough")
    assert relative_probs(logp, base, margin=2.5).argmax() == 0
    np.testing.assert_allclose(relative_probs(logp[None], base, 1.0).sum(1), [1.0])


def test_a_resting_face_that_looks_stern_reads_neutral_relative_to_itself():
    rest = np.array([0.3, 0.5, 0.05, 0.03, 0.02, 0.05, 0.03, 0.02])  # raw argmax: Anger
    smile = np.array([0.2, 0.3, 0.02, 0.02, 0.4, 0.03, 0.02, 0.01])
    frames = np.array([rest] * 8 + [smile] * 2)
    cfg = BaselineConfig(neutral_share=0.3, min_frames=3, min_neutral=0.25, margin=1.0)
    b = track_baseline(log_probs(frames), cfg)
    assert b.ok and len(b.frames) == 3 and set(b.frames) <= set(range(8))
    np.testing.assert_allclose(b.logp, np.log(rest))
    rel, ok = relative_scores(frames, b, cfg)
    assert ok.all()
    assert (rel[:8].argmax(1) == 0).all()  # at rest: Neutral, not Anger
    assert (rel[8:].argmax(1) == 4).all()  # log(0.4/0.02) = 3.0 > 1: Happiness


def test_baseline_of_a_track_is_the_trimmed_mean_of_its_most_neutral_frames():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(8), size=20)
    lp = log_probs(p)
    cfg = BaselineConfig(neutral_share=0.5, trim=0.1, min_frames=3, min_neutral=0.0)
    b = track_baseline(lp, cfg)
    idx = np.argsort(-lp[:, 0])[:10]
    np.testing.assert_array_equal(b.frames, np.sort(idx))
    cols = np.sort(lp[idx], axis=0)[1:9]  # floor(0.1 · 10) = 1 row off each end
    np.testing.assert_allclose(b.logp, cols.mean(0))


def test_too_few_frames_and_never_neutral_fall_back_to_raw():
    p = np.full((10, 8), 0.1 / 7)
    p[:, 1] = 0.9  # never looks neutral: p(Neutral) = 0.014
    cfg = BaselineConfig(neutral_share=0.2, min_frames=3, min_neutral=0.25)
    b = track_baseline(log_probs(p), cfg)
    assert len(b.frames) == 2 and not b.ok and b.reason == "too_few"  # 0.2 · 10 = 2 < 3
    b = track_baseline(log_probs(np.concatenate([p, p])), cfg)
    assert len(b.frames) == 4 and not b.ok and b.reason == "not_neutral"
    rel, ok = relative_scores(p, b, cfg)
    assert not ok.any()
    np.testing.assert_array_equal(rel, p)  # raw, unchanged
    assert not track_baseline(np.zeros((0, 8)), cfg).ok


def test_appearance_descriptor_and_change():
    rng = np.random.default_rng(1)
    crop = rng.integers(40, 200, (64, 64), dtype=np.uint8)
    d = appearance(crop)
    assert d.shape == (65,) and d.dtype == np.float32
    np.testing.assert_allclose(d[0], crop.mean() / 255, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(d[1:]), 1.0, rtol=1e-5)
    np.testing.assert_allclose(d[1:].sum(), 0.0, atol=1e-5)
    # Half as bright, same pattern: lighting changes by log 2, the pattern not at all
    darker = appearance((crop // 2).astype(np.uint8))
    light, change = appearance_change(darker[None], d.astype(np.float64))
    np.testing.assert_allclose(light, [math.log(2)], atol=0.02)
    np.testing.assert_allclose(change, [0.0], atol=1e-3)
    # An unrelated picture: correlation near 0, change near 1
    other = appearance(rng.integers(40, 200, (64, 64), dtype=np.uint8))
    assert appearance_change(other[None], d.astype(np.float64))[1][0] > 0.6
    rgb = np.repeat(crop[:, :, None], 3, axis=2)
    np.testing.assert_allclose(appearance(rgb), d, atol=1e-3)  # grey of a grey RGB = itself


def test_guard_per_frame_appearance():
    cfg = BaselineConfig(max_light=0.3, max_change=0.25)
    rng = np.random.default_rng(2)
    crop = rng.integers(40, 200, (32, 32), dtype=np.uint8)
    same, dark = appearance(crop), appearance((crop * 0.5).astype(np.uint8))
    other = appearance(rng.integers(40, 200, (32, 32), dtype=np.uint8))
    b = Baseline(np.zeros(8), np.arange(3), True, appearance=same.astype(np.float64))
    np.testing.assert_array_equal(guard(b, 3, cfg, np.stack([same, dark, other])), [1, 0, 0])
    np.testing.assert_array_equal(guard(b, 3, cfg), [1, 1, 1])  # no descriptors: no check
    b.ok = False
    np.testing.assert_array_equal(guard(b, 3, cfg, np.stack([same] * 3)), [0, 0, 0])


def test_calibration_baseline_from_given_frames():
    p = np.array([[0.6, 0.2, 0.04, 0.04, 0.04, 0.04, 0.02, 0.02]] * 4)
    b = baseline_from(log_probs(p), BaselineConfig(min_frames=3, min_neutral=0.5))
    assert b.ok and b.source == "calibration"
    np.testing.assert_allclose(b.logp, np.log(p[0]))
    assert not baseline_from(log_probs(p[:2]), BaselineConfig(min_frames=3)).ok


def test_running_baseline_calibration_mode_freezes_after_s_seconds():
    cfg = BaselineConfig(min_frames=3, margin=1.0, min_neutral=0.2)
    rest = np.array([0.3, 0.5, 0.05, 0.03, 0.02, 0.05, 0.03, 0.02])
    smile = np.array([0.2, 0.3, 0.02, 0.02, 0.4, 0.03, 0.02, 0.01])
    est = RunningBaseline(cfg, calibration_s=1.0)
    for t in (0.0, 0.5, 1.0):
        est.update(rest, t)
    assert not est.state.ok and est.state.reason == "calibrating"
    _, ok = est.relative(smile)
    assert not ok  # no relative scores while calibrating
    est.update(smile, 1.5)  # past the S seconds: not added, baseline frozen
    est.update(smile, 2.0)
    s = est.state
    assert s.ok and s.frames == 3 and s.seen == 5 and s.mode == "calibration"
    np.testing.assert_allclose(s.logp, np.log(rest))
    rel, ok = est.relative(smile)
    assert ok and rel.argmax() == 4
    with pytest.raises(ValueError, match="time_s"):
        RunningBaseline(cfg, calibration_s=1.0).update(rest)


def test_running_baseline_keeps_the_most_neutral_share_seen_so_far():
    cfg = BaselineConfig(neutral_share=0.2, min_frames=3, min_neutral=0.0, trim=0.0)
    est = RunningBaseline(cfg)
    neutral_p = np.linspace(0.9, 0.05, 20)  # frame i: p(Neutral) falling
    rows = [np.r_[q, np.full(7, (1 - q) / 7)] for q in neutral_p]
    for i, r in enumerate(rows):
        est.update(r)
        if i == 9:  # 10 seen: round(0.2 · 10) = 2 < 3 frames, too few
            assert not est.state.ok and est.state.frames == 2
    s = est.state
    assert s.ok and s.frames == 4 and s.seen == 20  # round(0.2 · 20)
    np.testing.assert_allclose(s.logp, log_probs(np.array(rows[:4])).mean(0))
