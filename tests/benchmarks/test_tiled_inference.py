"""The tiled-inference benchmark in its smoke form: it runs, writes its JSON, and tiling bounds the
peak memory (the profiler's allocation events are deterministic)."""

import importlib
import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_tiling_lowers_the_peak_memory_and_keeps_the_output(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        benchmark = importlib.import_module("tiled_inference")
    finally:
        sys.path.remove(str(BENCHMARKS))
    args = ["--size", "96", "--scale", "2", "--nf", "8", "--blocks", "1"]
    args += [
        "--tile",
        "32",
        "--overlap",
        "24",
        "--repeats",
        "1",
        "--json",
        str(tmp_path / "t.json"),
    ]
    summary = benchmark.main(args)
    assert json.loads((tmp_path / "t.json").read_text())["output_shape"] == [1, 3, 192, 192]
    results = summary["results"]
    assert results["tiled"]["peak_mib"] < 0.5 * results["untiled"]["peak_mib"]
    assert summary["max_abs_difference"] < 1e-5  # overlap >= 4 x the receptive-field radius
