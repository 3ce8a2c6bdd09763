"""Up-front crop checks (vnaw.data.check) and `vnaw data stats --check`."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vnaw.cli import main
from vnaw.data.affwild2 import index_dataset
from vnaw.data.check import checked_records, crop_problem, find_bad_crops, require_labels
from vnaw.data.synth import SynthConfig, generate
from vnaw.errors import DataError


def _jpeg(size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_crop_problem_names_each_kind_of_bad_crop(tmp_path):
    good = _jpeg()
    cases = {
        "good.jpg": (good, None),
        "empty.jpg": (b"", "empty file"),
        "text.jpg": (b"not an image at all\n" * 10, "unreadable image"),
        "truncated.jpg": (good[: len(good) // 2], "unreadable image"),
        "tiny.jpg": (_jpeg((4, 6)), "4×6 pixels"),
    }
    for name, (data, why) in cases.items():
        (tmp_path / name).write_bytes(data)
        got = crop_problem(tmp_path / name)
        assert (got is None) if why is None else (why in got), (name, got)
    assert "unreadable" in crop_problem(tmp_path / "missing.jpg")


@pytest.fixture
def root(tmp_path):
    generate(tmp_path / "d", SynthConfig(seed=1, videos=4, frames=12, size=32))
    return tmp_path / "d"


def test_a_bad_crop_stops_or_skips_its_video(root, capsys):
    records = index_dataset(root)
    assert find_bad_crops(records) == {}
    victim = records[1]
    crop = victim.crop_path(int(np.flatnonzero(victim.has_crop)[3]))
    crop.write_bytes(crop.read_bytes()[:40])
    assert find_bad_crops(records).keys() == {victim.name}
    with pytest.raises(DataError, match=f"{crop}: unreadable image.*--skip-bad"):
        checked_records(records)
    kept = checked_records(records, skip_bad=True)
    assert [r.name for r in kept] == [r.name for r in records if r is not victim]
    assert f"skipping video {victim.name}: {crop}" in capsys.readouterr().err
    # The command line: one line naming the crop, exit 2; --skip-bad goes on.
    assert main(["data", "stats", str(root), "--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(crop) in err
    assert main(["data", "stats", str(root), "--check", "--skip-bad"]) == 0
    assert f"skipping video {victim.name}" in capsys.readouterr().err
    assert main(["data", "stats", str(root)]) == 0  # without --check crops are not opened


def test_no_valid_label_is_an_error(root):
    records = index_dataset(root)
    require_labels(records, "training", root)
    for r in records:
        r.labels[:] = -1
    with pytest.raises(DataError, match="no valid label in the training set"):
        require_labels(records, "training", root)
