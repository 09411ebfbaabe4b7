"""The ``talkinghead`` pairing: speech (+ reference face) -> Y' face coefficients -> video, and the direct baseline.

X  = {"audio": (S,) float32 @ sample_rate, "reference": (size, size) uint8 neutral face}
Y  = video, (T, size, size) uint8 at fps
Y' = (T, 14): identity (5, repeated per frame) + expression (4) + head pose (5), by 3D face fitting

extract     Y -> Y'   analysis-by-synthesis fitting (explicit, deterministic, batched; :mod:`.extract`)
generate    X -> Y'   speech encoder + AR(1) residual noise; identity by fitting the reference (:mod:`.generate`)
regenerate  Y' -> Y   neural renderer trained on (fitted Y', frame) pairs of video alone (:mod:`.regenerate`)
direct      X -> Y    speech encoder + reference encoder + the same frame decoder, on pixels (:mod:`.direct`)
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from regen_core.contract import Metric, Spec, StageData
from regen_core.data import DataError, cache_dir, fingerprint, pad_sequences

from . import data as th_data
from .config import TalkingHeadConfig
from .direct import DirectTalkingHead
from .extract import FaceFitter, NoFaceError, to_unit
from .face import N_ID
from .generate import CoefficientGenerator, audio_tensor
from .metrics import Judge
from .regenerate import NeuralRenderer


class FrameRows:
    """Map-style dataset of single frames: (Y' row, frame) pairs for the renderer."""

    def __init__(self, y_primes: list[np.ndarray], videos: list[np.ndarray]):
        self.y_prime = np.concatenate(y_primes).astype(np.float32)  # (N, 14)
        self.frames = np.concatenate(videos).astype(np.float32)  # (N, H, W) in [0, 1]

    def __len__(self) -> int:
        return len(self.y_prime)

    def __getitem__(self, i: int) -> dict:
        return {"y_prime": self.y_prime[i], "frame": self.frames[i]}


def collate_frames(items: list[dict]) -> dict:
    return {"y_prime": torch.from_numpy(np.stack([it["y_prime"] for it in items])),
            "frame": torch.from_numpy(np.stack([it["frame"] for it in items]))}


def collate_videos(items: list[dict]) -> dict:
    """Pad audio (B, S), and Y' (B, T, 14) or video (B, T, H, W) + reference (B, H, W)."""
    out: dict[str, Any] = {}
    out["audio"], out["audio_lengths"] = pad_sequences([it["audio"] for it in items], 0.0, torch.float32)
    out["n_frames"] = torch.tensor([it["n_frames"] for it in items], dtype=torch.long)
    if "y_prime" in items[0]:
        out["y_prime"], _ = pad_sequences([it["y_prime"] for it in items], 0.0, torch.float32)
    if "video" in items[0]:
        out["video"], _ = pad_sequences([it["video"] for it in items], 0.0, torch.float32)
        out["reference"] = torch.from_numpy(np.stack([it["reference"] for it in items]))
    return out


class TalkingHeadPairing:
    """speech + reference face -> face coefficients -> video."""

    name: ClassVar[str] = "talkinghead"
    x: ClassVar[Spec] = Spec("x", "audio+image", "{'audio': (S,) float32 @ sample_rate, 'reference': (size, size) uint8}")
    y: ClassVar[Spec] = Spec("video", "video", "(T, size, size) uint8 grey @ fps, T = round(S * fps / sample_rate)")
    y_prime: ClassVar[Spec] = Spec("y_prime", "coefficients", "(T, 14) float32: identity 5 + expression 4 + pose 5")
    headline: ClassVar[str] = "lipsync_corr"  # regen study leads with lip sync (a set metric below)
    init_keeps: ClassVar[tuple[str, ...]] = ("sample_rate", "fps", "n_fft", "n_mels")  # audio features (regen train --init)
    metrics_spec: ClassVar[tuple[Metric, ...]] = (
        Metric("psnr", True, "PSNR of the whole video against the reference (dB)"),
        Metric("ssim", True, "SSIM, Gaussian 7x7 window, mean over frames"),
        Metric("motion_error", False, "|log ratio| of mean frame-to-frame change, output vs reference"),
    )
    #: Measured by fitting the face model to the outputs, in one batch per set (means over the videos).
    set_metrics_spec: ClassVar[tuple[Metric, ...]] = (
        Metric("mouth_mse", False, "squared error in a box around the reference's fitted mouth"),
        Metric("lipsync_corr", True, "Pearson correlation of the fitted mouth opening, output vs reference"),
        Metric("lmd", False, "landmark distance of the fits, 20 landmarks with head pose (pixels)"),
        Metric("mouth_lmd", False, "landmark distance of the fits, 8 mouth landmarks, head pose removed (pixels)"),
        Metric("fit_residual", False, "mean |render - frame| of the face fit to the output (how face-like it is)"),
    )
    config_class: ClassVar[type] = TalkingHeadConfig

    def __init__(self, config: TalkingHeadConfig):
        self.config = config
        th_data.check(config)

    # -- shared pieces -----------------------------------------------------------------------------------

    def fitter(self) -> FaceFitter:
        return FaceFitter(self.config.geometry(), self.config.fit_settings())

    @cached_property
    def judge(self) -> Judge:
        """The metrics, with the same fitter on both sides (``judge_iters_extra`` extra LM iterations)."""
        import dataclasses

        settings = dataclasses.replace(self.config.fit_settings(), iters_extra=self.config.judge_iters_extra)
        return Judge(FaceFitter(self.config.geometry(), settings))

    # -- the contract --------------------------------------------------------------------------------------

    def load_data(self) -> Any:
        return th_data.load_splits(self.config)

    def build(self, stage: str, extractor: Any = None) -> nn.Module:
        cfg = self.config
        if stage == "extract":
            return self.fitter()
        extractor = extractor if extractor is not None else self.fitter()
        if stage == "generate":
            return CoefficientGenerator(cfg, extractor)
        if stage == "regenerate":
            return NeuralRenderer(cfg)
        if stage == "direct":
            if cfg.direct_real:  # the real-face pixel baseline (colour crops, trained on video_dir)
                from .realdirect import RealDirectTalkingHead

                return RealDirectTalkingHead(cfg)
            return DirectTalkingHead(cfg)
        raise ValueError(f"unknown stage {stage!r}; expected extract, generate, regenerate or direct")

    def stage_data(self, stage: str, data: Any, extractor: Any) -> StageData:
        if stage == "extract":  # the fitter is explicit: nothing to train; its input is Y alone
            return StageData(data["train"], data["valid"], lambda items: {"video": [it["video"] for it in items]})
        if stage == "regenerate":
            return StageData(self._frame_rows(data["train"], extractor), self._frame_rows(data["valid"], extractor),
                             collate_frames)
        if stage == "generate":
            train = self._generator_rows(data["train"], extractor)
            if self.config.video_dir:  # a user's talking videos with sound: real speech -> coefficient pairs
                train = train + th_data.video_rows(self.config)
            return StageData(train, self._generator_rows(data["valid"], extractor), collate_videos)
        if stage == "direct" and self.config.direct_real:  # real talking videos with sound, held-out ends as valid
            from .realdirect import clip_rows, real_clips

            clips = real_clips(self.config)
            return StageData(clip_rows(self.config, clips, "train"), clip_rows(self.config, clips, "valid"), collate_videos)
        if stage == "direct":
            return StageData(self._direct_rows(data["train"]), self._direct_rows(data["valid"]), collate_videos)
        raise ValueError(f"unknown stage {stage!r}")

    def metrics(self, prediction: Any, reference: Any, x: Any = None) -> dict[str, float]:
        """The pixel metrics of one video (the face metrics come per set, see :meth:`set_metrics`)."""
        return self.judge.frame_metrics(prediction, reference)

    def set_metrics(self, predictions: list[Any], references: list[Any], xs: list[Any]) -> dict[str, float]:
        """The face metrics, means over the videos of a set (one batched fit of every output)."""
        rows = self.judge.fit_metrics(predictions, references)
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}

    # -- Y' of a split, cached -----------------------------------------------------------------------------

    def y_prime_column(self, ds: Any, extractor: FaceFitter) -> list[np.ndarray]:
        """The fitted Y' of every video of ``ds``, batched, cached on disk through ``datasets``
        (key: the split's fingerprint, the fitter's version and settings)."""
        key = fingerprint(ds._fingerprint, "talkinghead-fit", extractor.version, extractor.cache_config())
        folder = cache_dir() / "extract" / "talkinghead-fit"
        folder.mkdir(parents=True, exist_ok=True)
        ids = list(ds["id"])

        def fit_batch(batch: dict, indices: list[int]) -> dict:
            videos = [np.asarray(v) for v in batch["video"]]
            try:
                return {"y_prime": extractor.extract_batch(videos)}
            except NoFaceError as err:
                vid = ids[indices[err.video or 0]]
                raise NoFaceError(err.frame, f"utterance {vid}: {err.problem}") from None

        out = ds.map(fit_batch, batched=True, batch_size=max(1, self.config.fit_batch), with_indices=True,
                     input_columns=None, cache_file_name=str(folder / f"{key}.arrow"), load_from_cache_file=True,
                     new_fingerprint=key, desc="fit faces (extract Y')")
        col = out.select_columns(["y_prime"]).with_format("numpy")
        return [np.asarray(col[i]["y_prime"], np.float32) for i in range(len(col))]

    def _videos(self, ds: Any) -> list[np.ndarray]:
        col = ds.select_columns(["video"])
        return [to_unit(col[i]["video"]) for i in range(len(col))]

    def _frame_rows(self, ds: Any, extractor: FaceFitter) -> FrameRows:
        return FrameRows(self.y_prime_column(ds, extractor), self._videos(ds))

    def _generator_rows(self, ds: Any, extractor: FaceFitter) -> list[dict]:
        yps = self.y_prime_column(ds, extractor)
        col = ds.select_columns(["x"])
        rows = []
        for i in range(len(col)):
            audio = audio_tensor(col[i]["x"])
            n = self.config.n_frames(len(audio))
            rows.append({"audio": audio, "n_frames": n, "y_prime": _fit_len(yps[i], n)})
        return rows

    def _direct_rows(self, ds: Any) -> list[dict]:
        col = ds.select_columns(["x", "video"])
        rows = []
        for i in range(len(col)):
            ex = col[i]
            audio = audio_tensor(ex["x"])
            n = self.config.n_frames(len(audio))
            rows.append({"audio": audio, "n_frames": n, "video": _fit_len(to_unit(ex["video"]), n),
                         "reference": to_unit(ex["x"]["reference"])})
        return rows

    # -- command line and outputs --------------------------------------------------------------------------

    def default_reference(self, seed: int = 0) -> np.ndarray:
        """A synthetic face (identity drawn with ``seed``), frontal and neutral: (size, size) uint8."""
        from .face import FaceModel

        rng = np.random.default_rng([self.config.motion_seed, 7919, seed])
        identity = np.clip(rng.normal(size=N_ID), -2, 2).astype(np.float32)
        return th_data.reference_frame(FaceModel(self.config.geometry()), identity)

    def parse_x(self, text: str) -> dict:
        """``"speech.wav"`` or ``"speech.wav|face.png"`` -> X (the audio resampled and reported)."""
        from .animate import load_condition

        wav, _, png = text.partition("|")
        return load_condition(self, wav, png or None)[0]

    def visualise(self, folder: Any, name: str, *, x: Any, y_prime: Any, prediction: Any, reference: Any) -> list[Path]:
        """MP4 of the prediction with the speech, MP4 of the reference, and a PNG strip of both."""
        from .video import strip_png, write_mp4

        folder = Path(folder)
        cfg = self.config
        audio = audio_tensor(x) if x is not None else None
        pred = np.clip(np.nan_to_num(to_unit(prediction)), 0, 1)
        paths = [write_mp4(folder / f"{name}.mp4", pred, cfg.fps, audio=audio, sample_rate=cfg.sample_rate)[0]]
        rows = [("prediction", pred)]
        if reference is not None:
            ref = to_unit(reference)
            paths.append(write_mp4(folder / f"{name}_reference.mp4", ref, cfg.fps, audio=audio, sample_rate=cfg.sample_rate)[0])
            rows.insert(0, ("reference", ref))
        paths.append(strip_png(folder / f"{name}.png", rows, fps=cfg.fps))
        return paths

    def serve_tab(self, models: Any) -> None:
        """Its tab of ``regen serve`` (:mod:`regen_talkinghead.serve`; gradio is imported there)."""
        from .serve import build_tab

        build_tab(self, models)


def _fit_len(a: np.ndarray, n: int) -> np.ndarray:
    """Cut or edge-pad along the first axis to ``n``."""
    if len(a) >= n:
        return a[:n]
    return np.concatenate([a, np.repeat(a[-1:], n - len(a), 0)])


__all__ = ["TalkingHeadPairing", "DataError"]
