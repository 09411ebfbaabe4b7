"""Test set-up: a private regen cache per test session, so the toy corpus and Y' caches are built fresh."""

import os
import tempfile

import torch

_CACHE = tempfile.mkdtemp(prefix="regen-talkinghead-tests-")
os.environ.setdefault("REGEN_CACHE", _CACHE)
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
# Toy tensors: intra-op threads only add overhead (and collapse on a busy shared machine).
torch.set_num_threads(1)
