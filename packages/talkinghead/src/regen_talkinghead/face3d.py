"""A sparse 3D face model on the 68 landmarks, its fit to real landmarks (extract Y -> Y' on real faces), smoothing.

**The model** (``face68.safetensors`` beside this file, rebuilt by ``python -m regen_talkinghead.face3d --build``,
licence-clean: derived here, no Basel Face Model data):

- mean shape (68, 3), units of the inter-ocular distance (eye centre to eye centre = 1), x right, y down,
  z away from the camera: x, y are the mirror-symmetrised mean of dlib's landmarks on the first 50 faces of
  scikit-image's LFW subset (upscaled 8x) after similarity alignment, the inner lips then closed (each
  upper/lower pair moved to its midline, so jaw 0 means lips together); the depth is a hand-set anatomical
  profile (nose tip 0.5 in front of the eyes, jaw angles 0.6 behind, lips 0.1-0.3 in front, ...);
- identity bases (K_ID, 68, 3): principal components of those 50 aligned shapes' residuals after the
  pose and expression fit (x, y; no depth variation; the inner-lip gap removed, so identity never parts
  the lips), scaled so that coefficients are z-scores;
- expression bases (5, 68, 3), hand-defined displacements: ``jaw`` (0 closed .. 1 wide open: lower lip,
  chin and lower jaw line move down), ``spread`` (+1 lips spread, -1 rounded and pushed forward),
  ``blink`` (0 open .. 1 upper lids on the lower lids), ``brow`` (+1 raised), ``smile`` (corners up and out).
  The first four have the meaning and range of the synthetic corpus's expression coefficients, so the
  generator trained there drives this model unchanged.

**The fit**: weak perspective, p = s * R[:2] (mean + B_id a + B_exp e) + t, by alternating (1) the
scaled rotation from the affine least-squares fit of the current 3D shape (nearest rotation by SVD) and
(2) ridge-regularised linear least squares for a and e with the pose held (e clipped to its range).
On a video the identity is the median of the per-frame fits, then expression and pose are refitted per
frame with it held, and the tracks are smoothed (Savitzky-Golay).

Y' of a real frame, (16 + 5 + 6,): identity (K_ID = 16), expression (5), pose (yaw, pitch, roll in
radians; tx, ty in pixels; scale in pixels per inter-ocular unit).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

MODEL_FILE = Path(__file__).with_name("face68.safetensors")
EXPRESSIONS = ("jaw", "spread", "blink", "brow", "smile")
POSE = ("yaw", "pitch", "roll", "tx", "ty", "scale")
EXPR_LO = np.array([0.0, -1.2, 0.0, -1.5, -1.0])
EXPR_HI = np.array([1.3, 1.2, 1.0, 1.5, 1.5])
K_ID = 16
# mirror of the 68-point layout (the subject's right <-> left)
MIRROR = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
                  + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40] + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
                  + [64, 63, 62, 61, 60, 67, 66, 65])


@dataclass(frozen=True)
class Face68:
    """The model: mean (68, 3), identity (K, 68, 3), expression (5, 68, 3)."""

    mean: np.ndarray
    identity: np.ndarray
    expression: np.ndarray

    def shape(self, ident: np.ndarray, expr: np.ndarray) -> np.ndarray:
        """(..., K), (..., 5) -> (..., 68, 3)."""
        return (self.mean + np.tensordot(ident, self.identity, 1) + np.tensordot(expr, self.expression, 1))


@lru_cache(maxsize=1)
def load_model(path: str | None = None) -> Face68:
    from safetensors.numpy import load_file

    from regen_core.checkpoint import CheckpointError

    p = Path(path) if path else MODEL_FILE
    if not p.is_file():
        raise CheckpointError(f"{p}: the 68-point face model is missing (python -m regen_talkinghead.face3d --build)")
    t = load_file(str(p))
    return Face68(t["mean"].astype(np.float64), t["identity"].astype(np.float64), t["expression"].astype(np.float64))


# -- rotations ---------------------------------------------------------------------------------------------

def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Rx(pitch) Ry(yaw) Rz(roll), (3, 3)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("XYZ", [pitch, yaw, roll]).as_matrix()


def euler(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) of a rotation matrix (inverse of :func:`rotation`)."""
    from scipy.spatial.transform import Rotation

    pitch, yaw, roll = Rotation.from_matrix(r).as_euler("XYZ")
    return float(yaw), float(pitch), float(roll)


def project(model: Face68, y_prime: np.ndarray) -> np.ndarray:
    """Y' (..., K+5+6) -> 2D landmarks (..., 68, 2) in pixels."""
    y = np.asarray(y_prime, np.float64)
    flat = y.reshape(-1, y.shape[-1])
    k = model.identity.shape[0]
    out = np.empty((len(flat), 68, 2))
    for i, row in enumerate(flat):
        ident, expr, pose = row[:k], row[k : k + 5], row[k + 5 :]
        r = rotation(*pose[:3])
        out[i] = pose[5] * model.shape(ident, expr) @ r[:2].T + pose[3:5]
    return out.reshape(*y.shape[:-1], 68, 2)


# -- fitting --------------------------------------------------------------------------------------------------

def _pose(shape3: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Weak-perspective pose of a 3D shape (68, 3) onto points (68, 2): (R (3, 3), s, t (2,))."""
    mc, pc = shape3.mean(0), pts.mean(0)
    a, *_ = np.linalg.lstsq(shape3 - mc, pts - pc, rcond=None)  # (3, 2): pts ~ shape @ a
    u, sv, vt = np.linalg.svd(a.T, full_matrices=False)  # a.T (2, 3) = u diag(sv) vt
    r2 = u @ vt  # (2, 3), orthonormal rows
    r = np.vstack([r2, np.cross(r2[0], r2[1])])
    s = float(sv.mean())
    return r, s, pc - s * (mc @ r2.T)


def fit_points(model: Face68, pts: np.ndarray, *, ident: np.ndarray | None = None, iters: int = 8,
               id_prior: float = 0.05, expr_prior: float = 0.02) -> np.ndarray:
    """68 landmarks (68, 2) -> Y' (K+5+6,). With ``ident`` given the identity is held."""
    k = model.identity.shape[0]
    pts = np.asarray(pts, np.float64)
    a = np.zeros(k) if ident is None else np.asarray(ident, np.float64)
    e = np.zeros(5)
    free_id = ident is None
    bases = np.concatenate([model.identity, model.expression]) if free_id else model.expression  # (n, 68, 3)
    prior = np.concatenate([np.full(k, id_prior), np.full(5, expr_prior)]) if free_id else np.full(5, expr_prior)
    for _ in range(iters):
        shape3 = model.shape(a, e)
        r, s, t = _pose(shape3, pts)
        # linear in the coefficients: pts - t - s R2 mean_with_fixed = s R2 (B c)
        fixed = model.mean + (0 if free_id else np.tensordot(a, model.identity, 1))
        rhs = (pts - t - s * fixed @ r[:2].T).reshape(-1)  # (136,)
        a_mat = (s * np.einsum("nvj,ij->nvi", bases, r[:2])).reshape(len(bases), -1).T  # (136, n)
        ata = a_mat.T @ a_mat
        # ridge scaled by each basis's own weight (alone, a coefficient shrinks by 1 / (1 + prior))
        c = np.linalg.solve(ata + np.diag(prior * np.diag(ata) + 1e-9), a_mat.T @ rhs)
        if free_id:
            a, e = c[:k], c[k:]
        else:
            e = c
        e = np.clip(e, EXPR_LO, EXPR_HI)
    r, s, t = _pose(model.shape(a, e), pts)
    return np.concatenate([a, e, euler(r), t, [s]])


def fit_track(model: Face68, pts: np.ndarray, *, smooth: int = 5, ident: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (T, 68, 2) of one face -> (raw Y' (T, D), smoothed Y' (T, D)): the identity is the median
    of the per-frame fits (or ``ident``, e.g. from :func:`personal_model`); expression and pose are refitted per frame with it held, then the tracks are
    smoothed with a Savitzky-Golay filter (window ``smooth`` frames, order 2; 0 or 1: none)."""
    from scipy.signal import savgol_filter

    k = model.identity.shape[0]
    if ident is None:
        ident = np.median(np.stack([fit_points(model, p) for p in pts])[:, :k], 0)
    raw = np.stack([fit_points(model, p, ident=ident) for p in pts])
    out = raw.copy()
    if smooth > 1 and len(raw) >= smooth:
        w = smooth if smooth % 2 else smooth + 1
        out[:, k:] = savgol_filter(raw[:, k:], w, 2, axis=0, mode="interp")
        out[:, k : k + 5] = np.clip(out[:, k : k + 5], EXPR_LO, EXPR_HI)
    return raw, out


def personal_model(model: Face68, pts: np.ndarray, *, rounds: int = 8, depth_prior: float = 0.1) -> tuple[Face68, np.ndarray]:
    """The face model of one person from a video's landmarks (T, 68, 2): (model with that person's shape as its
    mean and a zero identity, identity coefficients (K,)). The model's depth is hand-set and the identity basis is
    derived from near-frontal 2D faces, so a turning head is fitted badly with any identity: here the identity
    coefficients and a depth offset per landmark (68; ridge ``depth_prior`` relative to the data's own weight)
    are solved jointly over every frame, alternating with the per-frame expression + pose fits (``rounds``).
    Depth is observable only when the head turns; on a still face the offsets stay near 0."""
    k = model.identity.shape[0]
    pts = np.asarray(pts, np.float64)
    depth = np.zeros((68, 68, 3))
    depth[np.arange(68), np.arange(68), 2] = 1.0  # basis: one landmark moved toward the camera
    bases = np.concatenate([model.identity, depth])  # (K + 68, 68, 3)
    n = len(bases)
    c = np.concatenate([np.median(np.stack([fit_points(model, p) for p in pts])[:, :k], 0), np.zeros(68)])
    prior = np.concatenate([np.full(k, 0.05), np.full(68, depth_prior)])
    for _ in range(rounds):
        ys = np.stack([fit_points(_shifted(model, c[k:]), p, ident=c[:k]) for p in pts])
        ata, atb = np.zeros((n, n)), np.zeros(n)
        for y, p in zip(ys, pts):
            e, pose = y[k : k + 5], y[k + 5 :]
            r2, s = rotation(*pose[:3])[:2], pose[5]
            rhs = (p - pose[3:5] - s * (model.mean + np.tensordot(e, model.expression, 1)) @ r2.T).reshape(-1)
            a = (s * np.einsum("nvj,ij->nvi", bases, r2)).reshape(n, -1).T  # (136, n)
            ata += a.T @ a
            atb += a.T @ rhs
        d = np.diag(ata)
        c = np.linalg.solve(ata + np.diag(prior * np.maximum(d, d[:k].mean()) + 1e-9), atb)
    return _shifted(model, c[k:]), c[:k]


def _shifted(model: Face68, depth: np.ndarray) -> Face68:
    mean = model.mean.copy()
    mean[:, 2] += depth
    return Face68(mean, model.identity, model.expression)


def fit_error(model: Face68, y_prime: np.ndarray, pts: np.ndarray) -> dict[str, float]:
    """Landmark error of a fit: mean over points, mean over frames; in px and as a share of the inter-ocular
    distance, over all 68 points and over the 51 inner ones (the jaw line is a silhouette, not fixed points)."""
    from .landmarks import interocular

    d = np.linalg.norm(project(model, y_prime) - pts, axis=-1)  # (T, 68) or (68,)
    err, inner = d.mean(-1), d[..., 17:].mean(-1)
    iod = interocular(np.asarray(pts))
    return {"px": float(np.mean(err)), "iod": float(np.mean(err / iod)), "iod_max": float(np.max(err / iod)),
            "inner51_px": float(np.mean(inner)), "inner51_iod": float(np.mean(inner / iod))}


def jitter(points: np.ndarray) -> float:
    """Landmark jitter of a track (T, 68, 2): mean |second difference| (px/frame^2) over points and frames,
    over the mean inter-ocular distance (a smooth motion scores ~0, frame-to-frame noise does not)."""
    from .landmarks import interocular

    acc = np.linalg.norm(np.diff(points, 2, axis=0), axis=-1).mean()
    return float(acc / interocular(points).mean())


# -- the model's derivation -------------------------------------------------------------------------------------

def _depth() -> np.ndarray:
    """Hand-set depth toward the camera (68,), inter-ocular units (eyes at 0)."""
    d = np.zeros(68)
    a = np.abs(np.arange(17) - 8) / 8.0
    d[0:17] = 0.2 - 0.8 * a**1.5  # chin 0.2 in front, jaw angles / ears 0.6 behind
    d[17:27] = [-0.15, -0.02, 0.06, 0.1, 0.12, 0.12, 0.1, 0.06, -0.02, -0.15]
    d[27:31] = [0.08, 0.2, 0.33, 0.5]  # nose bridge to tip
    d[31:36] = [0.22, 0.28, 0.32, 0.28, 0.22]
    d[36:48] = [-0.1, 0.0, 0.0, -0.02, 0.0, 0.0, -0.02, 0.0, 0.0, -0.1, 0.0, 0.0]
    d[48:60] = [0.05, 0.18, 0.26, 0.28, 0.26, 0.18, 0.05, 0.16, 0.22, 0.24, 0.22, 0.16]
    d[60:68] = [0.06, 0.2, 0.22, 0.2, 0.06, 0.18, 0.2, 0.18]
    return d


def _expression_bases(mean: np.ndarray) -> np.ndarray:
    """Hand-defined (5, 68, 3) displacements, inter-ocular units, from the mean shape."""
    b = np.zeros((5, 68, 3))
    # jaw: lower lip and chin down (rotation about the ear axis approximated by a downward shift
    # weighted by closeness to the chin), lower lip and chin slightly back
    jaw = b[0]
    w = np.clip(1 - np.abs(np.arange(17) - 8) / 6.0, 0, 1)
    jaw[0:17, 1] = 0.22 * w
    jaw[[55, 56, 57, 58, 59], 1] = [0.22, 0.26, 0.28, 0.26, 0.22]
    jaw[[65, 66, 67], 1] = [0.27, 0.3, 0.27]
    jaw[[48, 54, 60, 64], 1] = [0.1, 0.1, 0.11, 0.11]
    jaw[[49, 50, 51, 52, 53], 1] = [0.02, 0.0, -0.01, 0.0, 0.02]
    jaw[[61, 62, 63], 1] = [0.0, -0.01, 0.0]
    jaw[[48, 54], 0] = [0.04, -0.04]  # corners come in a little
    jaw[[60, 64], 0] = [0.04, -0.04]
    jaw[0:17, 2] += 0.06 * w
    jaw[55:60, 2] += 0.1
    # spread (+) / rounding (-): corners out, lips flatter; rounding pushes the lips forward
    sp = b[1]
    cx = mean[48:68, 0].mean()
    mouth = np.arange(48, 68)
    sp[mouth, 0] = 0.32 * (mean[mouth, 0] - cx)
    sp[mouth, 2] = 0.08  # + spread draws the lips back (z away from the camera), rounding brings them forward
    sp[[50, 51, 52], 1] = [0.01, 0.015, 0.01]
    sp[[56, 57, 58], 1] = [-0.01, -0.015, -0.01]
    # blink: upper lids onto the lower lids
    bl = b[2]
    for up, low in ((37, 41), (38, 40), (43, 47), (44, 46)):
        gap = mean[low] - mean[up]
        bl[up, :2] = 0.9 * gap
        bl[low, :2] = -0.1 * gap
    # brows up
    b[3][17:27, 1] = -0.12
    # smile: corners up and out
    sm = b[4]
    sm[[48, 60], 0], sm[[54, 64], 0] = -0.06, 0.06
    sm[[48, 54, 60, 64], 1] = -0.08
    sm[[49, 53, 59, 55], 1] = -0.03
    return b


def _similarity_align(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """src (68, 2) aligned onto dst by a similarity transform."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sv, vt = np.linalg.svd(a.T @ b)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    s = sv.sum() / (a**2).sum()
    return s * a @ r + md


def lfw_landmarks(indices: Sequence[int], detector=None) -> tuple[np.ndarray, list[int]]:
    """dlib's landmarks on scikit-image's LFW faces (25x25 grey, upscaled 8x): (N, 68, 2) at the 200 px scale,
    and the indices where a face was found."""
    import cv2
    from skimage import data

    from .landmarks import FaceNotFoundError, LandmarkDetector

    det = detector or LandmarkDetector(verbose=False)
    faces = data.lfw_subset()[:100]
    pts, used = [], []
    for i in indices:
        im = cv2.resize((faces[i] * 255).astype(np.uint8), (200, 200), interpolation=cv2.INTER_CUBIC)
        try:
            pts.append(det.detect(np.repeat(im[..., None], 3, 2)).points)
            used.append(int(i))
        except FaceNotFoundError:
            pass
    return np.array(pts), used


def build(path: Path = MODEL_FILE) -> dict:
    """Derive the model from LFW faces 0-49 (see the module doc) and save it as safetensors."""
    from safetensors.numpy import save_file

    pts, used = lfw_landmarks(range(50))
    # 1. Generalised Procrustes: mean 2D shape, mirror-symmetrised, inter-ocular distance 1.
    ref = pts[0]
    for _ in range(5):
        aligned = np.stack([_similarity_align(p, ref) for p in pts])
        mean2 = aligned.mean(0)
        mirrored = mean2[MIRROR].copy()
        mirrored[:, 0] = 2 * mean2[:, 0].mean() - mirrored[:, 0]
        mean2 = (mean2 + mirrored) / 2
        iod = np.linalg.norm(mean2[36:42].mean(0) - mean2[42:48].mean(0))
        ref = (mean2 - mean2[36:48].mean(0)) / iod
    # the lips closed at rest (the LFW mean has them parted): inner-lip pairs meet at their midline
    for up, low in ((61, 67), (62, 66), (63, 65)):
        ref[up, 1] = ref[low, 1] = (ref[up, 1] + ref[low, 1]) / 2
    mean = np.concatenate([ref, -_depth()[:, None]], 1)  # z away from the camera
    expression = _expression_bases(ref)
    # 2. Identity: PCA of the residuals after a pose + expression fit with the mean shape.
    empty = Face68(mean, np.zeros((0, 68, 3)), expression)
    res = []
    for p in pts:
        y = fit_points(empty, p)
        r = rotation(*y[5:8])
        resid2 = (p - (y[10] * empty.shape(np.zeros(0), y[:5]) @ r[:2].T + y[8:10])) / y[10]
        res.append(resid2 @ r[:2, :2])  # approximately back into the model's x, y (roll undone)
    res = np.array(res)  # (N, 68, 2)
    for up, low in ((61, 67), (62, 66), (63, 65)):  # identity never parts the lips (that is the jaw's job)
        res[:, up, 1] = res[:, low, 1] = (res[:, up, 1] + res[:, low, 1]) / 2
    res = res.reshape(len(res), -1)
    res -= res.mean(0)
    _, sv, vt = np.linalg.svd(res, full_matrices=False)
    std = sv[:K_ID] / np.sqrt(len(res) - 1)
    identity = np.zeros((K_ID, 68, 3))
    identity[..., :2] = (vt[:K_ID] * std[:, None]).reshape(K_ID, 68, 2)
    save_file({"mean": mean.astype(np.float32), "identity": identity.astype(np.float32),
               "expression": expression.astype(np.float32)}, str(path),
              metadata={"made_by": "python -m regen_talkinghead.face3d --build",
                        "source": f"dlib 68-point landmarks on scikit-image lfw_subset faces {used[0]}-{used[-1]} "
                                  f"({len(used)} detected); hand-set depth and expression bases"})
    load_model.cache_clear()
    return {"faces": len(used), "identity_std": std.round(4).tolist()}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_talkinghead.face3d", description="(re)build the 68-point 3D face model")
    p.add_argument("--build", action="store_true", help=f"derive the model and write {MODEL_FILE.name}")
    args = p.parse_args(argv)
    if args.build:
        info = build()
        print(f"{MODEL_FILE}: from {info['faces']} LFW faces; identity component stds {info['identity_std']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
