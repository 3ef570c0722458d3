import numpy as np
import pytest
import torch

from h2rec.config import TrainConfig
from h2rec.errors import ConfigError
from h2rec.models.inputs import ModelInputs
from h2rec.models.pop import Popularity
from h2rec.models.registry import MODELS, build_model
from tests.train.toy import toy_dataset


def test_popularity_scores_are_training_counts():
    data = toy_dataset(n_users=30, n_items=20)
    m = build_model(TrainConfig(model="pop"), ModelInputs(data))
    assert isinstance(m, Popularity) and not m.trainable
    batch = data.eval_batch(np.arange(3), "test", 50, "right")
    scores = m.full_sort_predict(batch)
    assert torch.equal(scores[:, 1:], torch.as_tensor(data.train_count[1:], dtype=torch.float32).expand(3, -1))


def test_registry_knows_the_baselines_and_refuses_unknown_names():
    assert {"sasrec", "sid_sasrec", "pop"} <= set(MODELS)
    with pytest.raises(ConfigError, match="unknown model 'nope'.*sasrec"):
        build_model(TrainConfig(model="nope"), ModelInputs(toy_dataset()))


def test_a_sid_model_without_sids_is_a_clear_error():
    with pytest.raises(ConfigError, match="needs Semantic IDs"):
        build_model(TrainConfig(model="sid_sasrec"), ModelInputs(toy_dataset()))
