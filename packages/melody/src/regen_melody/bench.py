"""``python -m regen_melody.bench [--quick] --out DIR``: figures for the melody pairing -> DIR/bench.json.

- always: extraction throughput (pieces/s parsing chorales + folk tunes with music21 on one core
  vs in parallel; templates/s from parsed melodies);
- full run (no ``--quick``): trains every stage with a preset (``tiny`` by default) at equal budget,
  or reuses ``--run`` (its weights; the sampling options, ``pairing.decoding`` and
  ``pairing.key_choice``, ``pairing.register_choice``, ``pairing.register_by_key``, come from the bench's config), then (a) regeneration vs direct on
  held-out chorales (``--split test``, or ``valid`` to choose sampling options) over 3 seeds (PD, DD, MD, TA, CA, RA, AA; the core's report.json /
  report.md), (b) the regenerator on the held-out
  chorales' *ground-truth* templates (does template -> melody follow its template? targets CA, RA,
  AA >= 0.9), (c) the comparison (a) again with the key given to both sides
  (``{"lyrics": ..., "key": <the reference's key>}``: the issue's "tonality given by the user";
  regeneration puts it in the template, the direct baseline reads it as its key token).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from regen_core.errors import cli_main
from regen_core import compare


def extraction_throughput(n_chorales: int, n_folk: int, num_proc: int) -> dict[str, Any]:
    """Parse the same pieces on one core and on ``num_proc`` (no cache), then time template extraction."""
    from .data import chorale_sources, folk_sources, parse_all
    from .extract import extract_template

    sources = chorale_sources(n_chorales) + folk_sources(limit=n_folk)
    t0 = time.perf_counter()
    one, skipped = parse_all(sources, num_proc=1, progress=False)
    t1 = time.perf_counter()
    many, _ = parse_all(sources, num_proc=num_proc, progress=False)
    t2 = time.perf_counter()
    for y in one:
        extract_template(y)
    t3 = time.perf_counter()
    assert len(one) == len(many)
    return {
        "pieces": len(sources), "usable": len(one), "skipped": skipped, "processes": num_proc,
        "parse_pieces_per_s_one_core": len(sources) / (t1 - t0),
        "parse_pieces_per_s_parallel": len(sources) / (t2 - t1),
        "parallel_speedup": (t1 - t0) / (t2 - t1),
        "templates_per_s_one_core": len(one) / max(t3 - t2, 1e-9),
        "cpu_count": os.cpu_count(),
    }


def template_following(pairing: Any, models: dict[str, Any], test: Any, n_test: int, seeds: tuple[int, ...],
                       temperature: float, decoding: Any) -> dict[str, Any]:
    """The regenerator on ground-truth templates of held-out chorales, sampled with ``decoding``:
    how well it follows them. The ground-truth melodies' own scores against the same templates
    (``reference``) show what a real melody reaches (passing tones lower its CA)."""
    from dataclasses import asdict

    n = len(test) if n_test <= 0 else min(n_test, len(test))
    per_seed, ref_rows = [], []
    for seed in seeds:
        rows = []
        for i in range(n):
            y = test[i]["melody"]
            t = models["extract"].extract(y)
            pred = models["regenerate"].sample(t, seed=seed * 1000 + i, temperature=temperature, decoding=decoding)
            rows.append(pairing.metrics(pred, y))
            if seed == seeds[0]:
                ref_rows.append(pairing.metrics({**y, "template": t}, y))
        per_seed.append({k: float(np.mean([r[k] for r in rows])) for k in rows[0]})
    stats = {k: compare.summary([s[k] for s in per_seed]) for k in per_seed[0]}  # mean, std, 95% interval over seeds
    return {"n_test": n, "seeds": list(seeds), "temperature": temperature, "decoding": asdict(decoding),
            "mean": {k: v["mean"] for k, v in stats.items()}, "over_seeds": stats, "per_seed": per_seed,
            "reference": {k: float(np.mean([r[k] for r in ref_rows])) for k in ("TA", "CA", "RA", "AA")}}


def with_key(test: Any) -> list[dict[str, Any]]:
    """The rows of ``test`` with the lyrics condition widened to lyrics + the reference melody's key."""
    from .theory import key_name, melody_key

    rows = []
    for i in range(len(test)):
        row = dict(test[i])
        row["lyrics"] = {"lyrics": row["lyrics"], "key": key_name(*melody_key(row["melody"]))}
        rows.append(row)
    return rows


def comparison_table(report: dict[str, Any]) -> dict[str, Any]:
    return {
        m["name"]: {
            "higher_is_better": m["higher_is_better"],
            "regeneration": m["regeneration"]["mean"] if m.get("regeneration") else None,
            "direct": m["direct"]["mean"] if m.get("direct") else None,
            "difference_ci95": (m.get("difference") or {}).get("ci95"),
            "winner": m.get("winner"),
        }
        for m in report["metrics"]
    }


@cli_main("python -m regen_melody.bench")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regen_melody.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="extraction throughput only, on a few pieces")
    ap.add_argument("--config", default="tiny", help="preset or YAML for the full run")
    ap.add_argument("--run", default="", help="reuse this trained run folder instead of training")
    ap.add_argument("--split", default="test", choices=("valid", "test"),
                    help="held-out chorales to judge on: valid (to choose sampling options) or test")
    ap.add_argument("--weights", default="final", choices=("final", "best"),
                    help="each trained stage's final weights, or its best/ (lowest validation loss; the direct "
                         "baseline overfits the 276 pairs, so best/ is the early-stopped baseline)")
    ap.add_argument("--num-proc", type=int, default=max(2, min(8, os.cpu_count() or 2)))
    ap.add_argument("--n-chorales", type=int, default=0, help="pieces for the throughput test (default 8 quick / 40 full)")
    ap.add_argument("--n-folk", type=int, default=0, help="folk tunes for the throughput test (default 24 quick / 200 full)")
    ap.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for the full run")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"quick": args.quick}

    # 1. Extraction throughput.
    n_ch = args.n_chorales or (8 if args.quick else 40)
    n_folk = args.n_folk or (24 if args.quick else 200)
    result["extraction"] = extraction_throughput(n_ch, n_folk, args.num_proc)
    print("extraction:", json.dumps(result["extraction"], indent=1))

    # 2. Full run: train (or reuse), compare regeneration vs direct, and template following.
    if not args.quick:
        from regen_core.evaluate import evaluate
        from regen_core.pipeline import load_run, load_run_config

        from .pairing import MelodyPairing

        cfg = load_run_config(MelodyPairing, args.config, args.overrides)
        run = Path(args.run) if args.run else out / "run"
        if not args.run:
            compare.train_stages(MelodyPairing(cfg.pairing), cfg, run, log=None)  # finished stages are kept
        from .regenerate import UNCONSTRAINED

        pairing, models = load_run(run)
        if args.weights == "best":
            from regen_core.pipeline import load_model

            for stage in ("generate", "regenerate", "direct"):
                if (run / stage / "best").is_dir():
                    _, _, models[stage] = load_model(run / stage / "best", extractor=models["extract"], pairing=pairing)
        result["weights"] = args.weights
        test = pairing.load_data()[args.split]  # named "test" below whichever split it is
        result["split"] = args.split
        constrained = cfg.pairing.decoding  # a sampling option: taken from this bench's config, also for a reused --run
        models["regenerate"].decoding = constrained
        models["generate"].key_choice = cfg.pairing.key_choice  # also a sampling option
        models["generate"].register_choice = cfg.pairing.register_choice  # and these
        models["generate"].register_by_key = cfg.pairing.register_by_key
        result["decoding"] = {"regeneration": asdict(constrained), "key_choice": cfg.pairing.key_choice,
                              "register_choice": cfg.pairing.register_choice, "register_by_key": cfg.pairing.register_by_key,
                              "template_register": models["regenerate"].use_register,
                              "direct": "none: the direct baseline has no template (validity masks only)"}
        # (a) regeneration (lyrics -> generated template -> melody) vs direct, with the configured
        #     template-constrained decoding and without it; both sides see only the lyrics.
        report = evaluate(pairing, models, test, cfg.evaluate, out / "evaluation", budgets=compare.run_budgets(run), progress=False)
        result["comparison"] = comparison_table(report)
        models["regenerate"].decoding = UNCONSTRAINED
        report_u = evaluate(pairing, models, test, cfg.evaluate, out / "evaluation_unconstrained",
                            budgets=compare.run_budgets(run), progress=False)
        models["regenerate"].decoding = constrained
        result["comparison_unconstrained"] = comparison_table(report_u)
        result["budgets"] = report["budgets"]
        # (c) the same with the key given to both sides (lyrics + key).
        keyed = with_key(test)
        for name, dec in (("comparison_key_given", constrained), ("comparison_key_given_unconstrained", UNCONSTRAINED)):
            models["regenerate"].decoding = dec
            folder = out / ("evaluation_key_given" + ("_unconstrained" if dec is UNCONSTRAINED else ""))
            result[name] = comparison_table(evaluate(pairing, models, keyed, cfg.evaluate, folder,
                                                     budgets=compare.run_budgets(run), progress=False))
        models["regenerate"].decoding = constrained
        # (b) template following on ground-truth templates of the held-out chorales.
        follow = {name: template_following(pairing, models, test, cfg.evaluate.n_test, tuple(cfg.evaluate.seeds),
                                           cfg.evaluate.temperature, dec)
                  for name, dec in (("constrained", constrained), ("unconstrained", UNCONSTRAINED))}
        result["template_following"] = follow["constrained"]
        result["template_following_unconstrained"] = follow["unconstrained"]
        tf = result["template_following"]["mean"]
        result["targets"] = {
            "CA>=0.9": tf["CA"] >= 0.9, "RA>=0.9": tf["RA"] >= 0.9, "AA>=0.9": tf["AA"] >= 0.9,
            "regeneration beats direct on PD": result["comparison"]["PD"]["winner"].startswith("regeneration"),
            "regeneration beats direct on DD": result["comparison"]["DD"]["winner"].startswith("regeneration"),
            "regeneration beats direct on MD": result["comparison"]["MD"]["winner"].startswith("regeneration"),
            **{f"regeneration beats direct on {m}, key given": result["comparison_key_given"][m]["winner"].startswith("regeneration")
               for m in ("PD", "DD", "MD")},
        }
        print((out / "evaluation" / "report.md").read_text())
        print((out / "evaluation_unconstrained" / "report.md").read_text())
        print("key given:\n" + (out / "evaluation_key_given" / "report.md").read_text())
        print("template following (ground-truth templates), constrained:", json.dumps(tf, indent=1))
        print("  unconstrained:", json.dumps(result["template_following_unconstrained"]["mean"], indent=1))
        print("  ground-truth melodies:", json.dumps(result["template_following"]["reference"], indent=1))
        print("targets:", json.dumps(result["targets"], indent=1))
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
