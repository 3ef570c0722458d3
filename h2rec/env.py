"""Process-wide defaults that keep every tool offline and silent.

Imported first by the package, so any entry point (CLI, DVC stage, Prefect flow, test) gets
them. ``setdefault`` leaves a user's explicit choice alone.
"""

import os

OFFLINE_DEFAULTS = {
    # Hugging Face: models load from a local path only, never from the hub.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # Generic opt-out. MLflow honours only the literal "true".
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The 20 s default is too short for a fresh Prefect database on 2 cores.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "TOKENIZERS_PARALLELISM": "false",
    # OpenMP threads that spin while waiting make torch 3-4x slower on a shared 2-core
    # machine (measured on a training epoch); sleeping waiters cost almost nothing when idle.
    # Read when torch loads, hence here.
    "OMP_WAIT_POLICY": "PASSIVE",
}


def apply() -> None:
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
