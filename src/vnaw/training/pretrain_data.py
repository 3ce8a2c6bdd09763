"""Data of ``vnaw pretrain``: static FER images (preloaded, or streamed from disk when they would not
fit in memory), label noise, class balancing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vnaw.labels import NUM_CLASSES
from vnaw.models.encoder import EncoderMeta
from vnaw.models.preprocess import load_crop


def inject_symmetric_noise(
    labels: np.ndarray, fraction: float, seed: int, num_classes: int = NUM_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``round(fraction·N)`` labels, chosen at random, by a uniformly drawn *other* class.

    Returns ``(noisy_labels, changed)``; exactly that fraction of labels is wrong afterwards.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.int64)
    changed = np.zeros(labels.shape[0], dtype=bool)
    changed[rng.choice(labels.shape[0], round(fraction * labels.shape[0]), replace=False)] = True
    # Adding 1..K-1 modulo K gives every other class with equal probability.
    offset = rng.integers(1, num_classes, size=labels.shape[0])
    noisy = np.where(changed, (labels + offset) % num_classes, labels)
    return noisy, changed


def draw_votes(votes: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One annotator's vote per image: a class drawn with probability proportional to its vote
    count (``votes`` ``(N, K)``, NaN rows: no votes, the label is kept). Returns
    ``(labels, changed)``; ``changed`` marks the images whose drawn vote differs from ``labels``."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.nan_to_num(np.asarray(votes, dtype=np.float64), nan=0.0)
    total = counts.sum(1)
    # Inverse-CDF draw, one uniform per image: vectorised and fixed by the seed.
    cdf = np.cumsum(counts, 1) / np.maximum(total, 1e-12)[:, None]
    drawn = (rng.random(len(labels))[:, None] >= cdf).sum(1).clip(max=counts.shape[1] - 1)
    out = np.where(total > 0, drawn, labels)
    return out, out != labels


def balanced_weights(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Per-sample weights ``1/count(class)`` so every class is drawn equally often."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return 1.0 / counts[labels]


PRELOAD_LIMIT = 2 * 1024**3  # bytes of pixels above which images are streamed from disk


def load_image(path: Path, size: int, channels: int) -> np.ndarray:
    """One image → uint8 ``(size, size)`` grey or ``(size, size, 3)`` RGB, through the package's
    one preprocessing path (:func:`vnaw.models.preprocess.load_crop`); errors name the file."""
    arr = load_crop(path, size, channels)  # (C, S, S)
    return arr[0] if channels == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0))


def load_images(
    paths: Sequence[Path], size: int, channels: int, progress: bool = False
) -> np.ndarray:
    """All images of a set in one uint8 array ``(N, size, size[, 3])`` (whole set in memory:
    48 px grey FERPlus is 72 MB, and batches are then sliced, not decoded, every epoch)."""
    from tqdm import tqdm

    shape = (len(paths), size, size) + ((3,) if channels == 3 else ())
    out = np.empty(shape, dtype=np.uint8)
    for i, p in enumerate(tqdm(paths, desc="loading images", leave=False, disable=not progress)):
        out[i] = load_image(p, size, channels)
    return out


class ImageFiles:
    """Images read from disk on demand, exactly as :func:`load_images` would
    return them (``images[i]`` one, ``images[a:b]`` a stacked batch): memory stays flat whatever
    the size of the set (the paper's three sets at 224 px RGB would take about 49 GB)."""

    def __init__(self, paths: list, size: int, channels: int) -> None:
        self.paths, self.size, self.channels = list(paths), size, channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int | slice) -> np.ndarray:
        if isinstance(i, slice):
            return np.stack([load_image(p, self.size, self.channels) for p in self.paths[i]])
        return load_image(self.paths[i], self.size, self.channels)


class EpochSampler(torch.utils.data.Sampler[int]):
    """Shuffled (or, with ``weights``, weighted with replacement) order of ``n`` items, drawn from
    a generator seeded by (seed, epoch) — not from the global generator — so that epoch ``e`` sees
    the same order in an uninterrupted run and in one resumed from a checkpoint (``--resume``).

    ``epoch_of`` returns the current epoch when an epoch's iterator is made (``follow(trainer)``).
    """

    def __init__(self, n: int, seed: int, weights: np.ndarray | None = None) -> None:
        self.n, self.seed = n, seed
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.epoch_of = lambda: 0

    def follow(self, trainer) -> None:
        self.epoch_of = lambda: trainer.current_epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        from vnaw.data.datamodule import mix_seed

        g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch_of()))
        if self.weights is None:
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.multinomial(self.weights, self.n, replacement=True, generator=g)
        return iter(order.tolist())


class InMemoryImages(torch.utils.data.Dataset):
    """uint8 images ``(N, H, W[, C])`` — an array, or :class:`ImageFiles` read in the loader's
    workers — with labels; items are ``(image, label)``."""

    def __init__(
        self,
        images: np.ndarray | ImageFiles,
        labels: np.ndarray,
        targets: np.ndarray | None = None,
    ) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        # Optional (N, 8) soft targets: items are then (image, label, target).
        self.targets = None if targets is None else torch.from_numpy(np.asarray(targets))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, ...]:
        image = torch.from_numpy(np.ascontiguousarray(self.images[i]))
        if self.targets is not None:
            return image, self.labels[i], self.targets[i]
        return image, self.labels[i]


def load_split(
    specs: list[str],
    split: str,
    meta: EncoderMeta,
    limit: int = 0,
    progress: bool = False,
    every: int = 10,
    preload: bool | None = None,
):
    """Read specs (combined): ``(ImageSet, images)``, the pixels preloaded (``preload``; ``None``:
    when they fit in :data:`PRELOAD_LIMIT`) or streamed from disk (:class:`ImageFiles`)."""
    from vnaw.data.static import read_specs

    imgs = read_specs(specs, split, every=every)
    if limit:
        keep = np.random.default_rng(0).permutation(len(imgs))[:limit]
        keep.sort()
        imgs.paths = [imgs.paths[i] for i in keep]
        imgs.labels, imgs.votes = imgs.labels[keep], imgs.votes[keep]
        imgs.source = [imgs.source[i] for i in keep]
    if preload is None:
        preload = len(imgs) * meta.input_size**2 * meta.channels <= PRELOAD_LIMIT
    if not preload:
        return imgs, ImageFiles(imgs.paths, meta.input_size, meta.channels)
    return imgs, load_images(imgs.paths, meta.input_size, meta.channels, progress=progress)


def derived_specs(train_specs: list[str], split: str) -> list[str]:
    """The ``split`` sets of those training specs that have one (design §3.2 readers)."""
    from vnaw.data.static import has_split

    return [s for s in train_specs if has_split(s, split)]
