"""Labels over time for the synthetic data set: expression episodes, label noise, intensity.

Part of the synthetic Aff-Wild2 generator (:mod:`vnaw.data.synth`, design §9): one stream of
episodes (class, length) per split with Aff-Wild2's class frequencies, a noisy copy with wrong
(preferably confusable) classes and jittered boundaries, and an onset-apex-offset intensity per
episode.
"""

from __future__ import annotations

import numpy as np

from vnaw.labels import NUM_CLASSES

# Frame frequencies of Aff-Wild2's EXPR training set (design §3.1), in class order. The published
# shares sum to 98.2 % (rounding); normalised so that they describe every valid frame.
AFFWILD2_FREQ = np.array([0.30, 0.028, 0.018, 0.016, 0.16, 0.13, 0.05, 0.28])
AFFWILD2_FREQ = AFFWILD2_FREQ / AFFWILD2_FREQ.sum()

# Wrong labels prefer a look-alike class (annotators confuse these pairs most).
CONFUSABLE: dict[int, tuple[int, ...]] = {
    0: (7, 5),  # Neutral ↔ Other, Sadness
    1: (2, 5),  # Anger ↔ Disgust, Sadness
    2: (1, 7),  # Disgust ↔ Anger, Other
    3: (6, 5),  # Fear ↔ Surprise, Sadness
    4: (7, 0),  # Happiness ↔ Other, Neutral
    5: (0, 3),  # Sadness ↔ Neutral, Fear
    6: (3, 4),  # Surprise ↔ Fear, Happiness
    7: (0, 4),  # Other ↔ Neutral, Happiness
}

_EPISODE_LEN = {"short": (20, 70), "long": (30, 110)}
# Frames set aside per guaranteed episode of a class when a split is too small for its share.
_MIN_EPISODE_FRAMES = 30


def episode_stream(
    total: int, rng: np.random.Generator, min_episodes: int = 1
) -> list[tuple[int, int]]:
    """``(class, length)`` episodes whose class shares of ``total`` frames follow Aff-Wild2's.

    Each class gets ``freq · total`` frames, cut into episodes of plausible lengths; the episodes
    are then shuffled. A class whose share is too small for ``min_episodes`` episodes gets
    ``min_episodes · 30`` frames instead (taken from the frequent classes), so that small splits
    still hold every class several times: a per-class F1 needs more than one episode to mean
    anything. If even that does not fit, every class still gets one short episode. The stream
    holds at least ``total`` frames (exactly ``total`` unless the split is tiny).
    """
    share = AFFWILD2_FREQ * total
    need = np.full(NUM_CLASSES, float(max(min_episodes, 1) * _MIN_EPISODE_FRAMES))
    if need.sum() > 0.6 * total:  # tiny split: one short episode per class
        need = np.full(NUM_CLASSES, 12.0)
    budget = np.maximum(share, need)
    rich = share > need
    if rich.any() and budget.sum() > total:  # the frequent classes pay for the rare ones
        spare = max(total - need[~rich].sum(), need[rich].sum())
        budget[rich] = need[rich] + (share[rich] - need[rich]) * (
            (spare - need[rich].sum()) / (share[rich] - need[rich]).sum()
        )
    episodes = []
    for c in range(NUM_CLASSES):
        lo, hi = _EPISODE_LEN["long" if c in (0, 7) else "short"]
        left = max(round(float(budget[c])), 1)
        lengths = []
        while left > 0:
            n = int(rng.integers(lo, hi + 1))
            n = left if left - n < lo else n  # no stub episodes
            lengths.append(n)
            left -= n
        k = min(min_episodes, sum(lengths) // 12)
        if len(lengths) < k:  # too few: cut the class's frames into k episodes of ≥ 12 frames
            left = sum(lengths)
            lengths = 12 + rng.multinomial(left - 12 * k, rng.dirichlet(np.full(k, 4.0)))
        episodes.extend((c, int(n)) for n in lengths)
    order = rng.permutation(len(episodes))
    stream = [episodes[i] for i in order]
    short = total - sum(n for _, n in stream)
    if short > 0:  # rounding left the stream short: end it on Neutral (the tail is cut anyway)
        stream.append((0, short))
    return stream


def noisy_episodes(
    episodes: list[tuple[int, int]], noise: float, jitter: int, rng: np.random.Generator
) -> tuple[list[int], list[int]]:
    """Annotator-style labels: wrong classes for a ``noise`` share of episodes, jittered bounds.

    A wrong class is a look-alike (:data:`CONFUSABLE`) 3 times in 4, else any other class, drawn in
    proportion to the class frequencies.

    Returns the noisy class per episode and the noisy episode lengths (same total).
    """
    classes = []
    first = {c: i for i, (c, _) in reversed(list(enumerate(episodes)))}
    for i, (c, _) in enumerate(episodes):
        # The first episode of each class keeps its label, so every class stays in every split.
        if rng.random() < noise and first[c] != i:
            others = [k for k in range(NUM_CLASSES) if k != c]
            pool = np.array(CONFUSABLE[c] if rng.random() < 0.75 else others)
            # Wrong classes ∝ their frequency: noise should not inflate the rare classes.
            p = AFFWILD2_FREQ[pool] / AFFWILD2_FREQ[pool].sum()
            c = int(rng.choice(pool, p=p))
        classes.append(c)
    ends = np.cumsum([n for _, n in episodes])
    starts = np.concatenate([[0], ends[:-1]])
    moved = ends.copy()
    for i in range(len(ends) - 1):  # the last end is the stream end: fixed
        lo = max(starts[i] + 1, moved[i - 1] + 1 if i else 1)
        hi = ends[i + 1] - 1
        moved[i] = int(np.clip(ends[i] + rng.integers(-jitter, jitter + 1), lo, hi))
    lengths = np.diff(np.concatenate([[0], moved])).tolist()
    return classes, [int(n) for n in lengths]


def expand(classes: list[int], lengths: list[int]) -> np.ndarray:
    """Per-frame labels from episode classes and lengths."""
    return np.repeat(np.asarray(classes, dtype=np.int64), lengths)


def intensity_profile(length: int, rng: np.random.Generator) -> np.ndarray:
    """Onset (smooth ramp up), apex (plateau with a slight wobble) and offset (ramp down)."""
    apex = rng.uniform(0.7, 1.0)
    on = max(int(length * rng.uniform(0.15, 0.35)), 1)
    off = max(int(length * rng.uniform(0.15, 0.35)), 1)
    t = np.arange(length, dtype=np.float64)
    up = np.clip((t + 1) / on, 0, 1)
    down = np.clip((length - t) / off, 0, 1)
    ramp = np.minimum(up, down)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: slow start, slow end
    return apex * ramp * (1 + 0.08 * np.sin(t / rng.uniform(3, 9)))
