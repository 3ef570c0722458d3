import pandas as pd

from h2rec import paths
from h2rec.config import CooccurrenceConfig, PreprocessConfig
from h2rec.data.cooccurrence import load_cooccurrence
from h2rec.data.sequences import SeqDataset
from h2rec.data.split import prepare
from h2rec.stages.cooccurrence import run


def test_run_writes_a_table_the_model_can_load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seqs = {f"u{u}": ["a", "b", "c", "d", "e", "a", "b"] if u % 2 else ["c", "d", "e", "a", "b", "c"] for u in range(8)}
    events = pd.DataFrame([(u, i, t) for u, s in seqs.items() for t, i in enumerate(s)], columns=["user_id", "item_id", "ts"])
    items = pd.DataFrame({"item_id": list("abcde"), "title": list("ABCDE")})
    prep = prepare(events, items, PreprocessConfig(k_core=3))
    data = SeqDataset.from_frames(prep.interactions, prep.items, prep.users)
    summary = run(CooccurrenceConfig(window=1, min_count=1, top_k=2), data=data)
    neighbours, ppmi = load_cooccurrence(paths.COOCCURRENCE, data.n_items)
    assert neighbours.shape == (data.n_items + 1, 2) and summary["pairs"] > 0
    assert (neighbours[0] == 0).all() and (ppmi[neighbours == 0] == 0).all()
    assert (ppmi[neighbours > 0] > 0).all()
