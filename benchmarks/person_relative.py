"""Raw vs person-relative expression scores, per class — issue 33 (:mod:`vnaw.inference.baseline`).

Scores the shipped encoder (``ImageClassifier.from_default().predict_proba``, mirror average) two
ways on the same inputs: raw (argmax of its probabilities) and relative (against the person's
baseline, with the guard that falls back to raw), on

1. **same-session sequences** (synthetic): per identity, one sequence that starts at rest and
   goes through episodes of every class with onsets and offsets, rendered by the synthetic
   generator's face drawer (:func:`vnaw.data.synth_faces.render_track`, 112 px) with its
   nuisance (pose and lighting drift, occluders, blur, noise). Half of the identities have a
   *resting face* that looks stern, sad or disgusted (``REST_SCALE`` × that class's prototype
   added to their rest parameters): the case a frame classifier cannot handle. Scored on the
   frames whose expression intensity is at least ``APEX`` (Neutral frames: all), each sequence's
   probabilities smoothed over ±7 frames as ``vnaw predict`` does (both raw and relative), the
   baseline estimated from the whole sequence (``--baseline auto``) or from the first ``CALIB``
   frames (calibration; the sequence starts at rest; those frames are not scored).
2. **different sessions** (real): muxspace people with at least ``MIN_IMAGES`` images, each
   person's images taken as one group (``predict_relative(images)``: baseline from the group);
   they are photos from other days, lighting and pose, where a baseline hurts — the guard must
   keep relative accuracy within 1 point of raw.

``--dev`` runs the developer part used to choose :class:`~vnaw.inference.baseline.BaselineConfig`:
synthetic seeds 100–101 and the muxspace ``train``+``val`` people; ``--sweep`` prints accuracy
over margins and guard thresholds there. The reported part is synthetic seeds 0–2 and the muxspace
held-out (``test``) people, never used to choose anything.

Run::

    python benchmarks/person_relative.py --muxspace ../shared/data/muxspace --out bench-rel

Encoder outputs are cached under ``--out`` (resumable); results go to ``OUT/results.json`` and a
Markdown table on stdout. The shipped encoder's decision offsets are applied as ``predict_proba``
does (``--no-logit-bias``: without them). Results: ``docs/person-relative.md``. Same-session data
is synthetic: no real same-session set is available here.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from _results import add_json_option, write_results
from vnaw.inference.baseline import (
    BaselineConfig,
    appearance,
    baseline_from,
    log_probs,
    relative_scores,
    track_baseline,
)
from vnaw.labels import CLASSES

REST_SCALE = 0.5  # resting-face offset: this share of a class prototype (stern, sad, disgusted)
REST_CLASSES = (1, 2, 5)  # Anger, Disgust, Sadness
APEX = 0.5  # expressive frames scored where the intensity profile reaches this
CALIB = 30  # frames at the start of each sequence: at rest (calibration mode's baseline)
MIN_IMAGES = 2  # muxspace people with at least this many images in the part
IDENTITIES = 8


def synth_sequence(seed: int, k: int, rng: np.random.Generator):
    """One identity's sequence: ``(frames (N, 112, 112, 3), labels (N,), intensity (N,))``."""
    from vnaw.data.synth import SynthConfig
    from vnaw.data.synth_episodes import intensity_profile
    from vnaw.data.synth_faces import PROTOTYPES, make_identities, render_track

    ident = make_identities(1, rng)[0]
    if k % 2:  # half of the people look stern, disgusted or sad at rest
        rest = ident.rest + REST_SCALE * PROTOTYPES[REST_CLASSES[(k // 2) % len(REST_CLASSES)]]
        ident = replace(ident, rest=rest)
    classes = [0] + [int(c) for c in rng.permutation(np.arange(1, 8))]
    labels, prof = [np.zeros(CALIB, np.int64)], [np.zeros(CALIB)]
    for c in classes[1:]:
        n = int(rng.integers(25, 45))
        labels.append(np.full(n, c))
        prof.append(intensity_profile(n, rng))
        gap = int(rng.integers(10, 20))  # back to rest between episodes
        labels.append(np.zeros(gap, np.int64))
        prof.append(np.zeros(gap))
    clean, profile = np.concatenate(labels), np.concatenate(prof)
    frames = render_track(ident, clean, profile, SynthConfig(size=112), rng)
    return np.stack(frames), clean, profile


def synth_cache(seed: int, out: Path, model) -> dict[str, np.ndarray]:
    """Encoder probabilities, appearance descriptors, labels of seed ``seed``'s sequences."""
    path = out / f"synth_seed{seed}.npz"
    if path.is_file():
        return dict(np.load(path))
    rng = np.random.default_rng(seed)
    probs, apps, labels, prof, who = [], [], [], [], []
    for k in range(IDENTITIES):
        frames, y, p = synth_sequence(seed, k, rng)
        probs.append(model.predict_proba(list(frames)))
        apps.append(np.stack([appearance(f) for f in frames]))
        labels.append(y), prof.append(p), who.append(np.full(len(y), k))
    data = {
        "probs": np.concatenate(probs),
        "app": np.concatenate(apps),
        "labels": np.concatenate(labels),
        "profile": np.concatenate(prof),
        "person": np.concatenate(who),
    }
    np.savez(path, **data)
    return data


def muxspace_cache(root: Path, out: Path, model) -> dict[str, np.ndarray]:
    """Encoder probabilities and descriptors of every muxspace image, with labels, parts, people."""
    from PIL import Image

    from vnaw.data.muxspace import person_of, read_labels, split_parts

    path = out / "muxspace.npz"
    if path.is_file():
        return dict(np.load(path))
    names, labels = read_labels(root)
    part = np.empty(len(names), dtype="<U5")
    for k, v in split_parts(names, labels).items():
        part[v] = k
    crops = []
    for n in names:
        with Image.open(root / "images" / n) as im:
            crops.append(np.array(im.convert("L" if im.mode in ("L", "LA", "1") else "RGB")))
    data = {
        "probs": model.predict_proba(crops),
        "app": np.stack([appearance(c) for c in crops]),
        "labels": labels,
        "part": part,
        "person": np.array([person_of(n) for n in names]),
    }
    np.savez(path, **data)
    return data


def biased(d: dict, bias) -> dict:
    from vnaw.models.preprocess import apply_logit_bias

    return {**d, "probs": apply_logit_bias(d["probs"], bias)}


def smooth_sequences(d: dict) -> dict:
    """Each sequence's probabilities smoothed over time as ``vnaw predict`` does without a temporal
    model (:class:`~vnaw.inference.streaming.SmoothStream`, ±7 frames)."""
    from vnaw.inference.streaming import SmoothStream

    probs = np.zeros_like(d["probs"])
    for g in np.unique(d["person"]):
        i = np.flatnonzero(d["person"] == g)
        s = SmoothStream()
        s.push(d["probs"][i], np.ones(len(i), bool))
        probs[i] = s.finish()
    return {**d, "probs": probs}


def relative_groups(
    probs, app, groups, cfg: BaselineConfig, calib: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Relative probabilities and guard flags, each group read against its own baseline
    (``calib``: per frame, whether it belongs to the group's calibration recording)."""
    rel, ok = np.array(probs, copy=True), np.zeros(len(probs), bool)
    for g in np.unique(groups):
        i = np.flatnonzero(groups == g)
        a = None if app is None else app[i]
        if calib is None:
            base = track_baseline(log_probs(probs[i]), cfg, a)
        else:
            c = i[calib[i]]
            base = baseline_from(log_probs(probs[c]), cfg, None if app is None else app[c])
        rel[i], ok[i] = relative_scores(probs[i], base, cfg, a)
    return rel, ok


def per_class(labels: np.ndarray, pred: np.ndarray) -> dict:
    out = {"all": float((pred == labels).mean()) if len(labels) else float("nan")}
    out["expressive"] = float((pred == labels)[labels != 0].mean())
    for k, c in enumerate(CLASSES):
        m = labels == k
        out[c] = float((pred[m] == k).mean()) if m.any() else None
    out["mean_class"] = float(np.mean([out[c] for c in CLASSES if out[c] is not None]))
    return out


def score_synth(datas: list[dict], cfg: BaselineConfig, mode: str = "auto") -> dict:
    rows = {"raw": [], "relative": [], "ok": [], "labels": []}
    for d in datas:
        keep = (d["labels"] == 0) | (d["profile"] >= APEX)
        calib = None
        if mode == "calibration":
            first = np.zeros(len(d["labels"]), bool)
            for g in np.unique(d["person"]):
                first[np.flatnonzero(d["person"] == g)[:CALIB]] = True
            calib = first
            keep &= ~first  # the calibration frames themselves are not scored
        rel, ok = relative_groups(d["probs"], d["app"], d["person"], cfg, calib)
        rows["raw"].append(d["probs"].argmax(1)[keep])
        rows["relative"].append(rel.argmax(1)[keep])
        rows["ok"].append(ok[keep])
        rows["labels"].append(d["labels"][keep])
    y = np.concatenate(rows["labels"])
    return {
        "n": len(y),
        "raw": per_class(y, np.concatenate(rows["raw"])),
        "relative": per_class(y, np.concatenate(rows["relative"])),
        "baseline_ok_share": float(np.concatenate(rows["ok"]).mean()),
    }


def score_muxspace(d: dict, parts: tuple[str, ...], cfg: BaselineConfig) -> dict:
    m = np.isin(d["part"], parts)
    people, counts = np.unique(d["person"][m], return_counts=True)
    m &= np.isin(d["person"], people[counts >= MIN_IMAGES])
    probs, app, y, who = d["probs"][m], d["app"][m], d["labels"][m], d["person"][m]
    rel, ok = relative_groups(probs, app, who, cfg)
    out = {
        "n": int(m.sum()),
        "people": int((counts >= MIN_IMAGES).sum()),
        "raw": per_class(y, probs.argmax(1)),
        "relative": per_class(y, rel.argmax(1)),
        "baseline_ok_share": float(ok.mean()),
    }
    # Every group given a baseline (min_frames 1), to show each part of the guard at work:
    # none of it (the plain subtraction), then the per-image appearance check, then all of it.
    every = replace(cfg, min_frames=1, min_neutral=0.0)
    unguarded = relative_groups(probs, None, who, every)[0]
    looks, ok_l = relative_groups(probs, app, who, every)
    full, ok_f = relative_groups(probs, app, who, replace(cfg, min_frames=1))
    out["variants"] = {
        "every group, no guard": (per_class(y, unguarded.argmax(1)), 1.0),
        "every group, appearance guard": (per_class(y, looks.argmax(1)), float(ok_l.mean())),
        "every group, appearance + neutral guard": (
            per_class(y, full.argmax(1)),
            float(ok_f.mean()),
        ),
    }
    return out


def table(results: dict) -> str:
    head = [
        "set",
        "scores",
        "n",
        "all %",
        "expressive %",
        "mean class %",
        *CLASSES,
        "baseline ok %",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        rows = [("raw", r["raw"], None), ("relative", r["relative"], r["baseline_ok_share"])]
        rows += [(k, s, ok) for k, (s, ok) in r.get("variants", {}).items()]
        for kind, s, ok in rows:
            cells = [name, kind, str(r["n"]), *(f"{100 * s[k]:.1f}" for k in ("all", "expressive"))]
            cells.append(f"{100 * s['mean_class']:.1f}")
            cells += ["—" if s[c] is None else f"{100 * s[c]:.1f}" for c in CLASSES]
            cells.append("" if ok is None else f"{100 * ok:.0f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep(synth: list[dict], mux: dict, cfg: BaselineConfig) -> None:
    """Developer data: accuracy over the margin and the guard's thresholds (printed)."""
    print(
        "margin (synthetic dev, auto / calibration): margin, raw all/mean-class, rel all/mean-class"
    )
    for m in (0.5, 1.0, 1.5, 2.0, 3.0):
        for mode in ("auto", "calibration"):
            r = score_synth(synth, replace(cfg, margin=m), mode)
            print(f"  {m:4.2f} {mode:11s} {r['raw']['all']:.3f}/{r['raw']['mean_class']:.3f} "
                  f"{r['relative']['all']:.3f}/{r['relative']['mean_class']:.3f}")  # fmt: skip
    key = "every group, appearance + neutral guard"
    print("guard (min_neutral, max_change, max_light): synthetic dev rel all, ok share; "
          "muxspace train+val, every group: raw / rel all, ok share")  # fmt: skip
    for mn in (0.0, 0.25, 0.5):
        for ch in (0.1, 0.2, 0.3, 0.5):
            for li in (0.1, 0.2, 0.3):
                c = replace(cfg, min_neutral=mn, max_change=ch, max_light=li)
                s, x = score_synth(synth, c), score_muxspace(mux, ("train", "val"), c)
                rel, ok = x["variants"][key]
                print(f"  {mn:4.2f} {ch:4.2f} {li:4.2f}  synth {s['relative']['all']:.3f} "
                      f"ok {s['baseline_ok_share']:.2f}  mux {x['raw']['all']:.3f} / "
                      f"{rel['all']:.3f} ok {ok:.2f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--muxspace", type=Path, required=True, help="muxspace root (labels.csv)")
    ap.add_argument("--out", type=Path, default=Path("bench-person-relative"))
    ap.add_argument("--dev", action="store_true", help="developer part (seeds 100–101, train+val)")
    ap.add_argument("--sweep", action="store_true", help="with --dev: sweep the constants")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--no-logit-bias", action="store_true", help="without the encoder's decision offsets"
    )
    add_json_option(ap)
    args = ap.parse_args()

    import torch

    from vnaw.models.encoder import ImageClassifier

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    model = ImageClassifier.from_default()
    # The cache holds the network's own probabilities; the shipped decision offsets are applied
    # when reading it, as predict_proba does (--no-logit-bias: without them).
    bias, model.logit_bias = model.logit_bias, None
    bias = None if args.no_logit_bias else bias
    cfg = BaselineConfig()
    seeds = (100, 101) if args.dev else (0, 1, 2)
    parts = ("train", "val") if args.dev else ("test",)
    synth = [biased(synth_cache(s, args.out, model), bias) for s in seeds]
    synth = [smooth_sequences(d) for d in synth]
    mux = biased(muxspace_cache(args.muxspace, args.out, model), bias)
    if args.sweep:
        sweep(synth, mux, cfg)
    results = {
        f"synthetic same-session, seeds {seeds}, auto": score_synth(synth, cfg),
        f"synthetic same-session, seeds {seeds}, calibration": score_synth(
            synth, cfg, "calibration"
        ),
        f"muxspace {'+'.join(parts)} people, different sessions": score_muxspace(mux, parts, cfg),
    }
    print(table(results))
    payload = {"config": asdict(cfg), "logit_bias": bias, "results": results}
    name = ("results_dev" if args.dev else "results") + ("_nobias" if args.no_logit_bias else "")
    (args.out / f"{name}.json").write_text(json.dumps(payload, indent=1))
    write_results(args.json, {"raw vs relative (accuracy %)": rows(results), **asdict(cfg)})


def rows(results: dict) -> list[dict]:
    """The Markdown table's rows, as dicts (for the results file)."""
    out = []
    for name, r in results.items():
        kinds = [("raw", r["raw"], None), ("relative", r["relative"], r["baseline_ok_share"])]
        kinds += [(k, s, ok) for k, (s, ok) in r.get("variants", {}).items()]
        for kind, s, ok in kinds:
            row = {"set": name, "scores": kind, "n": r["n"]}
            row |= {k: round(100 * s[k], 1) for k in ("all", "expressive", "mean_class")}
            row |= {c: None if s[c] is None else round(100 * s[c], 1) for c in CLASSES}
            row["baseline ok %"] = None if ok is None else round(100 * ok)
            out.append(row)
    return out


if __name__ == "__main__":
    main()
