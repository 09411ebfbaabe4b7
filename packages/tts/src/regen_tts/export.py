"""Export a trained ``tts`` run to ONNX: ``python -m regen_tts.export --run RUN --onnx DIR`` (or ``regen export tts``).

Graphs (every length axis dynamic: batch, phonemes, frames, samples):

- ``generate_encoder.onnx``: phonemes (B, P) int64, speaker (B,) int64, phoneme_mask (B, P) bool ->
  hidden (B, P, d) and the Gaussians of log-duration, pitch and energy: *_mean, *_log_std (B, P);
- ``generate_decoder.onnx``: hidden, pitch (B, P), energy (B, P), frame_owner (B, T) int64 (the
  phoneme of every frame), frame_mask (B, T) bool -> log_mel (B, T, n_mels);
- ``regenerate.onnx`` (the neural vocoder): log_mel (B, T, n_mels) -> waveform (B, (T - 1) * hop);
  the inverse STFT is in the graph (the ONNX ``DFT`` operator on the mirrored spectrum, overlap-add);
- ``direct_encoder.onnx`` / ``direct_decoder.onnx``: the direct baseline, as the generator's pair,
  the decoder ending in a waveform.

The acoustic model is split because its middle (drawing durations, rounding them, repeating each
phoneme's state that many frames) has a data-dependent output length; that glue is numpy in
:mod:`regen_tts.onnx_backend`. ``manifest.json`` records the opset, every graph's inputs and
outputs (names, dtypes, shapes with named dynamic axes), the SHA-256 of each source checkpoint,
the features a runtime needs (sample rate, STFT, mels), the phoneme vocabulary, the speakers and
the sampling constants. After writing, the export checks parity against PyTorch on held-out
sentences (:func:`parity`) and records it in the manifest.

A Griffin-Lim regenerator (no trained vocoder) and the ``tts-codec`` pairing (its learned codec is a
transformers ``EncodecModel``: weight-normed convolutions and LSTMs whose export and parity check are not
written yet) are not exported: the export says so and stops.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from regen_core.errors import cli_main
from regen_core.onnx_export import attention, export_graph, load_for_export, positions, sha256, write_manifest

from .generate import MAX_LOG_DUR, Backbone
from .onnx_backend import FORMAT, MANIFEST, OnnxError, OnnxTTS

OPSET = 17
DYNAMIC = ("batch", "phonemes", "frames", "samples")  # dynamic axes of every graph; the others (d_model, n_mels) are fixed
# Not in any toy corpus (whose sentences come from WordNet glosses): held out by construction.
HELD_OUT = ("The quick brown fox jumps over the lazy dog.",
            "Regeneration learning splits one hard task into two easier ones.",
            "Please call Stella, and ask her to bring these things with her from the store.")


# -- graph modules: thin wrappers over the trained modules, export-friendly ---------------------------


def fft_block(block: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:meth:`regen_tts.generate.FFTBlock.forward` in eval mode, with :func:`attention`."""
    x = block.norm1(x + attention(block.attn, x, mask)) * mask[..., None]
    h = block.conv2(F.relu(block.conv1(x.transpose(1, 2)))).transpose(1, 2)  # (B, T, d)
    return block.norm2(x + h) * mask[..., None]


class AcousticEncoder(nn.Module):
    """Backbone.encode + the three variance predictors."""

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.b = backbone

    def forward(self, phonemes: torch.Tensor, speaker: torch.Tensor, phoneme_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b = self.b
        x = b.embed(phonemes) * math.sqrt(b.cfg.d_model)  # (B, P, d)
        x = (x + positions(x)[None] + b.speaker(speaker)[:, None, :]) * phoneme_mask[..., None]
        for block in b.encoder:
            x = fft_block(block, x, phoneme_mask)
        out = [x]
        for pred in (b.duration, b.pitch, b.energy):
            out.extend(pred(x, phoneme_mask))  # mean (B, P), log_std (B, P)
        return tuple(out)


class AcousticDecoder(nn.Module):
    """Variance embeddings + length regulation by a given frame -> phoneme index + Backbone's decoder + ``head``."""

    def __init__(self, backbone: Backbone, head: nn.Module):
        super().__init__()
        self.b, self.head = backbone, head

    def forward(self, hidden: torch.Tensor, pitch: torch.Tensor, energy: torch.Tensor, frame_owner: torch.Tensor,
                frame_mask: torch.Tensor) -> torch.Tensor:
        h = self.b._add_variance(hidden, pitch, energy)  # (B, P, d)
        x = h.gather(1, frame_owner[..., None].expand(-1, -1, h.shape[2]))  # (B, T, d)
        x = (x + positions(x)[None]) * frame_mask[..., None]
        for block in self.b.decoder:
            x = fft_block(block, x, frame_mask)
        return self.head(x)


class MelHead(nn.Module):
    """MelGenerator's head + postnet: (B, T, d) -> (B, T, n_mels)."""

    def __init__(self, gen: nn.Module):
        super().__init__()
        self.gen = gen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gen._mel(x)[1]


class _InverseDFT(torch.autograd.Function):
    """Real part of the inverse DFT over dim 2 of a (B, T, N, 2) real / imaginary spectrum -> (B, T, N).

    Exported as the ONNX ``DFT`` operator (inverse; onnxruntime runs an FFT for power-of-two sizes),
    which ``torch.onnx`` does not emit for ``torch.fft`` calls itself.
    """

    @staticmethod
    def forward(ctx: Any, spec: torch.Tensor) -> torch.Tensor:
        return torch.fft.ifft(torch.view_as_complex(spec.contiguous()), dim=2).real

    @staticmethod
    def symbolic(g: Any, spec: Any) -> Any:
        out = g.op("DFT", spec, axis_i=2, inverse_i=1, onesided_i=0)  # (B, T, N, 2)
        one = g.op("Constant", value_t=torch.tensor([1.0, 0.0]).view(2, 1))
        return g.op("Squeeze", g.op("MatMul", out, one), g.op("Constant", value_t=torch.tensor([3])))  # the real part


class InverseSTFT(nn.Module):
    """(B, F, T) log-magnitude and phase -> (B, (T - 1) * hop) waveform, as ``torch.istft(center=True)``.

    Inverse real DFT (``fft="dft"``: the one-sided spectrum mirrored to its conjugate-symmetric full
    form, the ONNX ``DFT`` operator, the real part, so the imaginary parts of DC and Nyquist are
    ignored as ``irfft`` does; ``fft="matmul"``: the same as two matrix products, N x (N/2 + 1)
    multiply-adds per frame each), the synthesis window, overlap-add of the frames, division by the
    overlap-added squared window, and the ``n_fft // 2`` padding trimmed.
    """

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor, fft: str = "dft"):
        super().__init__()
        if fft not in ("dft", "matmul") or (fft == "dft" and n_fft % 2):
            raise OnnxError(f"InverseSTFT: fft must be 'dft' (even n_fft) or 'matmul', got {fft!r} with n_fft {n_fft}")
        self.n_fft, self.hop, self.fft = n_fft, hop, fft
        n_bins = n_fft // 2 + 1
        n = torch.arange(n_fft, dtype=torch.float64)[:, None]
        k = torch.arange(n_bins, dtype=torch.float64)[None, :]
        weight = torch.full((n_bins,), 2.0, dtype=torch.float64)
        weight[0] = 1.0
        if n_fft % 2 == 0:
            weight[-1] = 1.0
        angle = 2 * math.pi * n * k / n_fft  # (N, F)
        self.register_buffer("cos", (weight * torch.cos(angle) / n_fft).float(), persistent=False)
        self.register_buffer("sin", (-weight * torch.sin(angle) / n_fft).float(), persistent=False)
        left = (n_fft - window.numel()) // 2  # a shorter window is centred, as torch.istft pads it
        w = F.pad(window.float(), (left, n_fft - window.numel() - left))
        self.register_buffer("window", w, persistent=False)  # (N,)
        if n_fft % hop:
            self.register_buffer("ola", torch.eye(n_fft)[:, None, :], persistent=False)  # (N, 1, N)

    def overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, N, T) -> (B, (T - 1) * hop + N).

        When hop divides N: each frame is R = N / hop blocks of hop samples, block r landing in output
        block t + r, so the sum is R shifted pads (cheap); otherwise a transposed convolution with an
        identity kernel (N x N multiply-adds per frame).
        """
        n, hop = self.n_fft, self.hop
        if n % hop:
            return F.conv_transpose1d(frames, self.ola, stride=hop)[:, 0]
        r = n // hop
        blocks = frames.unflatten(1, (r, hop))  # (B, R, hop, T)
        out = sum(F.pad(blocks[:, i], (i, r - 1 - i)) for i in range(r))  # (B, hop, T + R - 1)
        return out.transpose(1, 2).flatten(1)  # (B, (T + R - 1) * hop)

    def forward(self, log_mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        mag = log_mag.exp()
        re, im = mag * torch.cos(phase), mag * torch.sin(phase)  # (B, F, T) each
        if self.fft == "matmul":
            frames = self.cos @ re + self.sin @ im  # (B, N, T)
        else:  # bins N/2 + 1 .. N - 1 are the conjugates of N/2 - 1 .. 1
            re, im = re.transpose(1, 2), im.transpose(1, 2)  # (B, T, F): the transform runs over the last axis
            full_re = torch.cat([re, re[..., 1:-1].flip(-1)], -1)  # (B, T, N)
            full_im = torch.cat([im, -im[..., 1:-1].flip(-1)], -1)
            frames = _InverseDFT.apply(torch.stack([full_re, full_im], -1)).transpose(1, 2)  # (B, N, T)
        y = self.overlap_add(frames * self.window[:, None])  # (B, L)
        env = self.overlap_add(self.window.pow(2)[None, :, None] * torch.ones_like(frames[:1, :1]))  # (1, L)
        half = self.n_fft // 2
        return (y / env)[:, half : y.shape[1] - half]


class WaveHead(nn.Module):
    """WaveDecoder (features -> spectrum) + in-graph inverse STFT, with an optional magnitude prior."""

    def __init__(self, decoder: nn.Module, prior: Any = None):
        super().__init__()
        self.decoder, self.prior = decoder, prior
        head = decoder.head
        self.istft = InverseSTFT(head.n_fft, head.hop, head.window)

    def forward(self, x: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
        return self.istft(*self.decoder.head.spectrum(self.decoder.features(x), prior))


class VocoderGraph(nn.Module):
    """Vocoder: log_mel (B, T, n_mels) -> waveform (B, (T - 1) * hop)."""

    def __init__(self, vocoder: nn.Module):
        super().__init__()
        self.vocoder = vocoder
        self.wave = WaveHead(vocoder.net)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        return self.wave(log_mel, self.vocoder.prior(log_mel))


# -- export ---------------------------------------------------------------------------------------------


def _export(module: nn.Module, args: tuple, path: Path, inputs: dict[str, tuple], outputs: dict[str, tuple]) -> dict:
    return export_graph(module, args, path, inputs, outputs, DYNAMIC, opset=OPSET, extra="regen-tts[onnx]")


def _acoustic_examples(backbone: Backbone, n_phonemes: int = 5) -> tuple[tuple, tuple]:
    """Example inputs of the encoder and decoder graphs (batch 2, the second one shorter, for the masks)."""
    d = backbone.cfg.d_model
    ph = torch.randint(1, len(backbone.cfg.phonemes) + 1, (2, n_phonemes))
    pmask = torch.ones(2, n_phonemes, dtype=torch.bool)
    pmask[1, -1] = False
    dur = torch.tensor([[2, 1, 3, 1, 2], [1, 2, 2, 1, 0]])[:, :n_phonemes]
    ends = dur.cumsum(1)
    t = int(dur.sum(1).max())
    owner = (torch.arange(t)[None, :, None] >= ends[:, None, :]).sum(-1).clamp(max=n_phonemes - 1)
    fmask = torch.arange(t)[None] < dur.sum(1)[:, None]
    enc = (ph, torch.tensor([0, 0]), pmask)
    dec = (torch.randn(2, n_phonemes, d), torch.randn(2, n_phonemes), torch.randn(2, n_phonemes), owner, fmask)
    return enc, dec


ENCODER_IO = ({"phonemes": ("batch", "phonemes"), "speaker": ("batch",), "phoneme_mask": ("batch", "phonemes")},
              {"hidden": ("batch", "phonemes", "d_model"), **{f"{v}_{s}": ("batch", "phonemes")
                                                              for v in ("duration", "pitch", "energy")
                                                              for s in ("mean", "log_std")}})
DECODER_INPUTS = {"hidden": ("batch", "phonemes", "d_model"), "pitch": ("batch", "phonemes"),
                  "energy": ("batch", "phonemes"), "frame_owner": ("batch", "frames"), "frame_mask": ("batch", "frames")}


def export_models(pairing: Any, models: dict[str, Any], out: str | Path, checkpoints: dict[str, Path] | None = None,
                  check: bool = True) -> dict:
    """Export the ``generate`` / ``regenerate`` / ``direct`` models present in ``models`` into ``out``; -> manifest.

    ``checkpoints``: stage -> model folder, for the SHA-256 of each source ``model.safetensors``.
    ``check``: run :func:`parity` on the held-out sentences and record it in the manifest.
    """
    from .regenerate import Vocoder

    if pairing.name != "tts":
        raise OnnxError(f"ONNX export supports the 'tts' pairing (log-mel Y'), not {pairing.name!r}: "
                        "the learned EnCodec codec of tts-codec (transformers EncodecModel) is not exported yet")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = pairing.config
    graphs: dict[str, dict] = {}
    for stage, head_of in (("generate", MelHead), ("direct", None)):
        model = models.get(stage)
        if model is None:
            continue
        model.eval()
        enc_args, dec_args = _acoustic_examples(model.backbone)
        graphs[f"{stage}_encoder"] = _export(AcousticEncoder(model.backbone), enc_args, out / f"{stage}_encoder.onnx",
                                             *ENCODER_IO)
        head = head_of(model) if head_of else WaveHead(model.wave)
        y = {"log_mel": ("batch", "frames", "n_mels")} if stage == "generate" else {"waveform": ("batch", "samples")}
        graphs[f"{stage}_decoder"] = _export(AcousticDecoder(model.backbone, head), dec_args, out / f"{stage}_decoder.onnx",
                                             DECODER_INPUTS, y)
    voc = models.get("regenerate")
    if voc is not None:
        if not isinstance(voc, Vocoder):
            raise OnnxError(f"the regenerator is {type(voc).__name__}, not a trained neural vocoder: only the vocoder "
                            "is exported (Griffin-Lim is iterative; train the regenerate stage with vocoder=vocos)")
        voc.eval()
        graphs["regenerate"] = _export(VocoderGraph(voc), (torch.randn(2, 7, cfg.n_mels) - 4,), out / "regenerate.onnx",
                                       {"log_mel": ("batch", "frames", "n_mels")}, {"waveform": ("batch", "samples")})
    if not graphs:
        raise OnnxError("nothing to export: the run has no trained generate, regenerate or direct stage")
    for name, g in graphs.items():
        g["stage"] = name.split("_")[0]
    sources = {}
    for stage, folder in (checkpoints or {}).items():
        weights = Path(folder) / "model.safetensors"
        if weights.exists() and stage in {g["stage"] for g in graphs.values()}:
            sources[stage] = {"folder": str(folder), "model.safetensors sha256": sha256(weights)}
    manifest = {
        "format": FORMAT, "version": 1, "pairing": pairing.name, "opset": OPSET, "torch": torch.__version__,
        "exporter": "torch.onnx.export (TorchScript tracing, dynamic_axes)",
        "graphs": graphs, "source_checkpoints": sources,
        "features": {"sample_rate": cfg.sample_rate, "n_fft": cfg.n_fft, "hop": cfg.hop, "win": cfg.win,
                     "n_mels": cfg.n_mels, "fmin": cfg.fmin, "fmax": cfg.mel_fmax, "log_mel": "natural log of the "
                     "magnitude mel spectrogram, floored at 1e-5 (regen_tts.extract.LogMel)"},
        "text": {"phonemes": list(cfg.phonemes), "padding_id": 0, "id_of_phoneme_i": "i + 1",
                 "speakers": list(pairing.speakers), "g2p": cfg.g2p, "accent": cfg.accent, "max_chars": cfg.max_chars,
                 "unknown_chars": cfg.unknown_chars},
        "sampling": {"noise_scale": cfg.noise_scale, "max_log_duration": MAX_LOG_DUR, "pause_seconds": 0.2,
                     "pause_log_mel": math.log(1e-5),
                     "draw": "value = mean + temperature * noise_scale * exp(log_std) * N(0, 1), in the order "
                             "duration, pitch, energy; frames = max(1, round(expm1(clip(log_duration, 0, max_log_duration))))"},
    }
    write_manifest(out / MANIFEST, manifest)  # parity runs the folder through OnnxTTS, which reads it
    if check:
        manifest["parity"] = parity(pairing, models, out)
        write_manifest(out / MANIFEST, manifest)
    return manifest


def export_run(run: str | Path, out: str | Path, check: bool = True, pairing_name: str | None = None) -> dict:
    """Export a run folder (or one ``<stage>/final`` model folder) to ``out``; -> manifest.

    ``pairing_name``: refuse a run of another pairing (:func:`regen_core.onnx_export.load_for_export`).
    """
    pairing, models, folders = load_for_export(run, pairing_name)
    return export_models(pairing, models, out, folders, check=check)


# -- parity and speed -------------------------------------------------------------------------------------


def parity(pairing: Any, models: dict[str, Any], folder: str | Path, sentences: Sequence[str] = HELD_OUT) -> dict:
    """Max abs difference ONNX vs PyTorch on ``sentences`` at temperature 0 (the mean: no noise to match).

    log-mel: the generator end to end (text -> log-mel); waveform: the vocoder on PyTorch's log-mel
    (so the vocoder is judged alone); direct: text -> waveform. A frame-count mismatch (a duration
    rounded the other way) is reported as such.
    """
    onnx = OnnxTTS(folder)
    speaker = pairing.speakers[0]
    rec: dict[str, Any] = {"sentences": list(sentences), "temperature": 0.0, "speaker": speaker}

    def compare(name: str, ref: np.ndarray, got: np.ndarray, scale: float) -> None:
        if ref.shape != got.shape:
            rec[f"{name}_shape_mismatch"] = [list(ref.shape), list(got.shape)]
            rec[f"{name}_max_abs"] = float("inf")
            return
        rec[f"{name}_max_abs"] = max(rec.get(f"{name}_max_abs", 0.0), float(np.abs(ref - got).max()))
        rec[f"{name}_ref_max_abs"] = max(rec.get(f"{name}_ref_max_abs", 0.0), scale)

    for text in sentences:
        x = {"text": text, "speaker": speaker}
        mel = None
        if "generate" in models and "generate" in onnx.stages:
            mel = models["generate"].sample(x, seed=0, temperature=0.0)
            compare("log_mel", mel, onnx.generate(text, speaker, temperature=0.0), float(np.abs(mel).max()))
        if "regenerate" in models and "regenerate" in onnx.stages:
            if mel is None:
                t = np.arange(pairing.config.sample_rate // 2) / pairing.config.sample_rate  # no generator: a 220 Hz tone
                mel = pairing.build("extract").extract((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
            ref = models["regenerate"].sample(mel)
            compare("waveform", ref, onnx.regenerate(mel), float(np.abs(ref).max()))
        if "direct" in models and "direct" in onnx.stages:
            ref = models["direct"].sample(x, seed=0, temperature=0.0)
            compare("direct_waveform", ref, onnx.direct(text, speaker, temperature=0.0), float(np.abs(ref).max()))
    return rec


def rtf(pairing: Any, models: dict[str, Any], folder: str | Path, sentences: Sequence[str] = HELD_OUT,
        repeat: int = 3) -> dict:
    """Real-time factor text -> waveform (generate + regenerate), PyTorch vs onnxruntime, one thread each.

    Best of ``repeat`` per sentence after one warm-up call, temperature 1, seed i for sentence i;
    the text front-end is timed in both (its phoneme cache is warm after the warm-up in both).
    """
    onnx = OnnxTTS(folder, threads=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    speaker = pairing.speakers[0]

    def timed(fn: Any) -> tuple[float, int]:
        n = len(fn())  # warm-up
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return best, n

    try:
        t_torch = t_onnx = 0.0
        n_torch = n_onnx = 0
        for i, text in enumerate(sentences):
            x = {"text": text, "speaker": speaker}
            t, n = timed(lambda: models["regenerate"].sample(models["generate"].sample(x, seed=i)))
            t_torch, n_torch = t_torch + t, n_torch + n
            t, n = timed(lambda: onnx.synthesize(text, speaker, seed=i)[0])
            t_onnx, n_onnx = t_onnx + t, n_onnx + n
    finally:
        torch.set_num_threads(threads)
    sr = pairing.config.sample_rate
    return {"torch_rtf": t_torch / (n_torch / sr), "onnxruntime_rtf": t_onnx / (n_onnx / sr),
            "torch_audio_seconds": n_torch / sr, "onnxruntime_audio_seconds": n_onnx / sr, "threads": 1,
            "n_sentences": len(sentences), "timing": "wall clock, text -> waveform (generate + regenerate, front-end "
            "included), best of 3 per sentence after a warm-up, temperature 1; the two sides draw different noise "
            "(torch vs numpy generators), so their audio lengths differ a little"}


@cli_main("python -m regen_tts.export")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_tts.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", "--run", dest="model", required=True, help="a tts run folder (or one <stage>/final folder)")
    p.add_argument("--onnx", required=True, help="output folder for the graphs and manifest.json")
    p.add_argument("--no-check", action="store_true", help="skip the parity check against PyTorch")
    args = p.parse_args(argv)
    manifest = export_run(args.model, args.onnx, check=not args.no_check, pairing_name="tts")
    print(summary(manifest, args.onnx))
    return 0


def summary(manifest: dict, folder: str | Path) -> str:
    lines = [f"exported {', '.join(manifest['graphs'])} to {folder} (opset {manifest['opset']})"]
    par = manifest.get("parity")
    if par:
        figs = ", ".join(f"{k} {v:.2e}" for k, v in par.items() if k.endswith("_max_abs") and "_ref_" not in k)
        lines.append(f"parity vs PyTorch on {len(par['sentences'])} held-out sentences (temperature 0): {figs}")
        bad = [k for k in par if k.endswith("_shape_mismatch")]
        if bad:
            lines.append(f"WARNING: output lengths differ for {', '.join(bad)}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
