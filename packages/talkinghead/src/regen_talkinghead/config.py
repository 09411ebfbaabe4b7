"""The frozen config of the ``talkinghead`` pairing (saved in every model folder)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .extract import FitSettings
from .face import FaceGeometry


@dataclass(frozen=True)
class TalkingHeadConfig:
    """Every setting of the talking-head pairing: corpus, face model, fitter, features, model sizes."""

    # -- speech corpus (regen_speech: espeak-ng audio + per-phoneme timings) -----------------------
    corpus_n: int = 200  # utterances of the synthetic corpus
    corpus_speakers: tuple[str, ...] = ("en-us+m3", "en-gb+f2", "en-gb-scotland+m1", "en-029+f4")  # voices
    corpus_seed: int = 0  # seed of the speech corpus (sentences, speaker assignment)
    corpus_min_words: int = 3  # shortest sentence (words)
    corpus_max_words: int = 8  # longest sentence (words)
    corpus_sentences: str = "wordnet"  # "wordnet", "kjv" or a text file with one sentence per line
    sample_rate: int = 16000  # Hz of the audio (the corpus is resampled to it)
    num_proc: int = 1  # processes for speech synthesis
    # -- synthetic talking faces -----------------------------------------------------------------------
    fps: int = 25  # video frames per second
    size: int = 32  # frames are size x size greyscale
    grid: int = 32  # vertices per side of the face mesh lattice
    face_tau: float = 0.05  # depth softness of the renderer's splat blending
    face_splat: float = 0.6  # splat std as a fraction of the projected vertex spacing
    face_scale: float = 0.85  # face units -> half image widths
    face_window: int = 3  # splat window half-width in pixels
    motion_seed: int = 0  # seed of identities, head motion, blinks and brows (one stream per utterance)
    head_motion: float = 1.0  # scale of the head-pose random processes (0 = a still head)
    brow_motion: float = 1.0  # scale of the brow random process
    blink_rate: float = 0.4  # blinks per second (Poisson)
    articulation: float = 1.0  # scale of the viseme mouth targets
    valid_fraction: float = 0.1  # share of utterances in the valid split
    test_fraction: float = 0.1  # share of utterances in the test split
    split_seed: int = 0  # seed of the split
    # -- the fitter (extract) ---------------------------------------------------------------------------
    fit_iters_first: int = 12  # LM iterations on frame 0 (identity + coefficients)
    fit_iters_track: int = 2  # Gauss-Newton steps per tracked frame (warm start from the previous frame)
    fit_jacobian_every: int = 2  # recompute the tracking Jacobian every N frames
    fit_iters_extra: int = 4  # LM iterations for tracked frames still above fit_converged
    fit_converged: float = 0.003  # mean |render - frame| counted as converged
    fit_refine: bool = False  # re-estimate the identity over the video, then one more step per frame
    fit_refine_frames: int = 6  # frames used for that
    fit_max_residual: float = 0.05  # mean |render - frame| above this: NoFaceError
    fit_prior: float = 1e-7  # weight of the prior towards the average face
    fit_batch: int = 64  # videos fitted together
    judge_iters_extra: int = 0  # fit_iters_extra of the fitter the metrics use on generated videos
    # (poor faces never reach fit_converged, so extra iterations there would only cost time)
    # -- real faces (animate --reference photo.jpg) ------------------------------------------------------
    landmark_backend: str = "dlib"  # "dlib" (68-point predictor, libdlib-data) or "face-alignment" (hub-cached weights)
    real_size: int = 256  # output frames of a real photo: a size x size colour crop around the face
    real_head_motion: float = 0.5  # scale of the generated head motion on a real photo (the background is fixed)
    real_jaw_gain: float = 2.2  # generated jaw opening x this on a real photo (the synthetic faces' visemes are small)
    real_lead: int = 1  # frames the generated jaw + lip spread are advanced on a real photo: the synthetic corpus's
    # jaw lags its own speech's voiced energy by 1 frame (valid split, benchmarks/NOTES.md 2026-12-07 b)
    video_dir: str = ""  # a folder of talking-face videos with sound: extra speech -> coefficient training pairs
    video_max_gap: int = 5  # frames: longer face losses in a video_dir video are an error naming the frames
    direct_real: bool = False  # the direct stage is the real-face pixel baseline, trained on video_dir (realdirect.py)
    direct_real_size: int = 64  # its colour face crops are this many pixels square
    direct_real_holdout: float = 0.2  # share of each video_dir video (its end) held out from its training
    direct_real_chunk: int = 50  # frames per training row of a video_dir video
    real_smooth: int = 5  # Savitzky-Golay window (frames) of fitted coefficient tracks of real video (0: none)
    # -- speech features -----------------------------------------------------------------------------------
    n_fft: int = 512  # STFT size of the log-mel (torch.stft)
    win: int = 400  # STFT window
    n_mels: int = 40  # mel bands; the hop is sample_rate / (4 * fps): 4 mel frames per video frame
    # -- models ------------------------------------------------------------------------------------------
    d_model: int = 64  # width of the speech encoder (generator and direct baseline)
    enc_blocks: int = 3  # dilated residual conv blocks of the speech encoder (dilations 1, 2, 4, ...)
    enc_kernel: int = 5  # their kernel size
    dropout: float = 0.1  # dropout in the speech encoder
    noise_scale: float = 1.0  # generator sampling: multiplier of the learned AR(1) noise (times temperature)
    render_channels: tuple[int, ...] = (48, 32, 16, 8)  # neural renderer / direct decoder widths, 4x4 -> size
    ref_channels: int = 16  # direct baseline: width of the reference-frame encoder
    direct_frames: int = 8  # direct baseline: frames decoded per video per training step
    edge_weight: float = 1.0  # both sides' pixel loss: L1 + edge_weight x L1 of the frame differences along x and y

    def __post_init__(self) -> None:
        stages = int(round(math.log2(self.size / 4))) if self.size >= 4 else -1  # 4x4 -> size doublings
        if 4 * 2**stages == self.size and len(self.render_channels) < stages + 1:  # a bad size: data.check says so
            raise ValueError(f"pairing.render_channels {list(self.render_channels)} needs {stages + 1} widths for "
                             f"{self.size}x{self.size} frames (4x4 -> {self.size})")
        if self.direct_real_size < 16 or self.direct_real_size % 4:
            raise ValueError(f"pairing.direct_real_size must be a multiple of 4, at least 16; got {self.direct_real_size}")

    def geometry(self) -> FaceGeometry:
        return FaceGeometry(size=self.size, grid=self.grid, tau=self.face_tau, splat=self.face_splat,
                            scale=self.face_scale, window=self.face_window)

    def fit_settings(self) -> FitSettings:
        return FitSettings(iters_first=self.fit_iters_first, iters_track=self.fit_iters_track,
                           jacobian_every=self.fit_jacobian_every, iters_extra=self.fit_iters_extra,
                           converged=self.fit_converged, refine=self.fit_refine, refine_frames=self.fit_refine_frames,
                           max_residual=self.fit_max_residual, prior=self.fit_prior, batch=self.fit_batch)

    @property
    def hop(self) -> int:
        """STFT hop in samples: 4 mel frames per video frame."""
        return self.sample_rate // (4 * self.fps)

    def n_frames(self, n_samples: int) -> int:
        """Video frames for ``n_samples`` of audio (at least 1)."""
        return max(1, int(round(n_samples * self.fps / self.sample_rate)))
