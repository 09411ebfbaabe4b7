"""ASR test fixtures (the cache and thread settings come from regen's pytest plugin, regen_core.testing)."""

from typing import Callable

import numpy as np
import pytest


@pytest.fixture
def tone() -> Callable[..., np.ndarray]:
    """A 220 Hz tone ``tone(sample_rate, seconds, channels=1)``: (T,) float32, or (T, channels) when channels > 1."""

    def make(sr: int, seconds: float, channels: int = 1) -> np.ndarray:
        t = np.arange(int(sr * seconds)) / sr
        y = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        return np.stack([y] * channels, axis=1) if channels > 1 else y

    return make
