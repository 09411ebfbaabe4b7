"""The ``tts`` and ``tts-codec`` pairings: text -> Y' -> waveform, and text -> waveform directly.

``tts``        Y' = log-mel (explicit STFT + mel filterbank); generate = FastSpeech 2-style model;
               regenerate = neural vocoder trained on audio alone (or Griffin-Lim).
``tts-codec``  Y' = EnCodec code tokens: a small EnCodec codec trained here on audio alone as the learned
               extract stage (or a frozen pretrained one); generate = the same backbone predicting all
               codebooks in parallel; regenerate = the codec's own decoder, frozen.
Both ship the same direct baseline (backbone + waveform decoder, trained end to end).
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from regen_core.contract import Metric, Spec, StageData
from regen_core.data import extract_map, pad_sequences

from . import data as tts_data
from .config import TTSConfig
from .codec import LEARNED, CodecDecoder, CodecExtractor, load_encodec
from .extract import LogMel, MelExtractor, durations_from_timings, f0_yin, frame_energy
from .generate import ENERGY_MEAN, ENERGY_STD, PITCH_MEAN, PITCH_STD, CodecGenerator, MelGenerator, TextConditioner
from .metrics import Judge
from .regenerate import GriffinLim, Vocoder, crop_batch
from .direct import DirectTTS

LOG_FLOOR = math.log(1e-5)


class TTSPairing:
    """text (+ speaker) -> log-mel -> waveform."""

    name: ClassVar[str] = "tts"
    x: ClassVar[Spec] = Spec("x", "text", "{'text': str, 'speaker': str}")
    y: ClassVar[Spec] = Spec("audio", "audio", "(T,) float32 mono @ sample_rate Hz")
    y_prime: ClassVar[Spec] = Spec("y_prime", "spectrogram", "(T // hop + 1, n_mels) float32 natural-log mel")
    headline: ClassVar[str] = "mcd"  # the comparisons' lead metric (regen study, bench)
    # what a fine-tune (regen train --init) keeps: the signal and mel settings, the phoneme vocabulary and front-end
    init_keeps: ClassVar[tuple[str, ...]] = ("sample_rate", "n_fft", "hop", "win", "n_mels", "fmin", "fmax", "phonemes", "g2p",
                                              "n_heads", "voc_mag_prior")
    metrics_spec: ClassVar[tuple[Metric, ...]] = (
        Metric("mcd", False, "mel-cepstral distortion with DTW, 13 coefficients, c0 excluded (dB)"),
        Metric("lsd", False, "log-spectral distance on the DTW path (dB)"),
        Metric("f0_rmse", False, "F0 RMSE on DTW-aligned frames voiced in both (Hz, YIN)"),
        Metric("voicing_error", False, "share of aligned frames with a different voiced/unvoiced decision"),
        Metric("duration_error", False, "|predicted - reference| speech duration after trimming silence (s)"),
    )
    config_class: ClassVar[type] = TTSConfig

    def __init__(self, config: TTSConfig):
        self.config = config
        tts_data.check_source(config)

    @classmethod
    def export_onnx(cls, run: str, out: str) -> dict:
        """The optional ONNX hook (:class:`regen_core.contract.OnnxExport`): see :mod:`regen_tts.export`."""
        from .export import export_run

        return export_run(run, out, pairing_name=cls.name)

    # -- shared pieces -----------------------------------------------------------------------------

    @cached_property
    def speakers(self) -> list[str]:
        return tts_data.speakers(self.config)

    def log_mel(self) -> LogMel:
        c = self.config
        return LogMel(c.sample_rate, c.n_fft, c.hop, c.win, c.n_mels, c.fmin, c.mel_fmax)

    @cached_property
    def judge(self) -> Judge:
        return Judge(self.log_mel())

    @property
    def use_aligner(self) -> bool:
        return not tts_data.uses_timings(self.config)

    # -- the contract --------------------------------------------------------------------------------

    def load_data(self) -> Any:
        return tts_data.load_splits(self.config)

    def build(self, stage: str, extractor: Any = None) -> nn.Module:
        cfg = self.config
        if stage == "extract":
            return MelExtractor(self.log_mel())
        if stage == "generate":
            return MelGenerator(cfg, self.speakers, self.use_aligner)
        if stage == "regenerate":
            if cfg.vocoder == "griffinlim":
                return GriffinLim(self.log_mel(), cfg.gl_iters)
            return Vocoder(self.log_mel(), cfg.voc_dim, cfg.voc_layers, cfg.voc_kernel, cfg.voc_mag_prior,
                           cfg.voc_spec_weight, cfg.voc_lsd_weight)
        if stage == "direct":
            return DirectTTS(cfg, self.speakers, self.use_aligner, self.log_mel())
        raise ValueError(f"unknown stage {stage!r}; expected extract, generate, regenerate or direct")

    def stage_data(self, stage: str, data: Any, extractor: Any) -> StageData:
        if self.config.source == "audio" and stage not in tts_data.AUDIO_ONLY_STAGES:
            raise tts_data.DataError(
                f"pairing.source='audio' has no transcripts: only the {' and '.join(tts_data.AUDIO_ONLY_STAGES)} stages "
                f"train on it, not {stage!r} (train the generator on a corpus or an LJSpeech folder)"
            )
        if stage in ("extract", "regenerate"):
            rows = {s: [{"audio": a} for a in self._audio(data[s])] for s in ("train", "valid")}
            hop = self.config.hop

            def collate(items: list[dict]) -> dict:
                return crop_batch(items, self.config.segment, hop)

            return StageData(rows["train"], rows["valid"] or None, collate)
        if stage == "generate":
            extractor = extractor if extractor is not None else self.build("extract")
            return StageData(self.generator_rows(data["train"], extractor), self.generator_rows(data["valid"], extractor),
                             collate_tts)
        if stage == "direct":
            return StageData(self.direct_rows(data["train"]), self.direct_rows(data["valid"]), collate_tts)
        raise ValueError(f"unknown stage {stage!r}")

    def metrics(self, prediction: Any, reference: Any, x: Any = None) -> dict[str, float]:
        return self.judge.all(prediction, reference)

    def output_seconds(self, prediction: Any) -> float:
        """Length of a predicted waveform in seconds (the evaluation's real-time factor divides by it)."""
        return float(np.asarray(prediction).reshape(-1).shape[0]) / self.config.sample_rate

    # -- rows for training -------------------------------------------------------------------------

    @staticmethod
    def _audio(ds: Any) -> list[np.ndarray]:
        col = ds.select_columns(["audio"]).with_format("numpy")
        return [np.asarray(col[i]["audio"], dtype=np.float32) for i in range(len(col))]

    def _frame_features(self, ds: Any, hop: float, name: str) -> Any:
        """Adds ``feats`` = {f0, voiced, energy} per frame at ``hop`` (cached)."""
        cfg = self.config
        sr, win = cfg.sample_rate, cfg.win

        def fn(audio: Any) -> dict:
            a = np.asarray(audio, dtype=np.float32)
            n = int(len(a) / hop) + 1
            f0, voiced = f0_yin(a, sr, hop, n)
            return {"f0": f0, "voiced": voiced.astype(np.int8), "energy": frame_energy(a, hop, n, win)}

        return extract_map(ds, fn, name="tts-frames", version="1", config={"sr": sr, "hop": hop, "win": win},
                           input_column="audio", output_column="feats", num_proc=cfg.num_proc, desc="F0 / energy")

    def _phonemes(self, ex: dict, conditioner: TextConditioner) -> np.ndarray:
        from .text import TextError

        try:
            if len(ex["phonemes"]):
                return np.asarray(conditioner.vocab.encode(list(ex["phonemes"])), dtype=np.int64)
            sentences, _ = conditioner(ex["x"])
        except TextError as err:  # name the utterance: a metadata.csv may hold thousands
            raise TextError(f"utterance {ex.get('id', '?')!r}: {err}") from None
        return np.asarray([i for s in sentences for i in s], dtype=np.int64)

    def _rows(self, ds: Any, hop: float, frame_rate: float, targets: list[np.ndarray] | None, name: str) -> list[dict]:
        """Training rows: phonemes, speaker, frames, f0 / voiced / energy, durations (timings), target."""
        conditioner = TextConditioner(self.config, self.speakers)
        ds = self._frame_features(ds, hop, name)
        cols = ds.select_columns([c for c in ("id", "x", "speaker", "phonemes", "phoneme_starts", "feats") if c in ds.column_names])
        audio = self._audio(ds) if targets is None else None
        timings = not self.use_aligner
        rows = []
        for i in range(len(cols)):
            ex = cols[i]
            n = len(targets[i]) if targets is not None else int(len(audio[i]) // hop) + 1
            f0 = _fit(np.asarray(ex["feats"]["f0"], np.float32), n)
            voiced = _fit(np.asarray(ex["feats"]["voiced"], np.float32), n)
            energy = _fit(np.asarray(ex["feats"]["energy"], np.float32), n, fill=math.log(1e-5))
            logf0 = np.where(voiced > 0, (np.log(np.maximum(f0, 1.0)) - PITCH_MEAN) / PITCH_STD, 0.0)
            row = {
                "phonemes": self._phonemes(ex, conditioner),
                "speaker": conditioner.speaker_id(ex["speaker"]),
                "frames": n,
                "f0": logf0.astype(np.float32), "voiced": voiced,
                "energy": ((energy - ENERGY_MEAN) / ENERGY_STD).astype(np.float32),
            }  # fmt: skip
            if timings:
                row["durations"] = durations_from_timings(ex["phoneme_starts"], n, frame_rate)
            if targets is not None:
                row["target"] = targets[i]
            else:
                row["audio"] = audio[i]
            rows.append(row)
        return rows

    def y_prime_column(self, ds: Any, extractor: Any) -> list[np.ndarray]:
        """Y' of every example, extracted through the core data layer's cache."""
        out = extract_map(ds, extractor.extract, name=f"tts-{type(extractor).__name__}", version=extractor.version,
                          config=extractor.cache_config(), input_column="audio", output_column="y_prime",
                          num_proc=self.config.num_proc, desc=f"extract {self.y_prime.name}")
        col = out.select_columns(["y_prime"]).with_format("numpy")
        return [np.asarray(col[i]["y_prime"]) for i in range(len(col))]

    def generator_rows(self, ds: Any, extractor: Any) -> list[dict]:
        targets = self.y_prime_column(ds, extractor)
        return self._rows(ds, extractor.hop, extractor.frame_rate, targets, type(extractor).__name__)

    def direct_rows(self, ds: Any) -> list[dict]:
        cfg = self.config
        return self._rows(ds, cfg.hop, cfg.sample_rate / cfg.hop, None, "mel")

    # -- command line and outputs --------------------------------------------------------------------

    def parse_x(self, text: str) -> dict:
        """``"speaker|text"`` or ``"text"`` (first speaker) -> the condition X."""
        speaker, sep, rest = text.partition("|")
        if sep and speaker.strip() in self.speakers:
            return {"text": rest, "speaker": speaker.strip()}
        return {"text": text, "speaker": self.speakers[0]}

    def visualise(self, folder: Any, name: str, *, x: Any, y_prime: Any, prediction: Any, reference: Any) -> list[Path]:
        """WAVs of the prediction (and reference) and a PNG of their log-mels (and the sampled Y')."""
        from .plots import mel_comparison
        from regen_speech.audio import save_wav

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        sr = self.config.sample_rate
        paths = [save_wav(folder / f"{name}.wav", _safe(prediction), sr)]
        panels = [("prediction", self.judge.logmel(_safe(prediction)))]
        if y_prime is not None and np.asarray(y_prime).ndim == 2 and np.asarray(y_prime).dtype.kind == "f":
            panels.append(("Y' sampled by the generator", np.asarray(y_prime)))
        if reference is not None:
            paths.append(save_wav(folder / f"{name}_reference.wav", _safe(reference), sr))
            panels.append(("reference", self.judge.logmel(_safe(reference))))
        text = x.get("text", "") if isinstance(x, dict) else str(x or "")
        speaker = x.get("speaker", "") if isinstance(x, dict) else ""
        paths.append(mel_comparison(folder / f"{name}.png", panels, title=f"[{speaker}] {text}"[:110], hop_s=self.config.hop / sr))
        return paths

    def serve_tab(self, models: Any) -> None:
        """Its tab of ``regen serve`` (:mod:`regen_tts.serve`; gradio is imported there)."""
        from .serve import build_tab

        build_tab(self, models)


class TTSCodecPairing(TTSPairing):
    """text (+ speaker) -> EnCodec codes -> waveform (the codec's decoder).

    The default codec is learned: ``regen train tts-codec --stage extract`` trains it on Y alone (the
    corpus audio, plus FSDD's when ``codec_fsdd`` finds it), and the later stages use it frozen.
    """

    name: ClassVar[str] = "tts-codec"
    y_prime: ClassVar[Spec] = Spec("y_prime", "tokens", "(frames, n_q) int64 EnCodec codes")

    def build(self, stage: str, extractor: Any = None) -> nn.Module:
        cfg = self.config
        if stage == "extract":
            if cfg.codec_model == LEARNED:
                return CodecExtractor.learned(cfg)
            return CodecExtractor(load_encodec(cfg.codec_model), cfg.sample_rate, cfg.codec_bandwidth)
        extractor = extractor if extractor is not None else self.build("extract")
        if stage == "generate":
            return CodecGenerator(cfg, self.speakers, self.use_aligner, extractor.n_q, extractor.codebook_size)
        if stage == "regenerate":
            return CodecDecoder(extractor)
        return super().build(stage, extractor)

    def stage_data(self, stage: str, data: Any, extractor: Any) -> StageData:
        """The extract stage trains the codec on crops of Y alone (whole code frames): the training and valid
        audio of the source, plus FSDD's train and valid takes (``codec_fsdd``); the other stages as ``tts``."""
        if stage != "extract":
            return super().stage_data(stage, data, extractor)
        cfg = self.config
        hop = int(np.prod(cfg.codec_ratios))
        if cfg.segment < 2 * hop:
            raise tts_data.DataError(f"pairing.segment={cfg.segment} is shorter than two codec frames ({2 * hop} samples)")
        audio = {s: self._audio(data[s]) for s in ("train", "valid")}
        for s, extra in self.codec_extra_audio({s: len(audio[s]) for s in audio}).items():
            audio[s] = audio[s] + extra
        rows = {s: [{"audio": a} for a in audio[s]] for s in ("train", "valid")}

        def collate(items: list[dict]) -> dict:
            return crop_batch(items, cfg.segment, hop)

        return StageData(rows["train"], rows["valid"] or None, collate)

    def codec_extra_audio(self, n_source: dict[str, int]) -> dict[str, list[np.ndarray]]:
        """FSDD's train and valid takes for the codec (its test takes stay unseen), at the pairing's rate: each
        speaker's recordings joined end to end and cut into pieces of 4 crops, so crops hold no zero padding
        (a short clip padded with digital silence makes the log-spectral losses chase an exact zero); at most
        ``codec_fsdd_share`` of each split's rows (``n_source``: the source's rows), pieces evenly spaced over
        speakers and digits. {} when ``codec_fsdd`` is "skip", the source is FSDD already, or ("auto") the
        recordings are absent."""
        cfg = self.config
        if cfg.codec_fsdd == "skip" or cfg.source == "fsdd" or cfg.codec_fsdd_share <= 0:
            return {}
        from regen_speech.fsdd import FsddNotFoundError, fsdd_dir, load_fsdd

        try:
            parts = load_fsdd(cfg.fsdd_dir or None, cfg.sample_rate)
        except FsddNotFoundError as err:
            if cfg.codec_fsdd == "required":
                raise
            tts_data.report([f"codec training audio: no FSDD ({err}); the source's audio only (codec_fsdd=auto)"])
            return {}
        piece = 4 * cfg.segment
        out = {}
        for split, n in n_source.items():
            speakers, audio = parts[split]["speaker"], self._audio(parts[split])
            pieces = []
            for spk in sorted(set(speakers)):
                stream = np.concatenate([a for a, s in zip(audio, speakers) if s == spk])  # (samples,)
                pieces += [stream[i : i + piece] for i in range(0, len(stream) - piece + 1, piece)]
            share = min(cfg.codec_fsdd_share, 0.99)
            keep = min(len(pieces), int(round(share / (1 - share) * n)))
            pick = np.linspace(0, len(pieces) - 1, keep).round().astype(int) if keep else []
            out[split] = [pieces[i] for i in pick]
        tts_data.report([f"codec training audio: + FSDD {fsdd_dir(cfg.fsdd_dir or None)} train / valid takes joined per "
                         f"speaker, {len(out['train'])} / {len(out['valid'])} pieces of {piece / cfg.sample_rate:.2f} s at "
                         f"{cfg.sample_rate} Hz (codec_fsdd={cfg.codec_fsdd}, share {cfg.codec_fsdd_share})"])
        return out


def _fit(a: np.ndarray, n: int, fill: float = 0.0) -> np.ndarray:
    """Cut or pad a per-frame array to ``n`` frames."""
    if len(a) >= n:
        return a[:n]
    return np.concatenate([a, np.full(n - len(a), fill, a.dtype)])


def _safe(wave: Any) -> np.ndarray:
    w = np.nan_to_num(np.asarray(wave, dtype=np.float32).reshape(-1))
    return w if len(w) else np.zeros(1, np.float32)


def collate_tts(items: list[dict]) -> dict:
    """Pad a list of training rows into a batch (lengths kept for phonemes and targets)."""
    out: dict[str, Any] = {}
    ph, plen = pad_sequences([r["phonemes"] for r in items], 0, torch.long)
    out["phonemes"], out["phonemes_lengths"] = ph, plen  # (B, P), (B,)
    out["speaker"] = torch.tensor([r["speaker"] for r in items], dtype=torch.long)
    out["frames"] = torch.tensor([r["frames"] for r in items], dtype=torch.long)
    for k in ("f0", "voiced", "energy"):
        out[k], _ = pad_sequences([r[k] for r in items], 0.0, torch.float32)  # (B, T)
    if "durations" in items[0]:
        out["durations"], _ = pad_sequences([r["durations"] for r in items], 0, torch.long)  # (B, P)
    if "target" in items[0]:
        t0 = np.asarray(items[0]["target"])
        if t0.dtype.kind in "iu":
            out["target"], _ = pad_sequences([r["target"] for r in items], 0, torch.long)  # (B, T, n_q)
        else:
            out["target"], _ = pad_sequences([r["target"] for r in items], LOG_FLOOR, torch.float32)  # (B, T, n_mels)
    if "audio" in items[0]:
        out["audio"], _ = pad_sequences([r["audio"] for r in items], 0.0, torch.float32)  # (B, S)
    return out
