"""Regenerate Y' -> Y: face coefficients -> frames.

Real photos (:class:`PhotoRenderer`, explicit): the driven 68-point 3D face is projected, and the
reference photo is warped piecewise-affinely along a Delaunay triangulation of its detected landmarks
plus fixed anchor points (a ring around the face and the crop's border, so the background stays);
the mouth interior is drawn when the driven mouth opens wider than the photo's (a dark cavity with
upper and lower teeth), and every frame is a colour face crop of ``size`` x ``size``.

Synthetic faces (:class:`NeuralRenderer`):

Its training pairs are (Y' fitted from a frame by the extractor, that frame): no speech and no
true coefficients, so any face video can train it (self-supervised, the regeneration-learning
step). :class:`FrameDecoder` (a vector -> 4x4 feature map -> nearest-neighbour upsampling conv
stages with coordinate channels -> a sigmoid grey frame) is shared with the direct baseline, so
both sides draw frames with the same decoder shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .face import N_COEFF, N_ID


class FrameDecoder(nn.Module):
    """(N, in_dim) -> (N, size, size) in [0, 1]."""

    def __init__(self, in_dim: int, channels: tuple[int, ...], size: int):
        super().__init__()
        stages = int(round(np.log2(size / 4)))
        if 4 * 2**stages != size:
            raise ValueError(f"frame size {size} is not 4 * 2^k")
        if len(channels) < stages + 1:
            raise ValueError(f"render_channels {channels} needs {stages + 1} widths for {size}x{size} frames (4x4 -> {size})")
        ch = tuple(channels[: stages + 1])
        self.c0 = ch[0]
        self.fc = nn.Sequential(nn.Linear(in_dim, 128), nn.GELU(), nn.Linear(128, ch[0] * 16))
        self.blocks = nn.ModuleList()
        for cin, cout in zip(ch[:-1], ch[1:]):
            self.blocks.append(nn.ModuleList([nn.Conv2d(cin + 2, cout, 3, padding=1), nn.GroupNorm(max(1, cout // 8), cout),
                                              nn.Conv2d(cout, cout, 3, padding=1)]))
        self.out = nn.Conv2d(ch[-1], 1, 1)

    @staticmethod
    def _coords(x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        yy = torch.linspace(-1, 1, h, device=x.device).view(1, 1, h, 1).expand(n, 1, h, w)
        xx = torch.linspace(-1, 1, w, device=x.device).view(1, 1, 1, w).expand(n, 1, h, w)
        return torch.cat([x, yy, xx], 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(-1, self.c0, 4, 4)
        for conv1, norm, conv2 in self.blocks:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.gelu(conv2(F.gelu(norm(conv1(self._coords(x))))))
        return torch.sigmoid(self.out(x))[:, 0]  # (N, size, size)


def pixel_loss(pred: torch.Tensor, target: torch.Tensor, edge_weight: float) -> torch.Tensor:
    """L1 on the frames plus ``edge_weight`` x L1 on their horizontal and vertical differences
    (the small dark features, eyes, brows, mouth, carry most of the edges). Both sides use it."""
    loss = (pred - target).abs().mean()
    if edge_weight > 0:
        dx = (pred.diff(dim=-1) - target.diff(dim=-1)).abs().mean()
        dy = (pred.diff(dim=-2) - target.diff(dim=-2)).abs().mean()
        loss = loss + edge_weight * (dx + dy)
    return loss


# Y' columns are scaled to about unit range before the decoder (identity z-scores, then coefficients).
Y_PRIME_SCALE = torch.tensor([0.5] * N_ID + [1.0, 1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 8.0, 8.0])


class NeuralRenderer(nn.Module):
    """Y' (T, 14) -> frames (T, size, size); trained on (fitted Y', frame) pairs with :func:`pixel_loss`."""

    stochastic = False  # one frame per coefficient vector

    def __init__(self, cfg: Any):
        super().__init__()
        self.decoder = FrameDecoder(N_ID + N_COEFF, tuple(cfg.render_channels), cfg.size)
        self.edge_weight = cfg.edge_weight
        self.register_buffer("scale", Y_PRIME_SCALE.clone(), persistent=False)

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        pred = self.decoder(batch["y_prime"] * self.scale)  # (B, H, W)
        target = batch["frame"]
        loss = pixel_loss(pred, target, self.edge_weight)
        return loss, {"mse": float(((pred.detach() - target) ** 2).mean())}

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """Y' (T, 14) -> (T, size, size) float32 frames in [0, 1] (deterministic)."""
        was = self.training
        self.eval()
        yp = torch.as_tensor(np.asarray(condition, dtype=np.float32))
        if yp.ndim != 2 or yp.shape[1] != N_ID + N_COEFF:
            raise ValueError(f"the renderer expects Y' of shape (T, {N_ID + N_COEFF}), got {tuple(yp.shape)}")
        out = torch.cat([self.decoder(yp[i : i + 256] * self.scale) for i in range(0, len(yp), 256)])
        self.train(was)
        return out.numpy().astype(np.float32)


# -- real photos: the explicit renderer ---------------------------------------------------------------------


class PhotoFace:
    """A reference photo prepared for animation: a square colour crop around the face, its detected
    landmarks and its fitted Y' in crop pixels."""

    def __init__(self, crop: np.ndarray, points: np.ndarray, y_prime: np.ndarray, grey: bool, notes: list[str]):
        import cv2

        self.crop, self.points, self.y_prime, self.grey, self.notes = crop, points, y_prime, grey, notes
        # the skin's mean colour (cheeks and nose, inside the jaw line): the mouth interior is shaded from it
        mask = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, np.round(points[[1, 31, 35, 15, 13, 3]]).astype(np.int32), 1)
        self.skin = crop[mask > 0].reshape(-1, 3).mean(0) if mask.any() else np.array([180.0, 140, 120])


class PhotoRenderer:
    """Y' track of a real face (T, D) + a :class:`PhotoFace` -> frames (T, size, size, 3) uint8."""

    stochastic = False

    def __init__(self, size: int = 256, crop_scale: float = 2.2, ring: float = 1.35):
        self.size, self.crop_scale, self.ring = size, crop_scale, ring

    # 1. The crop and the fit of the reference.
    def prepare(self, rgb: np.ndarray, points: np.ndarray, model: Any, notes: list[str] | None = None) -> PhotoFace:
        import cv2

        from .face3d import fit_points

        pts = np.asarray(points, np.float64)
        width = float(pts[:17, 0].max() - pts[:17, 0].min())
        cx, cy = pts[:, 0].mean(), pts[:, 1].mean()
        h, w = rgb.shape[:2]
        side = min(self.crop_scale * width, float(min(h, w)))  # a tight face photo (LFW): the whole picture
        x0 = float(np.clip(cx - side / 2, 0, w - side))  # shifted to stay inside the photo
        y0 = float(np.clip(cy - side / 2, 0, h - side))
        f = self.size / side
        # crop + resize in one affine warp (edges replicated where the crop leaves the photo)
        m = np.array([[f, 0, -x0 * f], [0, f, -y0 * f]])
        crop = cv2.warpAffine(rgb, m, (self.size, self.size), flags=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        cpts = (pts - [x0, y0]) * f
        self.last_affine = m  # photo pixels -> crop pixels (the refiner's training crops frames with it)
        grey = bool(np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]))
        return PhotoFace(crop, cpts, calibrate_jaw(model, fit_points(model, cpts), cpts), grey, list(notes or []))

    def anchors(self, face: PhotoFace) -> np.ndarray:
        """Fixed points: a ring of 16 around the face and 12 on the crop's border, (28, 2)."""
        pts, s = face.points, self.size - 1
        c = pts.mean(0)
        rx = self.ring * (pts[:, 0].max() - pts[:, 0].min()) / 2
        ry = self.ring * (pts[:, 1].max() - pts[:, 1].min()) / 2 * 1.15
        a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ring = np.stack([c[0] + rx * np.cos(a), c[1] - 0.1 * ry + ry * np.sin(a)], 1)
        ring = np.clip(ring, 1, s - 1)
        t = np.linspace(0, s, 4)
        border = np.concatenate([np.stack([t, np.zeros(4)], 1), np.stack([t, np.full(4, s)], 1),
                                 np.stack([np.zeros(2), t[1:3]], 1), np.stack([np.full(2, s), t[1:3]], 1)])
        return np.concatenate([ring, border])

    # 2. The frames.
    def render(self, face: PhotoFace, y_prime: np.ndarray, model: Any) -> np.ndarray:
        from scipy.spatial import Delaunay

        from .face3d import project

        y = np.asarray(y_prime, np.float64)
        anchors = self.anchors(face)
        src = np.concatenate([face.points, anchors])  # (96, 2)
        tri = Delaunay(src).simplices  # (F, 3)
        base = project(model, face.y_prime)  # (68, 2): the fit of the photo itself
        driven = project(model, y)  # (T, 68, 2)
        ref_open = _opening(face.points)
        out = np.empty((len(y), self.size, self.size, 3), np.uint8)
        for t in range(len(y)):
            dst_face = face.points + (driven[t] - base)
            dst = np.concatenate([dst_face, anchors])
            frame = self._warp(face.crop, src, dst, tri)
            out[t] = self._mouth(frame, dst_face, ref_open, face.grey, face.skin)
        return out

    def _warp(self, img: np.ndarray, src: np.ndarray, dst: np.ndarray, tri: np.ndarray) -> np.ndarray:
        """Backward piecewise-affine warp: each destination pixel reads the source through its triangle's affine map."""
        import cv2

        n = self.size
        ids = np.full((n, n), -1, np.int32)
        for k, f in enumerate(tri):
            cv2.fillConvexPoly(ids, np.round(dst[f] * 16).astype(np.int32), k, lineType=cv2.LINE_8, shift=4)
        # affine dst -> src per triangle: [x_s, y_s] = M @ [x_d, y_d, 1]
        d = np.concatenate([dst[tri], np.ones((len(tri), 3, 1))], 2)  # (F, 3, 3)
        s = src[tri]  # (F, 3, 2)
        det = np.abs(np.linalg.det(d))
        ok = det > 1e-6
        mats = np.zeros((len(tri), 3, 2))
        mats[ok] = np.linalg.solve(d[ok], s[ok])  # (F, 3, 2)
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        mx, my = xx.copy(), yy.copy()
        inside = ids >= 0
        m = mats[ids[inside]]  # (P, 3, 2)
        px, py = xx[inside], yy[inside]
        mx[inside] = px * m[:, 0, 0] + py * m[:, 1, 0] + m[:, 2, 0]
        my[inside] = px * m[:, 0, 1] + py * m[:, 1, 1] + m[:, 2, 1]
        return cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def _mouth(self, frame: np.ndarray, pts: np.ndarray, ref_open: float, grey: bool, skin: np.ndarray) -> np.ndarray:
        """Draw the mouth interior (cavity + teeth) inside the inner lips when they open wider than the photo's."""
        import cv2

        opening = _opening(pts)
        alpha_max = float(np.clip((opening - max(ref_open, 0.02)) / 0.06, 0, 1))
        if alpha_max <= 0:
            return frame
        n = self.size
        poly = np.round(pts[60:68] * 16).astype(np.int32)
        mask = np.zeros((n, n), np.float32)
        cv2.fillPoly(mask, [poly], 1.0, lineType=cv2.LINE_AA, shift=4)
        iod = np.linalg.norm(pts[36:42].mean(0) - pts[42:48].mean(0))
        fill = np.empty((n, n, 3), np.float32)
        fill[:] = skin * np.array([0.3, 0.12, 0.12])  # the dark cavity, shaded from the skin
        # upper teeth hang under the upper inner lip; lower teeth sit on the lower inner lip
        up_y = np.interp(np.arange(n), pts[[60, 61, 62, 63, 64], 0], pts[[60, 61, 62, 63, 64], 1])
        lo_y = np.interp(np.arange(n), pts[[60, 67, 66, 65, 64], 0], pts[[60, 67, 66, 65, 64], 1])
        yy = np.arange(n, dtype=np.float32)[:, None]
        upper = np.clip((up_y[None] + 0.13 * iod - yy) / 1.5, 0, 1) * (yy >= up_y[None] - 2)
        lower = np.clip((yy - (lo_y[None] - 0.06 * iod)) / 1.5, 0, 1) * (yy <= lo_y[None] + 2)
        teeth = np.clip(upper + 0.8 * lower, 0, 1)[..., None]
        tooth = np.clip(skin.mean() * 1.2 + 15, 60, 230) * np.array([1.0, 0.95, 0.86])  # as lit as the face
        fill = fill * (1 - teeth) + tooth.astype(np.float32) * teeth
        if grey:
            fill[:] = fill.mean(2, keepdims=True)
        a = cv2.GaussianBlur(mask, (0, 0), 0.6)[..., None] * alpha_max
        return np.clip(frame * (1 - a) + fill * a, 0, 255).astype(np.uint8)


def calibrate_jaw(model: Any, y_prime: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The photo's jaw coefficient set so that the model's inner-lip gap equals the photo's measured one
    (a smile with parted lips is partly explained by other coefficients in the least-squares fit; the
    renderer moves landmarks by differences from this fit, so jaw 0 must mean lips together)."""
    from .face3d import K_ID, project

    target = _opening(points)
    y = np.array(y_prime, np.float64)
    lo, hi = 0.0, 1.3
    for _ in range(20):  # the gap grows monotonically with the jaw coefficient
        mid = (lo + hi) / 2
        y[K_ID] = mid
        if _opening(project(model, y)) < target:
            lo = mid
        else:
            hi = mid
    y[K_ID] = (lo + hi) / 2
    return y


def _opening(pts: np.ndarray) -> float:
    from .landmarks import mouth_opening

    return float(mouth_opening(np.asarray(pts)))


# -- the learned refinement of the mouth region (self-supervised on real video) -------------------------------------


class MouthRefiner(nn.Module):
    """A small conv net that corrects the warped mouth region: (B, 3, P, P) warped patch in [0, 1] ->
    refined patch (the input plus a bounded residual). Trained on a real talking video alone: the first
    frame is warped to every later frame's fitted Y' (the explicit renderer above) and the net learns
    the difference to the real frame (:func:`train_refiner`)."""

    def __init__(self, width: int = 24, patch: int = 64):
        super().__init__()
        self.patch = patch
        self.inp = nn.Conv2d(3, width, 3, padding=1)
        self.down = nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)
        self.mid = nn.ModuleList([nn.Conv2d(2 * width, 2 * width, 3, padding=d, dilation=d) for d in (1, 2, 4)])
        self.up = nn.Conv2d(2 * width + width, width, 3, padding=1)
        self.out = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = F.gelu(self.inp(x))  # (B, w, P, P)
        h = F.gelu(self.down(h0))  # (B, 2w, P/2, P/2)
        for conv in self.mid:
            h = h + F.gelu(conv(h))
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = F.gelu(self.up(torch.cat([h, h0], 1)))
        return (x + 0.5 * torch.tanh(self.out(h))).clamp(0, 1)


def mouth_box(points: np.ndarray, patch: int) -> np.ndarray:
    """The affine (2, 3) taking a square around the mouth (2.2 x its width, centred) to a patch x patch image."""
    m = points[48:68]
    c = m.mean(0)
    side = 2.2 * max(8.0, float(m[:, 0].max() - m[:, 0].min()))
    f = patch / side
    return np.array([[f, 0, patch / 2 - f * c[0]], [0, f, patch / 2 - f * c[1]]])


def refine_frames(refiner: MouthRefiner, frames: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Refine the mouth region of rendered frames (T, S, S, 3) uint8 given their driven landmarks (T, 68, 2)."""
    import cv2

    p = refiner.patch
    n = frames.shape[1]
    mats = [mouth_box(pt, p) for pt in points]
    patches = np.stack([cv2.warpAffine(f, m, (p, p), flags=cv2.INTER_AREA) for f, m in zip(frames, mats)])
    with torch.no_grad():
        x = torch.from_numpy(patches).float().permute(0, 3, 1, 2) / 255
        y = torch.cat([refiner(x[i : i + 64]) for i in range(0, len(x), 64)])
    refined = (y.permute(0, 2, 3, 1).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    ramp = np.minimum(np.arange(p), np.arange(p)[::-1]).astype(np.float32)
    feather = np.clip(np.minimum(ramp[:, None], ramp[None]) / (p / 8), 0, 1)[..., None]  # soft patch edges
    out = frames.copy()
    for t, (m, r) in enumerate(zip(mats, refined)):
        inv = cv2.invertAffineTransform(m)
        back = cv2.warpAffine(r, inv, (n, n), flags=cv2.INTER_LINEAR)
        w = cv2.warpAffine(feather, inv, (n, n), flags=cv2.INTER_LINEAR)[..., None]
        out[t] = (frames[t] * (1 - w) + back * w).round().astype(np.uint8)
    return out
