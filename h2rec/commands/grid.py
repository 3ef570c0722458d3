"""Experiment grid files (experiments/*.yaml): named variants of the `train` section.

    seeds: [0, 1, 2]                        # optional: the seeds a sweep runs each variant with
    dataset: scientific                     # optional: data.dataset of the sweep
    base: {logit_adjustment: 0.0}           # optional: train overrides under every variant
    sasrec: {model: sasrec}                 # variant name -> train overrides
    sasrec_h128: {model: sasrec, backbone: {hidden: 128}}

`flows/sweep.py` runs every variant once per seed; `h2rec tune` searches one variant's
hyper-parameters (params `tune.space`) on top of its overrides. The variant name is what
`h2rec report` calls the model.

`base` pins what a grid was measured at: a variant is `base` with its own overrides on top,
merged over params.yaml's `train`, so a later change of a default in params.yaml does not
change what a committed grid's variants mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from h2rec import paths
from h2rec.config import Params, load_params, merge, read_yaml_mapping
from h2rec.errors import ConfigError, DataError
from h2rec.tracking.tags import read_dvc_lock

RESERVED = ("seeds", "dataset", "base")  # top-level keys of a grid file that are not variants


@dataclass
class Grid:
    name: str  # the `sweep` tag of its runs
    variants: dict[str, dict]  # variant -> train overrides
    seeds: list[int] | None = None
    dataset: str | None = None
    base: dict = field(default_factory=dict)  # already merged under every variant; kept for a peer outside the grid


def read_grid(path: Path | str) -> Grid:
    """A grid file: variant -> train overrides (with `base` under each), plus optional `seeds` and `dataset`."""
    path = Path(path)
    raw = read_yaml_mapping(path, "grid file not found", "a mapping of variant names to train overrides")
    seeds, dataset = raw.get("seeds"), raw.get("dataset")
    if seeds is not None and not (isinstance(seeds, list) and all(isinstance(s, int) for s in seeds)):
        raise ConfigError(f"{path}: `seeds` must be a list of integers, got {seeds!r}")
    if dataset is not None and not isinstance(dataset, str):
        raise ConfigError(f"{path}: `dataset` must be a dataset name, got {dataset!r}")
    base = raw.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{path}: `base` must map train keys to values (as a variant does), got {base!r}")
    variants = {str(k): v or {} for k, v in raw.items() if k not in RESERVED}
    for name, over in variants.items():
        if not isinstance(over, dict):
            raise ConfigError(f"{path}: variant {name!r} must map to train overrides, got {over!r}")
    variants = {name: merge(base, over) for name, over in variants.items()}
    if not variants:
        raise ConfigError(f"{path}: no variants")
    return Grid(path.stem, variants, seeds, dataset, base)


def variant(grid: Grid, name: str) -> dict:
    if name not in grid.variants:
        raise ConfigError(f"variant {name!r} is not in grid {grid.name!r}; it has {sorted(grid.variants)}")
    return grid.variants[name]


def pick(grid: Grid, names: list[str]) -> Grid:
    """The grid with only the variants `names`, in that order; its name (the runs' sweep tag) kept."""
    return Grid(grid.name, {n: variant(grid, n) for n in names}, grid.seeds, grid.dataset, grid.base)


def validated(variants: dict[str, dict], params_path: Path | str, dataset: str | None = None) -> dict[str, Params]:
    """Each variant's overrides merged over params.yaml and validated: a misspelt key fails here,
    before any run starts, with ConfigError naming the key."""
    data = {"dataset": dataset} if dataset else {}
    return {name: load_params(params_path, {"train": over, "data": data}) for name, over in variants.items()}


def prepared_dataset(lock_path: Path | str = "dvc.lock") -> str | None:
    """data.dataset that DVC's ingest stage last ran with, if recorded."""
    try:
        return read_dvc_lock(lock_path)["stages"]["ingest"]["params"]["params.yaml"]["data"]["dataset"]
    except (KeyError, TypeError):
        return None


def check_prepared(dataset: str, prepared: Path = paths.PREPARED, lock_path: Path | str = "dvc.lock") -> None:
    """Before any trial: the prepared data exist and are `dataset`'s. Trials read data/prepared
    whatever data.dataset says, so runs on another dataset's data would be tagged `dataset` and,
    being newer, replace that dataset's runs in the report."""
    if not (prepared / "interactions.parquet").is_file():
        raise DataError(f"{prepared}: no prepared data; run `dvc repro tokenize cooccurrence` (or the data flow) first")
    last = prepared_dataset(lock_path)
    if last is not None and last != dataset:
        raise ConfigError(
            f"{lock_path}: the data stages last prepared {last!r}, not {dataset!r}; set params.yaml data.dataset to "
            f"{dataset!r} and run `dvc repro tokenize cooccurrence`, or pass --dataset {last}"
        )
