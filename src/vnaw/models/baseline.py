"""Person-relative expression scores: a face's frames read against the same person's resting face.

A frame classifier cannot tell a person's resting face from an expression (a stern-looking person
is "angry" all along). Within one session the same face is seen for many frames, so each frame can
be read *relative* to that person's baseline, in log-probability space:

* ``b`` — the **baseline**, ``(8,)``: a per-class trimmed mean of ``log p`` over the frames the
  model finds most neutral (:func:`track_baseline`; or over a neutral recording / images of the
  person, participant calibration);
* ``r = log p − b`` — how far each class rises above the person's baseline;
* **relative probabilities** (:func:`relative_probs`): ``softmax([m, r_Anger, …, r_Other])``; the
  Neutral logit is the margin ``m``, so Neutral wins exactly when no class rises above the baseline
  by more than ``m`` (``r_Neutral`` is not used: Neutral *means* "at baseline").

A baseline only helps when it comes from the same session: across photos taken on other days
(other lighting, pose) the subtraction hurts. The **guard** (:func:`guard`) therefore falls back to
the raw probabilities, and says so, when

* a track's baseline (the most neutral ``neutral_share`` of its face frames) has fewer than
  ``min_frames`` frames (``too_few``),
* the baseline frames still do not look neutral (``not_neutral``: mean ``p(Neutral)`` of the
  baseline frames under ``min_neutral``),
* a frame looks unlike the baseline frames (per frame: lighting or pose change), measured on a
  small appearance descriptor of the aligned crop (:func:`appearance`, 1 + 64 numbers): its
  brightness ratio and the correlation of its 8×8 grey thumbnails.

The constants live in :class:`BaselineConfig` (and :data:`EPS`); they were chosen on developer
data only (``benchmarks/person_relative.py``, docs/design.md). :class:`RunningBaseline` is the
causal version for live input (frames seen so far, or the first seconds as a calibration). The
module sits beside the classifier (``ImageClassifier.predict_relative`` uses it); the inference
stage re-exports it as :mod:`vnaw.inference.baseline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NEUTRAL = 0  # design §2 class order: Neutral first
# Probabilities are clipped here before the log: ratios between tiny probabilities (1e-4 vs 1e-3)
# are frame noise, not expressions (developer data: relative accuracy rises from 1e-6 to 1e-2).
EPS = 0.01
THUMB = 8  # side of the grey thumbnail of the appearance descriptor
DESCRIPTOR_SIZE = 1 + THUMB * THUMB


@dataclass(frozen=True)
class BaselineConfig:
    """Constants of the baseline, the relative scores and the guard (chosen on developer data)."""

    # Share of a track's face frames, the most neutral ones, that form its baseline: enough to
    # average out frame noise, few enough to stay at rest in expressive clips.
    neutral_share: float = 0.2
    # Fewer baseline frames than this (``neutral_share`` of the track's face frames): no baseline.
    min_frames: int = 3
    # Trimmed mean: this share of the pool is cut from each end, per class (robust to outliers).
    trim: float = 0.1
    # The baseline frames' mean p(Neutral) must reach this, else the track "never looks neutral".
    min_neutral: float = 0.3
    # Margin m (log-probability units) a class must rise above the baseline to beat Neutral.
    margin: float = 1.5
    # Guard, per frame: |log brightness ratio| to the baseline frames' mean above this → raw.
    max_light: float = 0.3
    # Guard, per frame: 1 − correlation of the 8×8 thumbnails above this → raw (pose, session).
    max_change: float = 0.2


DEFAULT_CONFIG = BaselineConfig()


@dataclass
class Baseline:
    """A person's baseline and how it was made."""

    logp: np.ndarray  # (8,) per-class trimmed mean of log p over the baseline frames
    frames: np.ndarray  # indices of the baseline frames in the input (empty: from elsewhere)
    ok: bool  # False: relative scores fall back to raw (``reason`` says why)
    reason: str = ""  # "", "too_few", "not_neutral"
    appearance: np.ndarray | None = None  # (1 + 64,) mean descriptor of the baseline frames
    source: str = "auto"  # "auto" (whole track), "calibration" (given images), "running" (causal)


def log_probs(probs: np.ndarray) -> np.ndarray:
    """``(…, 8)`` probabilities → log-probabilities, clipped at :data:`EPS`."""
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), EPS, 1.0))


def trimmed_mean(x: np.ndarray, trim: float) -> np.ndarray:
    """Per-column mean of ``(N, K)`` after dropping ``floor(trim·N)`` rows at each end, per column."""
    x = np.sort(np.asarray(x, dtype=np.float64), axis=0)
    cut = int(np.floor(trim * len(x)))
    return x[cut : len(x) - cut].mean(axis=0)


def most_neutral(logp: np.ndarray, share: float) -> np.ndarray:
    """Indices of the ``max(1, round(share·N))`` rows with the highest ``log p(Neutral)``, in input
    order (ties: the earlier row)."""
    n = len(logp)
    k = min(n, max(1, round(share * n)))
    order = np.argsort(-logp[:, NEUTRAL], kind="stable")
    return np.sort(order[:k])


def baseline_from(
    logp: np.ndarray,
    config: BaselineConfig = DEFAULT_CONFIG,
    appearance: np.ndarray | None = None,
    *,
    frames: np.ndarray | None = None,
    source: str = "calibration",
) -> Baseline:
    """The baseline of the frames ``logp`` ``(N, 8)``, all of them taken as the person at rest
    (calibration: a neutral recording or neutral images of the person)."""
    logp = np.asarray(logp, dtype=np.float64)
    idx = np.arange(len(logp)) if frames is None else np.asarray(frames)
    if len(logp) == 0:
        return Baseline(np.zeros(logp.shape[-1]), idx, False, "too_few", None, source)
    ok, reason = len(logp) >= config.min_frames, "" if len(logp) >= config.min_frames else "too_few"
    if ok and np.exp(logp[:, NEUTRAL]).mean() < config.min_neutral:
        ok, reason = False, "not_neutral"
    app = None if appearance is None else mean_appearance(appearance)
    return Baseline(trimmed_mean(logp, config.trim), idx, ok, reason, app, source)


def track_baseline(
    logp: np.ndarray,
    config: BaselineConfig = DEFAULT_CONFIG,
    appearance: np.ndarray | None = None,
) -> Baseline:
    """The whole-track baseline (``--baseline auto``): trimmed mean over the most neutral share
    of the frames ``logp`` ``(N, 8)`` (face frames only); ``appearance`` ``(N, 65)`` optional."""
    logp = np.asarray(logp, dtype=np.float64)
    if len(logp) == 0:
        return baseline_from(logp, config, source="auto")
    idx = most_neutral(logp, config.neutral_share)
    app = None if appearance is None else np.asarray(appearance)[idx]
    return baseline_from(logp[idx], config, app, frames=idx, source="auto")


def relative_probs(logp: np.ndarray, baseline_logp: np.ndarray, margin: float) -> np.ndarray:
    """``(N, 8)`` relative probabilities: ``softmax([m, r_1, …, r_7])`` with ``r = logp − b``.

    The argmax is Neutral exactly when every expressive class rises less than ``margin`` above
    the baseline; otherwise it is the class that rises most."""
    r = np.asarray(logp, dtype=np.float64) - np.asarray(baseline_logp, dtype=np.float64)
    z = np.array(r, copy=True, ndmin=2)
    z[:, NEUTRAL] = margin
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out = e / e.sum(axis=1, keepdims=True)
    return out if np.ndim(logp) > 1 else out[0]


def appearance(crop: np.ndarray) -> np.ndarray:
    """``(65,)`` float32 descriptor of an aligned face crop for the guard: its mean grey level
    (0–1), then its 8×8 grey thumbnail standardised to zero mean and unit norm."""
    import cv2

    crop = np.asarray(crop)
    grey = crop if crop.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    thumb = cv2.resize(grey.astype(np.float32), (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    t = thumb.ravel() - thumb.mean()
    t /= max(float(np.linalg.norm(t)), 1e-6)
    return np.concatenate([[grey.mean() / 255.0], t]).astype(np.float32)


def mean_appearance(descriptors: np.ndarray) -> np.ndarray:
    """The baseline's descriptor: mean brightness and the re-standardised mean thumbnail."""
    d = np.asarray(descriptors, dtype=np.float64)
    t = d[:, 1:].mean(axis=0)
    t = t - t.mean()
    t /= max(float(np.linalg.norm(t)), 1e-6)
    return np.concatenate([[d[:, 0].mean()], t])


def appearance_change(descriptors: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame ``(|log brightness ratio|, 1 − thumbnail correlation)`` against ``base``."""
    d = np.asarray(descriptors, dtype=np.float64).reshape(-1, len(base))
    light = np.abs(np.log(np.maximum(d[:, 0], 1e-3) / max(float(base[0]), 1e-3)))
    change = 1.0 - d[:, 1:] @ np.asarray(base[1:])
    return light, change


def guard(
    baseline: Baseline,
    n: int,
    config: BaselineConfig = DEFAULT_CONFIG,
    appearance: np.ndarray | None = None,
) -> np.ndarray:
    """``(n,)`` bool: may frame ``i`` be read against ``baseline``? False for every frame of an
    untrustworthy baseline; per frame, False where its lighting or appearance changed too much
    (only when both the frames' and the baseline's descriptors are known)."""
    if not baseline.ok:
        return np.zeros(n, dtype=bool)
    if appearance is None or baseline.appearance is None:
        return np.ones(n, dtype=bool)
    light, change = appearance_change(appearance, baseline.appearance)
    return (light <= config.max_light) & (change <= config.max_change)


def relative_scores(
    probs: np.ndarray,
    baseline: Baseline,
    config: BaselineConfig = DEFAULT_CONFIG,
    appearance: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(relative probabilities (N, 8), ok (N,))`` of frames ``probs``: the raw probabilities
    where the guard says no (``ok`` False), relative ones elsewhere."""
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, np.shape(probs)[-1])
    ok = guard(baseline, len(probs), config, appearance)
    rel = np.array(probs, copy=True)
    if ok.any():
        rel[ok] = relative_probs(log_probs(probs[ok]), baseline.logp, config.margin)
    return rel, ok


@dataclass
class BaselineState:
    """What a :class:`RunningBaseline` knows now."""

    frames: int  # frames the current baseline averages
    seen: int  # frames seen so far
    ok: bool
    reason: str
    mode: str  # "running" (most neutral so far) or "calibration" (the first seconds)
    logp: np.ndarray | None = field(default=None)


class RunningBaseline:
    """A causal baseline for live or streaming input: only frames seen so far.

    ``calibration_s=None`` (running mode): the baseline is the trimmed mean of the most neutral
    ``neutral_share`` of the frames seen so far (as :func:`track_baseline` on those frames), taken
    from a pool of the ``pool`` most neutral frames seen (memory is flat; exact while
    ``neutral_share × frames seen ≤ pool``). ``calibration_s=S``: the frames of the first ``S`` seconds are the person at rest (a
    calibration recording); the baseline is frozen after them.

    Usage, per face and frame: ``est.update(probs, time_s, appearance)``, then
    ``rel, ok = est.relative(probs, appearance)``; ``est.state`` says what the baseline is.
    """

    def __init__(
        self,
        config: BaselineConfig = DEFAULT_CONFIG,
        calibration_s: float | None = None,
        pool: int = 600,
    ) -> None:
        self.config, self.calibration_s, self.pool = config, calibration_s, pool
        self._logp: list[np.ndarray] = []
        self._app: list[np.ndarray | None] = []
        self._seen = 0
        self._t0: float | None = None
        self._frozen = False
        self._baseline: Baseline | None = None

    def update(self, probs: np.ndarray, time_s: float | None = None, appearance=None) -> None:
        """Add one frame's ``(8,)`` probabilities (and its time, needed for calibration mode)."""
        lp = log_probs(probs).ravel()
        self._seen += 1
        if self.calibration_s is not None:
            if self._frozen:
                return
            if time_s is None:
                raise ValueError("calibration mode needs each frame's time_s")
            self._t0 = time_s if self._t0 is None else self._t0
            if time_s - self._t0 > self.calibration_s:
                self._frozen, self._baseline = True, None
                return
            self._add(lp, appearance)
        else:
            self._add(lp, appearance)
            if len(self._logp) > self.pool:  # keep the most neutral frames only: memory is flat
                drop = int(np.argmin([x[NEUTRAL] for x in self._logp]))
                del self._logp[drop], self._app[drop]
        self._baseline = None  # recomputed when asked

    def _add(self, lp: np.ndarray, app) -> None:
        self._logp.append(lp)
        self._app.append(None if app is None else np.asarray(app, dtype=np.float64))

    @property
    def baseline(self) -> Baseline:
        if self._baseline is None:
            lp = np.asarray(self._logp).reshape(-1, 8) if self._logp else np.zeros((0, 8))
            idx = np.arange(len(lp))
            if self.calibration_s is None:  # the most neutral share of the frames seen so far
                k = min(len(lp), max(1, round(self.config.neutral_share * self._seen)))
                idx = np.sort(np.argsort(-lp[:, NEUTRAL], kind="stable")[:k])
            apps = [self._app[i] for i in idx]
            app = np.asarray(apps) if apps and all(a is not None for a in apps) else None
            mode = "running" if self.calibration_s is None else "calibration"
            self._baseline = baseline_from(lp[idx], self.config, app, frames=idx, source=mode)
            if self.calibration_s is not None and not self._frozen and self._baseline.ok:
                # Still calibrating: no relative scores until the S seconds are over.
                self._baseline.ok, self._baseline.reason = False, "calibrating"
        return self._baseline

    def relative(self, probs: np.ndarray, appearance=None) -> tuple[np.ndarray, bool]:
        """``(relative (8,), ok)`` of one frame against the baseline so far (raw when not ok)."""
        app = None if appearance is None else np.asarray(appearance)[None]
        rel, ok = relative_scores(np.asarray(probs)[None], self.baseline, self.config, app)
        return rel[0], bool(ok[0])

    @property
    def state(self) -> BaselineState:
        b = self.baseline
        mode = "running" if self.calibration_s is None else "calibration"
        return BaselineState(len(b.frames), self._seen, b.ok, b.reason, mode, b.logp)
