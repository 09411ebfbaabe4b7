"""The ASR demo: a small synthetic corpus, tiny models, transcripts from both sides, the comparison report.

    python -m regen_asr.demo --out DIR [--config tiny] [key=value ...]

Steps: 1. build (or reuse) the espeak-ng corpus, speakers held out for test; 2. train the four
stages (neural G2P, phoneme CTC, text-only P2G, character CTC; generate and direct with equal
budgets) - a few CPU minutes with the ``tiny`` preset; finished stages are reused when run again;
3. print transcripts of held-out-voice utterances from both sides and every ASR metric
(``DIR/evaluation/asr_report.json``); 4. write regen_core's comparison report
(``DIR/evaluation/report.md``) and one transcription with phoneme timestamps.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence
from regen_core.errors import cli_main


@cli_main("regen")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_asr.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--config", "-c", default="tiny", help="preset or YAML (default tiny)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    import torch

    from regen_core.checkpoint import write_json_atomic
    from regen_core.evaluate import evaluate, run_budgets
    from regen_core.pipeline import final_dir, load_run, load_run_config, train_stage
    from regen_core.speech.audio import save_wav

    from .evaluate import asr_report, summary_lines
    from .pairing import ASRPairing
    from .transcribe import transcribe_audio

    torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    # 1. Corpus and config.
    run_cfg = load_run_config(ASRPairing, args.config, args.overrides)
    pairing = ASRPairing(run_cfg.pairing)
    print(f"[demo] building / loading the corpus ({run_cfg.pairing.corpus}) ...", flush=True)
    data = pairing.load_data()
    print(f"[demo] corpus: " + ", ".join(f"{k} {len(v)}" for k, v in data.items())
          + f"; test voices {sorted(set(data['test']['speaker']))}", flush=True)
    # 2. Train every stage (finished ones are kept).
    for stage in ("extract", "generate", "regenerate", "direct"):
        if final_dir(out, stage).exists():
            print(f"[demo] {stage}: already trained, reusing {final_dir(out, stage)}")
            continue
        rec = train_stage(pairing, stage, run_cfg, out, data=data)
        print(f"[demo] {stage}: {rec.steps} steps, {rec.seconds:.0f} s, {rec.parameters} parameters", flush=True)
    pairing, models = load_run(out)
    # 3. Transcripts from both sides and every ASR metric.
    report = asr_report(pairing, models, data["test"], n=run_cfg.evaluate.n_test, g2p_words=200, examples=8)
    write_json_atomic(out / "evaluation" / "asr_report.json", report)
    print("\n".join(summary_lines(report)))
    # 4. The comparison report and one transcription with timestamps.
    evaluate(pairing, models, data["test"], run_cfg.evaluate, out / "evaluation", budgets=run_budgets(out),
             progress=False)
    ex = data["test"][0]
    wav = out / "evaluation" / "example.wav"
    save_wav(wav, ex["audio"], pairing.config.sample_rate)
    tr = transcribe_audio(ex["audio"], models, sample_rate=pairing.config.sample_rate)
    print(f"\n[demo] {wav} ({ex['speaker']}, a voice never heard in training)")
    print(f"  reference:    {ex['text']}\n  regeneration: {tr.text}")
    print("  phonemes:     " + " ".join(f"{t.token}@{t.start:.2f}" for t in tr.phonemes))
    print(f"\n[demo] comparison report: {out / 'evaluation' / 'report.md'}")
    print(f"[demo] all ASR metrics:   {out / 'evaluation' / 'asr_report.json'}")
    print(f"[demo] try: python -m regen_asr.transcribe {wav} --model {out} --direct -v")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
