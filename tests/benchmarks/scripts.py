"""Import the scripts of ``benchmarks/`` (not a package) for the tests of this folder."""

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def benchmark_modules(*names: str) -> Iterator[ModuleType | tuple[ModuleType, ...]]:
    """For a fixture: ``yield from benchmark_modules("quality")`` gives the module (a tuple for
    several names); the scripts' folder is on ``sys.path`` while the fixture lives (they import
    each other by name)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        modules = tuple(importlib.import_module(name) for name in names)
        yield modules[0] if len(modules) == 1 else modules
    finally:
        sys.path.remove(str(BENCHMARKS))
