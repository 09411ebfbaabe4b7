"""``python -m regen_tts.demo --out DIR``: the TTS demo of ``make demo``.

1. builds the synthetic 4-speaker corpus of the ``demo`` preset (= ``tiny``'s; espeak-ng, cached);
2. trains both sides at equal CPU budget (generate 25 s + regenerate 15 s vs direct 40 s in the
   ``demo`` preset, ``max_seconds`` each, scaled by ``--budget-scale``), so the whole demo takes
   under 3 minutes on two CPU cores (``--config tiny`` or ``bench`` for longer budgets);
3. evaluates regeneration vs direct on held-out sentences (3 seeds): ``DIR/evaluation/report.md``,
   WAVs and mel PNGs under ``DIR/evaluation/examples``;
4. fine-tunes the vocoder on generator mels (teacher-forced durations) and measures the effect;
5. speaks a new sentence with every speaker, both sides: ``DIR/samples/*.wav`` + ``.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from regen_core.cli_common import EVALUATION_SUBDIR, RUN_SUBDIR, demo_overrides, demo_parser, parse, set_threads
from regen_core.errors import cli_main

DEMO_TEXT = "Dr. Smith bought 3 apples for $2.50 on the 21st of May, and then he walked home."


@cli_main("python -m regen_tts.demo")
def main(argv: Sequence[str] | None = None) -> int:
    p = demo_parser("python -m regen_tts.demo", __doc__, default_config="demo", threads=None)
    p.add_argument("--text", default=DEMO_TEXT, help="the sentence spoken in DIR/samples")
    args = parse(p, argv)
    set_threads(args.threads)
    from regen_core.compare import run_budgets
    from regen_core.evaluate import evaluate
    from regen_core.pipeline import load_run, load_run_config
    from regen_speech.audio import save_wav

    from .bench import train_run
    from .finetune import finetune_vocoder
    from .pairing import TTSPairing
    from .plots import mel_comparison
    from .synthesize import synthesize

    out = Path(args.out)
    t0 = time.perf_counter()
    overrides = demo_overrides(TTSPairing, args)
    # 1-2. Corpus and training (finished stages are kept when the demo is run again).
    print(f"[demo] corpus + training into {out / RUN_SUBDIR} ...", flush=True)
    run = train_run(args.config, out / RUN_SUBDIR, overrides)
    print(f"[demo] corpus + training: {time.perf_counter() - t0:.0f} s", flush=True)
    pairing, models = load_run(run)
    run_cfg = load_run_config(TTSPairing, args.config, overrides)
    # 3. Evaluation.
    print("[demo] evaluating regeneration vs direct ...", flush=True)
    data = pairing.load_data()
    evaluate(pairing, models, data["test"], run_cfg.evaluate, out / EVALUATION_SUBDIR, budgets=run_budgets(run), progress=False)
    print(f"[demo] evaluation done at {time.perf_counter() - t0:.0f} s", flush=True)
    # 4. Vocoder fine-tuning on generator mels.
    effect = None
    if models["regenerate"].__class__.__name__ == "Vocoder":
        ft = run / "regenerate_ft" / "effect.json"
        if ft.exists():
            effect = json.loads(ft.read_text())
        else:
            secs = run_cfg.train.regenerate.max_seconds / 3 or 30.0
            print(f"[demo] fine-tuning the vocoder on generator mels for {secs:.0f} s ...", flush=True)
            effect = finetune_vocoder(run, steps=10_000, seconds=secs, n_eval=run_cfg.evaluate.n_test, data=data, progress=False)
    # 5. A new sentence, every speaker, both sides.
    samples = out / "samples"
    sr = pairing.config.sample_rate
    for spk in pairing.speakers:
        panels = []
        for side in ("regeneration", "direct"):
            wave, _ = synthesize(pairing, models, args.text, spk, side=side, seed=0)
            save_wav(samples / f"{spk}_{side}.wav", np.clip(wave, -1, 1), sr)
            panels.append((f"{side} ({spk})", pairing.judge.logmel(np.nan_to_num(wave))))
        mel_comparison(samples / f"{spk}.png", panels, title=args.text[:100], hop_s=pairing.config.hop / sr)
    report = (out / "evaluation" / "report.md").read_text()
    print(report)
    if effect:
        print("Vocoder fine-tuned on generator mels (same generator samples):")
        print(json.dumps(effect["metrics"], indent=2))
    print(f"[demo] done in {time.perf_counter() - t0:.0f} s: report {out / 'evaluation' / 'report.md'}, "
          f"WAVs + PNGs in {out / 'evaluation' / 'examples'} and {samples}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
