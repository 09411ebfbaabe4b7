"""Evaluation: the regeneration pipeline against the direct baseline, on the same test split.

For every seed, each test example is sampled through X -> Y' -> Y (regeneration) and
X -> Y (direct); the pairing's metrics judge both against the reference. ``report.json`` and
``report.md`` give per metric: both sides' means, their difference (regeneration - direct)
with a 95% t-interval over seeds, and both sides' budgets (parameters, steps, seconds).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint as ckpt
from .contract import Metric, SetMetrics, SetMetricsSpec, TimedOutput, Visualises, regenerate_pipeline
from .data import take
from .pipeline import final_dir, training_record


def _seed(seed: int, i: int) -> int:
    return seed * 100_003 + i


def _mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = rows[0].keys() if rows else []
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def interval(values: list[float], level: float = 0.95) -> dict[str, Any]:
    """Mean, standard deviation and a t-interval of ``values`` (one value per seed)."""
    arr = np.asarray(values, dtype=np.float64)
    mean = float(arr.mean())
    if len(arr) < 2:
        return {"mean": mean, "std": None, "ci95": None, "n": int(len(arr))}
    from scipy import stats

    std = float(arr.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(arr) - 1) * std / math.sqrt(len(arr)))
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": int(len(arr))}


@torch.no_grad()
def sample_side(pairing: Any, side: str, models: dict[str, Any], examples: list[dict], seed: int, temperature: float):
    """Predictions of one side for every example, with per-example wall seconds."""
    preds, y_primes, seconds = [], [], []
    for i, ex in enumerate(examples):
        x = ex[pairing.x.name]
        t0 = time.perf_counter()
        if side == "regeneration":
            inf = regenerate_pipeline(x, models["generate"], models["regenerate"], seed=_seed(seed, i), temperature=temperature)
            preds.append(inf.y)
            y_primes.append(inf.y_prime)
        else:
            preds.append(models["direct"].sample(x, seed=_seed(seed, i), temperature=temperature))
            y_primes.append(None)
        seconds.append(time.perf_counter() - t0)
    return preds, y_primes, seconds


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
            preds, y_primes, secs = sample_side(pairing, side, models, examples, seed, eval_cfg.temperature)
            refs = [ex[pairing.y.name] for ex in examples]
            xs = [ex[pairing.x.name] for ex in examples]
            rows = [pairing.metrics(p, r, x) for p, r, x in zip(preds, refs, xs)]
            summary = _mean_metrics(rows)
            if isinstance(pairing, SetMetrics):
                summary.update(pairing.set_metrics(preds, refs, xs))
            summary["seconds_per_sample"] = float(np.mean(secs))
            if isinstance(pairing, TimedOutput):  # outputs with a duration (speech)
                summary["real_time_factor"] = float(sum(secs) / max(sum(pairing.output_seconds(p) for p in preds), 1e-9))
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
        row: dict[str, Any] = {"name": m.name, "higher_is_better": m.higher_is_better, "description": m.description}
        for side, rows in per_seed.items():
            vals = [r[m.name] for r in rows if m.name in r]
            row[side] = {**interval(vals), "per_seed": vals} if vals else None
        if row.get("direct") and row.get("regeneration"):
            diffs = [a - b for a, b in zip(row["regeneration"]["per_seed"], row["direct"]["per_seed"])]
            row["difference"] = interval(diffs)
            ci = row["difference"]["ci95"]
            sign = 1 if m.higher_is_better else -1
            if ci is None:
                row["winner"] = "regeneration" if sign * row["difference"]["mean"] > 0 else "direct"
                row["winner"] += " (one seed: no interval)"
            elif ci[0] <= 0 <= ci[1]:
                row["winner"] = "neither (95% interval includes 0)"
            else:
                row["winner"] = "regeneration" if sign * row["difference"]["mean"] > 0 else "direct"
        metrics.append(row)
    return {
        "pairing": pairing.name,
        "x": pairing.x.name, "y_prime": pairing.y_prime.name, "y": pairing.y.name,
        "seeds": list(eval_cfg.seeds), "n_test": eval_cfg.n_test, "temperature": eval_cfg.temperature,
        "metrics": metrics,
        "budgets": budgets,
    }


def run_budgets(out: str | Path) -> dict[str, Any]:
    """Parameters, steps and training seconds (wall and CPU) of each side, read from the run's model folders."""
    sides = {"regeneration": ("extract", "generate", "regenerate"), "direct": ("direct",)}
    budgets: dict[str, Any] = {}
    for side, stages in sides.items():
        entry: dict[str, Any] = {"stages": {}}
        for s in stages:
            folder = final_dir(out, s)
            if folder.exists():
                rec = training_record(folder)
                entry["stages"][s] = {k: rec.get(k) for k in ("parameters", "steps", "seconds", "cpu_seconds")}
        for k in ("parameters", "steps", "seconds"):
            entry[k] = sum((v.get(k) or 0) for v in entry["stages"].values())
        # CPU seconds: models saved before they were recorded have none, and then the total is unknown
        trained = [v for v in entry["stages"].values() if v.get("steps")]
        cpu = [v.get("cpu_seconds") for v in trained]
        entry["cpu_seconds"] = None if any(c is None for c in cpu) else sum(cpu)
        budgets[side] = entry
    return budgets


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


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
        diff_s = "–" if not diff else f"{_fmt(diff['mean'])}" + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "")
        lines.append(
            f"| {m['name']} | {'higher' if m['higher_is_better'] else 'lower'} | {_fmt(d and d['mean'])} "
            f"| {_fmt(r and r['mean'])} | {diff_s} | {m.get('winner', '–')} |"
        )
    lines += ["", "## Budgets", "", "| side | stage | parameters | steps | training seconds | training CPU seconds |",
              "|---|---|---|---|---|---|"]
    for side, b in report.get("budgets", {}).items():
        for s, v in b.get("stages", {}).items():
            lines.append(f"| {side} | {s} | {_fmt(v.get('parameters'))} | {_fmt(v.get('steps'))} | {_fmt(v.get('seconds'))} "
                         f"| {_fmt(v.get('cpu_seconds'))} |")
        lines.append(f"| **{side}** | total | {_fmt(b.get('parameters'))} | {_fmt(b.get('steps'))} | {_fmt(b.get('seconds'))} "
                     f"| {_fmt(b.get('cpu_seconds'))} |")
    lines += ["", "Descriptions:", ""] + [f"- `{m['name']}`: {m['description']}" for m in report["metrics"]]
    return "\n".join(lines) + "\n"
