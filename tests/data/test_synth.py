"""Synthetic Aff-Wild2 generator (design §9): layout accepted by the reader, counts, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vnaw.cli import main as cli_main
from vnaw.data.affwild2 import index_dataset, source_video
from vnaw.data.synth import SynthConfig, generate, load_clean_labels, plan_tracks
from vnaw.data.synth_episodes import AFFWILD2_FREQ, episode_stream, expand, noisy_episodes
from vnaw.labels import AFFWILD2_HEADER, IGNORE_INDEX, NUM_CLASSES

SMALL = SynthConfig(seed=3, videos=5, frames=60, size=32, noise=0.3)


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate(root, SMALL)
    return root


def test_reader_accepts_synthetic_layout(synth_root: Path) -> None:
    recs = index_dataset(synth_root)
    meta = json.loads((synth_root / "synth.json").read_text())
    assert len(recs) == SMALL.videos == meta["tracks"]
    names = [r.name for r in recs]
    assert "synth000_left" in names and "synth000_right" in names
    assert {r.split for r in recs} == {"Train_Set", "Validation_Set"}
    # Frame and crop counts agree with what the generator says it wrote and with the disk.
    assert sum(r.num_frames for r in recs) == meta["frames"]
    assert sum(int(r.has_crop.sum()) for r in recs) == meta["crops"]
    n_files = sum(1 for _ in (synth_root / "cropped_aligned").glob("*/*.jpg"))
    assert n_files == meta["crops"]
    for r, t in zip(
        sorted(recs, key=lambda r: r.name),
        sorted(meta["track_list"], key=lambda t: t["name"]),
        strict=True,
    ):
        assert (r.name, r.split, r.num_frames) == (t["name"], t["split"], t["length"])
        assert 0.7 * SMALL.frames - 1 <= r.num_frames <= 1.3 * SMALL.frames + 1
    img = Image.open(recs[0].crop_path(0))
    assert img.size == (SMALL.size, SMALL.size) and img.mode == "RGB"
    first = (synth_root / "Train_Set" / "synth000_left.txt").read_text().splitlines()[0]
    assert first == AFFWILD2_HEADER


def test_clean_labels_kept_aside(synth_root: Path) -> None:
    recs = index_dataset(synth_root)
    clean = load_clean_labels(synth_root)
    assert set(clean) == {r.name for r in recs}
    noisy = np.concatenate([r.labels for r in recs])
    truth = np.concatenate([clean[r.name] for r in recs])
    # Same −1 frames in both; with noise 0.3 a clear share of valid labels differs.
    assert ((noisy == IGNORE_INDEX) == (truth == IGNORE_INDEX)).all()
    valid = truth != IGNORE_INDEX
    assert 0.05 < np.mean(noisy[valid] != truth[valid]) < 0.6


def test_reproducible_from_seed(tmp_path: Path, synth_root: Path) -> None:
    cfg = SynthConfig(**{**SMALL.__dict__})
    generate(tmp_path / "again", cfg)
    for rel in ("Train_Set/synth000_right.txt", "clean/Validation_Set", "cropped_aligned/synth001"):
        a, b = synth_root / rel, tmp_path / "again" / rel
        files = sorted(p.relative_to(a) for p in a.rglob("*")) if a.is_dir() else [Path()]
        assert files == (sorted(p.relative_to(b) for p in b.rglob("*")) if b.is_dir() else [Path()])
        for f in files:
            assert (a / f).read_bytes() == (b / f).read_bytes()
    generate(tmp_path / "other", SynthConfig(**{**SMALL.__dict__, "seed": 4}))
    assert (tmp_path / "other/Train_Set").exists()
    a = (synth_root / "clean/Train_Set/synth000_left.txt").read_text()
    assert a != (tmp_path / "other/clean/Train_Set/synth000_left.txt").read_text()


def test_class_frequencies_follow_affwild2() -> None:
    rng = np.random.default_rng(0)
    total = 200_000
    eps = episode_stream(total, rng)
    labels = expand([c for c, _ in eps], [n for _, n in eps])[:total]
    freq = np.bincount(labels, minlength=NUM_CLASSES) / total
    np.testing.assert_allclose(freq, AFFWILD2_FREQ, atol=0.003)
    np.testing.assert_allclose(freq[[0, 7, 3]], [0.3055, 0.2851, 0.0163], atol=0.003)
    # Small splits still hold every class.
    small = episode_stream(1000, rng)
    assert {c for c, _ in small} == set(range(NUM_CLASSES))
    # A validation-sized split holds every class several times; the rare ones take frames from
    # the frequent ones, so the stream still covers exactly the split.
    val = episode_stream(1800, rng, min_episodes=4)
    counts = np.bincount([c for c, _ in val], minlength=NUM_CLASSES)
    assert counts.min() >= 4 and min(n for _, n in val) >= 12
    assert 1800 <= sum(n for _, n in val) <= 1801
    lab = expand([c for c, _ in val], [n for _, n in val])[:1800]
    freq = np.bincount(lab, minlength=NUM_CLASSES) / 1800
    assert freq[0] > 0.2 and freq[7] > 0.2 and freq[[1, 2, 3]].max() < 0.1


def test_validation_people_are_new() -> None:
    cfg = SynthConfig(seed=0)
    tracks = plan_tracks(cfg, np.random.default_rng(0))
    people = {
        s: {t.identity for t in tracks if t.split == s} for s in ("Train_Set", "Validation_Set")
    }
    assert people["Train_Set"] and people["Validation_Set"]
    assert not people["Train_Set"] & people["Validation_Set"]
    assert tracks[0].identity != tracks[1].identity  # the two-person video shows two people


def test_label_noise_rate_and_boundaries() -> None:
    rng = np.random.default_rng(1)
    eps = episode_stream(100_000, rng)
    cls, lengths = noisy_episodes(eps, noise=0.25, jitter=3, rng=rng)
    wrong = np.mean([c != n for (c, _), n in zip(eps, cls, strict=True)])
    assert abs(wrong - 0.25) < 0.02
    assert sum(lengths) == sum(n for _, n in eps) and min(lengths) >= 1
    ends = np.cumsum([n for _, n in eps])
    moved = np.cumsum(lengths)
    assert np.abs(moved - ends).max() <= 3 and (moved != ends).mean() > 0.5
    clean_cls, _ = noisy_episodes(eps, noise=0.0, jitter=0, rng=rng)
    assert clean_cls == [c for c, _ in eps]


def test_with_videos_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import av

    out = tmp_path / "s"
    rc = cli_main(
        [
            "data",
            "synth",
            str(out),
            "--videos",
            "3",
            "--frames",
            "20",
            "--size",
            "32",
            "--with-videos",
            "--resting-share",
            "0",
            "--quiet",
        ]
    )
    assert rc == 0
    meta = json.loads((out / "synth.json").read_text())
    assert meta["config"]["resting_share"] == 0.0 and meta["resting_faces"] == {}
    assert cli_main(["data", "synth", str(tmp_path / "bad"), "--resting-share", "1.5"]) == 2
    assert "--resting-share must lie in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    recs = index_dataset(out)
    assert {p.stem for p in (out / "batch1").glob("*.mp4")} == {source_video(r.name) for r in recs}
    pair = [r for r in recs if r.source == "synth000"]
    assert len(pair) == 2 and all(r.video == out / "batch1/synth000.mp4" for r in pair)
    with av.open(str(out / "batch1/synth000.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == min(r.num_frames for r in pair)
    assert frames[0].shape == (64, 128, 3)  # two faces side by side
    capsys.readouterr()
    assert cli_main(["data", "stats", str(out)]) == 0
    table = capsys.readouterr().out
    total = sum(r.num_frames for r in recs)
    assert f"| all | 3 | {total} |" in table and "Neutral" in table.splitlines()[1]
    assert table.splitlines()[0].startswith(f"annotations: {out}; crops: {out / 'cropped_aligned'}")


def test_resting_faces(tmp_path: Path, synth_root: Path) -> None:
    """Some people look stern, sad, sour or amused at rest: their ``rest`` parameters carry a
    share of a class prototype; everybody else's frames are exactly those of a data set without
    resting faces (they come from their own random stream)."""
    from vnaw.data.synth import resting_people
    from vnaw.data.synth_faces import (
        PROTOTYPES,
        RESTING_CLASSES,
        make_identities,
        with_resting_faces,
    )

    meta = json.loads((synth_root / "synth.json").read_text())
    by_track = {t["name"]: t for t in meta["track_list"]}
    marked = {t["identity"] for t in by_track.values() if t["resting_face"] != "Neutral"}
    assert {int(i) for i in meta["resting_faces"]} == marked
    # Every split shows at least one such person (SMALL: 1 of 1 validation person).
    for split in ("Train_Set", "Validation_Set"):
        assert any(t["resting_face"] != "Neutral" for t in by_track.values() if t["split"] == split)

    generate(tmp_path / "plain", SynthConfig(**{**SMALL.__dict__, "resting_share": 0.0}))
    plain = json.loads((tmp_path / "plain" / "synth.json").read_text())
    assert plain["resting_faces"] == {}
    for name, t in by_track.items():
        a = sorted((synth_root / "cropped_aligned" / name).glob("*.jpg"))
        b = sorted((tmp_path / "plain" / "cropped_aligned" / name).glob("*.jpg"))
        same = [x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True)]
        assert all(same) if t["resting_face"] == "Neutral" else not any(same), name
    # The labels never depend on the resting faces.
    for p in (synth_root / "clean").rglob("*.txt"):
        assert p.read_text() == (tmp_path / "plain" / p.relative_to(synth_root)).read_text()

    # The offset: a · prototype of a resting class, a within ±20 % of the strength.
    people = make_identities(10, np.random.default_rng(0))
    moved = with_resting_faces(people, [2, 7], (0.4, 0.6), np.random.default_rng(1))
    for i, (before, after) in enumerate(zip(people, moved, strict=True)):
        if i not in (2, 7):
            assert after is before and after.resting_class == 0
            continue
        c = after.resting_class
        assert c in RESTING_CLASSES
        a = (after.rest - before.rest) / np.where(PROTOTYPES[c] == 0, np.nan, PROTOTYPES[c])
        a = a[~np.isnan(a)]
        np.testing.assert_allclose(a, a[0])
        assert 0.4 <= a[0] <= 0.6
        np.testing.assert_array_equal((after.rest - before.rest)[PROTOTYPES[c] == 0], 0.0)

    # resting_people: round(share · n) per split, at least one where share > 0, none at 0.
    tracks = plan_tracks(SynthConfig(seed=0), np.random.default_rng(0))
    for share in (0.0, 0.1, 0.5):
        chosen = set(resting_people(tracks, share, np.random.default_rng(0)))
        for split in ("Train_Set", "Validation_Set"):
            n = len({t.identity for t in tracks if t.split == split})
            expect = 0 if share == 0 else max(round(share * n), 1)
            assert len(chosen & {t.identity for t in tracks if t.split == split}) == expect
