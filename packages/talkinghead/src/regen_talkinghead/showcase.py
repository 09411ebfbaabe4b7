"""``python -m regen_talkinghead.showcase --out DIR [--model MODEL] [--photo PHOTO]``: a real photo speaking.

A portrait (default: scikit-image's astronaut, a real photograph) animated by the model's speech -> face-motion
generator and the explicit photo renderer, with two voices: a real human voice (FSDD speaker jackson saying a
phone number; skipped with a note where FSDD is not installed) and a sentence spoken by espeak-ng. Each is an
MP4 with the speech and a PNG strip of frames; ``DIR/outputs.md`` lists them with the model's card. ``--model``
defaults to the model this package ships (a real photo uses its trained generator only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


SENTENCE = "Hello! I am a photograph, and a model trained on this computer moves my lips."


def animate_photo(pairing, models, photo, audio: np.ndarray, said: str, path: Path, *, seed: int = 0):
    """``photo`` speaking ``audio``: ``path`` (MP4 with sound) and ``path.png`` (a strip of frames); an Output each."""
    from regen_core.showcase import Output

    from .animate import PhotoAnimator
    from .video import strip_png, write_mp4

    cfg = pairing.config
    animator = PhotoAnimator(pairing, models)
    face = animator.prepare(photo)
    frames, _, _ = animator.run(face, audio, seed=seed)
    mp4, note = write_mp4(path, frames, cfg.fps, audio=audio, sample_rate=cfg.sample_rate)
    png = strip_png(path.with_suffix(".png"), [(photo.name, frames)], n=10, fps=cfg.fps, title=said, width=1.6)
    return [Output(Path(mp4), f"{photo.name} saying {said}: {len(frames)} frames {frames.shape[2]}x{frames.shape[1]} "
                              f"at {cfg.fps} fps ({note})"),
            Output(Path(png), f"10 frames of {Path(mp4).name}")]


def showcase(model: str | Path, out: str | Path, photo_path: str | None = None, *, sentence: str = SENTENCE) -> list:
    from regen_core.data import DataError
    from regen_core.pipeline import load_run
    from regen_speech import espeak
    from skimage import data as skdata

    from .data import phone_number_speech
    from .photo import Photo, load_photo

    out = Path(out)
    pairing, models = load_run(model)
    photo = load_photo(photo_path) if photo_path else Photo(skdata.astronaut(), "astronaut")
    outputs = []
    try:
        audio = phone_number_speech("5550123", "jackson", sample_rate=pairing.config.sample_rate)
        outputs += animate_photo(pairing, models, photo, audio, "5550123 (FSDD speaker jackson, a real voice)",
                                 out / f"{photo.name}_fsdd.mp4")
    except DataError as err:
        print(f"[showcase] no real voice: {err}")
    import soxr

    syn = espeak.synthesize(sentence, "en-us")
    audio = soxr.resample(np.asarray(syn.audio, np.float32), syn.sample_rate, pairing.config.sample_rate).astype(np.float32)
    outputs += animate_photo(pairing, models, photo, audio, f'"{sentence}" (espeak-ng)', out / f"{photo.name}_espeak.mp4")
    return outputs


def main(argv: Sequence[str] | None = None) -> int:
    from regen_core import showcase as sc

    def add_args(p) -> None:
        p.add_argument("--photo", default=None, help="a portrait photo (default: scikit-image's astronaut)")
        p.add_argument("--text", default=SENTENCE, help="the sentence espeak-ng speaks")

    return sc.main(argv, prog="python -m regen_talkinghead.showcase", doc=__doc__, pairing="talkinghead",
                   title="talkinghead: a real photo speaking", add_args=add_args,
                   run=lambda model, out, args: showcase(model, out, args.photo, sentence=args.text))


if __name__ == "__main__":
    raise SystemExit(main())
