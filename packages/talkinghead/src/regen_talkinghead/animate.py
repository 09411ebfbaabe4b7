"""``python -m regen_talkinghead.animate --audio x.wav --model RUN --reference photo.jpg --out x.mp4``: a talking face.

**A real photo** (any portrait larger than 64x64; colour, grey, RGBA, 16-bit; huge pictures are
downscaled and the note says so): the stages are printed as they run:

1. extract: the largest face's 68 landmarks (dlib, or face-alignment by ``landmark_backend``), then the
   fit of the 68-point 3D face model (identity, expression, head pose; :mod:`.face3d`); a picture with no
   face, a face below the minimum size or turned too far (a profile) is refused with a clear error;
2. generate: the run's speech -> coefficient generator (trained on the synthetic corpus) samples jaw,
   lip spread/rounding, blinks, brows and head motion for the speech; they drive the photo's fit;
3. regenerate: the explicit renderer warps the photo along the projected landmarks, draws the mouth
   interior, and writes ``real_size`` x ``real_size`` colour frames at 25 fps; the MP4 carries the speech.

**A synthetic face** (a 32x32 grey picture like the corpus's, or none: drawn with ``--identity-seed``):
the trained neural renderer (regeneration side) or the direct baseline (``--side direct``) draws it.
Both sides check the reference alike: a picture with no face is refused on either side; the direct
baseline of a run trained on the synthetic corpus only knows its faces, so a real photo with ``--side direct``
is refused and says why; a run whose direct stage is the real-face pixel baseline (``pairing.direct_real=true``,
trained on a user's ``pairing.video_dir``: :mod:`.realdirect`) animates the photo's face crop directly.

Audio at another rate is resampled (soxr) and the conversion is printed; empty, silent and corrupt
files are refused with regen_speech's typed errors. ``--png`` also writes a strip of frames.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from regen_core.errors import RegenError, cli_main


class AnimateError(RegenError, RuntimeError):
    """The run folder lacks a stage the chosen side needs."""


def load_condition(pairing: Any, wav: str, png: str | None, identity_seed: int = 0, verbose: bool = True) -> tuple[dict, list[str]]:
    """X from a speech file and an optional face picture; the list says what was converted."""
    from regen_speech.audio import load_audio

    cfg = pairing.config
    loaded = load_audio(wav, cfg.sample_rate, verbose=verbose)
    notes = list(loaded.notes)
    if png:
        from PIL import Image, UnidentifiedImageError

        from .photo import PhotoError

        p = Path(png)
        if not p.is_file():
            raise PhotoError(f"{p}: no such reference picture")
        try:
            img = Image.open(p).convert("L")
        except (UnidentifiedImageError, OSError) as e:
            raise PhotoError(f"{p}: cannot read the reference picture ({e})") from None
        if max(img.size) > SYNTHETIC_MAX:
            raise PhotoError(f"{p}: a {img.size[0]}x{img.size[1]} picture is a real photo; the pairing's X takes "
                             f"synthetic faces of at most {SYNTHETIC_MAX}x{SYNTHETIC_MAX}: animate real photos with "
                             "python -m regen_talkinghead.animate --reference")
        if img.size != (cfg.size, cfg.size):
            notes.append(f"reference {p.name} resized {img.size[0]}x{img.size[1]} -> {cfg.size}x{cfg.size}")
            if verbose:
                print(f"[animate] {notes[-1]}")
            img = img.resize((cfg.size, cfg.size), Image.BILINEAR)
        reference = np.asarray(img, dtype=np.uint8)
    else:
        reference = pairing.default_reference(identity_seed)
    return {"audio": loaded.audio, "reference": reference}, notes


SYNTHETIC_MAX = 64  # pictures at most this size (both sides) are synthetic-corpus faces; larger ones are real photos


def check_reference(pairing: Any, reference: np.ndarray) -> None:
    """The same check on both sides: the synthetic face model must explain the picture (NoFaceError otherwise)."""
    pairing.fitter().fit([np.asarray(reference)[None]])


def animate(pairing: Any, models: dict, x: dict, *, side: str = "regeneration", seed: int = 0,
            temperature: float = 1.0, steps: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(frames (T, size, size) float32, Y' (T, 14) or None for the direct side).

    ``steps``, when given, receives the wall seconds of each step (generate and regenerate, or direct)."""
    steps = {} if steps is None else steps
    check_reference(pairing, x["reference"])
    if side == "regeneration":
        for s in ("generate", "regenerate"):
            if s not in models:
                raise AnimateError(f"the run has no trained {s} stage (train it, or use --side direct)")
        # the two steps of regen_core.contract.regenerate_pipeline (the same derived seeds), each timed
        t0 = time.perf_counter()
        y_prime = models["generate"].sample(x, seed=seed, temperature=temperature)
        t1 = time.perf_counter()
        y = models["regenerate"].sample(y_prime, seed=seed + 1, temperature=temperature)
        steps.update(generate=t1 - t0, regenerate=time.perf_counter() - t1)
        return np.asarray(y, np.float32), np.asarray(y_prime, np.float32)
    if "direct" not in models:
        raise AnimateError("the run has no trained direct stage")
    t0 = time.perf_counter()
    frames = np.asarray(models["direct"].sample(x, seed=seed, temperature=temperature), np.float32)
    steps["direct"] = time.perf_counter() - t0
    return frames, None


def is_photo(path: str | None) -> bool:
    """A reference picture larger than SYNTHETIC_MAX on either side is a real photo."""
    if not path:
        return False
    from PIL import Image

    try:
        with Image.open(path) as img:
            return max(img.size) > SYNTHETIC_MAX
    except (OSError, ValueError, SyntaxError):
        return True  # unreadable: load_photo names the problem


class PhotoAnimator:
    """The real-photo pipeline: extract (landmarks + 3D fit) -> generate (speech -> coefficients) -> regenerate (warp).

    Built once per run (loads the landmark model and the face model: timed apart as ``load_seconds``)."""

    def __init__(self, pairing: Any, models: dict, *, verbose: bool = True, refiner: str | None = None,
                 need_generator: bool = True):
        from .face3d import load_model
        from .landmarks import LandmarkDetector
        from .regenerate import PhotoRenderer

        t0 = time.perf_counter()
        if need_generator and "generate" not in models:
            raise AnimateError("the run has no trained generate stage (train it: regen compare talkinghead --config tiny)")
        cfg = pairing.config
        self.cfg, self.generator, self.verbose = cfg, models.get("generate"), verbose
        self.refiner = None
        if refiner:  # first: a missing or damaged refiner folder is refused before the detector loads
            from .refine import load

            self.refiner = load(refiner)
        self.detector = LandmarkDetector(cfg.landmark_backend, verbose=verbose)
        self.model = load_model()
        self.renderer = PhotoRenderer(cfg.real_size)
        self.load_seconds = time.perf_counter() - t0

    def say(self, text: str) -> None:
        if self.verbose:
            print(f"[animate] {text}")

    def prepare(self, photo: Any) -> Any:
        """Stage 1, extract: the largest face, its landmarks and its 3D fit (refuses no / tiny / turned faces)."""
        from .face3d import K_ID, fit_error
        from .landmarks import JAW, FaceNotFoundError

        for note in photo.notes:
            self.say(note)
        det = self.detector.detect(photo.rgb, name=photo.name)
        for note in det.notes:
            self.say(note)
        face = self.renderer.prepare(photo.rgb, det.points, self.model, det.notes)
        yaw, pitch = np.degrees(face.y_prime[K_ID + 5 : K_ID + 7])
        if abs(yaw) > MAX_YAW or abs(pitch) > MAX_YAW:
            raise FaceNotFoundError(0, f"{photo.name}: the face is turned {yaw:+.0f} degrees (yaw), {pitch:+.0f} (pitch); "
                                       f"animating needs a frontal or near-frontal face (within {MAX_YAW} degrees)")
        err = fit_error(self.model, face.y_prime, face.points)
        width = det.points[JAW, 0].max() - det.points[JAW, 0].min()
        self.say(f"extract: {self.cfg.landmark_backend} 68 landmarks on a {width:.0f} px wide face; 3D fit (68-point "
                 f"model: identity {K_ID}, expression 5, pose 6) yaw {yaw:+.0f} deg, pitch {pitch:+.0f} deg, "
                 f"landmark error {err['px']:.2f} px ({err['iod']:.3f} of the inter-ocular distance)")
        return face

    def run(self, face: Any, audio: np.ndarray, *, seed: int = 0, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray, dict]:
        """Stages 2-3: (frames (T, S, S, 3) uint8, Y' (T, D), seconds per stage)."""
        from .generate import drive_real

        t0 = time.perf_counter()
        coeffs = advance_mouth(self.generator.sample_coefficients(audio, seed=seed, temperature=temperature),
                               self.cfg.real_lead)
        width = float(face.points[:17, 0].max() - face.points[:17, 0].min())
        y = drive_real(face.y_prime, coeffs, head_motion=self.cfg.real_head_motion, face_width=width,
                       jaw_gain=self.cfg.real_jaw_gain)
        t1 = time.perf_counter()
        self.say(f"generate: speech -> {len(y)} frames of expression + head pose (seed {seed}, temperature {temperature:g})")
        frames = self.renderer.render(face, y, self.model)
        what = "piecewise-affine warp of the photo + mouth interior"
        if self.refiner is not None:
            from .face3d import project
            from .regenerate import refine_frames

            driven = face.points + project(self.model, y) - project(self.model, face.y_prime)  # (T, 68, 2)
            frames = refine_frames(self.refiner, frames, driven)
            what += " + learned mouth refinement"
        t2 = time.perf_counter()
        self.say(f"regenerate: {what}, {frames.shape[2]}x{frames.shape[1]} colour at {self.cfg.fps} fps")
        return frames, y, {"generate": t1 - t0, "regenerate": t2 - t1}


    def run_direct(self, face: Any, direct: Any, audio: np.ndarray) -> np.ndarray:
        """The real-face direct baseline (no Y'): speech + the photo's face crop -> (T, S, S, 3) uint8 frames."""
        s = self.cfg.direct_real_size
        frames = direct.animate_crop(face.crop, audio)
        self.say(f"direct: speech + the {s}x{s} face crop -> {len(frames)} frames by the real-face pixel model "
                 f"(trained on {self.cfg.video_dir or 'a video_dir'}), upscaled to {frames.shape[2]}x{frames.shape[1]}")
        return frames


def advance_mouth(coeffs: np.ndarray, lead: int) -> np.ndarray:
    """The generator's jaw and lip spread (columns 0, 1 of (T, 9)) ``lead`` frames earlier, the last frames held."""
    out = np.array(coeffs, copy=True)
    if lead > 0 and len(out) > lead:
        out[:-lead, :2] = out[lead:, :2]
        out[-lead:, :2] = out[-1, :2]
    return out


MAX_YAW = 40  # degrees: faces turned further are refused as profiles


@cli_main("python -m regen_talkinghead.animate")
def main(argv: Sequence[str] | None = None) -> int:
    from regen_core.cli_common import add_model_arg, model_folder

    p = argparse.ArgumentParser(prog="python -m regen_talkinghead.animate", description=__doc__.split("\n\n")[0])
    p.add_argument("--audio", required=True, help="speech file (WAV, FLAC, ...; resampled to the model's rate)")
    add_model_arg(p, "talkinghead", what=" (regen compare / python -m regen_talkinghead.train)")
    p.add_argument("--out", required=True, help="output .mp4 (or .gif)")
    p.add_argument("--reference", help="a portrait photo (png/jpg/...), or a 32x32 synthetic face picture (default: a synthetic face)")
    p.add_argument("--identity-seed", type=int, default=0, help="seed of the synthetic face when no --reference")
    p.add_argument("--side", choices=("regeneration", "direct"), default="regeneration")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--png", action="store_true", help="also write a PNG strip of frames beside the video")
    p.add_argument("--refiner", help="a learned mouth refiner folder (python -m regen_talkinghead.refine) for real photos")
    args = p.parse_args(argv)
    from regen_core.pipeline import load_run

    from .video import strip_png, write_gif, write_mp4

    pairing, models = load_run(model_folder(args.model, "talkinghead"))
    cfg = pairing.config
    if is_photo(args.reference):
        from regen_speech.audio import load_audio

        from .photo import load_photo

        photo = load_photo(args.reference)  # PhotoError: missing, empty, corrupt
        loaded = load_audio(args.audio, cfg.sample_rate, verbose=True)
        animator = PhotoAnimator(pairing, models, refiner=args.refiner, need_generator=args.side == "regeneration")
        animator.say(f"loaded the run and the face models in {animator.load_seconds:.2f} s (not counted below)")
        t0 = time.perf_counter()
        face = animator.prepare(photo)  # FaceNotFoundError first, on either side
        if args.side == "direct" and not getattr(models.get("direct"), "real_face", False):
            raise AnimateError("the run's direct baseline draws only the synthetic 32x32 faces it was trained on; a "
                               "real photo is animated by the regeneration side, or by a real-face direct model "
                               "trained on talking videos with sound (regen train talkinghead --stage direct "
                               "pairing.direct_real=true pairing.video_dir=DIR)")
        if args.side == "direct":
            frames = animator.run_direct(face, models["direct"], loaded.audio)
        else:
            frames, y_prime, _ = animator.run(face, loaded.audio, seed=args.seed, temperature=args.temperature)
        seconds = time.perf_counter() - t0
        x = {"audio": loaded.audio}
    else:
        x, notes = load_condition(pairing, args.audio, args.reference, args.identity_seed)
        t0 = time.perf_counter()
        frames, y_prime = animate(pairing, models, x, side=args.side, seed=args.seed, temperature=args.temperature)
        seconds = time.perf_counter() - t0
    out = Path(args.out)
    if out.suffix.lower() == ".gif":
        write_gif(out, frames, cfg.fps)
        from regen_speech.audio import save_wav

        save_wav(out.with_suffix(".wav"), x["audio"], cfg.sample_rate)
        note = f"GIF has no sound: speech in {out.with_suffix('.wav').name}"
    else:
        _, note = write_mp4(out, frames, cfg.fps, audio=x["audio"], sample_rate=cfg.sample_rate)
    if args.png:
        strip_png(out.with_suffix(".png"), [(args.side, frames)], fps=cfg.fps)
    dur = len(x["audio"]) / cfg.sample_rate
    print(f"{out}: {len(frames)} frames ({dur:.2f} s of speech, {args.side}, seed {args.seed}) in {seconds:.2f} s "
          f"(real-time factor {seconds / max(dur, 1e-9):.2f}, model loading excluded); {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
