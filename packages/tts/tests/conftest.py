"""TTS test fixtures (the cache and thread settings come from regen's pytest plugin, regen_core.testing)."""

import pytest


@pytest.fixture(scope="session")
def espeak_available() -> bool:
    from regen_speech import espeak

    return espeak.available()
