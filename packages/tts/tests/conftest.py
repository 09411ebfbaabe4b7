"""Test set-up: a private regen cache per test session, so toy corpora and feature caches are built fresh."""

import os
import tempfile

import pytest
import torch

_CACHE = tempfile.mkdtemp(prefix="regen-tts-tests-")
os.environ.setdefault("REGEN_CACHE", _CACHE)
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
# Toy tensors: intra-op threads only add overhead (and collapse on a busy shared machine).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def espeak_available() -> bool:
    from regen_speech import espeak

    return espeak.available()
