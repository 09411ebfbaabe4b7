"""``python -m regen_melody.compose --lyrics "..." [--model MODEL] --out song.mid [--out song.wav ...]``: a song from lyrics.

MODEL is ``pretrained`` (the default: the model this package ships) or a run folder (``regen compare melody`` /
``python -m regen_melody.train``). Each ``--out`` is
one file, its format chosen by the extension: ``.mid`` (MIDI), ``.musicxml`` (MusicXML, syllables
under the notes), ``.wav`` (the MIDI played by FluidSynth), ``.pdf`` / ``.png`` (the score engraved
by LilyPond, lyrics under the notes), ``.ly`` (its LilyPond source). Beside the first ``--out``
go a piano roll (``STEM.roll.png``) and, on the regeneration side, the template (``STEM.template.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from regen_core.atomic import check_output_file, write_text
from regen_core.errors import OutputPathError, cli_main


def make_condition(lyrics: str, *, key: str = "", mode: str = "", meter: str = "", chords: str = "") -> dict[str, Any]:
    """X for the models: ``{"lyrics", and "key", "mode", "meter", "chords" where given}``, checked: a malformed
    metre, empty, unsupported or too long lyrics raise the melody package's typed errors."""
    from .extract import meter_info
    from .lyrics import syllabify

    if meter:
        meter_info(meter)
    syllabify(lyrics)
    condition: dict[str, Any] = {"lyrics": lyrics}
    for k, v in (("key", key), ("mode", mode), ("meter", meter)):
        if v:
            condition[k] = v
    if chords:
        condition["chords"] = chords.replace(",", " ").split()
    return condition


def compose(run: str | Path, lyrics: str, *, key: str = "", mode: str = "", meter: str = "", chords: str = "",
            side: str = "regeneration", seed: int = 0, temperature: float = 1.0,
            decoding: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(melody, template) for ``lyrics`` from a trained run; template is None on the direct side.
    ``decoding`` overrides fields of the run's template-constrained sampling (``regenerate.TemplateDecoding``:
    chord, chord_bias, rhythm)."""
    from regen_core.contract import regenerate_pipeline
    from regen_core.pipeline import PipelineError, load_run

    condition = make_condition(lyrics, key=key, mode=mode, meter=meter, chords=chords)  # before the run is loaded
    _, models = load_run(run)
    if side == "direct":
        if "direct" not in models:
            raise PipelineError(f"{run} has no trained direct stage")
        return models["direct"].sample(condition, seed=seed, temperature=temperature), None
    for s in ("generate", "regenerate"):
        if s not in models:
            raise PipelineError(f"{run} has no trained {s} stage (train it with python -m regen_melody.train --stage {s})")
    if decoding:
        from dataclasses import replace

        models["regenerate"].decoding = replace(models["regenerate"].decoding, **decoding)
    inf = regenerate_pipeline(condition, models["generate"], models["regenerate"], seed=seed, temperature=temperature)
    return inf.y, inf.y_prime


@cli_main("python -m regen_melody.compose")
def main(argv: list[str] | None = None) -> int:
    from regen_core.cli_common import add_model_arg, model_folder

    from .extract import describe
    from .render import FORMATS, check_renderer, piano_roll, write

    ap = argparse.ArgumentParser(prog="python -m regen_melody.compose", description=__doc__.split("\n\n")[0])
    ap.add_argument("--lyrics", required=True, help="the lyrics (English or German); punctuation places cadences")
    add_model_arg(ap, "melody")
    ap.add_argument("--out", required=True, action="append",
                    help=f"output file, repeatable; the format follows the extension: {', '.join(FORMATS)}")
    ap.add_argument("--soundfont", default=None,
                    help="soundfont for .wav (default: $REGEN_SOUNDFONT, else Debian's TimGM6mb)")
    ap.add_argument("--key", default="", help="e.g. G, 'e minor', Bbm (default: C major / A minor)")
    ap.add_argument("--mode", default="", choices=("", "major", "minor"), help="default: sampled")
    ap.add_argument("--meter", default="", help="e.g. 4/4, 3/4, 6/8 (default: sampled)")
    ap.add_argument("--chords", default="", help="chord progression cycled over the chord windows, e.g. 'C G Am F'")
    ap.add_argument("--side", default="regeneration", choices=("regeneration", "direct"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--chord-constraint", default="", choices=("", "none", "strong", "all"),
                    help="template-constrained decoding: pitches outside the template chord are masked on strong "
                         "notes / on all notes / never (default: the run's pairing.decoding)")
    ap.add_argument("--chord-bias", type=float, default=None, help="logit bonus for chord tones on unmasked notes")
    ap.add_argument("--rhythm-constraint", default="", choices=("", "on", "off"),
                    help="keep onsets inside the template's beats (default: the run's pairing.decoding)")
    args = ap.parse_args(argv)
    outs = [Path(o) for o in args.out]
    if len(set(outs)) < len(outs):
        raise OutputPathError(f"--out names the same file twice: {', '.join(args.out)}")
    if outs[0].with_suffix(".roll.png") in outs:
        raise OutputPathError(f"--out {outs[0].with_suffix('.roll.png')} is where the piano roll goes; name the score otherwise")
    for out in outs:  # every output is checked (and its renderer found) before the song is composed
        check_output_file(out)
        check_renderer(out, soundfont=args.soundfont)
    decoding: dict[str, Any] = {}
    if args.chord_constraint:
        decoding["chord"] = args.chord_constraint
    if args.chord_bias is not None:
        decoding["chord_bias"] = args.chord_bias
    if args.rhythm_constraint:
        decoding["rhythm"] = args.rhythm_constraint == "on"
    melody, template = compose(model_folder(args.model, "melody"), args.lyrics, key=args.key, mode=args.mode, meter=args.meter,
                               chords=args.chords, side=args.side, seed=args.seed, temperature=args.temperature,
                               decoding=decoding)
    title = args.lyrics[:60]
    written = [write(melody, out, title, soundfont=args.soundfont) for out in outs]
    written.append(piano_roll(outs[0].with_suffix(".roll.png"), {args.side: melody}, template, title))
    if template is not None:
        p = outs[0].with_suffix(".template.json")
        write_text(p, json.dumps(template, indent=1))
        written.append(p)
        print("template:", describe(template)[:400])
    print(f"{len(melody['pitch'])} notes, metre {melody['meter']}; wrote " + ", ".join(str(w) for w in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
