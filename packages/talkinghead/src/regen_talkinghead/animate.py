"""``python -m regen_talkinghead.animate --audio x.wav --model RUN --out x.mp4``: a talking face for a speech file.

The face is ``--reference face.png`` (a frontal neutral grey face; it is fitted, and a picture the
face model cannot explain is refused with a clear error) or a synthetic face drawn with
``--identity-seed``. Audio at another rate is resampled (soxr) and the conversion is printed;
empty, silent and corrupt files are refused with regen_speech's typed errors. ``--side
direct`` uses the direct baseline; ``--png`` also writes a strip of frames. The MP4 carries the
speech (AAC); if muxing fails the WAV is written beside it and the note says so.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np


class AnimateError(RuntimeError):
    """The run folder lacks a stage the chosen side needs."""


def load_condition(pairing: Any, wav: str, png: str | None, identity_seed: int = 0, verbose: bool = True) -> tuple[dict, list[str]]:
    """X from a speech file and an optional face picture; the list says what was converted."""
    from regen_speech.audio import load_audio

    cfg = pairing.config
    loaded = load_audio(wav, cfg.sample_rate, verbose=verbose)
    notes = list(loaded.notes)
    if png:
        from PIL import Image, UnidentifiedImageError

        p = Path(png)
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such reference picture")
        try:
            img = Image.open(p).convert("L")
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"{p}: cannot read the reference picture ({e})") from None
        if img.size != (cfg.size, cfg.size):
            notes.append(f"reference {p.name} resized {img.size[0]}x{img.size[1]} -> {cfg.size}x{cfg.size}")
            if verbose:
                print(f"[animate] {notes[-1]}")
            img = img.resize((cfg.size, cfg.size), Image.BILINEAR)
        reference = np.asarray(img, dtype=np.uint8)
    else:
        reference = pairing.default_reference(identity_seed)
    return {"audio": loaded.audio, "reference": reference}, notes


def animate(pairing: Any, models: dict, x: dict, *, side: str = "regeneration", seed: int = 0,
            temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
    """(frames (T, size, size) float32, Y' (T, 14) or None for the direct side)."""
    from regen_core.contract import regenerate_pipeline

    if side == "regeneration":
        for s in ("generate", "regenerate"):
            if s not in models:
                raise AnimateError(f"the run has no trained {s} stage (train it, or use --side direct)")
        inf = regenerate_pipeline(x, models["generate"], models["regenerate"], seed=seed, temperature=temperature)
        return np.asarray(inf.y, np.float32), np.asarray(inf.y_prime, np.float32)
    if "direct" not in models:
        raise AnimateError("the run has no trained direct stage")
    return np.asarray(models["direct"].sample(x, seed=seed, temperature=temperature), np.float32), None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_talkinghead.animate", description=__doc__.split("\n\n")[0])
    p.add_argument("--audio", required=True, help="speech file (WAV, FLAC, ...; resampled to the model's rate)")
    p.add_argument("--model", required=True, help="a trained run folder (regen compare / python -m regen_talkinghead.train)")
    p.add_argument("--out", required=True, help="output .mp4 (or .gif)")
    p.add_argument("--reference", help="a frontal neutral grey face picture (default: a synthetic face)")
    p.add_argument("--identity-seed", type=int, default=0, help="seed of the synthetic face when no --reference")
    p.add_argument("--side", choices=("regeneration", "direct"), default="regeneration")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--png", action="store_true", help="also write a PNG strip of frames beside the video")
    args = p.parse_args(argv)
    from regen_core.checkpoint import CheckpointError
    from regen_core.pipeline import PipelineError, load_run
    from regen_speech.audio import AudioError

    from .extract import NoFaceError
    from .video import strip_png, write_gif, write_mp4

    try:
        pairing, models = load_run(args.model)
        x, notes = load_condition(pairing, args.audio, args.reference, args.identity_seed)
        t0 = time.perf_counter()
        frames, y_prime = animate(pairing, models, x, side=args.side, seed=args.seed, temperature=args.temperature)
        seconds = time.perf_counter() - t0
    except (AudioError, NoFaceError, PipelineError, CheckpointError, AnimateError, FileNotFoundError, ValueError) as err:
        print(f"animate: error: {err}", file=sys.stderr)
        return 2
    cfg = pairing.config
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
    print(f"{out}: {len(frames)} frames ({dur:.2f} s of speech, {args.side}, seed {args.seed}) in {seconds:.2f} s; {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
