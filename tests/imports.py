"""The project's import graph, read from the source with `ast` (nothing is imported).

Every `import` and `from ... import` counts, also those inside functions: a lazy import is
still a dependency, only a later one.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("h2rec", "flows")


def module_file(name: str) -> Path | None:
    """h2rec.models.h2rec -> h2rec/models/h2rec.py (or a package's __init__.py)."""
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> list[str]:
    return sorted(module_name(p) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


@cache
def imports_of(name: str) -> frozenset[str]:
    """Project modules that module `name` imports directly."""
    path = module_file(name)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the submodule pkg.mod when there is one
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES and module_file(target) is not None:
                found.add(target)
    found.discard(name)
    return frozenset(found)


def closure(name: str) -> set[str]:
    """`name` and every project module it imports, directly or not (package __init__s included)."""
    seen, todo = set(), [name]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        parts = mod.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a.b.c runs a and a.b
        todo += imports_of(mod)
    return seen
