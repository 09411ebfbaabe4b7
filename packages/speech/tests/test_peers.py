"""The peer recogniser (pocketsphinx, optional: installed by make setup through regen-asr[peer])."""

from __future__ import annotations

import numpy as np
import pytest

from regen_speech import peers


def test_pocketsphinx_with_a_digit_grammar_hears_real_digits():
    from regen_speech.fsdd import fsdd_dir, fsdd_recordings
    import soundfile as sf

    if not fsdd_dir().exists():
        pytest.skip("FSDD is not at ../shared/data/fsdd (set REGEN_SHARED_DATA)")
    try:
        peer = peers.PocketSphinx(words=("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"))
    except peers.PeerMissingError as err:
        pytest.fail(f"make setup installs pocketsphinx: {err}")
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    recs = [r for r in fsdd_recordings() if r[3] == 0][:20]  # take 0 of the first speaker/digit pairs
    right = 0
    for path, digit, _, _ in recs:
        audio, sr = sf.read(path, dtype="float32")
        right += peer.transcribe(audio, sr) == words[digit]
    assert right >= len(recs) // 2, f"{right} of {len(recs)}"
    assert peer.transcribe(np.zeros(8000, np.float32), 8000) in ("", *words)


def test_missing_pocketsphinx_is_a_typed_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pocketsphinx(name, *args, **kwargs):
        if name == "pocketsphinx":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pocketsphinx)
    with pytest.raises(peers.PeerMissingError, match="pip install pocketsphinx"):
        peers.PocketSphinx()
