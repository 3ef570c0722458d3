"""How full-ranking evaluation and SID assignment grow with the catalogue: 10^4, 10^5, 10^6 items.

    python bench/bench_scale.py                 # evaluation + RQ-KMeans, all three sizes
    python bench/bench_scale.py --sizes 10000 100000

Each measurement runs in a fresh process so its peak RSS is its own. Evaluation: a random
SASRec over a synthetic catalogue, 5,000 users (`bench_harness.py scale`: users in batches,
items in chunks). SID work: RQ-KMeans 3 x 256 on random unit vectors of 384 dims (fit on a
sample of at most 65,536 vectors, then every item encoded in chunks). Prints seconds, peak
MB and the growth ratio from one size to the next; memory should stay nearly flat while time
grows about linearly.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SID_SNIPPET = """
import resource, sys, time, numpy as np
from h2rec.sid.rqkmeans import RQKMeans
n = int(sys.argv[1]); rng = np.random.default_rng(0)
x = np.empty((n, 384), dtype=np.float32)
for s in range(0, n, 100_000):
    block = rng.standard_normal((min(100_000, n - s), 384)).astype(np.float32)
    x[s:s + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
t = time.perf_counter()
q = RQKMeans(levels=3, codebook_size=256, seed=0, iters=10, normalize_residuals=True)
sample = x[rng.choice(n, min(n, 65_536), replace=False)]
q.fit(sample)
codes = np.concatenate([q.encode(x[s:s + 100_000]) for s in range(0, n, 100_000)])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"seconds {time.perf_counter() - t:.2f} peak {peak:.0f} MB distinct {len(np.unique(codes, axis=0))}")
"""


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr[-2000:])
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        out_e = run([sys.executable, str(HERE / "bench_harness.py"), "scale", "--items", str(n), "--threads", str(args.threads)])
        eval_s = float(re.search(r": ([\d.]+) s;", out_e).group(1))
        eval_mb = float(re.search(r"peak RSS (\d+) MB", out_e).group(1))
        out_s = run([sys.executable, "-c", SID_SNIPPET, str(n)])
        sid_s = float(re.search(r"seconds ([\d.]+)", out_s).group(1))
        sid_mb = float(re.search(r"peak (\d+) MB", out_s).group(1))
        rows.append((n, eval_s, eval_mb, sid_s, sid_mb))
        print(
            f"{n:>9,} items: evaluation {eval_s:7.2f} s, peak {eval_mb:6.0f} MB | "
            f"RQ-KMeans fit+encode {sid_s:7.2f} s, peak {sid_mb:6.0f} MB",
            flush=True,
        )
    print("\ngrowth from one size to the next:")
    for (n0, e0, m0, s0, k0), (n1, e1, m1, s1, k1) in zip(rows, rows[1:]):
        print(
            f"  {n0:,} -> {n1:,}: evaluation time x{e1 / e0:.2f}, memory x{m1 / m0:.2f}; "
            f"SID time x{s1 / s0:.2f}, memory x{k1 / k0:.2f}"
        )


if __name__ == "__main__":
    main()
