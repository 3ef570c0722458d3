"""bench/workspace.py: every benchmark trains at the settings its figures were measured at."""

from __future__ import annotations

from tests.scripts import load_bench_script


def test_a_benchmark_sasrec_is_the_plain_one_at_the_measured_settings_not_the_defaults():
    workspace = load_bench_script("workspace")
    cfg = workspace.train_config(model="sasrec", epochs=1, progress=False)
    assert (cfg.model, cfg.epochs, cfg.progress) == ("sasrec", 1, False)
    assert cfg.hid.init == "random" and cfg.sid.init == "random" and cfg.logit_adjustment == 0.0
    assert (cfg.lr, cfg.batch_size) == (1e-3, 256)
    assert (cfg.backbone.layers, cfg.backbone.dropout, cfg.backbone.attn_dropout) == (2, 0.5, 0.5)
    assert workspace.train_config(model="h2rec", batch_size=64).batch_size == 64  # a call's own keys win
