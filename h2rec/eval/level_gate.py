"""What H2Rec's learned level gate does: its mean weights per SID level, by user length.

Keys `gate/<group>/level_<l>` (level 0 = coarsest) for the groups all, short and long users,
read at each test user's last history item. Models without a gate report nothing.
"""

from __future__ import annotations

import numpy as np
import torch

from h2rec.data.sequences import Padding, SeqDataset, Split
from h2rec.models.base import SequentialRecommender


@torch.no_grad()
def mean_level_gate(
    model: SequentialRecommender, data: SeqDataset, split: Split, max_len: int, padding: Padding, user_batch: int = 1024
) -> dict[str, float]:
    if getattr(model, "gate", None) is None:
        return {}
    was_training = model.training
    model.eval()
    chunks = np.array_split(np.arange(data.n_users), max(1, -(-data.n_users // user_batch)))
    device = model.device
    gate = np.concatenate([model.user_gate(data.eval_batch(c, split, max_len, padding).to(device)).cpu().numpy() for c in chunks])
    model.train(was_training)
    out: dict[str, float] = {}
    for group, rows in (("all", slice(None)), ("short", ~data.is_long), ("long", data.is_long)):
        part = gate[rows]
        if len(part):
            out.update({f"gate/{group}/level_{l}": float(v) for l, v in enumerate(part.mean(0))})
    return out
