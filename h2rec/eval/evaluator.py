"""Evaluate any `SequentialRecommender` on the valid or test split, under both protocols.

Valid split: the history is the training items, the target the validation item. Test split:
the history is training + validation items, the target the test item. The model reads the
last `max_len` history items; the seen-item mask uses the whole history.

Users are processed in batches sorted by history length, so each batch is trimmed to its own
longest sequence; results are put back in user order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from h2rec.config import EvaluateConfig
from h2rec.data.sequences import Padding, SeqDataset, Split
from h2rec.eval.groups import FULL, group_metrics, group_sizes, sampled_protocol
from h2rec.eval.negatives import sample_negatives
from h2rec.eval.ranking import Candidates, full_ranks, sampled_ranks
from h2rec.models.base import SequentialRecommender

TOP_K = 10  # length of the lists used for tail share and coverage


@dataclass
class CaseResults:
    split: Split
    users: np.ndarray  # (U,)
    targets: np.ndarray  # (U,)
    ranks: dict[str, np.ndarray]  # protocol -> (U,) 0-based ranks
    top: np.ndarray | None  # (U, TOP_K) full-ranking lists, history masked


class Evaluator:
    def __init__(self, data: SeqDataset, cfg: EvaluateConfig = EvaluateConfig()):
        self.data, self.cfg = data, cfg
        rng = np.random.default_rng(cfg.seed)
        self.prio = torch.from_numpy(rng.permutation(data.n_items + 1))  # tie-break order
        self.sampled = sampled_protocol(cfg.sampled_negatives)
        self._negatives: np.ndarray | None = None

    @property
    def negatives(self) -> np.ndarray:
        """(U, n) sampled negatives, drawn on first use and then fixed."""
        if self._negatives is None:
            d = self.data
            weights = d.train_count if self.cfg.negative_sampling == "popularity" else None
            n, seed = self.cfg.sampled_negatives, self.cfg.seed
            self._negatives = sample_negatives(d.offsets, d.flat, d.n_items, n, seed, weights)
        return self._negatives

    def cases(
        self,
        model: SequentialRecommender,
        split: Split,
        max_len: int,
        padding: Padding,
        protocols: tuple[str, ...] = (FULL, "sampled"),
    ) -> CaseResults:
        d = self.data
        users = np.arange(d.n_users)
        targets = d.targets(split)
        ranks = {p: np.zeros(d.n_users, dtype=np.int64) for p in self._names(protocols)}
        top = np.zeros((d.n_users, TOP_K), dtype=np.int64) if FULL in protocols else None
        was_training = model.training
        model.eval()
        device = model.device  # inputs go where the model is; results come back as NumPy
        prio = self.prio.to(device)
        for chunk in self._user_batches(split, max_len):
            batch = d.eval_batch(chunk, split, max_len, padding).to(device)
            tgt = torch.from_numpy(targets[chunk]).to(device)
            if FULL in protocols:
                cand = self._candidates(chunk, split).to(device)
                r, t = full_ranks(model, batch, cand, prio, d.n_items, self.cfg.item_chunk, TOP_K)
                ranks[FULL][chunk], top[chunk, : t.shape[1]] = r.cpu().numpy(), t.cpu().numpy()
            if "sampled" in protocols:
                neg = torch.from_numpy(self.negatives[chunk]).to(device)
                ranks[self.sampled][chunk] = sampled_ranks(model, batch, tgt, neg, prio).cpu().numpy()
        model.train(was_training)
        return CaseResults(split, users, targets, ranks, top)

    def history(self, split: Split, users: np.ndarray) -> np.ndarray:
        """(cases,) items before each user's target of the split."""
        return self.data.history_end(split)[users] - self.data.offsets[users]

    @property
    def paper(self) -> tuple[int, int]:
        return self.cfg.paper_groups.ts_item, self.cfg.paper_groups.ts_user

    def summarise(self, res: CaseResults) -> dict[str, float]:
        history = self.history(res.split, res.users)
        return group_metrics(self.data, res.users, res.targets, res.ranks, self.cfg.ks, res.top, history, self.paper)

    def evaluate(
        self, model: SequentialRecommender, split: Split, max_len: int, padding: Padding, protocols=(FULL, "sampled")
    ) -> dict[str, float]:
        return self.summarise(self.cases(model, split, max_len, padding, protocols))

    def sizes(self, split: Split) -> dict[str, int]:
        users = np.arange(self.data.n_users)
        return group_sizes(self.data, users, self.data.targets(split), self.history(split, users), self.paper)

    # -- internals -------------------------------------------------------------------------
    def _names(self, protocols: tuple[str, ...]) -> list[str]:
        return [FULL if p == FULL else self.sampled for p in protocols]

    def _user_batches(self, split: Split, max_len: int) -> list[np.ndarray]:
        lengths = np.minimum(self.data.history_end(split) - self.data.offsets[:-1], max_len)
        order = np.argsort(lengths, kind="stable")
        return np.array_split(order, max(1, -(-len(order) // self.cfg.user_batch)))

    def _candidates(self, users: np.ndarray, split: Split) -> Candidates:
        d = self.data
        start, end = d.offsets[users], d.history_end(split)[users]
        lengths = end - start
        rows = np.repeat(np.arange(len(users)), lengths)
        # flat index of every history entry: its offset within the user's run + the run's start
        idx = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(start, lengths)
        items = d.flat[idx]
        targets = d.targets(split)[users]
        keep = items != targets[rows]  # the target stays a candidate even if seen before
        return Candidates(torch.from_numpy(targets), torch.from_numpy(rows[keep]), torch.from_numpy(items[keep]))
