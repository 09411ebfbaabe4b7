"""A ctypes binding to libespeak-ng: waveform plus per-phoneme IPA timings.

espeak-ng is a formant synthesiser: fast (hundreds of times real time on one core), fully
deterministic, and able to report *when* each phoneme starts in the audio it produces. That makes
it a source of speech with exact phoneme alignments, which regen uses to build synthetic
multi-speaker corpora (:mod:`regen_speech.corpus`).

Voices are written ``"<accent>+<variant>"``: the accent is an English language code known to
espeak-ng (``en-us``, ``en-gb``, ``en-gb-scotland``, ``en-029``, ... see :func:`list_accents`)
and the optional variant a file in espeak-ng's ``voices/!v`` folder (``m1``..``m8``, ``f1``..``f5``,
``klatt``, ``whisper``, ... see :func:`list_variants`), e.g. ``"en-us+m3"`` or ``"en-gb+f2"``.

The library keeps global state, so this module initialises it once per process, in synchronous
mode with IPA phoneme events, and serialises calls with a lock. Use processes, not threads, for
parallel synthesis.

Determinism: espeak-ng's waveform generator carries state from one message to the next (a pitch
"flutter" table index, a cycle counter for voice roughness, breath-noise filters, the C ``rand()``
sequence), so the same text spoken twice in one process gives slightly different samples and
phoneme times that differ by a few milliseconds (segments end on a glottal-cycle boundary).
:func:`synthesize` therefore runs each synthesis, by default, in a ``fork`` taken while the
library is freshly initialised, with ``rand`` reseeded: every call then sees the same starting
state and the waveform is a pure function of (text, voice, rate, pitch). The forks are taken from
a small synthesis server (:mod:`regen_speech._espeak_c` run as ``python -S``, one per
process, started on first use) rather than from the caller, whose numpy / torch memory would make
every fork several times dearer. This costs about 10 ms of CPU per call (voice loading included);
``fresh=False`` skips it.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _espeak_c as _c
from regen_core.errors import RegenError

DEBIAN_PACKAGE = _c.DEBIAN_PACKAGE  # the Debian/Ubuntu package that ships libespeak-ng.so.1
PAUSE = "_"  # phoneme symbol regen uses for espeak's unnamed (silent) phoneme events

# Constants and ctypes structures of speak_lib.h live in _espeak_c (standard library only, so that
# it also runs as the synthesis server, see _Engine.synth_fresh).
_AUDIO_OUTPUT_SYNCHRONOUS = _c.AUDIO_OUTPUT_SYNCHRONOUS
_INIT_OPTIONS = _c.INIT_OPTIONS
_CHARS_UTF8 = _c.CHARS_UTF8
_EVENT_WORD = _c.EVENT_WORD
_EVENT_PHONEME = _c.EVENT_PHONEME
_EE_OK = _c.EE_OK
_PARAM_RATE = _c.PARAM_RATE
_PARAM_PITCH = _c.PARAM_PITCH
_PHONEMES_IPA = _c.PHONEMES_IPA


class EspeakError(RegenError, RuntimeError):
    """libespeak-ng failed internally (initialisation or synthesis)."""


class EspeakNotFoundError(EspeakError, OSError):
    """libespeak-ng (or its data folder) is not installed."""


class VoiceError(RegenError, ValueError):
    """A voice name (accent or variant) that espeak-ng does not know."""


class SynthesisInputError(RegenError, ValueError):
    """Text or a setting that :func:`synthesize` / :func:`phonemize` cannot take (empty text, rate out of range)."""


_Callback = _c.Callback


@dataclass(frozen=True)
class Synthesis:
    """One synthesised utterance and its phoneme alignment.

    ``phonemes[i]`` (IPA, or :data:`PAUSE` for a silence) starts at ``phoneme_starts[i]`` seconds
    and ends at ``phoneme_ends[i]`` (the next phoneme's start, or the end of the audio); starts are
    non-decreasing. ``words`` holds ``(char_start, char_length, start_seconds)`` of each word espeak
    reports, with 0-based character offsets into ``text`` (espeak folds some unstressed words, such
    as "to" or "the", into the following word and reports no event for them).
    """

    text: str  # the text that was spoken
    voice: str  # the voice, as "<accent>+<variant>"
    audio: np.ndarray  # (T,) float32 in [-1, 1]
    sample_rate: int  # Hz (espeak-ng's native 22050)
    phonemes: list[str]  # IPA symbols, PAUSE for silences
    phoneme_starts: list[float]  # seconds, one per phoneme
    phoneme_ends: list[float]  # seconds, one per phoneme
    words: list[tuple[int, int, float]] = field(default_factory=list)  # (char_start, char_length, start_s)

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.audio) / self.sample_rate


class _Engine:
    """The process-wide libespeak-ng handle (created lazily by :func:`_engine`)."""

    def __init__(self) -> None:
        # 1. Load the shared library.
        name = _c.library_name()
        try:
            self.lib = _c.declare(ctypes.CDLL(name))
        except OSError as e:
            raise EspeakNotFoundError(
                f"cannot load libespeak-ng ({name}): {e}. Install the Debian package "
                f"'{DEBIAN_PACKAGE}' (and 'espeak-ng' for its voices): apt-get install -y espeak-ng {DEBIAN_PACKAGE}"
            ) from e
        lib = self.lib

        # 2. Initialise: synchronous output, phoneme events named in IPA. DONT_EXIT stops the
        #    library from calling exit() when its data folder is missing.
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_OPTIONS)
        data = ctypes.c_char_p()
        self.version = (lib.espeak_Info(ctypes.byref(data)) or b"?").decode()
        self.data_path = Path((data.value or b"").decode())
        if rate <= 0 or not (self.data_path / "phontab").is_file():
            raise EspeakNotFoundError(
                f"libespeak-ng {self.version} could not initialise (sample rate {rate}, data folder "
                f"{str(self.data_path)!r}); install the Debian package 'espeak-ng-data' (pulled in by 'espeak-ng')"
            )
        self.sample_rate = int(rate)

        # 3. The callback collects audio chunks and events of the message being synthesised.
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, bytes]] = []  # (type, ms, text_pos, length, name)
        self._callback = _Callback(self._collect)  # keep a reference: ctypes must not free it
        lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()
        self.dirty = False  # True once this process has synthesised in-process (fresh=False)
        try:  # for srand(): espeak's breath noise uses the C rand(); seeding it makes synthesis deterministic
            self._libc = ctypes.CDLL(None)
        except (OSError, TypeError) as e:  # Windows has no process-wide C library handle
            raise EspeakNotFoundError(
                f"cannot reach the C library's srand() to seed espeak-ng's noise ({e}); deterministic "
                "synthesis is supported on Linux and macOS"
            ) from e
        self._voice: str | None = None
        self._params: tuple[int, int] | None = None
        self._accents: dict[str, str] | None = None
        self._variants: list[str] | None = None
        self._server: subprocess.Popen | None = None  # the synthesis server (see synth_fresh), started on first use
        self._server_pid: int | None = None  # the process that started it

    def _collect(self, wav: "ctypes._Pointer", n: int, events: "ctypes._Pointer") -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())  # (n,) int16
        _c.read_events(events, self._events)
        return 0  # continue synthesis

    # --- voices ---------------------------------------------------------------------------

    def accents(self) -> dict[str, str]:
        """English language code -> voice file identifier (espeak-ng's own voices, no MBROLA)."""
        if self._accents is None:
            found: dict[str, str] = {}
            voices = self.lib.espeak_ListVoices(None)
            i = 0
            while voices[i]:
                # espeak_VOICE: name, languages, identifier (three char pointers first).
                name_p, langs_p, ident_p = ctypes.cast(voices[i], ctypes.POINTER(ctypes.c_void_p))[0:3]
                ident = ctypes.string_at(ident_p).decode() if ident_p else ""
                langs = ctypes.string_at(langs_p, 256) if langs_p else b""
                i += 1
                if ident.startswith(("mb/", "!v/")):
                    continue  # MBROLA voices need the external mbrola program; !v are variants
                # languages: repeated (priority byte, zero-terminated name), ends with an empty name.
                pos = 0
                while pos + 1 < len(langs) and langs[pos] != 0:
                    end = langs.index(b"\0", pos + 1)
                    lang = langs[pos + 1 : end].decode().lower()
                    if lang == "en" or lang.startswith("en-"):
                        found.setdefault(lang, ident)
                    pos = end + 1
            # Several voices list plain "en" as a fallback language; resolve() treats it as en-gb.
            found.pop("en", None)
            self._accents = dict(sorted(found.items()))
        return self._accents

    def variants(self) -> list[str]:
        if self._variants is None:  # listed once: resolve() runs for every synthesis
            folder = self.data_path / "voices" / "!v"
            self._variants = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        return list(self._variants)

    def resolve(self, voice: str) -> tuple[str, str]:
        """``"en-us+m3"`` -> (canonical voice name, espeak name to select it by)."""
        accent, _, variant = voice.strip().partition("+")
        accent = accent.lower()
        accents = self.accents()
        if accent == "en" and "en-gb" in accents:
            accent = "en-gb"
        if accent not in accents:
            raise VoiceError(f"unknown English accent {accent!r} in voice {voice!r}; known: {', '.join(accents)}")
        if variant and variant not in self.variants():
            raise VoiceError(
                f"unknown voice variant {variant!r} in voice {voice!r}; known: {', '.join(self.variants())}"
            )
        canonical = f"{accent}+{variant}" if variant else accent
        return canonical, f"{accents[accent]}+{variant}" if variant else accents[accent]

    def set_voice(self, voice: str, rate: int, pitch: int | None) -> str:
        canonical, espeak_name = self.resolve(voice)
        self.set_voice_raw(espeak_name, rate, pitch)
        return canonical

    def set_voice_raw(self, espeak_name: str, rate: int, pitch: int | None) -> None:
        if espeak_name != self._voice:
            if self.lib.espeak_SetVoiceByName(espeak_name.encode()) != _EE_OK:
                raise VoiceError(f"libespeak-ng refused voice {espeak_name!r}")
            self._voice = espeak_name
            self._params = None  # a voice change resets rate and pitch
        if self._params != (rate, -1 if pitch is None else pitch):
            self.lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
            if pitch is not None:
                self.lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            self._params = (rate, -1 if pitch is None else pitch)

    # --- synthesis ------------------------------------------------------------------------

    def synth(self, text: str) -> tuple[np.ndarray, list[tuple[int, int, int, int, bytes]]]:
        self._chunks, self._events = [], []
        err = _c.synth_call(self.lib, text)
        if err != _EE_OK:
            raise EspeakError(f"espeak_Synth failed with code {err} for text {text[:60]!r}")
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)  # (T,) int16
        return pcm, self._events

    def _server_process(self) -> subprocess.Popen:
        """The synthesis server of this process (``python -S _espeak_c.py``), started on first use."""
        if self._server is not None and self._server_pid != os.getpid():
            self._server = None  # inherited through a fork: the parent's; start our own
        if self._server is None or self._server.poll() is not None:
            server = subprocess.Popen([sys.executable, "-S", _c.__file__], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, close_fds=True)
            if server.stdout.read(1) != b"R":
                code = server.wait()
                raise EspeakError(f"the espeak-ng synthesis server ({_c.__file__}) did not start (exit code {code})")
            self._server, self._server_pid = server, os.getpid()
            atexit.register(_stop_server, server)
        return self._server

    def synth_fresh(self, text: str, espeak_voice: str, rate: int, pitch: int | None) -> tuple[np.ndarray, list]:
        """:meth:`synth` from the library's freshly initialised state, in a child of the synthesis server.

        The server (:mod:`._espeak_c` run on its own) initialises libespeak-ng once, as this engine
        does, and forks a small child per call that reseeds ``rand``, loads the voice and
        synthesises; forking it costs far less than forking this process (a millisecond of CPU
        against several with numpy / torch loaded, most of a corpus build's time per utterance).
        """
        server = self._server_process()
        v, t = espeak_voice.encode(), text.encode("utf-8")
        request = b"S" + struct.pack("<iiII", int(rate), -1 if pitch is None else int(pitch), len(v), len(t)) + v + t
        try:
            server.stdin.write(request)
            server.stdin.flush()
            head = server.stdout.read(5)
            status, size = struct.unpack(_c.HEADER, head)
            payload = server.stdout.read(size)
            if len(payload) != size:
                raise EOFError
        except (OSError, EOFError, struct.error) as e:
            self._server = None
            raise EspeakError(
                f"the espeak-ng synthesis server exited (code {server.poll()}) for text {text[:60]!r}: {type(e).__name__}"
            ) from e
        if status == 2:
            raise VoiceError(payload.decode("utf-8", "replace"))
        if status != 0:
            raise EspeakError(payload.decode("utf-8", "replace"))
        n_samples, n_events = struct.unpack_from("<II", payload)
        pcm = np.frombuffer(payload, dtype="<i2", count=n_samples, offset=8).astype(np.int16)  # (T,)
        events = [(kind, ms, pos, length, name.split(b"\0", 1)[0])
                  for kind, ms, pos, length, name in struct.iter_unpack(_c.EVENT_FORMAT, payload[8 + 2 * n_samples :])]
        if len(events) != n_events:
            raise EspeakError(f"the espeak-ng synthesis server sent {len(events)} events, announced {n_events}")
        return pcm, events

    def text_to_phonemes(self, text: str, separator: str | None) -> str:
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        ptr = ctypes.c_void_p(ctypes.addressof(buf))
        mode = _PHONEMES_IPA | ((ord(separator) << 8) if separator else 0)
        parts: list[str] = []
        while ptr.value:  # the library advances ptr clause by clause, NULL at the end
            out = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, mode)
            if out:
                parts.append(out.decode("utf-8").strip())
        return " ".join(p for p in parts if p)


def _stop_server(server: subprocess.Popen) -> None:
    """At exit: close the server's input (it then exits) and reap it."""
    try:
        if server.poll() is None:
            server.stdin.close()
            server.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        server.kill()


_ENGINE: _Engine | None = None
_ENGINE_PID: int | None = None
_ENGINE_LOCK = threading.Lock()


def _engine() -> _Engine:
    """The libespeak-ng engine of this process, initialised on first use.

    A forked process inherits the parent's initialised library (and its ``dirty`` flag, since
    re-initialising would not reset the waveform generator's state); it only gets a new lock,
    in case another thread of the parent held it at the fork.
    """
    global _ENGINE, _ENGINE_PID
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _Engine()
        elif _ENGINE_PID != os.getpid():
            _ENGINE.lock = threading.Lock()
        _ENGINE_PID = os.getpid()
        return _ENGINE


def available() -> bool:
    """True when libespeak-ng and its data can be loaded."""
    try:
        _engine()
        return True
    except EspeakNotFoundError:
        return False


def version() -> str:
    """The libespeak-ng version string, e.g. ``"1.51"``."""
    return _engine().version


def native_sample_rate() -> int:
    """espeak-ng's output sample rate in Hz (22050)."""
    return _engine().sample_rate


def list_accents() -> list[str]:
    """English accents usable as the first part of a voice: ``["en-029", "en-gb", ..., "en-us-nyc"]``."""
    return list(_engine().accents())


def list_variants() -> list[str]:
    """Voice variants usable after ``+`` (``"f1"``, ``"m3"``, ``"klatt"``, ``"whisper"``, ...)."""
    return _engine().variants()


def list_english_voices(variants: list[str] | None = None) -> list[str]:
    """Every ``accent+variant`` combination for the given variants (default: all known)."""
    vs = list_variants() if variants is None else variants
    return [f"{a}+{v}" for a in list_accents() for v in vs]


def resolve_voice(voice: str) -> str:
    """Check a voice name and return its canonical form (``"EN-US+m3"`` -> ``"en-us+m3"``).

    Raises :class:`VoiceError` for an unknown accent or variant; espeak-ng itself would silently
    keep the previous voice or ignore the variant.
    """
    return _engine().resolve(voice)[0]


def synthesize(
    text: str, voice: str = "en-us", *, rate: int = 175, pitch: int | None = None, fresh: bool = True
) -> Synthesis:
    """Speak ``text`` with ``voice``; return the waveform and per-phoneme IPA start times.

    ``rate`` is in words per minute (80-450, espeak's default 175); ``pitch`` (0-100) overrides the
    voice's base pitch. With ``fresh`` (default, needs ``os.fork``) the synthesis runs from the
    library's freshly initialised state, so the result is identical for the same text, voice,
    rate and pitch, in any process and after any other call. ``fresh=False`` synthesises in this
    process, several times faster (about 4 ms instead of 25-35 ms for a sentence here), but its
    samples (and, by a few milliseconds, its phoneme times) depend on what this process
    synthesised before (see the module docstring); later fresh calls in this process are then
    refused, because the state they would fork from is no longer fresh.
    """
    if not text or not text.strip():
        raise SynthesisInputError("synthesize: text is empty")
    if not 80 <= rate <= 450:
        raise SynthesisInputError(f"synthesize: rate must be 80..450 words per minute, got {rate}")
    if pitch is not None and not 0 <= pitch <= 100:
        raise SynthesisInputError(f"synthesize: pitch must be 0..100, got {pitch}")
    eng = _engine()
    fresh = fresh and hasattr(os, "fork")
    with eng.lock:
        canonical, espeak_name = eng.resolve(voice)
        if fresh:
            if eng.dirty:
                raise EspeakError(
                    "synthesize(fresh=True) after synthesize(fresh=False) in the same process: the library "
                    "state is no longer fresh, so the output would not be reproducible; use one mode per process"
                )
            pcm, events = eng.synth_fresh(text, espeak_name, rate, pitch)
        else:
            eng.dirty = True
            eng.set_voice_raw(espeak_name, rate, pitch)
            pcm, events = eng.synth(text)
    sr = eng.sample_rate
    audio = pcm.astype(np.float32) / 32768.0  # (T,) float32
    duration = len(audio) / sr

    # Phoneme events -> (symbol, start). espeak emits unnamed phoneme events for pauses; merge runs
    # of them and drop zero-length ones, so every phoneme has a positive or zero duration and
    # starts never decrease.
    phonemes: list[str] = []
    starts: list[float] = []
    words: list[tuple[int, int, float]] = []
    for etype, ms, text_pos, length, name in events:
        t = min(ms / 1000.0, duration)
        if etype == _EVENT_WORD:
            if length > 0:  # espeak may close an utterance with an empty word event
                words.append((max(text_pos - 1, 0), length, t))
        elif etype == _EVENT_PHONEME:
            symbol = name.decode("utf-8", "replace") or PAUSE
            if starts and t < starts[-1]:
                t = starts[-1]  # never observed; keeps the documented monotonicity
            if symbol == PAUSE and phonemes and phonemes[-1] == PAUSE:
                continue
            if starts and t == starts[-1] and phonemes[-1] == PAUSE:
                phonemes.pop()
                starts.pop()
            phonemes.append(symbol)
            starts.append(t)
    if phonemes and phonemes[-1] == PAUSE and starts[-1] >= duration:
        phonemes.pop()
        starts.pop()
    ends = starts[1:] + [duration] if starts else []
    return Synthesis(
        text=text, voice=canonical, audio=audio, sample_rate=sr,
        phonemes=phonemes, phoneme_starts=starts, phoneme_ends=ends, words=words,
    )  # fmt: skip


def phonemize(text: str, voice: str = "en-us", *, separator: str | None = None) -> str:
    """Text -> IPA string with stress marks, words separated by spaces (``"həlˈoʊ wˈɜːld"``).

    With ``separator`` (one character, e.g. ``"_"``), phonemes inside a word are separated by it.
    Clauses (split by espeak at punctuation) are joined with a space.
    """
    if separator is not None and len(separator) != 1:
        raise SynthesisInputError(f"phonemize: separator must be one character, got {separator!r}")
    eng = _engine()
    with eng.lock:
        eng.set_voice(voice, 175, None)
        return eng.text_to_phonemes(text, separator)
