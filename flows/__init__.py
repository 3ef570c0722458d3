"""Prefect flows: orchestration only. All work happens in `h2rec` library calls."""
