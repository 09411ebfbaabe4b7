"""Run an exported ``tts`` model folder with onnxruntime: text -> log-mel -> waveform, without torch.

The folder is what :func:`regen_tts.export.export_run` writes: ``manifest.json`` and up to five
graphs. The acoustic model is split where its control flow is data-dependent: the encoder graph
gives per-phoneme states and the Gaussians (mean, log-std) of log-duration, pitch and energy; the
draws, the rounding of durations and the length regulator's frame -> phoneme index are numpy glue
here (:func:`draw`, :func:`durations_from_log`, :func:`frame_owner`); the decoder graph takes the
states, the drawn pitch / energy and that index and gives the log-mel (or, for the direct model,
the waveform). The vocoder is one graph, its inverse STFT included.

Noise: the glue draws from numpy's generator, so at ``temperature > 0`` a seed gives other (equally
likely) durations and pitch than the PyTorch model with the same seed; at ``temperature = 0`` both
give the mean and agree to float precision (the parity test checks it).

Only the text front-end (:mod:`regen_tts.text`, espeak through regen_core) runs besides numpy and
onnxruntime; ``import torch`` never happens on this path (a test checks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from regen_core.errors import RegenError

MANIFEST = "manifest.json"
FORMAT = "regen-tts-onnx"
EXTRA_HINT = "pip install 'regen-tts[onnx]' (or make setup)"


class OnnxError(RegenError, ValueError):
    """An ONNX folder or request that cannot run (not an export, missing graph, unknown speaker, no onnxruntime)."""


def require(module: str) -> Any:
    """Import ``onnx`` or ``onnxruntime``, or raise :class:`OnnxError` naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise OnnxError(f"ONNX export/inference needs the {module!r} package: {EXTRA_HINT}") from None


def is_export(folder: str | Path) -> bool:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("format") == FORMAT
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


# -- numpy glue (the parts of the acoustic model that are not graphs) -------------------------------


def draw(mean: np.ndarray, log_std: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """``mean + scale * std * eps``, as :meth:`Backbone.infer` draws (scale 0 gives the mean)."""
    if scale == 0:
        return mean.astype(np.float32)
    eps = rng.standard_normal(mean.shape).astype(np.float32)
    return (mean + scale * np.exp(log_std) * eps).astype(np.float32)


def durations_from_log(log_d: np.ndarray, max_log: float) -> np.ndarray:
    """Drawn log(1 + frames) (B, P) -> integer frames per phoneme, at least 1 (round half to even, like torch)."""
    return np.maximum(np.rint(np.expm1(np.clip(log_d, 0.0, max_log))), 1).astype(np.int64)


def frame_owner(durations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Durations (B, P) -> owner (B, T) phoneme index of every frame, frame mask (B, T); T = longest total."""
    lengths = durations.sum(1)  # (B,)
    t_max = max(1, int(lengths.max()))
    ends = np.cumsum(durations, 1)  # (B, P)
    frames = np.arange(t_max)
    owner = (frames[None, :, None] >= ends[:, None, :]).sum(-1)  # (B, T)
    owner = np.minimum(owner, durations.shape[1] - 1).astype(np.int64)
    return owner, frames[None, :] < lengths[:, None]


# -- the runner ---------------------------------------------------------------------------------------


class OnnxTTS:
    """An exported ``tts`` folder: ``generate`` (text -> log-mel), ``regenerate`` (log-mel -> wave), ``direct``."""

    def __init__(self, folder: str | Path, threads: int = 0):
        folder = Path(folder)
        if not is_export(folder):
            raise OnnxError(f"{folder} is not an ONNX export of a tts model (no {MANIFEST} with format {FORMAT!r}); "
                            f"make one with: regen export tts --onnx {folder} --run RUN")
        self.folder = folder
        self.manifest = json.loads((folder / MANIFEST).read_text())
        self.threads = threads
        self._sessions: dict[str, Any] = {}
        text = self.manifest["text"]
        self.phonemes = tuple(text["phonemes"])
        self.speakers = list(text["speakers"])
        self.sample_rate = int(self.manifest["features"]["sample_rate"])

    @property
    def stages(self) -> list[str]:
        """The exported stages: "generate", "regenerate", "direct"."""
        return sorted({g["stage"] for g in self.manifest["graphs"].values()})

    def session(self, name: str) -> Any:
        if name not in self._sessions:
            if name not in self.manifest["graphs"]:
                raise OnnxError(f"{self.folder} has no {name!r} graph (exported: {', '.join(self.manifest['graphs'])})")
            ort = require("onnxruntime")
            opts = ort.SessionOptions()
            if self.threads > 0:  # 0: onnxruntime's default
                opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            path = self.folder / self.manifest["graphs"][name]["file"]
            self._sessions[name] = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return self._sessions[name]

    def load(self, side: str = "regeneration") -> None:
        """Open the sessions ``side`` needs now (else the first synthesis opens them)."""
        names = ("direct_encoder", "direct_decoder") if side == "direct" else \
            ("generate_encoder", "generate_decoder", "regenerate")
        for name in names:
            self.session(name)

    def _run(self, name: str, **inputs: np.ndarray) -> list[np.ndarray]:
        return self.session(name).run(None, inputs)

    # 1. The condition X: text -> per-sentence phoneme ids, speaker -> index (as TextConditioner does).
    def speaker_id(self, speaker: Any) -> int:
        from .text import speaker_index

        return speaker_index(self.speakers, speaker, OnnxError)

    def sentences(self, text: str, speaker: int) -> list[list[int]]:
        from . import text as frontend

        t = self.manifest["text"]
        head = self.speakers[speaker].partition("+")[0] if self.speakers else ""
        accent = head if head.startswith("en") else t["accent"]
        vocab = frontend.PhonemeVocab(self.phonemes)
        sents = frontend.text_to_sentences(text, self.phonemes, accent=accent, g2p=t["g2p"],
                                           max_chars=t["max_chars"], unknown=t["unknown_chars"])
        return [vocab.encode(s) for s in sents]

    # 2. Encoder graph, glue, decoder graph: one sentence -> the decoder's output (1, T, ...).
    def _acoustic(self, prefix: str, ids: list[int], speaker: int, scale: float, rng: np.random.Generator) -> np.ndarray:
        s = self.manifest["sampling"]
        ph = np.asarray([ids], np.int64)  # (1, P)
        h, dm, ds, pm, ps, em, es = self._run(f"{prefix}_encoder", phonemes=ph, speaker=np.asarray([speaker], np.int64),
                                              phoneme_mask=np.ones(ph.shape, bool))
        # The same draw order as Backbone.infer: duration, pitch, energy.
        durations = durations_from_log(draw(dm, ds, scale, rng), s["max_log_duration"])  # (1, P)
        pitch, energy = draw(pm, ps, scale, rng), draw(em, es, scale, rng)
        owner, fmask = frame_owner(durations)
        return self._run(f"{prefix}_decoder", hidden=h, pitch=pitch, energy=energy, frame_owner=owner, frame_mask=fmask)[0]

    def _per_sentence(self, kind: str, text: str, speaker: Any, seed: int, temperature: float,
                      gap: np.ndarray) -> np.ndarray:
        """``kind`` (generate | direct) run sentence by sentence, the outputs joined by ``gap``."""
        spk = self.speaker_id(speaker)
        scale = temperature * self.manifest["sampling"]["noise_scale"]
        rng = np.random.default_rng(seed)
        sents = self.sentences(text, spk)
        parts: list[np.ndarray] = []
        for i, ids in enumerate(sents):
            parts.append(self._acoustic(kind, ids, spk, scale, rng)[0])
            if i < len(sents) - 1:
                parts.append(gap)
        return np.concatenate(parts).astype(np.float32)

    def generate(self, text: str, speaker: Any = None, *, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """Text -> log-mel (frames, n_mels); sentences joined by 0.2 s of floor-level frames."""
        s = self.manifest["sampling"]
        n_mels = int(self.manifest["features"]["n_mels"])
        pause = np.full((int(round(s["pause_seconds"] * self.sample_rate / self.manifest["features"]["hop"])), n_mels),
                        s["pause_log_mel"], np.float32)
        return self._per_sentence("generate", text, speaker, seed, temperature, pause)

    def regenerate(self, log_mel: np.ndarray) -> np.ndarray:
        """Log-mel (frames, n_mels) -> waveform ((frames - 1) * hop,)."""
        m = np.asarray(log_mel, np.float32)
        n_mels = int(self.manifest["features"]["n_mels"])
        if m.ndim != 2 or m.shape[1] != n_mels or m.shape[0] == 0:
            raise OnnxError(f"expected a log-mel of shape (frames, {n_mels}), got {m.shape}")
        if not np.isfinite(m).all():
            raise OnnxError("the log-mel holds NaN or infinite values")
        return self._run("regenerate", log_mel=m[None])[0][0]

    def direct(self, text: str, speaker: Any = None, *, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """Text -> waveform with the direct baseline; sentences joined by 0.2 s of silence."""
        gap = np.zeros(int(round(self.manifest["sampling"]["pause_seconds"] * self.sample_rate)), np.float32)
        return self._per_sentence("direct", text, speaker, seed, temperature, gap)

    def synthesize(self, text: str, speaker: Any = None, *, side: str = "regeneration", seed: int = 0,
                   temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
        """Text -> (waveform, Y' or None), like :func:`regen_tts.synthesize.synthesize`."""
        if side == "direct":
            return self.direct(text, speaker, seed=seed, temperature=temperature), None
        mel = self.generate(text, speaker, seed=seed, temperature=temperature)
        return self.regenerate(mel), mel

