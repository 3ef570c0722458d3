import pytest
from prefect import flow, task

from flows.policies import IO_TASK
from h2rec.errors import DataError

pytestmark = pytest.mark.integration


def test_transient_io_error_is_retried_and_bad_data_is_not(prefect_server):
    calls = {"io": 0, "data": 0}

    @task(**{**IO_TASK, "retry_delay_seconds": 0})
    def flaky_read() -> str:
        calls["io"] += 1
        if calls["io"] == 1:
            raise OSError(5, "Input/output error (injected)")
        return "ok"

    @task(**{**IO_TASK, "retry_delay_seconds": 0})
    def bad_data() -> None:
        calls["data"] += 1
        raise DataError("items.csv: missing column 'title'")

    @flow
    def both() -> str:
        result = flaky_read()
        bad_data()
        return result

    with pytest.raises(DataError, match="missing column"):
        both()
    assert calls == {"io": 2, "data": 1}
