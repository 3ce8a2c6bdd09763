"""Data of ``vnaw pretrain``: static FER images preloaded in memory, label noise, class balancing."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from vnaw.labels import NUM_CLASSES
from vnaw.models.encoder import EncoderMeta


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


def balanced_weights(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Per-sample weights ``1/count(class)`` so every class is drawn equally often."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return 1.0 / counts[labels]


class InMemoryImages(torch.utils.data.Dataset):
    """Preloaded uint8 images ``(N, H, W[, C])`` with labels; items are ``(image, label)``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.images[i], self.labels[i]


def load_split(
    specs: list[str],
    split: str,
    meta: EncoderMeta,
    limit: int = 0,
    progress: bool = False,
    every: int = 10,
):
    """Read specs (combined) and preload their pixels: ``(ImageSet, images uint8)``."""
    from vnaw.data.static import load_images, read_specs

    imgs = read_specs(specs, split, every=every)
    if limit:
        keep = np.random.default_rng(0).permutation(len(imgs))[:limit]
        keep.sort()
        imgs.paths = [imgs.paths[i] for i in keep]
        imgs.labels, imgs.votes = imgs.labels[keep], imgs.votes[keep]
        imgs.source = [imgs.source[i] for i in keep]
    return imgs, load_images(imgs.paths, meta.input_size, meta.channels, progress=progress)


def derived_specs(train_specs: list[str], split: str) -> list[str]:
    """The ``split`` sets of those training specs that have one (design §3.2 readers)."""
    from vnaw.data.static import has_split

    return [s for s in train_specs if has_split(s, split)]
