"""The organisers' Aff-Wild2 release as shipped, in miniature: stats → extract → train → evaluate →
submit through the command line.

The miniature is built from the synthetic generator: the annotation archive holds the AU, EXPR and
VA challenge folders side by side inside an edition folder, the crops are split over two
``cropped_aligned*`` folders, and a test-set example file lists crops-only test videos.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers.release import EDITION, make_release
from vnaw.cli import main
from vnaw.data.affwild2 import find_layout, index_dataset
from vnaw.errors import DataError
from vnaw.inference.submission import SUBMISSION_HEADER


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("torch")  # the training stack
    return make_release(tmp_path_factory.mktemp("abaw"))


def test_release_layout_found_by_content(release) -> None:
    root, _ = release
    layout = find_layout(root)
    assert layout.annotations == root / EDITION / "EXPR_Recognition_Challenge"
    assert layout.crop_roots == (root / "cropped_aligned", root / "cropped_aligned_new_50_vids")
    recs = index_dataset(root)
    assert len(recs) == 6 and {r.crop_dir.parent for r in recs} == set(layout.crop_roots)


def test_track_in_two_crop_folders_is_an_error(release, tmp_path) -> None:
    root, _ = release
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    name = sorted((copy / "cropped_aligned").iterdir())[0].name
    shutil.copytree(copy / "cropped_aligned" / name, copy / "cropped_aligned_new_50_vids" / name)
    with pytest.raises(DataError, match=f"crops of {name} are in two folders"):
        index_dataset(copy)


def test_stats_extract_train_evaluate_submit(release, tmp_path, capsys) -> None:
    root, example = release
    assert main(["data", "stats", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"annotations: {root / EDITION / 'EXPR_Recognition_Challenge'}" in out
    assert "cropped_aligned_new_50_vids" in out and "| all | 6 |" in out

    store, run = tmp_path / "store", tmp_path / "run"
    extract = ["extract", "--data", str(root), "--out", str(store), "--encoder", "resnet18",
               "--random-init", "--input-size", "32", "--workers", "0", "--quiet"]  # fmt: skip
    assert main(extract) == 0
    train = ["train", f"data.root={root}", f"data.features={store}", f"out_dir={run}",
             "data.clip_length=8", "data.batch_size=8", "data.clips_per_epoch=16",
             "model.d_model=16", "model.num_layers=1", "model.num_heads=2",
             "model.dim_feedforward=16", "optim.epochs=1", "trainer.progress_bar=false",
             "trainer.accelerator=cpu"]  # fmt: skip
    assert main(train) == 0
    assert main(["evaluate", str(run), "--data", str(root)]) == 0
    assert "macro-F1 vs labels" in capsys.readouterr().out

    sub = tmp_path / "sub.txt"
    assert main(["submit", str(run), "--data", str(root), "--test-list", str(example),
                 "--out", str(sub), "--quiet"]) == 0  # fmt: skip
    lines = sub.read_text().splitlines()
    listed = example.read_text().splitlines()[1:]
    assert lines[0] == SUBMISSION_HEADER and len(lines) == 1 + len(listed)
    assert [line.split(",")[0] for line in lines[1:]] == listed  # the list's order
    pred = {line.split(",")[0]: int(line.split(",")[1]) for line in lines[1:]}
    assert all(0 <= v <= 7 for v in pred.values())
    # test2 has no crops at frames 3 and 4: they take frame 2's and frame 5's predictions.
    assert pred["test2/00003.jpg"] == pred["test2/00002.jpg"]
    assert pred["test2/00004.jpg"] == pred["test2/00005.jpg"]
    report = capsys.readouterr().out
    assert "17 lines, 2 videos, 2 listed frames without a crop" in report

    # A listed video without any crop: an error naming it, or filled with --fill.
    (example.parent / "more.txt").write_text(example.read_text() + "ghost/00001.jpg\n")
    argv = ["submit", str(run), "--data", str(root), "--test-list",
            str(example.parent / "more.txt"), "--out", str(tmp_path / "sub2.txt"), "--quiet"]  # fmt: skip
    assert main(argv) == 2
    assert "ghost" in capsys.readouterr().err and not (tmp_path / "sub2.txt").exists()
    assert main([*argv, "--fill"]) == 0
    assert (tmp_path / "sub2.txt").read_text().splitlines()[-1] == "ghost/00001.jpg,0"
    np.testing.assert_array_equal(
        sub.read_text().splitlines(), (tmp_path / "sub2.txt").read_text().splitlines()[:-1]
    )


@pytest.mark.slow
def test_paper_config_end_to_end_on_cpu(release, tmp_path, capsys) -> None:
    """`paper` (end-to-end, encoder fine-tuned, erasing on pixels, clip level, gradient
    accumulation) with tiny sizes: train, evaluate, submit and export on CPU."""
    pytest.importorskip("onnxruntime")
    root, example = release
    run = tmp_path / "paper"
    train = ["train", "paper", f"data.root={root}", f"out_dir={run}", "data.clip_length=8",
             "data.eval_stride=4", "data.batch_size=4", "trainer.micro_batch_size=2",
             "data.clips_per_epoch=8", "data.num_workers=0", "model.d_model=16",
             "model.num_layers=1", "model.dim_feedforward=16", "optim.epochs=1",
             "trainer.progress_bar=false", "trainer.accelerator=cpu"]  # fmt: skip
    assert main(train) == 0
    assert (run / "encoder.safetensors").is_file()  # the fine-tuned encoder is kept
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(root)]) == 0
    out = capsys.readouterr().out
    assert "fine-tuned in this run" in out and "macro-F1 vs labels" in out
    sub = tmp_path / "sub.txt"
    argv = ["submit", str(run), "--data", str(root), "--test-list", str(example), "--out", str(sub)]
    assert main([*argv, "--quiet"]) == 0
    assert len(sub.read_text().splitlines()) == len(example.read_text().splitlines())
    assert main(["export", "--model", str(run), "--out", str(tmp_path / "paper.onnx")]) == 0
