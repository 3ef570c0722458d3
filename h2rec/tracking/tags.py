"""What identifies a run, without importing MLflow."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from h2rec import paths


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [1, 2]} -> {"a.b": 1, "c": "[1, 2]"} (MLflow params are flat strings)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
    return out


def read_dvc_lock(lock_path: Path | str = "dvc.lock") -> dict:
    """dvc.lock as a mapping; empty when it is absent or unreadable (nothing recorded yet)."""
    try:
        lock = yaml.safe_load(Path(lock_path).read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return lock if isinstance(lock, dict) else {}


def data_version(lock_path: Path | str = "dvc.lock", data: Path = paths.PREPARED) -> str | None:
    """md5 that DVC recorded for data/prepared (the split stage's output), if any."""
    lock = read_dvc_lock(lock_path)
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if Path(out.get("path", "")) == data:
                return out.get("md5")
    return None


def git_commit(cwd: Path | str = ".") -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def run_tags(dataset: str | None, model: str, loss: str, seed: int) -> dict[str, str]:
    return {
        "dataset": dataset or "unknown",
        "data_version": data_version() or "unknown",
        "git_commit": git_commit() or "unknown",
        "model": model,
        "loss": loss,
        "seed": str(seed),
    }
