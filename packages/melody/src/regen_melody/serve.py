"""The melody tab of ``regen serve``: lyrics (+ key, metre) -> Y' (the template) -> melody, beside the direct baseline.

Outputs: a piano roll of both sides (the template's chords under the regenerated melody), the
template as text, MIDI downloads and the time each step took. Lyrics, key and metre are checked as
``python -m regen_melody.compose`` checks them (the same typed errors).

Audio: :func:`render_audio` is the one place a melody becomes a WAV for the page's player (FluidSynth with the
TimGM6mb soundfont, :func:`regen_melody.render.write_wav`); where FluidSynth or its soundfont is missing, the
page shows that error instead of the player.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from regen_core.serve import StepTimer, guard, output_path

METERS = ("", "4/4", "3/4", "2/4", "6/8")  # the metre menu ("" = sampled by the model); other values may be typed
def render_audio(melody: dict[str, Any], path: Path) -> tuple[Path | None, str]:
    """``(WAV, "")`` for the page's audio player, or ``(None, why)`` where the renderer is missing or fails."""
    from regen_core.errors import RegenError, one_line

    from .render import write_wav

    try:
        return write_wav(melody, path), ""
    except RegenError as err:
        return None, f"No audio: {type(err).__name__}: {one_line(err)} (download the MIDI and play it)"


def respond(pairing: Any, models: Mapping[str, Any], lyrics: str, key: str = "", meter: str = "", seed: int = 0,
            temperature: float = 1.0) -> dict[str, Any]:
    """One request: ``{"png", "template", "midi", "direct_midi", "audio", "audio_note", "timing"}`` (direct entries
    None without a direct stage; ``audio`` None, and ``audio_note`` saying why, without a renderer)."""
    from regen_core.pipeline import PipelineError

    from .compose import make_condition
    from .extract import describe
    from .render import piano_roll, write_midi

    condition = make_condition(lyrics or "", key=(key or "").strip(), meter=(meter or "").strip())
    for s in ("generate", "regenerate"):
        if s not in models:
            raise PipelineError(f"the run has no trained {s} stage")
    seed = int(seed or 0)
    timer = StepTimer()
    with timer("generate (lyrics -> Y' template)"):
        template = models["generate"].sample(condition, seed=seed, temperature=temperature)
    with timer("regenerate (Y' -> melody)"):
        melody = models["regenerate"].sample(template, seed=seed + 1, temperature=temperature)
    direct = None
    if "direct" in models:
        with timer("direct (lyrics -> melody)"):
            direct = models["direct"].sample(condition, seed=seed, temperature=temperature)
    title = lyrics.strip()[:60]
    with timer("render"):
        png = piano_roll(output_path("melody", ".png"), {"regeneration": melody, "direct": direct}, template, title)
        midi = write_midi(melody, output_path("melody-regeneration", ".mid"), title)
        direct_midi = write_midi(direct, output_path("melody-direct", ".mid"), title) if direct is not None else None
        audio, audio_note = render_audio(melody, output_path("melody-regeneration", ".wav"))
    notes = f"{len(melody['pitch'])} notes, metre {melody['meter']}"
    return {"png": str(png), "template": describe(template), "midi": str(midi),
            "direct_midi": str(direct_midi) if direct_midi else None, "audio": str(audio) if audio else None,
            "audio_note": audio_note,
            "timing": timer.markdown(notes)}


def build_tab(pairing: Any, models: Mapping[str, Any]) -> None:
    """The tab's controls (inside an open ``gradio.Tab``)."""
    import gradio as gr

    with gr.Row():
        lyrics = gr.Textbox(label="lyrics (English or German; punctuation places cadences)", lines=3, scale=3,
                            value="Twinkle twinkle little star, how I wonder what you are.", elem_id="melody-lyrics")
        with gr.Column(scale=1):
            key = gr.Textbox(label="key (e.g. G, e minor, Bbm; empty: C major / A minor)", elem_id="melody-key")
            meter = gr.Dropdown(list(METERS), value="", label="metre (empty: sampled)", allow_custom_value=True,
                                elem_id="melody-meter")
            seed = gr.Number(0, precision=0, label="seed", elem_id="melody-seed")
    run = gr.Button("Compose", variant="primary", elem_id="melody-run")
    roll = gr.Image(label="piano roll: regeneration (template chords below) and direct", type="filepath",
                    interactive=False, elem_id="melody-roll")
    template = gr.Textbox(label="Y': the template (mode, metre, beats, chords, cadences)", interactive=False,
                          elem_id="melody-template")
    with gr.Row():
        midi = gr.File(label="MIDI (regeneration)", interactive=False, elem_id="melody-midi")
        direct_midi = gr.File(label="MIDI (direct)", interactive=False, elem_id="melody-direct-midi")
    audio = gr.Audio(label="audio (regeneration)", type="filepath", interactive=False, visible=False,
                     elem_id="melody-audio")
    audio_note = gr.Markdown("", elem_id="melody-audio-note")
    timing = gr.Markdown(elem_id="melody-timing")

    def handle(lyrics: str, key: str, meter: str, seed: float) -> tuple:
        r = respond(pairing, models, lyrics, key, meter, int(seed or 0))
        has_audio = r["audio"] is not None
        return (r["png"], r["template"], r["midi"], r["direct_midi"], gr.update(value=r["audio"], visible=has_audio),
                gr.update(value=r["audio_note"], visible=not has_audio), r["timing"])

    run.click(guard(handle), [lyrics, key, meter, seed], [roll, template, midi, direct_midi, audio, audio_note, timing])
