"""dvc.yaml is the one description of the pipeline's DAG; the Prefect flow reads it from here.

Each DVC stage's command is an `h2rec <command> [args]` line. A Prefect task runs that same
command in-process (so errors keep their types), but only when DVC reports the stage out of
date, and records the result in dvc.lock afterwards, exactly as `dvc repro` would.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from dvc.repo import Repo

from h2rec.cli import COMMANDS
from h2rec.errors import ConfigError


@dataclass(frozen=True)
class Stage:
    name: str
    argv: list[str]  # the h2rec command and its arguments


def pipeline_stages(root: Path | str = ".") -> list[Stage]:
    """Stages of dvc.yaml in an order that respects their dependencies."""
    with Repo(str(root)) as repo:
        ordered = list(reversed(list(nx.topological_sort(repo.index.graph))))
        stages = []
        for stage in ordered:
            argv = shlex.split(stage.cmd if isinstance(stage.cmd, str) else " ".join(stage.cmd))
            if not argv or argv[0] != "h2rec" or len(argv) < 2 or argv[1] not in COMMANDS:
                raise ConfigError(f"dvc.yaml: stage {stage.addressing} must run `h2rec <command>`, got {stage.cmd!r}")
            stages.append(Stage(stage.addressing, argv[1:]))
        return stages


def is_current(name: str, root: Path | str = ".") -> bool:
    with Repo(str(root)) as repo:
        return not repo.status(targets=[name])


def record(name: str, root: Path | str = ".") -> None:
    """Cache the stage's outputs and write its dvc.lock entry, as `dvc repro` does."""
    with Repo(str(root)) as repo:
        repo.commit(name, force=True)


def run_command(argv: list[str], params_path: str) -> int:
    """Run `h2rec <argv>` in this process; H2RecError and others propagate with their type."""
    command, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[command][0])
    parser = argparse.ArgumentParser(prog=f"h2rec {command}")
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    args.params = params_path
    return int(module.main(args) or 0)
