"""``vnaw extract``: the frozen image encoder over every crop of a data set, into a feature store.

Features mode (:mod:`vnaw.features.store`) trains the temporal model on these cached frame features
``E(x_p)``, Eq. (6). Crops are decoded and preprocessed in DataLoader workers
(:func:`vnaw.models.preprocess.load_crop`, the same function ``vnaw predict`` and the image
classifier use), the encoder runs on batches, and each video is committed to the store as soon as
its last frame is encoded, so an interrupted extraction resumes where it stopped.
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
from vnaw.features.store import (
    EraseSpec,
    commit_video,
    is_done,
    merge_manifest,
    open_or_create,
    shard,
    store_header,
)
from vnaw.models.encoder import Encoder, EncoderMeta
from vnaw.models.preprocess import load_crop, normalize, to_input


def to_views(x: Tensor, masks: Tensor, meta: EncoderMeta) -> Tensor:
    """uint8 ``(B, C, S, S)`` + erase masks ``(B, K, S, S)`` → normalised ``(B, 1+K, C, S, S)``.

    View 0 is the clean frame; view k zeroes the pixels of Ω_k (all channels) before normalising.
    """
    x = to_input(x, meta, normalized=False)[:, None]  # (B, 1, C, S, S) in [0, 1]
    erased = x.masked_fill(masks[:, :, None], 0.0)  # x ⊙ 𝟙_Ω, Eq. (5); (B, K, C, S, S)
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
) -> list[str]:
    """Extract features of this rank's unfinished videos into ``store``; returns their names.

    ``after_video(name)`` is called after each video is committed (a test hook: raising there
    simulates an interruption).
    """
    from tqdm import tqdm

    store = Path(store)
    erase = erase or EraseSpec()
    meta = encoder.meta
    open_or_create(store, store_header(encoder.identity(), erase))
    todo = [r for r in shard(records, rank, world_size) if not is_done(store, r.name)]
    for r in todo:  # leftovers of a killed run of this rank: only this rank writes these names
        for stale in store.glob(f".{r.name}.*tmp-*"):
            stale.unlink(missing_ok=True)
    items = [(r.name, r.crop_path(int(k))) for r in todo for k in np.flatnonzero(r.has_crop)]
    device = torch.device(device)
    trunk = encoder.trunk.to(device).eval()
    size = meta.input_size
    loader = DataLoader(
        _Frames(items, size, meta.channels),
        batch_size=batch_size,
        shuffle=False,  # frames arrive video by video, so each video is committed as it ends
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    d, views = meta.feature_size, 1 + erase.views
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
        x = to_views(x.to(device, non_blocking=True), omega, meta)
        x = x.flatten(0, 1)  # (B, 1+K, C, S, S) -> (B·(1+K), C, S, S)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            f = trunk(x)  # E(x), Eq. (6)
        f = f.float().view(b, views, d).transpose(0, 1).cpu().numpy().astype(np.float16)
        pos = 0
        while pos < b:
            assert current is not None
            take = min(b - pos, buf.shape[1] - filled)
            buf[:, filled : filled + take] = f[:, pos : pos + take]
            filled += take
            pos += take
            if filled == buf.shape[1]:
                commit_video(store, current, buf)
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
