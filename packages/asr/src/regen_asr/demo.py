"""The ASR demo: a small synthetic corpus, tiny models, transcripts from both sides, the comparison report.

    python -m regen_asr.demo --out DIR [--config tiny] [key=value ...]

Steps: 1. build (or reuse) the espeak-ng corpus, speakers held out for test; 2. train the four
stages into ``DIR/run`` (neural G2P, phoneme CTC, text-only P2G, character CTC; generate and
direct with equal budgets) - a few CPU minutes with the ``tiny`` preset; finished stages are
reused when run again;
3. print transcripts of held-out-voice utterances from both sides and every ASR metric
(``DIR/evaluation/asr_report.json``); 4. write regen_core's comparison report
(``DIR/evaluation/report.md``) and one transcription with phoneme timestamps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from regen_core.cli_common import (
    EVALUATION_SUBDIR, RUN_SUBDIR, demo_overrides, demo_parser, parse, set_threads, train_stages,
)
from regen_core.errors import cli_main


@cli_main("python -m regen_asr.demo")
def main(argv: Sequence[str] | None = None) -> int:
    args = parse(demo_parser("python -m regen_asr.demo", __doc__, default_config="tiny"), argv)
    from regen_core.checkpoint import write_json_atomic
    from regen_core.compare import run_budgets
    from regen_core.evaluate import evaluate
    from regen_core.pipeline import load_run, load_run_config
    from regen_speech.audio import save_wav

    from .evaluate import asr_report, summary_lines
    from .pairing import ASRPairing
    from .transcribe import transcribe_audio

    set_threads(args.threads)
    out = Path(args.out)
    run, evaluation = out / RUN_SUBDIR, out / EVALUATION_SUBDIR
    # 1. Corpus and config.
    run_cfg = load_run_config(ASRPairing, args.config, demo_overrides(ASRPairing, args))
    pairing = ASRPairing(run_cfg.pairing)
    print(f"[demo] building / loading the corpus ({run_cfg.pairing.corpus}) ...", flush=True)
    data = pairing.load_data()
    print("[demo] corpus: " + ", ".join(f"{k} {len(v)}" for k, v in data.items())
          + f"; test voices {sorted(set(data['test']['speaker']))}", flush=True)
    # 2. Train every stage into OUT/run (finished ones are kept).
    train_stages(pairing, run_cfg, run, data=data, log=lambda line: print(f"[demo] {line}", flush=True))
    pairing, models = load_run(run)
    # 3. Transcripts from both sides and every ASR metric.
    report = asr_report(pairing, models, data["test"], n=run_cfg.evaluate.n_test, g2p_words=200, examples=8)
    write_json_atomic(evaluation / "asr_report.json", report)
    print("\n".join(summary_lines(report)))
    # 4. The comparison report and one transcription with timestamps.
    evaluate(pairing, models, data["test"], run_cfg.evaluate, evaluation, budgets=run_budgets(run), progress=False)
    ex = data["test"][0]
    wav = evaluation / "example.wav"
    save_wav(wav, ex["audio"], pairing.config.sample_rate)
    tr = transcribe_audio(ex["audio"], models, sample_rate=pairing.config.sample_rate)
    print(f"\n[demo] {wav} ({ex['speaker']}, a voice never heard in training)")
    print(f"  reference:    {ex['text']}\n  regeneration: {tr.text}")
    print("  phonemes:     " + " ".join(f"{t.token}@{t.start:.2f}" for t in tr.phonemes))
    print(f"\n[demo] comparison report: {evaluation / 'report.md'}")
    print(f"[demo] all ASR metrics:   {evaluation / 'asr_report.json'}")
    print(f"[demo] try: python -m regen_asr.transcribe {wav} --model {run} --direct -v")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
