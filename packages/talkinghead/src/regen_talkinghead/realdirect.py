"""The direct pixel baseline on real faces: speech + a reference face crop -> colour face-crop frames.

**No real talking video with audio ships here** (the carphone clip has no sound track), so this model is
trained on a user's folder of talking-face videos with sound (``pairing.video_dir``) and switched on by
``pairing.direct_real=true``::

    regen train talkinghead --stage direct --config tiny --run RUN pairing.video_dir=DIR pairing.direct_real=true

Data (:func:`real_clips`): each video with a sound track is taken at ``fps``; the largest face's landmarks on
its first frame fix a square crop (the same crop the photo renderer uses, :class:`.regenerate.PhotoRenderer`),
applied to every frame; that first crop is the reference (the identity), the speech is the sound track. The
last ``direct_real_holdout`` share of every video's frames is held out (the valid split, and the frames
:func:`evaluate` measures both sides on); the rest is cut into ``direct_real_chunk``-frame training rows.

Model (:class:`RealDirectTalkingHead`): the generator's speech encoder (per-frame features), a conv encoder of
the reference crop to a (S/4 x S/4) feature map, the frame's speech feature added to every position, and a conv
decoder back to S x S that predicts a change of the reference in logit space (S = ``direct_real_size``, 64 by
default: colour crops, trained with the same pixel loss as the other decoders). No Y' anywhere: X -> Y.

``python -m regen_talkinghead.realdirect --run RUN --video-dir DIR --out real_direct.json`` evaluates the
run's sides on the held-out frames: pixel L1 against those frames (at S x S), identity distance to the
reference crop (dlib's face recogniser), and lip-sync correlation of the mouth opening re-detected on the
outputs with the speech's voiced-energy envelope; the held-out real frames are measured the same way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from regen_core.data import DataError
from regen_core.errors import cli_main

from .generate import SpeechEncoder, audio_tensor
from .regenerate import pixel_loss


def real_clips(cfg: Any, *, verbose: bool = True) -> list[dict]:
    """The videos with sound of ``cfg.video_dir`` as face crops: per video {"name", "audio" (S,) float32,
    "frames" (T, real_size, real_size, 3) uint8 crops at fps, "source" (H, W, 3) uint8 first frame,
    "split": first held-out frame}. Videos without sound are skipped and named; none left is a DataError."""
    import cv2

    from .face3d import load_model
    from .landmarks import LandmarkDetector
    from .data import talking_videos
    from .regenerate import PhotoRenderer

    if not cfg.video_dir:
        raise DataError("the real-face direct model trains on talking videos with sound: set pairing.video_dir=DIR")
    detector = LandmarkDetector(cfg.landmark_backend, verbose=verbose)
    model = load_model()
    renderer = PhotoRenderer(cfg.real_size)
    clips = []
    for path, audio, frames in talking_videos(cfg, verbose=verbose, tag="direct_real"):
        n = len(frames)
        det = detector.detect(frames[0], name=f"{path} (first frame)")
        renderer.prepare(frames[0], det.points, model)
        m = renderer.last_affine  # video pixels -> crop pixels, fixed for the whole video
        crops = np.stack([cv2.warpAffine(f, m, (cfg.real_size, cfg.real_size), flags=cv2.INTER_AREA,
                                         borderMode=cv2.BORDER_REPLICATE) for f in frames])
        split = int(round(n * (1 - cfg.direct_real_holdout)))
        if split < 2 or n - split < 1:
            raise DataError(f"{path}: {n} frames at {cfg.fps} fps is too short to hold out "
                            f"{cfg.direct_real_holdout:.0%} of it (pairing.direct_real_holdout)")
        clips.append({"name": Path(path).name, "audio": audio[: int(round(n * cfg.sample_rate / cfg.fps))].astype(np.float32),
                      "frames": crops, "source": frames[0], "split": split})
        if verbose:
            print(f"[direct_real] {path}: {n} frames at {cfg.fps} fps, {split} train, {n - split} held out")
    if not clips:
        raise DataError(f"pairing.video_dir={cfg.video_dir}: no video with a sound track")
    return clips


def _small(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3) float32 in [0, 1] (area resampling)."""
    import cv2

    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames]).astype(np.float32) / 255.0


def clip_rows(cfg: Any, clips: list[dict], part: str) -> list[dict]:
    """Training rows (``part="train"``: ``direct_real_chunk``-frame pieces before each split) or the held-out
    rows (``"valid"``: the frames after it), each {"audio", "n_frames", "video" (T, S, S, 3), "reference" (S, S, 3)}."""
    rows = []
    hop = cfg.sample_rate // cfg.fps
    for c in clips:
        ref = _small(c["frames"][:1], cfg.direct_real_size)[0]
        lo, hi = (0, c["split"]) if part == "train" else (c["split"], len(c["frames"]))
        step = cfg.direct_real_chunk if part == "train" else hi - lo
        for a in range(lo, hi, step):
            b = min(hi, a + step)
            if b - a < 1:
                continue
            rows.append({"audio": c["audio"][a * hop : b * hop], "n_frames": b - a,
                         "video": _small(c["frames"][a:b], cfg.direct_real_size), "reference": ref})
    return rows


class RealDirectTalkingHead(nn.Module):
    """speech + reference crop (S, S, 3) -> frames (T, S, S, 3) in [0, 1], no Y'."""

    stochastic = False
    real_face = True  # animate's mark (it does not import this module): draws real photos' face crops

    def animate_crop(self, face_crop: np.ndarray, audio: np.ndarray) -> np.ndarray:
        """A photo renderer crop (real_size, real_size, 3) uint8 + speech -> (T, real_size, real_size, 3) uint8."""
        return upscale(self.cfg, self.sample({"audio": audio, "reference": reference_crop(self.cfg, face_crop)}))

    def __init__(self, cfg: Any):
        super().__init__()
        self.cfg = cfg
        d, c, s = cfg.d_model, cfg.ref_channels, cfg.direct_real_size
        if s < 16 or s % 4:
            raise ValueError(f"pairing.direct_real_size must be a multiple of 4, at least 16; got {s}")
        self.encoder = SpeechEncoder(cfg)
        self.down = nn.ModuleList([nn.Conv2d(3, c, 3, 2, 1), nn.Conv2d(c, 2 * c, 3, 2, 1)])
        self.film = nn.Linear(d, 4 * c)  # scale and shift of the (2c, S/4, S/4) map per frame
        self.mid = nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.up = nn.ModuleList([nn.Conv2d(2 * c + c, c, 3, padding=1), nn.Conv2d(c + 3, c, 3, padding=1)])
        self.out = nn.Conv2d(c, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)  # starts as the reference itself

    def _decode(self, ref: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """ref (N, 3, S, S) in [0, 1], feats (N, d) -> (N, 3, S, S)."""
        x1 = F.gelu(self.down[0](ref))  # (N, c, S/2)
        x2 = F.gelu(self.down[1](x1))  # (N, 2c, S/4)
        scale, shift = self.film(feats)[:, :, None, None].chunk(2, 1)
        x = F.gelu(self.mid(x2 * (1 + scale) + shift))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.gelu(self.up[0](torch.cat([x, x1], 1)))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.gelu(self.up[1](torch.cat([x, ref], 1)))
        logit = torch.logit(ref.clamp(0.01, 0.99))
        return torch.sigmoid(logit + self.out(x))

    def forward(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        frames = batch["n_frames"]  # (B,)
        h = self.encoder(batch["audio"], batch["audio_lengths"], frames)  # (B, T, d)
        k = self.cfg.direct_frames
        pick = (torch.rand(len(frames), k) * frames[:, None]).long()  # (B, k) (the trainer seeds torch's RNG)
        rows = torch.arange(len(frames))[:, None].expand(-1, k)
        ref = batch["reference"].permute(0, 3, 1, 2).repeat_interleave(k, 0)  # (B*k, 3, S, S)
        pred = self._decode(ref, h[rows, pick].reshape(-1, h.shape[-1]))
        target = batch["video"][rows, pick].reshape(-1, *batch["video"].shape[2:]).permute(0, 3, 1, 2)
        loss = pixel_loss(pred, target, self.cfg.edge_weight)
        return loss, {"mse": float(((pred.detach() - target) ** 2).mean())}

    @torch.no_grad()
    def sample(self, condition: Any, *, seed: int | None = None, temperature: float = 1.0) -> np.ndarray:
        """X = {"audio", "reference": (S, S, 3) uint8 face crop} -> (T, S, S, 3) float32 (deterministic)."""
        s = self.cfg.direct_real_size
        ref = np.asarray(condition["reference"])
        if ref.shape != (s, s, 3):
            raise ValueError(f"the real-face direct model takes a ({s}, {s}, 3) colour face crop as its reference, "
                             f"got shape {ref.shape} (animate a photo: python -m regen_talkinghead.animate --side direct)")
        ref = ref.astype(np.float32) / 255.0 if ref.dtype == np.uint8 else ref.astype(np.float32)
        was = self.training
        self.eval()
        audio = audio_tensor(condition)
        n = self.cfg.n_frames(len(audio))
        h = self.encoder(torch.from_numpy(audio)[None], torch.tensor([len(audio)]), torch.tensor([n]))[0]  # (T, d)
        r = torch.from_numpy(ref).permute(2, 0, 1)[None]
        out = torch.cat([self._decode(r.expand(len(h[i : i + 64]), -1, -1, -1), h[i : i + 64]) for i in range(0, n, 64)])
        self.train(was)
        return out.permute(0, 2, 3, 1).numpy().astype(np.float32)


def reference_crop(cfg: Any, face_crop: np.ndarray) -> np.ndarray:
    """A photo renderer crop (real_size, real_size, 3) uint8 -> the direct model's reference (S, S, 3) uint8."""
    import cv2

    s = cfg.direct_real_size
    return cv2.resize(np.asarray(face_crop), (s, s), interpolation=cv2.INTER_AREA)


def upscale(cfg: Any, frames: np.ndarray) -> np.ndarray:
    """(T, S, S, 3) float in [0, 1] -> (T, real_size, real_size, 3) uint8 (bicubic)."""
    import cv2

    r = cfg.real_size
    return np.stack([np.clip(cv2.resize(f * 255.0, (r, r), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
                     for f in frames])


def is_real_direct(model: Any) -> bool:
    return isinstance(model, RealDirectTalkingHead)


# -- evaluation on the held-out frames of a video_dir -----------------------------------------------------------


def _measure(frames: np.ndarray, target: np.ndarray, reference: np.ndarray, audio: np.ndarray, cfg: Any,
             judge: Any, embedder: Any) -> dict:
    """frames / target (T, real_size, real_size, 3) uint8 -> pixel L1 at S, identity, lip sync (re-detected)."""
    from .landmarks import FaceNotFoundError
    from .metrics import identity_distance, lipsync_real

    s = cfg.direct_real_size
    row: dict[str, Any] = {"pixel_l1": float(np.abs(_small(frames, s) - _small(target, s)).mean())}
    try:
        pts, lost = judge.track(frames, max_gap=len(frames), name="output")
    except FaceNotFoundError as e:
        row["face_found"] = f"no: {e}"
        return row
    row["frames_face_lost"] = len(lost)
    row.update({f"lipsync_{k}": v for k, v in lipsync_real(pts, audio, cfg.sample_rate, cfg.fps).items()})
    if embedder is not None:
        d = identity_distance(embedder, reference, frames, pts)
        row.update(identity_mean=float(d.mean()), identity_max=float(d.max()))
    return row


def evaluate(pairing: Any, models: dict, video_dir: str, *, verbose: bool = True) -> dict:
    """Both sides of a run on the held-out frames of every video with sound in ``video_dir``: a side the run
    lacks is reported as such (the direct side needs a real-face direct model, the regeneration side a
    generate stage)."""
    import dataclasses

    from .animate import PhotoAnimator
    from .landmarks import LandmarkDetector
    from .metrics import SAME_PERSON, FaceEmbedder
    from .photo import Photo

    cfg = dataclasses.replace(pairing.config, video_dir=str(video_dir))
    clips = real_clips(cfg, verbose=verbose)
    judge = LandmarkDetector(cfg.landmark_backend, verbose=False)
    try:
        embedder = FaceEmbedder(judge)
    except Exception as e:  # the recogniser's model file is optional
        embedder, why = None, f"{type(e).__name__}: {e}"
    direct = models.get("direct")
    sides: dict[str, Any] = {}
    if not is_real_direct(direct):
        sides["direct"] = "not in the run (train it: regen train talkinghead --stage direct pairing.direct_real=true pairing.video_dir=DIR)"
    animator = None
    if "generate" in models:
        animator = PhotoAnimator(pairing, models, verbose=False)
    else:
        sides["regeneration"] = "not in the run (no generate stage)"
    rows = []
    for c in clips:
        a, hop = c["split"], cfg.sample_rate // cfg.fps
        audio, target = c["audio"][a * hop :], c["frames"][a:]
        row: dict[str, Any] = {"video": c["name"], "held_out_frames": len(target),
                               "real": _measure(target, target, c["frames"][0], audio, cfg, judge, embedder)}
        if is_real_direct(direct):
            out = direct.sample({"audio": audio, "reference": reference_crop(cfg, c["frames"][0])})
            row["direct"] = _measure(upscale(cfg, out[: len(target)]), target, c["frames"][0], audio, cfg, judge, embedder)
        if animator is not None:
            face = animator.prepare(Photo(c["source"], c["name"]))
            frames, _, _ = animator.run(face, audio, seed=0)
            row["regeneration"] = _measure(frames[: len(target)], target, c["frames"][0], audio, cfg, judge, embedder)
        rows.append(row)
    for side in ("real", "direct", "regeneration"):
        got = [r[side] for r in rows if side in r]
        if got:
            sides[side] = {k: float(np.nanmean([g[k] for g in got if k in g])) for k in
                           ("pixel_l1", "lipsync_corr", "identity_mean", "identity_max") if any(k in g for g in got)}
    return {"video_dir": str(video_dir), "videos": rows, "means": sides, "pixel_size": cfg.direct_real_size,
            "same_person_threshold": SAME_PERSON, **({} if embedder is not None else {"identity": f"not measured: {why}"}),
            "notes": "held out: the last pairing.direct_real_holdout of each video; 'real' measures the held-out frames "
                     "themselves (pixel_l1 0 by definition); pixel_l1 at direct_real_size against the held-out crops"}


@cli_main("python -m regen_talkinghead.realdirect")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_talkinghead.realdirect", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a run folder (its direct stage trained with pairing.direct_real=true)")
    p.add_argument("--video-dir", required=True, help="the folder of talking videos with sound (its held-out frames)")
    p.add_argument("--out", required=True, help="JSON file of the measurements")
    args = p.parse_args(argv)
    from regen_core.pipeline import load_run

    from regen_talkinghead import realdirect  # the package's module, not __main__: its class is the loaded model's

    pairing, models = load_run(args.run)
    res = realdirect.evaluate(pairing, models, args.video_dir)
    Path(args.out).write_text(json.dumps(res, indent=2, default=str))
    print(json.dumps(res["means"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
