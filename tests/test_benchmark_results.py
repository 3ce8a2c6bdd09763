"""Results files of the benchmarks (benchmarks/_results.py) and RESULTS.md, rendered from them by
benchmarks/make_results.py."""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _results  # noqa: E402
import make_results  # noqa: E402


def test_results_file_holds_machine_command_and_figures(tmp_path):
    path = tmp_path / "sub" / "x.json"
    argv = ["benchmarks/demo_bench.py", "--json", str(path), "--steps", "3", "--json=other"]
    _results.write_results(path, {"frames/s": 12.5, "rows": [{"a": 1}]}, argv)
    record = json.loads(path.read_text())
    assert record["benchmark"] == "demo_bench"
    assert record["command"] == "python benchmarks/demo_bench.py --steps 3"
    assert record["figures"] == {"frames/s": 12.5, "rows": [{"a": 1}]}
    m = record["machine"]
    assert m["cores"] == len(os.sched_getaffinity(0))
    assert m["cpu"] and m["date"].endswith("UTC")
    assert m["commit"] == "unknown" or len(m["commit"].split("+")[0]) >= 7
    _results.write_results(None, {"x": 1}, argv)  # no --json: nothing written, no error


def test_a_value_json_cannot_hold_writes_nothing(tmp_path):
    path = tmp_path / "x.json"
    with pytest.raises(TypeError):
        _results.write_results(path, {"x": object()}, ["b.py"])
    assert not path.exists()


def _record(name: str, figures: dict) -> dict:
    machine = {"date": "2026-01-02 03:04 UTC", "commit": "abc1234", "cpu": "Some CPU", "cores": 2}
    return {
        "benchmark": name,
        "command": f"python benchmarks/{name}.py",
        "machine": machine,
        "figures": figures,
    }


def test_render_lists_figures_tables_and_benchmarks_not_recorded(tmp_path):
    (tmp_path / "startup.json").write_text(
        json.dumps(
            _record(
                "startup",
                {
                    "checks passed": True,
                    "median": 0.08123,
                    "n": 25045.0,
                    "rows": [{"a": 1, "b": None}],
                },
            )
        )
    )
    text = make_results.render(tmp_path)
    assert "## startup (`startup.json`)" in text
    assert "`python benchmarks/startup.py`" in text
    assert "2026-01-02 03:04 UTC, commit abc1234, Some CPU, 2 core(s)" in text
    assert "| checks passed | yes |" in text
    assert "| median | 0.08123 |" in text and "| n | 25045 |" in text
    assert "| a | b |\n|---|---|\n| 1 | — |" in text
    assert "busy machine" not in text  # load average unknown
    busy = _record("startup", {"x": 1})
    busy["machine"]["load_average"] = 9.5
    (tmp_path / "startup.json").write_text(json.dumps(busy))
    assert "busy machine (load average 9.5 on 2 cores)" in make_results.render(tmp_path)
    missing = text.split("## Not yet recorded")[1]
    assert "`predict_speed`" in missing and "`startup`" not in missing
    assert "`make_results`" not in missing and "`fer_peer`" not in missing


def test_every_benchmark_takes_json_and_writes_results():
    for name in make_results.benchmarks():
        tree = ast.parse((BENCH / f"{name}.py").read_text(encoding="utf-8"))
        called = {
            n.func.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assert {"add_json_option", "write_results"} <= called, name


def test_results_md_is_rendered_from_the_results_folder():
    assert make_results.main(["--check"]) == 0, "run: python benchmarks/make_results.py"
