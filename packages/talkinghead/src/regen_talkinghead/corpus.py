"""``python -m regen_talkinghead.corpus [--config tiny] [--preview DIR] [key=value ...]``: build the synthetic corpus.

Synthesises the espeak-ng speech corpus (``regen_speech``), renders every utterance's face
video from its phoneme timings (visemes) and its random head motion, blinks and brows, and saves
it under ``$REGEN_CACHE/talkinghead/<key>`` (``datasets.save_to_disk``); later runs reuse it.
``--preview DIR`` writes MP4s (with the speech) and PNG strips of the first utterances.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

from regen_core.errors import cli_main


@cli_main("python -m regen_talkinghead.corpus")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_talkinghead.corpus", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="tiny", help="preset or YAML whose pairing.* options define the corpus")
    p.add_argument("--preview", help="folder for MP4s and PNG strips of the first utterances")
    p.add_argument("--n-preview", type=int, default=3)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. pairing.corpus_n=400")
    args = p.parse_args(argv)
    from regen_core.pipeline import load_run_config

    from . import data as th_data
    from .extract import to_unit
    from .pairing import TalkingHeadPairing

    cfg = load_run_config(TalkingHeadPairing, args.config, args.overrides).pairing
    t0 = time.perf_counter()
    folder = th_data.corpus_folder(cfg)
    ds = th_data.load_corpus(cfg).with_format("numpy")
    frames = sum(len(v) for v in ds["true_y_prime"])
    print(f"{folder}: {len(ds)} utterances, {frames} frames ({frames / cfg.fps / 60:.1f} min at {cfg.fps} fps, "
          f"{cfg.size}x{cfg.size}), ready in {time.perf_counter() - t0:.1f} s")
    if args.preview:
        from .video import strip_png, write_mp4

        out = Path(args.preview)
        for i in range(min(args.n_preview, len(ds))):
            ex = ds[i]
            video = to_unit(ex["video"])
            _, note = write_mp4(out / f"{ex['id']}.mp4", video, cfg.fps, audio=ex["x"]["audio"], sample_rate=cfg.sample_rate)
            strip_png(out / f"{ex['id']}.png", [("video", video)], fps=cfg.fps, title=str(ex["text"]))
            print(f"  {out / (str(ex['id']) + '.mp4')} ({note}): {ex['text']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
