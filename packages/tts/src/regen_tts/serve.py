"""The tts tab of ``regen serve``: text + voice -> speech, regeneration and the direct baseline side by side.

Regeneration: text -> Y' (a log-mel, or EnCodec codes for ``tts-codec``) -> waveform; the direct
baseline: text -> waveform. Each side shows an audio player and a picture of its log-mel (with the
sampled Y' above it), and the page lists the time each step took. Bad text (empty, unspeakable,
too long) raises the same typed errors as ``python -m regen_tts.synthesize``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from regen_core.serve import StepTimer, guard, output_path

from .synthesize import SynthesizeError


def _int16(wave: Any) -> np.ndarray:
    return (np.clip(np.nan_to_num(np.asarray(wave, np.float32).reshape(-1)), -1, 1) * 32767).astype(np.int16)


def _mel_png(pairing: Any, wave: np.ndarray, y_prime: Any, title: str) -> str:
    """A PNG with the output's log-mel, and the sampled Y' above it when it is a log-mel."""
    from .plots import mel_comparison

    panels = []
    if y_prime is not None and np.asarray(y_prime).ndim == 2 and np.asarray(y_prime).dtype.kind == "f":
        panels.append(("Y': log-mel sampled by the generator", np.asarray(y_prime)))
    panels.append(("Y: log-mel of the waveform", pairing.judge.logmel(np.asarray(wave, np.float32))))
    path = output_path("tts-mel", ".png")
    mel_comparison(path, panels, title=title[:100], hop_s=pairing.config.hop / pairing.config.sample_rate)
    return str(path)


def y_prime_summary(y_prime: Any, hop_s: float) -> str:
    a = np.asarray(y_prime)
    if a.dtype.kind == "f":
        return f"Y': {a.shape[0]} mel frames x {a.shape[1]} bins ({a.shape[0] * hop_s:.2f} s)"
    return f"Y': {a.shape[0]} frames x {a.shape[1] if a.ndim > 1 else 1} codec codes"


def respond(pairing: Any, models: Mapping[str, Any], text: str, speaker: str | None, seed: int = 0,
            temperature: float = 1.0) -> dict[str, Any]:
    """One request: ``{"regeneration": (sr, int16), "regeneration_png", "direct", "direct_png", "timing"}``
    (the direct entries are None when the run has no direct stage)."""
    missing = [s for s in ("generate", "regenerate") if s not in models]
    if missing:
        raise SynthesizeError(f"the run has no trained {', '.join(missing)} stage")
    sr, hop_s = pairing.config.sample_rate, pairing.config.hop / pairing.config.sample_rate
    x = {"text": text or "", "speaker": speaker or pairing.speakers[0]}
    seed = int(seed or 0)
    timer = StepTimer()
    with timer("generate (text -> Y')"):
        y_prime = models["generate"].sample(x, seed=seed, temperature=temperature)
    with timer("regenerate (Y' -> waveform)"):
        wave = np.asarray(models["regenerate"].sample(y_prime, seed=seed + 1, temperature=temperature), np.float32)
    out: dict[str, Any] = {"regeneration": (sr, _int16(wave)), "direct": None, "direct_png": None}
    out["regeneration_png"] = _mel_png(pairing, wave, y_prime, f"regeneration [{x['speaker']}] {text}")
    if "direct" in models:
        with timer("direct (text -> waveform)"):
            direct = np.asarray(models["direct"].sample(x, seed=seed, temperature=temperature), np.float32)
        out["direct"] = (sr, _int16(direct))
        out["direct_png"] = _mel_png(pairing, direct, None, f"direct [{x['speaker']}] {text}")
    audio = f"{len(wave) / sr:.2f} s of audio at {sr} Hz"
    out["timing"] = timer.markdown(f"{y_prime_summary(y_prime, hop_s)}; {audio}")
    return out


def build_tab(pairing: Any, models: Mapping[str, Any]) -> None:
    """The tab's controls (inside an open ``gradio.Tab``)."""
    import gradio as gr

    name = pairing.name
    speakers = list(pairing.speakers)
    with gr.Row():
        text = gr.Textbox(label="text", value="Hello there.", lines=2, scale=3, elem_id=f"{name}-text")
        speaker = gr.Dropdown(speakers, value=speakers[0] if speakers else None, label="voice", scale=1,
                              elem_id=f"{name}-speaker")
        seed = gr.Number(0, precision=0, label="seed", scale=1, elem_id=f"{name}-seed")
    run = gr.Button("Synthesize", variant="primary", elem_id=f"{name}-run")
    with gr.Row():
        with gr.Column():
            gr.Markdown("**Regeneration**: text -> Y' -> waveform")
            regen_audio = gr.Audio(label="regeneration", type="numpy", interactive=False, elem_id=f"{name}-regen-audio")
            regen_png = gr.Image(label="Y' and Y (log-mel)", type="filepath", interactive=False, elem_id=f"{name}-regen-mel")
        with gr.Column():
            gr.Markdown("**Direct baseline**: text -> waveform")
            direct_audio = gr.Audio(label="direct", type="numpy", interactive=False, elem_id=f"{name}-direct-audio")
            direct_png = gr.Image(label="Y (log-mel)", type="filepath", interactive=False, elem_id=f"{name}-direct-mel")
    timing = gr.Markdown(elem_id=f"{name}-timing")

    def handle(text: str, speaker: str, seed: float) -> tuple:
        r = respond(pairing, models, text, speaker, int(seed or 0))
        return r["regeneration"], r["regeneration_png"], r["direct"], r["direct_png"], r["timing"]

    run.click(guard(handle), [text, speaker, seed], [regen_audio, regen_png, direct_audio, direct_png, timing])
