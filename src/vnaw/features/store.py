"""Per-frame feature extraction and the memory-mapped feature store — design §7.3, §7.1, eq. 6.

"Features" mode trains the temporal model on cached frame features ``E(x_p)`` (6) of a frozen image
encoder: ``vnaw extract`` runs the encoder once over every crop, and :class:`FeatureStore` serves
them memory-mapped to the clip datasets of :mod:`vnaw.data.datamodule`.

Store layout (one folder)::

    manifest.json          encoder (name, weights hash, input size, channels, normalisation,
                           feature size), erased-view settings, dtype, and frames per video
    <video>.json           per-video sidecar: frames, frames without a crop
    <video>.npy            (N, D) float16 features of frames 1..N (clean view)
    <video>.erased<k>.npy  (N, D) the same with in-frame erasing (design §7.1), k = 1..K

Rows of frames without a crop hold the nearest crop's features (design §3.1), so a clip is a plain
slice; the sidecar flags them. Every file is written to a hidden temporary name and renamed into
place (``os.replace`` is atomic), views and sidecar first, ``<video>.npy`` last: a video is finished
exactly when its ``.npy`` exists. A rerun skips finished videos, so extraction can be interrupted
at any moment; a store refuses features from a different encoder or erasing set-up. Several
processes split the videos by ``rank`` / ``world_size`` (video ``i`` of the sorted list goes to rank
``i mod world_size``) and only ever write their own videos' files; the manifest's per-video table
is merged under a file lock.

Erased views (design §7.1): one Ω per (video, view), drawn from a generator seeded by
``(seed, video name, view)``, applied to every frame of the video — so any clip cut from a view
has the same Ω in every frame, as eqs. 4–5 ask. Erasing zeroes pixels in [0, 1] before
normalisation (the image ``x`` of eq. 5).
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vnaw.augment.video import erase_mask
from vnaw.data.affwild2 import VideoRecord, nearest_crop_index
from vnaw.errors import StoreError
from vnaw.files import atomic_json, atomic_write, load_npy

STORE_FORMAT = 1
MANIFEST = "manifest.json"
# Manifest fields that must agree before features may share a store.
_IDENTITY_KEYS = ("format", "encoder", "erase", "dtype")


def view_seed(seed: int, video: str, view: int) -> int:
    """Seed of the erase mask Ω of one (video, view): stable across processes and runs."""
    return (seed * 1_000_003 + zlib.crc32(video.encode()) * 131 + view) % (2**63)


@dataclass(frozen=True)
class EraseSpec:
    """Erased views of the store (design §7.1); ``views = 0`` means none."""

    views: int = 0
    ratio: float = 0.2
    mode: str = "pixels"  # "pixels" (paper's Ω) or "rectangle"; both fixed per video
    seed: int = 0

    def mask(self, video: str, view: int, size: int) -> Tensor:
        # Deviation: the paper draws a fresh Ω per clip; a cached view fixes Ω per (video, view), so
        # clips only choose among K masks. Fresh masks would need an encoder pass per clip, which
        # features mode exists to avoid; every frame of a clip still shares one Ω (design §7.1).
        g = torch.Generator().manual_seed(view_seed(self.seed, video, view))
        return erase_mask(size, size, self.ratio, self.mode, g)[0]  # type: ignore[arg-type]

    def masks(self, video: str, size: int) -> Tensor:
        """``(K, S, S)`` bool: Ω of views 1..K of ``video``."""
        out = [self.mask(video, k, size) for k in range(1, self.views + 1)]
        return torch.stack(out) if out else torch.zeros(0, size, size, dtype=torch.bool)


def _atomic_npy(path: Path, arr: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, arr))


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive advisory lock on ``path`` (a POSIX record lock: it dies with its process, not
    with forked workers that outlive it); a no-op where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(f, fcntl.LOCK_UN)


def view_file(store: Path, video: str, view: int = 0) -> Path:
    """Array of ``view`` (0 = clean, k ≥ 1 = erased view k) of ``video``."""
    return store / (f"{video}.npy" if view == 0 else f"{video}.erased{view}.npy")


def store_header(meta: dict[str, Any], erase: EraseSpec) -> dict[str, Any]:
    return {
        "format": STORE_FORMAT,
        "encoder": meta,
        "erase": {
            "views": erase.views,
            "ratio": erase.ratio,
            "mode": erase.mode,
            "seed": erase.seed,
        },
        "dtype": "float16",
    }


def _identity(manifest: dict[str, Any]) -> dict[str, Any]:
    ident = {k: manifest.get(k) for k in _IDENTITY_KEYS}
    ident["encoder"] = {k: v for k, v in (ident["encoder"] or {}).items() if k != "weights"}
    return ident  # the weights' path may move; their hash may not


def open_or_create(store: Path, header: dict[str, Any]) -> None:
    """Create the store's manifest, or check that an existing store was made the same way."""
    store.mkdir(parents=True, exist_ok=True)
    with _locked(store / ".manifest.lock"):
        path = store / MANIFEST
        if path.exists():
            old = json.loads(path.read_text())
            if _identity(old) != _identity(header):
                a, b = old.get("encoder", {}), header["encoder"]
                raise StoreError(
                    f"{store} holds features of encoder {a.get('name')!r} (weights "
                    f"{a.get('weights_hash')}, input {a.get('input_size')}, erased views "
                    f"{old.get('erase', {}).get('views')}); refusing to add features of "
                    f"{b['name']!r} (weights {b['weights_hash']}, input {b['input_size']}, "
                    f"erased views {header['erase']['views']}). Use another --out."
                )
            return
        if any(store.glob("*.npy")):
            raise StoreError(f"{store} holds .npy files but no {MANIFEST}: not a feature store")
        atomic_json(path, {**header, "videos": {}})


def merge_manifest(store: Path) -> dict[str, Any]:
    """Refresh the manifest's per-video table from the finished videos' sidecars (locked)."""
    with _locked(store / ".manifest.lock"):
        manifest = json.loads((store / MANIFEST).read_text())
        videos = {}
        for side in sorted(store.glob("*.json")):
            if side.name == MANIFEST or not view_file(store, side.stem).exists():
                continue
            info = json.loads(side.read_text())
            videos[side.stem] = {"frames": info["frames"], "crops": info["crops"]}
        manifest["videos"] = videos
        atomic_json(store / MANIFEST, manifest)
    return manifest


def is_done(store: Path, video: str) -> bool:
    return view_file(store, video).exists()


def shard(records: Sequence[VideoRecord], rank: int, world_size: int) -> list[VideoRecord]:
    """This rank's videos: the ``i``-th of the name-sorted list goes to rank ``i mod W``."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
    ordered = sorted(records, key=lambda r: r.name)
    return [r for i, r in enumerate(ordered) if i % world_size == rank]


def commit_video(store: Path, rec: VideoRecord, crop_feats: np.ndarray) -> None:
    """Write one video: erased views, sidecar, then the clean array (its existence = done)."""
    # Row k of the crop-only buffer is the k-th frame with a crop; frames without one take the
    # nearest crop's row (design §3.1).
    row_of_frame = np.cumsum(rec.has_crop) - 1
    rows = row_of_frame[nearest_crop_index(rec.has_crop)]  # (N,)
    for k in range(1, crop_feats.shape[0]):
        _atomic_npy(view_file(store, rec.name, k), np.ascontiguousarray(crop_feats[k][rows]))
    side = {
        "frames": rec.num_frames,
        "crops": int(rec.has_crop.sum()),
        "missing": np.flatnonzero(~rec.has_crop).tolist(),  # 0-based frames without a crop
    }
    atomic_json(store / f"{rec.name}.json", side)
    _atomic_npy(view_file(store, rec.name, 0), np.ascontiguousarray(crop_feats[0][rows]))


class FeatureStore:
    """Read side of a store: memory-mapped per-video arrays and the manifest."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise StoreError(f"{self.path} is not a feature store (no {MANIFEST})")
        self.manifest = json.loads(mpath.read_text())
        self.encoder: dict[str, Any] = self.manifest["encoder"]
        self.feature_size = int(self.encoder["feature_size"])
        self.erased_views = int(self.manifest["erase"]["views"])
        self._open: dict[tuple[str, int], np.ndarray] = {}  # memory maps, opened lazily

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers get the store without its maps (a pickled memmap is a full copy).
        return {**self.__dict__, "_open": {}}

    def videos(self) -> list[str]:
        """Finished videos (the ``.npy`` is the commit marker, not the manifest table)."""
        return sorted(
            p.stem
            for p in self.path.glob("*.json")
            if p.name != MANIFEST and is_done(self.path, p.stem)
        )

    def features(self, video: str, view: int = 0) -> np.ndarray:
        """``(N, D)`` float16, memory-mapped (read-only)."""
        if not 0 <= view <= self.erased_views:
            raise StoreError(f"view {view} outside 0..{self.erased_views} in {self.path}")
        key = (video, view)
        if key not in self._open:
            path = view_file(self.path, video, view)
            self._open[key] = load_npy(path, mmap_mode="r", error=StoreError)
        return self._open[key]

    def has_crop(self, video: str) -> np.ndarray:
        info = json.loads((self.path / f"{video}.json").read_text())
        mask = np.ones(info["frames"], dtype=bool)
        mask[info["missing"]] = False
        return mask


def check_store(store: FeatureStore, records: Sequence[VideoRecord]) -> None:
    """Raise :class:`StoreError` unless ``store`` holds every video of ``records`` at full length."""
    missing = [r.name for r in records if not is_done(store.path, r.name)]
    if missing:
        raise StoreError(
            f"{store.path} lacks features of {len(missing)} videos, e.g. {missing[:3]}; "
            "run vnaw extract"
        )
    for r in records:
        n = store.features(r.name).shape[0]
        if n != r.num_frames:
            raise StoreError(
                f"{store.path}: {r.name} has {n} frames of features, annotation {r.num_frames}"
            )
