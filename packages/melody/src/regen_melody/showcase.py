"""``python -m regen_melody.showcase --out DIR [--model MODEL] [--lyrics "..."]``: a song to hear and read.

Lyrics -> template Y' -> melody (regeneration side) and lyrics -> melody (direct side), G major 4/4:
``song.mid``, ``song.musicxml`` (each syllable under its note), ``song.wav`` (the MIDI played by FluidSynth on
a General MIDI piano), ``song.pdf`` / ``song.png`` (the score engraved by LilyPond, lyrics under the notes),
``song_direct.mid`` / ``song_direct.wav`` and ``song.roll.png`` (piano rolls of both sides with the template's
chords and cadences). ``DIR/outputs.md`` lists them with the model's card. ``--model`` defaults to the model this
package ships.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


LYRICS = ("Twinkle, twinkle, little star, how I wonder what you are. "
          "Up above the world so high, like a diamond in the sky.")


def check_renderers(out: str | Path) -> None:
    """FluidSynth, its soundfont and LilyPond are found before anything is composed (or trained)."""
    from .render import check_renderer

    for suffix in (".wav", ".pdf"):
        check_renderer(Path(out) / f"song{suffix}")


def showcase(model: str | Path, out: str | Path, lyrics: str = LYRICS, *, seed: int = 0) -> list:
    from regen_core.showcase import Output

    from .compose import compose
    from .extract import describe
    from .render import piano_roll, write

    out = Path(out)
    check_renderers(out)
    song, template = compose(model, lyrics, key="G", mode="major", meter="4/4", seed=seed)
    direct, _ = compose(model, lyrics, meter="4/4", side="direct", seed=seed)
    title = lyrics[:40]
    rows = [
        (write(song, out / "song.mid", title), "the song (regeneration side: lyrics -> template Y' -> melody) as MIDI"),
        (write(song, out / "song.musicxml", title), "the same as MusicXML, each syllable under its note"),
        (write(song, out / "song.wav", title), "the MIDI played on a General MIDI piano (FluidSynth, TimGM6mb)"),
        (write(song, out / "song.pdf", title), "the engraved score with the lyrics under the notes (LilyPond)"),
        (write(song, out / "song.png", title), "the same score as one PNG page"),
        (write(direct, out / "song_direct.mid", "direct baseline"), "the direct baseline's song for the same lyrics, MIDI"),
        (write(direct, out / "song_direct.wav", "direct baseline"), "the direct baseline's song, played"),
        (piano_roll(out / "song.roll.png", {"regeneration": song, "direct": direct}, template, lyrics[:70]),
         f"piano rolls of both sides: syllables above the notes, the template's chords and cadences ({describe(template)[:80]})"),
    ]
    return [Output(Path(p), what) for p, what in rows]


def main(argv: Sequence[str] | None = None) -> int:
    from regen_core import showcase as sc

    return sc.main(argv, prog="python -m regen_melody.showcase", doc=__doc__, pairing="melody",
                   title="melody: a song from lyrics, to hear and read",
                   run=lambda model, out, args: showcase(model, out, args.lyrics),
                   add_args=lambda p: p.add_argument("--lyrics", default=LYRICS))


if __name__ == "__main__":
    raise SystemExit(main())
