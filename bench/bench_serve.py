"""Latency and throughput of the registered model behind `mlflow models serve`, on loopback.

    python bench/bench_serve.py                        # models:/h2rec@champion of the project's store
    python bench/bench_serve.py --build                # package models/recommender + data/prepared into
                                                       # a temporary store first, as `h2rec register` does
    python bench/bench_serve.py --clients 1 16 --requests 400 --k 10

One request = one user: `{"dataframe_records": [{"user_id", "history"}], "params": {"k"}}`,
the histories being real users' train + validation items from data/prepared (the test-time
history), cycled. Each client is a thread with its own keep-alive http.client connection,
sending its share of `--requests` back to back after a warm-up; latency is measured per
request, throughput over the whole level. The server is MLflow's own (uvicorn, 1 worker,
`--env-manager local`), bound to 127.0.0.1 and stopped at the end. Prints a table, writes
bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
OUT = ROOT / "bench" / "results" / "serve.json"


def build_model(store: Path) -> str:
    """Log models/recommender as the register stage does, into a store under `store`; return its URI."""
    import mlflow

    from h2rec import paths
    from h2rec.lifecycle.pyfunc import log_recommender
    from h2rec.lifecycle.registry import register_and_gate
    from h2rec.lifecycle.serving import make_bundle
    from h2rec.stages.register import _example

    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    exp = mlflow.create_experiment("bench-serve", artifact_location=(store / "artifacts").as_uri())
    bundle = make_bundle(store / "bundle", ROOT / paths.MODEL_DIR, ROOT / paths.PREPARED)
    with mlflow.start_run(experiment_id=exp):
        info = log_recommender(bundle, _example(ROOT / paths.PREPARED, 3), 10)
    register_and_gate(info.model_uri, "h2rec", "bench", 1.0, 1.0, 0.05)
    return "models:/h2rec@champion"


def histories(n: int) -> list[dict]:
    import pandas as pd

    prepared = ROOT / "data" / "prepared"
    inter = pd.read_parquet(prepared / "interactions.parquet")
    ids = pd.read_parquet(prepared / "items.parquet", columns=["item", "item_id"]).set_index("item")["item_id"]
    seen = inter[inter["split"] != "test"].sort_values(["user", "pos"])
    seen = seen[seen["user"] < n]
    hist = seen.groupby("user")["item"].apply(lambda s: " ".join(ids.loc[s].astype(str)))
    return [{"user_id": f"user{u}", "history": h} for u, h in hist.items()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_uri: str, port: int, env: dict) -> tuple[subprocess.Popen, float]:
    cmd = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [*cmd, "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while True:
        if server.poll() is not None:
            raise SystemExit(f"mlflow models serve exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return server, time.perf_counter() - t0
        except OSError:
            if time.perf_counter() - t0 > 300:
                stop(server)
                raise SystemExit("server did not answer /ping within 300 s") from None
            time.sleep(0.25)


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def level(port: int, bodies: list[bytes], clients: int, requests: int, k: int) -> dict:
    """`requests` requests from `clients` threads; per-request latencies and the level's rate."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    per_client = [requests // clients + (i < requests % clients) for i in range(clients)]
    start = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        start.wait()
        for j in range(per_client[i]):
            body = bodies[(i * 7919 + j) % len(bodies)]
            t0 = time.perf_counter()
            conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
            mine.append(time.perf_counter() - t0)
            if resp.status != 200 or len(json.loads(payload)["predictions"]) != k:
                with lock:
                    errors.append(f"{resp.status}: {payload[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{len(errors)} failed request(s), e.g. {errors[0]}")
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    return {"clients": clients, "requests": requests, "p50_ms": pick(0.50), "p99_ms": pick(0.99), "rps": requests / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-uri", default="models:/h2rec@champion")
    ap.add_argument("--build", action="store_true", help="package models/recommender into a temporary store first")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--requests", type=int, default=400, help="requests per concurrency level (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--users", type=int, default=500, help="distinct histories cycled (default: %(default)s)")
    args = ap.parse_args()

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    tmp = Path(tempfile.mkdtemp(prefix="h2rec-serve-"))
    if args.build:
        model_uri = build_model(tmp)
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    else:
        model_uri = args.model_uri
        env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'mlruns' / 'mlflow.db'}")
    bodies = [json.dumps({"dataframe_records": [h], "params": {"k": args.k}}).encode() for h in histories(args.users)]
    port = free_port()
    server, startup = start_server(model_uri, port, env)
    try:
        level(port, bodies, 1, args.warmup, args.k)
        rows = [level(port, bodies, c, args.requests, args.k) for c in args.clients]
    finally:
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{model_uri} ({'built from models/recommender' if args.build else 'as registered'}); server ready in {startup:.1f} s")
    print(f"{'clients':>8}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}")
    for r in rows:
        print(f"{r['clients']:>8}{r['requests']:>10}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}{r['rps']:>10.1f}")
    result = {
        "model_uri": model_uri,
        "built": args.build,
        "k": args.k,
        "startup_s": startup,
        "cpus": os.cpu_count(),
        "load_avg_after": os.getloadavg()[0],
        "levels": rows,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
