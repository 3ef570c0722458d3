"""Wall time and peak memory of the default `dvc repro`, from a cold start and re-run unchanged.

    python bench/bench_repro.py                  # clones HEAD into a temp dir, runs dvc repro twice
    python bench/bench_repro.py --keep /tmp/x    # keep the clone for inspection

Cold = a fresh `git clone` of the committed tree: no pipeline outputs, no embedding cache, no
MLflow store, nothing in DVC's cache; only the Python environment is already installed (this
script's interpreter and its `dvc`/`h2rec`). The stage shares come from the moments DVC prints
"Running stage '<name>'" on the single `dvc repro` run; peak memory is the largest resident set
of any process of the run (`getrusage(RUSAGE_CHILDREN)`). Writes bench/results/repro.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "repro.json"
STAGE = re.compile(r"Running stage '([^']+)'")


def timed_repro(workdir: Path, env: dict) -> dict:
    """One `dvc repro`: total wall seconds, seconds per stage that ran, peak RSS of the children."""
    dvc = Path(sys.executable).with_name("dvc")
    t0 = time.perf_counter()
    marks: list[tuple[str, float]] = []
    proc = subprocess.Popen(
        [str(dvc), "repro"], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    tail: list[str] = []
    for line in proc.stdout:
        tail = (tail + [line])[-30:]
        if m := STAGE.search(line):
            marks.append((m.group(1), time.perf_counter() - t0))
            print(f"  {marks[-1][1]:7.1f} s  {m.group(1)}", flush=True)
    if proc.wait() != 0:
        raise SystemExit("dvc repro failed:\n" + "".join(tail))
    total = time.perf_counter() - t0
    ends = [t for _, t in marks[1:]] + [total]
    return {
        "seconds": total,
        "stages": {name: end - start for (name, start), end in zip(marks, ends)},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", type=Path, help="clone here and keep it (default: a temp dir, removed)")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="h2rec-repro-"))
    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"{work} is not empty")
    subprocess.run(["git", "clone", "-q", str(ROOT), str(work)], check=True)
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": venv_bin + os.pathsep + os.environ["PATH"], "DVC_NO_ANALYTICS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the clone's own store
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=work, capture_output=True, text=True).stdout.strip()
    print(f"cold dvc repro in {work} (commit {commit})", flush=True)
    cold = timed_repro(work, env)
    print(f"cold: {cold['seconds']:.1f} s, peak {cold['peak_rss_mb']:.0f} MB", flush=True)
    t0 = time.perf_counter()
    warm = subprocess.run([str(Path(venv_bin) / "dvc"), "repro"], cwd=work, env=env, capture_output=True, text=True)
    warm_seconds = time.perf_counter() - t0
    if warm.returncode != 0:
        raise SystemExit("no-change dvc repro failed:\n" + warm.stdout[-2000:] + warm.stderr[-2000:])
    print(f"no-change re-run: {warm_seconds:.2f} s", flush=True)
    result = {
        "commit": commit,
        "cpus": os.cpu_count(),
        "load_avg_after": os.getloadavg()[0],
        "cold": cold,
        "no_change_seconds": warm_seconds,
        "no_change_output": warm.stdout.strip().splitlines()[-3:],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
