"""Evaluation: the regeneration pipeline against the direct baseline, on the same test split.

For every seed, each test example is sampled through X -> Y' -> Y (regeneration) and
X -> Y (direct); the pairing's metrics judge both against the reference. ``report.json`` and
``report.md`` give per metric: both sides' means, their difference (regeneration - direct)
with a 95% t-interval over seeds, and both sides' budgets (parameters, steps, seconds).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint as ckpt
from .compare import SCHEMA, budget_table, compare_metric, fmt
from .contract import Metric, SetMetrics, SetMetricsSpec, TimedOutput, Visualises, regenerate_pipeline
from .data import take


def _seed(seed: int, i: int) -> int:
    return seed * 100_003 + i


def _mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = rows[0].keys() if rows else []
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


@torch.no_grad()
def sample_side(pairing: Any, side: str, models: dict[str, Any], examples: list[dict], seed: int, temperature: float):
    """Predictions of one side for every example, with per-example wall seconds.

    Sides: ``regeneration`` (X -> Y' -> Y), ``direct`` (X -> Y) and ``oracle`` (the regenerator on Y' extracted
    from the reference: the cascade without the generator's error, the paper's training-inference mismatch)."""
    preds, y_primes, seconds = [], [], []
    for i, ex in enumerate(examples):
        x = ex[pairing.x.name]
        t0 = time.perf_counter()
        if side == "regeneration":
            inf = regenerate_pipeline(x, models["generate"], models["regenerate"], seed=_seed(seed, i), temperature=temperature)
            preds.append(inf.y)
            y_primes.append(inf.y_prime)
        elif side == "oracle":  # the regenerator on Y' extracted from the reference: no X -> Y' error
            y_prime = models["extract"].extract(ex[pairing.y.name])
            preds.append(models["regenerate"].sample(y_prime, seed=_seed(seed, i) + 1, temperature=temperature))
            y_primes.append(y_prime)
        elif side == "direct":
            preds.append(models["direct"].sample(x, seed=_seed(seed, i), temperature=temperature))
            y_primes.append(None)
        else:
            raise ValueError(f"unknown side {side!r}: expected regeneration, oracle or direct")
        seconds.append(time.perf_counter() - t0)
    return preds, y_primes, seconds


def score_side(pairing: Any, side: str, models: dict[str, Any], examples: list[dict], seed: int, temperature: float):
    """One side's scores on ``examples`` for one sampling seed: the mean of the pairing's metrics, its set
    metrics (if any), seconds per sample and real-time factor (timed outputs).
    Returns ``(predictions, y_primes, scores, references, xs)``."""
    preds, y_primes, secs = sample_side(pairing, side, models, examples, seed, temperature)
    refs = [ex[pairing.y.name] for ex in examples]
    xs = [ex[pairing.x.name] for ex in examples]
    rows = [pairing.metrics(p, r, x) for p, r, x in zip(preds, refs, xs)]
    summary = _mean_metrics(rows)
    if isinstance(pairing, SetMetrics):
        summary.update(pairing.set_metrics(preds, refs, xs))
    summary["seconds_per_sample"] = float(np.mean(secs))
    if isinstance(pairing, TimedOutput):  # outputs with a duration (speech)
        summary["real_time_factor"] = float(sum(secs) / max(sum(pairing.output_seconds(p) for p in preds), 1e-9))
    return preds, y_primes, summary, refs, xs


def evaluate(
    pairing: Any,
    models: dict[str, Any],
    test: Any,
    eval_cfg: Any,
    out: str | Path,
    *,
    budgets: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate both sides over ``eval_cfg.seeds``; write ``report.json`` / ``report.md`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    subset = take(test, eval_cfg.n_test)
    examples = [subset[i] for i in range(len(subset))]
    if not examples:
        raise ValueError("the test split is empty: nothing to evaluate")
    sides = [s for s in ("regeneration", "direct") if s != "direct" or "direct" in models]
    per_seed: dict[str, list[dict[str, float]]] = {s: [] for s in sides}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sides) * len(eval_cfg.seeds), desc=f"{pairing.name}:evaluate", unit="side-seed")
    for seed in eval_cfg.seeds:
        for side in sides:
            preds, y_primes, summary, refs, xs = score_side(pairing, side, models, examples, seed, eval_cfg.temperature)
            per_seed[side].append(summary)
            if isinstance(pairing, Visualises) and seed == eval_cfg.seeds[0]:
                for i in range(min(eval_cfg.n_visualise, len(examples))):
                    pairing.visualise(out / "examples" / side, f"example{i:02d}", x=xs[i], y_prime=y_primes[i],
                                      prediction=preds[i], reference=refs[i])
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    report = build_report(pairing, per_seed, eval_cfg, budgets or {})
    ckpt.write_json_atomic(out / "report.json", report)
    (out / "report.md").write_text(report_markdown(report), encoding="utf-8")
    return report


def build_report(pairing: Any, per_seed: dict[str, list[dict[str, float]]], eval_cfg: Any, budgets: dict) -> dict:
    set_specs = pairing.set_metrics_spec if isinstance(pairing, SetMetricsSpec) else ()
    specs: list[Metric] = list(pairing.metrics_spec) + list(set_specs) + [
        Metric("seconds_per_sample", False, "wall seconds to sample one Y on this machine")
    ]
    if any("real_time_factor" in r for rows in per_seed.values() for r in rows):
        specs.append(Metric("real_time_factor", False, "wall seconds of sampling per second of output (< 1: faster than real time)"))
    known = {m.name for m in specs}
    extra = [k for k in (per_seed["regeneration"][0] if per_seed["regeneration"] else {}) if k not in known]
    specs += [Metric(k, False, "(no direction declared by the pairing)") for k in extra]
    metrics = []
    for m in specs:
        per_side = {side: [r[m.name] for r in rows if m.name in r] for side, rows in per_seed.items()}
        metrics.append(compare_metric(m.name, m.higher_is_better, per_side, description=m.description))
    return {
        "pairing": pairing.name,
        "x": pairing.x.name, "y_prime": pairing.y_prime.name, "y": pairing.y.name,
        "seeds": list(eval_cfg.seeds), "n_test": eval_cfg.n_test, "temperature": eval_cfg.temperature,
        "schema": SCHEMA, "metrics": metrics,
        "budgets": budgets,
    }


def report_markdown(report: dict) -> str:
    lines = [
        f"# {report['pairing']}: regeneration ({report['x']} -> {report['y_prime']} -> {report['y']}) vs direct ({report['x']} -> {report['y']})",
        "",
        f"Seeds {report['seeds']}, {report['n_test'] or 'all'} test examples per seed, temperature {report['temperature']}.",
        "Difference = regeneration - direct, with a 95% t-interval over seeds.",
        "",
        "| metric | better | direct | regeneration | difference [95% CI] | winner |",
        "|---|---|---|---|---|---|",
    ]
    for m in report["metrics"]:
        d, r, diff = m.get("direct"), m.get("regeneration"), m.get("difference")
        ci = diff.get("ci95") if diff else None
        diff_s = "–" if not diff else f"{fmt(diff['mean'])}" + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")
        lines.append(
            f"| {m['name']} | {'higher' if m['higher_is_better'] else 'lower'} | {fmt(d and d['mean'])} "
            f"| {fmt(r and r['mean'])} | {diff_s} | {m.get('winner', '–')} |"
        )
    lines += ["", "## Budgets", ""] + budget_table(report.get("budgets", {}))
    lines += ["", "Descriptions:", ""] + [f"- `{m['name']}`: {m['description']}" for m in report["metrics"]]
    return "\n".join(lines) + "\n"
