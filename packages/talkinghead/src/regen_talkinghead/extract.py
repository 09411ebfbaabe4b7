"""Extract Y -> Y' on the synthetic faces: 3D face fitting of every video frame by analysis-by-synthesis.

(Real photos and videos are extracted by :mod:`.landmarks` (detection + 68 landmarks) and
:mod:`.face3d` (the 68-point 3D face model's fit, tracking and smoothing).)

The fitter optimises the face model's coefficients so that the differentiable renderer of
:mod:`.face` reproduces each frame (least squares on the pixels), batched over videos:

1. check every frame (shape, finite values, not blank: a frame of one grey level is no face);
2. frame 0 of each video: Levenberg-Marquardt on identity + expression + pose (14 unknowns) from
   the average frontal face, up to ``iters_first`` iterations (a video stops once converged);
3. frames 1..T-1: the identity is kept, each frame is warm-started from the previous frame's
   solution and refined by ``iters_track`` damped Gauss-Newton steps on its 9 coefficients
   (never ending worse than the warm start); frames still above ``converged`` then get up to
   ``iters_extra`` Levenberg-Marquardt iterations with fresh Jacobians (fast blinks, jaw drops);
4. optionally (``refine``, off by default) the identity is re-estimated on frames spread over the
   video and every frame gets one more step;
5. every frame's mean absolute photometric residual is checked: above ``max_residual`` the frame
   holds no face the model can explain, and :class:`NoFaceError` names the frame.

Jacobians are forward differences (one batched render for all unknowns of all videos), reused
for ``jacobian_every`` frames while tracking: on a CPU that is several times cheaper than
forward-mode AD through the splatting renderer. A weak Gaussian prior towards the average face
and a plausibility box keep the steps well-posed. There are no random starts: one video always
gives the same Y' (batched with others or alone, the same up to float rounding, about 1e-3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from regen_core.errors import RegenError

from .face import N_COEFF, N_ID, FaceGeometry, FaceModel, coefficient_box

VERSION = "1"  # bump when the fitter's results change (invalidates cached Y')


class NoFaceError(RegenError, ValueError):
    """A frame of a video holds no face the face model can explain (blank, noise, something else)."""

    def __init__(self, frame: int, problem: str, video: int | None = None):
        self.frame, self.video, self.problem = frame, video, problem
        where = f"video {video}, frame {frame}" if video is not None else f"frame {frame}"
        super().__init__(f"{where}: no face found ({problem})")


class VideoShapeError(RegenError, ValueError):
    """A video is not a (T, size, size) array of finite grey levels in [0, 1]."""


@dataclass(frozen=True)
class FitSettings:
    """How hard the fitter works (part of the pairing config)."""

    iters_first: int = 12  # Levenberg-Marquardt iterations on frame 0 (identity + coefficients)
    iters_track: int = 2  # Gauss-Newton steps per later frame (warm-started)
    jacobian_every: int = 2  # while tracking, recompute the Jacobian every N frames
    refine: bool = False  # re-estimate the identity over the video, then one more step per frame
    refine_frames: int = 6  # frames used to re-estimate the identity
    iters_extra: int = 4  # LM iterations (fresh Jacobians) for tracked frames still above ``converged``
    converged: float = 0.003  # mean |render - frame| counted as converged (uint8 rounding alone gives ~0.001)
    max_residual: float = 0.05  # mean |render - frame| above this: NoFaceError
    prior: float = 1e-7  # weight of the Gaussian prior towards the average face (per unit range)
    batch: int = 64  # videos fitted together


@dataclass
class FitResult:
    y_prime: list[np.ndarray]  # per video (T, 14): identity (repeated) then per-frame coefficients
    residuals: list[np.ndarray]  # per video (T,): mean |render - frame| of the fit


def to_unit(frames: Any) -> np.ndarray:
    """Grey frames as float32 in [0, 1]: integer arrays are 8-bit levels 0..255, floats are kept."""
    a = np.asarray(frames)
    if a.dtype.kind in "iub":
        return a.astype(np.float32) / 255.0
    return a.astype(np.float32)


def check_video(video: Any, size: int, *, index: int | None = None) -> np.ndarray:
    """A (T, size, size) float32 array in [0, 1] (integer input: 8-bit levels). Raises VideoShapeError."""
    where = f"video {index}: " if index is not None else ""
    try:
        v = np.asarray(video)
    except (ValueError, TypeError) as e:
        raise VideoShapeError(f"{where}cannot read the video as an array ({e})") from None
    if v.dtype.kind not in "fiub":
        raise VideoShapeError(f"{where}frames must be numbers, got dtype {v.dtype}")
    if v.dtype.kind in "iu" and v.size and (v.min() < 0 or v.max() > 255):
        raise VideoShapeError(f"{where}integer frames must be 8-bit grey levels 0..255, got [{v.min()}, {v.max()}]")
    v = to_unit(v)
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or v.shape[1:] != (size, size):
        raise VideoShapeError(f"{where}expected frames of shape (T, {size}, {size}), got {tuple(v.shape)}")
    if v.shape[0] == 0:
        raise VideoShapeError(f"{where}the video has no frames")
    if not np.isfinite(v).all():
        bad = int(np.argmax(~np.isfinite(v).reshape(len(v), -1).all(1)))
        raise VideoShapeError(f"{where}frame {bad} holds NaN or infinite values")
    if v.min() < -1e-3 or v.max() > 1 + 1e-3:
        raise VideoShapeError(f"{where}grey levels must lie in [0, 1], got [{v.min():.3g}, {v.max():.3g}]")
    return np.clip(v, 0.0, 1.0)


class FaceFitter(nn.Module):
    """Explicit extractor (no trainable parameters): video (T, H, W) -> Y' (T, 14)."""

    stochastic = False
    version = VERSION

    def __init__(self, geometry: FaceGeometry, settings: FitSettings = FitSettings()):
        super().__init__()
        self.face = FaceModel(geometry)
        self.settings = settings
        lo, hi = coefficient_box()
        self.register_buffer("lo", lo, persistent=False)
        self.register_buffer("hi", hi, persistent=False)
        # finite-difference steps and prior scale per unknown (identity z-scores, then coefficients)
        span = torch.tensor([2.0] * N_ID + [1.0, 2.0, 1.0, 2.0, 0.6, 0.6, 0.6, 0.4, 0.4])
        self.register_buffer("span", span, persistent=False)

    def cache_config(self) -> dict:
        from dataclasses import asdict

        return {"geometry": asdict(self.face.geometry), "fit": asdict(self.settings)}

    # -- the Y' of one or many videos ------------------------------------------------------------------

    @torch.no_grad()
    def extract(self, y: Any) -> np.ndarray:
        """One video (T, size, size) -> Y' (T, 14) float32; NoFaceError names a face-less frame."""
        return self.fit([y]).y_prime[0]

    @torch.no_grad()
    def extract_batch(self, videos: Sequence[Any]) -> list[np.ndarray]:
        return self.fit(videos).y_prime

    @torch.no_grad()
    def fit(self, videos: Sequence[Any], *, check: bool = True) -> FitResult:
        """Fit every frame of every video; ``check=False`` returns residuals instead of raising
        (used to judge generated videos, which may be poor faces)."""
        size = self.face.geometry.size
        arrays = [check_video(v, size, index=i if len(videos) > 1 else None) for i, v in enumerate(videos)]
        ys, res = [None] * len(arrays), [None] * len(arrays)
        b = max(1, self.settings.batch)
        for start in range(0, len(arrays), b):
            chunk = arrays[start : start + b]
            out, r = self._fit_chunk(chunk, check, offset=start, many=len(videos) > 1)
            for j, (o, rr) in enumerate(zip(out, r)):
                ys[start + j], res[start + j] = o, rr
        return FitResult(ys, res)

    # -- the algorithm ------------------------------------------------------------------------------------

    def _render(self, theta: torch.Tensor) -> torch.Tensor:
        return self.face.render(theta[:, :N_ID], theta[:, N_ID:])  # (B, H, W)

    def _jacobian(self, theta: torch.Tensor, base: torch.Tensor, cols: slice) -> torch.Tensor:
        """Forward-difference Jacobian (B, P, k) of the render w.r.t. theta[:, cols], one batched render."""
        idx = torch.arange(theta.shape[1])[cols]
        k, bsz = len(idx), theta.shape[0]
        h = 1e-3 * self.span[idx]  # (k,)
        rep = theta.repeat(k, 1)  # (k*B, D): block j perturbs unknown idx[j]
        rows = torch.arange(k * bsz)
        rep[rows, idx.repeat_interleave(bsz)] += h.repeat_interleave(bsz)
        out = self._render(rep).view(k, bsz, -1)  # (k, B, P)
        return ((out - base.reshape(1, bsz, -1)) / h[:, None, None]).permute(1, 2, 0)  # (B, P, k)

    def _step(self, theta: torch.Tensor, r: torch.Tensor, jac: torch.Tensor, cols: slice, damping: torch.Tensor) -> torch.Tensor:
        """One damped Gauss-Newton / LM step on theta[:, cols] (prior towards 0, box clamp)."""
        w = self.settings.prior * r.shape[1] / self.span[cols] ** 2  # (k,)
        sub = theta[:, cols]
        a = jac.transpose(1, 2) @ jac  # (B, k, k)
        g = (jac.transpose(1, 2) @ r[..., None])[..., 0] + w * sub  # (B, k)
        diag = torch.diagonal(a, dim1=1, dim2=2)
        a = a + torch.diag_embed(w + damping[:, None] * diag + 1e-6)
        delta = -torch.linalg.solve(a, g)
        new = theta.clone()
        new[:, cols] = (sub + delta).clamp(self.lo[cols], self.hi[cols])
        return new

    def _cost(self, theta: torch.Tensor, r: torch.Tensor, cols: slice) -> torch.Tensor:
        w = self.settings.prior * r.shape[1] / self.span[cols] ** 2
        return (r**2).sum(1) + (w * theta[:, cols] ** 2).sum(1)

    def _fit_chunk(self, videos: list[np.ndarray], check: bool, offset: int, many: bool):
        st = self.settings
        n, lengths = len(videos), [len(v) for v in videos]
        t_max = max(lengths)
        frames = torch.zeros(n, t_max, *videos[0].shape[1:])
        for i, v in enumerate(videos):
            frames[i, : len(v)] = torch.from_numpy(v)
            frames[i, len(v) :] = torch.from_numpy(v[-1])  # padding: the last frame again
        # 1. Blank frames hold no face.
        spread = frames.flatten(2).amax(2) - frames.flatten(2).amin(2)  # (N, T)
        for i, length in enumerate(lengths):
            blank = torch.nonzero(spread[i, :length] < 0.02)
            if check and len(blank):
                raise NoFaceError(int(blank[0]), f"blank frame: grey levels span only {float(spread[i, blank[0]]):.3g}",
                                  video=offset + i if many else None)
        all_cols, coeff_cols, id_cols = slice(0, N_ID + N_COEFF), slice(N_ID, N_ID + N_COEFF), slice(0, N_ID)
        theta = torch.zeros(n, N_ID + N_COEFF)
        # 2. Frame 0: Levenberg-Marquardt on every unknown.
        target = frames[:, 0].flatten(1)
        base = self._render(theta).flatten(1)
        cost = self._cost(theta, base - target, all_cols)
        mu = torch.full((n,), 1e-2)
        for _ in range(st.iters_first):
            # only the videos whose frame 0 is not yet converged
            act = torch.nonzero((base - target).abs().mean(1) > st.converged / 2).reshape(-1)
            if not len(act):
                break
            th, img, tg, cst, m = theta[act], base[act], target[act], cost[act], mu[act]
            jac = self._jacobian(th, img, all_cols)
            cand = self._step(th, img - tg, jac, all_cols, m)
            cand_img = self._render(cand).flatten(1)
            cand_cost = self._cost(cand, cand_img - tg, all_cols)
            better = cand_cost < cst
            theta, base, cost, mu = theta.clone(), base.clone(), cost.clone(), mu.clone()
            theta[act] = torch.where(better[:, None], cand, th)
            base[act] = torch.where(better[:, None], cand_img, img)
            cost[act] = torch.where(better, cand_cost, cst)
            mu[act] = torch.where(better, m / 3, m * 4).clamp(1e-6, 1e4)
        # 3. Track frames 1..T-1 with the identity held, warm-started from the previous frame
        #    (only the videos still running at frame t; each keeps its own tracking Jacobian).
        track = torch.zeros(n, t_max, N_ID + N_COEFF)
        track[:, 0] = theta
        jac_store = torch.zeros(n, frames[0, 0].numel(), N_COEFF)
        has_jac = torch.zeros(n, dtype=torch.bool)
        lens = torch.tensor(lengths)
        for t in range(1, t_max):
            active = torch.nonzero(lens > t).reshape(-1)
            refresh = (t - 1) % max(1, st.jacobian_every) == 0
            state = {"jac": jac_store[active] if bool(has_jac[active].all()) else None}
            theta_a = self._track_frame(theta[active], frames[active, t].flatten(1), coeff_cols,
                                        torch.full((len(active),), 1e-3), state, refresh=refresh)
            jac_store[active], has_jac[active] = state["jac"], True
            theta = theta.clone()
            theta[active] = theta_a
            track[active, t] = theta_a
            track[lens <= t, t] = track[lens <= t, t - 1]
        # 4. Identity over the whole video, then one more step per frame.
        if st.refine and t_max > 1:
            track = self._refine(track, frames, lengths, id_cols, coeff_cols)
        # 5. Residuals, and the face-less check.
        real = torch.cat([torch.arange(length) + i * t_max for i, length in enumerate(lengths)])
        flat = track.reshape(n * t_max, -1)[real]
        imgs = torch.cat([self._render(flat[i : i + 512]) for i in range(0, len(flat), 512)])
        diff = (imgs.flatten(1) - frames.flatten(2).reshape(n * t_max, -1)[real]).abs().mean(1)
        resid = torch.zeros(n * t_max)
        resid[real] = diff
        resid = resid.view(n, t_max)  # (N, T)
        outs, rs = [], []
        for i, length in enumerate(lengths):
            r = resid[i, :length]
            if check and bool((r > st.max_residual).any()):
                f = int(torch.nonzero(r > st.max_residual)[0])
                raise NoFaceError(f, f"the face model cannot explain it: mean |render - frame| = {float(r[f]):.3f} "
                                     f"> fit_max_residual {st.max_residual}", video=offset + i if many else None)
            outs.append(track[i, :length].numpy().astype(np.float32))
            rs.append(r.numpy().astype(np.float32))
        return outs, rs

    def _track_frame(self, theta, target, cols, damping, state, refresh: bool):
        """Warm-started Gauss-Newton steps on one frame of every video (never worse than the warm start),
        then Levenberg-Marquardt with fresh Jacobians for the frames that are still not converged."""
        st = self.settings
        start = theta
        base = start_base = self._render(theta).flatten(1)
        start_cost = self._cost(theta, base - target, cols)
        for it in range(st.iters_track):
            if state["jac"] is None or (refresh and it == 0):
                state["jac"] = self._jacobian(theta, base, cols)
            theta = self._step(theta, base - target, state["jac"], cols, damping)
            base = self._render(theta).flatten(1)
        cost = self._cost(theta, base - target, cols)
        worse = cost > start_cost
        theta = torch.where(worse[:, None], start, theta)
        base = torch.where(worse[:, None], start_base, base)
        cost = torch.minimum(cost, start_cost)
        # frames whose residual is still above the converged level get full LM iterations
        todo = torch.nonzero((base - target).abs().mean(1) > st.converged).reshape(-1)
        if len(todo) and st.iters_extra:
            sub, img, tgt, c = theta[todo], base[todo], target[todo], cost[todo]
            mu = torch.full((len(todo),), 1e-2)
            for _ in range(st.iters_extra):
                jac = self._jacobian(sub, img, cols)
                cand = self._step(sub, img - tgt, jac, cols, mu)
                cand_img = self._render(cand).flatten(1)
                cand_cost = self._cost(cand, cand_img - tgt, cols)
                better = cand_cost < c
                sub = torch.where(better[:, None], cand, sub)
                img = torch.where(better[:, None], cand_img, img)
                c = torch.where(better, cand_cost, c)
                mu = torch.where(better, mu / 3, mu * 4).clamp(1e-6, 1e4)
            theta = theta.clone()
            theta[todo] = sub
        return theta

    def _refine(self, track, frames, lengths, id_cols, coeff_cols):
        """Re-estimate each video's identity on frames spread over it, then one step per frame."""
        st = self.settings
        n, t_max = track.shape[:2]
        k = max(1, min(st.refine_frames, min(lengths)))
        picks = torch.stack([torch.linspace(0, length - 1, k).round().long() for length in lengths])  # (N, k)
        sel = track[torch.arange(n)[:, None], picks]  # (N, k, D)
        tgt = frames[torch.arange(n)[:, None], picks].flatten(2)  # (N, k, P)
        ident = track[:, 0, id_cols].clone()
        for _ in range(2):
            th = sel.clone()
            th[..., id_cols] = ident[:, None]
            flat = th.reshape(n * k, -1)
            base = self._render(flat).flatten(1)
            jac = self._jacobian(flat, base, id_cols).view(n, k, -1, N_ID)  # (N, k, P, 5)
            r = (base.view(n, k, -1) - tgt)
            a = torch.einsum("nkpi,nkpj->nij", jac, jac)
            w = st.prior * r.shape[2] * k / self.span[id_cols] ** 2
            g = torch.einsum("nkpi,nkp->ni", jac, r) + w * ident
            a = a + torch.diag_embed(w + 1e-3 * torch.diagonal(a, dim1=1, dim2=2) + 1e-6)
            cand = (ident - torch.linalg.solve(a, g)).clamp(self.lo[id_cols], self.hi[id_cols])
            # keep the new identity only where it lowers the cost on the chosen frames
            th2 = sel.clone()
            th2[..., id_cols] = cand[:, None]
            c_old = (r**2).sum((1, 2))
            c_new = ((self._render(th2.reshape(n * k, -1)).view(n, k, -1) - tgt) ** 2).sum((1, 2))
            ident = torch.where((c_new < c_old)[:, None], cand, ident)
        track = track.clone()
        track[..., id_cols] = ident[:, None]
        real = torch.cat([torch.arange(length) + i * t_max for i, length in enumerate(lengths)])
        flat = track.reshape(n * t_max, -1)
        targets = frames.flatten(2).reshape(n * t_max, -1)
        for i in range(0, len(real), 256):
            rows = real[i : i + 256]
            flat[rows] = self._track_frame(flat[rows], targets[rows], coeff_cols, torch.full((len(rows),), 1e-3),
                                           {"jac": None}, refresh=True)
        return flat.view(n, t_max, -1)
