"""``vnaw extract``: the frozen image encoder over every crop of a data set, into a feature store.

Features mode (:mod:`vnaw.features.store`) trains the temporal model on these cached frame features
``E(x_p)``, eq. 6. Crops are decoded and preprocessed in DataLoader workers
(:func:`vnaw.models.preprocess.load_crop`, the same function ``vnaw predict`` and the image
classifier use), the encoder runs on batches, and each video is committed to the store as soon as
its last frame is encoded, so an interrupted extraction resumes where it stopped.

Before any work, every crop of the videos still to do is checked (:mod:`vnaw.data.check`): a bad
one stops the command naming the file, or with ``skip_bad`` its video is left out and reported.
One process per (store, rank) writes at a time (:func:`vnaw.files.output_lock`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from vnaw.data.affwild2 import VideoRecord
from vnaw.data.check import checked_records
from vnaw.features.store import (
    MANIFEST,
    EraseSpec,
    commit_video,
    is_done,
    merge_manifest,
    open_or_create,
    shard,
    store_header,
)
from vnaw.files import output_lock
from vnaw.models.encoder import EncoderMeta
from vnaw.models.frame_encoder import Encoder
from vnaw.models.preprocess import load_crop, normalize, to_input
from vnaw.shards import lock_name, take_shard


def to_views(x: Tensor, masks: Tensor, meta: EncoderMeta) -> Tensor:
    """uint8 ``(B, C, S, S)`` + erase masks ``(B, K, S, S)`` → normalised ``(B, 1+K, C, S, S)``.

    View 0 is the clean frame; view k zeroes the pixels of Ω_k (all channels) before normalising.
    """
    x = to_input(x, meta, normalized=False)[:, None]  # (B, 1, C, S, S) in [0, 1]
    erased = x.masked_fill(masks[:, :, None], 0.0)  # x ⊙ 𝟙_Ω as in eq. 5; (B, K, C, S, S)
    views = torch.cat([x, erased], dim=1)  # (B, 1+K, C, S, S)
    return normalize(views.flatten(0, 1), meta.mean, meta.std).view_as(views)


class _Frames(Dataset):
    """Crops to extract → ``(uint8 (C, S, S), item index)``."""

    def __init__(self, items: list[tuple[str, Path]], size: int, channels: int):
        self.items, self.size, self.channels = items, size, channels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return torch.from_numpy(load_crop(self.items[i][1], self.size, self.channels)), i


@torch.no_grad()
def extract(
    records: Sequence[VideoRecord],
    store: str | os.PathLike[str],
    encoder: Encoder,
    *,
    erase: EraseSpec | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    after_video: Callable[[str], None] | None = None,
    skip_bad: bool = False,
    job_shard: tuple[int, int] | None = None,
) -> list[str]:
    """Extract features of this rank's unfinished videos into ``store``; returns their names.

    ``job_shard=(K, N)``: first only the K-th of N shares of ``records`` (by video name,
    :mod:`vnaw.shards`: one job of a scheduler's array), then this rank's part of it.

    ``after_video(name)`` is called after each video is committed (a test hook: raising there
    simulates an interruption). ``skip_bad``: leave out videos with a bad crop instead of stopping.
    """
    store, erase = Path(store), erase or EraseSpec()
    records = take_shard(records, job_shard, lambda r: r.name)
    with output_lock(store, f"{lock_name('extract', job_shard)}-rank{rank}"):
        header = store_header(encoder.identity(), erase)
        if (store / MANIFEST).exists():  # another encoder's store: refused before crops are read
            open_or_create(store, header)
        todo = [r for r in shard(records, rank, world_size) if not is_done(store, r.name)]
        todo = checked_records(todo, skip_bad=skip_bad)
        open_or_create(store, header)  # a new store is made once its crops are checked
        for r in todo:  # leftovers of a killed run of this rank: only this rank writes these names
            for stale in store.glob(f".{r.name}.*tmp-*"):
                stale.unlink(missing_ok=True)
        loader = _loader(todo, encoder.meta, batch_size, num_workers, torch.device(device))
        done = _encode(
            todo, loader, store, encoder, erase, torch.device(device), after_video, progress, rank
        )
        merge_manifest(store)
        return done


def _loader(
    todo: list[VideoRecord],
    meta: EncoderMeta,
    batch_size: int,
    num_workers: int,
    device: torch.device,
) -> DataLoader:
    """Batches of crops of the videos to do, in video then frame order."""
    items = [(r.name, r.crop_path(int(k))) for r in todo for k in np.flatnonzero(r.has_crop)]
    return DataLoader(
        _Frames(items, meta.input_size, meta.channels),
        batch_size=batch_size,
        shuffle=False,  # frames arrive video by video, so each video is committed as it ends
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )


def _encode(
    todo: list[VideoRecord],
    loader: DataLoader,
    store: Path,
    encoder: Encoder,
    erase: EraseSpec,
    device: torch.device,
    after_video: Callable[[str], None] | None,
    progress: bool,
    rank: int,
) -> list[str]:
    """Encode the loader's crops; commit each video to ``store`` as it ends; their names."""
    from tqdm import tqdm

    meta = encoder.meta
    trunk = encoder.trunk.to(device).eval()
    # Ω of every (video, view), (V, K, S, S), and each item's video.
    masks = torch.stack([erase.masks(r.name, meta.input_size) for r in todo]) if todo else None
    item_video = torch.tensor([v for v, r in enumerate(todo) for _ in range(int(r.has_crop.sum()))])
    videos = _VideoBuffer(store, todo, 1 + erase.views, meta.feature_size, after_video)
    bar = tqdm(
        total=len(loader.dataset), unit="frame", disable=not progress, desc=f"extract[{rank}]"
    )
    for x, idx in loader:
        assert masks is not None
        omega = masks[item_video[idx]].to(device)  # (B, K, S, S)
        views = to_views(x.to(device, non_blocking=True), omega, meta)  # (B, 1+K, C, S, S)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            f = trunk(views.flatten(0, 1))  # E(x) of eq. 6, as VideoModel.encode
        videos.add(f.float().view(*views.shape[:2], -1).transpose(0, 1).cpu().numpy())
        bar.update(len(idx))
    bar.close()
    return videos.done


class _VideoBuffer:
    """Features ``(1+K, n, D)`` arrive in frame order across videos; each video is committed to
    the store as soon as its last frame with a crop is in."""

    def __init__(
        self,
        store: Path,
        todo: Sequence[VideoRecord],
        views: int,
        dim: int,
        after_video: Callable[[str], None] | None,
    ) -> None:
        self.store, self.views, self.dim, self.after_video = store, views, dim, after_video
        self.pending = iter(todo)
        self.done: list[str] = []
        self._next()

    def _next(self) -> None:
        self.current = next(self.pending, None)
        self.filled = 0
        if self.current is not None:
            n = int(self.current.has_crop.sum())
            self.buf = np.empty((self.views, n, self.dim), dtype=np.float16)

    def add(self, feats: np.ndarray) -> None:
        pos = 0
        while pos < feats.shape[1]:
            assert self.current is not None
            take = min(feats.shape[1] - pos, self.buf.shape[1] - self.filled)
            self.buf[:, self.filled : self.filled + take] = feats[:, pos : pos + take]
            self.filled += take
            pos += take
            if self.filled == self.buf.shape[1]:
                commit_video(self.store, self.current, self.buf)
                self.done.append(self.current.name)
                if self.after_video is not None:
                    self.after_video(self.current.name)
                self._next()
