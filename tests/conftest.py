import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("BUMPDIFF_TEST_THREADS", "2")))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A throw-away project root, so tests never touch data/ or results/ of the checkout."""
    monkeypatch.setenv("BUMPDIFF_HOME", str(tmp_path))
    return tmp_path
