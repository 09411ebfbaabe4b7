"""A small parametric 3D face model and its differentiable renderer (written here, no external model).

The mesh is a regular ``grid x grid`` vertex lattice over the front of a head ellipsoid,
parametrised by ``(s, t)`` in about [-1, 1]^2 (s to the right, t up). Each vertex moves with
blendshape-like displacement fields of three groups of coefficients:

- identity (per video, :data:`IDENTITY_NAMES`): head width, lower-face length, nose height, cheek
  fullness, skin albedo; z-scores (0 = the average face, about +-2 the range);
- expression (per frame): ``jaw`` (0 closed .. 1 open: the lower face and lower lip drop and a
  recessed dark mouth cavity, folded flat under the lips at rest, unfolds between them),
  ``spread`` (+1 spread lips .. -1 rounded and protruded), ``blink`` (0 open .. 1 closed: the upper
  lid rows slide down in front of the recessed dark eye), ``brow`` (-1 lowered .. +1 raised);
- head pose (per frame): ``yaw``, ``pitch``, ``roll`` (radians) and ``tx``, ``ty`` (image-plane
  translation, in half image widths).

Rendering (:meth:`FaceModel.render`) is weak-perspective projection, Lambert shading (ambient +
one directional light, normals of the identity mesh rotated by the pose) and **soft splatting**:
every vertex is an axis-aligned Gaussian splat, sized by the local projected grid spacing, whose
weight is its opacity times ``exp(depth / tau)``; a pixel's value is the weighted mean of the
splats' shaded albedo and a background term, so nearer surfaces win smoothly (a soft z-buffer in
the spirit of soft rasterisers). Gaussians are separable, so each frame is two small matrix
products: cheap on a CPU, and differentiable in every coefficient (also with forward-mode AD,
which the fitter of :mod:`.extract` uses for its Jacobians).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

IDENTITY_NAMES: tuple[str, ...] = ("width", "length", "nose", "cheeks", "skin")
EXPRESSION_NAMES: tuple[str, ...] = ("jaw", "spread", "blink", "brow")
POSE_NAMES: tuple[str, ...] = ("yaw", "pitch", "roll", "tx", "ty")
COEFF_NAMES: tuple[str, ...] = EXPRESSION_NAMES + POSE_NAMES  # per-frame coefficients
Y_PRIME_NAMES: tuple[str, ...] = IDENTITY_NAMES + COEFF_NAMES  # columns of Y' (identity repeated per frame)
N_ID, N_COEFF = len(IDENTITY_NAMES), len(COEFF_NAMES)
MOUTH_OPENING = EXPRESSION_NAMES.index("jaw")  # the per-frame coefficient used as mouth opening

# Feature layout in (s, t) units of the rest face.
T_MOUTH = -0.45  # mouth line
MOUTH_HALF_WIDTH = 0.30
EYE_S, EYE_T, EYE_RX, EYE_RY = 0.34, 0.24, 0.16, 0.10
BROW_T = EYE_T + 0.27
NOSE_T = -0.06
BACKGROUND = 0.12  # grey level behind the head


@dataclass(frozen=True)
class FaceGeometry:
    """Sizes of the mesh and of the frames (part of the pairing config)."""

    size: int = 32  # frames are size x size greyscale in [0, 1]
    grid: int = 32  # vertices per side of the mesh lattice
    tau: float = 0.05  # depth softness of the splat blending (face units)
    splat: float = 0.6  # splat std as a fraction of the local projected grid spacing
    scale: float = 0.85  # face units -> half image widths
    window: int = 3  # splats are evaluated within +-window pixels (their std is capped at window / 2.5)


def _smooth_box(x: torch.Tensor, half: float, edge: float) -> torch.Tensor:
    """~1 for |x| < half, ~0 beyond, with a sigmoid edge of width ``edge``."""
    return torch.sigmoid((half - x.abs()) / edge)


def rotation(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B,) angles -> (B, 3, 3) rotation Rz(roll) @ Ry(yaw) @ Rx(pitch)."""
    cy, sy, cp, sp, cr, sr = yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin()
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(-1, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ ry @ rx


def rotate(pts: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) points times (B, 3, 3) rotations, written out (a batched 3x3 matmul is slow on CPUs)."""
    x, y, z = pts.unbind(-1)
    r = rot[:, None]  # (B, 1, 3, 3)
    return torch.stack([r[..., i, 0] * x + r[..., i, 1] * y + r[..., i, 2] * z for i in range(3)], -1)


class FaceModel(nn.Module):
    """The parametric face: ``render(identity, coeffs) -> frames`` and ``landmarks(...)``.

    No trainable parameters; the rest lattice, region masks and albedo pattern are buffers.
    """

    def __init__(self, geometry: FaceGeometry = FaceGeometry()):
        super().__init__()
        g = self.geometry = geometry
        if g.size < 8 or g.grid < 8:
            raise ValueError(f"face geometry too small: size={g.size}, grid={g.grid} (need >= 8 each)")
        n = g.grid
        # 1. Rest lattice: t spans [-1 - c, 1 + c] so that closing the cavity band (2c) leaves [-1, 1].
        dt = 2.0 / (n - 1)
        c = 1.5 * dt  # half-height of the cavity band (3 rows) folded flat under the lips at rest
        s = torch.linspace(-1.0, 1.0, n)
        t = torch.linspace(-1.0 - c, 1.0 + c, n)
        tt, ss = torch.meshgrid(t, s, indexing="ij")  # (n, n): row = t, column = s
        u = tt - T_MOUTH
        up, low = (u > c).float(), (u < -c).float()
        cav = 1.0 - up - low
        t_rest = up * (tt - c) + low * (tt + c) + cav * T_MOUTH  # vertical rest coordinate
        r2 = ss**2 + t_rest**2
        self.c = c
        # 2. Static masks of the features.
        mouth = torch.exp(-((ss / MOUTH_HALF_WIDTH) ** 4))  # (n, n) mouth window along s
        lip_up = up * mouth * _smooth_box(u - c - 0.05, 0.05, 0.015)
        lip_low = low * mouth * _smooth_box(u + c + 0.05, 0.05, 0.015)
        eye = torch.zeros_like(ss)
        lid = torch.zeros_like(ss)
        brow = torch.zeros_like(ss)
        for side in (-1.0, 1.0):
            ds = (ss - side * EYE_S) / EYE_RX
            de = (t_rest - EYE_T) / EYE_RY
            eye = eye + torch.sigmoid((1.0 - (ds**2 + de**2)) / 0.12)
            # lid shift profile: 1 for de in (1, 1.7], falling to 0 at 2.4, only above the eye (below the brow)
            prof = torch.where(de <= 1.0, torch.zeros_like(de), torch.clamp((2.4 - de) / 0.7, 0.0, 1.0))
            lid = lid + prof * torch.exp(-((ds / 1.15) ** 6))
            brow = brow + _smooth_box(t_rest - BROW_T, 0.045, 0.015) * _smooth_box(ss - side * EYE_S, 0.17, 0.03)
        # 3. Albedo pattern (x the identity's skin albedo): lips, mouth cavity, eyes, brows.
        pattern = torch.ones_like(ss)
        pattern = pattern * (1 - 0.35 * (lip_up + lip_low).clamp(max=1))
        pattern = pattern * (1 - 0.88 * cav * mouth)
        pattern = pattern * (1 - 0.85 * eye.clamp(max=1))
        pattern = pattern * (1 - 0.55 * brow.clamp(max=1))
        alpha = torch.sigmoid((1.0 - r2) / 0.02)
        keep = (r2 < 0.999).reshape(-1)
        for name, value in dict(s=ss, t=tt, u=u, up=up, low=low, cav=cav, t_rest=t_rest, mouth=mouth,
                                lip_up=lip_up, lip_low=lip_low, eye=eye.clamp(max=1), lid=lid.clamp(max=1),
                                pattern=pattern, alpha=alpha).items():
            self.register_buffer(f"_{name}", value.reshape(-1), persistent=False)  # (n*n,)
        self.register_buffer("_keep", torch.nonzero(keep).reshape(-1), persistent=False)  # (V,)
        # 4. Landmarks: lattice vertices nearest to named rest positions.
        self.landmark_names, idx = [], []
        m_up, m_low = T_MOUTH + c + 0.5 * dt, T_MOUTH - c - 0.5 * dt
        spots = {
            "mouth_left": (-0.85 * MOUTH_HALF_WIDTH, T_MOUTH + c + 0.1 * dt, up), "mouth_right": (0.85 * MOUTH_HALF_WIDTH, T_MOUTH + c + 0.1 * dt, up),
            "lip_upper": (0.0, m_up, up), "lip_lower": (0.0, m_low, low),
            "lip_upper_left": (-0.15, m_up, up), "lip_upper_right": (0.15, m_up, up),
            "lip_lower_left": (-0.15, m_low, low), "lip_lower_right": (0.15, m_low, low),
            "chin": (0.0, -0.92 - c, low), "jaw_left": (-0.62, -0.62 - c, low), "jaw_right": (0.62, -0.62 - c, low),
            "nose_tip": (0.0, NOSE_T + c, up),
            "eye_left_outer": (-EYE_S - EYE_RX, EYE_T + c, up), "eye_left_inner": (-EYE_S + EYE_RX, EYE_T + c, up),
            "eye_right_inner": (EYE_S - EYE_RX, EYE_T + c, up), "eye_right_outer": (EYE_S + EYE_RX, EYE_T + c, up),
            "lid_left": (-EYE_S, EYE_T + EYE_RY + c + 0.5 * dt, up), "lid_right": (EYE_S, EYE_T + EYE_RY + c + 0.5 * dt, up),
            "brow_left": (-EYE_S, BROW_T + c, up), "brow_right": (EYE_S, BROW_T + c, up),
        }  # fmt: skip
        for name, (s0, t0, region) in spots.items():
            d = (ss - s0) ** 2 + (tt - t0) ** 2 + 1e3 * (1 - region)
            self.landmark_names.append(name)
            idx.append(int(torch.argmin(d)))
        self.register_buffer("_landmarks", torch.tensor(idx, dtype=torch.long), persistent=False)
        self.mouth_landmarks = tuple(i for i, nm in enumerate(self.landmark_names) if nm.startswith(("mouth", "lip")))
        self.register_buffer("_offsets", torch.arange(-g.window, g.window + 1), persistent=False)
        light = torch.tensor([-0.35, 0.45, 1.0])
        self.register_buffer("_light", light / light.norm(), persistent=False)

    # -- geometry -------------------------------------------------------------------------------------

    def _shape(self, identity: torch.Tensor) -> dict[str, torch.Tensor]:
        """Identity z-scores (B, 5) -> per-identity sizes (B, 1) each."""
        w, ln, nose, cheeks, skin = identity.unbind(-1)
        return {
            "A": (0.74 * (1 + 0.07 * w))[:, None],  # half width
            "B": torch.full_like(w, 0.95)[:, None],  # half height (upper face)
            "L": (1 + 0.07 * ln)[:, None],  # lower-face length factor
            "nose": (0.16 * (1 + 0.5 * nose))[:, None],
            "cheeks": (0.07 * (1 + 1.0 * cheeks))[:, None],
            "skin": (0.72 + 0.07 * skin)[:, None],
        }

    def vertices(self, identity: torch.Tensor, coeffs: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Face-space vertices (B, n*n, 3) with expression ``coeffs`` (None = rest), and rest depth (B, n*n)."""
        sh = self._shape(identity)
        s, u, up, low, cav = self._s, self._u, self._up, self._low, self._cav
        if coeffs is None:
            coeffs = identity.new_zeros(identity.shape[0], N_COEFF)
        jaw, spread, blink, brow = (coeffs[:, i : i + 1] for i in range(4))  # (B, 1) each
        c, mouth = self.c, self._mouth
        # 1. Horizontal: the mouth region widens (spread) or narrows (rounded).
        wm = torch.exp(-((s / 0.5) ** 2)) * torch.exp(-((u / 0.2) ** 2))
        x = sh["A"] * s * (1 + 0.45 * spread * wm)
        # 2. Vertical: upper face, the cavity band between the lips, and the lower face (jaw).
        gap = 0.30 * jaw * (0.25 + 0.75 * mouth)  # lip separation along s
        raise_up = 0.25 * gap * torch.exp(-(u - c).clamp(min=0) / 0.15)
        drop = 0.75 * gap + 0.30 * 0.75 * jaw * (1 - mouth) * torch.exp(-((s / 0.7) ** 2))
        t_up = self._t_rest + raise_up
        t_low = self._t_rest - drop
        y_a, y_b = T_MOUTH + 0.25 * gap, T_MOUTH - drop  # cavity spans upper lip edge .. lower lip edge
        frac = (u + c) / (2 * c)
        t_cav = y_b + frac * (y_a - y_b)
        ty = up * t_up + low * t_low + cav * t_cav
        # 3. Eyelids (blink) and brows, in the upper face.
        ty = ty - blink * 2.0 * EYE_RY * self._lid
        for side in (-1.0, 1.0):
            ty = ty + 0.10 * brow * torch.exp(-(((self._t_rest - BROW_T) / 0.14) ** 2)) * torch.exp(-(((s - side * EYE_S) / 0.3) ** 2)) * up
        lower = (ty < 0).float()
        y = sh["B"] * ty * (1 + lower * (sh["L"] - 1))
        # 4. Depth: ellipsoid + nose + cheeks + lips; recessed eyes and mouth cavity; lids in front.
        z = self.rest_depth(sh)
        lip_h = 0.045 * (1 + 0.8 * (-spread).clamp(min=0))
        z = z + lip_h * (self._lip_up + self._lip_low)
        z = z - 0.12 * cav * mouth * (1 - (u / c) ** 2).clamp(min=0) - 0.04 * cav * mouth
        z = z - 0.08 * self._eye + 0.05 * blink * self._lid
        return torch.stack([x, y, z], -1), z

    def rest_depth(self, sh: dict[str, torch.Tensor], s: torch.Tensor | None = None, tr: torch.Tensor | None = None) -> torch.Tensor:
        """Depth (B, N) of the identity's rest surface at lattice coordinates (s, t_rest) (default: the vertices)."""
        s = self._s if s is None else s
        tr = self._t_rest if tr is None else tr
        z = 0.62 * torch.sqrt((1 - s**2 - tr**2).clamp(min=0) + 1e-4)
        z = z + sh["nose"] * torch.exp(-((s / 0.085) ** 2)) * torch.exp(-(((tr - NOSE_T) / 0.13) ** 2))
        z = z + 0.35 * sh["nose"] * torch.exp(-((s / 0.06) ** 2)) * _smooth_box(tr - 0.1, 0.12, 0.04)
        for side in (-1.0, 1.0):
            z = z + sh["cheeks"] * torch.exp(-(((s - side * 0.42) ** 2 + (tr + 0.12) ** 2) / (2 * 0.16**2)))
        return z

    def _normals(self, identity: torch.Tensor, sh: dict[str, torch.Tensor]) -> torch.Tensor:
        """Unit normals (B, n*n, 3) of the identity's smooth rest surface (expression does not change shading).

        Central differences of the depth function itself, not of the lattice: the mouth-cavity rows
        are folded flat at rest, so lattice neighbours would give degenerate normals there.
        """
        h = 0.02
        s, tr = self._s, self._t_rest
        dz_ds = (self.rest_depth(sh, s + h, tr) - self.rest_depth(sh, s - h, tr)) / (2 * h)
        dz_dt = (self.rest_depth(sh, s, tr + h) - self.rest_depth(sh, s, tr - h)) / (2 * h)
        scale_y = sh["B"] * (1 + (tr < 0).float() * (sh["L"] - 1))
        nrm = torch.stack([-dz_ds / sh["A"], -dz_dt / scale_y, torch.ones_like(dz_ds)], -1)  # (B, n*n, 3)
        return nrm / nrm.norm(dim=-1, keepdim=True)

    def _project(self, pts: torch.Tensor, coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rotate and project (B, N, 3) face points -> pixel x, y (B, N), depth (B, N), rotation (B, 3, 3)."""
        g = self.geometry
        yaw, pitch, roll, tx, ty = coeffs[:, 4:9].unbind(-1)
        rot = rotation(yaw, pitch, roll)  # (B, 3, 3)
        p = rotate(pts, rot)  # (B, N, 3)
        px = (0.5 + 0.5 * (g.scale * p[..., 0] + tx[:, None])) * g.size
        py = (0.5 - 0.5 * (g.scale * p[..., 1] + ty[:, None])) * g.size
        return px, py, p[..., 2], rot

    # -- rendering ------------------------------------------------------------------------------------

    def render(self, identity: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
        """Identity (B, 5) and per-frame coefficients (B, 9) -> frames (B, size, size) in [0, 1]."""
        g = self.geometry
        n = g.grid
        if identity.shape[-1] != N_ID or coeffs.shape[-1] != N_COEFF:
            raise ValueError(f"render expects identity (B, {N_ID}) and coeffs (B, {N_COEFF}), got {tuple(identity.shape)}, {tuple(coeffs.shape)}")
        sh = self._shape(identity)
        pts, _ = self.vertices(identity, coeffs)  # (B, n*n, 3)
        px, py, depth, rot = self._project(pts, coeffs)  # (B, n*n) each
        # 1. Splat sizes from the projected lattice spacing (axis-aligned, per vertex).
        gx, gy = px.view(-1, n, n), py.view(-1, n, n)

        def spacing(a: torch.Tensor, dim: int) -> torch.Tensor:
            d = (a.diff(dim=dim)).abs()
            first, last = d.narrow(dim, 0, 1), d.narrow(dim, d.shape[dim] - 1, 1)
            d = torch.cat([first, torch.maximum(d.narrow(dim, 0, d.shape[dim] - 1), d.narrow(dim, 1, d.shape[dim] - 1)), last], dim)
            return d

        sx = torch.maximum(spacing(gx, 2), spacing(gx, 1)).reshape(-1, n * n)
        sy = torch.maximum(spacing(gy, 1), spacing(gy, 2)).reshape(-1, n * n)
        smax = g.window / 2.5  # the window holds +-2.5 std
        sx = (g.splat * sx).clamp(min=0.35, max=smax)
        sy = (g.splat * sy).clamp(min=0.35, max=smax)
        # 2. Lambert shading of the rotated identity normals.
        nrm = rotate(self._normals(identity, sh), rot)  # (B, n*n, 3)
        lam = (nrm * self._light).sum(-1).clamp(min=0.0)  # (B, n*n)
        colour = sh["skin"] * self._pattern * (0.3 + 0.75 * lam)  # (B, n*n)
        # 3. Keep the vertices of the face disc; splat weights with a soft depth order.
        k = self._keep
        px, py, depth, sx, sy, colour = (a.index_select(1, k) for a in (px, py, depth, sx, sy, colour))
        alpha = self._alpha.index_select(0, k)
        zmax = depth.detach().amax(1, keepdim=True)  # (B, 1): cancels in the normalisation
        w = alpha * torch.exp((depth - zmax) / g.tau)  # (B, V)
        ex = self._splat(px, sx, None, 2)  # (B, V, W)
        ey = self._splat(py, sy, torch.stack([w * colour, w], 1), 1)  # (B, 2, H, V): weighted, for num / den
        out = ey.flatten(1, 2) @ ex  # (B, 2H, W)
        num, den = out[:, : g.size], out[:, g.size :]
        bg_w = 0.4 * torch.exp((-0.05 - zmax) / g.tau)[..., None]  # (B, 1, 1)
        return (num + bg_w * BACKGROUND) / (den + bg_w)

    def _splat(self, centre: torch.Tensor, std: torch.Tensor, weights: torch.Tensor | None, dim: int) -> torch.Tensor:
        """1-D Gaussians of (B, V) centres / stds over the pixel axis, evaluated only within +-``window``
        pixels of each centre and scattered into a dense matrix: (B, V, size) with ``dim=2``; with
        ``weights`` (B, K, V) and ``dim=1``, K weighted copies laid out (B, K, size, V)."""
        size = self.geometry.size
        cols = centre.detach().floor().long()[..., None] + self._offsets  # (B, V, 2r+1)
        valid = (cols >= 0) & (cols < size)
        cols = cols.clamp(0, size - 1)
        e = torch.exp(-0.5 * ((cols.to(centre.dtype) + 0.5 - centre[..., None]) / std[..., None]) ** 2) * valid
        if weights is None:
            return centre.new_zeros(*centre.shape, size).scatter_add_(2, cols, e)
        k = weights.shape[1]
        e = (weights[..., None] * e[:, None]).transpose(2, 3)  # (B, K, 2r+1, V)
        idx = cols.transpose(1, 2)[:, None].expand(-1, k, -1, -1)  # (B, K, 2r+1, V)
        return centre.new_zeros(centre.shape[0], k, size, centre.shape[1]).scatter_add_(2, idx, e)

    def landmarks(self, identity: torch.Tensor, coeffs: torch.Tensor, *, pose: bool = True) -> torch.Tensor:
        """Projected landmarks (B, L, 2) in pixels; ``pose=False`` uses the frontal, centred pose."""
        pts, _ = self.vertices(identity, coeffs)
        pts = pts.index_select(1, self._landmarks)
        c = coeffs if pose else torch.cat([coeffs[:, :4], torch.zeros_like(coeffs[:, 4:])], 1)
        px, py, _, _ = self._project(pts, c)
        return torch.stack([px, py], -1)



def neutral(batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The average face, frontal, mouth closed: identity (B, 5) and coeffs (B, 9) of zeros."""
    return torch.zeros(batch, N_ID), torch.zeros(batch, N_COEFF)


def coefficient_box() -> tuple[torch.Tensor, torch.Tensor]:
    """Plausible range of every Y' column (identity then per-frame), used to clamp fits."""
    lo = [-3.0] * N_ID + [-0.2, -1.5, -0.2, -1.2, -0.6, -0.6, -0.6, -0.4, -0.4]
    hi = [3.0] * N_ID + [1.3, 1.5, 1.2, 1.2, 0.6, 0.6, 0.6, 0.4, 0.4]
    return torch.tensor(lo), torch.tensor(hi)

