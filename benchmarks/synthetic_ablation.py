"""Table 2 on synthetic data: does augmentation help, does NAW help, which V-NAW level is better?

Prepares the demo's synthetic data set, NLA-pretrained encoder and feature store (reused if present),
then trains the four Table 2 rows (none / Aug / NAW / both) with the demo configuration on the
*noisy* training labels, at clip level (the paper) and at frame level (the authors' code), for
several seeds, and scores every run on the validation videos against the *clean* labels. A run on
the clean training labels (both Aug and NAW) gives the ceiling. Runs are resumable: rerunning skips
finished ones.

    python benchmarks/synthetic_ablation.py --out runs/synthetic-ablation --seeds 0 1 2 \
        [--levels clip frame] [--set loss.detach=true …] [--json PATH]

``--json PATH`` writes macro-F1 mean ± std per row and level for ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _results import add_json_option, write_results
from vnaw.demo import demo_config, prepare_synthetic
from vnaw.evaluation.experiments import ablation, run_and_score
from vnaw.evaluation.tables import ResultRow, to_markdown


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default="runs/synthetic-ablation")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--levels", nargs="+", default=["clip", "frame"], choices=["clip", "frame"])
    ap.add_argument("--epochs", type=int, help="V-NAW epochs (default: the demo config's)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    add_json_option(ap)
    args = ap.parse_args()
    out = Path(args.out)
    data, store = prepare_synthetic(out / "prepared", progress=False)
    extra = ["trainer.progress_bar=false", *args.set] + (
        [f"optim.epochs={args.epochs}"] if args.epochs else []
    )

    summary, table = {}, []
    for level in args.levels:
        base = demo_config(data, store, out / level, [f"loss.level={level}", *extra])
        print(f"\n## V-NAW at {level} level, noisy training labels, scored on clean labels\n")
        print(ablation(base, out / level, args.seeds, score="clean labels"), flush=True)
        rows = json.loads((out / level / "table2.json").read_text())
        summary[level] = {r["name"]: r["mean"]["Avg"] for r in rows}
        table += [
            {
                "level": level,
                "row": r["name"],
                "macro-F1 %": r["mean"]["Avg"],
                "± std": r["std"]["Avg"],
            }
            for r in rows
        ]

    ceiling = []
    for seed in args.seeds:
        cfg = demo_config(data, store, out / "clean-ceiling" / f"seed{seed}", extra)
        cfg.data.clean_labels, cfg.trainer.seed = True, seed
        ceiling.append(run_and_score(cfg, "clean labels", progress=False))
    print("\n## Ceiling: clean training labels (the demo configuration)\n")
    print(to_markdown([ResultRow("clean", ceiling)], first_column="Run"))
    summary["clean ceiling"] = float(100 * np.mean([c.mean() for c in ceiling]))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    write_results(
        args.json,
        {
            "seeds": args.seeds,
            "overrides": extra,
            "noisy training labels, scored on clean labels": table,
            "clean-label ceiling macro-F1 %": summary["clean ceiling"],
            "clean-label ceiling ± std": float(100 * np.std([c.mean() for c in ceiling])),
        },
    )


if __name__ == "__main__":
    main()
