"""Training images re-cropped as `vnaw predict` crops faces (the aligner-framing lever of docs/encoder-history.md).

For each image of the given data specs: MediaPipe's 5 landmarks
(``vnaw.faces.detectors.still_image_points``), the face warped onto a framing template at 224 px
(``vnaw.faces.align``), then resized as the encoder resizes it (``--size`` px, grey unless
``--rgb``). Written as a folder set, ``OUT/<split>/<Class>/<reader>_<name>.png``, which ``vnaw
pretrain --data folder:OUT`` reads. Images without a face found are left out (counted). Resumable:
finished files are skipped, each written atomically.

    python scripts/reframe_faces.py ferplus:../shared/data/ferplus muxspace:../shared/data/muxspace \\
        --out runs/reframed            # ≈ 10 min on one core for FERPlus + muxspace train
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("specs", nargs="+", help="data specs, e.g. ferplus:PATH muxspace:PATH")
    ap.add_argument("--out", required=True, help="folder set to write")
    ap.add_argument("--split", default="train", choices=("train", "val", "test"))
    ap.add_argument("--framing", default="ferplus", choices=("ferplus", "arcface"))
    ap.add_argument("--size", type=int, default=48, help="side of the written crops")
    ap.add_argument("--rgb", action="store_true", help="keep colour (default: grey)")
    args = ap.parse_args()

    from vnaw.data.static import read_spec
    from vnaw.errors import VnawError
    from vnaw.inference.quiet import native_stderr_silenced

    try:  # every set is read before any work: a bad path fails at once, in one line
        sets = {spec: read_spec(spec, args.split) for spec in args.specs}
    except VnawError as err:
        print(f"reframe_faces: {err}", file=sys.stderr)
        sys.exit(2)
    with native_stderr_silenced():  # MediaPipe's start-up chatter; counts go to stdout
        run(args, sets)


def run(args: argparse.Namespace, sets: dict) -> None:
    from PIL import Image

    from vnaw.data.static import parse_spec
    from vnaw.faces.align import align
    from vnaw.faces.detectors import MediaPipeFaces, still_image_points
    from vnaw.faces.types import FaceConfig
    from vnaw.files import atomic_path
    from vnaw.labels import CLASSES
    from vnaw.models.preprocess import crop_to_input_size

    out = Path(args.out) / args.split
    channels = 3 if args.rgb else 1
    detector = MediaPipeFaces(FaceConfig(max_faces=1, detect_every=1))
    for spec, images in sets.items():
        reader = parse_spec(spec)[0]
        written = skipped = missed = 0
        for path, label in zip(images.paths, images.labels, strict=True):
            dst = out / CLASSES[label] / f"{reader}_{path.stem}.png"
            if dst.exists():
                skipped += 1
                continue
            with Image.open(path) as im:
                rgb = np.array(im.convert("RGB"))
            points = still_image_points(detector, rgb)
            if points is None:
                missed += 1
                continue
            crop = crop_to_input_size(align(rgb, points, 224, args.framing), args.size, channels)
            with atomic_path(dst) as tmp:
                Image.fromarray(crop[0] if channels == 1 else crop.transpose(1, 2, 0)).save(tmp)
            written += 1
        print(f"{spec}: {written} written, {skipped} already there, {missed} without a face found")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
