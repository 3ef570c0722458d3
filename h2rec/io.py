"""File I/O with two guarantees: writes are atomic, reads fail with the file's name.

Also the one inter-process lock (`file_lock`) for read-decide-write steps that two processes
must not interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from h2rec.errors import Busy, DataError

_UMASK = os.umask(0)
os.umask(_UMASK)
_TEMP_SUFFIX = ".tmp"  # atomic_path's temporary files: .<name>.<random>.tmp, beside the target


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    A crash mid-write leaves the previous file untouched. An exception removes the temporary
    file; a SIGKILL cannot, and leaves `.<name>.*.tmp` beside it (`clear_stale_temps`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def clear_stale_temps(directory: Path | str) -> list[Path]:
    """Remove what killed `atomic_path` writers left in `directory`; returns what was removed.

    Only for a folder that one process writes at a time (a training run's own folder), called
    before it writes: there, no temporary file can belong to a live writer.
    """
    stale = sorted(Path(directory).glob(f".*{_TEMP_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


@contextmanager
def file_lock(path: Path | str, timeout: float, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if absent) across processes, or raise Busy.

    flock locks belong to the open file, so the kernel releases them when the holder exits or
    is killed: a lock file left behind never blocks anyone. The holder's pid is written into
    the file only to name it in the error message.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+", encoding="utf-8")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown"
                    raise Busy(
                        f"{path}: {what} is held by another process (pid {holder}) for more than {timeout:g} s; "
                        "wait for it to finish and retry"
                    ) from None
                time.sleep(0.05)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing the file releases the lock


def write_parquet(df: pd.DataFrame, path: Path | str) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_json(obj: Any, path: Path | str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def read_parquet(path: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; run the stage that produces it first")
    try:
        return pd.read_parquet(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"{path}: not a readable Parquet file (truncated or corrupt?): {e}") from None


def require_columns(df: pd.DataFrame, columns: list[str], source: Path | str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; found {list(df.columns)}. "
            "Rename them in the file or set the column names in params.yaml (data.sources)."
        )
