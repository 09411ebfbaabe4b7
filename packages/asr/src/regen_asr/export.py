"""Export a trained ``asr`` run's recognisers to ONNX: ``regen export asr --onnx DIR --run RUN``.

Graphs (batch and frame axes dynamic):

- ``generate.onnx`` (X -> Y', the phoneme recogniser) and ``direct.onnx`` (the character recogniser):
  features (B, T, n_mels) float32 log-mel, lengths (B,) int64 -> log_probs (B, T', V) CTC
  log-probabilities, out_lengths (B,) int64 (T' = T / subsample, rounded up).

What stays outside the graphs: the log-mel features (``regen_asr.features.log_mel``, torch) and the
CTC decoding (``regen_asr.ctc``: greedy / prefix beam search, numpy); ``manifest.json`` carries the
feature settings, each graph's vocabulary (index 0 = blank) and the frame duration they need.
Not exported: the regenerator (phonemes -> words), an autoregressive sequence-to-sequence model
with beam search (or a lexicon), whose loop does not trace into one graph; there is no
onnxruntime transcription command yet (``transcribe.py`` runs PyTorch).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from regen_core.onnx_export import OnnxExportError, attention, export_graph, load_for_export, positions, sha256, write_manifest

OPSET = 17
DYNAMIC = ("batch", "frames", "out_frames")
FORMAT = "regen-asr-onnx"
# Spoken by espeak at test time; not in any corpus the recognisers train on.
HELD_OUT = ("The quick brown fox jumps over the lazy dog.", "Please call Stella and ask her to bring these things.")


def encoder_layer(layer: nn.TransformerEncoderLayer, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``layer(x, src_key_padding_mask=~valid)`` in eval mode (pre- or post-norm), with the traceable attention."""
    def ff(h: torch.Tensor) -> torch.Tensor:
        return layer.linear2(layer.activation(layer.linear1(h)))

    if layer.norm_first:
        x = x + attention(layer.self_attn, layer.norm1(x), valid)
        return x + ff(layer.norm2(x))
    x = layer.norm1(x + attention(layer.self_attn, x, valid))
    return layer.norm2(x + ff(x))


class RecogniserGraph(nn.Module):
    """:meth:`CTCRecogniser.log_probs` in eval mode: (B, T, n_mels), (B,) -> (B, T', V), (B,)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.m = model

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.m
        h = m.subsample(features)  # (B, T', d)
        out_len = m.subsample.out_lengths(lengths)  # <= T' whenever lengths <= T (the clamp of log_probs)
        h = h + positions(h)[None]
        frame = torch.cumsum(torch.ones_like(h[0, :, 0]), 0) - 1  # (T',) 0 .. T'-1
        valid = frame[None, :] < out_len[:, None].to(frame.dtype)  # (B, T')
        for layer in m.encoder.layers:
            h = encoder_layer(layer, h, valid)
        if m.encoder.norm is not None:
            h = m.encoder.norm(h)
        return F.log_softmax(m.head(m.norm(h)).float(), dim=-1), out_len


def export_models(pairing: Any, models: dict[str, Any], out: str | Path, checkpoints: dict[str, Path] | None = None,
                  check: bool = True) -> dict:
    """Export the ``generate`` and ``direct`` recognisers in ``models`` into ``out``; -> manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    graphs: dict[str, dict] = {}
    feats_settings = None
    for stage in ("generate", "direct"):
        model = models.get(stage)
        if model is None:
            continue
        model.eval()
        feats_settings = model.feats
        example = (torch.randn(2, 37, model.feats.n_mels), torch.tensor([37, 30]))
        g = export_graph(RecogniserGraph(model), example, out / f"{stage}.onnx",
                         {"features": ("batch", "frames", model.feats.n_mels), "lengths": ("batch",)},
                         {"log_probs": ("batch", "out_frames", len(model.vocab)), "out_lengths": ("batch",)},
                         DYNAMIC, opset=OPSET, extra="regen-asr[onnx]")
        g.update(stage=stage, vocabulary=list(model.vocab.tokens), blank_id=0, frame_seconds=model.frame_seconds)
        graphs[stage] = g
    if not graphs:
        raise OnnxExportError("nothing to export: the run has no trained generate or direct recogniser")
    sources = {s: {"folder": str(f), "model.safetensors sha256": sha256(Path(f) / "model.safetensors")}
               for s, f in (checkpoints or {}).items() if s in graphs and (Path(f) / "model.safetensors").exists()}
    fs = feats_settings
    manifest = {"format": FORMAT, "version": 1, "pairing": pairing.name, "opset": OPSET, "torch": torch.__version__,
                "exporter": "torch.onnx.export (TorchScript tracing, dynamic_axes)", "graphs": graphs,
                "source_checkpoints": sources,
                "features": {**dataclasses.asdict(fs), "hop": fs.hop, "win": fs.win, "n_fft": fs.n_fft,
                             "computed_by": "regen_asr.features.log_mel (not in the graph)"},
                "decoding": "CTC over log_probs[:out_lengths]: greedy or prefix beam search (regen_asr.ctc), blank id 0"}
    if check:
        manifest["parity"] = parity(models, out)
    write_manifest(out / "manifest.json", manifest)
    return manifest


def export_run(run: str | Path, out: str | Path, check: bool = True, pairing_name: str | None = None) -> dict:
    """Export a run folder (or one ``<stage>/final`` model folder) to ``out``; -> manifest.

    ``pairing_name``: refuse a run of another pairing (:func:`regen_core.onnx_export.load_for_export`).
    """
    pairing, models, folders = load_for_export(run, pairing_name)
    return export_models(pairing, models, out, folders, check=check)


def held_out_features(sample_rate: int, fs: Any, sentences: Sequence[str] = HELD_OUT) -> list[torch.Tensor]:
    """Log-mel features (T, n_mels) of ``sentences`` spoken by espeak and resampled to ``sample_rate``."""
    from regen_speech.audio import resample
    from regen_speech.espeak import synthesize

    from .features import log_mel

    out = []
    for text in sentences:
        s = synthesize(text, "en-us")
        out.append(log_mel(resample(s.audio, s.sample_rate, sample_rate), fs))
    return out


def parity(models: dict[str, Any], folder: str | Path, sentences: Sequence[str] = HELD_OUT) -> dict:
    """Max abs difference of the CTC log-probabilities, onnxruntime vs PyTorch, on held-out speech."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise OnnxExportError("the parity check needs onnxruntime: pip install 'regen-asr[onnx]'") from None
    rec: dict[str, Any] = {"sentences": list(sentences)}
    for stage in ("generate", "direct"):
        model = models.get(stage)
        if model is None:
            continue
        feats = held_out_features(model.feats.sample_rate, model.feats, sentences)
        sess = ort.InferenceSession(str(Path(folder) / f"{stage}.onnx"), providers=["CPUExecutionProvider"])
        worst = 0.0
        with torch.no_grad():
            # One utterance at a time on both sides: zero-padding a batch changes the frames next to each
            # utterance's end through the subsampling convolutions, in PyTorch as in the graph.
            for f in feats:
                length = torch.tensor([f.shape[0]])
                got, got_len = sess.run(None, {"features": f[None].numpy(), "lengths": length.numpy()})
                ref, n = model.log_probs(f[None], length)
                n = int(n[0])
                if int(got_len[0]) != n or got.shape[1] != ref.shape[1]:
                    raise OnnxExportError(f"{stage}: onnx gives {int(got_len[0])} frames, PyTorch {n}")
                worst = max(worst, float(np.abs(got[0, :n] - ref[0, :n].numpy()).max()))
        rec[f"{stage}_log_probs_max_abs"] = worst
    return rec
