import numpy as np
import pytest

from h2rec.sid.report import level_stats, plot_usage, tokenizer_metrics, tuple_stats, usage_table


def test_level_stats_on_hand_made_codes():
    codes = np.array([[0, 0], [1, 0], [2, 0], [3, 0]])
    stats = level_stats(codes, 8)
    assert stats["level_0_utilisation"] == 0.5 and stats["level_1_utilisation"] == 0.125
    assert stats["level_0_entropy_bits"] == pytest.approx(2.0)
    assert stats["level_0_entropy_norm"] == pytest.approx(2 / 3)
    assert stats["level_1_entropy_bits"] == 0.0


def test_tuple_stats():
    codes = np.array([[0, 1], [0, 1], [0, 1], [2, 2], [3, 3]])
    assert tuple_stats(codes) == {
        "unique_tuple_share": 0.4,
        "distinct_tuple_share": 0.6,
        "largest_collision_group": 3,
    }


def test_tokenizer_metrics_are_flat_numbers():
    x = np.array([[3.0, 4.0], [1.0, 0.0]])
    x_hat = np.array([[3.0, 4.0], [0.5, 0.0]])
    m = tokenizer_metrics(x, x_hat, np.array([[0], [1]]), 2, 1.23456)
    assert m["rel_recon_error"] == pytest.approx(0.25)
    assert m["fit_seconds"] == 1.235 and m["n_items"] == 2
    assert all(isinstance(v, (int, float)) for v in m.values())


def test_usage_table_and_plot(tmp_path):
    codes = np.array([[0, 1], [0, 1], [0, 2], [1, 3]])
    table = usage_table(codes, 4)
    assert table["rank"].tolist() == [0, 1, 2, 3]
    assert table["level_0"].tolist() == [3, 1, 0, 0] and table["level_1"].tolist() == [2, 1, 1, 0]
    plot_usage(codes, 4, tmp_path / "usage.png", "test")
    assert (tmp_path / "usage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
