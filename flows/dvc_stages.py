"""dvc.yaml is the one description of the pipeline's DAG; the Prefect flow reads it from here.

Each DVC stage's command is an `h2rec <command> [args]` line. A Prefect task runs that same
command in-process (so errors keep their types), but only when DVC reports the stage out of
date, and records the result in dvc.lock afterwards, exactly as `dvc repro` would.

A pipeline flow holds DVC's own repository lock (`.dvc/tmp/lock`) from start to end (`hold`),
as `dvc repro` does: a `dvc repro` started meanwhile stops with DVC's "Unable to acquire
lock", and a second flow is refused with a Busy error before it runs anything. Under `hold`,
every DVC call of this module goes through the one Repo that holds the lock (flock locks
are per open file, so a second Repo in the same process would lock itself out).
"""

from __future__ import annotations

import argparse
import importlib
import shlex
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from dvc.lock import LockError
from dvc.repo import Repo, lock_repo

from h2rec.cli import COMMANDS
from h2rec.errors import Busy, ConfigError

_held: dict[str, Repo] = {}  # resolved project root -> the Repo holding its lock


@contextmanager
def hold(root: Path | str = ".") -> Iterator[Repo]:
    """Hold the project's DVC lock for the block, or raise Busy if another process has it."""
    key = str(Path(root).resolve())
    if key in _held:  # already held by this process (a flow inside a flow)
        yield _held[key]
        return
    with Repo(key) as repo, ExitStack() as stack:
        try:
            stack.enter_context(lock_repo(repo))  # DVC's own wait: a few retries over 3 s
        except LockError:
            raise Busy(
                f"{Path(key) / '.dvc' / 'tmp' / 'lock'}: another pipeline is running in {key} "
                "(`dvc repro` or `python -m flows.pipeline`; DVC's repository lock is taken). "
                "Wait for it to finish and start again; nothing was run."
            ) from None
        _held[key] = repo
        try:
            yield repo
        finally:
            del _held[key]


@contextmanager
def _repo(root: Path | str) -> Iterator[Repo]:
    """The Repo that holds the lock, if any, else a fresh one (which locks per call)."""
    held = _held.get(str(Path(root).resolve()))
    with nullcontext(held) if held is not None else Repo(str(root)) as repo:
        yield repo


@dataclass(frozen=True)
class Stage:
    name: str
    argv: list[str]  # the h2rec command and its arguments


def pipeline_stages(root: Path | str = ".") -> list[Stage]:
    """Stages of dvc.yaml in an order that respects their dependencies."""
    with _repo(root) as repo:
        ordered = list(reversed(list(nx.topological_sort(repo.index.graph))))
        stages = []
        for stage in ordered:
            argv = shlex.split(stage.cmd if isinstance(stage.cmd, str) else " ".join(stage.cmd))
            if not argv or argv[0] != "h2rec" or len(argv) < 2 or argv[1] not in COMMANDS:
                raise ConfigError(f"dvc.yaml: stage {stage.addressing} must run `h2rec <command>`, got {stage.cmd!r}")
            stages.append(Stage(stage.addressing, argv[1:]))
        return stages


def is_current(name: str, root: Path | str = ".") -> bool:
    with _repo(root) as repo:
        return not repo.status(targets=[name])


def record(name: str, root: Path | str = ".") -> None:
    """Cache the stage's outputs and write its dvc.lock entry, as `dvc repro` does."""
    with _repo(root) as repo:
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
