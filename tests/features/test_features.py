"""Feature extraction and store (design §7.3): values, interruption, sharding, refusal, clips."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

import torch

from vnaw.data.affwild2 import VideoRecord, index_dataset
from vnaw.data.datamodule import EvalClips, FeatureSource, TrainClips
from vnaw.data.synth import SynthConfig, generate
from vnaw.errors import StoreError
from vnaw.features.extract import extract
from vnaw.features.store import EraseSpec, FeatureStore, check_store, shard
from vnaw.models.frame_encoder import load_encoder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SIZE = 32  # encoder input side: tiny, the tests check plumbing, not features


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("synth")
    generate(r, SynthConfig(seed=1, videos=4, frames=24, size=32))
    for k in (3, 4, 9):  # face "not detected": frames without a crop, labels kept
        (r / "cropped_aligned/synth002" / f"{k:05d}.jpg").unlink(missing_ok=True)
    return r


@pytest.fixture(scope="module")
def records(root: Path) -> list[VideoRecord]:
    recs = index_dataset(root)
    assert any(not r.has_crop.all() for r in recs)  # the fallback paths get exercised
    return recs


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("resnet18", random_init=True, input_size=SIZE, seed=0)


@pytest.fixture(scope="module")
def full_store(tmp_path_factory: pytest.TempPathFactory, records, encoder) -> Path:
    store = tmp_path_factory.mktemp("store")
    extract(records, store, encoder, erase=EraseSpec(views=2), batch_size=16, progress=False)
    return store


def _reference(model, meta, path: Path, erased: torch.Tensor | None = None) -> np.ndarray:
    """Independent forward: PIL resize to the input side, scale, erase, normalise."""
    img = Image.open(path).convert("RGB")
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    assert img.size == (SIZE, SIZE)  # crops are already at the input side: no resize involved
    if erased is not None:
        x = x * (~erased).float()
    mean = torch.tensor(meta["mean"]).view(3, 1, 1)
    std = torch.tensor(meta["std"]).view(3, 1, 1)
    with torch.no_grad():
        return model(((x - mean) / std)[None])[0].numpy()


def test_store_contents_match_direct_forward(full_store: Path, records, encoder) -> None:
    model, meta = encoder.trunk, encoder.identity()
    st = FeatureStore(full_store)
    manifest = json.loads((full_store / "manifest.json").read_text())
    assert manifest["encoder"]["name"] == "resnet18" and manifest["encoder"]["feature_size"] == 512
    assert manifest["encoder"]["input_size"] == SIZE and manifest["erase"]["views"] == 2
    assert manifest["videos"] == {
        r.name: {"frames": r.num_frames, "crops": int(r.has_crop.sum())} for r in records
    }
    assert st.videos() == sorted(r.name for r in records)
    rec = max(records, key=lambda r: int((~r.has_crop).sum()))  # one with missing crops
    feats = st.features(rec.name)
    assert isinstance(feats, np.memmap) and feats.dtype == np.float16
    assert feats.shape == (rec.num_frames, 512)
    k = int(np.flatnonzero(rec.has_crop)[-1])
    ref = _reference(model, meta, rec.crop_path(k))
    np.testing.assert_allclose(feats[k].astype(np.float32), ref, rtol=2e-2, atol=2e-2)
    # A frame without a crop holds the nearest crop's features, and is flagged.
    near = rec.nearest_crop()
    assert (st.has_crop(rec.name) == rec.has_crop).all()
    for m in np.flatnonzero(~rec.has_crop):
        assert (feats[m] == feats[near[m]]).all()
    # Erased view: the same Ω (exactly 20 % of the pixels) on every frame of the video.
    spec = EraseSpec(views=2)
    omega = spec.mask(rec.name, 1, SIZE)
    assert int(omega.sum()) == round(0.2 * SIZE * SIZE)
    er = st.features(rec.name, 1)
    for k in np.flatnonzero(rec.has_crop)[[0, -1]]:
        ref = _reference(model, meta, rec.crop_path(int(k)), omega)
        np.testing.assert_allclose(er[k].astype(np.float32), ref, rtol=2e-2, atol=2e-2)
    assert not np.allclose(er[k], feats[k], atol=1e-2)
    assert not (spec.mask(rec.name, 2, SIZE) == omega).all()


@pytest.mark.slow
def test_interrupted_run_leaves_valid_store_and_rerun_completes(
    tmp_path: Path, records, encoder, full_store: Path
) -> None:
    seen: list[str] = []

    def stop_after_first(name: str) -> None:
        seen.append(name)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract(
            records,
            tmp_path,
            encoder,
            erase=EraseSpec(views=2),
            batch_size=5,
            progress=False,
            after_video=stop_after_first,
        )
    st = FeatureStore(tmp_path)
    assert st.videos() == seen == [sorted(r.name for r in records)[0]]
    assert not [
        p
        for p in tmp_path.iterdir()
        if p.name.endswith(".npy") and p.stem.split(".")[0] not in seen
    ]
    rest = extract(
        records, tmp_path, encoder, erase=EraseSpec(views=2), batch_size=7, progress=False
    )
    assert rest == sorted(r.name for r in records)[1:]
    assert extract(records, tmp_path, encoder, erase=EraseSpec(views=2), progress=False) == []
    ref = FeatureStore(full_store)
    for r in records:
        for v in range(3):
            np.testing.assert_allclose(st.features(r.name, v), ref.features(r.name, v), atol=2e-3)


@pytest.mark.slow
def test_killed_subprocess_leaves_valid_store(tmp_path: Path, root: Path, records) -> None:
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "vnaw", "extract", "--data", str(root), "--out", str(store),
           "--encoder", "resnet18", "--random-init", "--input-size", "160", "--batch-size", "1",
           "--workers", "0", "--device", "cpu", "--quiet"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(store.glob("*.npy")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    st = FeatureStore(store)
    finished = st.videos()
    assert 1 <= len(finished) < len(records)
    for name in finished:  # every visible video is complete and readable
        assert st.features(name).shape[0] == next(r.num_frames for r in records if r.name == name)
    enc = load_encoder("resnet18", random_init=True, input_size=160, seed=0)
    rest = extract(records, store, enc, progress=False)
    assert sorted(rest + finished) == sorted(r.name for r in records)
    assert not list(store.glob(".*tmp-*"))  # stale temporaries of the killed run removed


def test_mixing_encoders_refused(tmp_path: Path, records, encoder, full_store: Path) -> None:
    other = load_encoder("resnet18", random_init=True, input_size=SIZE, seed=1)
    assert other.weights_hash != encoder.weights_hash
    with pytest.raises(StoreError, match="refusing to add features"):
        extract(records, full_store, other, erase=EraseSpec(views=2), progress=False)
    with pytest.raises(StoreError, match=r"erased views 2.*erased views 0"):
        extract(records, full_store, encoder, erase=EraseSpec(views=0), progress=False)
    bigger = copy.copy(encoder)
    bigger.meta = replace(encoder.meta, input_size=48)
    with pytest.raises(StoreError):
        extract(records, full_store, bigger, erase=EraseSpec(views=2), progress=False)
    (tmp_path / "stray.npy").write_bytes(b"")
    with pytest.raises(StoreError, match="not a feature store"):
        extract(records, tmp_path, encoder, progress=False)


@pytest.mark.slow
def test_ranks_split_videos_without_clashing(
    tmp_path: Path, records, encoder, full_store: Path
) -> None:
    parts = [shard(records, r, 3) for r in range(3)]
    names = [sorted(x.name for x in p) for p in parts]
    assert sorted(n for part in names for n in part) == sorted(r.name for r in records)
    assert all(set(a).isdisjoint(b) for i, a in enumerate(names) for b in names[i + 1 :])
    for r in range(3):
        got = extract(
            records,
            tmp_path,
            encoder,
            erase=EraseSpec(views=2),
            rank=r,
            world_size=3,
            progress=False,
        )
        assert got == names[r]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["videos"]) == sorted(r.name for r in records)
    ref = FeatureStore(full_store)
    for r in records:
        np.testing.assert_allclose(
            FeatureStore(tmp_path).features(r.name, 2), ref.features(r.name, 2), atol=2e-3
        )


@pytest.mark.slow
def test_job_shards_split_videos_without_clashing(
    tmp_path: Path, records, encoder, full_store: Path
) -> None:
    """`vnaw extract --shard K/N`: N array jobs on one store, each the videos its names hash to,
    each job possibly several ranks; together every video once, as one run."""
    from vnaw.shards import shard_of

    got = []
    for k in (1, 2, 3):
        for r in range(2):  # two ranks inside the job
            names = extract(
                records,
                tmp_path,
                encoder,
                erase=EraseSpec(views=2),
                rank=r,
                world_size=2,
                progress=False,
                job_shard=(k, 3),
            )
            assert all(shard_of(n, 3) == k for n in names)
            got += names
    assert sorted(got) == sorted(r.name for r in records)  # each video exactly once
    ref = FeatureStore(full_store)
    for r in records:
        np.testing.assert_allclose(
            FeatureStore(tmp_path).features(r.name, 2), ref.features(r.name, 2), atol=2e-3
        )


def test_training_clips_from_store(full_store: Path, records) -> None:
    st = FeatureStore(full_store)
    check_store(st, records)
    source = FeatureSource(st)
    ds = TrainClips(records, source, 8, seed=5)
    assert len(ds) == sum(-(-r.num_frames // 8) for r in records)
    for i in range(6):
        item = ds[i]
        x, y, present = item["features"], item["labels"], item["present"]
        assert x.shape == (8, 512) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert present.all()  # videos are longer than 8 frames: no padding
        # find the clip: its labels and features must be one contiguous slice of one video
        hits = [
            (r, a)
            for r in records
            for a in range(r.num_frames - 7)
            if np.array_equal(x.numpy(), st.features(r.name)[a : a + 8].astype(np.float32))
        ]
        assert hits
        r, a = hits[0]
        np.testing.assert_array_equal(y.numpy(), r.labels[a : a + 8])
    again = TrainClips(records, source, 8, seed=5)
    assert all(torch.equal(ds[i]["features"], again[i]["features"]) for i in range(4))
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i]["features"], again[i]["features"]) for i in range(8))
    # With erasing, a clip comes from one erased view as a whole (same Ω in every frame).
    er = TrainClips(records, source, 8, erased_views=2, seed=5)
    x = er[0]["features"].numpy()
    views = {
        v: [
            st.features(r.name, v)[a : a + 8].astype(np.float32)
            for r in records
            for a in range(r.num_frames - 7)
        ]
        for v in (0, 1, 2)
    }
    assert not any(np.array_equal(x, c) for c in views[0])
    assert any(np.array_equal(x, c) for c in views[1] + views[2])


def test_eval_clips_score_every_frame_once(full_store: Path, records) -> None:
    st = FeatureStore(full_store)
    ev = EvalClips(records, FeatureSource(st), 16)
    scored = {r.name: np.zeros(r.num_frames, int) for r in records}
    for i in range(len(ev)):
        v, start, _ = ev.items[i]
        rec = ev.records[v]
        item = ev[i]
        n = min(16, rec.num_frames - start)
        scored[rec.name][start : start + n] += item["score"][:n].numpy()
        assert not item["present"][n:].any() and (item["labels"][n:] == -1).all()
    for r in records:
        # every frame with a crop is scored exactly once; frames without one are hidden
        np.testing.assert_array_equal(scored[r.name], r.has_crop.astype(int))


def test_check_store_refuses_missing_or_short(full_store: Path, records, tmp_path: Path) -> None:
    from dataclasses import replace

    st = FeatureStore(full_store)
    longer = replace(
        records[0],
        labels=np.append(records[0].labels, 0),
        has_crop=np.append(records[0].has_crop, True),
    )
    with pytest.raises(StoreError, match="frames of features"):
        check_store(st, [longer])
    ghost = replace(records[0], name="ghost")
    with pytest.raises(StoreError, match="lacks features"):
        check_store(st, [ghost])


def test_load_encoder_weights(tmp_path: Path, encoder) -> None:
    from safetensors.torch import save_file

    with pytest.raises(ValueError, match="random-init"):
        load_encoder("resnet18")
    model = encoder.trunk
    w = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(w))
    loaded = load_encoder("resnet18", weights=w, input_size=SIZE)
    assert loaded.weights_hash == load_encoder("resnet18", weights=w, input_size=SIZE).weights_hash
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(loaded.trunk(x), model(x))
    torch.save(model.state_dict(), tmp_path / "w.pt")
    loaded_pt = load_encoder("resnet18", weights=tmp_path / "w.pt", input_size=SIZE)
    with torch.no_grad():
        assert torch.equal(loaded_pt.trunk(x), model(x))


@pytest.mark.slow
def test_cli_default_encoder_with_workers(
    tmp_path: Path, root: Path, records, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("vnaw.models.encoder")
    from vnaw.cli import main as cli_main

    store = tmp_path / "store"
    try:
        meta = load_encoder("default").identity()
    except FileNotFoundError:
        pytest.skip("package installed without the default encoder weights")
    args = ["extract", "--data", str(root), "--out", str(store), "--workers", "1", "--quiet"]
    assert cli_main([*args, "--device", "cpu"]) == 0
    st = FeatureStore(store)
    assert st.encoder["weights_hash"] == meta["weights_hash"]
    assert st.features(records[0].name).shape == (records[0].num_frames, meta["feature_size"])
    # Clips load through DataLoader workers (the store's memory maps are reopened there).
    ds = EvalClips(records, FeatureSource(st), 8)
    batches = list(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=1))
    assert sum(b["features"].shape[0] for b in batches) == len(ds)
    capsys.readouterr()
    rc = cli_main([*args, "--encoder", "resnet18", "--random-init", "--input-size", "32"])
    assert rc == 2 and "refusing to add features" in capsys.readouterr().err
