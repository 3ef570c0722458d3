import numpy as np
import torch

from h2rec.models.items import HidTable

torch.set_num_threads(1)


def test_hid_lookup_equals_the_detached_table_indexed_and_trains_no_frozen_row():
    torch.manual_seed(0)
    frozen = np.array([True, False, True, False, False, True])  # padding and two items unseen in training
    table = HidTable(5, 4, frozen)
    items = torch.tensor([[0, 1, 2, 3], [5, 5, 4, 1]])
    weights = torch.randn(2, 4, 4)

    got = table(items)
    (got * weights).sum().backward()
    fast_grad, table.emb.weight.grad = table.emb.weight.grad.clone(), None
    ref = table.table()[items]  # the plain reference: the whole table, frozen rows detached, then indexed
    (ref * weights).sum().backward()

    assert torch.equal(got, ref)
    assert torch.allclose(fast_grad, table.emb.weight.grad)
    assert torch.all(fast_grad[torch.as_tensor(frozen)] == 0) and torch.any(fast_grad[1] != 0)
    assert torch.equal(table(None), table.table())
