"""``python -m regen_tts.align_bench --out DIR [--n 60] [--steps 400] [--config toy]``: how good are the aligner's durations?

LJSpeech-format data has no phoneme timings, so the generator learns durations with the internal
aligner (:mod:`regen_tts.align`). This benchmark measures them against a known answer:

1. writes an LJSpeech-format folder (``DIR/lj``: ``metadata.csv`` + ``wavs/``, no timings) of ``--n``
   WordNet sentences spoken by espeak-ng (``--voice``), whose true phoneme starts espeak reports;
2. trains the ``generate`` stage on it for ``--steps`` steps (``durations`` = aligner);
3. runs the trained aligner + monotonic alignment search on every utterance whose front-end phonemes
   equal espeak's, and compares the phoneme boundaries with the true ones: mean / median error (ms)
   and the share within 2 frames, beside evenly spread durations (the same total) as the baseline.

Writes ``DIR/align_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from regen_core.errors import cli_main


def write_ljspeech(folder: Path, n: int, voice: str, seed: int) -> list[str]:
    """``n`` espeak-ng utterances as an LJSpeech-format folder (22050 Hz); returns the spoken texts."""
    import soundfile as sf

    from regen_speech import espeak
    from regen_speech.sentences import load_sentences, normalize_text, select_sentences

    (folder / "wavs").mkdir(parents=True, exist_ok=True)
    lines, texts = [], []
    for i, s in enumerate(select_sentences(load_sentences("wordnet", max_words=10), n, seed)):
        spoken = normalize_text(s)
        sf.write(folder / "wavs" / f"LJ{i:04d}.wav", espeak.synthesize(spoken, voice).audio, espeak.native_sample_rate())
        lines.append(f"LJ{i:04d}|{s}|{spoken}")
        texts.append(spoken)
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return texts


def boundary_errors(run: Path, voice: str) -> dict:
    """Aligner boundaries vs espeak's, on every split of the trained run's data."""
    import torch

    from regen_core.pipeline import load_model
    from regen_speech import espeak
    from regen_speech.sentences import normalize_text

    from .align import monotonic_alignment_search
    from .extract import durations_from_timings
    from .pairing import collate_tts
    from .text import clean_phonemes

    pairing, _, gen = load_model(run / "generate" / "final")
    gen.eval()
    data, ext = pairing.load_data(), pairing.build("extract")
    frame_rate = pairing.config.sample_rate / pairing.config.hop
    errs, uniform, skipped = [], [], 0
    for split in ("train", "valid", "test"):
        ds = data[split]
        for i, row in enumerate(pairing.generator_rows(ds, ext)):
            syn = espeak.synthesize(normalize_text(ds[i]["x"]["text"]), voice)
            if clean_phonemes(syn.phonemes) != gen.conditioner.vocab.decode(row["phonemes"].tolist()):
                skipped += 1
                continue
            b = collate_tts([row])
            with torch.no_grad():  # as in Backbone.forward_train: encoder states -> aligner -> MAS
                pmask = torch.ones_like(b["phonemes"], dtype=torch.bool)  # (1, P): one utterance, no padding
                h = gen.backbone.encode(b["phonemes"], b["speaker"], pmask)
                log_attn = gen.backbone.aligner(h, b["target"].float(), pmask)  # (1, T, P)
                hard = monotonic_alignment_search(log_attn, b["phonemes_lengths"], b["frames"])
            d = hard.sum(1)[0].long().numpy()  # (P,) frames
            true = durations_from_timings(syn.phoneme_starts, int(b["frames"][0]), frame_rate)
            even = np.diff(np.round(np.linspace(0, d.sum(), len(d) + 1))).astype(int)
            errs.append(np.abs(np.cumsum(d)[:-1] - np.cumsum(true)[:-1]))
            uniform.append(np.abs(np.cumsum(even)[:-1] - np.cumsum(true)[:-1]))
    ms = 1000.0 / frame_rate
    e, u = np.concatenate(errs), np.concatenate(uniform)

    def summary(x: np.ndarray) -> dict:
        return {"mean_ms": float(x.mean() * ms), "median_ms": float(np.median(x) * ms), "within_2_frames": float(np.mean(x <= 2))}

    return {"aligner": summary(e), "even_durations": summary(u), "utterances": len(errs), "boundaries": int(len(e)),
            "skipped_other_phonemes": skipped, "frame_ms": ms}


@cli_main("python -m regen_tts.align_bench")
def main(argv: Sequence[str] | None = None) -> int:
    from . import train

    p = argparse.ArgumentParser(prog="python -m regen_tts.align_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=60, help="utterances of the LJSpeech-format folder")
    p.add_argument("--steps", type=int, default=400, help="generator training steps")
    p.add_argument("--config", default="toy")
    p.add_argument("--voice", default="en-us+f2")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    out = Path(args.out)
    lj, run = out / "lj", out / "run"
    t0 = time.perf_counter()
    if not (lj / "metadata.csv").exists():
        write_ljspeech(lj, args.n, args.voice, args.seed)
    overrides = ["pairing.source=ljspeech", f"pairing.ljspeech_dir={lj}", f"train.generate.max_steps={args.steps}",
                 "train.generate.max_seconds=0", "train.generate.progress=false", *args.overrides]
    if not (run / "generate" / "final").exists():
        code = train.main(["--stage", "generate", "--config", args.config, "--out", str(run), *overrides])
        if code:
            return code
    result = {"n": args.n, "steps": args.steps, "config": args.config, "voice": args.voice, "overrides": overrides,
              **boundary_errors(run, args.voice), "seconds": time.perf_counter() - t0}
    (out / "align_bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
