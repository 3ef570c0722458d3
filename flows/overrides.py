"""Write flow parameters into params.yaml, keeping its comments, like `dvc exp run -S` does.

DVC decides what is out of date by comparing params.yaml with dvc.lock, so an override must
live in the file for the skip logic and the lineage to stay true.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from h2rec.errors import ConfigError
from h2rec.io import atomic_path


def set_params(path: Path | str, values: dict[str, object]) -> bool:
    """Set dotted keys (e.g. `data.dataset`); return True if the file changed."""
    if not values:
        return False
    yaml = YAML()  # round-trip: comments and key order survive
    path = Path(path)
    doc = yaml.load(path.read_text(encoding="utf-8"))
    changed = False
    for dotted, value in values.items():
        node = doc
        *parents, leaf = dotted.split(".")
        for key in parents:
            if key not in node:
                raise ConfigError(f"{path}: no section {key!r} for override {dotted}")
            node = node[key]
        if node.get(leaf) != value:
            node[leaf] = value
            changed = True
    if changed:
        with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
            yaml.dump(doc, fh)
    return changed
