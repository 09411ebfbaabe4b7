"""Fine-tune the vocoder on generator-predicted mels (teacher-forced durations) and measure the effect.

A vocoder trained on mels extracted from real audio meets smoother, slightly wrong mels at
inference (the generator's). Fine-tuning on *ground-truth-aligned* (GTA) mels - the generator
run with the target durations, pitch and energy, so frames line up with the real audio - teaches
the vocoder the generator's errors while the target is still the real waveform.

    python -m regen_tts.finetune --run RUN [--steps 200] [--seconds 60] [--n-eval 8]

trains ``RUN/regenerate_ft`` (the core trainer) and writes ``RUN/regenerate_ft/effect.json``:
regeneration metrics on the test split with the original and the fine-tuned vocoder (same
generator samples, same seeds). The fine-tuned folder loads like any model folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from regen_core.contract import StageData

from .regenerate import crop_batch
from regen_core.errors import cli_main


@torch.no_grad()
def gta_rows(pairing: Any, generator: Any, ds: Any, extractor: Any, batch_size: int = 8) -> list[dict]:
    """Rows ``{"audio", "mel_in"}``: the real audio and the generator's teacher-forced mel for it."""
    from .pairing import collate_tts

    rows = pairing.generator_rows(ds, extractor)
    audio = pairing._audio(ds)
    generator.eval()
    out = []
    for s in range(0, len(rows), batch_size):
        batch = collate_tts(rows[s : s + batch_size])
        mels = generator.teacher_forced(batch)
        for k, mel in enumerate(mels):
            out.append({"audio": audio[s + k], "mel_in": mel.astype(np.float32)})
    return out


def evaluate_vocoders(pairing: Any, generator: Any, vocoders: dict[str, Any], test: Any, n: int,
                      seeds: Sequence[int] = (0,)) -> dict[str, dict[str, float]]:
    """Mean regeneration metrics per vocoder on the first ``n`` test examples (shared generator samples)."""
    scores: dict[str, list[dict]] = {k: [] for k in vocoders}
    for seed in seeds:
        for i in range(min(n, len(test))):
            ex = test[i]
            mel = generator.sample(ex["x"], seed=seed * 1000 + i)
            ref = np.asarray(ex["audio"], np.float32)
            for name, voc in vocoders.items():
                scores[name].append(pairing.metrics(voc.sample(mel), ref))
    return {k: {m: float(np.mean([r[m] for r in v])) for m in v[0]} for k, v in scores.items()}


def finetune_vocoder(run: str | Path, *, steps: int = 200, seconds: float = 60.0, n_eval: int = 8,
                     lr: float = 5e-4, data: Any = None, progress: bool = True) -> dict[str, Any]:
    """Fine-tune ``RUN/regenerate/final`` on GTA mels into ``RUN/regenerate_ft``; return the measured effect."""
    from regen_core.runlock import run_lock

    with run_lock(run):  # it writes RUN/regenerate_ft: one writer per run folder
        return _finetune_vocoder(Path(run), steps=steps, seconds=seconds, n_eval=n_eval, lr=lr, data=data,
                                 progress=progress)


def _finetune_vocoder(run: Path, *, steps: int, seconds: float, n_eval: int, lr: float, data: Any,
                      progress: bool) -> dict[str, Any]:
    from regen_core import checkpoint as ckpt
    from regen_core.pipeline import PipelineError, load_run, saved_config
    from regen_core.trainer import train

    pairing, models = load_run(run)
    if pairing.name != "tts" or "generate" not in models or "regenerate" not in models:
        raise PipelineError(f"{run}: fine-tuning needs a 'tts' run with trained generate and regenerate stages")
    from .regenerate import Vocoder

    if not isinstance(models["regenerate"], Vocoder):
        raise PipelineError(f"{run}: the regenerator is not a neural vocoder (pairing.vocoder='griffinlim'?)")
    data = data if data is not None else pairing.load_data()
    # 1. GTA mels for train and valid.
    generator, extractor = models["generate"], models["extract"]
    train_rows = gta_rows(pairing, generator, data["train"], extractor)
    valid_rows = gta_rows(pairing, generator, data["valid"], extractor)
    cfg = pairing.config

    def collate(items: list[dict]) -> dict:
        return crop_batch(items, cfg.segment, cfg.hop)

    # 2. A copy of the vocoder, trained further by the shared trainer.
    tuned = pairing.build("regenerate")
    ckpt.load_pretrained_weights(run / "regenerate" / "final", tuned)
    run_cfg = json.loads((run / "run_config.json").read_text())
    base = run_cfg["train"]["regenerate"]
    from regen_core.config import TrainConfig

    tcfg = TrainConfig(**{**{k: v for k, v in base.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}},
                          "max_steps": steps, "max_seconds": seconds, "lr": lr, "warmup_steps": 0,
                          "valid_every": 0, "progress": progress, "tensorboard": False, "betas": tuple(base["betas"])})
    out = run / "regenerate_ft"
    result = train(tuned, StageData(train_rows, valid_rows, collate), tcfg, out, saved_config=saved_config(pairing, "regenerate"),
                   description="tts:regenerate_ft")
    # 3. The measured effect, on the same generator samples.
    tuned.eval()
    effect = evaluate_vocoders(pairing, generator, {"vocoder": models["regenerate"], "vocoder_finetuned": tuned},
                               data["test"], n_eval)
    record = {"steps": result.steps, "seconds": result.seconds, "n_eval": n_eval, "metrics": effect,
              "difference_finetuned_minus_original": {m: effect["vocoder_finetuned"][m] - effect["vocoder"][m]
                                                      for m in effect["vocoder"]}}
    ckpt.write_json_atomic(out / "effect.json", record)
    return record


@cli_main("python -m regen_tts.finetune")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_tts.finetune", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a tts run folder with generate and regenerate trained")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seconds", type=float, default=60.0, help="wall-time cap (0 = none)")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--n-eval", type=int, default=8, help="test utterances for the before/after comparison")
    args = p.parse_args(argv)
    record = finetune_vocoder(args.run, steps=args.steps, seconds=args.seconds, n_eval=args.n_eval, lr=args.lr)
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
