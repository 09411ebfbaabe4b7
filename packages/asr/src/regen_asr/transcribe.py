"""Transcribe audio files with a trained run: text, and phonemes with timestamps.

    python -m regen_asr.transcribe x.wav [y.flac ...] [--model MODEL] [--direct] [--json] [-v]

``MODEL`` is ``pretrained`` (the default: the model this package ships) or a run folder (``regen compare asr`` /
``python -m regen_asr.train`` output, holding ``generate/final`` and ``regenerate/final``). Any sample rate and channel count is accepted: the
audio is down-mixed and resampled to the model's rate (``-v`` says so). Audio longer than
``pairing.max_window_s`` is decoded in windows cut at pauses. Empty, silent, NaN-holding or
undecodable files are reported as errors naming the file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from .recogniser import TimedToken
from .vocab import WORD_SEP
from regen_core.errors import cli_main


@dataclass
class Transcript:
    text: str  # the regenerated transcript
    phonemes: list[TimedToken]  # Y' with times (word separators included)
    seconds: float  # processing wall time
    audio_seconds: float  # duration of the audio
    direct: str | None = None  # the direct baseline's transcript, when asked for
    notes: list[str] = field(default_factory=list)  # conversions applied when reading the file
    steps: dict[str, float] = field(default_factory=dict)  # wall seconds per step: generate, regenerate, direct

    @property
    def rtf(self) -> float:
        return self.seconds / max(1e-9, self.audio_seconds)


def transcribe_audio(audio: np.ndarray, models: dict[str, Any], *, sample_rate: int, direct: bool = False) -> Transcript:
    """X -> Y' (with timestamps) -> Y for one utterance at the models' rate; windows are decoded one by one."""
    t0 = time.perf_counter()
    gen, p2g = models["generate"], models["regenerate"]
    phonemes: list[TimedToken] = []
    texts: list[str] = []
    t1 = time.perf_counter()
    windows = gen.transcribe_tokens(audio)  # X -> Y': timed phonemes, one list per window
    steps = {"generate": time.perf_counter() - t1}
    t1 = time.perf_counter()
    for window in windows:
        toks = [t.token for t in window]
        # 1. clean separators the CTC may repeat, then 2. regenerate the window's text
        text = p2g.sample([t for i, t in enumerate(toks) if t != WORD_SEP or (0 < i and toks[i - 1] != WORD_SEP)])
        texts.append(text)
        phonemes.extend(window)
    steps["regenerate"] = time.perf_counter() - t1
    result = Transcript(" ".join(t for t in texts if t), phonemes, 0.0, len(audio) / sample_rate, steps=steps)
    if direct:
        if "direct" not in models:
            raise ValueError("this run has no trained direct baseline (direct/final)")
        t1 = time.perf_counter()
        result.direct = models["direct"].sample(audio)
        steps["direct"] = time.perf_counter() - t1
    result.seconds = time.perf_counter() - t0
    return result


@cli_main("python -m regen_asr.transcribe")
def main(argv: Sequence[str] | None = None) -> int:
    from regen_core.cli_common import add_model_arg, model_folder

    p = argparse.ArgumentParser(prog="python -m regen_asr.transcribe", description=__doc__.split("\n\n")[0])
    p.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG, ...)")
    add_model_arg(p, "asr", what=" with generate/final and regenerate/final")
    p.add_argument("--direct", action="store_true", help="also print the direct baseline's transcript")
    p.add_argument("--json", action="store_true", help="print one JSON object per file")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--verbose", "-v", action="store_true", help="report resampling / down-mixing")
    args = p.parse_args(argv)
    import torch

    from regen_core.errors import one_line
    from regen_core.pipeline import PipelineError, load_run
    from regen_speech.audio import AudioError, load_audio

    torch.set_num_threads(max(1, args.threads))
    pairing, models = load_run(model_folder(args.model, "asr"))
    if pairing.name != "asr" or "generate" not in models or "regenerate" not in models:
        raise PipelineError(f"{args.model} is not an asr run with generate/ and regenerate/ stages")
    sr = pairing.config.sample_rate
    if hasattr(models["regenerate"], "warm_up"):
        models["regenerate"].warm_up()  # build the lexicon decoder once, before the first file is timed
    status = 0
    for path in args.audio:
        try:
            loaded = load_audio(path, sr, verbose=args.verbose)
            result = transcribe_audio(loaded.audio, models, sample_rate=sr, direct=args.direct)
            result.notes = list(loaded.notes)
        except AudioError as err:
            print(f"regen: error: {one_line(err)}", file=sys.stderr)  # the other files are still transcribed
            status = 2
            continue
        if args.json:
            print(json.dumps({"file": str(path), **asdict(result), "rtf": result.rtf}))
            continue
        print(f"{path}: {result.text}")
        if result.direct is not None:
            print(f"  direct baseline: {result.direct}")
        print(f"  phonemes ({len(result.phonemes)}), start-end seconds:")
        line = "   "
        for t in result.phonemes:
            item = f" {t.token}@{t.start:.2f}-{t.end:.2f}"
            if len(line) + len(item) > 100:
                print(line)
                line = "   "
            line += item
        print(line)
        print(f"  {result.audio_seconds:.2f} s of audio in {result.seconds:.3f} s (RTF {result.rtf:.3f})")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
