"""The layering rule: a package imports only its own layer and the layers below it, and no
module imports itself back through others (README "Layout" lists the same order)."""

from __future__ import annotations

import pytest

from tests.imports import imports_of, project_modules

# Lowest first. Each entry: a layer's modules/packages; a module belongs to its longest prefix.
LAYERS: list[tuple[str, ...]] = [
    ("h2rec", "h2rec.env", "h2rec.errors", "h2rec.io", "h2rec.paths", "h2rec.config", "h2rec.devices"),  # core
    ("h2rec.data",),  # sequences, batches, adapters, split, co-occurrence
    ("h2rec.validation",),  # Great Expectations suites over data
    ("h2rec.sid",),  # text -> embeddings -> Semantic IDs
    ("h2rec.models",),  # item parts, backbones, models (no file I/O)
    ("h2rec.eval",),  # ranking protocols and group metrics
    ("h2rec.train",),  # trainer, checkpoints, loading model inputs
    ("h2rec.tracking",),  # MLflow runs
    ("h2rec.lifecycle",),  # registry, champion gate, serving
    ("h2rec.stages",),  # one module per DVC stage
    ("h2rec.commands",),  # the other CLI commands
    ("h2rec.cli",),
    ("flows",),  # Prefect flows
]


def layer_of(module: str) -> int:
    best, level = -1, None
    for i, names in enumerate(LAYERS):
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    if level is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS (and to README 'Layout')")
    return level


def upward_imports(modules: list[str], imports) -> list[str]:
    out = []
    for mod in modules:
        for target in sorted(imports(mod)):
            if layer_of(target) > layer_of(mod):
                out.append(f"{mod} imports {target} (layer {layer_of(target)} > {layer_of(mod)})")
    return out


def cycles(modules: list[str], imports) -> list[list[str]]:
    """Every import cycle, each found once, by depth-first search."""
    found, state = [], {}

    def visit(mod: str, stack: list[str]) -> None:
        state[mod] = "open"
        for target in sorted(imports(mod)):
            if state.get(target) == "open":
                found.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target, [*stack, target])
        state[mod] = "done"

    for mod in modules:
        if mod not in state:
            visit(mod, [mod])
    return found


def test_every_module_has_a_layer():
    for mod in project_modules():
        layer_of(mod)


def test_no_package_imports_a_layer_above_it():
    assert upward_imports(project_modules(), imports_of) == []


def test_no_import_cycles():
    assert cycles(project_modules(), imports_of) == []


# -- the checks themselves catch what they are for -------------------------------------------------
@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"h2rec.models.base": {"h2rec.train.trainer"}, "h2rec.train.trainer": set()}, 1),
        ({"h2rec.train.trainer": {"h2rec.models.base"}, "h2rec.models.base": set()}, 0),
    ],
)
def test_an_upward_import_is_reported(graph, expected):
    assert len(upward_imports(list(graph), lambda m: graph[m])) == expected


def test_a_cycle_is_reported():
    graph = {"h2rec.sid.a": {"h2rec.sid.b"}, "h2rec.sid.b": {"h2rec.sid.c"}, "h2rec.sid.c": {"h2rec.sid.a"}}
    assert cycles(list(graph), lambda m: graph[m]) == [["h2rec.sid.a", "h2rec.sid.b", "h2rec.sid.c", "h2rec.sid.a"]]
    assert cycles(["h2rec.sid.a"], lambda m: {"h2rec.sid.a": {"h2rec.sid.b"}, "h2rec.sid.b": set()}[m]) == []


def test_cli_stages_are_the_dvc_stages_in_order():
    import yaml

    from h2rec.cli import COMMANDS, EPILOG, STAGES
    from tests.imports import ROOT

    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert list(STAGES) == list(dvc) and all(COMMANDS[s][0] == f"h2rec.stages.{s}" for s in STAGES)
    assert " -> ".join(STAGES) in EPILOG
    assert {m.split(".")[-1] for m, _ in COMMANDS.values() if m.startswith("h2rec.stages.")} == set(STAGES)


def test_models_read_no_files():
    """Model inputs are loaded in one place (h2rec.train.inputs); models/ only computes."""
    import ast

    from tests.imports import ROOT

    for path in sorted((ROOT / "h2rec" / "models").rglob("*.py")):
        mod = f"h2rec.models.{path.stem}"
        assert not {"h2rec.io", "h2rec.paths"} & imports_of(mod), f"{mod} imports a file-I/O module"
        calls = {
            n.func.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        attrs = {
            n.func.attr
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
        }
        assert "open" not in calls and not {"load", "read_text", "read_parquet", "save"} & attrs, f"{mod} reads or writes files"
