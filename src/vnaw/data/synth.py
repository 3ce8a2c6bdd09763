"""Synthetic Aff-Wild2: procedurally drawn face videos in the exact EXPR layout — design §9, §3.1.

Aff-Wild2 cannot be shipped, so the whole pipeline is exercised (and the temporal model and NAW
can show, or fail to show, their effect) on this stand-in. What it reproduces:

* **Layout**: ``Train_Set/`` and ``Validation_Set/`` annotation files with the real header,
  ``cropped_aligned/<name>/<k:05d>.jpg`` crops, optionally raw ``batch1/<video>.mp4`` videos, and
  one two-person source video annotated as ``<video>_left`` / ``<video>_right``.
* **Faces**: many identities (face shape, skin tone, hair, background, brow thickness, resting
  expression, expressiveness) — a nuisance: validation shows people never seen in training.
  Brows, eyes, mouth and nose move with a per-frame vector of action-unit-like parameters,
  ``rest + intensity(t) · gain · prototype[class] + slow AR(1) drift + per-frame wobble``; each of
  the 8 classes has its own prototype, so at low intensity (onset/offset) single frames are
  ambiguous. Slow nuisance (pose and lighting drift, a lingering occluder) and per-frame nuisance
  drawn independently for each frame (parameter wobble, position jitter, lighting flicker, blur,
  passing occluders, pixel noise): single frames mislead, an episode as a whole does not.
* **Dynamics**: expression episodes with onset, apex and offset; frame frequencies per split match
  Aff-Wild2's training distribution (design §3.1); every class occurs in every split at least
  ``min_episodes`` times (rare classes take frames from the frequent ones in small splits).
* **Annotation artefacts**: runs of −1 frames, runs of frames without a crop (label kept), and
  label noise — a fraction ``noise`` of episodes gets a wrong, preferably confusable, class, and
  every episode boundary is jittered. The clean labels are written to ``clean/Train_Set/`` and
  ``clean/Validation_Set/`` (same −1 frames), and ``synth.json`` records every episode.

Everything derives from ``seed`` (one child seed per track), so a run is reproducible exactly.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from vnaw.data.affwild2 import CROPS_DIR, write_annotation
from vnaw.labels import CLASSES, IGNORE_INDEX, NUM_CLASSES

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

# Face parameters ("action units"), each roughly in [-1, 1].
AUS = (
    "brow_raise",  # both brows up (+) / down (−)
    "brow_inner",  # inner brow ends up (+, sad/fear) / down (−, anger)
    "eye_open",  # wide (+) / narrowed (−)
    "mouth_open",  # jaw drop
    "mouth_curve",  # smile (+) / frown (−)
    "mouth_width",  # stretched (+) / pressed (−)
    "nose_wrinkle",
    "asym",  # one-sided smirk (contempt-like "Other")
    "upper_lip",  # upper lip raise (disgust)
)
# Apex appearance of each class, rows in class order, columns in AUS order.
PROTOTYPES = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # Neutral
        [-0.9, -1.0, -0.4, 0.0, -0.4, -0.7, 0.3, 0.0, 0.0],  # Anger
        [-0.4, -0.3, -0.5, 0.15, -0.6, 0.0, 1.0, 0.2, 0.8],  # Disgust
        [0.4, 1.0, 0.6, 0.15, -0.4, 1.0, 0.0, 0.0, 0.5],  # Fear
        [0.1, 0.0, -0.4, 0.25, 1.0, 0.8, 0.2, 0.0, 0.2],  # Happiness
        [-0.1, 0.9, -0.5, 0.0, -0.9, -0.2, 0.0, 0.0, 0.0],  # Sadness
        [1.0, 0.3, 1.0, 0.9, 0.0, -0.4, 0.0, 0.0, 0.0],  # Surprise
        [0.0, 0.0, -0.3, 0.1, 0.2, 0.1, 0.0, 1.0, 0.0],  # Other
    ]
)
# Typical episode lengths in frames (min, max) for expressive classes and for Neutral/Other.
_EPISODE_LEN = {"short": (20, 70), "long": (30, 110)}
# Frames set aside per guaranteed episode of a class when a split is too small for its share.
_MIN_EPISODE_FRAMES = 30


@dataclass
class SynthConfig:
    """Generator settings; defaults make a data set small enough for quick CPU training."""

    seed: int = 0
    videos: int = 24  # annotated face tracks; 2 of them are the _left/_right of one video
    frames: int = 300  # mean frames per track (each track draws 0.7–1.3×)
    size: int = 64  # crop side in pixels
    noise: float = 0.2  # fraction of episodes labelled with a wrong class
    boundary_jitter: int = 6  # episode boundaries move by up to this many frames in the labels
    min_episodes: int = 4  # episodes of every class per split (if the split has room for them)
    identities: int = 24  # people; validation people are disjoint from training people
    val_fraction: float = 0.25  # share of source videos in Validation_Set (Aff-Wild2: ~22 %)
    intensity_jitter: float = 0.05  # std of the slow AR(1) wobble of every face parameter
    frame_jitter: float = 0.3  # std of the per-frame (independent) wobble of every face parameter
    image_noise: float = 14.0  # std of the Gaussian pixel noise (0..255 scale), per frame
    flicker: float = 0.08  # std of the per-frame lighting flicker (relative)
    blur_rate: float = 0.3  # share of frames with defocus/motion blur, drawn per frame
    unlabelled_rate: float = 0.03  # share of frames in −1 runs
    missing_rate: float = 0.03  # share of frames without a crop (face "not detected")
    occlusion_rate: float = 0.12  # share of frames with an occluder over part of the face
    with_videos: bool = False  # also write raw .mp4 videos under batch1/
    fps: int = 25
    jpeg_quality: int = 90


@dataclass(frozen=True)
class Identity:
    shape_w: float
    shape_h: float
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    background: tuple[int, int, int]
    brow_width: float
    eye_gap: float
    rest: np.ndarray  # resting face parameters (some people look sad or amused at rest)
    gain: float  # expressiveness


@dataclass(frozen=True)
class Track:
    name: str
    source: str
    split: str
    identity: int
    side: str  # "", "left" or "right"
    start: int  # offset of the track in its split's episode stream
    length: int


def make_identities(n: int, rng: np.random.Generator) -> list[Identity]:
    """``n`` distinct-looking people."""
    out = []
    for _ in range(n):
        tone = rng.uniform(0.45, 1.0)
        skin = tuple(int(c) for c in np.array([235, 190, 160]) * tone + rng.uniform(-12, 12, 3))
        hair = tuple(int(c) for c in rng.uniform(10, 120) * np.array([1.0, 0.8, 0.6]))
        bg = tuple(int(c) for c in rng.uniform(40, 210, 3))
        out.append(
            Identity(
                shape_w=rng.uniform(0.9, 1.1),
                shape_h=rng.uniform(0.95, 1.05),
                skin=skin,  # type: ignore[arg-type]
                hair=hair,  # type: ignore[arg-type]
                background=bg,  # type: ignore[arg-type]
                brow_width=rng.uniform(0.7, 1.4),
                eye_gap=rng.uniform(0.92, 1.08),
                rest=rng.normal(0.0, 0.1, len(AUS)),
                gain=rng.uniform(0.85, 1.15),
            )
        )
    return out


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


def ar1(n: int, dims: int, std: float, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) noise ``(n, dims)`` with marginal std ``std``: smooth in time."""
    out = np.empty((n, dims))
    x = rng.normal(0, std, dims)
    innov = rng.normal(0, std * np.sqrt(1 - rho * rho), (n, dims))
    for i in range(n):
        x = rho * x + innov[i]
        out[i] = x
    return out


def runs_mask(n: int, rate: float, mean_len: int, rng: np.random.Generator) -> np.ndarray:
    """Bool ``(n,)`` covering about ``rate · n`` frames with runs of about ``mean_len`` frames."""
    mask = np.zeros(n, dtype=bool)
    if rate <= 0 or n == 0:
        return mask
    for _ in range(rng.poisson(rate * n / mean_len)):
        length = int(rng.integers(max(mean_len // 3, 1), 2 * mean_len))
        a = int(rng.integers(0, n))
        mask[a : a + length] = True
    return mask


def _pt(x: float, y: float) -> tuple[float, float]:
    return (float(x), float(y))


def draw_face(
    ident: Identity,
    au: np.ndarray,
    size: int,
    center: tuple[float, float],
    scale: float,
    light: float,
    shade: float,
    occluder: tuple[float, float, float, tuple[int, int, int]] | None,
    blur: float = 0.0,
) -> Image.Image:
    """Draw one face crop at 2× resolution and downsample (anti-aliasing for free).

    The expression lives in high-contrast parts that look alike on every face (dark brows, eye
    whites, a dark open mouth with teeth, dark lip line), placed relative to the head, so that
    what signals a class transfers from one person to another.
    """
    s = 2 * size
    img = Image.new("RGB", (s, s), ident.background)
    d = ImageDraw.Draw(img)
    brow_raise, brow_inner, eye_open, mouth_open, curve, width, wrinkle, asym, lip = au
    cx, cy = center[0] * s, center[1] * s
    w = 0.36 * s * scale * ident.shape_w  # half-axes of the head ellipse
    h = 0.45 * s * scale * ident.shape_h
    d.ellipse([cx - w * 1.02, cy - h * 1.05, cx + w * 1.02, cy + h * 0.2], fill=ident.hair)
    d.ellipse([cx - w, cy - h * 0.9, cx + w, cy + h], fill=ident.skin)
    line = tuple(int(c * 0.35) for c in ident.skin)
    brow_c = tuple(min(int(a), int(b * 0.3)) for a, b in zip(ident.hair, ident.skin, strict=True))
    eye_y = cy - 0.12 * h
    for sgn in (-1, 1):  # −1: left of the image, +1: right
        ex = cx + sgn * 0.38 * w * ident.eye_gap
        ew = 0.21 * w
        eh = max(0.1 * h * (1 + 1.0 * eye_open), 0.012 * h)
        d.ellipse([ex - ew, eye_y - eh, ex + ew, eye_y + eh], fill=(245, 245, 245))
        pr = min(0.09 * w, eh)
        d.ellipse([ex - pr, eye_y - pr, ex + pr, eye_y + pr], fill=(30, 25, 20))
        by = eye_y - 0.19 * h - 0.2 * h * brow_raise
        inner_y = by - 0.14 * h * brow_inner
        outer_y = by + 0.04 * h * brow_inner
        d.line(
            [_pt(ex - sgn * 0.24 * w, inner_y), _pt(ex + sgn * 0.28 * w, outer_y)],
            fill=brow_c,
            width=max(int(0.06 * h * ident.brow_width), 2),
        )
    ny = cy + 0.2 * h
    d.line(
        [_pt(cx, eye_y + 0.05 * h), _pt(cx - 0.06 * w, ny), _pt(cx + 0.04 * w, ny)],
        fill=line,
        width=2,
    )
    if wrinkle > 0.15:
        for k in range(3):
            yy = eye_y + (0.04 + 0.06 * k) * h
            d.line(
                [_pt(cx - 0.16 * w * wrinkle, yy), _pt(cx + 0.16 * w * wrinkle, yy)],
                fill=line,
                width=3,
            )
    my = cy + 0.5 * h
    half = 0.32 * w * (1 + 0.45 * width)
    lift = 0.26 * h * curve  # corners up for a smile
    left = _pt(cx - half, my - lift - 0.22 * h * asym)
    right = _pt(cx + half, my - lift)
    top = my - 0.08 * h * lip - 0.03 * h * mouth_open
    bottom = my + 0.06 * h * curve + 0.3 * h * max(mouth_open, 0.0)
    lip_c = tuple(int(0.5 * c) for c in (150, 50, 55))
    if mouth_open > 0.2 or lip > 0.3:
        d.polygon([left, _pt(cx, top), right, _pt(cx, bottom)], fill=(40, 10, 15), outline=lip_c)
        if curve > 0.25 or lip > 0.3:  # teeth show in a smile or a raised upper lip
            tw = 0.55 * half
            d.rectangle(
                [cx - tw, top + 0.01 * h, cx + tw, top + 0.01 * h + 0.07 * h], fill=(235, 235, 225)
            )
    else:
        d.line([left, _pt(cx, bottom), right], fill=lip_c, width=max(int(0.06 * h), 3))
    if occluder is not None:  # a "hand" or object over part of the face
        ox, oy, r, col = occluder
        d.ellipse([(ox - r) * s, (oy - r) * s, (ox + r) * s, (oy + r) * s], fill=col)
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(float(2 * blur)))
    img = img.resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32)
    ramp = np.linspace(1 - shade, 1 + shade, size, dtype=np.float32)[None, :, None]
    return Image.fromarray(np.clip(arr * light * ramp, 0, 255).astype(np.uint8))


def render_track(
    ident: Identity,
    clean: np.ndarray,
    profile: np.ndarray,
    cfg: SynthConfig,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Per-frame uint8 ``(S, S, 3)`` images of one track, given clean labels and intensities.

    Two kinds of nuisance: slow ones (AR(1) drift of pose, lighting and of the face parameters;
    an occluder that stays for a while) that smoothing over time cannot remove, and per-frame
    ones drawn independently for every frame (face-parameter wobble, position jitter, lighting
    flicker, blur, a passing occluder, pixel noise) that make single frames ambiguous while the
    expression stays consistent over its episode.
    """
    n = clean.shape[0]
    au = ident.rest + ident.gain * profile[:, None] * PROTOTYPES[clean]
    # Some "Other" is a blend with a random class: Aff-Wild2's Other is a grab bag.
    blend = PROTOTYPES[rng.integers(1, 7)] * 0.3
    au = au + np.where((clean == 7)[:, None], profile[:, None] * blend, 0.0)
    au = au + ar1(n, len(AUS), cfg.intensity_jitter, 0.85, rng)
    au = au + rng.normal(0.0, cfg.frame_jitter, au.shape)
    pos = 0.5 + ar1(n, 2, 0.012, 0.97, rng) + rng.normal(0.0, 0.012, (n, 2))
    scale = 1.0 + ar1(n, 1, 0.025, 0.97, rng)[:, 0] + rng.normal(0.0, 0.02, n)
    light = 1.0 + ar1(n, 1, 0.12, 0.99, rng)[:, 0] + rng.normal(0.0, cfg.flicker, n)
    light = np.clip(light, 0.55, 1.45)
    shade = np.clip(ar1(n, 1, 0.15, 0.99, rng)[:, 0] + rng.normal(0.0, 0.05, n), -0.4, 0.4)
    blur = np.where(rng.random(n) < cfg.blur_rate, rng.uniform(0.4, 1.2, n), 0.0) * cfg.size / 64
    # Occluders: half of them stay for a while (a hand at the chin), half pass in single frames.
    occ_mask = runs_mask(n, cfg.occlusion_rate / 2, 20, rng)
    occ_slow = (rng.uniform(0.3, 0.7), rng.uniform(0.45, 0.8), rng.uniform(0.12, 0.22))
    occ_col = tuple(int(c) for c in rng.uniform(60, 230, 3))
    flash = rng.random(n) < cfg.occlusion_rate / 2
    frames = []
    for i in range(n):
        occ = None
        if occ_mask[i]:
            occ = (*occ_slow, occ_col)
        elif flash[i]:
            col = tuple(int(c) for c in rng.uniform(30, 240, 3))
            occ = (rng.uniform(0.2, 0.8), rng.uniform(0.25, 0.85), rng.uniform(0.1, 0.2), col)
        img = draw_face(
            ident,
            au[i],
            cfg.size,
            (pos[i, 0], pos[i, 1]),
            scale[i],
            light[i],
            shade[i],
            occ,  # type: ignore[arg-type]
            blur[i],
        )
        arr = np.asarray(img, dtype=np.float32)
        arr = arr + rng.normal(0.0, cfg.image_noise, arr.shape).astype(np.float32)
        frames.append(np.clip(arr, 0, 255).astype(np.uint8))
    return frames


def plan_tracks(cfg: SynthConfig, rng: np.random.Generator) -> list[Track]:
    """Track names, splits, identities and lengths; tracks 0 and 1 are one two-person video.

    As in Aff-Wild2, validation shows other people than training (when there are at least two
    identities): the identities are split in proportion to the tracks, and each split's tracks
    go round its people in a shuffled order, so every person appears about equally often.
    """
    if cfg.videos < 3:
        raise ValueError(
            f"need at least 3 tracks (one two-person video + one per split), got {cfg.videos}"
        )
    pair = [("synth000", "left"), ("synth000", "right")]
    singles = [(f"synth{i:03d}", "") for i in range(1, cfg.videos - 1)]
    sources = ["synth000"] + [s for s, _ in singles]
    n_val = min(max(round(cfg.val_fraction * len(sources)), 1), len(sources) - 1)
    # The two-person video stays in training; validation sources are drawn from the rest.
    val = set(rng.choice(sources[1:], size=n_val, replace=False).tolist())
    splits = ["Validation_Set" if src in val else "Train_Set" for src, _ in pair + singles]
    people = rng.permutation(cfg.identities).tolist()
    if cfg.identities >= 2:
        share = splits.count("Validation_Set") / len(splits)
        n_val_people = min(max(round(share * cfg.identities), 1), cfg.identities - 1)
        pools = {"Validation_Set": people[:n_val_people], "Train_Set": people[n_val_people:]}
    else:
        pools = {"Validation_Set": people, "Train_Set": people}
    tracks, offset = [], {"Train_Set": 0, "Validation_Set": 0}
    used = {"Train_Set": 0, "Validation_Set": 0}
    for (src, side), split in zip(pair + singles, splits, strict=True):
        length = round(cfg.frames * rng.uniform(0.7, 1.3))
        pool = pools[split]
        ident = int(pool[used[split] % len(pool)])
        used[split] += 1
        name = f"{src}_{side}" if side else src
        tracks.append(Track(name, src, split, ident, side, offset[split], length))
        offset[split] += length
    if tracks[0].identity == tracks[1].identity:  # two different people in the two-person video
        t = tracks[1]
        tracks[1] = Track(
            t.name, t.source, t.split, (t.identity + 1) % cfg.identities, t.side, t.start, t.length
        )
    return tracks


def _save_jpeg(arr: np.ndarray, path: Path, quality: int) -> None:
    Image.fromarray(arr).save(path, quality=quality)


def write_video(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """Encode RGB frames to ``path`` with PyAV (H.264 if available, else MPEG-4 part 2)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    with av.open(str(tmp), mode="w") as container:
        try:
            stream = container.add_stream("libx264", rate=fps)
        except Exception:  # ffmpeg build without x264
            stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)


def _compose_raw(
    faces: list[list[np.ndarray]], size: int, bg: tuple[int, int, int]
) -> list[np.ndarray]:
    """Raw video frames: the face crops side by side on a wider canvas (``_left`` on the left)."""
    n = min(len(f) for f in faces)
    h, w = 2 * size, 2 * size * len(faces)
    out = []
    for i in range(n):
        canvas = np.empty((h, w, 3), dtype=np.uint8)
        canvas[:] = bg
        for j, f in enumerate(faces):
            y, x = size // 2, j * 2 * size + size // 2
            canvas[y : y + size, x : x + size] = f[i]
        out.append(canvas)
    return out


def generate(out: Path, cfg: SynthConfig | None = None, *, progress: bool = False) -> dict:
    """Write a synthetic data set to ``out`` and return a summary (also in ``out/synth.json``)."""
    from tqdm import tqdm

    cfg = cfg or SynthConfig()
    out = Path(out)
    root_ss = np.random.SeedSequence(cfg.seed)
    plan_ss, ident_ss, stream_ss, track_ss = root_ss.spawn(4)
    identities = make_identities(cfg.identities, np.random.default_rng(ident_ss))
    tracks = plan_tracks(cfg, np.random.default_rng(plan_ss))

    # One episode stream per split, cut into its tracks (episodes at track borders are cut).
    streams: dict[str, dict[str, np.ndarray]] = {}
    episodes_out: dict[str, list[dict]] = {}
    split_rngs = dict(zip(("Train_Set", "Validation_Set"), stream_ss.spawn(2), strict=True))
    for split, ss in split_rngs.items():
        rng = np.random.default_rng(ss)
        total = sum(t.length for t in tracks if t.split == split)
        eps = episode_stream(total, rng, cfg.min_episodes)
        noisy_cls, noisy_len = noisy_episodes(eps, cfg.noise, cfg.boundary_jitter, rng)
        clean = expand([c for c, _ in eps], [n for _, n in eps])
        profile = np.concatenate([intensity_profile(n, rng) for _, n in eps])
        profile[clean == 0] = 0.0  # Neutral: only the resting face and the jitter
        streams[split] = {"clean": clean, "noisy": expand(noisy_cls, noisy_len), "profile": profile}
        starts = np.concatenate([[0], np.cumsum([n for _, n in eps])[:-1]])
        episodes_out[split] = [
            {"start": int(a), "length": n, "class": c, "label": nc}
            for (c, n), a, nc in zip(eps, starts, noisy_cls, strict=True)
        ]

    summary_tracks = []
    raw_faces: dict[str, list[list[np.ndarray]]] = {}
    n_crops = 0
    bar = tqdm(total=sum(t.length for t in tracks), unit="frame", disable=not progress)
    for t, ss in zip(tracks, track_ss.spawn(len(tracks)), strict=True):
        rng = np.random.default_rng(ss)
        st = streams[t.split]
        sl = slice(t.start, t.start + t.length)
        clean, noisy, profile = st["clean"][sl], st["noisy"][sl].copy(), st["profile"][sl]
        unlabelled = runs_mask(t.length, cfg.unlabelled_rate, 15, rng)
        missing = runs_mask(t.length, cfg.missing_rate, 8, rng)
        missing[0] = False  # every track keeps at least one crop
        clean_out = np.where(unlabelled, IGNORE_INDEX, clean)
        noisy = np.where(unlabelled, IGNORE_INDEX, noisy)
        frames = render_track(identities[t.identity], clean, profile, cfg, rng)
        crop_dir = out / CROPS_DIR / t.name
        crop_dir.mkdir(parents=True, exist_ok=True)
        for k, f in enumerate(frames):
            if not missing[k]:
                _save_jpeg(f, crop_dir / f"{k + 1:05d}.jpg", cfg.jpeg_quality)
        n_crops += int((~missing).sum())
        write_annotation(out / t.split / f"{t.name}.txt", noisy)
        write_annotation(out / "clean" / t.split / f"{t.name}.txt", clean_out)
        if cfg.with_videos:
            raw_faces.setdefault(t.source, []).append(frames)
        summary_tracks.append(
            {
                **asdict(t),
                "crops": int((~missing).sum()),
                "valid": int((noisy != IGNORE_INDEX).sum()),
                "wrong": int(((noisy != clean_out) & (noisy != IGNORE_INDEX)).sum()),
            }
        )
        bar.update(t.length)
    bar.close()
    for src, faces in raw_faces.items():
        bg = identities[next(t.identity for t in tracks if t.source == src)].background
        write_video(out / "batch1" / f"{src}.mp4", _compose_raw(faces, cfg.size, bg), cfg.fps)

    frames_total = sum(t.length for t in tracks)
    summary = {
        "config": asdict(cfg),
        "classes": list(CLASSES),
        "tracks": len(tracks),
        "frames": frames_total,
        "crops": n_crops,
        "track_list": summary_tracks,
        "episodes": episodes_out,
    }
    tmp = out / f".synth.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    os.replace(tmp, out / "synth.json")
    return summary


def load_clean_labels(root: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Clean per-frame labels of a synthetic data set, keyed by track name."""
    from vnaw.data.affwild2 import parse_annotation

    root = Path(root) / "clean"
    return {p.stem: parse_annotation(p) for p in sorted(root.glob("*_Set/*.txt"))}
