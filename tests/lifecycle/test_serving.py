"""The registered model behind MLflow's real HTTP scoring server, and the rough edges of answering.

A model trained on a slice of real data is registered, `mlflow models serve` is started on a
free loopback port, and good and malformed requests are sent to it: good ones get the same
top-K as the in-process Recommender, malformed ones a 400 with a message, never a 500 or a
stack trace.
"""

import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from h2rec.config import RegisterConfig
from h2rec.errors import DataError
from h2rec.lifecycle.serving import Recommender, make_bundle
from h2rec.stages import register

pytestmark = pytest.mark.integration
MODEL = "h2rec-serve"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, body: bytes | dict) -> tuple[int, dict | str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


@pytest.fixture(scope="module")
def served(trained_project):
    """(port, histories, registered record): the champion of MODEL behind `mlflow models serve`."""
    os.chdir(trained_project)
    record = register.run(RegisterConfig(model_name=MODEL))
    histories = register._example(trained_project / "data" / "prepared", 3)
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",  # the model must load without unpickling
    }
    cmd = ["mlflow", "models", "serve", "-m", f"models:/{MODEL}@champion", "--env-manager", "local"]
    server = subprocess.Popen(
        [*cmd, "-h", "127.0.0.1", "-p", str(port)],
        cwd=trained_project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # uvicorn runs in a child: stop the whole group
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            if server.poll() is not None:
                pytest.fail(f"server exited with {server.returncode}:\n{server.stdout.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not answer /ping within 240 s")
            time.sleep(0.5)
        yield port, histories, record
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_good_requests_get_the_in_process_top_k(served, trained_project, tmp_path):
    port, histories, _ = served
    status, body = _post(port, {"dataframe_records": histories.to_dict("records")})
    assert status == 200, body
    rows = body["predictions"]
    assert {"user_id", "rank", "item_id", "title", "score"} <= set(rows[0])
    local = Recommender(make_bundle(tmp_path / "bundle")).recommend([h.split() for h in histories["history"]], 10)
    assert [r["item_id"] for r in rows] == local["item_id"].astype(str).tolist()
    assert [r["user_id"] for r in rows[:10]] == [histories["user_id"].iloc[0]] * 10

    status, body = _post(port, {"dataframe_records": histories.head(1).to_dict("records"), "params": {"k": 3}})
    assert status == 200 and [r["rank"] for r in body["predictions"]] == [1, 2, 3]
    # unknown ids are dropped, the known ones still answer
    mixed = {"user_id": "mixed", "history": histories["history"].iloc[0] + " no-such-item"}
    status, body = _post(port, {"dataframe_records": [mixed], "params": {"k": 2}})
    assert status == 200 and len(body["predictions"]) == 2


@pytest.mark.parametrize(
    "payload, message",
    [
        (
            {"dataframe_records": [{"user_id": "u", "history": "zzz-unknown qqq-unknown"}]},
            "user(s) u: none of the history's items",
        ),
        ({"dataframe_records": [{"user_id": "u", "history": "  "}]}, "user(s) u: empty history"),
        ({"dataframe_records": "HISTORY", "params": {"k": 0}}, "k must be a positive integer"),
        ({"dataframe_records": "HISTORY", "params": {"k": -3}}, "k must be a positive integer"),
        ({"dataframe_records": "HISTORY", "params": {"k": "ten"}}, "k"),
        ({"dataframe_records": [{"user_id": "u", "history": 42}]}, "history"),
        ({"dataframe_records": [{"user_id": "u"}]}, "history"),
        ({"rows": []}, "dataframe_records"),
        (b"{not json", "JSON"),
    ],
)
def test_malformed_requests_get_a_400_with_a_message(served, payload, message):
    port, histories, _ = served
    if isinstance(payload, dict) and payload.get("dataframe_records") == "HISTORY":
        payload = {**payload, "dataframe_records": histories.head(1).to_dict("records")}
    status, body = _post(port, payload)
    assert 400 <= status < 500, (status, body)
    assert isinstance(body, dict) and message.lower() in body["message"].lower(), body
    assert "stack_trace" not in body and "Traceback" not in body["message"]


def test_unknown_ids_warn_once_per_user_and_an_all_unknown_history_names_the_user(served, tmp_path, caplog):
    _, histories, _ = served
    rec = Recommender(make_bundle(tmp_path / "bundle"))
    known = histories["history"].iloc[0].split()
    with caplog.at_level(logging.WARNING, logger="h2rec.lifecycle.serving"):
        out = rec.recommend([[*known, "ghost-1", "ghost-2"], known], 5, users=["alice", "bob"])
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["user alice: 2 item id(s) this model does not know were dropped: ghost-1, ghost-2"]
    assert len(out) == 10
    with pytest.raises(DataError, match=r"user\(s\) carol: none of the history's items is in this model's catalogue"):
        rec.recommend([known, ["ghost-3"]], 5, users=["alice", "carol"])
    skipped = rec.recommend([known, ["ghost-3"]], 5, users=["alice", "carol"], skip_unknown=True)
    assert skipped["row"].unique().tolist() == [0]


def test_a_k_beyond_the_unseen_items_lists_the_unseen_items_only(served, tmp_path):
    _, histories, _ = served
    rec = Recommender(make_bundle(tmp_path / "bundle"))
    known = histories["history"].iloc[0].split()
    out = rec.recommend([known], 10**6)
    assert len(out) == len(rec.index) - len(set(known))  # no seen item, no padding
    assert not set(out["item_id"]) & set(known) and "" not in set(out["item_id"])
    assert out["score"].map(math.isfinite).all() and out["rank"].tolist() == list(range(1, len(out) + 1))
    with pytest.raises(DataError, match=r"user\(s\) dave: empty history"):
        rec.recommend([[]], 5, users=["dave"])


def test_the_gate_works_without_tail_test_cases(served, trained_project, tmp_path):
    """A test set with no tail target: eval.json has `full/tail/cases: 0` and no tail metric."""
    metrics = json.loads((trained_project / "metrics" / "eval.json").read_text())
    no_tail = {k: v for k, v in metrics.items() if not k.startswith(("full/tail/", "sampled100/tail/"))}
    no_tail["full/tail/cases"] = 0
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(no_tail))
    record = register.run(RegisterConfig(model_name=MODEL), eval_path=path, record_path=tmp_path / "register.json")
    assert record["tail_ndcg10"] == 0.0 and record["version"] == 2
    assert not record["promoted"] and "not better overall" in record["reason"]  # same overall as v1
    assert Path(tmp_path / "register.json").exists()


def test_the_gate_refuses_metrics_of_another_split_or_model(served, trained_project, tmp_path):
    metrics = json.loads((trained_project / "metrics" / "eval.json").read_text())
    assert metrics["split"] == "test" and metrics["model_run_id"]  # what the evaluate stage records
    path = tmp_path / "eval.json"
    for changed, message in (
        ({"split": "valid"}, "metrics of the valid split"),
        ({"model_run_id": "0" * 32}, "evaluate this model first"),
    ):
        path.write_text(json.dumps({**metrics, **changed}))
        with pytest.raises(DataError, match=message):
            register.run(RegisterConfig(model_name=MODEL), eval_path=path, record_path=tmp_path / "register.json")
    assert not (tmp_path / "register.json").exists()  # nothing registered


def test_recommend_command_warns_per_user_and_names_the_unknown_user(served, trained_project, tmp_path):
    _, histories, _ = served
    known = histories["history"].iloc[0]
    path = tmp_path / "users.csv"
    path.write_text(f"user_id,history\nalice,{known} ghost-1\nbob,{known}\n")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    cmd = ["h2rec", "recommend", "--histories", str(path), "--model", f"models:/{MODEL}@champion", "--k", "3"]
    done = subprocess.run(cmd, cwd=trained_project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("item id(s) this model does not know were dropped") == 1
    assert "user alice: 1 item id(s) this model does not know were dropped: ghost-1" in done.stderr
    path.write_text(f"user_id,history\nalice,{known}\ncarol,ghost-2 ghost-3\n")
    done = subprocess.run(cmd, cwd=trained_project, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert f"h2rec recommend: error: {path}: user(s) carol: none of the history's items" in done.stderr
