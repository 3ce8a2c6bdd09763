"""Command line of :mod:`vnaw.models.dlib_trunk`: dlib's face-recognition network as a timm trunk.

    python scripts/dlib_trunk.py dlib_face_recognition_resnet_model_v1.dat \\
        --ferplus FERPLUS_DIR --size 96 --out runs/dlib_trunk.safetensors

It prints the ``KEY=VALUE`` overrides that describe this trunk to ``vnaw pretrain``.
"""

from __future__ import annotations

import argparse
import sys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dat", help="dlib_face_recognition_resnet_model_v1.dat")
    ap.add_argument("--ferplus", required=True, help="FERPlus folder (norm calibration)")
    ap.add_argument("--size", type=int, default=96, help="input side the trunk will train at")
    ap.add_argument("--images", type=int, default=2048, help="calibration faces")
    ap.add_argument("--out", required=True, help="trunk weights to write (.safetensors)")
    args = ap.parse_args()

    from vnaw.data.static import read_ferplus
    from vnaw.errors import VnawError
    from vnaw.models.dlib_trunk import read_dat, write_trunk

    try:
        layers = read_dat(args.dat)  # first: a wrong file fails before FERPlus is indexed
        faces = read_ferplus(args.ferplus, "train").paths
        settings = write_trunk(layers, faces, args.out, args.size, args.images)
    except VnawError as err:
        print(f"dlib_trunk: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"wrote {args.out}; train it with: vnaw pretrain " + " ".join(settings) + " --data …")


if __name__ == "__main__":
    main()
