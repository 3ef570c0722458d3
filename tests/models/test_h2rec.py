import json

import numpy as np
import pandas as pd
import pytest
import torch

from h2rec.config import BackboneConfig, H2RecConfig, PreprocessConfig
from h2rec.data.sequences import Batch, SeqDataset
from h2rec.data.split import prepare
from h2rec.models.alignment import soft_contrastive
from h2rec.models.backbone import SASRecEncoder, attention_mask
from h2rec.models.h2rec import H2Rec, make_h2rec
from h2rec.models.losses import NextItemLoss
from h2rec.models.sasrec import SASRec
from h2rec.models.sequence import SequenceModel
from tests.conftest import SCIENTIFIC

torch.set_num_threads(1)

N_ITEMS, K = 30, [4, 4, 4]
BACKBONE = BackboneConfig(max_len=20, hidden=16, layers=1, heads=2, ffn=32, dropout=0.0, attn_dropout=0.0)


def random_codes(n_items: int, cards: list[int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, k, n_items) for k in cards], 1)
    return np.concatenate([np.full((1, len(cards)), -1), codes])


def make(cfg: H2RecConfig = H2RecConfig(), train_count=None, backbone=BACKBONE, seed=0) -> H2Rec:
    torch.manual_seed(seed)
    model = make_h2rec(N_ITEMS, random_codes(N_ITEMS, K), K, backbone, cfg, NextItemLoss("ce", N_ITEMS), train_count=train_count)
    if getattr(model, "gate", None) is not None and model.gate.mlp is not None:  # a gate that is not constant yet
        torch.nn.init.normal_(model.gate.mlp[-1].weight, std=1.0)
    return model.eval()


def batch(rows: list[list[int]], padding: str = "right", width: int | None = None) -> Batch:
    width = width or max(map(len, rows))
    items = torch.zeros(len(rows), width, dtype=torch.long)
    for r, seq in enumerate(rows):
        if padding == "right":
            items[r, : len(seq)] = torch.tensor(seq)
        else:
            items[r, width - len(seq) :] = torch.tensor(seq)
    return Batch(items, torch.arange(len(rows)), torch.tensor([len(s) for s in rows]), padding)


SHORT, LONG = [4, 9], [1, 2, 3, 5, 6, 7, 8, 10, 11]


# -- shapes and masking ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cfg, dim",
    [
        (H2RecConfig(), 32),
        (H2RecConfig(branches="hid"), 16),
        (H2RecConfig(branches="sid"), 16),
        (H2RecConfig(interaction="sum"), 16),
        (H2RecConfig(interaction="none"), 32),
        (H2RecConfig(shared_backbone=False), 32),
        (H2RecConfig(interaction="parallel", cross_heads=4), 32),
    ],
)
def test_shapes(cfg, dim):
    m = make(cfg)
    b = batch([SHORT, LONG])
    assert m.sequence_states(b).shape == (2, len(LONG), dim)
    assert m.item_vectors().shape == (N_ITEMS + 1, dim)
    assert m.item_vectors(torch.tensor([[1, 2, 3]])).shape == (1, 3, dim)
    scores = m.full_sort_predict(b)
    assert scores.shape == (2, N_ITEMS + 1) and torch.isinf(scores[:, 0]).all() and torch.isfinite(scores[:, 1:]).all()
    assert torch.allclose(m.predict(b, torch.tensor([3, 7])), scores[:, [3, 7]], atol=1e-5)


@pytest.mark.parametrize(
    "cfg", [H2RecConfig(), H2RecConfig(branches="sid"), H2RecConfig(interaction="sum"), H2RecConfig(interaction="parallel")]
)
def test_padding_and_batch_mates_never_change_a_users_scores(cfg):
    m = make(cfg)
    alone = m.full_sort_predict(batch([SHORT]))
    for padding in ("left", "right"):
        for width in (len(LONG), 15):
            mixed = m.full_sort_predict(batch([SHORT, LONG], padding, width))
            assert torch.allclose(mixed[0], alone[0], atol=1e-5), (padding, width)
    # Whatever sits in the padding rows of the tables is never read for a real position.
    before = m.full_sort_predict(batch([SHORT, LONG], "left"))[:, 1:]
    with torch.no_grad():
        if m.hid is not None:
            m.hid.weight[0] = torch.randn(16) * 5
        for emb in m.sid.levels:
            emb.weight[0] = torch.randn(16) * 5
    after = m.full_sort_predict(batch([SHORT, LONG], "left"))[:, 1:]
    assert torch.allclose(before, after, atol=1e-5)


@pytest.mark.parametrize("cfg", [H2RecConfig(), H2RecConfig(interaction="parallel")])
def test_future_items_never_change_earlier_states(cfg):
    m = make(cfg)
    a = m.sequence_states(batch([LONG]))
    changed = LONG[:4] + [20, 21, 22, 23, 24]
    b = m.sequence_states(batch([changed]))
    assert torch.allclose(a[0, :4], b[0, :4], atol=1e-5)
    assert not torch.allclose(a[0, 4:], b[0, 4:], atol=1e-3)


# -- the gate ------------------------------------------------------------------------------------
def reference_gate(m: H2Rec, seq: list[int]) -> torch.Tensor:
    """softmax(MLP([H_last; mean H; prior]) + prior) from the item vectors, no sequence tricks."""
    h = m.hid_vectors(torch.tensor(seq))
    prior = m.gate.prior
    return (m.gate.mlp(torch.cat([h[-1], h.mean(0), prior])) + prior).softmax(-1)


def test_gate_reads_the_true_last_item_of_short_left_padded_users():
    m = make()
    for padding in ("left", "right"):
        g = m.user_gate(batch([SHORT, LONG], padding, width=12))
        assert torch.allclose(g[0], reference_gate(m, SHORT), atol=1e-5), padding
        assert torch.allclose(g[1], reference_gate(m, LONG), atol=1e-5), padding
    other_last = m.user_gate(batch([[4, 17], LONG], "left"))
    assert not torch.allclose(other_last[0], m.user_gate(batch([SHORT, LONG], "left"))[0])


def test_gate_prior_falls_linearly_from_coarse_to_fine():
    m = make(H2RecConfig(gate="prior"))
    assert torch.allclose(m.gate.prior, torch.tensor([1.0, 0.6, 0.2]))
    assert torch.allclose(m.user_gate(batch([SHORT]))[0], torch.tensor([1.0, 0.6, 0.2]).softmax(0))
    fresh = make_h2rec(N_ITEMS, random_codes(N_ITEMS, K), K, BACKBONE, H2RecConfig(), NextItemLoss("ce", N_ITEMS)).eval()
    assert torch.allclose(fresh.user_gate(batch([LONG]))[0], torch.tensor([1.0, 0.6, 0.2]).softmax(0))  # starts at the prior


# -- ablation switches remove their component ------------------------------------------------------
def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def train_terms(m: H2Rec, rows) -> dict[str, torch.Tensor]:
    m.train()
    b = batch(rows)
    b.targets = torch.where(b.items != 0, (b.items % N_ITEMS) + 1, 0)
    return m.calculate_loss(b)[1]


ROWS = [LONG, SHORT + [12, 13], [14, 15, 16, 17, 18, 19]]


def test_default_model_logs_all_three_terms_and_each_reaches_its_parameters():
    m = make()
    m.train()
    b = batch(ROWS)
    b.targets = torch.where(b.items != 0, (b.items % N_ITEMS) + 1, 0)
    states, gate = m.encode_sequences(b)
    extra = m.extra_losses(b, states, gate)
    assert set(extra) == {"code", "mask"}
    extra["mask"].backward(retain_graph=True)
    assert m.mask_vectors.grad is not None and m.mask_vectors.grad.abs().sum() > 0
    m.zero_grad()
    extra["code"].backward()
    assert m.hid.weight.grad.abs().sum() > 0 and m.sid.levels[0].weight.grad.abs().sum() > 0
    assert m.backbone.pos.weight.grad is None  # L_code reads item vectors only


@pytest.mark.parametrize(
    "switch, absent_term",
    [
        (dict(lambda_code=0.0), "code"),
        (dict(lambda_mask=0.0), "mask"),
        (dict(branches="hid"), "code"),
        (dict(interaction="sum"), "mask"),
    ],
)
def test_switches_drop_loss_terms(switch, absent_term):
    assert absent_term not in train_terms(make(H2RecConfig(**switch)), ROWS)
    assert absent_term in train_terms(make(), ROWS)


def test_switches_remove_parameters():
    full = make()
    d = BACKBONE.hidden
    no_mask = make(H2RecConfig(lambda_mask=0.0))
    assert no_mask.mask_vectors is None and n_params(full) - n_params(no_mask) == full.levels * d
    no_gate = make(H2RecConfig(gate="mean"))
    assert no_gate.gate.mlp is None and n_params(full) - n_params(no_gate) == n_params(full.gate.mlp)
    assert torch.allclose(no_gate.user_gate(batch([LONG])), torch.full((1, 3), 1 / 3))
    no_cross = make(H2RecConfig(interaction="none"))
    assert n_params(no_cross.interaction) == 0
    assert n_params(full) - n_params(no_cross) == n_params(full.interaction)
    separate = make(H2RecConfig(shared_backbone=False))
    assert n_params(separate) - n_params(full) == n_params(SASRecEncoder(BACKBONE))
    hid_only = make(H2RecConfig(branches="hid"))
    sasrec = SASRec(N_ITEMS, BACKBONE, NextItemLoss("ce", N_ITEMS))
    assert isinstance(hid_only, SequenceModel) and n_params(hid_only) == n_params(sasrec)
    sid_only = make(H2RecConfig(branches="sid"))
    assert sid_only.hid is None and n_params(sid_only.interaction) == 0
    summed = make(H2RecConfig(interaction="sum", lambda_mask=0.0))
    assert summed.gate is None and n_params(summed.interaction) == 0
    assert torch.allclose(summed.item_vectors(), summed.hid_vectors() + summed.sid_vectors())


@pytest.mark.parametrize(
    "cfg, coded",
    [
        (H2RecConfig(), True),
        (H2RecConfig(interaction="parallel"), True),
        (H2RecConfig(interaction="none"), True),
        (H2RecConfig(interaction="sum"), False),  # e_H + e_S: no SID half to score apart
        (H2RecConfig(branches="sid"), False),
        ("sum pooling, unequal levels, frozen rows", True),
        ("concat pooling", False),
    ],
)
def test_training_scores_the_sid_half_through_the_codes_with_the_same_loss_and_gradients(cfg, coded):
    if isinstance(cfg, str):  # unequal cardinalities catch wrong level offsets; frozen rows must stay untrained
        cards = [4, 6, 3]
        torch.manual_seed(0)
        pooling = "sum" if cfg.startswith("sum") else "concat"
        count = np.ones(N_ITEMS + 1)
        count[[0, 5, 7]] = 0
        m = make_h2rec(
            N_ITEMS,
            random_codes(N_ITEMS, cards),
            cards,
            BACKBONE,
            H2RecConfig(),
            NextItemLoss("ce", N_ITEMS),
            pooling=pooling,
            train_count=count,
        ).train()
    else:
        m = make(cfg).train()
    assert (m.coded_items() is not None) == coded
    b = batch(ROWS)
    b.targets = torch.where(b.items != 0, (b.items % N_ITEMS) + 1, 0)
    real = b.targets != 0
    states = m.sequence_states(b)[real]
    params = [p for p in m.parameters() if p.requires_grad]
    ours = m.loss(states, b.targets[real], m.item_vectors, m.coded_items)
    plain = m.loss(states, b.targets[real], m.item_vectors)  # the built (I, 2d) table
    assert torch.allclose(ours, plain, atol=1e-6)
    for g, r in zip(
        torch.autograd.grad(ours, params, retain_graph=True, allow_unused=True),
        torch.autograd.grad(plain, params, allow_unused=True),
    ):
        assert (g is None and r is None) or torch.allclose(g, r, atol=1e-6)


def test_hid_only_is_sasrec():
    h2 = make(H2RecConfig(branches="hid"))
    sas = SASRec(N_ITEMS, BACKBONE, NextItemLoss("ce", N_ITEMS)).eval()
    sas.items.weight.data.copy_(h2.items.weight.data)
    sas.backbone.load_state_dict(h2.backbone.state_dict())
    b = batch([SHORT, LONG], "left")
    assert torch.allclose(h2.full_sort_predict(b), sas.full_sort_predict(b), atol=1e-5)


def test_mask_loss_masks_the_lowest_gated_half():
    m = make(H2RecConfig(gate="prior", mask_users=0))  # prior: coarse 1.0 > 0.6 > fine 0.2
    seen = {}
    original = m._encode

    def spy(b, masked=None, gate=None, sid_only=False):
        if masked is not None:
            seen["masked"] = masked.clone()
        return original(b, masked, gate, sid_only)

    m._encode = spy
    train_terms(m, ROWS)
    assert torch.equal(seen["masked"], torch.tensor([[False, False, True]] * 3))  # one of three levels: the finest


def test_the_masked_pass_keeps_the_rows_cloze_flags():
    m = make(H2RecConfig(mask_users=2))  # a random 2 of the 3 rows are re-encoded
    seen = {}
    original = m._encode

    def spy(b, masked=None, gate=None, sid_only=False):
        if masked is not None:
            seen["batch"] = b
        return original(b, masked, gate, sid_only)

    m._encode = spy
    m.train()
    b = batch(ROWS)
    cloze = torch.zeros_like(b.items, dtype=torch.bool)
    cloze[0, [2, 8]] = cloze[1, 5] = cloze[2, 0] = True  # hidden items (BERT4Rec's cloze): id 0, still real
    b.items = b.items.masked_fill(cloze, 0)
    b.extras["cloze"] = cloze
    b.targets = torch.where(b.items != 0, (b.items % N_ITEMS) + 1, 0)
    m.calculate_loss(b)
    sub = seen["batch"]
    assert torch.equal(sub.extras["cloze"], cloze[sub.users]) and torch.equal(sub.mask, b.mask[sub.users])


def test_soft_mask_loss_contrasts_the_sid_branch_on_raw_dot_products():
    """The method's L_mask: u_S masked vs unmasked, soft targets, one mask vector per level."""
    cfg = H2RecConfig(gate="prior", mask_users=0, mask_loss="soft")
    m = make(cfg)
    m.train()
    b = batch(ROWS)
    b.targets = torch.where(b.items != 0, (b.items % N_ITEMS) + 1, 0)
    states, gate = m.encode_sequences(b)
    loss = m.mask_loss(b, states, gate)
    # the same loss from its parts: the SID stream alone, re-encoded with the finest level masked
    masked = torch.tensor([[False, False, True]] * 3)
    u_masked = m._encode(b, masked, gate, sid_only=True)[0][torch.arange(3), b.last]
    u = states[torch.arange(3), b.last, BACKBONE.hidden :]
    assert torch.allclose(loss, soft_contrastive(u_masked, u, 1.0), atol=1e-5)
    loss.backward()
    grads = m.mask_vectors.grad.abs().sum(1)
    assert grads[2] > 0 and grads[0] == 0 and grads[1] == 0  # only the masked (finest) level's vector
    assert m.hid.weight.grad.abs().sum() > 0  # u_S reads the HID sequence through the cross-attention


def test_one_shared_mask_vector_of_an_old_checkpoint_loads_into_every_level():
    m = make()
    state = m.state_dict()
    shared = torch.randn(BACKBONE.hidden)
    state["mask_vector"] = shared
    del state["mask_vectors"]
    m.load_state_dict(state)
    assert torch.equal(m.mask_vectors.data, shared.expand(3, -1))


def test_parallel_routing_is_the_gated_sid_to_hid_mix_and_hid_to_sid_over_the_level_mean():
    m = make(H2RecConfig(interaction="parallel", cross_heads=4))
    b = batch([SHORT, LONG])
    H, levels = m.hid_vectors(b.items), m.sid.level_vectors(b.items)
    gate = m.gate(H, b.mask)
    inter = m.interaction
    allowed = attention_mask(b.mask)
    hid_stream = sum(gate[..., l, None] * inter.sid_reads_hid[l](levels[l], H, allowed) for l in range(3))
    sid_stream = inter.hid_reads_sid(H, torch.stack(levels).mean(0), allowed)
    got = inter(H, levels, gate, b.mask)
    assert torch.allclose(got[0], hid_stream, atol=1e-6) and torch.allclose(got[1], sid_stream, atol=1e-6)
    assert inter.hid_reads_sid.heads == 4 and inter.hid_reads_sid.ln is None  # no residual, no LayerNorm
    # xavier-initialised projections keep the streams at the item vectors' scale
    real = b.mask
    ratio = (got[1][real].pow(2).mean().sqrt() / levels[0][real].pow(2).mean().sqrt()).detach()
    assert 0.2 < float(ratio) < 5.0


def test_matched_positions_start_at_the_streams_scale():
    fixed = make(H2RecConfig())
    matched = make(H2RecConfig(position_scale="matched"))
    assert float(fixed.backbone.pos.weight.detach().std()) == pytest.approx(0.02, rel=0.3)
    assert float(matched.backbone.pos.weight.detach().std()) == pytest.approx(
        1.0, rel=0.3
    )  # the serial streams leave a LayerNorm
    parallel = make(H2RecConfig(interaction="parallel", position_scale="matched"))
    assert float(parallel.backbone.pos.weight.detach().std()) == pytest.approx(0.02, rel=0.3)  # already at the item scale


# -- cold start ------------------------------------------------------------------------------------
def test_items_absent_from_training_keep_their_hid_vector_and_rank_by_sid():
    train_count = np.ones(N_ITEMS + 1, np.int64)
    train_count[[0, 25]] = 0
    m = make(train_count=train_count)
    before = m.hid.weight.detach().clone()
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(3):
        loss, _ = m.calculate_loss(_targets(batch(ROWS)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = m.hid.weight.detach()
    assert torch.equal(after[25], before[25])  # every item is a negative of the full softmax, yet 25 is untouched
    assert not torch.equal(after[12], before[12])
    m.eval()
    b = batch([SHORT, LONG])
    s1 = m.full_sort_predict(b)[:, 25]
    m.sid.codes[25] = m.sid.codes[3]  # give item 25 other Semantic IDs: its score follows them
    s2 = m.full_sort_predict(b)[:, 25]
    assert not torch.allclose(s1, s2)


def test_cold_hid_predicted_from_the_sid_view_at_inference_only():
    train_count = np.ones(N_ITEMS + 1, np.int64)
    train_count[[0, 25]] = 0
    m = make(H2RecConfig(cold_hid="sid"), train_count=train_count)
    warm = m.hid.weight[1:25].detach().norm(dim=-1).tolist() + m.hid.weight[26:].detach().norm(dim=-1).tolist()
    got = m.hid_vectors(torch.tensor([25, 3]))
    sid = m.sid_vectors(torch.tensor([25]))[0]
    assert torch.allclose(got[0], sid / sid.norm() * torch.tensor(warm).median(), atol=1e-6)
    assert torch.equal(got[1], m.hid.weight[3])  # warm items untouched
    m.train()
    assert torch.equal(m.hid_vectors(torch.tensor([25]))[0], m.hid.weight[25])  # training sees the frozen initial vector


def test_new_items_are_ranked_through_their_semantic_ids():
    m = make()
    b = batch([SHORT, LONG])
    state = m.encode(b)
    new = m.add_items(np.array([[0, 1, 2], [3, 3, 3]]))
    assert new.tolist() == [N_ITEMS + 1, N_ITEMS + 2] and m.n_items == N_ITEMS + 2
    scores = m.full_sort_predict(b)
    assert scores.shape == (2, N_ITEMS + 3) and torch.allclose(m.encode(b), state)
    u_s = state[:, BACKBONE.hidden :]
    assert torch.allclose(scores[:, new], u_s @ m.sid_vectors(new).T, atol=1e-5)  # HID part is zero


def _targets(b: Batch) -> Batch:
    b.targets = torch.where(b.items != 0, (b.items % N_ITEMS) + 1, 0)
    return b


# -- a short training on real data ---------------------------------------------------------------
@pytest.fixture(scope="module")
def real_slice() -> SeqDataset:
    inter = json.loads((SCIENTIFIC / "Scientific.inter.json").read_text())
    rows = [(u, str(i), t) for u, seq in list(inter.items())[:400] for t, i in enumerate(seq)]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    items = pd.DataFrame({"item_id": sorted(events["item_id"].unique()), "title": ""})
    prep = prepare(events, items, PreprocessConfig(k_core=3))
    return SeqDataset.from_frames(prep.interactions, prep.items, prep.users)


def test_short_training_on_real_data_reduces_every_loss_term(real_slice):
    data = real_slice
    cards = [8, 8, 8]
    torch.manual_seed(0)
    m = make_h2rec(
        data.n_items,
        random_codes(data.n_items, cards),
        cards,
        BACKBONE,
        H2RecConfig(),
        NextItemLoss("ce", data.n_items),
        train_count=data.train_count,
    )
    users = data.train_users()
    batches = [data.train_batch(users[i : i + 64], 20, "right") for i in range(0, 256, 64)]
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    m.train()
    first = {k: float(v) for k, v in m.calculate_loss(batches[0])[1].items()}
    for _ in range(12):
        for b in batches:
            loss, _ = m.calculate_loss(b)
            opt.zero_grad()
            loss.backward()
            opt.step()
    last = {k: float(v) for k, v in m.calculate_loss(batches[0])[1].items()}
    assert set(first) == {"rec", "code", "mask"}
    for name in first:
        assert last[name] < first[name], (name, first[name], last[name])


# -- building and initialisation ---------------------------------------------------------------
def tiny_dataset() -> SeqDataset:
    seqs = {f"u{u}": [f"i{(u + k) % 12}" for k in range(6)] for u in range(12)}
    events = pd.DataFrame([(u, i, t) for u, s in seqs.items() for t, i in enumerate(s)], columns=["user_id", "item_id", "ts"])
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(12)], "title": ""})
    prep = prepare(events, items, PreprocessConfig(k_core=3))
    return SeqDataset.from_frames(prep.interactions, prep.items, prep.users)


def test_build_drops_the_dedup_level_unless_asked_and_same_tuples_ignore_it():
    from h2rec.config import TrainConfig
    from h2rec.models.inputs import ModelInputs
    from h2rec.models.registry import build_model
    from h2rec.sid.table import SidTable

    data = tiny_dataset()
    codes = np.concatenate([[[-1, -1, -1]], [[i % 3, i % 2, i // 6] for i in range(data.n_items)]])  # last column: dedup
    inputs = ModelInputs(data, SidTable(codes, [3, 2, 2], dedup=True))
    cfg = TrainConfig(model="h2rec", backbone=BACKBONE)
    plain = build_model(cfg, inputs)
    assert plain.levels == 2 and plain.quantized_levels == 2
    with_dedup = build_model(cfg.model_copy(update={"h2rec": H2RecConfig(dedup_level=True)}), inputs)
    assert with_dedup.levels == 3 and with_dedup.quantized_levels == 2
    assert torch.equal(plain.tuple_id, with_dedup.tuple_id)  # items 1 and 7 share (0, 0) whatever their dedup code
    assert with_dedup.tuple_id[1] == with_dedup.tuple_id[7]


def test_pca_and_codebook_initialisation():
    from h2rec.config import HidConfig, SidConfig, TrainConfig
    from h2rec.models.inputs import ModelInputs
    from h2rec.models.items import pca_project
    from h2rec.models.registry import build_model
    from h2rec.sid.table import SidTable

    data = tiny_dataset()
    rng = np.random.default_rng(0)
    text = rng.normal(size=(data.n_items, 24)).astype(np.float32)
    books = [rng.normal(size=(k, 24)).astype(np.float32) for k in K]
    sid = SidTable(random_codes(data.n_items, K), K, books)
    cfg = TrainConfig(model="h2rec", backbone=BACKBONE, hid=HidConfig(init="pca"), sid=SidConfig(init="codebooks"))
    m = build_model(cfg, ModelInputs(data, sid, text_embeddings=text))
    assert np.allclose(m.hid.weight[1:].detach().numpy(), pca_project([text], 16)[0], atol=1e-6)
    for emb, expected in zip(m.sid.levels, pca_project(books, 16)):
        assert np.allclose(emb.weight[1:].detach().numpy(), expected, atol=1e-6)
    assert (m.hid.weight[0] == 0).all() and all((e.weight[0] == 0).all() for e in m.sid.levels)
    whitened = build_model(
        cfg.model_copy(update={"hid": HidConfig(init="pca_whitened")}), ModelInputs(data, sid, text_embeddings=text)
    )
    assert np.allclose(whitened.hid.weight[1:].detach().numpy(), pca_project([text], 16, whiten=True)[0], atol=1e-6)


@pytest.mark.parametrize("interaction", ["cross", "parallel", "none"])
def test_the_sid_stream_alone_is_the_last_stream_of_the_full_interaction(interaction):
    m = make(H2RecConfig(interaction=interaction))
    b = batch([SHORT, LONG])
    H, levels = m.hid_vectors(b.items), m.sid.level_vectors(b.items)
    gate = m.gate(H, b.mask)
    assert torch.allclose(
        m.interaction.sid_stream(H, levels, gate, b.mask), m.interaction(H, levels, gate, b.mask)[-1], atol=1e-6
    )


def test_detached_mask_loss_never_reaches_the_gate_or_the_unmasked_pass():
    m = make(H2RecConfig(mask_users=0, mask_loss="soft", mask_detach=True))
    m.train()
    b = batch(ROWS)
    states, gate = m.encode_sequences(b)
    m.mask_loss(b, states, gate).backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in m.gate.mlp.parameters())
    assert m.mask_vectors.grad.abs().sum() > 0  # the masked pass still learns
    attached = make(H2RecConfig(mask_users=0, mask_loss="soft"))
    attached.train()
    states, gate = attached.encode_sequences(b)
    attached.mask_loss(b, states, gate).backward()
    assert attached.gate.mlp[-1].weight.grad.abs().sum() > 0  # without it the gate is trained by L_mask
