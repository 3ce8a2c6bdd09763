"""Cross-domain benchmark of image encoders against ``fer`` (FERPlus test, muxspace held-out).

Scores, in one run and on identical uint8 inputs, one or more vnaw encoders (the shipped one by
default, any encoder file with ``--encoder``) through the public API
(``ImageClassifier.from_default()/from_file(...).predict_proba``, mirror average as by default)
and ``fer`` 25.10.3's classifier (run in its own Python, ``--fer-python``; its set-up is in
``benchmarks/predict_speed.py``) on:

* **FERPlus test**, majority protocol (design §3.2), the 48×48 grey images as stored;
* **muxspace held-out**: the fixed, person-disjoint ``test`` part of
  :mod:`vnaw.data.muxspace` (≈ 30 % of the images, never trained on), each whole image as stored
  (mostly 350×350, grey or RGB; its faces are framed about as tightly as FERPlus's).
  ``--split val`` scores FERPlus valid and the muxspace validation part instead: every choice of
  recipe, checkpoint or post-hoc setting is made there, never on the two sets above.

``fer`` has no contempt class, so every set is scored in two views:

* ``7-class``: images labelled contempt (Other) are left out and every system chooses among the 7
  classes both share (vnaw's Other column is dropped before the argmax) — the fair comparison;
* ``8-way``: all images, vnaw's 8-way argmax; ``fer`` can never answer Other, so its contempt
  images count as errors.

Accuracy and macro-F1 are over the classes present in the labels of the view; per-class F1 and a
confusion-matrix PNG per (set, view, system) go to ``--out``, with ``results.json``. ``fer`` sees
each crop as its own pipeline feeds its classifier: grey (BT.601, OpenCV), ``cv2.resize`` to
64×64, ``/255``, ``(x − 0.5)·2``; vnaw's encoders get the same crop through ``predict_proba``.

Run::

    python benchmarks/cross_domain.py --ferplus ../shared/data/ferplus \\
        --muxspace ../shared/data/muxspace --fer-python ../fer-venv/bin/python \\
        [--encoder default runs/x/encoder default+runs/x/encoder ...] --out bench-cross-domain

``--json PATH`` writes the scores for ``benchmarks/RESULTS.md``; the shipped encoder's are in its
model card (``src/vnaw/weights/MODEL_CARD.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _results import add_json_option, write_results
from fer_peer import python_program

# fer's class order (fer.FER._get_labels) → design §2 class names.
FER_CLASSES = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Neutral")

# Runs in the fer environment. fer imports TensorFlow at import time but, in its default TFLite
# mode, only uses tf.lite.Interpreter, which ai_edge_litert provides.
FER_SCRIPT = r"""
import sys, types
import numpy as np
from ai_edge_litert.interpreter import Interpreter
tf = types.ModuleType("tensorflow"); tf.lite = types.SimpleNamespace(Interpreter=Interpreter)
keras = types.ModuleType("tensorflow.keras"); models = types.ModuleType("tensorflow.keras.models")
models.load_model = None; keras.models = models; tf.keras = keras
sys.modules.update({"tensorflow": tf, "tensorflow.keras": keras, "tensorflow.keras.models": models})
import cv2
cv2.setNumThreads(1)
from fer.fer import FER
data = np.load(sys.argv[1])
detector = FER()
faces = []
for i in range(int(data["n"])):
    img = data[f"i{i}"]
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    faces.append(cv2.resize(grey, (64, 64)))  # as detect_emotions does, default interpolation
x = (np.asarray(faces, dtype=np.float32) / 255.0 - 0.5) * 2.0
out = [detector._classify_emotions(x[s : s + 256]) for s in range(0, len(x), 256)]
np.save(sys.argv[2], np.concatenate(out).astype(np.float32))
"""


def load_set(name: str, root: str, split: str) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """``(uint8 crops as stored, design §2 labels, file names)`` of one benchmark set."""
    from PIL import Image

    from vnaw.data.static import read_spec

    imgs = read_spec(f"{name}:{root}", split)
    crops = []
    for p in imgs.paths:
        with Image.open(p) as im:
            # Grey files stay grey; colour stays colour, so each system converts as it would.
            crops.append(np.array(im.convert("L" if im.mode in ("L", "LA", "1") else "RGB")))
    return crops, imgs.labels, [p.name for p in imgs.paths]


def fer_proba(python: str, crops: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """``fer``'s probabilities in design §2 column order ``(N, 8)`` (Other = 0) and seconds taken."""
    from vnaw.labels import class_index

    with tempfile.TemporaryDirectory() as tmp:
        inputs, out, script = Path(tmp) / "in.npz", Path(tmp) / "out.npy", Path(tmp) / "fer_run.py"
        np.savez(inputs, n=len(crops), **{f"i{i}": c for i, c in enumerate(crops)})
        script.write_text(FER_SCRIPT)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        t0 = time.perf_counter()
        subprocess.run(
            [python, str(script), str(inputs), str(out)],
            env=env,
            check=True,
            cwd=tmp,
            capture_output=True,
        )
        seconds = time.perf_counter() - t0
        raw = np.load(out)
    proba = np.zeros((len(crops), 8), dtype=np.float32)
    for j, name in enumerate(FER_CLASSES):
        proba[:, class_index(name)] = raw[:, j]
    return proba, seconds


class Ensemble:
    """``--encoder A+B+…``: the mean of the members' probabilities (each face + mirror)."""

    def __init__(self, members: list) -> None:
        self.members = members

    def predict_proba(self, crops: list[np.ndarray], flip: bool = True) -> np.ndarray:
        return np.mean([m.predict_proba(crops, flip=flip) for m in self.members], axis=0)


def score(labels: np.ndarray, proba: np.ndarray, seven: bool) -> dict:
    """Metrics of one view; ``seven``: contempt images out, Other column out of the argmax."""
    from vnaw.evaluation.metrics import confusion_matrix
    from vnaw.labels import CLASSES, class_index

    other = class_index("Other")
    keep = labels != other if seven else np.ones(len(labels), dtype=bool)
    p = proba[keep].copy()
    if seven:
        p[:, other] = -np.inf
    pred = p.argmax(1)
    cm = confusion_matrix(labels[keep], pred)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1)
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    present = cm.sum(1) > 0
    return {
        "n": int(cm.sum()),
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1[present].mean()),
        "per_class_f1": {c: (float(f1[i]) if present[i] else None) for i, c in enumerate(CLASSES)},
        "support": {c: int(cm.sum(1)[i]) for i, c in enumerate(CLASSES)},
        "confusion": cm.tolist(),
    }


def markdown(rows: list[dict]) -> str:
    from vnaw.labels import CLASSES

    head = ["set", "view", "system", "n", "accuracy %", "macro-F1 %", *CLASSES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m = r["metrics"]
        f1 = [
            "—" if m["per_class_f1"][c] is None else f"{100 * m['per_class_f1'][c]:.2f}"
            for c in CLASSES
        ]
        cells = [r["set"], r["view"], r["system"], str(m["n"])]
        cells += [f"{100 * m['accuracy']:.2f}", f"{100 * m['macro_f1']:.2f}", *f1]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ferplus", required=True, help="FERPlus root (FER2013Test/label.csv)")
    ap.add_argument("--muxspace", required=True, help="muxspace root (labels.csv, images/)")
    ap.add_argument(
        "--split",
        default="test",
        choices=["test", "val"],
        help="test = FERPlus test + muxspace held-out (default); val = both validation parts",
    )
    ap.add_argument(
        "--encoder",
        nargs="+",
        default=["default"],
        help="'default' (the shipped encoder), 'default-nobias' (the same without its logit-bias "
        "file) and/or encoder files, or 'A+B+…' for the mean probabilities of several; all scored "
        "in the same run",
    )
    ap.add_argument(
        "--fer-python",
        type=python_program,
        help="Python of an environment with fer (set-up: predict_speed.py)",
    )
    ap.add_argument("--no-flip", dest="flip", action="store_false", help="no mirror average")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench-cross-domain"))
    add_json_option(ap)
    args = ap.parse_args()

    import torch

    from vnaw import ImageClassifier
    from vnaw.evaluation.plots import plot_confusion

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    test = args.split == "test"
    sets = {
        f"FERPlus {'test' if test else 'valid'}": load_set("ferplus", args.ferplus, args.split),
        f"muxspace {'held-out' if test else 'val'}": load_set(
            "muxspace", args.muxspace, args.split
        ),
    }
    systems = {}
    for enc in args.encoder:
        # "default-nobias": the shipped encoder without its decision offsets (the file beside it,
        # applied by predict_proba), to score them before/after in one run.
        bare = enc == "default-nobias"
        name = "vnaw default" if enc == "default" else f"vnaw {enc}"
        members = [ImageClassifier.load("default" if bare else e) for e in enc.split("+")]
        if bare:
            members[0].logit_bias = None
        systems[name] = members[0] if len(members) == 1 else Ensemble(members)
    rows, timing = [], {}
    for set_name, (crops, labels, _) in sets.items():
        probas = {}
        for name, model in systems.items():
            t0 = time.perf_counter()
            probas[name] = model.predict_proba(crops, flip=args.flip)
            timing[f"{set_name} / {name}"] = time.perf_counter() - t0
        if args.fer_python:
            probas["fer 25.10.3"], timing[f"{set_name} / fer"] = fer_proba(args.fer_python, crops)
        for view, seven in (("7-class", True), ("8-way", False)):
            for name, proba in probas.items():
                m = score(labels, proba, seven)
                rows.append({"set": set_name, "view": view, "system": name, "metrics": m})
                slug = "_".join(
                    "".join(ch if ch.isalnum() else "-" for ch in s).strip("-")
                    for s in (set_name, view, name)
                )
                plot_confusion(
                    np.array(m["confusion"]),
                    args.out / f"confusion_{slug}.png",
                    f"{name}: {set_name}, {view} (n = {m['n']})",
                )
    table = markdown(rows)
    print(table)
    print("\nseconds to score each set (1 thread):")
    for k, v in timing.items():
        print(f"  {k}: {v:.1f}")
    (args.out / "results.json").write_text(
        json.dumps({"rows": rows, "seconds": timing, "flip": args.flip}, indent=2) + "\n"
    )
    (args.out / "table.md").write_text(table + "\n")
    print(f"\nwrote {args.out}/results.json, table.md and confusion_*.png")
    write_results(
        args.json,
        {
            "split": args.split,
            "mirror average": args.flip,
            "scores": [
                {
                    "set": r["set"],
                    "view": r["view"],
                    "system": r["system"],
                    "n": r["metrics"]["n"],
                    "accuracy %": 100 * r["metrics"]["accuracy"],
                    "macro-F1 %": 100 * r["metrics"]["macro_f1"],
                    **{
                        f"F1 {c} %": None if v is None else 100 * v
                        for c, v in r["metrics"]["per_class_f1"].items()
                    },
                }
                for r in rows
            ],
            "seconds to score": [{"set / system": k, "s": v} for k, v in timing.items()],
        },
    )


if __name__ == "__main__":
    sys.exit(main())
