"""Fine-tune a trained run's recognisers on FSDD (real human voices) and evaluate both sides there.

    python -m regen_asr.finetune --run RUN --out OUT [--steps 300] [--batch-size 16] [--lr 5e-4]
                                 [--seed 0] [--fsdd-dir DIR] [--n-test 0] [--p2g-text fsdd|run]

RUN is a trained run (extract, generate, regenerate and direct, e.g. on the synthetic corpus), or ``pretrained``:
the model this package ships (then ``python -m regen_asr.zoo --package-run OUT --name asr-fsdd --out DIR --install``
ships the fine-tune as the variant ``asr-fsdd``). Steps:

1. load RUN and FSDD (``../shared/data/fsdd`` or ``--fsdd-dir``): the fine-tuning data are the official
   training takes 5-49 of every digit and speaker, the test set the takes 0-4;
2. score both sides on the test takes as trained (zero-shot: voices, microphones and 8 kHz audio never heard);
3. fine-tune the phoneme CTC (generate; targets: the extractor's phonemes of the digit words) and the
   character CTC (direct) from their trained weights with the same budget: steps, batch, learning rate,
   schedule and seed;
4. score both sides again: WER / CER, the generator's PER, the P2G's WER from gold phonemes of the digit
   words, RTF. The regenerator is scored as trained (its word LM counted on RUN's text) and with its LM and
   lexicon counted again on the FSDD training transcripts (text only: the network is unchanged);
   ``--p2g-text`` says which of the two OUT keeps.

OUT becomes an FSDD run folder (``python -m regen_asr.evaluate --run OUT``, ``transcribe --model OUT``), and
``OUT/finetune.json`` holds every number, the budgets and the training time (wall and CPU) of both sides.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence
from regen_core.errors import RegenError, cli_main

STAGES = ("generate", "direct")  # the two paired sides, fine-tuned with the same budget


class FinetuneError(RegenError, ValueError):
    """The fine-tuning cannot run as asked (bad budget or option)."""


def fsdd_pairing(pairing: Any, fsdd_dir: str | None) -> Any:
    """The run's pairing with the same models, reading FSDD instead of its corpus."""
    from .pairing import ASRPairing

    return ASRPairing(dataclasses.replace(pairing.config, corpus="fsdd", corpus_dir=fsdd_dir or "", n_paired=0))


def finetune_data(pairing: Any) -> Any:
    """FSDD with train = every official training take (5-49), no validation split, test = takes 0-4."""
    import datasets

    parts = pairing.load_data()  # train = takes 10-49, valid = takes 5-9, test = takes 0-4
    train = datasets.concatenate_datasets([parts["valid"], parts["train"]])
    return datasets.DatasetDict({"train": train, "valid": parts["valid"], "test": parts["test"]})


def _scores(report: dict[str, Any]) -> dict[str, Any]:
    keep = ("n_test", "audio_seconds", "regeneration", "direct", "generate_per", "generate_rtf", "generate_rtf_cpu",
            "p2g_wer_from_gold", "p2g_cer_from_gold", "examples")
    return {k: report[k] for k in keep if k in report}


def run_finetune(run: str | Path, out: str | Path, *, steps: int, batch_size: int, lr: float, seed: int = 0,
                 warmup_steps: int = -1, fsdd_dir: str | None = None, n_test: int = 0, p2g_text: str = "fsdd",
                 progress: bool = False) -> dict[str, Any]:
    from regen_core import checkpoint as ckpt
    from regen_core.config import TrainConfig, to_dict
    from regen_core.contract import StageData
    from regen_core.pipeline import PipelineError, final_dir, load_run, saved_config, training_record
    from regen_core.trainer import train

    from .evaluate import asr_report
    from .regenerate import P2G

    if p2g_text not in ("fsdd", "run"):
        raise FinetuneError(f"p2g_text must be 'fsdd' or 'run', got {p2g_text!r}")
    if steps < 1 or batch_size < 1 or lr <= 0:
        raise FinetuneError(f"steps and batch size must be positive and lr > 0, got {steps}, {batch_size}, {lr}")
    run, out = Path(run), Path(out)
    t_start = time.perf_counter()
    # 1. The trained run and FSDD.
    base, models = load_run(run)
    missing = [s for s in ("generate", "regenerate", "direct") if s not in models]
    if missing:
        raise PipelineError(f"{run} has no trained {', '.join(missing)} stage: train every stage first")
    pairing = fsdd_pairing(base, fsdd_dir)
    data = finetune_data(pairing)
    extractor = models["extract"]
    result: dict[str, Any] = {
        "run": str(run), "run_corpus": base.config.corpus, "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "data": {"train": len(data["train"]), "test": len(data["test"]), "train_takes": "5-49", "test_takes": "0-4",
                 "speakers": sorted(set(data["test"]["speaker"]))},
    }
    # 2. Zero-shot: both sides as trained on RUN's corpus.
    result["zero_shot"] = _scores(asr_report(pairing, models, data["test"], n=n_test, g2p_words=0, examples=5))
    # 3. Fine-tune both paired sides with the same budget, from their trained weights.
    tcfg = TrainConfig(seed=seed, max_steps=steps, batch_size=batch_size, lr=lr,
                       warmup_steps=warmup_steps if warmup_steps >= 0 else max(1, steps // 10),
                       valid_every=0, log_every=max(1, steps // 10), progress=progress, tensorboard=False)
    run_cfg = dataclasses.replace(ckpt_run_config(run), pairing=pairing.config)
    run_cfg = dataclasses.replace(run_cfg, train=dataclasses.replace(run_cfg.train, generate=tcfg, direct=tcfg))
    out.mkdir(parents=True, exist_ok=True)
    ckpt.write_json_atomic(out / "run_config.json", to_dict(run_cfg))
    training: dict[str, Any] = {}
    tuned = dict(models)
    for stage in STAGES:
        if final_dir(out, stage).exists():  # fine-tuned earlier into OUT: reuse it, its record says how
            from regen_core.pipeline import load_model

            _, _, tuned[stage] = load_model(final_dir(out, stage), extractor=extractor, pairing=pairing)
            training[stage] = {**training_record(final_dir(out, stage)), "reused": True}
            continue
        model = models[stage].train().requires_grad_(True)
        sd = pairing.stage_data(stage, data, extractor)
        sd = StageData(sd.train, None, sd.collate, sd.lengths)  # fixed budget, no validation (takes 5-9 are training data here)
        c0 = time.process_time()
        res = train(model, sd, tcfg, out / stage, saved_config=saved_config(pairing, stage),
                    description=f"asr:finetune-{stage}")
        training[stage] = {"steps": res.steps, "seconds": round(res.seconds, 1),
                           "cpu_seconds": round(time.process_time() - c0, 1), "parameters": res.parameters}
        tuned[stage] = model.eval()
    result["training"] = {"budget": {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed,
                                     "warmup_steps": tcfg.warmup_steps, "schedule": "linear warm-up + cosine to 0.1 lr"},
                          **training}
    # 4. The extractor and both regenerators (as trained; LM and lexicon counted on the FSDD training text).
    refit = P2G(models["regenerate"].settings, stress=pairing.config.stress, extractor=extractor)
    refit.load_state_dict(models["regenerate"].state_dict())
    refit.fit_text(list(data["train"]["text"]))
    refit.eval()
    for name, p2g in (("p2g_run_text", models["regenerate"]), ("p2g_fsdd_text", refit)):
        rep = asr_report(pairing, {**tuned, "regenerate": p2g}, data["test"], n=n_test, g2p_words=0, examples=5)
        result[name] = _scores(rep)
    keep = refit if p2g_text == "fsdd" else models["regenerate"]
    for stage, model in (("extract", extractor), ("regenerate", keep)):
        if not final_dir(out, stage).exists():
            record = {**training_record(final_dir(run, stage)), "copied_from": str(final_dir(run, stage))}
            if stage == "regenerate":
                record["text"] = "FSDD training transcripts" if p2g_text == "fsdd" else f"the text of {run}"
            ckpt.save_pretrained(final_dir(out, stage), model, {**saved_config(pairing, stage), "training": record})
    result["p2g_kept"] = p2g_text
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def ckpt_run_config(run: Path) -> Any:
    """RUN's resolved run config (its ``run_config.json``)."""
    from regen_core import checkpoint as ckpt
    from regen_core.config import from_dict, run_config_class

    from .pairing import ASRPairing

    return from_dict(run_config_class(ASRPairing.config_class), ckpt.read_json(run / "run_config.json", "run config"))


def summary(result: dict[str, Any]) -> list[str]:
    lines = [f"FSDD: fine-tuned on {result['data']['train']} training takes, tested on {result['data']['test']} "
             f"(speakers {', '.join(result['data']['speakers'])})"]
    for name, title in (("zero_shot", "as trained on " + result["run_corpus"]),
                        ("p2g_run_text", "fine-tuned, P2G LM from the run's text"),
                        ("p2g_fsdd_text", "fine-tuned, P2G LM from the FSDD transcripts")):
        r = result[name]
        lines.append(f"{title:<46} regeneration WER {r['regeneration']['wer']:.3f} CER {r['regeneration']['cer']:.3f} | "
                     f"direct WER {r['direct']['wer']:.3f} CER {r['direct']['cer']:.3f} | PER {r['generate_per']:.3f} | "
                     f"P2G-from-gold WER {r['p2g_wer_from_gold']:.3f}")
    b = result["training"]
    lines.append(f"budget per side: {b['budget']['steps']} steps x {b['budget']['batch_size']}, lr {b['budget']['lr']}; "
                 + "; ".join(f"{s} {b[s].get('seconds', '?')} s" for s in STAGES))
    return lines


@cli_main("python -m regen_asr.finetune")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_asr.finetune", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a trained run folder (extract, generate, regenerate, direct), or "
                                                "pretrained / a shipped name (the model this package ships)")
    p.add_argument("--out", required=True, help="output run folder (FSDD)")
    p.add_argument("--steps", type=int, default=300, help="fine-tuning steps per side (default 300)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default 5e-4)")
    p.add_argument("--warmup-steps", type=int, default=-1, help="default: a tenth of the steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fsdd-dir", default=None, help="FSDD folder (with recordings/); default ../shared/data/fsdd")
    p.add_argument("--n-test", type=int, default=0, help="test utterances (0 = all 250 takes 0-4)")
    p.add_argument("--p2g-text", choices=("fsdd", "run"), default="fsdd",
                   help="the regenerator OUT keeps: LM counted on the FSDD training transcripts (default) or as trained")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--progress", action="store_true", help="show training progress bars")
    args = p.parse_args(argv)
    import torch

    from regen_core.checkpoint import write_json_atomic

    torch.set_num_threads(max(1, args.threads))
    from regen_core.runlock import run_lock

    from regen_core.cli_common import model_folder

    source = model_folder(args.run, "asr")  # a shipped model is read, never written
    with run_lock(args.out):  # one writer per run folder
        result = run_finetune(source, args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                              seed=args.seed, warmup_steps=args.warmup_steps, fsdd_dir=args.fsdd_dir,
                              n_test=args.n_test, p2g_text=args.p2g_text, progress=args.progress)
        result["command"] = "python -m regen_asr.finetune " + " ".join(argv if argv is not None else sys.argv[1:])
        write_json_atomic(Path(args.out) / "finetune.json", result)
    print("\n".join(summary(result)))
    print(f"finetune: {Path(args.out) / 'finetune.json'} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
