"""Static FER readers (design §3.2) on generated layouts: majority protocol, errors, mixing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from helpers.ferplus_fake import VOTE_ROWS, make_ferplus
from vnaw.data.static import (
    DataError,
    concat,
    parse_spec,
    read_affectnet,
    read_ferplus,
    read_folder,
    read_rafdb,
    read_specs,
)
from vnaw.labels import class_index, ferplus_votes_to_distribution
from vnaw.training.pretrain_data import load_images


def _png(path: Path, size: int = 32, rgb: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size, size, 3) if rgb else (size, size)
    Image.fromarray(np.full(shape, 128, dtype=np.uint8)).save(path)


def test_ferplus_majority_protocol_on_hand_chosen_votes(tmp_path: Path) -> None:
    kept = make_ferplus(tmp_path)
    for split, folder in (
        ("train", "FER2013Train"),
        ("val", "FER2013Valid"),
        ("test", "FER2013Test"),
    ):
        s = read_ferplus(tmp_path, split)
        assert [(p.name, int(y)) for p, y in zip(s.paths, s.labels, strict=True)] == kept[folder]
    s = read_ferplus(tmp_path, "train")
    # Every class is reached exactly once, in the order of the rows (contempt → Other).
    assert sorted(s.labels.tolist()) == list(range(8))
    # The vote distribution is kept, in design §2 order, with the raw counts.
    expected = [ferplus_votes_to_distribution(v) for v, y in VOTE_ROWS if y is not None]
    np.testing.assert_array_equal(s.votes, np.asarray(expected, dtype=np.float32))


def test_ferplus_errors_name_file_and_line(tmp_path: Path) -> None:
    make_ferplus(tmp_path)
    csv = tmp_path / "FER2013Train" / "label.csv"
    lines = csv.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",x"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"label\.csv:3: vote counts must be integers"):
        read_ferplus(tmp_path, "train")
    lines[2] = 'fer_x.png,"(0, 0, 48, 48)",0,9,0,0,0,0,0,0,0,0'
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"label\.csv:3: image fer_x\.png not found"):
        read_ferplus(tmp_path, "train")
    lines[2] = "fer_y.png,1,2"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"label\.csv:3: expected 12 fields"):
        read_ferplus(tmp_path, "train")
    with pytest.raises(DataError, match=r"FER2013Test.label\.csv: FERPlus label\.csv not found"):
        (tmp_path / "FER2013Test" / "label.csv").unlink()
        read_ferplus(tmp_path, "test")


def test_rafdb_reader(tmp_path: Path) -> None:
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 5\ntrain_00002.jpg 7\ntest_0001.jpg 1\n"
    )
    for stem in ("train_00001", "train_00002", "test_0001"):
        _png(tmp_path / "Image" / "aligned" / f"{stem}_aligned.jpg", rgb=True)
    train = read_rafdb(tmp_path, "train")
    assert train.labels.tolist() == [class_index("Sadness"), class_index("Neutral")]
    assert read_rafdb(tmp_path, "test").labels.tolist() == [class_index("Surprise")]
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 9\n")
    with pytest.raises(DataError, match=r"list_patition_label\.txt:1: .*1\.\.7"):
        read_rafdb(tmp_path, "train")


def test_affectnet_reader_drops_8_to_10(tmp_path: Path) -> None:
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
    rows = ["1/a.jpg,0,0,10,10,,7,0,0", "1/b.jpg,0,0,10,10,,8,0,0", "1/c.jpg,0,0,10,10,,1,0,0"]
    (tmp_path / "training.csv").write_text("\n".join([header, *rows]) + "\n")
    for n in "abc":
        _png(tmp_path / "1" / f"{n}.jpg", rgb=True)
    s = read_affectnet(tmp_path, "train")
    assert [p.name for p in s.paths] == ["a.jpg", "c.jpg"]
    assert s.labels.tolist() == [class_index("Other"), class_index("Happiness")]
    (tmp_path / "training.csv").write_text(header + "\n1/a.jpg,0,0,10,10,,11,0,0\n")
    with pytest.raises(DataError, match=r"training\.csv:2: expression"):
        read_affectnet(tmp_path, "train")


def test_folder_reader_and_bad_class_name(tmp_path: Path) -> None:
    _png(tmp_path / "happiness" / "1.png")
    _png(tmp_path / "Fear" / "2.jpg")
    s = read_folder(tmp_path)
    assert sorted(s.labels.tolist()) == [class_index("Fear"), class_index("Happiness")]
    _png(tmp_path / "joy" / "3.png")
    with pytest.raises(DataError, match=r"joy: unknown class 'joy'"):
        read_folder(tmp_path)


def test_any_mix_combines_into_one_set(tmp_path: Path) -> None:
    make_ferplus(tmp_path / "fp")
    _png(tmp_path / "fold" / "Other" / "x.png", size=20, rgb=True)
    mixed = read_specs([f"ferplus:{tmp_path / 'fp'}", f"folder:{tmp_path / 'fold'}"], "train")
    assert len(mixed) == 9
    assert mixed.labels[-1] == class_index("Other")
    assert np.isnan(mixed.votes[-1]).all() and not np.isnan(mixed.votes[0]).any()
    assert set(mixed.source) == {"ferplus/train", "folder/fold"}
    pixels = load_images(mixed.paths, 48, 1)
    assert pixels.shape == (9, 48, 48) and pixels.dtype == np.uint8
    assert len(concat([mixed, mixed])) == 18


def test_parse_spec() -> None:
    assert parse_spec("ferplus:/a/b") == ("ferplus", None, "/a/b")
    assert parse_spec("rafdb@test:/r") == ("rafdb", "test", "/r")
    for bad in ("nope:/x", "ferplus", "ferplus@dev:/x"):
        with pytest.raises(ValueError, match="data spec"):
            parse_spec(bad)


def test_affwild2_frames_as_images(tmp_path: Path) -> None:
    from vnaw.data.static import read_affwild2_images
    from vnaw.labels import AFFWILD2_HEADER

    (tmp_path / "Train_Set").mkdir()
    labels = [0, -1, 4, 4, 7, 2]
    (tmp_path / "Train_Set" / "vid1.txt").write_text(
        AFFWILD2_HEADER + "\n" + "\n".join(map(str, labels)) + "\n"
    )
    for k in (1, 2, 3, 5, 6):  # frame 4 has no crop
        _png(tmp_path / "cropped_aligned" / "vid1" / f"{k:05d}.jpg", rgb=True)
    every1 = read_affwild2_images(tmp_path, "train", every=1)
    # Frames with a valid label and a crop: 1, 3, 5, 6 (frame 2 is −1, frame 4 has no crop).
    assert [p.name for p in every1.paths] == ["00001.jpg", "00003.jpg", "00005.jpg", "00006.jpg"]
    assert every1.labels.tolist() == [0, 4, 7, 2]
    assert read_affwild2_images(tmp_path, "train", every=2).labels.tolist() == [0, 7]
