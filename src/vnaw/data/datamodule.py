"""Clips for the temporal model (design §7): training clips at random starts, validation windows.

Every random choice (clip start, erased view) is a pure function of ``(seed, epoch, index)``, so the
data of an epoch does not depend on what ran before it: a run resumed from a checkpoint sees exactly
the clips the uninterrupted run would have seen, and DDP processes (each given a disjoint share of
indices by Lightning's sampler) never need to agree on a random state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from vnaw.config import RunConfig, usable_cores
from vnaw.data.affwild2 import VideoRecord, clean_records, index_dataset, records_by_name
from vnaw.data.clips import Clip, clip_at, eval_windows, random_start
from vnaw.data.splits import Split, hold_out, load_splits, official_split
from vnaw.errors import ConfigError, DataError

# Frame source: (record, clip, view) -> (P, ...) float tensor of features or images for the slots.
FrameSource = Callable[[VideoRecord, Clip, int], torch.Tensor]


def mix_seed(*keys: int) -> int:
    """One 63-bit seed from several integers (seed, epoch, index, rank …), order-sensitive."""
    seed = 0
    for k in keys:
        seed = (seed * 1_000_003 + int(k) + 1) % (2**63 - 1)
    return seed


def _generator(*keys: int) -> torch.Generator:
    return torch.Generator().manual_seed(mix_seed(*keys))


def _clip_item(clip: Clip, frames: torch.Tensor, key: str) -> dict[str, torch.Tensor]:
    return {
        key: frames,
        "labels": torch.from_numpy(clip.labels),
        "present": torch.from_numpy(clip.present),
    }


class TrainClips(Dataset):
    """Training clips of ``P`` frames: clip ``i`` of epoch ``e`` picks a video with probability
    proportional to its length (so every frame is equally likely to be seen, however long its video)
    and a uniform start, from a generator seeded by ``(seed, e, i)``. ``clips_per_epoch`` defaults
    to ``Σ ⌈N/P⌉``, about one pass over the frames."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        source: FrameSource,
        clip_length: int,
        clips_per_epoch: int | None = None,
        *,
        key: str = "features",
        erased_views: int = 0,
        seed: int = 0,
        drop_missing: bool = False,
    ) -> None:
        self.records = [r for r in records if r.has_crop.any()]
        if not self.records:
            raise DataError("the training videos", "not one has a face crop")
        self.source, self.key, self.clip_length = source, key, clip_length
        self.erased_views, self.seed, self.drop_missing = erased_views, seed, drop_missing
        self.epoch = 0
        self._nearest = [r.nearest_crop() for r in self.records]
        lengths = np.array([r.num_frames for r in self.records], dtype=np.float64)
        self._video_p = torch.from_numpy(lengths / lengths.sum())
        self.clips_per_epoch = clips_per_epoch or int(np.ceil(lengths / clip_length).sum())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.clips_per_epoch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        gen = _generator(self.seed, self.epoch, index)
        v = int(torch.multinomial(self._video_p, 1, generator=gen))
        rec = self.records[v]
        start = random_start(rec.num_frames, self.clip_length, gen)
        clip = clip_at(
            rec, start, self.clip_length, drop_missing=self.drop_missing, nearest=self._nearest[v]
        )
        # With erasing on, one of the store's erased views 1..K for the whole clip (same Ω in
        # every frame, Eq. 4–5); otherwise the clean view 0.
        k = self.erased_views
        view = int(torch.randint(1, k + 1, (1,), generator=gen)) if k else 0
        return _clip_item(clip, self.source(rec, clip, view), self.key)


class EvalClips(Dataset):
    """Windows of ``P`` frames with stride ``P`` (the last flush with the video's end) over every
    video; ``score`` marks each frame in exactly one window, so pooled metrics count it once.

    Frames without a crop are hidden from the model (``present`` False); their score still counts
    with the label of the frame, as at test time they take the nearest frame's prediction — that
    fill happens in :func:`vnaw.evaluation.windows.predict_video`; here they are simply not scored.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        source: FrameSource,
        clip_length: int,
        *,
        key: str = "features",
    ) -> None:
        self.records = [r for r in records if r.has_crop.any()]
        self.source, self.key, self.clip_length = source, key, clip_length
        self.items: list[tuple[int, int, int]] = []  # (video, start, first frame to score)
        for v, rec in enumerate(self.records):
            covered = 0
            for a, b in eval_windows(rec.num_frames, clip_length, clip_length):
                self.items.append((v, a, covered))
                covered = b

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        v, start, first = self.items[index]
        rec = self.records[v]
        clip = clip_at(rec, start, self.clip_length, drop_missing=True)
        item = _clip_item(clip, self.source(rec, clip, 0), self.key)
        item["score"] = torch.from_numpy(clip.present & (clip.frames >= first))
        return item


@dataclass
class SplitRecords:
    train: list[VideoRecord]
    val: list[VideoRecord]


def split_records(cfg: RunConfig) -> SplitRecords:
    """Training and checkpoint-selection records of the configured split (design §3.3).

    Selection uses the split's test videos, or, with ``data.val_from_train``, a seeded fraction
    of its training videos (whole source videos), so that the reported split is never looked at.
    Training labels come from ``clean/`` if asked (synthetic data).
    """
    if cfg.data.root is None:
        raise ConfigError("data.root is not set: point it at an Aff-Wild2 release root")
    d = cfg.data
    records = index_dataset(d.root, annotations=d.annotations, skip_bad=d.skip_bad)
    split = _pick_split(cfg, records)
    by_name = records_by_name(records)
    train_by_name = by_name
    if cfg.data.clean_labels:
        clean = clean_records(cfg.data.root)
        if clean is None:
            raise DataError(cfg.data.root, "data.clean_labels is set but there is no clean/ folder")
        train_by_name = clean
    train, val = list(split.train), list(split.test)
    if d.val_from_train > 0:
        train, val = hold_out(train, d.val_from_train, cfg.trainer.seed)
    missing = [n for n in (*train, *val) if n not in by_name]
    if missing and not d.skip_bad:
        raise DataError(d.root, f"split {split.name} names videos not here: {missing[:5]}")
    return SplitRecords(
        [train_by_name[n] for n in train if n in train_by_name],
        [by_name[n] for n in val if n in by_name],
    )


def _pick_split(cfg: RunConfig, records: list[VideoRecord]) -> Split:
    if cfg.data.split == "official":
        return official_split(records)
    if cfg.data.folds_file is None:
        raise ConfigError(f"data.split={cfg.data.split} needs data.folds_file")
    folds = {s.name: s for s in load_splits(cfg.data.folds_file)}
    if cfg.data.split not in folds:
        raise ConfigError(
            f"{cfg.data.folds_file} has no split {cfg.data.split!r}; it has {', '.join(folds)}"
        )
    return folds[cfg.data.split]


def global_clips(cfg: RunConfig) -> int:
    """Clips per optimiser step, all devices together: ``data.batch_size`` clips, or with
    ``data.batch_unit=frames`` ⌈batch_size / clip_length⌉ clips (4,096 frames → 41 clips of 100)."""
    d = cfg.data
    return d.batch_size if d.batch_unit == "clips" else max(1, -(-d.batch_size // d.clip_length))


def per_device_batch(cfg: RunConfig, world: int) -> int:
    """Clips per device per forward pass: ``trainer.micro_batch_size``, else each device's share
    (rounded up) of the global batch."""
    return cfg.trainer.micro_batch_size or -(-global_clips(cfg) // world)


def accumulation(cfg: RunConfig, world: int) -> int:
    """Steps accumulated per optimiser step so that ``world`` devices make up the global batch."""
    return max(1, -(-global_clips(cfg) // (per_device_batch(cfg, world) * world)))


def batch_summary(cfg: RunConfig, world: int) -> str:
    """What one optimiser step holds, as printed when training starts."""
    d = cfg.data
    clips, per, acc = global_clips(cfg), per_device_batch(cfg, world), accumulation(cfg, world)
    asked = f"{d.batch_size} {d.batch_unit}"
    if d.batch_unit == "frames":
        asked += f" = {clips} clips of {d.clip_length}"
    step = per * world * acc
    return (
        f"batch: {asked} per step (data.batch_size, data.batch_unit) -> {world} device(s) × "
        f"{per} clip(s) ({per * d.clip_length} frames) per pass × {acc} accumulation step(s) = "
        f"{step} clips, {step * d.clip_length} frames per optimiser step"
    )


class ClipDataModule(L.LightningDataModule):
    """Training clips and validation windows of one split, from any frame source."""

    def __init__(
        self,
        cfg: RunConfig,
        source: FrameSource,
        *,
        key: str = "features",
        erased_views: int = 0,
        records: SplitRecords | None = None,
    ) -> None:
        super().__init__()
        self.cfg, self.source, self.key = cfg, source, key
        self.records = records if records is not None else split_records(cfg)
        d = cfg.data
        self.train_set = TrainClips(
            self.records.train,
            source,
            d.clip_length,
            d.clips_per_epoch,
            key=key,
            erased_views=erased_views,
            seed=cfg.trainer.seed,
            drop_missing=d.missing_crops == "drop",
        )
        self.val_set = EvalClips(self.records.val, source, d.clip_length, key=key)

    def _loader(self, dataset: Dataset) -> DataLoader:
        world = self.trainer.world_size if self.trainer is not None else 1
        sampler = None
        if world > 1:
            # Contiguous global batches: process r takes items r, r + W, …, so step s of all
            # processes together covers items [s·B, (s+1)·B) — exactly the one-process batch.
            sampler = DistributedSampler(
                dataset, num_replicas=world, rank=self.trainer.global_rank, shuffle=False
            )
        return DataLoader(
            dataset,
            batch_size=per_device_batch(self.cfg, world),
            shuffle=False,  # training clips shuffle themselves from (seed, epoch)
            sampler=sampler,
            num_workers=min(self.cfg.data.num_workers, usable_cores()),  # at most one per core
            persistent_workers=False,
        )

    def train_dataloader(self) -> DataLoader:
        self.train_set.set_epoch(self.trainer.current_epoch if self.trainer else 0)
        return self._loader(self.train_set)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)


class FeatureSource:
    """Frame source reading cached features: slot ``i`` gets the features of ``clip.source[i]``
    (the nearest frame with a crop); padding slots get zeros. A class, not a closure, so data
    loaders can pickle it into worker and DDP processes."""

    def __init__(self, store) -> None:
        self.store = store

    def __call__(self, rec: VideoRecord, clip: Clip, view: int) -> torch.Tensor:
        feats = self.store.features(rec.name, view)  # (N, D), memory-mapped float16
        idx = np.where(clip.source >= 0, clip.source, 0)
        out = torch.from_numpy(np.asarray(feats[idx], dtype=np.float32))
        out[torch.from_numpy(clip.source < 0)] = 0
        return out


class ImageSource:
    """Frame source reading face crops for end-to-end mode: ``(P, C, S, S)`` in [0, 1], not yet
    normalised (in-frame erasing zeroes pixels first); padding slots are black."""

    def __init__(self, meta) -> None:
        self.meta = meta

    def __call__(self, rec: VideoRecord, clip: Clip, view: int) -> torch.Tensor:
        from vnaw.models.preprocess import load_crop, to_input

        s, c = self.meta.input_size, self.meta.channels
        frames = [
            load_crop(rec.crop_path(int(src)), s, c) if src >= 0 else np.zeros((c, s, s), np.uint8)
            for src in clip.source
        ]
        return to_input(np.stack(frames), self.meta, normalized=False)
