"""The G2P (the extract stage): train it, score it on held-out CMUdict words, look words up.

    python -m regen_asr.g2p train --run RUN [--config bench] [key=value ...]
    python -m regen_asr.g2p eval  --model RUN/extract/final [--n 0]
    python -m regen_asr.g2p words --model RUN/extract/final hello regeneration zyxwv

``train`` trains the neural G2P into ``RUN/extract`` (the same folder ``regen compare`` uses);
``eval`` reports phoneme error rate (PER) and word error rate of the neural G2P alone on the 2%
of CMUdict words held out of its training (decoded as the extractor decodes, or ``--beam N``);
``words`` prints each word's phonemes and whether they came from CMUdict or the neural G2P.
Without ``--model`` an untrained (or dictionary-only) extractor is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any, Sequence

from regen_core.cli_common import add_run_arg, parse
from regen_core.errors import cli_main

from .extract import G2PExtractor, lexicon_split
from .metrics import per, word_error
from .vocab import G2PError, normalise


def evaluate_g2p(extractor: G2PExtractor, n: int = 0, beam: int | None = None) -> dict[str, Any]:
    """PER and word error of the neural G2P on held-out CMUdict words (``n`` > 0: a fixed subset).

    Decoded as the extractor decodes (its ``beam``), or with ``beam`` when given (1 = greedy).
    """
    items = lexicon_split(extractor.settings.stress, "test", n)
    words = [w for w, _ in items]
    settings = extractor.settings
    if beam is not None:
        if beam < 1:
            raise G2PError(f"beam must be at least 1, got {beam}")
        extractor.settings = dataclasses.replace(settings, beam=beam)
    try:
        t0 = time.perf_counter()
        hyps = extractor.predict_words(words)
        seconds = time.perf_counter() - t0
    finally:
        extractor.settings = settings
    refs = [p for _, p in items]
    return {"g2p_per": per(refs, hyps), "g2p_wer": word_error(refs, hyps), "words": len(words),
            "beam": beam if beam is not None else settings.beam, "seconds": round(seconds, 3), "examples": [
                {"word": w, "reference": " ".join(r), "predicted": " ".join(h)} for w, r, h in list(zip(words, refs, hyps))[:10]]}


def load_extractor(model: str | None, config: str | None = None, overrides: Sequence[str] = ()) -> G2PExtractor:
    from regen_core.pipeline import load_model, load_run_config

    if model:
        _, stage, ex = load_model(model)
        if stage != "extract":
            raise G2PError(f"{model} is a {stage!r} model folder, not an extract (G2P) one")
        return ex
    from .pairing import ASRPairing

    cfg = load_run_config(ASRPairing, config, list(overrides))
    return ASRPairing(cfg.pairing).build("extract").eval()


@cli_main("python -m regen_asr.g2p")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_asr.g2p", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sp = sub.add_parser("train", help="train the neural G2P (the extract stage) into RUN/extract")
    add_run_arg(sp, help="run folder (the G2P trains into RUN/extract)", old=("--out",))
    sp.add_argument("--config", "-c", default="bench",
                    help="preset (toy, tiny, bench) or YAML file; default bench, the full G2P recipe. Train every "
                         "stage of a run with the same config")
    sp.add_argument("--resume", action="store_true")
    sp.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    sp.add_argument("overrides", nargs="*", metavar="key=value")
    sp = sub.add_parser("eval", help="PER / word error on held-out CMUdict words")
    sp.add_argument("--model", required=True, help="an extract model folder (RUN/extract/final)")
    sp.add_argument("--n", type=int, default=0, help="score only this many held-out words (0 = all ~2,500)")
    sp.add_argument("--beam", type=int, default=None, help="decode with this beam width (1 = greedy; default: the model's g2p_beam)")
    sp.add_argument("--json", action="store_true", help="print JSON")
    sp = sub.add_parser("words", help="phonemes of words or sentences")
    sp.add_argument("--model", default=None, help="an extract model folder (default: untrained extractor)")
    sp.add_argument("words", nargs="+")
    args = parse(p, argv)
    if args.command == "train":
        import torch

        from regen_core.cli import main as regen_main

        torch.set_num_threads(max(1, args.threads))  # a small model on a shared CPU: single-threaded is faster
        return regen_main(["train", "asr", "--stage", "extract", "--run", args.run, "--config", args.config,
                           *(["--resume"] if args.resume else []), *args.overrides])
    ex = load_extractor(args.model)
    if args.command == "eval":
        res = evaluate_g2p(ex, args.n, args.beam)
        if args.json:
            print(json.dumps(res, indent=2))
        else:
            print(f"neural G2P on {res['words']} held-out CMUdict words (beam {res['beam']}): PER {res['g2p_per']:.2%}, "
                  f"word error {res['g2p_wer']:.2%} ({res['seconds']:.1f} s)")
            for e in res["examples"]:
                print(f"  {e['word']:<16} ref {e['reference']:<28} got {e['predicted']}")
        return 0
    for text in args.words:
        for w in normalise(text).split():
            phones = ex.word_phonemes([w])[0]
            src = "cmudict" if w in ex.lexicon else "neural"
            print(f"{w}\t{' '.join(phones)}\t({src})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
