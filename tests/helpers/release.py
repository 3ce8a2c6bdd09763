"""The organisers' Aff-Wild2 release as shipped, in miniature (from the synthetic generator): the
annotation archive holds the AU, EXPR and VA challenge folders side by side inside an edition folder,
the crops are split over two ``cropped_aligned*`` folders, and a test-set example file lists
crops-only test videos."""

from __future__ import annotations

import shutil
from pathlib import Path

from vnaw.data.synth import SynthConfig, generate

EDITION = "6th ABAW Annotations"


def make_release(tmp: Path) -> tuple[Path, Path]:
    """A release root and its test-set example file."""
    gen = tmp / "gen"
    generate(gen, SynthConfig(seed=7, videos=6, frames=40, size=32))
    root = tmp / "release"
    expr = root / EDITION / "EXPR_Recognition_Challenge"
    for split in ("Train_Set", "Validation_Set"):
        shutil.copytree(gen / split, expr / split)
        # The AU and VA challenges ship folders of the same names with other headers.
        au = root / EDITION / "AU_Detection_Challenge" / split
        au.mkdir(parents=True)
        (au / "x.txt").write_text("AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26\n0,0\n")
        va = root / EDITION / "VA_Estimation_Challenge" / split
        va.mkdir(parents=True)
        (va / "x.txt").write_text("valence,arousal\n0.1,0.2\n")
    tracks = sorted(p.name for p in (gen / "cropped_aligned").iterdir())
    for i, name in enumerate(tracks):  # crops split over the two folders of the release
        folder = "cropped_aligned" if i % 2 == 0 else "cropped_aligned_new_50_vids"
        shutil.copytree(gen / "cropped_aligned" / name, root / folder / name)
    # Test videos: crops only, no annotation. test2 misses its frames 3 and 4.
    val = sorted(p.stem for p in (gen / "Validation_Set").iterdir())
    shutil.copytree(gen / "cropped_aligned" / val[0], root / "cropped_aligned" / "test1")
    shutil.copytree(
        gen / "cropped_aligned" / val[-1], root / "cropped_aligned_new_50_vids" / "test2"
    )
    for k in (3, 4):
        (root / "cropped_aligned_new_50_vids" / "test2" / f"{k:05d}.jpg").unlink(missing_ok=True)
    lines = ["image_location,Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"]
    lines += [f"test2/{k:05d}.jpg" for k in (5, 4, 3, 2, 1)]
    lines += [f"test1/{k:05d}.jpg" for k in range(1, 13)]
    example = root / "test_set_examples" / "CVPR_6th_ABAW_Expr_test_set_example.txt"
    example.parent.mkdir()
    example.write_text("\n".join(lines) + "\n")
    return root, example
