"""regen_speech.espeak: audio plus monotonic IPA phoneme timings, deterministic, clear errors."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest

from regen_speech import espeak

pytestmark = pytest.mark.skipif(
    not espeak.available(), reason="libespeak-ng is not installed (Debian packages espeak-ng, libespeak-ng1)"
)

TEXT = "The quick brown fox jumps over the lazy dog."


def _digest(s: espeak.Synthesis) -> str:
    return hashlib.sha256(s.audio.tobytes()).hexdigest()


def test_synthesis_returns_audio_and_monotonic_phoneme_times():
    s = espeak.synthesize(TEXT, "en-us+m3")

    assert s.voice == "en-us+m3" and s.sample_rate == espeak.native_sample_rate() == 22050
    assert s.audio.dtype == np.float32 and s.audio.ndim == 1
    assert 1.0 < s.duration < 6.0 and np.abs(s.audio).max() > 0.05
    assert len(s.phonemes) == len(s.phoneme_starts) == len(s.phoneme_ends) >= 25
    starts, ends = np.array(s.phoneme_starts), np.array(s.phoneme_ends)
    assert np.all(np.diff(starts) >= 0) and np.all(ends >= starts)
    assert np.allclose(ends[:-1], starts[1:]) and ends[-1] == pytest.approx(s.duration)
    assert starts[0] < 0.1 and starts[-1] < s.duration
    assert {"k", "w", "b", "ɹ", "f"} <= set(s.phonemes)  # IPA symbols, not espeak's ASCII names
    # words: one per word of the text, in order, starting within the audio
    assert [TEXT[c : c + n] for c, n, _ in s.words] == ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    assert all(0 <= t < s.duration for _, _, t in s.words)


def test_synthesis_is_deterministic_across_calls_and_voices():
    first = espeak.synthesize(TEXT, "en-gb+f2")
    espeak.synthesize("Something else entirely, with a pause.", "en-us+m1")  # would move espeak's state
    espeak.phonemize("And some phonemes.", "en-gb-scotland")
    again = espeak.synthesize(TEXT, "en-gb+f2")
    assert _digest(first) == _digest(again)
    assert first.phonemes == again.phonemes and first.phoneme_starts == again.phoneme_starts
    other = espeak.synthesize(TEXT, "en-us+m3")
    assert _digest(other) != _digest(first) and other.phonemes != first.phonemes  # accents differ


def test_speaking_rate_changes_duration():
    slow = espeak.synthesize(TEXT, "en-us", rate=120)
    fast = espeak.synthesize(TEXT, "en-us", rate=300)
    assert slow.duration > 1.5 * fast.duration
    assert slow.phonemes == fast.phonemes


def test_phonemize_gives_ipa_with_stress():
    assert espeak.phonemize("hello world", "en-us") == "həlˈoʊ wˈɜːld"
    assert espeak.phonemize("hello world", "en-us", separator="_") == "h_ə_l_ˈoʊ w_ˈɜː_l_d"
    assert espeak.phonemize("tomato", "en-gb") != espeak.phonemize("tomato", "en-us")


def test_voice_listing_and_validation():
    accents = espeak.list_accents()
    assert {"en-us", "en-gb", "en-gb-scotland", "en-029"} <= set(accents)
    assert not any(a.startswith("mb") for a in accents)  # MBROLA voices need an extra program
    assert {"m1", "m3", "f2", "f4", "klatt", "whisper"} <= set(espeak.list_variants())
    assert "en-gb-x-rp+f4" in espeak.list_english_voices(["f4"])
    assert espeak.resolve_voice("EN-US+m3") == "en-us+m3"
    assert espeak.resolve_voice("en") == "en-gb"
    with pytest.raises(espeak.VoiceError, match="accent 'en-zz'"):
        espeak.synthesize("hi", "en-zz+m3")
    with pytest.raises(espeak.VoiceError, match="variant 'nope'"):
        espeak.synthesize("hi", "en-us+nope")  # espeak-ng itself would silently ignore it


@pytest.mark.parametrize("kwargs", [{"rate": 10}, {"rate": 1000}, {"pitch": 101}])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        espeak.synthesize("hello", "en-us", **kwargs)


def test_empty_text():
    with pytest.raises(ValueError, match="empty"):
        espeak.synthesize("   ", "en-us")


def test_missing_library_names_the_debian_package(monkeypatch):
    monkeypatch.setattr(espeak.ctypes.util, "find_library", lambda name: "libespeak-ng-missing.so.9")
    with pytest.raises(espeak.EspeakNotFoundError, match="libespeak-ng1") as info:
        espeak._Engine()
    assert isinstance(info.value, OSError)


def test_in_process_mode_then_fresh_is_refused():
    # in a subprocess: fresh=False leaves this interpreter's library state dirty for good
    code = (
        "from regen_speech import espeak as e\n"
        "a = e.synthesize('one two three', 'en-us', fresh=False)\n"
        "assert a.phonemes and a.audio.size\n"
        "try:\n"
        "    e.synthesize('one two three', 'en-us')\n"
        "except e.EspeakError as err:\n"
        "    print('refused', err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("refused") and "fresh=False" in out.stdout


def test_synthesis_server_is_replaced_when_gone_and_per_process():
    import os

    first = espeak.synthesize(TEXT, "en-us+m3")
    eng = espeak._engine()
    eng._server.kill()
    eng._server.wait()
    assert _digest(espeak.synthesize(TEXT, "en-us+m3")) == _digest(first)  # a new server, the same bytes
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a forked caller starts its own server instead of sharing the parent's pipes
        ok = _digest(espeak.synthesize(TEXT, "en-us+m3")) == _digest(first) and eng._server_pid == os.getpid()
        os.write(w, b"1" if ok else b"0")
        os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.waitpid(pid, 0)
    assert eng._server_pid == os.getpid() and _digest(espeak.synthesize(TEXT, "en-us+m3")) == _digest(first)
