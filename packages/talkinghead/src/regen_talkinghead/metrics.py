"""Metrics of a generated talking-face video against the reference video of the same utterance.

Pixel metrics (what a regression to the mean is good at):
- ``psnr`` (dB) over the whole video, ``ssim`` (Gaussian 7x7 window, sigma 1.5, mean over frames);
- ``mouth_mse``: squared error in a box around the mouth, placed per frame at the reference's
  fitted mouth landmarks (so it follows the reference head).

Face metrics, measured by **fitting the face model to the output** (the extractor, with the
face-less check off) exactly as it is fitted to the reference; the pairing computes them for a
whole set of outputs at once (``set_metrics``: one batched fit), as means over the videos:
- ``lipsync_corr``: Pearson correlation of the fitted mouth opening (``jaw``) of output and
  reference over the frames (0 when either moves less than std 0.01: a still mouth, fitting noise only);
- ``lmd``: landmark distance, mean over frames and 20 landmarks of the projected landmark
  distance (pixels) between the output's and the reference's fits (head pose included);
- ``mouth_lmd``: the same over the 8 mouth landmarks with the head pose removed (frontal,
  centred): lip shape alone, the part speech determines;
- ``fit_residual``: the fit's mean |render - frame| on the output (how well a face explains it;
  the reference's own is about 0.001, the 8-bit rounding);
- ``motion_error``: |log(mean |frame difference| of output / of reference)|, 0 when the output
  moves as much as the reference (a still or blurred face scores high).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .extract import FaceFitter, check_video, to_unit
from .face import MOUTH_OPENING, N_ID


def psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((pred - ref) ** 2))
    return float(10 * np.log10(1.0 / max(mse, 1e-10)))


def _gauss_window(size: int = 7, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean SSIM over frames of (T, H, W) arrays in [0, 1] (Wang et al. 2004; Gaussian window, valid region)."""
    from scipy.ndimage import correlate1d

    g = _gauss_window()
    c1, c2 = 0.01**2, 0.03**2

    def blur(a: np.ndarray) -> np.ndarray:
        a = correlate1d(a, g, axis=1, mode="constant")
        a = correlate1d(a, g, axis=2, mode="constant")
        return a[:, 3:-3, 3:-3]

    x, y = pred.astype(np.float64), ref.astype(np.float64)
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(s.mean())


STILL = 0.01  # a mouth-opening track with a smaller std is still (only fitting noise): correlation 0


def pearson(a: np.ndarray, b: np.ndarray, still: float = 1e-9) -> float:
    """Pearson correlation; 0 when either series has std <= ``still``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() <= still or b.std() <= still:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


class Judge:
    """Computes every metric; caches the fits of the references and of repeated outputs."""

    def __init__(self, fitter: FaceFitter):
        self.fitter = fitter
        self.size = fitter.face.geometry.size
        self._ref_fits: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self._pred_fits: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    @torch.no_grad()
    def landmarks(self, y_prime: np.ndarray, pose: bool) -> np.ndarray:
        yp = torch.from_numpy(np.asarray(y_prime, np.float32))
        return self.fitter.face.landmarks(yp[:, :N_ID], yp[:, N_ID:], pose=pose).numpy()  # (T, L, 2)

    def mouth_box_error(self, pred: np.ndarray, ref: np.ndarray, ref_fit: np.ndarray) -> float:
        lm = self.landmarks(ref_fit, pose=True)[:, list(self.fitter.face.mouth_landmarks)]  # (T, 8, 2)
        centre = lm.mean(1)  # (T, 2) pixels (x, y)
        hw, hh = 0.22 * self.size, 0.14 * self.size
        ys, xs = np.mgrid[0 : self.size, 0 : self.size] + 0.5
        errs = []
        for t in range(len(pred)):
            box = (np.abs(xs - centre[t, 0]) <= hw) & (np.abs(ys - centre[t, 1]) <= hh)
            if box.any():
                errs.append(float(np.mean((pred[t][box] - ref[t][box]) ** 2)))
        return float(np.mean(errs)) if errs else float(np.mean((pred - ref) ** 2))

    def _pair(self, prediction: Any, reference: Any) -> tuple[np.ndarray, np.ndarray]:
        ref = check_video(reference, self.size)
        pred = np.clip(np.nan_to_num(to_unit(prediction)), 0.0, 1.0)
        if pred.ndim != 3 or pred.shape[1:] != ref.shape[1:]:
            raise ValueError(f"prediction shape {pred.shape} does not match the reference {ref.shape}")
        if abs(len(pred) - len(ref)) > 1:
            raise ValueError(f"prediction has {len(pred)} frames, the reference {len(ref)}: more than one frame apart")
        n = min(len(pred), len(ref))
        return pred[:n], ref[:n]

    def frame_metrics(self, prediction: Any, reference: Any) -> dict[str, float]:
        """The pixel metrics of one video: psnr, ssim, motion_error."""
        pred, ref = self._pair(prediction, reference)
        n = len(pred)
        motion_p = float(np.abs(np.diff(pred, axis=0)).mean()) if n > 1 else 0.0
        motion_r = float(np.abs(np.diff(ref, axis=0)).mean()) if n > 1 else 0.0
        return {"psnr": psnr(pred, ref), "ssim": ssim(pred, ref),
                "motion_error": float(abs(np.log((motion_p + 1e-4) / (motion_r + 1e-4))))}

    def fit_metrics(self, predictions: list[Any], references: list[Any]) -> list[dict[str, float]]:
        """The face metrics of many videos, fitted in one batch: mouth_mse, lipsync_corr, lmd, mouth_lmd, fit_residual."""
        pairs = [self._pair(p, r) for p, r in zip(predictions, references)]
        self._fit_missing([r for _, r in pairs], self._ref_fits)
        if len(self._pred_fits) > 256:  # outputs repeat only within an evaluation (a deterministic side's seeds)
            self._pred_fits.clear()
        self._fit_missing([p for p, _ in pairs], self._pred_fits)
        mouth = list(self.fitter.face.mouth_landmarks)
        out = []
        for pred, ref in pairs:
            ref_fit, _ = self._ref_fits[self._key(ref)]
            pred_fit, pred_res = self._pred_fits[self._key(pred)]
            lm_p, lm_r = self.landmarks(pred_fit, True), self.landmarks(ref_fit, True)
            mp, mr = self.landmarks(pred_fit, False)[:, mouth], self.landmarks(ref_fit, False)[:, mouth]
            out.append({
                "mouth_mse": self.mouth_box_error(pred, ref, ref_fit),
                "lipsync_corr": pearson(pred_fit[:, N_ID + MOUTH_OPENING], ref_fit[:, N_ID + MOUTH_OPENING], STILL),
                "lmd": float(np.linalg.norm(lm_p - lm_r, axis=-1).mean()),
                "mouth_lmd": float(np.linalg.norm(mp - mr, axis=-1).mean()),
                "fit_residual": float(pred_res.mean()),
            })  # fmt: skip
        return out

    def _fit_missing(self, videos: list[np.ndarray], cache: dict) -> None:
        """Fit (one batch) the videos not yet in ``cache``; the fitter is deterministic, so a video
        seen before (a reference, or a deterministic model's output for another seed) is not refitted."""
        todo, seen = [], set()
        for v in videos:
            k = self._key(v)
            if k not in cache and k not in seen:
                todo.append(v)
                seen.add(k)
        if todo:
            res = self.fitter.fit(todo, check=False)
            for v, yp, rr in zip(todo, res.y_prime, res.residuals):
                cache[self._key(v)] = (yp, rr)

    @staticmethod
    def _key(video: np.ndarray) -> bytes:
        import hashlib

        v = np.ascontiguousarray(video)
        return hashlib.sha256(v.tobytes() + str((v.shape, v.dtype)).encode()).digest()

    def __call__(self, prediction: Any, reference: Any) -> dict[str, float]:
        """Every metric of one video."""
        return {**self.frame_metrics(prediction, reference), **self.fit_metrics([prediction], [reference])[0]}


# -- real faces: identity, lip sync on real speech, stability ---------------------------------------------------
# Measured on the rendered frames themselves (landmarks re-detected, faces re-embedded), never on the
# coefficients that drove them.

IDENTITY_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SAME_PERSON = 0.6  # dlib's face-recogniser threshold: descriptors closer than this are the same person


class FaceEmbedder:
    """dlib's 128-d face recogniser (ResNet; its model file from PyPI's face_recognition_models,
    ``pip install 'regen-talkinghead[identity]'``): picture (H, W, 3) uint8 -> (128,) descriptor."""

    def __init__(self, detector: Any):
        import dlib

        from .landmarks import find_dlib_model

        self.detector = detector
        self.net = dlib.face_recognition_model_v1(str(find_dlib_model(IDENTITY_FILE)))

    def __call__(self, rgb: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
        import dlib

        rgb = np.ascontiguousarray(rgb)
        if points is None:
            points = self.detector.detect(rgb).points
        x0, y0 = points.min(0)
        x1, y1 = points.max(0)
        rect = dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        parts = [dlib.point(int(round(px)), int(round(py))) for px, py in points]
        shape = dlib.full_object_detection(rect, parts)
        return np.asarray(self.net.compute_face_descriptor(rgb, shape), np.float64)


def identity_distance(embedder: FaceEmbedder, reference: np.ndarray, frames: np.ndarray,
                      points: np.ndarray | None = None) -> np.ndarray:
    """Descriptor distance (T,) between the reference picture and every output frame."""
    ref = embedder(reference)
    return np.array([np.linalg.norm(embedder(f, None if points is None else points[i]) - ref) for i, f in enumerate(frames)])


def voiced_envelope(audio: np.ndarray, sample_rate: int, fps: int, n_frames: int) -> np.ndarray:
    """Voiced-energy envelope at the video rate (n_frames,): RMS amplitude of the 80-1000 Hz band (where
    voiced speech's harmonics lie; fricatives and silence carry little there) in 80 ms windows centred
    on each video frame."""
    a = np.asarray(audio, np.float64).reshape(-1)
    hop = sample_rate / fps
    win = int(0.08 * sample_rate)
    n_fft = 1 << int(np.ceil(np.log2(win)))
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    band = (freqs >= 80) & (freqs <= 1000)
    padded = np.pad(a, (win, win + n_fft))
    window = np.hanning(win)
    out = np.zeros(n_frames)
    for t in range(n_frames):
        c = int(round((t + 0.5) * hop)) + win
        seg = padded[c - win // 2 : c - win // 2 + win] * window
        spec = np.abs(np.fft.rfft(seg, n_fft)) ** 2
        out[t] = np.sqrt(spec[band].sum() / win)
    return out


def lipsync_real(points: np.ndarray, audio: np.ndarray, sample_rate: int, fps: int, *,
                 silent_db: float = -30.0, closed: float = 0.08) -> dict[str, float]:
    """Lip sync of an output video from its re-detected landmarks (T, 68, 2) and the speech:
    ``corr`` = Pearson correlation of the mouth opening (inner-lip gap / inter-ocular distance) and the
    voiced-energy envelope; ``silent_closed`` = share of silent frames (envelope ``silent_db`` below its
    peak) whose mouth opening is below ``closed``."""
    from .landmarks import mouth_opening

    opening = mouth_opening(points)
    env = voiced_envelope(audio, sample_rate, fps, len(points))
    silent = 20 * np.log10(np.maximum(env, 1e-12) / max(env.max(), 1e-12)) < silent_db
    return {"corr": pearson(opening, env), "silent_frames": int(silent.sum()),
            "silent_closed": float((opening[silent] < closed).mean()) if silent.any() else float("nan"),
            "opening_mean": float(opening.mean()), "opening_max": float(opening.max())}
