"""Per-frame feature extraction and the memory-mapped feature store — SPEC §7.3, §7.1, eq. (6).

"Features" mode trains the temporal model on cached frame features ``E(x_p)`` (6) of a frozen image
encoder: ``vnaw extract`` runs the encoder once over every crop, and :class:`FeatureStore` serves
them memory-mapped to the clip datasets of :mod:`vnaw.datamodule`.

Store layout (one folder)::

    manifest.json          encoder (name, weights hash, input size, channels, normalisation,
                           feature size), erased-view settings, dtype, and frames per video
    <video>.json           per-video sidecar: frames, frames without a crop
    <video>.npy            (N, D) float16 features of frames 1..N (clean view)
    <video>.erased<k>.npy  (N, D) the same with in-frame erasing (SPEC §7.1), k = 1..K

Rows of frames without a crop hold the nearest crop's features (SPEC §3.1), so a clip is a plain
slice; the sidecar flags them. Every file is written to a hidden temporary name and renamed into
place (``os.replace`` is atomic), views and sidecar first, ``<video>.npy`` last: a video is finished
exactly when its ``.npy`` exists. A rerun skips finished videos, so extraction can be interrupted
at any moment; a store refuses features from a different encoder or erasing set-up. Several
processes split the videos by ``rank`` / ``world_size`` (video ``i`` of the sorted list goes to rank
``i mod world_size``) and only ever write their own videos' files; the manifest's per-video table
is merged under a file lock.

Erased views (SPEC §7.1): one Ω per (video, view), drawn from a generator seeded by
``(seed, video name, view)``, applied to every frame of the video — so any clip cut from a view
has the same Ω in every frame, as eq. (4)–(5) ask. Erasing zeroes pixels in [0, 1] before
normalisation (the image ``x`` of eq. (5)).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from vnaw.augment import erase_mask
from vnaw.data.affwild2 import VideoRecord, nearest_crop_index

STORE_FORMAT = 1
MANIFEST = "manifest.json"
# Manifest fields that must agree before features may share a store.
_IDENTITY_KEYS = ("format", "encoder", "erase", "dtype")


class StoreError(ValueError):
    """A feature store that cannot be used as asked (mixed encoders, missing videos, …)."""


# -- encoder glue ------------------------------------------------------------------------------


def file_hash(path: str | os.PathLike[str]) -> str:
    """First 16 hex digits of the SHA-256 of a file: identifies weights in the manifest."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _is_encoder_file(name_or_file: str) -> bool:
    p = Path(name_or_file)
    return p.suffix in (".json", ".safetensors") or p.with_suffix(".json").is_file()


def _load_state_dict(path: Path) -> dict[str, Tensor]:
    """Weights from safetensors, or a torch file read with ``weights_only=True`` (no pickles)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state


def load_encoder(
    name_or_file: str | None = "default",
    weights: str | os.PathLike[str] | None = None,
    random_init: bool = False,
    *,
    input_size: int | None = None,
    channels: int = 3,
    seed: int = 0,
) -> tuple[nn.Module, dict[str, Any]]:
    """Image encoder for extraction: ``(module, meta)``; ``module(x)`` gives ``(B, D)`` features.

    ``name_or_file`` is ``"default"`` (the package's shipped encoder), an encoder file (the
    ``.safetensors`` + ``.json`` pair of :mod:`vnaw.encoder`, either file or their stem), or a timm
    model name, which needs ``weights`` (safetensors, or a torch state dict) unless ``random_init``
    is given explicitly. ``meta`` holds ``name``, ``weights``, ``weights_hash``, ``input_size``,
    ``channels``, ``mean``, ``std`` and ``feature_size``.
    """
    name = "default" if name_or_file is None else str(name_or_file)
    if name == "default" or _is_encoder_file(name):
        from vnaw import encoder as enc  # issue-4 encoder files; import only when needed

        trunk, m = enc.load_encoder(name)
        if name == "default":
            wpath = enc.default_encoder_path().with_suffix(".safetensors")
        else:
            wpath = enc.encoder_paths(name)[0]
        meta = {
            "name": f"{m.backbone}:{Path(name).stem}"
            if name != "default"
            else f"default:{m.backbone}",
            "weights": str(wpath),
            "weights_hash": file_hash(wpath),
            "input_size": int(m.input_size),
            "channels": int(m.channels),
            "mean": [float(v) for v in m.mean],
            "std": [float(v) for v in m.std],
            "feature_size": int(m.feature_size),
        }
        return trunk.eval(), meta

    import timm

    if weights is None and not random_init:
        raise ValueError(
            f"encoder {name!r} has no weights: pass a weights file, or ask for random "
            "initialisation explicitly (--random-init)"
        )
    torch.manual_seed(seed)  # a random-init encoder is then the same in every process
    model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=channels)
    if weights is not None:
        state = _load_state_dict(Path(weights))
        own = model.state_dict()
        state = {k: v for k, v in state.items() if k in own}  # drop a classifier head
        missing = sorted(set(own) - set(state))
        if missing:
            raise ValueError(
                f"{weights}: weights lack {len(missing)} tensors of {name}, e.g. {missing[:3]}"
            )
        model.load_state_dict(state)
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    size = input_size or int(cfg.get("input_size", (3, 224, 224))[-1])
    mean = list(cfg.get("mean", (0.485, 0.456, 0.406)))[:channels]
    std = list(cfg.get("std", (0.229, 0.224, 0.225)))[:channels]
    if channels == 1 and len(mean) != 1:
        mean, std = [float(np.mean(mean))], [float(np.mean(std))]
    meta = {
        "name": name,
        "weights": None if weights is None else str(weights),
        "weights_hash": file_hash(weights) if weights is not None else f"random-init-seed{seed}",
        "input_size": int(size),
        "channels": int(channels),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "feature_size": int(model.num_features),
    }
    return model.eval(), meta


# -- frame loading -----------------------------------------------------------------------------


def read_frame(path: Path, size: int, channels: int) -> Tensor:
    """One crop → uint8 ``(C, S, S)``: decoded, converted (grey "L" or RGB) and resized with PIL.

    Only C code runs per frame (no torch kernels): under DataLoader workers, or in the main process
    on a small CPU, per-frame torch ops contend with the encoder's threads; scaling, erasing and
    normalising happen once per batch instead (:func:`to_views`).
    """
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("L" if channels == 1 else "RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)  # antialiased when shrinking
        arr = np.asarray(img)
    # (H, W[, C]) -> (C, H, W), made contiguous in numpy: a strided copy in torch would wake its
    # thread pool for every frame, and collating strided uint8 tensors is very slow.
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.array(arr, order="C"))  # a writable, contiguous copy


def load_frame(path: Path, size: int, channels: int) -> Tensor:
    """One crop → float ``(C, S, S)`` in [0, 1], exactly as extraction feeds it."""
    return read_frame(path, size, channels).float().div_(255.0)


def to_views(x: Tensor, masks: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """uint8 ``(B, C, S, S)`` + erase masks ``(B, K, S, S)`` → normalised ``(B, 1+K, C, S, S)``.

    View 0 is the clean frame; view k zeroes the pixels of Ω_k (all channels) before normalising.
    """
    x = x.float().div_(255.0)[:, None]  # (B, 1, C, S, S)
    erased = x.masked_fill(masks[:, :, None], 0.0)  # x ⊙ 𝟙_Ω, Eq. (5); (B, K, C, S, S)
    views = torch.cat([x, erased], dim=1)
    return (views - mean.view(1, 1, -1, 1, 1)) / std.view(1, 1, -1, 1, 1)


def view_seed(seed: int, video: str, view: int) -> int:
    """Seed of the erase mask Ω of one (video, view): stable across processes and runs."""
    return (seed * 1_000_003 + zlib.crc32(video.encode()) * 131 + view) % (2**63)


@dataclass(frozen=True)
class EraseSpec:
    """Erased views of the store (SPEC §7.1); ``views = 0`` means none."""

    views: int = 0
    ratio: float = 0.2
    mode: str = "pixels"  # "pixels" (paper's Ω) or "rectangle"; both fixed per video
    seed: int = 0

    def mask(self, video: str, view: int, size: int) -> Tensor:
        g = torch.Generator().manual_seed(view_seed(self.seed, video, view))
        return erase_mask(size, size, self.ratio, self.mode, g)[0]  # type: ignore[arg-type]

    def masks(self, video: str, size: int) -> Tensor:
        """``(K, S, S)`` bool: Ω of views 1..K of ``video``."""
        out = [self.mask(video, k, size) for k in range(1, self.views + 1)]
        return torch.stack(out) if out else torch.zeros(0, size, size, dtype=torch.bool)


class _Frames(Dataset):
    """Crops to extract → ``(uint8 (C, S, S), item index)``."""

    def __init__(self, items: list[tuple[str, Path]], size: int, channels: int):
        self.items, self.size, self.channels = items, size, channels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return read_frame(self.items[i][1], self.size, self.channels), i


# -- store -------------------------------------------------------------------------------------


def _atomic_write_bytes(path: Path, write: Callable[[Any], None]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_json(path: Path, obj: Any) -> None:
    _atomic_write_bytes(path, lambda f: f.write((json.dumps(obj, indent=1) + "\n").encode()))


def _atomic_npy(path: Path, arr: np.ndarray) -> None:
    _atomic_write_bytes(path, lambda f: np.save(f, arr))


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive advisory lock on ``path`` (POSIX); a no-op where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def view_file(store: Path, video: str, view: int = 0) -> Path:
    """Array of ``view`` (0 = clean, k ≥ 1 = erased view k) of ``video``."""
    return store / (f"{video}.npy" if view == 0 else f"{video}.erased{view}.npy")


def _header(meta: dict[str, Any], erase: EraseSpec) -> dict[str, Any]:
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
        _atomic_json(path, {**header, "videos": {}})


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
        _atomic_json(store / MANIFEST, manifest)
    return manifest


def is_done(store: Path, video: str) -> bool:
    return view_file(store, video).exists()


def shard(records: Sequence[VideoRecord], rank: int, world_size: int) -> list[VideoRecord]:
    """This rank's videos: the ``i``-th of the name-sorted list goes to rank ``i mod W``."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
    ordered = sorted(records, key=lambda r: r.name)
    return [r for i, r in enumerate(ordered) if i % world_size == rank]


@torch.no_grad()
def extract(
    records: Sequence[VideoRecord],
    store: str | os.PathLike[str],
    encoder: nn.Module,
    meta: dict[str, Any],
    *,
    erase: EraseSpec | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    after_video: Callable[[str], None] | None = None,
) -> list[str]:
    """Extract features of this rank's unfinished videos into ``store``; returns their names.

    ``after_video(name)`` is called after each video is committed (a test hook: raising there
    simulates an interruption).
    """
    from tqdm import tqdm

    store = Path(store)
    erase = erase or EraseSpec()
    open_or_create(store, _header(meta, erase))
    todo = [r for r in shard(records, rank, world_size) if not is_done(store, r.name)]
    for r in todo:  # leftovers of a killed run of this rank: only this rank writes these names
        for stale in store.glob(f".{r.name}.*tmp-*"):
            stale.unlink(missing_ok=True)
    items = [(r.name, r.crop_path(int(k))) for r in todo for k in np.flatnonzero(r.has_crop)]
    device = torch.device(device)
    encoder = encoder.to(device).eval()
    size = meta["input_size"]
    loader = DataLoader(
        _Frames(items, size, meta["channels"]),
        batch_size=batch_size,
        shuffle=False,  # frames arrive video by video, so each video is committed as it ends
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    d, views = meta["feature_size"], 1 + erase.views
    mean = torch.tensor(meta["mean"], device=device)
    std = torch.tensor(meta["std"], device=device)
    # Ω of every (video, view), (V, K, S, S), and each item's video.
    masks = torch.stack([erase.masks(r.name, size) for r in todo]) if todo else None
    item_video = torch.tensor([v for v, r in enumerate(todo) for _ in range(int(r.has_crop.sum()))])
    video_iter = iter(todo)
    current = next(video_iter, None)
    buf = np.empty((0, 0, d), dtype=np.float16)
    filled = 0
    done: list[str] = []
    bar = tqdm(total=len(items), unit="frame", disable=not progress, desc=f"extract[{rank}]")

    def start(rec: VideoRecord) -> np.ndarray:
        return np.empty((views, int(rec.has_crop.sum()), d), dtype=np.float16)

    if current is not None:
        buf = start(current)
    for x, idx in loader:
        b = x.shape[0]
        assert masks is not None
        omega = masks[item_video[idx]].to(device)  # (B, K, S, S)
        x = to_views(x.to(device, non_blocking=True), omega, mean, std)
        x = x.flatten(0, 1)  # (B, 1+K, C, S, S) -> (B·(1+K), C, S, S)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            f = encoder(x)  # E(x), Eq. (6)
        f = f.float().view(b, views, d).transpose(0, 1).cpu().numpy().astype(np.float16)
        pos = 0
        while pos < b:
            assert current is not None
            take = min(b - pos, buf.shape[1] - filled)
            buf[:, filled : filled + take] = f[:, pos : pos + take]
            filled += take
            pos += take
            if filled == buf.shape[1]:
                _commit(store, current, buf)
                done.append(current.name)
                if after_video is not None:
                    after_video(current.name)
                current, filled = next(video_iter, None), 0
                if current is not None:
                    buf = start(current)
        bar.update(b)
    bar.close()
    merge_manifest(store)
    return done


def _commit(store: Path, rec: VideoRecord, crop_feats: np.ndarray) -> None:
    """Write one video: erased views, sidecar, then the clean array (its existence = done)."""
    # Row k of the crop-only buffer is the k-th frame with a crop; frames without one take the
    # nearest crop's row (SPEC §3.1).
    row_of_frame = np.cumsum(rec.has_crop) - 1
    rows = row_of_frame[nearest_crop_index(rec.has_crop)]  # (N,)
    for k in range(1, crop_feats.shape[0]):
        _atomic_npy(view_file(store, rec.name, k), np.ascontiguousarray(crop_feats[k][rows]))
    side = {
        "frames": rec.num_frames,
        "crops": int(rec.has_crop.sum()),
        "missing": np.flatnonzero(~rec.has_crop).tolist(),  # 0-based frames without a crop
    }
    _atomic_json(store / f"{rec.name}.json", side)
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
            self._open[key] = np.load(view_file(self.path, video, view), mmap_mode="r")
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


# -- command line ------------------------------------------------------------------------------


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _cmd_extract(args: argparse.Namespace) -> int:
    from vnaw.data.affwild2 import DataError

    try:
        return _run_extract(args)
    except (DataError, StoreError) as err:  # a user error: the message says what to fix
        print(f"vnaw extract: error: {err}", file=sys.stderr)
        return 2


def _run_extract(args: argparse.Namespace) -> int:
    from vnaw.data.affwild2 import index_dataset

    rank = args.rank if args.rank is not None else _env_int("RANK", 0)
    world = args.world_size if args.world_size is not None else _env_int("WORLD_SIZE", 1)
    device = args.device
    if device == "auto":
        local = _env_int("LOCAL_RANK", 0)
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    records = index_dataset(args.data, skip_bad=args.skip_bad)
    encoder, meta = load_encoder(
        args.encoder,
        args.weights,
        args.random_init,
        input_size=args.input_size,
        channels=args.channels,
        seed=args.seed,
    )
    erase = EraseSpec(args.erased_views, args.erase_ratio, args.erase_mode, args.seed)
    done = extract(
        records,
        args.out,
        encoder,
        meta,
        erase=erase,
        batch_size=args.batch_size,
        num_workers=args.workers,
        device=device,
        rank=rank,
        world_size=world,
        progress=not args.quiet,
    )
    mine = len(shard(records, rank, world))
    print(
        f"rank {rank}/{world}: extracted {len(done)} videos, {mine - len(done)} already done; "
        f"encoder {meta['name']} ({meta['feature_size']}-d, weights {meta['weights_hash']}) -> {args.out}"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``vnaw extract``."""
    p = subparsers.add_parser(
        "extract", help="cache per-frame encoder features of an Aff-Wild2-layout data set"
    )
    p.add_argument("--data", required=True, help="Aff-Wild2 EXPR root")
    p.add_argument("--out", required=True, help="feature store folder (created; reruns resume)")
    p.add_argument(
        "--encoder",
        default="default",
        help="'default' (shipped encoder), an encoder file (.safetensors/.json pair), or a timm name",
    )
    p.add_argument(
        "--weights", help="weights for a timm name (.safetensors, or a torch state dict)"
    )
    p.add_argument(
        "--random-init", action="store_true", help="allow a timm encoder without weights"
    )
    p.add_argument(
        "--input-size", type=int, help="input side for a timm name (default: its config)"
    )
    p.add_argument(
        "--channels", type=int, default=3, choices=(1, 3), help="input channels for a timm name"
    )
    p.add_argument(
        "--erased-views", type=int, default=0, help="K erased versions per video (SPEC §7.1)"
    )
    p.add_argument("--erase-ratio", type=float, default=0.2)
    p.add_argument("--erase-mode", choices=("pixels", "rectangle"), default="pixels")
    p.add_argument(
        "--seed", type=int, default=0, help="seeds the erase masks (and a random-init encoder)"
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers"
    )
    p.add_argument(
        "--device", default="auto", help="'auto' (cuda:LOCAL_RANK if available), 'cpu', 'cuda:0', …"
    )
    p.add_argument("--rank", type=int, help="this process's share (default: env RANK or 0)")
    p.add_argument(
        "--world-size", type=int, help="number of processes (default: env WORLD_SIZE or 1)"
    )
    p.add_argument("--skip-bad", action="store_true", help="warn about and skip bad videos")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_extract)
