"""Melodies out: MIDI and MusicXML with each syllable under its note, a WAV, an engraved score, a piano roll.

- MIDI / MusicXML: music21 (:func:`write_midi`, :func:`write_musicxml`);
- WAV: the MIDI played by FluidSynth (Debian ``fluidsynth``) with a General MIDI soundfont (Debian
  ``timgm6mb-soundfont`` by default), :func:`write_wav`;
- engraved score (PDF, PNG, or the LilyPond source ``.ly``): the melody written as LilyPond text here
  (notes, ties across bars and beats, key, metre, tempo, the syllables under the notes with hyphens
  inside words), engraved by LilyPond (Debian ``lilypond``), :func:`write_score`;
- piano roll (PNG, matplotlib): :func:`piano_roll`.

Both programs run as subprocesses in a temporary folder; a missing program or soundfont is a
:class:`~regen_melody.errors.MissingRendererError` naming the Debian package, a failing one a
:class:`~regen_melody.errors.RenderError` with its error output. Every file is written atomically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np
from regen_core.atomic import atomic_path, check_output_file, write_text
from regen_core.errors import OutputPathError

from .errors import MelodyInputError, MissingRendererError, RenderError, TemplateError
from .theory import chord_name, meter_info, transpose_chord

#: Tempo of every rendering (MIDI, WAV, score), quarter notes per minute.
TEMPO_BPM = 96


def to_stream(y: dict[str, Any], title: str = "") -> Any:
    """A music21 Score (one part) of a melody, rests filling the gaps, syllables as lyrics."""
    from music21 import meter, metadata, note, stream, tempo

    part = stream.Part()
    part.insert(0, meter.TimeSignature(y.get("meter") or "4/4"))
    part.insert(0, tempo.MetronomeMark(number=TEMPO_BPM))
    syl = list(y.get("syllables") or [])
    for i, (p, o, d) in enumerate(zip(y["pitch"], y["onset"], y["duration"])):
        n = note.Note(int(p))
        n.quarterLength = max(0.25, round(float(d) * 4) / 4)
        if i < len(syl) and syl[i]:
            text = syl[i]
            n.addLyric(text[:-1] if text.endswith("-") else text)
            n.lyrics[0].syllabic = "begin" if text.endswith("-") else "single"
        part.insert(round(float(o) * 4) / 4, n)
    score = stream.Score()
    score.insert(0, metadata.Metadata(title=title or str(y.get("title") or "melody")))
    score.insert(0, part)
    return score


def write_midi(y: dict[str, Any], path: str | Path, title: str = "") -> Path:
    score = to_stream(y, title)
    with atomic_path(path) as tmp:
        score.write("midi", fp=str(tmp))
    return Path(path)


def write_musicxml(y: dict[str, Any], path: str | Path, title: str = "") -> Path:
    score = to_stream(y, title).makeNotation()
    with atomic_path(path) as tmp:
        score.write("musicxml", fp=str(tmp))
    return Path(path)


#: What :func:`write` makes of each output suffix.
FORMATS = {".mid": "MIDI", ".midi": "MIDI", ".musicxml": "MusicXML", ".xml": "MusicXML", ".wav": "audio (FluidSynth)",
           ".pdf": "engraved score (LilyPond)", ".png": "engraved score (LilyPond)", ".ly": "LilyPond source"}


def check_format(path: str | Path) -> str:
    """The output suffix of ``path`` when :func:`write` supports it, else an OutputPathError listing them."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise OutputPathError(f"output {path}: unsupported suffix {suffix!r} (use one of {', '.join(FORMATS)})")
    return suffix


def write(y: dict[str, Any], path: str | Path, title: str = "", *, soundfont: str | Path | None = None) -> Path:
    """By suffix: .mid/.midi -> MIDI, .musicxml/.xml -> MusicXML, .wav -> audio, .pdf/.png/.ly -> engraved score."""
    suffix = check_format(path)
    if suffix in (".mid", ".midi"):
        return write_midi(y, path, title)
    if suffix in (".musicxml", ".xml"):
        return write_musicxml(y, path, title)
    if suffix == ".wav":
        return write_wav(y, path, soundfont=soundfont)
    return write_score(y, path, title)


def check_renderer(path: str | Path, *, soundfont: str | Path | None = None) -> None:
    """Fail early (before a song is composed) when the program or soundfont ``path``'s format needs is missing."""
    suffix = check_format(path)
    if suffix == ".wav":
        find_program("fluidsynth", "fluidsynth")
        find_soundfont(soundfont)
    elif suffix in (".pdf", ".png"):
        find_program("lilypond", "lilypond")


# -- external programs ---------------------------------------------------------------------------------

#: The General MIDI soundfont of Debian's ``timgm6mb-soundfont`` (6 MB; GPL-2, see the package's copyright file).
DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
#: Environment variable naming another .sf2 / .sf3 soundfont (the ``soundfont`` argument wins over it).
SOUNDFONT_ENV = "REGEN_SOUNDFONT"
#: Longest a renderer may run on one song (a 4,000-note score takes LilyPond minutes).
RENDER_TIMEOUT_S = 900
_NOTICES: set[str] = set()


def find_program(name: str, package: str) -> str:
    """Path of the program ``name`` on PATH, else MissingRendererError naming its Debian ``package``."""
    found = shutil.which(name)
    if found is None:
        raise MissingRendererError(f"the program {name!r} is not on PATH: install the Debian package {package!r} "
                                   f"(apt-get install {package}; make setup does it) to write this format")
    return found


def find_soundfont(soundfont: str | Path | None = None) -> Path:
    """The soundfont to render with: the argument, else ``$REGEN_SOUNDFONT``, else Debian's TimGM6mb.
    A named file that does not exist is an error, never replaced by another soundfont."""
    given = soundfont or os.environ.get(SOUNDFONT_ENV) or None
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            origin = "soundfont" if soundfont else f"${SOUNDFONT_ENV}"
            raise MissingRendererError(f"{origin} {path}: no such file (name a .sf2/.sf3 soundfont, or unset it to use "
                                       f"{DEFAULT_SOUNDFONT} from the Debian package 'timgm6mb-soundfont')")
        return path
    if not DEFAULT_SOUNDFONT.is_file():
        raise MissingRendererError(f"no soundfont: {DEFAULT_SOUNDFONT} is missing; install the Debian package "
                                   f"'timgm6mb-soundfont' (apt-get install timgm6mb-soundfont; make setup does it) "
                                   f"or name a .sf2 file with ${SOUNDFONT_ENV} / soundfont=")
    return DEFAULT_SOUNDFONT


def _notice(key: str, text: str) -> None:
    if key not in _NOTICES:
        _NOTICES.add(key)
        print(f"[regen_melody.render] {text}", flush=True)


def _run(cmd: list[str], cwd: Path, what: str) -> str:
    """Run a renderer and return its error output; a non-zero exit or a timeout is a RenderError ending with it."""
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"{what}: {Path(cmd[0]).name} ran longer than {RENDER_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = _one_line(done.stderr or done.stdout)[-1500:]
        raise RenderError(f"{what}: {Path(cmd[0]).name} exited with status {done.returncode}: {tail}")
    return _one_line(done.stderr or "")


def _one_line(text: str) -> str:
    return " / ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _check_renderable(y: dict[str, Any]) -> None:
    from .extract import check_melody

    check_melody(y)  # NoNotesError for no notes, TemplateError for fields of different lengths
    bad = [p for p in y["pitch"] if not 0 <= int(p) <= 127]
    if bad:
        raise TemplateError(f"melody {y.get('title', '')!r}: pitch {bad[0]} is outside MIDI's 0..127")


def melody_seconds(y: dict[str, Any]) -> float:
    """Sounding length of a melody at :data:`TEMPO_BPM` (onsets and durations in quarter notes, as rendered)."""
    return max(float(o) + float(d) for o, d in zip(y["onset"], y["duration"])) * 60.0 / TEMPO_BPM


# -- WAV -------------------------------------------------------------------------------------------------

#: Sound kept after the last note ends: its release (and the reverb's), trimmed where it falls below -60 dB.
RELEASE_S = 1.0
#: FluidSynth's master gain (its default 0.2 leaves a lone melody near -40 dBFS); the result is then peak-normalised.
FLUIDSYNTH_GAIN = 1.0
#: Peak level of the written WAV, as a fraction of full scale.
PEAK = 0.9
#: A rendering whose peak stays below this (-60 dBFS) is silence: an error, never written.
SILENCE = 1e-3


def write_wav(y: dict[str, Any], path: str | Path, *, soundfont: str | Path | None = None,
              sample_rate: int = 22050) -> Path:
    """The melody played on a General MIDI piano, as a 16-bit stereo WAV at ``sample_rate``.

    Steps: 1. the melody as MIDI (:func:`write_midi`, :data:`TEMPO_BPM`) in a temporary folder;
    2. FluidSynth renders it offline (``fluidsynth -ni -F``) with the soundfont (:func:`find_soundfont`);
    3. the sound after the last note is trimmed to at most :data:`RELEASE_S` (FluidSynth keeps rendering
    silence for seconds), the peak normalised to :data:`PEAK`; a silent rendering is an error;
    4. written atomically to ``path``.
    """
    _check_renderable(y)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 96000:
        raise MelodyInputError(f"sample_rate {sample_rate!r}: expected an integer from 8000 to 96000 Hz (FluidSynth's range)")
    path = check_output_file(path)
    program = find_program("fluidsynth", "fluidsynth")
    sf2 = find_soundfont(soundfont)
    if sf2 == DEFAULT_SOUNDFONT:
        _notice("timgm6mb", f"soundfont {sf2}: TimGM6mb (Tim Brechbill), GPL-2 "
                            "(/usr/share/doc/timgm6mb-soundfont/copyright)")
    with tempfile.TemporaryDirectory(prefix="regen-melody-wav-") as tmp:
        # 1.-2. MIDI, then FluidSynth: no shell, no MIDI input, file renderer; 16-bit WAV at the rate asked
        mid = write_midi(y, Path(tmp) / "melody.mid")
        raw = Path(tmp) / "raw.wav"
        # (no default soundfont: FluidSynth would quietly play its own when ours fails to load)
        said = _run([program, "-ni", "-q", "-o", "synth.default-soundfont=", "-g", str(FLUIDSYNTH_GAIN),
                     "-r", str(sample_rate), "-T", "wav", "-O", "s16", "-F", str(raw), str(sf2), str(mid)],
                    Path(tmp), f"WAV of {path.name} with soundfont {sf2}")
        if not raw.is_file():
            raise RenderError(f"WAV of {path.name}: fluidsynth wrote no file (soundfont {sf2})")
        audio, rate = _read_wav16(raw)  # (T, C) float in [-1, 1]
    if rate != sample_rate:
        raise RenderError(f"WAV of {path.name}: fluidsynth wrote {rate} Hz where {sample_rate} Hz was asked")
    # 3. trim the silence after the release, normalise
    level = np.abs(audio).max(axis=1) if audio.size else np.zeros(0)  # (T,)
    peak = float(level.max()) if level.size else 0.0
    if peak < SILENCE:
        raise RenderError(f"WAV of {path.name}: fluidsynth rendered silence with the soundfont {sf2}"
                          + (f"; it said: {said[-1000:]}" if said else ""))
    loud = np.flatnonzero(level > peak * 1e-3)
    end = min(loud[-1] + 1, int(round((melody_seconds(y) + RELEASE_S) * rate)))
    audio = audio[:end] * (PEAK / peak)  # (T', C)
    # 4. atomically
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    with atomic_path(path) as tmp_path:
        with wave.open(str(tmp_path), "wb") as w:
            w.setnchannels(pcm.shape[1])
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm.tobytes())
    return path


def _read_wav16(path: Path) -> tuple[np.ndarray, int]:
    """(audio (T, C) float in [-1, 1], sample rate) of a 16-bit PCM WAV."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise RenderError(f"{path}: expected 16-bit samples, got {8 * w.getsampwidth()}-bit")
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return frames.reshape(-1, w.getnchannels()).astype(np.float32) / 32768.0, w.getframerate()


# -- engraved score ------------------------------------------------------------------------------------

#: Resolution of a PNG score (dots per inch).
PNG_DPI = 150
#: LilyPond durations by length in sixteenths (single dots; longer notes are tied).
_LY_DURATIONS = {24: "1.", 16: "1", 12: "2.", 8: "2", 6: "4.", 4: "4", 3: "8.", 2: "8", 1: "16"}
_SHARP_NAMES = ("c", "cis", "d", "dis", "e", "f", "fis", "g", "gis", "a", "ais", "b")
_FLAT_NAMES = ("c", "des", "d", "ees", "e", "f", "ges", "g", "aes", "a", "bes", "b")


def score_key(y: dict[str, Any]) -> tuple[int, bool]:
    """(tonic pitch class, minor?) to notate a melody in: its template's key when it has one (a regenerated
    melody), else the score's key or the one found from its notes (:func:`theory.melody_key`)."""
    from .theory import melody_key

    t = y.get("template") or {}
    if "transpose" in t and "mode" in t:
        minor = int(t["mode"]) == 1
        return ((9 if minor else 0) - int(t["transpose"])) % 12, minor
    return melody_key(y)


def _ly_string(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ly_pitch(p: int, names: tuple[str, ...]) -> str:
    octave = p // 12 - 4  # c' is middle C (60)
    return names[p % 12] + ("'" * octave if octave > 0 else "," * -octave)


def _ly_lengths(start: int, length: int, bar: int) -> list[int]:
    """A span of sixteenths split at barlines, each piece into notated values (largest first)."""
    out = []
    while length > 0:
        piece = min(length, bar - start % bar)
        length, start = length - piece, start + piece
        while piece > 0:
            v = max(k for k in _LY_DURATIONS if k <= piece)
            out.append(v)
            piece -= v
    return out


def to_lilypond(y: dict[str, Any], title: str = "", *, one_page: bool = False) -> str:
    """LilyPond source of a melody: treble (or bass) clef, key, metre, tempo, notes on a sixteenth grid
    (as MIDI and MusicXML quantise them) tied across bars, rests in the gaps, the syllables under the
    notes (``--`` between the syllables of one word). ``one_page``: the whole song on one tall page (PNG)."""
    _check_renderable(y)
    meter = str(y.get("meter") or "4/4")
    bar = meter_info(meter)[0] * 4  # sixteenths per bar
    if abs(bar - round(bar)) > 1e-9:
        raise TemplateError(f"meter {meter!r}: a bar is not a whole number of sixteenths")
    bar = int(round(bar))
    tonic, minor = score_key(y)
    fifths = ((((tonic + 3) % 12 if minor else tonic) * 7) + 5) % 12 - 5  # -5 (Db) .. 6 (F#)
    names = _SHARP_NAMES if fifths >= 0 else _FLAT_NAMES
    onsets = [int(round(float(o) * 4)) for o in y["onset"]]
    if any(b <= a for a, b in zip(onsets, onsets[1:])):
        raise TemplateError(f"melody {y.get('title', '')!r}: onsets must increase on the sixteenth grid to be engraved")
    pitches = [int(p) for p in y["pitch"]]
    clef = "treble" if float(np.median(pitches)) >= 55 else "bass"
    # 1. notes and rests, bar by bar
    tokens, t = [], 0
    for i, (p, o) in enumerate(zip(pitches, onsets)):
        if o > t:
            tokens += ["r" + _LY_DURATIONS[v] for v in _ly_lengths(t, o - t, bar)]
        d = max(1, int(round(float(y["duration"][i]) * 4)))
        if i + 1 < len(onsets):
            d = min(d, onsets[i + 1] - o)
        pieces = _ly_lengths(o, d, bar)
        tokens += [_ly_pitch(p, names) + _LY_DURATIONS[v] + ("~" if k + 1 < len(pieces) else "")
                   for k, v in enumerate(pieces)]
        t = o + d
    if t % bar:
        tokens += ["r" + _LY_DURATIONS[v] for v in _ly_lengths(t, bar - t % bar, bar)]
    # 2. lyrics: one syllable per note, "--" after a syllable that ends with "-" (the word goes on)
    syl = list(y.get("syllables") or [])
    words = []
    for i in range(len(pitches)):
        s = str(syl[i]) if i < len(syl) and syl[i] else ""
        words.append(_ly_string(s[:-1] if s.endswith("-") else s) + (" --" if s.endswith("-") else ""))
    mode = "minor" if minor else "major"
    tonic_name = (_SHARP_NAMES if fifths >= 0 else _FLAT_NAMES)[tonic]
    lines = [
        '\\version "2.24.0"',
        f"\\header {{ title = {_ly_string(title or y.get('title') or 'melody')} tagline = ##f }}",
        "\\paper { page-breaking = #ly:one-page-breaking }" if one_page else "",
        "melody = {",
        f"  \\clef {clef} \\key {tonic_name} \\{mode} \\time {meter} \\tempo 4 = {TEMPO_BPM}",
        *("  " + " ".join(tokens[k:k + 16]) for k in range(0, len(tokens), 16)),
        '  \\bar "|."',
        "}",
        "words = \\lyricmode {",
        *("  " + " ".join(words[k:k + 16]) for k in range(0, len(words), 16)),
        "}",
        "\\score {",
        '  << \\new Voice = "melody" { \\melody } \\new Lyrics \\lyricsto "melody" { \\words } >>',
        "  \\layout { }",
        "}",
    ]
    return "\n".join(line for line in lines if line) + "\n"


def write_score(y: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """The melody engraved with its lyrics: ``.ly`` writes the LilyPond source (:func:`to_lilypond`),
    ``.pdf`` / ``.png`` run LilyPond on it (a PNG holds the whole song on one page, at :data:`PNG_DPI`)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".pdf", ".png", ".ly"):
        raise OutputPathError(f"output {path}: a score is written as .pdf, .png or .ly, not {suffix!r}")
    path = check_output_file(path)
    source = to_lilypond(y, title, one_page=suffix == ".png")
    if suffix == ".ly":
        return write_text(path, source)
    program = find_program("lilypond", "lilypond")
    with tempfile.TemporaryDirectory(prefix="regen-melody-score-") as tmp:
        (Path(tmp) / "score.ly").write_text(source, encoding="utf-8")
        fmt = ["--pdf"] if suffix == ".pdf" else ["--png", f"-dresolution={PNG_DPI}"]
        _run([program, "-dno-point-and-click", "-lERROR", *fmt, "-o", "score", "score.ly"], Path(tmp),
             f"score {path.name}")
        made = Path(tmp) / f"score{suffix}"
        if not made.is_file():
            raise RenderError(f"score {path.name}: lilypond wrote no {made.name} (files: "
                              f"{', '.join(sorted(f.name for f in Path(tmp).iterdir()))})")
        with atomic_path(path) as tmp_path:
            shutil.copyfile(made, tmp_path)
    return path


#: A piano roll names syllables, chords and cadences up to this many notes (beyond, notes only).
MAX_LABELLED_NOTES = 600


def piano_roll(path: str | Path, melodies: dict[str, dict[str, Any]], template: dict[str, Any] | None = None, title: str = "") -> Path:
    """One row per melody: notes as bars over time (quarter lengths), syllables on top, chords below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = check_output_file(path)
    rows = [(k, v) for k, v in melodies.items() if v is not None and v.get("pitch")]
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, 2.6 * len(rows)), squeeze=False)
    from matplotlib.collections import PolyCollection

    for ax, (name, y) in zip(axes[:, 0], rows):
        boxes = [[(o, p - 0.4), (o + max(d, 0.1), p - 0.4), (o + max(d, 0.1), p + 0.4), (o, p + 0.4)]
                 for p, o, d in zip(y["pitch"], y["onset"], y["duration"])]
        ax.add_collection(PolyCollection(boxes, facecolors="tab:blue", alpha=0.8, linewidths=0))
        labels = len(y["pitch"]) <= MAX_LABELLED_NOTES  # beyond, thousands of labels would only blot the roll
        syl = (y.get("syllables") or []) if labels else []
        for i, (p, o) in enumerate(zip(y["pitch"], y["onset"])):
            if i < len(syl) and syl[i]:
                ax.text(o, p + 0.7, syl[i], fontsize=6, rotation=45)
        t = y.get("template") or (template if name not in ("reference", "direct") else None)  # direct has no template
        if labels and t and len(t.get("chord", [])) == len(y["pitch"]):
            last = None
            for o, c, k in zip(y["onset"], t["chord"], t["cadence"]):
                if c != last:
                    sounding = transpose_chord(int(c), -int(t.get("transpose", 0)))  # template chords are in C / Am
                    ax.text(o, min(y["pitch"]) - 3, chord_name(sounding), fontsize=6, color="tab:green")
                    last = c
                if k:
                    ax.axvline(o, color="tab:red" if k == 2 else "tab:orange", lw=0.6, alpha=0.6)
        end = max(o + d for o, d in zip(y["onset"], y["duration"]))
        ax.set_xlim(min(y["onset"]) - 0.5, end + 0.5)
        ax.set_ylim(min(y["pitch"]) - 5, max(y["pitch"]) + 4)
        ax.set_ylabel(f"{name}\nMIDI pitch", fontsize=8)
    axes[-1, 0].set_xlabel("time (quarter notes)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
