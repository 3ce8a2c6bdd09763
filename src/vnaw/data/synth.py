"""Synthetic Aff-Wild2: procedurally drawn face videos in the exact EXPR layout — design §9, §3.1.

Aff-Wild2 cannot be shipped, so the whole pipeline is exercised (and the temporal model and NAW
can show, or fail to show, their effect) on this stand-in. What it reproduces:

* **Layout**: ``Train_Set/`` and ``Validation_Set/`` annotation files with the real header,
  ``cropped_aligned/<name>/<k:05d>.jpg`` crops, optionally raw ``batch1/<video>.mp4`` videos, and
  one two-person source video annotated as ``<video>_left`` / ``<video>_right``.
* **Faces**: many identities (face shape, skin tone, hair, background, brow thickness, resting
  expression, expressiveness) — a nuisance: validation shows people never seen in training. In
  each split a share of the people (``resting_share``) has an expressive resting face: they look
  stern, sad, sour or amused at rest, Neutral frames included, so a per-frame classifier is biased
  per person (a person-relative reference is needed to read them, design §6.1).
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

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vnaw.data.affwild2 import CROPS_DIR, write_annotation
from vnaw.data.synth_episodes import (
    episode_stream,
    expand,
    intensity_profile,
    noisy_episodes,
)
from vnaw.data.synth_faces import make_identities, render_track, runs_mask, with_resting_faces
from vnaw.files import atomic_json, tmp_name
from vnaw.labels import CLASSES, IGNORE_INDEX


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
    resting_share: float = 0.25  # share of each split's people with an expressive resting face
    resting_strength: float = 0.5  # its intensity (apex of an episode: 0.7–1.0), ±20 % per person
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
class Track:
    name: str
    source: str
    split: str
    identity: int
    side: str  # "", "left" or "right"
    start: int  # offset of the track in its split's episode stream
    length: int


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


def resting_people(tracks: list[Track], share: float, rng: np.random.Generator) -> list[int]:
    """The people given an expressive resting face: ``round(share · n)`` of the ``n`` people seen
    in each split (at least one where ``share > 0``), so validation always shows some."""
    chosen: list[int] = []
    for split in ("Train_Set", "Validation_Set"):
        people = sorted({t.identity for t in tracks if t.split == split} - set(chosen))
        k = min(max(round(share * len(people)), 1), len(people)) if share > 0 else 0
        chosen.extend(int(i) for i in rng.choice(people, size=k, replace=False))
    return chosen


def _save_jpeg(arr: np.ndarray, path: Path, quality: int) -> None:
    Image.fromarray(arr).save(path, quality=quality)


def write_video(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """Encode RGB frames to ``path`` with PyAV (H.264 if available, else MPEG-4 part 2)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path, path.suffix)
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
    # A fifth child for the resting faces: the first four (and so everything else) stay as they
    # were before resting faces existed.
    plan_ss, ident_ss, stream_ss, track_ss, rest_ss = root_ss.spawn(5)
    identities = make_identities(cfg.identities, np.random.default_rng(ident_ss))
    tracks = plan_tracks(cfg, np.random.default_rng(plan_ss))
    rest_rng = np.random.default_rng(rest_ss)
    resting = resting_people(tracks, cfg.resting_share, rest_rng)
    a = cfg.resting_strength
    identities = with_resting_faces(identities, resting, (0.8 * a, 1.2 * a), rest_rng)
    streams, episodes_out = _split_streams(cfg, tracks, stream_ss)
    summary_tracks = []
    raw_faces: dict[str, list[list[np.ndarray]]] = {}
    bar = tqdm(total=sum(t.length for t in tracks), unit="frame", disable=not progress)
    for t, ss in zip(tracks, track_ss.spawn(len(tracks)), strict=True):
        frames, info = _write_track(out, t, streams[t.split], identities, cfg, ss)
        if cfg.with_videos:
            raw_faces.setdefault(t.source, []).append(frames)
        summary_tracks.append(info)
        bar.update(t.length)
    bar.close()
    for src, faces in raw_faces.items():
        bg = identities[next(t.identity for t in tracks if t.source == src)].background
        write_video(out / "batch1" / f"{src}.mp4", _compose_raw(faces, cfg.size, bg), cfg.fps)
    summary = {
        "config": asdict(cfg),
        "classes": list(CLASSES),
        "tracks": len(tracks),
        "frames": sum(t.length for t in tracks),
        "crops": sum(t["crops"] for t in summary_tracks),
        "resting_faces": {str(i): CLASSES[identities[i].resting_class] for i in sorted(resting)},
        "track_list": summary_tracks,
        "episodes": episodes_out,
    }
    atomic_json(out / "synth.json", summary)
    return summary


def _split_streams(
    cfg: SynthConfig, tracks: list[Track], stream_ss: np.random.SeedSequence
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, list[dict]]]:
    """One episode stream per split (clean and noisy labels, intensity), cut into its tracks
    later (episodes at track borders are cut); and the episodes, for ``synth.json``."""
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
    return streams, episodes_out


def _write_track(
    out: Path,
    t: Track,
    stream: dict[str, np.ndarray],
    identities: list,
    cfg: SynthConfig,
    ss: np.random.SeedSequence,
) -> tuple[list[np.ndarray], dict]:
    """Crops, noisy and clean annotation of one track; returns its frames and its summary."""
    rng = np.random.default_rng(ss)
    sl = slice(t.start, t.start + t.length)
    clean, noisy, profile = stream["clean"][sl], stream["noisy"][sl].copy(), stream["profile"][sl]
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
    write_annotation(out / t.split / f"{t.name}.txt", noisy)
    write_annotation(out / "clean" / t.split / f"{t.name}.txt", clean_out)
    return frames, {
        **asdict(t),
        "resting_face": CLASSES[identities[t.identity].resting_class],
        "crops": int((~missing).sum()),
        "valid": int((noisy != IGNORE_INDEX).sum()),
        "wrong": int(((noisy != clean_out) & (noisy != IGNORE_INDEX)).sum()),
    }


def load_clean_labels(root: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Clean per-frame labels of a synthetic data set, keyed by track name."""
    from vnaw.data.affwild2 import parse_annotation

    root = Path(root) / "clean"
    return {p.stem: parse_annotation(p) for p in sorted(root.glob("*_Set/*.txt"))}
