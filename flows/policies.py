"""Shared task policies: retry transient I/O failures, never retry bad data."""

from __future__ import annotations

from prefect.tasks import exponential_backoff

from h2rec.errors import H2RecError

IO_RETRIES = 2
IO_BACKOFF = exponential_backoff(backoff_factor=2)


def retry_on_io(task, task_run, state) -> bool:
    """Retry an OSError (a flaky disk or network share); a data or config error is final."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, OSError) and not isinstance(exc, H2RecError)


IO_TASK = dict(retries=IO_RETRIES, retry_delay_seconds=IO_BACKOFF, retry_condition_fn=retry_on_io)
