"""Table 1 / Table 2 writers on known inputs."""

import json

import numpy as np
import pytest

from vnaw.evaluation.tables import ResultRow, to_json, to_markdown


def test_table1_single_run_matches_paper_row():
    official = np.array([57.12, 45.76, 33.45, 23.34, 43.67, 50.12, 30.23, 50.82]) / 100
    md = to_markdown([ResultRow("Official", [official])])
    lines = md.splitlines()
    assert (
        lines[0]
        == "| Val Set | Neutral | Anger | Disgust | Fear | Happiness | Sadness | Surprise | Other | Avg. |"
    )
    # the paper's Table 1 average of this row is 41.81
    assert (
        lines[2]
        == "| Official | 57.12 | 45.76 | 33.45 | 23.34 | 43.67 | 50.12 | 30.23 | 50.82 | 41.81 |"
    )


def test_table2_flags_and_seeds():
    a = np.full(8, 0.30)
    b = np.full(8, 0.40)
    rows = [
        ResultRow("none", [a, b], {"Aug": False, "NAW": False}),
        ResultRow("both", [b], {"Aug": True, "NAW": True}),
    ]
    md = to_markdown(rows, first_column="Run")
    lines = md.splitlines()
    assert lines[0].startswith("| Aug | NAW | Run | Neutral")
    std = np.std([30.0, 40.0], ddof=1)  # 7.07
    assert lines[2] == "|  |  | none | " + " | ".join([f"35.00 ± {std:.2f}"] * 9) + " |"
    assert lines[3].startswith("| ✓ | ✓ | both | 40.00")
    data = json.loads(to_json(rows))
    assert data[0]["mean"]["Avg"] == pytest.approx(35.0)
    assert data[0]["std"]["Neutral"] == pytest.approx(std, abs=1e-4)
    assert data[1]["Aug"] is True and data[1]["runs"] == [[40.0] * 8]
