"""A FERPlus-format folder generated on the fly (design §3.2 layout), for reader and pretrain tests.

Never the real data: random grey 48×48 PNGs and hand-chosen vote rows whose majority-protocol
outcome is known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# (votes in label.csv order: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt,
#  unknown, NF) → expected design §2 index under the majority protocol, or None (left out).
VOTE_ROWS: list[tuple[list[int], int | None]] = [
    ([6, 0, 1, 1, 0, 0, 0, 0, 2, 0], 0),  # 1s dropped: 6 of 8 → Neutral
    ([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], None),  # 4 of 9 is no majority
    ([0, 10, 0, 0, 0, 0, 0, 0, 0, 0], 4),  # Happiness
    ([0, 0, 9, 0, 0, 0, 0, 0, 0, 1], 6),  # Surprise (the single NF vote is an outlier)
    ([0, 0, 0, 5, 0, 0, 0, 0, 0, 0], 5),  # Sadness
    ([0, 0, 0, 0, 6, 0, 0, 0, 0, 0], 1),  # Anger
    ([0, 0, 0, 0, 0, 6, 0, 0, 3, 0], 2),  # Disgust
    ([0, 0, 0, 0, 0, 0, 7, 0, 0, 0], 3),  # Fear
    ([0, 0, 0, 0, 0, 0, 0, 7, 1, 0], 7),  # contempt → Other
    ([0, 0, 0, 0, 0, 0, 0, 0, 8, 2], None),  # unknown is never a target
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 10], None),  # NF is never a target
    ([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], None),  # every vote an outlier
]
SPLIT_DIRS = ("FER2013Train", "FER2013Valid", "FER2013Test")


def make_ferplus(root: Path, repeats: int = 1, seed: int = 0) -> dict[str, list[tuple[str, int]]]:
    """Write ``root/FER2013{Train,Valid,Test}`` with ``repeats`` copies of :data:`VOTE_ROWS` each.

    Returns, per split folder, the ``(image name, label)`` pairs the majority protocol keeps.
    """
    rng = np.random.default_rng(seed)
    from PIL import Image

    kept: dict[str, list[tuple[str, int]]] = {}
    for split in SPLIT_DIRS:
        folder = root / split
        folder.mkdir(parents=True)
        lines, kept[split] = [], []
        for r in range(repeats):
            for i, (votes, label) in enumerate(VOTE_ROWS):
                name = f"fer{r:04d}{i:03d}.png"
                Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(folder / name)
                lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(map(str, votes)))
                if label is not None:
                    kept[split].append((name, label))
        (folder / "label.csv").write_text("\n".join(lines) + "\n")
    return kept
