"""``python -m regen_tts.bench_codec --out DIR [--config zoo] [--codec-run RUN] [--mel-run RUN] [key=value ...]``.

The two Y' of the TTS pairings judged as reconstructions of held-out corpus speech (the test split), on the
same utterances and by the same measures; writes DIR/bench_codec.json:

- ``codec``: the learned EnCodec codec of ``tts-codec`` (waveform -> codes -> waveform), its extract stage
  trained with the preset's ``train.extract`` budget (or taken from ``--codec-run``);
- ``vocoder``: the log-mel of ``tts`` and its neural vocoder (waveform -> log-mel -> waveform), its regenerate
  stage trained with the preset's ``train.regenerate`` budget (or taken from ``--mel-run``);
- ``griffinlim``: the same log-mel inverted by Griffin-Lim (``gl_iters`` iterations), nothing trained.

Measures: LSD (dB, frame-aligned, the log-mel's STFT, :meth:`regen_tts.metrics.Judge.lsd`) and log-mel L1
(natural log, frame-aligned) of each output against its reference, and the real-time factor on one torch
thread: analysis + synthesis (``rtf_roundtrip``) and synthesis from Y' alone (``rtf_synthesis``, what a TTS
pipeline runs). Both sides train from the same preset, so ``train.extract`` = ``train.regenerate`` budgets
compare the codec and the vocoder at equal training compute. Finished training stages under DIR are kept.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from regen_core.errors import cli_main


def _mel_l1(judge: Any, pred: np.ndarray, ref: np.ndarray) -> float:
    a, b = judge.logmel(pred), judge.logmel(ref)
    n = min(len(a), len(b))
    return float(np.mean(np.abs(a[:n] - b[:n])))


def reconstruct(name: str, analyse: Any, synthesise: Any, judge: Any, refs: list[np.ndarray], sample_rate: int) -> dict:
    """LSD / log-mel L1 / real-time factors of ``synthesise(analyse(ref))`` over ``refs`` (one torch thread)."""
    lsd, l1, t_an, t_syn, seconds = [], [], 0.0, 0.0, 0.0
    for ref in refs:
        t0 = time.perf_counter()
        y_prime = analyse(ref)
        t1 = time.perf_counter()
        wave = np.asarray(synthesise(y_prime), np.float32)
        t2 = time.perf_counter()
        t_an, t_syn, seconds = t_an + t1 - t0, t_syn + t2 - t1, seconds + len(wave) / sample_rate
        out, target = wave[: len(ref)], ref[: len(wave)]
        lsd.append(judge.lsd(out, target))
        l1.append(_mel_l1(judge, out, target))
    return {"method": name, "lsd_db": float(np.mean(lsd)), "lsd_db_std": float(np.std(lsd)),
            "logmel_l1": float(np.mean(l1)), "rtf_roundtrip": (t_an + t_syn) / seconds, "rtf_synthesis": t_syn / seconds,
            "audio_seconds": seconds}


def _train(pairing: Any, run_cfg: Any, out: Path, stage: str, data: Any) -> dict:
    from regen_core.compare import train_stages
    from regen_core.pipeline import final_dir, training_record

    train_stages(pairing, run_cfg, out, data=data, stages=(stage,), log=None)  # a finished stage is kept
    return training_record(final_dir(out, stage))


@cli_main("python -m regen_tts.bench_codec")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_tts.bench_codec", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for bench_codec.json and the trained stages")
    p.add_argument("--config", "-c", default="bench", help="preset of both pairings (default bench)")
    p.add_argument("--codec-run", help="a tts-codec run folder whose extract stage is the codec (else trained here)")
    p.add_argument("--mel-run", help="a tts run folder whose regenerate stage is the vocoder (else trained here)")
    p.add_argument("--n", type=int, default=16, help="held-out utterances (first N of the test split)")
    p.add_argument("--threads", type=int, default=1, help="torch threads while timing")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)

    from regen_core import compare
    from regen_core.pipeline import final_dir, load_extractor, load_model, load_run_config, training_record

    from .codec import CodecDecoder
    from .pairing import TTSCodecPairing, TTSPairing
    from .regenerate import GriffinLim

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    # 1. Both pairings from one preset: the same corpus, split and log-mel judge.
    codec_cfg = load_run_config(TTSCodecPairing, args.config, args.overrides)
    mel_cfg = load_run_config(TTSPairing, args.config, args.overrides)
    codec_pairing, mel_pairing = TTSCodecPairing(codec_cfg.pairing), TTSPairing(mel_cfg.pairing)
    data = mel_pairing.load_data()
    refs = [np.asarray(data["test"][i]["audio"], np.float32) for i in range(min(args.n, len(data["test"])))]
    # 2. The codec (extract stage of tts-codec) and the vocoder (regenerate stage of tts), trained or given.
    codec_run = Path(args.codec_run) if args.codec_run else out / "codec-run"
    codec_train = training_record(final_dir(codec_run, "extract")) if args.codec_run else \
        _train(codec_pairing, codec_cfg, codec_run, "extract", data)
    codec = load_extractor(codec_pairing, codec_run)
    decoder = CodecDecoder(codec).eval()
    mel_run = Path(args.mel_run) if args.mel_run else out / "mel-run"
    mel_train = training_record(final_dir(mel_run, "regenerate")) if args.mel_run else \
        _train(mel_pairing, mel_cfg, mel_run, "regenerate", data)
    _, _, vocoder = load_model(final_dir(mel_run, "regenerate"), pairing=mel_pairing)
    mel_ext = mel_pairing.build("extract")
    gl = GriffinLim(mel_pairing.log_mel(), mel_pairing.config.gl_iters)
    # 3. The same held-out utterances through each; one judge.
    judge, sr = mel_pairing.judge, mel_pairing.config.sample_rate
    results = {
        "codec": reconstruct("codec", codec.extract, decoder.sample, judge, refs, sr),
        "vocoder": reconstruct("vocoder", mel_ext.extract, vocoder.sample, judge, refs, sr),
        "griffinlim": reconstruct(f"griffinlim-{gl.n_iter}", mel_ext.extract, gl.sample, judge, refs, sr),
    }
    results["codec"].update({
        "parameters": sum(p.numel() for p in codec.parameters()), "n_q": codec.n_q, "codebook_size": codec.codebook_size,
        "frame_rate": codec.frame_rate, "kbps": codec.bandwidth, "training": codec_train, "run": str(codec_run)})
    results["vocoder"].update({"parameters": sum(p.numel() for p in vocoder.parameters()), "training": mel_train,
                               "run": str(mel_run)})
    report = {
        "config": args.config, "overrides": list(args.overrides), "n_utterances": len(refs), "split": "test (held-out corpus)",
        "threads": args.threads, "loadavg_at_end": list(os.getloadavg()), "machine": compare.machine_record(),
        "results": results,
        "codec_beats_vocoder_lsd": results["codec"]["lsd_db"] < results["vocoder"]["lsd_db"],
        "codec_beats_griffinlim_lsd": results["codec"]["lsd_db"] < results["griffinlim"]["lsd_db"],
    }
    (out / "bench_codec.json").write_text(json.dumps(report, indent=2))
    for k, r in results.items():
        print(f"{k:10s} LSD {r['lsd_db']:.2f} dB  log-mel L1 {r['logmel_l1']:.3f}  RTF synthesis {r['rtf_synthesis']:.4f}"
              f"  round trip {r['rtf_roundtrip']:.4f}")
    print(f"-> {out / 'bench_codec.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
