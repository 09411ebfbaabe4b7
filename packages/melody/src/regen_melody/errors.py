"""The melody pairing's errors: every message names the file, field or value at fault."""

from __future__ import annotations

from regen_core.errors import LimitError, RegenError


class MelodyInputError(RegenError, ValueError):
    """Bad input for the melody pairing; the message names the file, field or value."""


class NoNotesError(MelodyInputError):
    """A score (or part) holds no pitched notes."""


class CorruptScoreError(MelodyInputError):
    """A MIDI / MusicXML / ABC file cannot be parsed."""


class UnusualMeterError(MelodyInputError):
    """A time signature the position grid cannot represent (bar longer than 48 sixteenths)."""


class EmptyLyricsError(MelodyInputError):
    """The lyrics hold no word."""


class UnsupportedScriptError(MelodyInputError):
    """The lyrics use a script other than Latin (only English and German are supported)."""


class LyricsTooLongError(MelodyInputError, LimitError):
    """The lyrics have more syllables than ``lyrics.MAX_SYLLABLES``."""


class TemplateError(RegenError, ValueError):
    """A melody or template is malformed (names the field)."""


class RenderError(RegenError, RuntimeError):
    """A renderer (FluidSynth for WAV, LilyPond for the engraved score) failed on a melody; the message names
    the program and ends with its error output."""


class MissingRendererError(RenderError):
    """A program or soundfont needed to render a melody is not installed; the message names the Debian package."""


class PolyphonyWarning(UserWarning):
    """Polyphonic input where a melody was expected: the top voice was taken."""
