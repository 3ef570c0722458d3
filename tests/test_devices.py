import pytest
import torch

from h2rec.devices import autocast, effective_precision


@pytest.mark.parametrize(
    ("device", "asked", "computed"),
    [
        ("cpu", "auto", "fp32"),
        ("cpu", "bf16", "fp32"),
        ("cuda", "auto", "bf16"),
        ("cuda", "bf16", "bf16"),
        ("cuda", "fp32", "fp32"),
    ],
)
def test_effective_precision_is_what_autocast_computes_in(device, asked, computed):
    assert effective_precision(torch.device(device), asked) == computed


def test_the_cpu_never_autocasts():
    with autocast(torch.device("cpu"), "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
