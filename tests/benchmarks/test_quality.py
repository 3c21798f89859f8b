"""The quality benchmark script in its smoke form: it trains every recipe through the project's
modules, scores it, writes its table, figure and JSON, and resumes from saved runs."""

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def quality():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("quality")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_quick_run_writes_table_figure_json_and_resumes(quality, tmp_path, capsys):
    args = ["--quick", "--tasks", "textures", "--out-dir", str(tmp_path)]
    assert quality.main([*args, "--json", str(tmp_path / "q.json")]) == 0
    table = (tmp_path / "quality.md").read_text()
    for recipe in ("| l1 |", "| vgg |", "| cfl |", "| cfl-id |"):
        assert recipe in table
    assert "## Targets" in table
    assert (tmp_path / "quality.png").stat().st_size > 1000
    payload = json.loads((tmp_path / "q.json").read_text())
    assert [r["recipe"] for r in payload["runs"]] == ["l1", "vgg", "cfl", "cfl-id"]
    assert all(r["steps"] == 3 for r in payload["runs"])
    first = {r["recipe"]: r["patch_swd"] for r in payload["runs"]}
    capsys.readouterr()

    assert quality.main([*args, "--resume", "--json", str(tmp_path / "r.json")]) == 0
    assert capsys.readouterr().out.count("(saved)") == 4
    resumed = json.loads((tmp_path / "r.json").read_text())
    assert {r["recipe"]: r["patch_swd"] for r in resumed["runs"]} == first
    # Scores: the primary (reference-normalised) and the per-set PatchSWD, no joint one.
    assert all(r["patch_swd_per_set"] > 0 and "patch_swd_joint" not in r for r in payload["runs"])
    assert "PatchSWD per-set x1e3" in table

    # A run saved before the scores changed meaning is trained and scored again, not reused.
    saved = sorted((tmp_path / "runs" / "main").glob("*.json"))
    assert len(saved) == 4
    record = json.loads(saved[0].read_text())
    record["eval_version"] = 1
    saved[0].write_text(json.dumps(record))
    capsys.readouterr()
    assert quality.main([*args, "--resume"]) == 0
    out = capsys.readouterr().out
    assert out.count("(saved)") == 3 and out.count("(saved with other scores, rerun)") == 1
    assert json.loads(saved[0].read_text())["eval_version"] == quality.EVAL_VERSION
