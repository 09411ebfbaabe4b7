import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep the evaluation-classifier cache of the tests out of the user's ~/.cache/regen."""
    old = os.environ.get("REGEN_CACHE")
    os.environ["REGEN_CACHE"] = str(tmp_path_factory.mktemp("regen-cache"))
    yield
    if old is None:
        os.environ.pop("REGEN_CACHE", None)
    else:
        os.environ["REGEN_CACHE"] = old


def pytest_configure(config):
    """One torch thread: on a shared 2-core machine, two threads per process thrash (10x slower)."""
    import torch

    torch.set_num_threads(1)
