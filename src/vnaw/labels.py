"""The 8-class label space of Aff-Wild2 (design §2) and the maps into it from other FER sets.

Index order is Aff-Wild2's and is used everywhere (files, tensors, tables). ``-1`` means "no valid
label": such frames are excluded from every loss and metric, never remapped to a class.
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = (
    "Neutral",
    "Anger",
    "Disgust",
    "Fear",
    "Happiness",
    "Sadness",
    "Surprise",
    "Other",
)
NUM_CLASSES = len(CLASSES)
# One colour per class (figures, the report, the overlay), fixed so every figure reads the same way.
CLASS_COLORS = (
    "#7f7f7f",
    "#d62728",
    "#8c564b",
    "#9467bd",
    "#ffbf00",
    "#1f77b4",
    "#17becf",
    "#2ca02c",
)

IGNORE_INDEX = -1

# Aff-Wild2 EXPR annotation header (design §3.1), exactly as the organisers write it.
AFFWILD2_HEADER = ",".join(CLASSES)

_INDEX = {name.lower(): i for i, name in enumerate(CLASSES)}


def class_index(name: str) -> int:
    """Index of a class name (case-insensitive); raises ``KeyError`` naming the valid names."""
    try:
        return _INDEX[name.strip().lower()]
    except KeyError:
        raise KeyError(f"unknown class {name!r}; expected one of {', '.join(CLASSES)}") from None


def class_name(index: int) -> str:
    """Name of a class index in 0..7."""
    if not 0 <= index < NUM_CLASSES:
        raise IndexError(f"class index {index} outside 0..{NUM_CLASSES - 1}")
    return CLASSES[index]


# FERPlus vote columns, in the order of its label.csv (design §3.2). ``None``: never a target.
FERPLUS_VOTES: tuple[str, ...] = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
FERPLUS_TO_INDEX: tuple[int | None, ...] = (
    class_index("Neutral"),
    class_index("Happiness"),
    class_index("Surprise"),
    class_index("Sadness"),
    class_index("Anger"),
    class_index("Disgust"),
    class_index("Fear"),
    class_index("Other"),  # contempt → Other
    None,  # unknown
    None,  # NF (not a face)
)

# RAF-DB basic labels 1..7.
RAFDB_TO_INDEX: dict[int, int] = {
    1: class_index("Surprise"),
    2: class_index("Fear"),
    3: class_index("Disgust"),
    4: class_index("Happiness"),
    5: class_index("Sadness"),
    6: class_index("Anger"),
    7: class_index("Neutral"),
}

# AffectNet expression codes 0..7; 8 None, 9 Uncertain, 10 No-Face are dropped (absent here).
AFFECTNET_TO_INDEX: dict[int, int] = {
    0: class_index("Neutral"),
    1: class_index("Happiness"),
    2: class_index("Sadness"),
    3: class_index("Surprise"),
    4: class_index("Fear"),
    5: class_index("Disgust"),
    6: class_index("Anger"),
    7: class_index("Other"),  # contempt → Other
}


def from_rafdb(label: int) -> int:
    """Map a RAF-DB basic label (1..7) to our index; raises ``ValueError`` otherwise."""
    if label not in RAFDB_TO_INDEX:
        raise ValueError(f"RAF-DB basic label must be 1..7, got {label}")
    return RAFDB_TO_INDEX[label]


def from_affectnet(label: int) -> int | None:
    """Map an AffectNet expression code to our index; ``None`` for 8/9/10 (dropped)."""
    if label in (8, 9, 10):
        return None
    if label not in AFFECTNET_TO_INDEX:
        raise ValueError(f"AffectNet expression must be 0..10, got {label}")
    return AFFECTNET_TO_INDEX[label]


def ferplus_votes_to_distribution(votes: list[int] | tuple[int, ...]) -> list[float]:
    """Turn 10 FERPlus vote counts into 8 class counts in our order (unknown/NF discarded)."""
    if len(votes) != len(FERPLUS_VOTES):
        raise ValueError(f"FERPlus rows carry {len(FERPLUS_VOTES)} vote counts, got {len(votes)}")
    out = [0.0] * NUM_CLASSES
    for count, idx in zip(votes, FERPLUS_TO_INDEX, strict=True):
        if idx is not None:
            out[idx] += float(count)
    return out


def ferplus_majority(votes: list[int] | tuple[int, ...]) -> int | None:
    """FERPlus "majority" protocol (design §3.2) on the 10 raw vote counts.

    Counts of 1 are treated as 0 (outlier removal); the label is the column holding more than half
    of the remaining votes. Returns our class index, or ``None`` when no column has a majority or the
    majority column is unknown / NF (the image is then left out).
    """
    if len(votes) != len(FERPLUS_VOTES):
        raise ValueError(f"FERPlus rows carry {len(FERPLUS_VOTES)} vote counts, got {len(votes)}")
    cleaned = [0 if int(v) == 1 else int(v) for v in votes]
    total = sum(cleaned)
    if total == 0:
        return None
    best = max(range(len(cleaned)), key=cleaned.__getitem__)
    if 2 * cleaned[best] <= total:
        return None
    return FERPLUS_TO_INDEX[best]
