"""``python -m regen_tts.bench_intelligibility [--model M] [--asr A] --out intel.json``: can a recogniser understand it?

For held-out sentences of the tts test split, three audios of the same sentence and voice: the espeak reference,
the regeneration side's synthesis (X -> Y' -> Y) and the direct baseline's. Each is transcribed by two
recognisers: regen's ASR (``--asr``, default its shipped model; loaded through the registry, so regen-asr must be
installed) and pocketsphinx's bundled US-English model with its language model (PyPI ``pocketsphinx``, a peer
that knows nothing of this project; reported as unavailable when missing). Per recogniser and audio: WER (jiwer,
pooled) against the sentence as it is read aloud (numbers spelt out, lower case, a-z and apostrophes), and
the ratio synthesis / reference (the issue's target: the shipped ASR's WER on regeneration's speech within 1.5x
of its WER on the references).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from regen_core.errors import cli_main


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z']+", " ", text.lower()).split())


def spoken_words(text: str) -> str:
    """``"Hello, 2 dogs!"`` -> ``"hello two dogs"``: the words a recogniser should output."""
    from .text import normalize

    return _words(normalize(text, unknown="drop"))


def regen_recogniser(spec: str) -> tuple[Callable[[np.ndarray, int], str], dict[str, Any]]:
    """regen's ASR (through the registry: tts never imports regen_asr) as ``audio, rate -> text``."""
    from regen_core.contract import regenerate_pipeline
    from regen_core.pretrained import from_pretrained
    from regen_speech.audio import resample

    pairing, models = from_pretrained(spec, "asr")
    rate = pairing.config.sample_rate

    def run(audio: np.ndarray, sr: int) -> str:
        x = resample(audio, sr, rate) if sr != rate else audio
        return str(regenerate_pipeline(x, models["generate"], models["regenerate"], seed=0, temperature=0.0).y)

    return run, {"available": True, "model": spec}


def pocketsphinx_recogniser() -> tuple[Callable[[np.ndarray, int], str] | None, dict[str, Any]]:
    """pocketsphinx's default US-English acoustic model and language model (regen_speech.peers), or None."""
    from regen_speech.peers import PeerMissingError, PocketSphinx

    try:
        peer = PocketSphinx()
    except PeerMissingError as err:
        return None, {"available": False, "reason": str(err)}
    return peer.transcribe, {"available": True, "model": peer.model}


def score(recognise: Callable[[np.ndarray, int], str], audios: dict[str, list[np.ndarray]], refs: list[str], sr: int
          ) -> dict[str, Any]:
    """WER of each audio set (pooled) and its ratio to the reference audio's."""
    import jiwer

    out: dict[str, Any] = {}
    for name, waves in audios.items():
        hyps = [_words(recognise(w, sr)) for w in waves]  # both recognisers' text cleaned as the references are
        out[name] = {"wer": float(jiwer.wer(refs, hyps)), "examples": [{"reference": r, "heard": h} for r, h in zip(refs[:3], hyps[:3])]}
    base = out["espeak_reference"]["wer"]
    for name in audios:
        if name != "espeak_reference":
            out[name]["wer_ratio_to_reference"] = out[name]["wer"] / base if base > 0 else None
    return out


@cli_main("python -m regen_tts.bench_intelligibility")
def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from regen_core.cli_common import add_model_arg, model_folder
    from regen_core.compare import machine_record
    from regen_core.pipeline import load_run

    from .synthesize import synthesize

    p = argparse.ArgumentParser(prog="python -m regen_tts.bench_intelligibility", description=__doc__.split("\n\n")[0])
    add_model_arg(p, "tts")
    p.add_argument("--asr", default="pretrained", help="the regen ASR model (pretrained, a run folder, ...)")
    p.add_argument("--out", required=True, help="JSON file")
    p.add_argument("--n", type=int, default=32, help="held-out sentences")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    folder = model_folder(args.model, "tts")
    pairing, models = load_run(folder)
    test = pairing.load_data()["test"]
    rows = [test[i] for i in range(min(args.n, len(test)))]
    refs = [spoken_words(r["text"]) for r in rows]
    sr = pairing.config.sample_rate
    audios = {"espeak_reference": [np.asarray(r["audio"], np.float32) for r in rows]}
    for side in ("regeneration", "direct"):
        if side == "direct" and "direct" not in models:
            continue
        audios[side] = [np.clip(synthesize(pairing, models, r["text"], r["speaker"], side=side, seed=0)[0], -1, 1) for r in rows]
    result: dict[str, Any] = {"model": str(folder), "n_sentences": len(rows), "machine": machine_record(), "recognisers": {}}
    asr, about = regen_recogniser(args.asr)
    result["recognisers"]["regen_asr"] = {**about, **score(asr, audios, refs, sr)}
    ps, about = pocketsphinx_recogniser()
    result["recognisers"]["pocketsphinx"] = about if ps is None else {**about, **score(ps, audios, refs, sr)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name, rec in result["recognisers"].items():
        if rec.get("available"):
            print(name, {k: round(v["wer"], 3) for k, v in rec.items() if isinstance(v, dict) and "wer" in v})
        else:
            print(name, "unavailable:", rec.get("reason"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
