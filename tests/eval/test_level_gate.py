"""The gate summary against a per-user loop, with a real (small) H2Rec."""

import numpy as np
import torch

from h2rec.config import BackboneConfig, H2RecConfig
from h2rec.eval.level_gate import mean_level_gate
from h2rec.models.h2rec import make_h2rec
from h2rec.models.losses import NextItemLoss
from tests.train.toy import toy_dataset

torch.set_num_threads(1)


def test_gate_means_by_user_length_and_target_popularity_match_a_per_user_loop():
    data = toy_dataset(n_users=40, n_items=25, seed=2)
    rng = np.random.default_rng(0)
    cards = [4, 4, 4]
    codes = np.concatenate([np.full((1, 3), -1), rng.integers(0, 4, (data.n_items, 3))])
    torch.manual_seed(0)
    cfg = BackboneConfig(max_len=6, hidden=16, layers=1, heads=2, ffn=32, dropout=0.0, attn_dropout=0.0)
    model = make_h2rec(data.n_items, codes, cards, cfg, H2RecConfig(), NextItemLoss("ce", data.n_items))
    torch.nn.init.normal_(model.gate.mlp[-1].weight, std=1.0)  # a gate that differs between users
    out = mean_level_gate(model.eval(), data, "test", 6, "right", user_batch=7)

    target = data.targets("test")
    with torch.no_grad():
        per_user = np.stack(
            [model.user_gate(data.eval_batch(np.array([u]), "test", 6, "right"))[0].numpy() for u in range(data.n_users)]
        )
    groups = {"all": np.ones(data.n_users, bool), "long": data.is_long, "tail": ~data.is_head[target]}
    groups |= {f"bucket_{b}": data.bucket[target] == b for b in np.unique(data.bucket[target])}
    for name, rows in groups.items():
        for level in range(3):
            assert np.isclose(out[f"gate/{name}/level_{level}"], per_user[rows, level].mean(), atol=1e-6), (name, level)
    assert len({round(out[f"gate/{g}/level_0"], 6) for g in groups}) > 1  # the groups do differ
