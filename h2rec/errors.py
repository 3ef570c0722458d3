"""Errors a user can act on. Each message names the file or key and says what to do."""


class H2RecError(Exception):
    """Base class: the CLI prints these without a traceback and exits with status 2."""


class ConfigError(H2RecError):
    """params.yaml has an unknown key, a wrong type or an inconsistent value."""


class DataError(H2RecError):
    """An input file is missing, unreadable, malformed or lacks a required column."""


class Diverged(H2RecError):
    """Training produced a non-finite loss (a learning rate too high, most often)."""


class Busy(H2RecError):
    """Another process holds a lock this command needs (a pipeline run, a registration)."""


class ValidationFailed(H2RecError):
    """A Great Expectations suite failed; nothing downstream may run."""

    def __init__(self, message: str, report_path: str | None = None):
        super().__init__(message)
        self.report_path = report_path
