"""Evaluate a trained ASR run on its test split: every ASR metric, both sides, one JSON.

    python -m regen_asr.evaluate [--model MODEL | --run RUN] [--out DIR] [--n 0] [--g2p-words 500]

Reports, on the same test utterances: WER and CER of regeneration (speech -> phonemes -> text)
and of the direct baseline; the generator's PER against the extractor's phonemes; the P2G's WER
from gold phonemes (the regenerator alone); the neural G2P's PER / word error on held-out
CMUdict words; real-time factors. ``regen evaluate --run RUN`` gives the seed-interval report of
regen_core instead.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Sequence

from regen_core.cli_common import EVALUATION_SUBDIR, add_model_arg, add_threads_arg, model_folder, parse, set_threads
from regen_core.errors import cli_main

from .metrics import cer, per, wer


def asr_report(pairing: Any, models: dict[str, Any], test: Any, *, n: int = 0, g2p_words: int = 500,
               examples: int = 5) -> dict[str, Any]:
    """All ASR metrics of ``models`` on the first ``n`` utterances of ``test`` (0 = all)."""
    from regen_core.data import take

    from .g2p import evaluate_g2p

    test = take(test, n)
    audio_ds = test.with_format("numpy", columns=["audio"])
    texts = list(test["text"])
    extractor, gen, p2g = models["extract"], models["generate"], models["regenerate"]
    direct = models.get("direct")
    gold = extractor.extract_many(texts)
    # warm-up (untimed): lazily built decoders and first-call overheads are not part of the real-time factor
    if hasattr(p2g, "warm_up"):
        p2g.warm_up()
    if texts:
        p2g.sample(gen.sample(audio_ds[0]["audio"]))
        if direct is not None:
            direct.sample(audio_ds[0]["audio"])
    rows = []
    secs = {"regeneration": 0.0, "direct": 0.0, "generate": 0.0}
    cpu = {"regeneration": 0.0, "direct": 0.0, "generate": 0.0}  # process CPU time: less sensitive to other jobs
    audio_seconds = 0.0
    for i, ref in enumerate(texts):
        audio = audio_ds[i]["audio"]
        audio_seconds += len(audio) / pairing.config.sample_rate
        c0, t0 = time.process_time(), time.perf_counter()
        y_prime = gen.sample(audio)
        c1, t1 = time.process_time(), time.perf_counter()
        hyp = p2g.sample(y_prime)
        c2, t2 = time.process_time(), time.perf_counter()
        secs["generate"] += t1 - t0
        secs["regeneration"] += t2 - t0
        cpu["generate"] += c1 - c0
        cpu["regeneration"] += c2 - c0
        row = {"reference": ref, "regeneration": hyp, "phonemes": y_prime, "gold_phonemes": gold[i],
               "p2g_from_gold": p2g.sample(gold[i])}
        if direct is not None:
            c0, t0 = time.process_time(), time.perf_counter()
            row["direct"] = direct.sample(audio)
            secs["direct"] += time.perf_counter() - t0
            cpu["direct"] += time.process_time() - c0
        rows.append(row)
    refs = [r["reference"] for r in rows]
    report: dict[str, Any] = {
        "n_test": len(rows),
        "audio_seconds": round(audio_seconds, 3),
        "regeneration": {"wer": wer(refs, [r["regeneration"] for r in rows]),
                         "cer": cer(refs, [r["regeneration"] for r in rows]),
                         "rtf": secs["regeneration"] / audio_seconds,
                         "rtf_cpu": cpu["regeneration"] / audio_seconds},
        "generate_per": per([r["gold_phonemes"] for r in rows], [r["phonemes"] for r in rows]),
        "generate_rtf": secs["generate"] / audio_seconds,
        "generate_rtf_cpu": cpu["generate"] / audio_seconds,
        "p2g_wer_from_gold": wer(refs, [r["p2g_from_gold"] for r in rows]),
        "p2g_cer_from_gold": cer(refs, [r["p2g_from_gold"] for r in rows]),
    }
    if direct is not None:
        report["direct"] = {"wer": wer(refs, [r["direct"] for r in rows]), "cer": cer(refs, [r["direct"] for r in rows]),
                            "rtf": secs["direct"] / audio_seconds, "rtf_cpu": cpu["direct"] / audio_seconds}
    if extractor.g2p is not None and g2p_words:
        g = evaluate_g2p(extractor, g2p_words)
        report["g2p"] = {k: g[k] for k in ("g2p_per", "g2p_wer", "words")}
    report["examples"] = [{k: (" ".join(v) if isinstance(v, list) else v) for k, v in r.items()} for r in rows[:examples]]
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    r, d = report["regeneration"], report.get("direct")
    lines = [f"{report['n_test']} test utterances, {report['audio_seconds']:.1f} s of audio",
             f"regeneration (speech -> phonemes -> text): WER {r['wer']:.2%}  CER {r['cer']:.2%}  RTF {r['rtf']:.3f} (CPU {r['rtf_cpu']:.3f})"]
    if d:
        lines.append(f"direct (speech -> text, CTC chars):        WER {d['wer']:.2%}  CER {d['cer']:.2%}  RTF {d['rtf']:.3f} (CPU {d['rtf_cpu']:.3f})")
    lines.append(f"generator PER {report['generate_per']:.2%}; P2G from gold phonemes: WER {report['p2g_wer_from_gold']:.2%}, "
                 f"CER {report['p2g_cer_from_gold']:.2%}")
    if "g2p" in report:
        g = report["g2p"]
        lines.append(f"neural G2P on {g['words']} held-out CMUdict words: PER {g['g2p_per']:.2%}, word error {g['g2p_wer']:.2%}")
    for e in report["examples"]:
        lines += [f"  ref:   {e['reference']}", f"  regen: {e['regeneration']}"]
        if "direct" in e:
            lines.append(f"  direct: {e['direct']}")
    return lines


@cli_main("python -m regen_asr.evaluate")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_asr.evaluate", description=__doc__.split("\n\n")[0])
    add_model_arg(p, "asr", what=" (generate/, regenerate/, optionally direct/ and extract/)")
    p.add_argument("--out", default=None, help="folder for asr_report.json (default RUN/evaluation; required for a "
                                               "shipped model, whose folder is never written to)")
    p.add_argument("--n", type=int, default=0, help="test utterances (0 = all)")
    p.add_argument("--g2p-words", type=int, default=500, help="held-out CMUdict words for the G2P score (0 = skip)")
    add_threads_arg(p)
    args = parse(p, argv)
    from regen_core.checkpoint import write_json_atomic
    from regen_core.errors import InputError
    from regen_core.pipeline import PipelineError, load_run
    from regen_core.pretrained import PROVENANCE

    set_threads(args.threads)
    run = model_folder(args.model, "asr")
    if (run / PROVENANCE).is_file() and not args.out:
        raise InputError(f"{run} is a packaged model (its folder is not written to): give --out DIR for the report")
    pairing, models = load_run(run)
    if pairing.name != "asr":
        raise PipelineError(f"{run} is a {pairing.name!r} run, not an asr one")
    report = asr_report(pairing, models, pairing.load_data()["test"], n=args.n, g2p_words=args.g2p_words)
    out = Path(args.out or run / EVALUATION_SUBDIR)
    write_json_atomic(out / "asr_report.json", report)
    print("\n".join(summary_lines(report)))
    print(f"report: {out / 'asr_report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
