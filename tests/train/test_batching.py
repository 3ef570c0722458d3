import numpy as np

from h2rec.train.batching import bucketed_batches


def test_every_user_once_and_batches_of_similar_length():
    rng = np.random.default_rng(0)
    users = np.arange(1000)
    lengths = rng.integers(1, 51, 1000)
    batches = bucketed_batches(users, lengths, 32, np.random.default_rng(1), pool=10)
    joined = np.concatenate(batches)
    assert sorted(joined.tolist()) == users.tolist()
    assert max(map(len, batches)) == 32
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 10  # random batches would span ~48


def test_order_changes_with_the_generator_state():
    users, lengths = np.arange(200), np.arange(200) % 7
    rng = np.random.default_rng(0)
    a = bucketed_batches(users, lengths, 16, rng)
    b = bucketed_batches(users, lengths, 16, rng)
    assert [x.tolist() for x in a] != [x.tolist() for x in b]
