import pytest
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session")
def prefect_server():
    """A temporary Prefect API with a throw-away database, shared by the flow tests."""
    with prefect_test_harness(server_startup_timeout=120):
        yield
