"""``python -m regen_tts.bench [--quick] --out DIR [--run RUN] [--config tiny]``: writes DIR/bench.json.

Quick (about a minute, no training), measured side by side on the same audio:

1. log-mel extraction (batched ``torch.stft`` + librosa filterbank) vs ``librosa.feature.melspectrogram``
   with the same settings: time ratio and the largest log-mel difference;
2. our Griffin-Lim vs ``librosa.griffinlim`` at equal iterations (32) on the true STFT magnitude:
   time ratio and the LSD of both to the reference;
3. neural-vocoder real-time factor (the vocoder of ``--run``, else an untrained one of the preset's size);
4. end-to-end text -> waveform real-time factor (``--run``'s models, or untrained ones run with
   the reference phoneme durations so the output has a realistic length);
5. ONNX: the same models exported (:mod:`regen_tts.export`), max abs log-mel / waveform difference
   to PyTorch on held-out sentences, and text -> waveform RTF of PyTorch vs onnxruntime, one thread each.

Full (adds, in about 10 CPU minutes at the tiny preset): train both sides at equal CPU budget
(or use ``--run``) and evaluate regeneration vs direct on held-out corpus sentences, 3 seeds;
vocoder vs 32-iteration Griffin-Lim LSD on held-out corpus speech and on FSDD test takes (a vocoder
trained on FSDD train audio alone); the effect of fine-tuning the vocoder on generator mels.
Targets checked: end-to-end RTF <= 0.1; vocoder LSD < Griffin-Lim-32 LSD (corpus and FSDD);
regeneration MCD < direct MCD.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from regen_core.errors import cli_main
from regen_core import compare


def _timeit(fn, repeat: int = 3, before=None) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` (``before`` runs untimed before each call)."""
    best = float("inf")
    for _ in range(repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_mel(pairing: Any, waves: list[np.ndarray]) -> dict:
    import librosa

    cfg = pairing.config
    ext = pairing.build("extract")
    ours = _timeit(lambda: ext.extract_batch(waves))
    lib = _timeit(lambda: [librosa.feature.melspectrogram(y=w, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop,
                                                          win_length=cfg.win, n_mels=cfg.n_mels, fmin=cfg.fmin,
                                                          fmax=cfg.mel_fmax, power=1.0, center=True, pad_mode="reflect")
                           for w in waves])
    diffs = []
    for w, m in zip(waves, ext.extract_batch(waves)):
        ref = librosa.feature.melspectrogram(y=w, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop, win_length=cfg.win,
                                             n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.mel_fmax, power=1.0, pad_mode="reflect")
        diffs.append(float(np.abs(np.log(np.maximum(ref.T, 1e-5)) - m).max()))
    audio_s = sum(len(w) for w in waves) / cfg.sample_rate
    return {"ours_seconds": ours, "librosa_seconds": lib, "time_ratio_ours_over_librosa": ours / lib,
            "max_abs_logmel_difference": max(diffs), "audio_seconds": audio_s, "n_utterances": len(waves)}


def bench_griffinlim(pairing: Any, waves: list[np.ndarray], n_iter: int = 32) -> dict:
    import librosa

    from .regenerate import GriffinLim

    cfg = pairing.config
    gl = GriffinLim(pairing.log_mel(), n_iter)
    judge = pairing.judge
    mags = [gl.mel.magnitude(torch.from_numpy(w)[None])[0] for w in waves]  # (F, T) each
    outs_ours: list[np.ndarray] = []
    outs_lib: list[np.ndarray] = []
    t_ours = _timeit(lambda: outs_ours.__setitem__(slice(None), [gl.invert(m, n_iter).numpy() for m in mags]), 1)
    t_lib = _timeit(lambda: outs_lib.__setitem__(slice(None), [
        librosa.griffinlim(m.numpy(), n_iter=n_iter, hop_length=cfg.hop, win_length=cfg.win, n_fft=cfg.n_fft,
                           momentum=0.99, init=None, length=(m.shape[1] - 1) * cfg.hop) for m in mags]), 1)
    lsd_ours = float(np.mean([judge.lsd(o, w[: len(o)]) for o, w in zip(outs_ours, waves)]))
    lsd_lib = float(np.mean([judge.lsd(o, w[: len(o)]) for o, w in zip(outs_lib, waves)]))
    # From the log-mel (what the regenerator actually gets): pseudo-inverse of the filterbank first.
    ext = pairing.build("extract")
    lsd_mel = float(np.mean([judge.lsd(o, w[: len(o)]) for w in waves for o in [gl.sample(ext.extract(w))]]))
    return {"n_iter": n_iter, "ours_seconds": t_ours, "librosa_seconds": t_lib, "time_ratio_ours_over_librosa": t_ours / t_lib,
            "lsd_ours_db": lsd_ours, "lsd_librosa_db": lsd_lib, "lsd_ours_from_logmel_db": lsd_mel,
            "init": "zero phase (both)"}


def bench_rtf(pairing: Any, models: dict, test: Any, n: int, trained: bool) -> dict:
    """Vocoder RTF on reference mels; end-to-end text -> wave RTF (predicted durations when trained)."""
    from .generate import make_generator

    cfg = pairing.config
    ext = models["extract"]
    voc, gen = models["regenerate"], models["generate"]
    voc_t, e2e_t, audio_voc, audio_e2e = 0.0, 0.0, 0, 0

    def e2e(i: int, ex: dict, mel: np.ndarray) -> np.ndarray:
        if trained:
            return voc.sample(gen.sample(ex["x"], seed=i))
        # untrained duration predictor: use the reference durations so the output has a real length
        from .extract import durations_from_timings

        ids = gen.conditioner.vocab.encode(list(ex["phonemes"]))
        d = torch.as_tensor(durations_from_timings(ex["phoneme_starts"], len(mel), cfg.sample_rate / cfg.hop))
        with torch.no_grad():
            x, _ = gen.backbone.infer(ids, gen.conditioner.speaker_id(ex["speaker"]), make_generator(i), 0.5, durations=d)
            return voc.sample(gen._mel(x)[1][0].numpy())

    from .text import _espeak_clause

    n_done = min(n, len(test))
    for i in range(n_done):
        ex = test[i]
        mel = ext.extract(np.asarray(ex["audio"], np.float32))
        w = voc.sample(mel)  # warm-up
        voc_t += _timeit(lambda: voc.sample(mel))
        audio_voc += len(w)
        w = e2e(i, ex, mel)  # warm-up (the first call of a speaker loads its espeak voice)
        e2e_t += _timeit(lambda: e2e(i, ex, mel), before=_espeak_clause.cache_clear)  # G2P timed too
        audio_e2e += len(w)
    sr = cfg.sample_rate
    return {"vocoder_rtf": voc_t / (audio_voc / sr), "end_to_end_rtf": e2e_t / (audio_e2e / sr),
            "n_utterances": n_done, "models": "trained" if trained else "untrained (reference durations)",
            "timing": "wall clock, best of 3 per utterance after one warm-up call; end to end includes the text "
                      "front-end (its phoneme cache is cleared before every timed call)",
            "threads": torch.get_num_threads(), "target_end_to_end_rtf": 0.1}


def bench_onnx(pairing: Any, models: dict, folder: Path, trained: bool) -> dict:
    """Export ``models`` to ``folder``; parity (max abs differences) and RTF, PyTorch vs onnxruntime, one thread."""
    from regen_core.onnx_export import OnnxExportError

    from .export import export_models, rtf
    from .onnx_backend import OnnxError

    try:
        manifest = export_models(pairing, {k: v for k, v in models.items() if k in ("generate", "regenerate", "direct")},
                                 folder)
    except (OnnxError, OnnxExportError) as err:  # the onnx extra is missing, or a regenerator that does not export: recorded, not hidden
        return {"skipped": str(err)}
    speed = rtf(pairing, models, folder)
    return {**speed, "parity": manifest["parity"], "opset": manifest["opset"], "graphs": sorted(manifest["graphs"]),
            "models": "trained" if trained else "untrained (predicted durations: about one frame per phoneme)"}


def vocoder_vs_griffinlim(pairing: Any, vocoder: Any, test: Any, n: int, n_iter: int = 32,
                          band_hz: float | None = None) -> dict:
    """LSD (frame-aligned) of the vocoder and of Griffin-Lim-n_iter from the same reference log-mels.

    Both outputs have (frames - 1) * hop samples from the same log-mel; each is judged by the same
    :meth:`Judge.lsd` (the log-mel's STFT, power floor 1e-10) against the reference cut to its
    length. ``band_hz`` adds the LSD over the bins at or below that frequency (e.g. the Nyquist
    frequency of audio recorded at a lower rate, whose upper band is empty after resampling).
    """
    from .regenerate import GriffinLim

    ext = pairing.build("extract")
    gl = GriffinLim(pairing.log_mel(), n_iter)
    v, g, vb, gb = [], [], [], []
    for i in range(min(n, len(test))):
        ref = np.asarray(test[i]["audio"], np.float32)
        mel = ext.extract(ref)
        wv, wg = vocoder.sample(mel), gl.sample(mel)
        v.append(pairing.judge.lsd(wv, ref[: len(wv)]))
        g.append(pairing.judge.lsd(wg, ref[: len(wg)]))
        if band_hz:
            vb.append(pairing.judge.lsd(wv, ref[: len(wv)], max_hz=band_hz))
            gb.append(pairing.judge.lsd(wg, ref[: len(wg)], max_hz=band_hz))
    out = {"vocoder_lsd_db": float(np.mean(v)), "griffinlim_lsd_db": float(np.mean(g)), "griffinlim_iters": n_iter,
           "n_utterances": len(v), "vocoder_beats_griffinlim": bool(np.mean(v) < np.mean(g)),
           "lsd": "frame-aligned, same STFT (n_fft/hop/win of the log-mel), reference cut to the output length"}
    if band_hz:
        out.update({"band_hz": band_hz, "vocoder_lsd_db_in_band": float(np.mean(vb)),
                    "griffinlim_lsd_db_in_band": float(np.mean(gb)),
                    "vocoder_beats_griffinlim_in_band": bool(np.mean(vb) < np.mean(gb))})
    return out


def train_run(config: str, out: Path, overrides: Sequence[str]) -> Path:
    """Train every stage of the ``tts`` pairing with ``config`` into ``out`` (finished stages are kept)."""
    from regen_core.compare import train_stages
    from regen_core.pipeline import load_run_config

    from .pairing import TTSPairing

    run_cfg = load_run_config(TTSPairing, config, list(overrides))
    train_stages(TTSPairing(run_cfg.pairing), run_cfg, out, log=None)
    return out


def train_fsdd_vocoder(pairing_cfg: Any, tcfg: Any, out: Path) -> tuple[Any, Any]:
    """A vocoder trained on FSDD train audio alone (resampled to the pairing's rate); returns (pairing, vocoder)."""
    import dataclasses

    from regen_core.config import run_config_class
    from regen_core.pipeline import load_model

    from .pairing import TTSPairing

    cfg = dataclasses.replace(pairing_cfg, source="fsdd", durations="aligner")
    pairing = TTSPairing(cfg)
    run_cfg = run_config_class(TTSPairing.config_class)(pairing=cfg)
    run_cfg = dataclasses.replace(run_cfg, train=dataclasses.replace(run_cfg.train, regenerate=tcfg))
    data = pairing.load_data()
    compare.train_stages(pairing, run_cfg, out, data=data, stages=("regenerate",), log=None)  # kept when finished
    _, _, vocoder = load_model(out / "regenerate" / "final", pairing=pairing)
    return pairing, vocoder, data


@cli_main("python -m regen_tts.bench")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_tts.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="no training: extraction, Griffin-Lim and RTF only")
    p.add_argument("--out", required=True, help="folder for bench.json (and the full run's models)")
    p.add_argument("--run", help="a trained tts run folder to measure (skips training in the full bench)")
    p.add_argument("--config", default="bench", help="preset or YAML for the data and models (default bench: tiny models, longer budgets)")
    p.add_argument("--n", type=int, default=8, help="utterances per measurement")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    p.add_argument("--skip-fsdd", action="store_true", help="full bench: skip the FSDD vocoder")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. pairing.corpus_n=200")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from regen_core.pipeline import load_run, load_run_config

    from .pairing import TTSPairing

    t_start, cpu_start = time.perf_counter(), compare.cpu_seconds()
    result: dict[str, Any] = {"machine": compare.machine_record(),
                              "quick": args.quick, "config": args.config, "overrides": list(args.overrides)}
    # 0. Data and models.
    if args.run:
        pairing, models = load_run(args.run)
        run_dir: Path | None = Path(args.run)
    else:
        run_cfg = load_run_config(TTSPairing, args.config, args.overrides)
        pairing = TTSPairing(run_cfg.pairing)
        run_dir = None
    data = pairing.load_data()
    test = data["test"]
    waves = [np.asarray(test[i]["audio"], np.float32) for i in range(min(args.n, len(test)))]
    # 1-2. Extraction and Griffin-Lim against librosa.
    result["mel_extraction"] = bench_mel(pairing, waves)
    result["griffinlim"] = bench_griffinlim(pairing, waves)
    print(json.dumps({k: result[k] for k in ("mel_extraction", "griffinlim")}, indent=2))
    # 3-4. Real-time factors.
    if not args.quick and run_dir is None:
        run_dir = train_run(args.config, out / "run", args.overrides)
        pairing, models = load_run(run_dir)
    if run_dir is None:
        torch.manual_seed(0)
        ext = pairing.build("extract")
        models = {"extract": ext, "generate": pairing.build("generate", ext).eval(),
                  "regenerate": pairing.build("regenerate", ext).eval()}
    result["rtf"] = bench_rtf(pairing, models, test, args.n, trained=run_dir is not None)
    result["rtf"]["meets_target"] = result["rtf"]["end_to_end_rtf"] <= 0.1
    print(json.dumps(result["rtf"], indent=2))
    # 5. ONNX: the same models exported, parity with PyTorch and text -> waveform RTF, one thread each.
    result["onnx"] = bench_onnx(pairing, models, out / "onnx", trained=run_dir is not None)
    print(json.dumps(result["onnx"], indent=2))
    if not args.quick:
        from regen_core.config import build_config, run_config_class
        from regen_core.evaluate import evaluate

        # 5. Regeneration vs direct, 3 seeds, equal budget (report.json has both budgets).
        run_json = json.loads((run_dir / "run_config.json").read_text())
        rcfg = build_config(run_config_class(TTSPairing.config_class), values=run_json,
                            overrides=["evaluate.seeds=[0,1,2]"])
        report = evaluate(pairing, models, test, rcfg.evaluate, out / "evaluation", budgets=compare.run_budgets(run_dir), progress=False)
        table = {m["name"]: {"regeneration": m["regeneration"]["mean"], "direct": m["direct"]["mean"], "winner": m.get("winner")}
                 for m in report["metrics"] if m.get("regeneration") and m.get("direct")}
        result["regeneration_vs_direct"] = {"metrics": table, "budgets": report["budgets"], "seeds": [0, 1, 2],
                                            "n_test": rcfg.evaluate.n_test,
                                            "regeneration_beats_direct_on_mcd": table["mcd"]["regeneration"] < table["mcd"]["direct"]}
        print(json.dumps(result["regeneration_vs_direct"]["metrics"], indent=2))
        # 6. Vocoder vs Griffin-Lim-32 on held-out corpus speech.
        if "regenerate" in models and models["regenerate"].__class__.__name__ == "Vocoder":
            result["vocoder_vs_griffinlim_corpus"] = vocoder_vs_griffinlim(pairing, models["regenerate"], test, args.n)
            print(json.dumps(result["vocoder_vs_griffinlim_corpus"], indent=2))
            # 7. Fine-tuning on generator mels.
            from .finetune import finetune_vocoder

            seconds = run_cfg_seconds(run_json)
            result["vocoder_finetune_gta"] = finetune_vocoder(run_dir, steps=10_000, seconds=seconds, n_eval=args.n,
                                                              data=data, progress=False) \
                if not (run_dir / "regenerate_ft" / "effect.json").exists() else \
                json.loads((run_dir / "regenerate_ft" / "effect.json").read_text())
            print(json.dumps(result["vocoder_finetune_gta"], indent=2))
        # 8. FSDD: a vocoder trained on FSDD train audio alone, judged on the test takes.
        if not args.skip_fsdd:
            try:
                tcfg = rcfg.train.regenerate
                fp, fvoc, fdata = train_fsdd_vocoder(pairing.config, tcfg, out / "fsdd_vocoder")
                # FSDD is recorded at 8 kHz: also judged below its 4 kHz Nyquist frequency
                result["vocoder_vs_griffinlim_fsdd"] = vocoder_vs_griffinlim(fp, fvoc.eval(), fdata["test"], max(args.n, 25),
                                                                             band_hz=4000.0)
            except FileNotFoundError as err:
                result["vocoder_vs_griffinlim_fsdd"] = {"skipped": str(err)}
            print(json.dumps(result["vocoder_vs_griffinlim_fsdd"], indent=2))
    result["bench_seconds"] = time.perf_counter() - t_start
    result["bench_cpu_seconds"] = compare.cpu_seconds() - cpu_start  # user + system, this process and its children
    result["machine"]["load_average_end"] = compare.load_average()  # 1, 5 and 15 minute load averages
    (out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'bench.json'}")
    return 0


def run_cfg_seconds(run_json: dict) -> float:
    """Fine-tuning budget: a third of the vocoder's own training time cap (60 s when uncapped)."""
    s = float(run_json["train"]["regenerate"].get("max_seconds") or 0)
    return s / 3 if s > 0 else 60.0


if __name__ == "__main__":
    raise SystemExit(main())
