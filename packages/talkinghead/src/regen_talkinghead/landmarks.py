"""Face detection + 68 landmarks on real pictures and video frames (the first half of extract Y -> Y' on real faces).

Backends (``backend=`` of :class:`LandmarkDetector`, saved in the pairing config as ``landmark_backend``):

- ``"dlib"`` (default): dlib's HOG frontal face detector and its 68-point shape predictor, the model
  file from Debian's ``libdlib-data`` (``/usr/share/dlib/shape_predictor_68_face_landmarks.dat``) or
  from PyPI's ``face_recognition_models``. **Licence of the model data**: the file is distributed
  under CC0 / Boost, but it was trained on the iBUG 300-W dataset, whose terms are reported to exclude
  commercial use; the notice is printed when the model loads. Check before a commercial use.
- ``"face-alignment"``: the ``face_alignment`` package (2D-FAN, the same 68-point order), used only
  when its weights are already in the local torch hub cache (nothing is downloaded); otherwise a
  :class:`LandmarkBackendError` names the missing file.

The largest face is picked when there are several (the detection says so). Faces narrower than
``MIN_FACE`` pixels are refused (the predictor is unreliable below it; pictures under 640 px are
upsampled once for the detector, so faces down to about 40 px are found). A picture where the
frontal detector finds nothing (no face, a profile, a face turned more than about 45 degrees)
raises :class:`FaceNotFoundError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from regen_core.errors import RegenError

from .extract import NoFaceError

MIN_FACE = 40  # px: narrowest face accepted (jaw line width; the carphone clip's face is 45-56 px)
DLIB_FILE = "shape_predictor_68_face_landmarks.dat"
DLIB_PLACES = (Path("/usr/share/dlib"), Path("/usr/local/share/dlib"))
LICENCE_68 = ("note: dlib's 68-point landmark model was trained on the iBUG 300-W dataset, whose licence is "
              "reported to exclude commercial use; check it before any commercial use")
# landmark groups of the 68-point layout (iBUG 300-W order)
JAW, BROWS, NOSE = slice(0, 17), slice(17, 27), slice(27, 36)
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)  # subject's right eye is first (image left)
OUTER_LIPS, INNER_LIPS = slice(48, 60), slice(60, 68)


class FaceNotFoundError(NoFaceError):
    """No usable face in a picture or a video frame (none, too small, a profile)."""


class LandmarkBackendError(RegenError, RuntimeError):
    """The chosen landmark backend cannot run here (package or model file missing)."""


@dataclass
class Detection:
    """One face: 68 landmarks (68, 2) in pixels (x, y), its box (x0, y0, x1, y1) and what was decided."""

    points: np.ndarray
    box: tuple[float, float, float, float]
    n_faces: int = 1
    notes: list[str] = field(default_factory=list)


def interocular(points: np.ndarray) -> np.ndarray:
    """Distance between the eye centres, (...,) from (..., 68, 2)."""
    return np.linalg.norm(points[..., LEFT_EYE, :].mean(-2) - points[..., RIGHT_EYE, :].mean(-2), axis=-1)


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """Inner-lip gap (mean of the three vertical inner-lip distances) over the inter-ocular distance, (...,)."""
    gap = np.linalg.norm(points[..., [61, 62, 63], :] - points[..., [67, 66, 65], :], axis=-1).mean(-1)
    return gap / np.maximum(interocular(points), 1e-6)


def find_dlib_model(name: str = DLIB_FILE) -> Path:
    """A dlib model file from libdlib-data, face_recognition_models or $REGEN_DLIB_DIR; error naming it otherwise."""
    places = list(DLIB_PLACES)
    if os.environ.get("REGEN_DLIB_DIR"):
        places.insert(0, Path(os.environ["REGEN_DLIB_DIR"]))
    try:  # face_recognition_models imports pkg_resources in its __init__: find its folder without importing it
        import importlib.util

        spec = importlib.util.find_spec("face_recognition_models")
        if spec and spec.submodule_search_locations:
            places.append(Path(list(spec.submodule_search_locations)[0]) / "models")
    except (ImportError, ValueError):
        pass
    for d in places:
        if (d / name).is_file():
            return d / name
    raise LandmarkBackendError(f"dlib model file {name} not found (looked in {', '.join(map(str, places))}); "
                               "install Debian's libdlib-data (make setup does) or PyPI's face_recognition_models")


_PRINTED: set[str] = set()


def _notice(key: str, text: str, verbose: bool) -> None:
    if verbose and key not in _PRINTED:
        _PRINTED.add(key)
        print(f"[landmarks] {text}")


class LandmarkDetector:
    """picture (H, W, 3) uint8 -> :class:`Detection` of the largest face (68 points)."""

    def __init__(self, backend: str = "dlib", *, upsample_below: int = 640, verbose: bool = True):
        self.backend, self.upsample_below, self.verbose = backend, upsample_below, verbose
        if backend == "dlib":
            import dlib

            path = find_dlib_model()
            self._detector = dlib.get_frontal_face_detector()
            self._predictor = dlib.shape_predictor(str(path))
            _notice("dlib", f"dlib 68-point landmarks from {path}; {LICENCE_68}", verbose)
        elif backend == "face-alignment":
            self._fa = _face_alignment()
        else:
            raise LandmarkBackendError(f"unknown landmark backend {backend!r}; expected 'dlib' or 'face-alignment'")

    # -- boxes ---------------------------------------------------------------------------------------------

    def boxes(self, rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Face boxes (x0, y0, x1, y1) in pixels, largest first."""
        if self.backend == "face-alignment":
            found = self._fa.face_detector.detect_from_image(rgb[..., ::-1].copy())
            out = [tuple(float(v) for v in b[:4]) for b in found]
        else:
            up = 1 if min(rgb.shape[:2]) < self.upsample_below else 0
            out = [(r.left(), r.top(), r.right(), r.bottom()) for r in self._detector(rgb, up)]
        return sorted(out, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))

    def landmarks(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """68 points (68, 2) inside a box."""
        if self.backend == "face-alignment":
            pts = self._fa.get_landmarks_from_image(rgb, detected_faces=[np.array([*box, 1.0])])
            return np.asarray(pts[0][:, :2], np.float64)
        import dlib

        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = self._predictor(rgb, rect)
        return np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], np.float64)

    # -- one picture -----------------------------------------------------------------------------------------

    def detect(self, rgb: np.ndarray, *, name: str = "picture", frame: int = 0) -> Detection:
        """The largest face of a picture; FaceNotFoundError when there is none or it is too small."""
        rgb = np.ascontiguousarray(rgb)
        boxes = self.boxes(rgb)
        if not boxes:
            raise FaceNotFoundError(frame, f"{name}: the {self.backend} detector finds no frontal face (none, one "
                                           f"smaller than about {MIN_FACE} px, or a profile / a face turned more "
                                           "than about 45 degrees)")
        points = self.landmarks(rgb, boxes[0])
        width = float(points[JAW, 0].max() - points[JAW, 0].min())
        if width < MIN_FACE:
            raise FaceNotFoundError(frame, f"{name}: the face is {width:.0f} px wide, below the {MIN_FACE} px minimum")
        notes = []
        if len(boxes) > 1:
            b = boxes[0]
            notes.append(f"{name}: {len(boxes)} faces found; the largest ({b[2] - b[0]:.0f}x{b[3] - b[1]:.0f} px at "
                         f"x={b[0]:.0f}, y={b[1]:.0f}) is used")
        return Detection(points, boxes[0], len(boxes), notes)

    # -- a video -------------------------------------------------------------------------------------------------

    def track(self, frames: np.ndarray, *, max_gap: int = 5, name: str = "video") -> tuple[np.ndarray, list[int]]:
        """(T, H, W, 3) -> landmarks (T, 68, 2) of the largest face per frame. Frames where it is lost are
        interpolated across gaps of at most ``max_gap`` frames (listed in the second value); a longer gap,
        or a lost first/last run longer than that, raises FaceNotFoundError naming the frames."""
        t = len(frames)
        pts = np.full((t, 68, 2), np.nan)
        for i, f in enumerate(frames):
            try:
                pts[i] = self.detect(f, name=name, frame=i).points
            except FaceNotFoundError:
                pass
        lost = np.flatnonzero(np.isnan(pts[:, 0, 0]))
        if len(lost) == t:
            raise FaceNotFoundError(0, f"{name}: no face in any of its {t} frames")
        for run in _runs(lost):
            if len(run) > max_gap:
                raise FaceNotFoundError(int(run[0]), f"{name}: the face is lost for {len(run)} frames "
                                                     f"({run[0]}-{run[-1]}), more than max_gap={max_gap}")
        if len(lost):
            good = np.flatnonzero(~np.isnan(pts[:, 0, 0]))
            flat = pts.reshape(t, -1)
            for k in range(flat.shape[1]):
                flat[lost, k] = np.interp(lost, good, flat[good, k])
        return pts, [int(i) for i in lost]


def _runs(idx: np.ndarray) -> list[np.ndarray]:
    if not len(idx):
        return []
    return np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)


def _face_alignment():
    """The face-alignment backend, only from weights already in the torch hub cache (never downloaded)."""
    try:
        import face_alignment
    except ImportError:
        raise LandmarkBackendError("landmark_backend=face-alignment needs the face_alignment package "
                                   "(pip install 'regen-talkinghead[face-alignment]')") from None
    import torch

    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    # the file names the installed package downloads (its URL table), else the usual ones
    try:
        from face_alignment.api import models_urls  # {version: {"2DFAN-4": url, ...}}

        fan = sorted({u.rsplit("/", 1)[-1] for v in models_urls.values() for k, u in v.items() if k == "2DFAN-4"})
    except (ImportError, AttributeError):
        fan = ["2DFAN4-cd938726ad.zip"]
    for names in (fan, ["s3fd-619a316812.pth"]):
        if not any((ckpt / f).is_file() for f in names):
            raise LandmarkBackendError(f"landmark_backend=face-alignment: its weights file {ckpt / names[0]} is not in "
                                       "the local torch hub cache (nothing is downloaded); put it there or use dlib")
    try:
        return face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device="cpu", flip_input=False)
    except Exception as e:  # the package's own loading errors
        raise LandmarkBackendError(f"face-alignment failed to load: {type(e).__name__}: {e}") from None
