"""Drawing the synthetic faces: identities, action-unit-like parameters and per-frame rendering.

Part of the synthetic Aff-Wild2 generator (:mod:`vnaw.data.synth`, design §9): each class has a
prototype of brow, eye, mouth and nose parameters; a track's frames are drawn from its identity,
the clean labels and an intensity profile, plus slow and per-frame nuisance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

if TYPE_CHECKING:
    from vnaw.data.synth import SynthConfig

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
# Classes a resting face can lean towards: a stern (Anger), sad, sour (Disgust) or amused look.
RESTING_CLASSES = (1, 5, 2, 4)


@dataclass(frozen=True)
class Identity:
    shape_w: float
    shape_h: float
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    background: tuple[int, int, int]
    brow_width: float
    eye_gap: float
    rest: np.ndarray  # resting face parameters: small personal quirks, see also resting_class
    gain: float  # expressiveness
    resting_class: int = 0  # the class the resting face looks like (0: a neutral resting face)


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


def with_resting_faces(
    identities: list[Identity],
    people: list[int],
    strength: tuple[float, float],
    rng: np.random.Generator,
) -> list[Identity]:
    """``identities`` with an expressive resting face for each of ``people``: ``rest`` gains
    ``a · prototype[c]`` with ``c`` drawn from :data:`RESTING_CLASSES` and ``a ~ U(strength)``,
    so that such a person looks stern, sad, sour or amused in every frame, Neutral ones included.

    A per-frame classifier reads that look as the expression; only a per-person reference (the
    same face over time) tells the two apart.
    """
    out = list(identities)
    for i in people:
        c = int(rng.choice(RESTING_CLASSES))
        a = float(rng.uniform(*strength))
        ident = out[i]
        out[i] = replace(ident, rest=ident.rest + a * PROTOTYPES[c], resting_class=c)
    return out


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
