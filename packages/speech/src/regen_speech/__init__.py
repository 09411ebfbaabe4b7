"""Speech data shared by the TTS, ASR and talking-head packages.

- :mod:`.audio`: ``load_audio`` / ``save_wav`` with reported conversions and typed errors;
- :mod:`.espeak`: libespeak-ng via ctypes: waveform + per-phoneme IPA timings, ``phonemize``;
- :mod:`.sentences`: real English sentences (WordNet examples, KJV, your file), normalisation;
- :mod:`.corpus`: the synthetic multi-speaker corpus builder, ``load_corpus``, speaker splits;
- :mod:`.ljspeech`: LJSpeech-format folders as ``datasets.Dataset``;
- :mod:`.fsdd`: the Free Spoken Digit Dataset from the shared data folder.

Importing this package loads neither libespeak-ng nor ``datasets``; both load on first use.
The corpus names are imported lazily so that ``python -m regen_speech.corpus`` runs cleanly.
"""

from typing import Any

from .audio import (
    AudioError,
    AudioNotFoundError,
    ClippingWarning,
    CorruptAudioError,
    EmptyAudioError,
    LoadedAudio,
    NonFiniteAudioError,
    SampleRateError,
    SilentAudioError,
    load_audio,
    resample,
    save_wav,
)
from .espeak import EspeakError, EspeakNotFoundError, Synthesis, VoiceError, phonemize, synthesize
from .fsdd import FsddNotFoundError, load_fsdd
from .ljspeech import SpeechDataError, load_ljspeech
from .sentences import SentenceSourceError, load_sentences, normalize_text, select_sentences

__all__ = [
    "AudioError", "AudioNotFoundError", "ClippingWarning", "CorruptAudioError", "EmptyAudioError",
    "LoadedAudio", "NonFiniteAudioError", "SampleRateError", "SilentAudioError", "load_audio", "resample",
    "save_wav", "CorpusConfig", "CorpusError", "build_corpus", "load_corpus", "split_by_speaker",
    "EspeakError", "EspeakNotFoundError", "Synthesis", "VoiceError", "phonemize", "synthesize",
    "FsddNotFoundError", "load_fsdd", "SpeechDataError", "load_ljspeech", "SentenceSourceError",
    "load_sentences", "normalize_text", "select_sentences",
]  # fmt: skip

_LAZY = {"CorpusConfig", "CorpusError", "build_corpus", "load_corpus", "split_by_speaker"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import corpus

        return getattr(corpus, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
