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

``--person-baseline subtract token`` adds a comparison of the demo configuration as it is (frame
level, NAW, frame skipping) with and without ``model.person_baseline`` (design §6.1);
``--only-person-baseline`` runs just that. The data has the generator's default share of people with
an expressive resting face; ``--resting-share 0`` makes it without (a separate prepared data set).

    python benchmarks/synthetic_ablation.py --out runs/person-baseline --seeds 0 1 2 \
        --person-baseline subtract token --only-person-baseline
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _results import add_json_option, write_results
from vnaw.demo import demo_config, prepare_synthetic
from vnaw.evaluation.tables import ResultRow, to_markdown
from vnaw.experiments import ablation, run_and_score


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
    ap.add_argument(
        "--person-baseline", nargs="+", default=[], choices=["subtract", "token"], metavar="MODE"
    )
    ap.add_argument("--only-person-baseline", action="store_true")
    ap.add_argument("--resting-share", type=float, help="generator's resting_share (default its)")
    args = ap.parse_args()
    out = Path(args.out)
    synth = {} if args.resting_share is None else {"resting_share": args.resting_share}
    data, store = prepare_synthetic(out / "prepared", progress=False, synth=synth)
    extra = ["trainer.progress_bar=false", *args.set] + (
        [f"optim.epochs={args.epochs}"] if args.epochs else []
    )

    summary, table = {}, []
    if args.person_baseline:
        summary["person baseline"] = person_baseline_rows(
            data, store, out / "person-baseline", args.seeds, args.person_baseline, extra
        )
    if args.only_person_baseline:
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        figures = {"person baseline": summary["person baseline"]["table"]}
        write_results(args.json, {"seeds": args.seeds, "overrides": extra, **figures})
        return
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
            **(
                {"person baseline": summary["person baseline"]["table"]}
                if args.person_baseline
                else {}
            ),
        },
    )


def person_baseline_rows(
    data: Path, store: Path, out: Path, seeds: list[int], modes: list[str], extra: list[str]
) -> dict:
    """The demo configuration with ``model.person_baseline`` none and each of ``modes``; prints the
    table (clean labels) and macro-F1 of the validation people with and without a resting face."""
    from vnaw.evaluation.tables import to_json

    rows, by_face = [], {}
    for mode in ["none", *modes]:
        runs, faces = [], []
        for seed in seeds:
            run = out / mode / f"seed{seed}"
            cfg = demo_config(data, store, run, [f"model.person_baseline={mode}", *extra])
            cfg.trainer.seed = seed
            runs.append(run_and_score(cfg, "clean labels", progress=False))
            faces.append(resting_split_f1(data, run / "eval" / "predictions.csv"))
        rows.append(ResultRow(mode, runs))
        by_face[mode] = {
            k: [float(np.mean([f[k] for f in faces])), float(np.std([f[k] for f in faces], ddof=1))]
            for k in faces[0]
        }
    md = to_markdown(rows, first_column="person_baseline")
    print("\n## Person baseline: demo configuration, noisy training labels, clean-label scores\n")
    print(md)
    print("macro-F1 % (mean, sd over seeds) of validation tracks by resting face:")
    print(json.dumps(by_face, indent=2))
    (out / "table.md").write_text(md)
    (out / "table.json").write_text(to_json(rows))
    result = {r.name: [100 * float(r.stats()[0][-1]), 100 * float(r.stats()[1][-1])] for r in rows}
    table = [
        {
            "person_baseline": mode,
            "macro-F1 %": mean,
            "± std": sd,
            **{f"{k} (mean)": v[0] for k, v in by_face[mode].items()},
        }
        for mode, (mean, sd) in result.items()
    ]
    return {"macro_f1": result, "by_resting_face": by_face, "table": table}


def resting_split_f1(data: Path, predictions: Path) -> dict[str, float]:
    """Macro-F1 (clean labels) of the validation tracks whose person has an expressive resting
    face and of the others, and the share of those people's Neutral frames (clean) that are read
    as their resting class: the bias a person baseline should remove."""
    import pandas as pd

    from vnaw.data.synth import load_clean_labels
    from vnaw.evaluation.metrics import macro_f1
    from vnaw.labels import CLASSES

    info = json.loads((data / "synth.json").read_text())
    face = {t["name"]: t.get("resting_face", "Neutral") for t in info["track_list"]}
    clean = load_clean_labels(data)
    table = pd.read_csv(predictions)
    groups: dict[str, tuple[list, list]] = {"resting face": ([], []), "neutral face": ([], [])}
    misread = [0, 0]
    for name, rows in table.groupby("video"):
        y = clean[str(name)][rows["frame"].to_numpy() - 1]
        p = rows["pred_index"].to_numpy()
        rest = face.get(str(name), "Neutral")
        ys, ps = groups["neutral face" if rest == "Neutral" else "resting face"]
        ys.append(y)
        ps.append(p)
        if rest != "Neutral":
            misread[0] += int(((y == 0) & (p == CLASSES.index(rest))).sum())
            misread[1] += int((y == 0).sum())
    out = {
        f"macro-F1, {k}": 100 * macro_f1(np.concatenate(ys), np.concatenate(ps))[1]
        for k, (ys, ps) in groups.items()
        if ys
    }
    out["Neutral read as the resting class %"] = 100 * misread[0] / max(misread[1], 1)
    return out


if __name__ == "__main__":
    main()
