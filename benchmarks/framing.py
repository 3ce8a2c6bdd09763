"""How faces are framed, and what the framing does to an encoder — design §4.

`vnaw predict` crops each face by warping its 5 landmarks (MediaPipe) onto a template. An encoder
learns the framing of its training images, so the crop should match it. This benchmark:

1. **measures** where FERPlus's and muxspace's stored images put the 5 points: MediaPipe on each
   image (upscaled to ≥ 192 px and padded, since FERPlus's faces fill their 48 px), mean position in
   the unit square, next to the two templates of :mod:`vnaw.faces.align` (``ferplus`` is the
   mirror-symmetrised mean of a seeded sample of 4,000 FERPlus training images);
2. **scores** encoders on the faces MediaPipe finds, three ways: the stored image, the face
   re-aligned onto the ArcFace template, and onto the FERPlus template (224 px crops, then the
   encoder's own resize), each face alone (as `vnaw predict` runs it) and with its mirror.
   Choices are made on FERPlus valid and muxspace val; ``--split test`` reports FERPlus test and
   the muxspace held-out part. 7-class view of ``benchmarks/cross_domain.py`` (contempt left
   out);
3. **zooms** the stored images (the face 0.75–1.5× as large in its crop, as other detectors or
   data sets frame faces) to show how fast an encoder's accuracy falls away from its framing.

Run (≈ 6 min on one core; ``framing.png`` shows example crops)::

    python benchmarks/framing.py --ferplus ../shared/data/ferplus \\
        --muxspace ../shared/data/muxspace [--encoder default RUN/encoder] [--split test]

``--json PATH`` writes the scores for ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _results import add_json_option, write_results
from cross_domain import load_set, score

ZOOMS = (0.75, 0.85, 1.15, 1.3, 1.5)  # the stored crop zoomed: how much framing matters
SETS = {"val": ("ferplus@val", "muxspace@val"), "test": ("ferplus@test", "muxspace@test")}


def zoom(img: np.ndarray, factor: float) -> np.ndarray:
    """``img`` with its content scaled by ``factor`` about the centre (> 1: the face fills more of
    the crop, as a tighter detector box gives), borders replicated."""
    import cv2

    h, w = img.shape[:2]
    m = np.array([[factor, 0, (1 - factor) * w / 2], [0, factor, (1 - factor) * h / 2]])
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def rgb_of(crop: np.ndarray) -> np.ndarray:
    return np.repeat(crop[..., None], 3, axis=2) if crop.ndim == 2 else crop


def find_points(detector, crops: list[np.ndarray]) -> list[np.ndarray | None]:
    from vnaw.faces.detectors import still_image_points

    return [still_image_points(detector, rgb_of(c)) for c in crops]


def unit_mean(points: list[np.ndarray | None], crops: list[np.ndarray]) -> np.ndarray:
    """Mean 5 points in the unit square over the images with a face."""
    found = [
        p / np.array(c.shape[1::-1]) for p, c in zip(points, crops, strict=True) if p is not None
    ]
    return np.mean(found, axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ferplus", required=True, help="FERPlus root")
    ap.add_argument("--muxspace", required=True, help="muxspace root")
    ap.add_argument("--encoder", nargs="+", default=["default"], help="'default' or encoder files")
    ap.add_argument("--split", choices=sorted(SETS), default="val")
    ap.add_argument("--sample", type=int, default=4000, help="FERPlus training images measured")
    ap.add_argument("--out", default="bench-framing", help="output folder")
    add_json_option(ap)
    args = ap.parse_args()

    from vnaw.inference.quiet import native_stderr_silenced

    with native_stderr_silenced():  # MediaPipe's start-up chatter; results go to stdout
        run(args)


def run(args: argparse.Namespace) -> None:
    import cv2
    import torch

    from vnaw.faces.align import TEMPLATES, align
    from vnaw.faces.detectors import MediaPipeFaces
    from vnaw.faces.types import FaceConfig
    from vnaw.models.encoder import ImageClassifier

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    detector = MediaPipeFaces(FaceConfig(max_faces=1, detect_every=1))
    roots = {"ferplus": args.ferplus, "muxspace": args.muxspace}
    result: dict = {"templates": {k: v.round(4).tolist() for k, v in TEMPLATES.items()}}

    t0 = time.perf_counter()
    crops, _, _ = load_set("ferplus", args.ferplus, "train")
    pick = np.sort(np.random.default_rng(0).choice(len(crops), args.sample, replace=False))
    sample = [crops[i] for i in pick]
    pts = find_points(detector, sample)
    result["ferplus_train_mean"] = unit_mean(pts, sample).round(4).tolist()
    result["ferplus_train_found"] = [sum(p is not None for p in pts), len(pts)]
    print(
        f"FERPlus train: face found in {result['ferplus_train_found'][0]} of {len(pts)}; "
        f"mean 5 points {result['ferplus_train_mean']}",
        flush=True,
    )

    encoders = {name: ImageClassifier.load(name) for name in args.encoder}
    rows, examples = [], []
    for spec in SETS[args.split]:
        name, split = spec.split("@")
        crops, labels, _ = load_set(name, roots[name], split)
        pts = find_points(detector, crops)
        found = [i for i, p in enumerate(pts) if p is not None]
        result[f"{spec}_mean"] = unit_mean(pts, crops).round(4).tolist()
        print(
            f"{spec}: face found in {len(found)} of {len(crops)}; "
            f"mean 5 points {result[f'{spec}_mean']}",
            flush=True,
        )
        views = {"stored image": [crops[i] for i in found]}
        for z in ZOOMS:
            views[f"stored image, face ×{z}"] = [zoom(crops[i], z) for i in found]
        for framing in TEMPLATES:
            views[f"{framing} framing"] = [
                align(rgb_of(crops[i]), pts[i], 224, framing) for i in found
            ]
        examples.append(np.hstack([cv2.resize(rgb_of(v[0]), (112, 112)) for v in views.values()]))
        for enc_name, enc in encoders.items():
            for view, images in views.items():
                for flip in (False, True):
                    m = score(labels[found], enc.predict_proba(images, flip=flip), seven=True)
                    rows.append(
                        {
                            "set": spec,
                            "encoder": enc_name,
                            "crop": view,
                            "mirror": flip,
                            "n": m["n"],
                            "accuracy": m["accuracy"],
                            "macro_f1": m["macro_f1"],
                        }
                    )
    result["rows"] = rows
    lines = ["| set | encoder | crop | mirror | n | accuracy % | macro-F1 % |", "|" + "---|" * 7]
    lines += [
        f"| {r['set']} | {r['encoder']} | {r['crop']} | {'yes' if r['mirror'] else 'no'} | "
        f"{r['n']} | {100 * r['accuracy']:.2f} | {100 * r['macro_f1']:.2f} |"
        for r in rows
    ]
    table = "\n".join(lines)
    print(table)
    (out / "table.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    # One face per set: stored, ArcFace framing, FERPlus framing.
    cv2.imwrite(str(out / "framing.png"), cv2.cvtColor(np.vstack(examples), cv2.COLOR_RGB2BGR))
    print(f"wrote {out}/table.md, results.json, framing.png ({time.perf_counter() - t0:.0f} s)")
    write_results(
        args.json,
        {
            "split": args.split,
            "FERPlus training images measured": args.sample,
            "FERPlus train: faces found": result["ferplus_train_found"],
            "scores (7-class)": [
                {
                    **{k: r[k] for k in ("set", "encoder", "crop", "mirror", "n")},
                    "accuracy %": 100 * r["accuracy"],
                    "macro-F1 %": 100 * r["macro_f1"],
                }
                for r in rows
            ],
        },
    )


if __name__ == "__main__":
    main()
