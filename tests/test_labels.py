"""Label space and dataset maps — design §2, §3.2."""

import pytest

from vnaw import CLASSES
from vnaw.labels import (
    AFFWILD2_HEADER,
    class_index,
    class_name,
    ferplus_majority,
    ferplus_votes_to_distribution,
    from_affectnet,
    from_rafdb,
)


def test_order_and_header():
    assert CLASSES == (
        "Neutral",
        "Anger",
        "Disgust",
        "Fear",
        "Happiness",
        "Sadness",
        "Surprise",
        "Other",
    )
    assert AFFWILD2_HEADER == "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"
    assert class_index("happiness") == 4 and class_name(7) == "Other"
    with pytest.raises(KeyError, match="Neutral"):
        class_index("joy")
    with pytest.raises(IndexError):
        class_name(8)


def test_dataset_maps():
    # RAF-DB: 1 Surprise .. 7 Neutral
    assert [from_rafdb(i) for i in range(1, 8)] == [6, 3, 2, 4, 5, 1, 0]
    with pytest.raises(ValueError):
        from_rafdb(0)
    # AffectNet: 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt
    assert [from_affectnet(i) for i in range(8)] == [0, 4, 5, 6, 3, 2, 1, 7]
    assert from_affectnet(8) is None and from_affectnet(10) is None
    with pytest.raises(ValueError):
        from_affectnet(11)


def test_ferplus_majority_protocol():
    # columns: neutral happiness surprise sadness anger disgust fear contempt unknown NF
    assert ferplus_majority([6, 1, 1, 0, 0, 0, 0, 2, 0, 0]) == 0  # 6 of 8 after dropping 1s
    assert ferplus_majority([4, 4, 0, 0, 0, 0, 0, 0, 2, 0]) is None  # no majority
    assert ferplus_majority([0, 0, 0, 0, 0, 0, 0, 6, 4, 0]) == 7  # contempt -> Other
    assert ferplus_majority([0, 0, 0, 0, 0, 0, 0, 0, 8, 2]) is None  # unknown wins -> left out
    assert ferplus_majority([5, 5, 0, 0, 0, 0, 0, 0, 0, 0]) is None  # exactly half is no majority
    assert ferplus_majority([2, 1, 1, 1, 1, 1, 1, 1, 1, 0]) == 0  # all 1s vanish: 2 of 2
    dist = ferplus_votes_to_distribution([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert dist == [1, 5, 6, 7, 2, 4, 3, 8]


def test_every_class_reachable_from_affectnet():
    from vnaw.labels import AFFECTNET_TO_INDEX, NUM_CLASSES

    assert set(AFFECTNET_TO_INDEX.values()) == set(range(NUM_CLASSES))
