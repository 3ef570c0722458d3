"""What H2Rec's learned level gate does: its mean weights per SID level, by user length and by
the popularity of the item the user goes on to pick.

Keys `gate/<group>/level_<l>` (level 0 = coarsest), read at each user's last history item
before the split's target, for the groups all, short and long users, head and tail targets,
and `bucket_<b>` (the five popularity buckets of the target, 0 = least popular). Models
without a gate report nothing.
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
    target = data.targets(split)  # (U,) the item each user picks next
    groups = [("all", slice(None)), ("short", ~data.is_long), ("long", data.is_long)]
    groups += [("head", data.is_head[target]), ("tail", ~data.is_head[target])]
    groups += [(f"bucket_{b}", data.bucket[target] == b) for b in np.unique(data.bucket[target])]
    for group, rows in groups:
        part = gate[rows]
        if len(part):
            out.update({f"gate/{group}/level_{l}": float(v) for l, v in enumerate(part.mean(0))})
    return out
