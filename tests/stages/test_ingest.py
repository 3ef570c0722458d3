import json

import pytest
import yaml

from h2rec import paths
from h2rec.cli import main
from h2rec.config import load_params
from h2rec.errors import DataError, ValidationFailed
from h2rec.stages import ingest, split


def _snapshot():
    return {p: p.read_bytes() for p in [paths.CANONICAL_INTERACTIONS, paths.CANONICAL_ITEMS]}


def test_ingest_then_split_on_real_slice(project):
    params = load_params()
    counts = ingest.run(params.data, params.validate_)
    assert counts["interactions"] > 5000
    prep, stats = split.run(params.preprocess)
    assert stats["users"] == len(prep.users) and paths.PREPARED_ITEMS.exists()
    assert json.loads(paths.DATA_STATS.read_text())["items"] == stats["items"]


def test_bad_inputs_stop_with_clear_errors_and_keep_outputs(project):
    params = load_params()
    ingest.run(params.data, params.validate_)
    before = _snapshot()
    src = params.data.source
    inter = json.loads(src.interactions.read_text())

    first_user = next(iter(inter))
    inter[first_user].append(999_999)  # an item the catalogue does not have
    src.interactions.write_text(json.dumps(inter))
    with pytest.raises(ValidationFailed, match=r"item_id.*999999"):
        ingest.run(params.data, params.validate_)
    assert _snapshot() == before

    src.interactions.write_text("")
    with pytest.raises(DataError, match="file is empty"):
        ingest.run(params.data, params.validate_)
    src.interactions.write_bytes(b'{"0": [1, 2], "1": ["\xff"]}')
    with pytest.raises(DataError, match="not valid UTF-8"):
        ingest.run(params.data, params.validate_)
    assert _snapshot() == before


def test_cli_reports_error_without_traceback(project, capsys):
    raw = yaml.safe_load(open("params.yaml"))
    raw["data"]["sources"]["scientific"]["interactions"] = "missing.json"
    open("params.yaml", "w").write(yaml.safe_dump(raw))
    assert main(["ingest"]) == 2
    err = capsys.readouterr().err
    assert "h2rec ingest: error: missing.json: file not found" in err and "Traceback" not in err


def test_cli_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ["ingest", "split", "embed", "tokenize", "train", "evaluate", "stats"]:
        assert name in out
