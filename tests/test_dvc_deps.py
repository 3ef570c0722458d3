"""dvc.yaml tells the truth: every stage depends on all the code its command imports, so a
code change leaves no result that `dvc repro` calls current."""

from __future__ import annotations

from pathlib import Path

import yaml

from h2rec.cli import COMMANDS
from tests.imports import ROOT, closure, module_file

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def code_files(command: str) -> set[Path]:
    """Files of every project module `h2rec <command>` runs (the CLI, the command, their imports)."""
    modules = closure("h2rec.cli") | closure(COMMANDS[command][0])
    return {module_file(m).relative_to(ROOT) for m in modules}


def uncovered(files: set[Path], deps: list[str]) -> list[str]:
    return sorted(str(f) for f in files if not any(f == Path(d) or Path(d) in f.parents for d in deps))


def test_every_stage_depends_on_the_code_it_imports():
    missing = {}
    for name, stage in STAGES.items():
        command = stage["cmd"].split()[1]
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stage["deps"]]
        if gaps := uncovered(code_files(command), deps):
            missing[name] = gaps
    assert missing == {}, f"add these to the stages' deps in dvc.yaml: {missing}"


def test_train_depends_on_the_semantic_id_package():
    assert "h2rec/sid/table.py" in {str(f) for f in code_files("train")}
    assert uncovered({Path("h2rec/sid/table.py")}, ["h2rec/models"]) == ["h2rec/sid/table.py"]


def test_cooccurrence_runs_before_train_and_reads_its_own_section():
    order = list(STAGES)
    assert order.index("cooccurrence") < order.index("train")
    assert STAGES["cooccurrence"]["params"] == ["cooccurrence"]
