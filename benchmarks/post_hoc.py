"""Post-hoc encoder variants that need no training: weight averaging and logit adjustment.

* ``--average A B ...``: a weight average ("model soup") of encoders of one architecture, e.g. the
  shipped encoder and one fine-tuned from it (``--mix`` gives the weights, default equal). Batch
  norm running statistics are averaged like the weights.
* ``--tau T --prior DATA ...`` (data specs): logit adjustment (Menon et al. 2021) baked into the
  head bias:
  ``b_k ← b_k − T·log π_k`` with ``π`` the class frequencies of the training specs, which moves
  decisions toward rare classes.

Writes one encoder pair (``--out STEM``), to be scored with ``benchmarks/cross_domain.py --split
val`` (choices) and then ``--split test`` (reporting)::

    python benchmarks/post_hoc.py --average default runs/a/encoder --out runs/soup
    python benchmarks/post_hoc.py --average runs/a/encoder --tau 0.3 \\
        --prior ferplus:../shared/data/ferplus muxspace:../shared/data/muxspace --out runs/la03

It measures nothing itself; ``--json PATH`` records what it made (inputs, weights, class prior).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from _results import add_json_option, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--average", nargs="+", required=True, help="'default' and/or encoder files")
    ap.add_argument("--mix", nargs="+", type=float, help="weights of --average (default equal)")
    ap.add_argument("--tau", type=float, default=0.0, help="logit-adjustment strength")
    ap.add_argument("--prior", nargs="+", default=[], help="training specs for the class prior")
    ap.add_argument("--out", required=True, help="output stem")
    ap.add_argument("--half", action="store_true", help="store fp16 weights")
    add_json_option(ap)
    args = ap.parse_args()

    from vnaw import ImageClassifier
    from vnaw.data.static import read_specs
    from vnaw.labels import NUM_CLASSES

    models = [ImageClassifier.load(a) for a in args.average]
    mix = np.asarray(args.mix or [1.0] * len(models), dtype=np.float64)
    if len(mix) != len(models):
        raise SystemExit("--mix needs one weight per --average encoder")
    mix = mix / mix.sum()
    out = models[0]
    states = [m.state_dict() for m in models]
    avg = {}
    for k, v in states[0].items():
        if v.is_floating_point():
            avg[k] = sum(float(w) * s[k] for w, s in zip(mix, states, strict=True))
        else:  # e.g. num_batches_tracked
            avg[k] = v
    out.load_state_dict(avg)
    if args.tau:
        if not args.prior:
            raise SystemExit("--tau needs --prior training specs")
        counts = read_specs(args.prior, "train").class_counts().astype(np.float64)
        prior = np.maximum(counts, 1.0) / max(counts.sum(), 1.0)
        print("prior:", np.round(prior, 4).tolist())
        with torch.no_grad():
            out.head.bias -= torch.tensor(args.tau * np.log(prior), dtype=out.head.bias.dtype)
        assert out.head.bias.shape[0] == NUM_CLASSES
    w, m = out.save(args.out, half=args.half)
    print(f"wrote {w} and {m}")
    write_results(
        args.json,
        {
            "averaged": [
                {"encoder": a, "weight": float(x)} for a, x in zip(args.average, mix, strict=True)
            ],
            "tau": args.tau,
            "class prior": np.round(prior, 4).tolist() if args.tau else None,
            "written": [str(w), str(m)],
        },
    )


if __name__ == "__main__":
    main()
