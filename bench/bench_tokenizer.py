"""Tokenizer quality and fit time on Amazon Beauty, 12,101 x 384 (docs/sid.md).

    python bench/bench_tokenizer.py [--repeats 3] [--skip-rqvae]

Rows: RQ-KMeans with params `tokenize` (3 x 256), the same on raw residuals, RQ-VAE with
params `tokenize.rqvae`, and the peer: a plain loop of sklearn `KMeans` (k-means++, one
init) per level. The peer runs in its own process, because sklearn's and faiss's OpenMP
runtimes slow each other down when they share one. Embeddings are MiniLM titles through
the pipeline's own stages (bench/workspace.py: ingest, split, embed with params `embed`,
through the project's embedding cache). Wall-clock times on whatever machine runs this; the
fit time is the median of `--repeats` fits; on a shared machine they vary.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from h2rec.config import load_params  # noqa: E402


def beauty_embeddings(params) -> np.ndarray:
    """The embed stage's output for Beauty (bench/workspace.py runs the stages once)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import workspace

    from h2rec.sid.features import load_embeddings

    vectors = load_embeddings(workspace.prepare("beauty").item_embeddings).vectors
    print(f"Beauty embeddings {vectors.shape}")
    return vectors


def quality(x: np.ndarray, codes: np.ndarray, x_hat: np.ndarray, k: int) -> dict:
    from h2rec.sid.report import level_stats, tuple_stats

    stats = {**level_stats(codes, k), **tuple_stats(codes)}
    stats["rel_recon_error"] = float((np.linalg.norm(x - x_hat, axis=1) / np.linalg.norm(x, axis=1)).mean())
    return stats


def time_fits(make, x: np.ndarray, repeats: int):
    times, q = [], None
    for _ in range(repeats):
        q = make()
        start = time.perf_counter()
        q.fit(x)
        times.append(time.perf_counter() - start)
    return q, times


def sklearn_loop(x: np.ndarray, levels: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.cluster import KMeans

    r, codes = x.astype(np.float32), []
    for level in range(levels):
        km = KMeans(n_clusters=k, n_init=1, random_state=seed + level).fit(r)
        codes.append(km.labels_)
        r = r - km.cluster_centers_[km.labels_]
    return np.stack(codes, 1), x - r


def run_peer(x: np.ndarray, levels: int, k: int, seed: int, repeats: int) -> tuple[list[float], dict]:
    """The sklearn loop in a fresh interpreter (no faiss loaded there)."""
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        cmd = [
            sys.executable,
            __file__,
            "--peer",
            tmp,
            "--levels",
            str(levels),
            "--k",
            str(k),
            "--seed",
            str(seed),
            "--repeats",
            str(repeats),
        ]
        subprocess.run(cmd, check=True)
        result = np.load(Path(tmp) / "peer.npz")
        codes, x_hat, times = result["codes"], result["x_hat"], result["times"].tolist()
    return times, quality(x, codes, x_hat, k)


def peer_main(tmp: str, levels: int, k: int, seed: int, repeats: int) -> None:
    x = np.load(Path(tmp) / "x.npy")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        codes, x_hat = sklearn_loop(x, levels, k, seed)
        times.append(time.perf_counter() - start)
    np.savez(Path(tmp) / "peer.npz", codes=codes, x_hat=x_hat, times=np.array(times))


def row(name: str, times: list[float], s: dict, levels: int) -> str:
    util = "/".join(f"{s[f'level_{l}_utilisation']:.0%}" for l in range(levels))
    ent = "/".join(f"{s[f'level_{l}_entropy_norm']:.3f}" for l in range(levels))
    return (
        f"| {name} | {statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f}) | {util} | {ent} | "
        f"{s['unique_tuple_share']:.1%} | {s['distinct_tuple_share']:.1%} | {s['largest_collision_group']} | "
        f"{s['rel_recon_error']:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-rqvae", action="store_true")
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--levels", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        peer_main(args.peer, args.levels, args.k, args.seed, args.repeats)
        return

    params = load_params(ROOT / "params.yaml")
    cfg = params.tokenize.model_copy(update={"method": "rqkmeans"})
    x = beauty_embeddings(params)

    from h2rec.stages.tokenize import make_quantizer, set_threads

    set_threads(cfg.threads)
    lines = []
    variants = [("RQ-KMeans, normalised residuals", True), ("RQ-KMeans, raw residuals", False)]
    for name, normalize in variants:
        c = cfg.model_copy(update={"normalize_residuals": normalize})
        q, times = time_fits(lambda: make_quantizer(c), x, args.repeats)
        codes = q.encode(x)
        lines.append(row(name, times, quality(x, codes, q.decode(codes), cfg.codebook_size), cfg.levels))
        if normalize:
            rq_times = times
            determinism = np.array_equal(codes, make_quantizer(c).fit(x).encode(x))
        print(lines[-1], flush=True)
    if not args.skip_rqvae:
        c = cfg.model_copy(update={"method": "rqvae"})
        q, times = time_fits(lambda: make_quantizer(c), x, 1)
        codes = q.encode(x)
        name = f"RQ-VAE ({len(q.history)} epochs)"
        lines.append(row(name, times, quality(x, codes, q.decode(codes), cfg.codebook_size), cfg.levels))
        print(lines[-1], flush=True)
    peer_times, peer_stats = run_peer(x, cfg.levels, cfg.codebook_size, cfg.seed, args.repeats)
    lines.append(row("peer: sklearn KMeans loop", peer_times, peer_stats, cfg.levels))
    print(lines[-1], flush=True)

    print(
        f"\nBeauty {x.shape[0]} x {x.shape[1]}, {cfg.levels} levels x {cfg.codebook_size} codes, "
        f"threads {cfg.threads}, seed {cfg.seed}"
    )
    print(
        "| quantizer | fit s, median (min-max) | utilisation per level | entropy/log2 K | unique tuples | distinct tuples | largest group | rel. recon. error |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    print(f"\nsklearn loop / RQ-KMeans fit time (medians): {statistics.median(peer_times) / statistics.median(rq_times):.1f}x")
    print(f"RQ-KMeans codes identical across two fits with seed {cfg.seed}: {determinism}")


if __name__ == "__main__":
    main()
