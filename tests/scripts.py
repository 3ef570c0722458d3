"""Load a script of bench/ as a module, the way `python bench/<name>.py` would see it."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.imports import ROOT


def load_bench_script(name: str) -> ModuleType:
    """bench/<name>.py as a module named <name> (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
