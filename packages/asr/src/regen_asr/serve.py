"""The asr tab of ``regen serve``: upload or record speech -> Y' (phonemes with timestamps) -> text.

The audio is read as ``python -m regen_asr.transcribe`` reads it (any rate and channel count,
down-mixed and resampled; empty, silent, corrupt or non-audio files raise the same
:class:`regen_speech.audio.AudioError` s); the direct baseline's transcript is shown beside the
regenerated one, with the time each step took.
"""

from __future__ import annotations

from typing import Any, Mapping

from regen_core.serve import StepTimer, guard, require

from .transcribe import transcribe_audio
from .vocab import WORD_SEP


def respond(pairing: Any, models: Mapping[str, Any], path: str | None) -> dict[str, Any]:
    """One request: ``{"text", "direct", "phonemes", "rows" [[phoneme, start, end]], "timing"}``."""
    from regen_core.pipeline import PipelineError
    from regen_speech.audio import load_audio

    require(path, "no audio given: upload a file or record one")
    if "generate" not in models or "regenerate" not in models:
        raise PipelineError("the run has no trained generate and regenerate stages")
    sr = pairing.config.sample_rate
    timer = StepTimer()
    with timer("read"):
        loaded = load_audio(path, sr)
    result = transcribe_audio(loaded.audio, models, sample_rate=sr, direct="direct" in models)
    timer.seconds["generate (speech -> Y' phonemes)"] = result.steps["generate"]
    timer.seconds["regenerate (Y' -> text)"] = result.steps["regenerate"]
    if "direct" in result.steps:
        timer.seconds["direct (speech -> text)"] = result.steps["direct"]
    rows = [[t.token, t.start, t.end] for t in result.phonemes]  # CTC alignment: every token has times
    notes = "; ".join(loaded.notes)
    extra = f"{result.audio_seconds:.2f} s of audio, RTF {result.rtf:.3f}" + (f"; {notes}" if notes else "")
    return {
        "text": result.text,
        "direct": result.direct if result.direct is not None else "(the run has no direct baseline)",
        "phonemes": " ".join(t.token for t in result.phonemes) or "(no phonemes recognised)",
        "rows": rows,
        "timing": timer.markdown(extra),
    }


def build_tab(pairing: Any, models: Mapping[str, Any]) -> None:
    """The tab's controls (inside an open ``gradio.Tab``)."""
    import gradio as gr

    if hasattr(models.get("regenerate"), "warm_up"):
        models["regenerate"].warm_up()  # the lexicon decoder is built now, as the CLI does, not in the first request
    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="speech (WAV, FLAC, OGG; or record)",
                     elem_id="asr-audio")
    run = gr.Button("Transcribe", variant="primary", elem_id="asr-run")
    with gr.Row():
        text = gr.Textbox(label="regeneration: speech -> Y' -> text", interactive=False, elem_id="asr-text")
        direct = gr.Textbox(label="direct baseline: speech -> text", interactive=False, elem_id="asr-direct")
    phonemes = gr.Textbox(label=f"Y': phonemes ('{WORD_SEP}' separates words)", interactive=False,
                          elem_id="asr-phonemes")
    table = gr.Dataframe(headers=["phoneme", "start (s)", "end (s)"], label="Y' with timestamps (CTC alignment)",
                         interactive=False, elem_id="asr-timestamps")
    timing = gr.Markdown(elem_id="asr-timing")

    def handle(path: str | None) -> tuple:
        r = respond(pairing, models, path)
        return r["text"], r["direct"], r["phonemes"], r["rows"], r["timing"]

    run.click(guard(handle), [audio], [text, direct, phonemes, table, timing])
