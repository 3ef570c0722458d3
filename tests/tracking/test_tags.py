import re

import yaml

from h2rec.tracking.tags import data_version, flatten, git_commit, run_tags
from tests.conftest import ROOT


def test_flatten_uses_dotted_keys_and_strings_for_lists():
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": [1, 2], "f": None}) == {"a.b": 1, "a.c.d": "x", "e": "[1, 2]", "f": None}


def test_data_version_is_the_md5_dvc_recorded_for_prepared_data(tmp_path):
    lock = {
        "schema": "2.0",
        "stages": {
            "ingest": {"outs": [{"path": "data/canonical", "md5": "aaa.dir"}]},
            "split": {"outs": [{"path": "data/prepared", "md5": "bbb.dir"}, {"path": "x", "md5": "c"}]},
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    assert data_version(tmp_path / "dvc.lock") == "bbb.dir"
    assert data_version(tmp_path / "missing.lock") is None


def test_git_commit_and_tags():
    commit = git_commit(ROOT)
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}", commit)
    tags = run_tags("beauty", "sasrec", "ce", 3)
    assert {k: tags[k] for k in ("dataset", "model", "loss", "seed")} == {
        "dataset": "beauty",
        "model": "sasrec",
        "loss": "ce",
        "seed": "3",
    }
    assert set(tags) >= {"data_version", "git_commit"}
