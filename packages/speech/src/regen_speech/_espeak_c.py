"""libespeak-ng's C interface (ctypes declarations) and the small synthesis server built on it.

Only the standard library is imported here, so this file also runs on its own as the *synthesis
server* of :mod:`regen_speech.espeak` (``python -S _espeak_c.py``): a process that
initialises the library once and never synthesises itself; for every request it forks a child
that reseeds ``rand``, selects the voice, synthesises and sends back the samples and events.
Every child therefore starts from the same freshly initialised state (what makes synthesis
reproducible), and forking this small interpreter costs about a millisecond of CPU where
forking a process holding numpy, torch or datasets costs several (see ``espeak.synthesize``).

Protocol (little-endian) on the server's stdin / stdout:

    request   b"S" + <iiII> (rate, pitch or -1, voice bytes, text bytes) + voice + text (UTF-8)
    response  <BI> (status, payload bytes) + payload
              status 0: <II> (samples, events) + int16 samples + events as <iiii8s>
                        (type, audio_position ms, text_position, length, phoneme name)
              status 1: an error message (UTF-8); status 2: the voice was refused (message)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import sys

DEBIAN_PACKAGE = "libespeak-ng1"  # the Debian/Ubuntu package that ships libespeak-ng.so.1

# Constants from espeak-ng's speak_lib.h (API revision 12).
AUDIO_OUTPUT_SYNCHRONOUS = 2
INIT_PHONEME_EVENTS = 0x0001
INIT_PHONEME_IPA = 0x0002
INIT_DONT_EXIT = 0x8000
INIT_OPTIONS = INIT_PHONEME_EVENTS | INIT_PHONEME_IPA | INIT_DONT_EXIT  # synchronous, IPA phoneme events, no exit()
CHARS_UTF8 = 1
POS_CHARACTER = 1
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_PHONEME = 7
EE_OK = 0
PARAM_RATE = 1
PARAM_PITCH = 3
PHONEMES_IPA = 0x02

EVENT_FORMAT = "<iiii8s"  # one event on the wire
HEADER = "<BI"  # response status, payload length


class EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),  # WORD / SENTENCE events: word or sentence number
        ("name", ctypes.c_char_p),  # MARK / PLAY events
        ("string", ctypes.c_char * 8),  # PHONEME events: UTF-8 name, zero-terminated unless 8 bytes long
    ]


class Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),  # espeak_EVENT_TYPE
        ("unique_identifier", ctypes.c_uint),  # message id
        ("text_position", ctypes.c_int),  # 1-based character position in the text
        ("length", ctypes.c_int),  # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),  # milliseconds from the start of the message's audio
        ("sample", ctypes.c_int),  # internal sample id
        ("user_data", ctypes.c_void_p),
        ("id", EventId),
    ]


Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event))


def library_name() -> str:
    return ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"


def declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Argument and result types of the functions regen calls."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [Callback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]  # fmt: skip
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.c_void_p)
    lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    lib.espeak_Info.restype = ctypes.c_char_p
    return lib


def read_events(events: "ctypes._Pointer", out: list) -> None:
    """Append (type, audio ms, text position, length, phoneme name) of a callback's event list to ``out``."""
    i = 0
    while events[i].type != EVENT_LIST_TERMINATED:
        e = events[i]
        name = bytes(e.id.string).split(b"\0", 1)[0] if e.type == EVENT_PHONEME else b""
        out.append((e.type, e.audio_position, e.text_position, e.length, name))
        i += 1


def synth_call(lib: ctypes.CDLL, text: str) -> int:
    """espeak_Synth of ``text`` (UTF-8, character positions), synchronous: the callback gets everything."""
    data = text.encode("utf-8") + b"\0"
    buf = ctypes.create_string_buffer(data, len(data))
    return lib.espeak_Synth(buf, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)


# --- the synthesis server ---------------------------------------------------------------------


def _read_exact(fd: int, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            raise EOFError
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _respond(fd: int, status: int, payload: bytes) -> None:
    _write_all(fd, struct.pack(HEADER, status, len(payload)) + payload)


_CHUNKS: list[bytes] = []  # the server's callback collects here (in the forked child)
_EVENTS: list = []


def _collect(wav: "ctypes._Pointer", n: int, ev: "ctypes._Pointer") -> int:
    if wav and n > 0:
        _CHUNKS.append(ctypes.string_at(wav, 2 * n))  # n int16 samples
    read_events(ev, _EVENTS)
    return 0


_CALLBACK = Callback(_collect)  # a module global: ctypes must not free it


def _child(lib: ctypes.CDLL, libc: ctypes.CDLL, voice: bytes, rate: int, pitch: int, text: str, fd: int) -> None:
    """In the forked child: synthesise from the server's fresh state, write one response to ``fd``.

    The calls and their order are those of ``espeak._Engine.synth_fresh`` before the server existed
    (srand, voice, rate, pitch, synth), so the output is the same, byte for byte.
    """
    libc.srand(1)  # espeak's breath noise uses the C rand()
    if lib.espeak_SetVoiceByName(voice) != EE_OK:
        _respond(fd, 2, f"libespeak-ng refused voice {voice.decode()!r}".encode())
        return
    lib.espeak_SetParameter(PARAM_RATE, rate, 0)
    if pitch >= 0:
        lib.espeak_SetParameter(PARAM_PITCH, pitch, 0)
    _CHUNKS.clear()
    _EVENTS.clear()
    err = synth_call(lib, text)
    if err != EE_OK:
        _respond(fd, 1, f"espeak_Synth failed with code {err} for text {text[:60]!r}".encode())
        return
    pcm = b"".join(_CHUNKS)
    packed = b"".join(struct.pack(EVENT_FORMAT, t, ms, pos, length, name) for t, ms, pos, length, name in _EVENTS)
    _respond(fd, 0, struct.pack("<II", len(pcm) // 2, len(_EVENTS)) + pcm + packed)


def serve(inp: int = 0, out: int = 1) -> int:
    """The server loop: one fresh forked child per request (see the module docstring)."""
    lib = declare(ctypes.CDLL(library_name()))
    libc = ctypes.CDLL(None)
    # The same initialisation as espeak._Engine (plus its voice listing), so a child's state is the
    # state an in-process fork of a fresh engine would have.
    if lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INIT_OPTIONS) <= 0:
        return 3
    lib.espeak_Info(ctypes.byref(ctypes.c_char_p()))
    lib.espeak_SetSynthCallback(_CALLBACK)
    lib.espeak_ListVoices(None)
    _write_all(out, b"R")  # ready
    while True:
        try:
            kind = _read_exact(inp, 1)
            if kind != b"S":
                return 0
            rate, pitch, n_voice, n_text = struct.unpack("<iiII", _read_exact(inp, 16))
            voice = _read_exact(inp, n_voice)
            text = _read_exact(inp, n_text).decode("utf-8")
        except EOFError:  # the client went away
            return 0
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(r)
                _child(lib, libc, voice, rate, pitch, text, w)
            except BaseException as e:  # noqa: BLE001 - everything must reach the client
                code = 1
                try:
                    _respond(w, 1, f"{type(e).__name__}: {e}".encode())
                except BaseException:  # noqa: BLE001
                    pass
            finally:
                os._exit(code)
        os.close(w)
        chunks = []
        while True:
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        data = b"".join(chunks)
        complete = len(data) >= 5 and struct.unpack(HEADER, data[:5])[1] == len(data) - 5
        if complete:
            _write_all(out, data)
        else:
            _respond(out, 1, f"the synthesis process died (wait status {status}) for text {text[:60]!r}".encode())


if __name__ == "__main__":
    sys.exit(serve())
