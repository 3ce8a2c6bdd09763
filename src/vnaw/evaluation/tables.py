"""Result tables in the layout of the paper's Table 1 (splits) and Table 2 (ablation) — design §8.

Each row holds one or more runs (seeds) of per-class F1 in ``[0, 1]``; cells are percent with two
decimals, ``mean ± std`` (sample std, ``ddof = 1``) when a row has more than one run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vnaw.labels import CLASSES


@dataclass
class ResultRow:
    name: str
    runs: list[np.ndarray]  # each (8,) per-class F1 of one seed
    flags: dict[str, bool] = field(default_factory=dict)  # Table 2: {"Aug": …, "NAW": …}

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std over runs of ``[F1_1 … F1_8, Avg]`` (the std is 0 for a single run)."""
        values = np.array([np.append(r, np.mean(r)) for r in self.runs], dtype=np.float64)
        std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
        return values.mean(axis=0), std


def _cell(mean: float, std: float, n: int) -> str:
    return f"{100 * mean:.2f}" if n == 1 else f"{100 * mean:.2f} ± {100 * std:.2f}"


def to_markdown(rows: Sequence[ResultRow], first_column: str = "Val Set") -> str:
    """Markdown table: flag columns (✓), the 8 classes in design §2 order, then ``Avg.``."""
    flag_names = list(rows[0].flags) if rows else []
    header = [*flag_names, first_column, *CLASSES, "Avg."]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        mean, std = row.stats()
        flags = ["✓" if row.flags[f] else "" for f in flag_names]
        cells = [_cell(m, s, len(row.runs)) for m, s in zip(mean, std, strict=True)]
        lines.append("| " + " | ".join([*flags, row.name, *cells]) + " |")
    return "\n".join(lines) + "\n"


def to_json(rows: Sequence[ResultRow]) -> str:
    """Machine-readable twin of :func:`to_markdown` (F1 in percent)."""
    out = []
    for row in rows:
        mean, std = row.stats()
        out.append(
            {
                "name": row.name,
                **row.flags,
                "runs": [[round(100 * v, 4) for v in r] for r in row.runs],
                "mean": dict(
                    zip([*CLASSES, "Avg"], (round(100 * v, 4) for v in mean), strict=True)
                ),
                "std": dict(zip([*CLASSES, "Avg"], (round(100 * v, 4) for v in std), strict=True)),
            }
        )
    return json.dumps(out, indent=2) + "\n"
