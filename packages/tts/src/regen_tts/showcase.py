"""``python -m regen_tts.showcase --out DIR [--model MODEL]``: typed sentences spoken by a trained model.

Every sentence in every voice of the model, by both sides: ``DIR/<voice>/<n>_regeneration.wav`` (X -> Y' -> Y)
and ``_direct.wav`` (X -> Y), with a PNG of the generated log-mel Y' above both outputs' log-mels;
``DIR/outputs.md`` lists every file and the model's card (its test-split figures and budgets, for a shipped
model). ``--model`` defaults to the model this package ships.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np


SENTENCES = (
    "Hello there, how are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "Dr. Smith paid $3.50 for 2 apples on the 21st of May.",
)


def showcase(model: str | Path, out: str | Path, sentences: Sequence[str] = SENTENCES, *, seed: int = 0) -> list:
    from regen_core.pipeline import load_run
    from regen_core.showcase import Output
    from regen_speech.audio import save_wav

    from .plots import mel_comparison
    from .synthesize import synthesize

    out = Path(out)
    pairing, models = load_run(model)
    sr, hop_s = pairing.config.sample_rate, pairing.config.hop / pairing.config.sample_rate
    sides = [s for s in ("regeneration", "direct") if s == "regeneration" or "direct" in models]
    outputs = []
    for voice in pairing.speakers:
        for i, text in enumerate(sentences):
            panels = []
            for side in sides:
                t0 = time.perf_counter()
                wave, y_prime = synthesize(pairing, models, text, voice, side=side, seed=seed)
                secs = time.perf_counter() - t0
                path = save_wav(out / voice / f"{i}_{side}.wav", np.clip(np.nan_to_num(wave), -1, 1), sr)
                outputs.append(Output(Path(path), f"{side} side, voice {voice}: \"{text}\" ({len(wave) / sr:.1f} s of audio "
                                                  f"in {secs:.2f} s)"))
                if y_prime is not None and np.asarray(y_prime).dtype.kind == "f":
                    panels.append(("Y' (generated log-mel)", np.asarray(y_prime)))
                panels.append((f"{side} output", pairing.judge.logmel(np.nan_to_num(wave))))
            png = out / voice / f"{i}.png"
            mel_comparison(png, panels, title=f"{voice}: {text}"[:100], hop_s=hop_s)
            outputs.append(Output(png, f"log-mels of sentence {i} in voice {voice}: Y', then each side's output"))
    return outputs


def main(argv: Sequence[str] | None = None) -> int:
    from regen_core import showcase as sc

    return sc.main(argv, prog="python -m regen_tts.showcase", doc=__doc__, pairing="tts",
                   title="tts: typed sentences, every voice, both sides",
                   run=lambda model, out, args: showcase(model, out, args.text or SENTENCES),
                   add_args=lambda p: p.add_argument("--text", action="append",
                                                     help="a sentence to speak (repeatable; default: three built-in ones)"))


if __name__ == "__main__":
    raise SystemExit(main())
