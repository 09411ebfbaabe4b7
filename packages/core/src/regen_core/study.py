"""``regen study``: regeneration vs direct across pairings, paired-data shares and training seeds, in one report.

    regen study [PAIRINGS...] --config quick|study|gpu|FILE.yaml --out DIR [--jobs N] [--device cpu|cuda] [--plan]

Without PAIRINGS, every pairing the config plans that is installed.

A *cell* is (pairing, paired share, training seed). Each cell trains every stage of one run folder with
``paired.share`` (the generate and direct stages see that share of the training pairs; regenerate and a
learned extractor keep all of Y), both sides at the equal budget of the pairing's plan
(:class:`regen_core.compare.Budget`), then scores three sides on the same test examples: regeneration
(X -> Y' -> Y), direct (X -> Y) and the oracle cascade (the regenerator on Y' extracted from the reference),
which splits regeneration's error into its X -> Y' part (regeneration - oracle) and its Y' -> Y part.

``DIR/cells/<pairing>/share<s>_seed<k>/cell.json`` holds each finished cell (budgets, CPU seconds, code,
config and data fingerprints); a killed study continues where it stopped and never re-trains a finished
cell; a cell whose code or config fingerprint differs from the current one is refused, by name.
``DIR/study.json``, ``DIR/study.md`` and ``DIR/figures/*.png`` summarise every finished cell.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from . import checkpoint as ckpt
from . import compare, registry
from .config import build_config
from .runlock import run_lock

#: Version of study.json's layout.
STUDY_SCHEMA = "regen.study/1"
#: Sides every cell scores.
CELL_SIDES = ("regeneration", "direct", "oracle")


class StudyError(compare.CompareError):
    """A study cannot run or continue as asked (old cells from other code or config, unknown pairing)."""


@dataclass(frozen=True)
class PairingPlan:
    """How one pairing's cells train and are judged."""

    config: str = "toy"  # the pairing's preset name (or YAML file) every cell starts from
    overrides: tuple[str, ...] = ()  # key=value overrides on top of it (sizes, budgets)
    budget: str = "steps"  # equal-budget kind for both sides: steps | seconds | cpu_seconds
    budget_amount: float = 0.0  # each side's total of that kind (0 = the preset's own per-stage budgets)
    budget_split: dict[str, float] = field(default_factory=dict)  # regeneration stage -> share of its budget ({} = the preset's ratios)
    n_test: int = 0  # test examples scored per side (0 = the study's n_test)


@dataclass(frozen=True)
class StudyConfig:
    """The grid of a study and how each pairing runs in it."""

    shares: tuple[float, ...] = (0.05, 0.25, 1.0)  # paired shares of the training split (generate and direct)
    seeds: tuple[int, ...] = (0, 1, 2)  # training seeds (the intervals are over these)
    eval_seeds: tuple[int, ...] = (0,)  # sampling seeds per cell (each side's score is their mean)
    n_test: int = 16  # test examples scored per side and sampling seed
    temperature: float = 1.0  # sampling temperature
    device: str = "cpu"  # training device of every stage: cpu | cuda (evaluation samples on the CPU)
    precision: str = "auto"  # trainer precision: auto | fp32 | bf16
    pairings: dict[str, PairingPlan] = field(default_factory=dict)  # registry name -> plan; the default grid


def preset_names() -> list[str]:
    from importlib.resources import files

    folder = Path(str(files("regen_core") / "presets" / "study"))
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_study_config(config: str, overrides: Sequence[str] = ()) -> StudyConfig:
    """A study preset name (quick, study, gpu) or a YAML file, with ``key=value`` overrides."""
    from importlib.resources import files

    p = Path(config)
    if p.suffix in (".yaml", ".yml") or os.sep in config:
        path = p
    else:
        path = Path(str(files("regen_core") / "presets" / "study" / f"{config}.yaml"))
        if not path.is_file():
            raise StudyError(f"no study preset {config!r} (known: {', '.join(preset_names())}; or give a YAML file)")
    cfg = build_config(StudyConfig, files=[path], overrides=overrides)
    if not cfg.shares or any(not (0 < s <= 1) for s in cfg.shares):
        raise StudyError(f"study shares must be in (0, 1], got {list(cfg.shares)}")
    if not cfg.seeds:
        raise StudyError("a study needs at least one training seed")
    return cfg


# -- cells ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One (pairing, paired share, training seed) of the grid."""

    pairing: str
    share: float
    seed: int

    @property
    def key(self) -> str:
        return f"{self.pairing}/share{self.share:g}_seed{self.seed}"


def cell_dir(out: Path, cell: Cell) -> Path:
    return out / "cells" / cell.key


def cell_run_config(cfg: StudyConfig, cell: Cell, device: str | None = None) -> Any:
    """The resolved run config of a cell: the plan's preset and overrides, the cell's seed and share, equal budgets."""
    from .contract import is_explicit
    from .pipeline import load_run_config

    plan = cfg.pairings[cell.pairing]
    cls = registry.pairing_class(cell.pairing)
    device = device or cfg.device
    base = [*plan.overrides,
            *(f"train.{s}.seed={cell.seed}" for s in ("extract", "generate", "regenerate", "direct")),
            *(f"train.{s}.{k}" for s in ("extract", "generate", "regenerate", "direct")
              for k in ("progress=false", "tensorboard=false", f"device={device}", f"precision={cfg.precision}")),
            f"paired.share={cell.share}", f"paired.seed={cell.seed}"]
    run_cfg = load_run_config(cls, plan.config, base)
    budget = compare.Budget(plan.budget, plan.budget_amount, tuple(plan.budget_split.items()))
    if budget.amount <= 0:
        return run_cfg
    pairing = cls(run_cfg.pairing)
    extractor = pairing.build("extract")
    trained = [s for s in ("extract", "generate", "regenerate")
               if not is_explicit(extractor if s == "extract" else pairing.build(s, extractor))]
    return load_run_config(cls, plan.config, base + compare.equal_budget_overrides(run_cfg, budget, trained=trained))


def cell_fingerprints(cfg: StudyConfig, cell: Cell, device: str | None = None) -> dict[str, Any]:
    """What a cell's result depends on: the code of regen_core and the pairing's package, its resolved config."""
    import importlib

    import regen_core

    cls = registry.pairing_class(cell.pairing)
    package = importlib.import_module(cls.__module__.split(".")[0])
    run_cfg = cell_run_config(cfg, cell, device)
    judged = {"eval_seeds": list(cfg.eval_seeds), "n_test": cfg.pairings[cell.pairing].n_test or cfg.n_test,
              "temperature": cfg.temperature}
    return {"code": compare.code_fingerprint([regen_core] if package is regen_core else [regen_core, package]),
            "config": compare.config_fingerprint({"run": compare.config_fingerprint(run_cfg), "judged": judged})}


def run_cell(cfg: StudyConfig, cell: Cell, out: Path, device: str | None = None) -> dict[str, Any]:
    """Train and score one cell; writes and returns its ``cell.json``."""
    from .contract import is_explicit
    from .data import take
    from .evaluate import score_side
    from .pipeline import load_run, paired_data

    t0, c0, load0 = time.perf_counter(), compare.cpu_seconds(), compare.load_average()
    folder = cell_dir(out, cell)
    run_cfg = cell_run_config(cfg, cell, device)
    fingerprints = cell_fingerprints(cfg, cell, device)
    cls = registry.pairing_class(cell.pairing)
    pairing = cls(run_cfg.pairing)
    # 1. Data (fingerprinted) and every stage, resumable.
    data = pairing.load_data()
    compare.train_stages(pairing, run_cfg, folder / "run", data=data, log=None)
    train_cpu = compare.cpu_seconds() - c0
    # 2. Three sides on the same test examples, for each sampling seed.
    pairing, models = load_run(folder / "run")
    n_test = cfg.pairings[cell.pairing].n_test or cfg.n_test
    subset = take(data["test"], n_test)
    examples = [subset[i] for i in range(len(subset))]
    scores: dict[str, list[dict[str, float]]] = {s: [] for s in CELL_SIDES}
    for seed in cfg.eval_seeds:
        for side in CELL_SIDES:
            scores[side].append(score_side(pairing, side, models, examples, seed, cfg.temperature)[2])
    means = {side: {k: float(sum(r[k] for r in rows) / len(rows)) for k in rows[0]} for side, rows in scores.items()}
    headline = compare.headline_metric(pairing)
    record = {
        "schema": STUDY_SCHEMA, "cell": dataclasses.asdict(cell), "pairing": cell.pairing,
        "domain": type(pairing).__module__.split(".")[0],
        "headline": {"name": headline.name, "higher_is_better": headline.higher_is_better,
                     **{side: means[side][headline.name] for side in CELL_SIDES}},
        "scores": means,
        "n_paired": len(paired_data(data, run_cfg.paired, "generate")["train"]), "n_train": len(data["train"]),
        "n_test": len(examples), "learned_extract": not is_explicit(models["extract"]),
        "budget_rule": {"kind": cfg.pairings[cell.pairing].budget, "amount": cfg.pairings[cell.pairing].budget_amount,
                        "split": dict(cfg.pairings[cell.pairing].budget_split)},
        "budgets": compare.run_budgets(folder / "run"),
        "cell_wall_seconds": round(time.perf_counter() - t0, 2),
        "cell_cpu_seconds": round(compare.cpu_seconds() - c0, 2), "train_cpu_seconds": round(train_cpu, 2),
        "fingerprints": {**fingerprints, "data": compare.data_fingerprint(data)},
        "machine": {**compare.machine_record(), "load_average_start": load0},
    }
    ckpt.write_json_atomic(folder / "cell.json", record)
    return record


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _run_cell_job(args: tuple) -> dict[str, Any]:
    cfg, cell, out, device = args
    return run_cell(cfg, cell, Path(out), device)


# -- the study -----------------------------------------------------------------------------------


def plan_cells(cfg: StudyConfig, pairings: Sequence[str]) -> list[Cell]:
    """The grid: the named pairings (each must be planned and installed), or else every planned pairing
    that is installed."""
    installed = registry.discover()
    unknown = [n for n in pairings if n not in cfg.pairings]
    if unknown:
        raise StudyError(f"the study config has no plan for {', '.join(unknown)} (plans: {', '.join(cfg.pairings)})")
    missing = [n for n in pairings if n not in installed]
    if missing:
        raise StudyError(f"pairing(s) {', '.join(missing)} not installed (installed: {', '.join(installed)})")
    names = list(pairings) or [n for n in cfg.pairings if n in installed]
    if not names:
        raise StudyError(f"none of the planned pairings ({', '.join(cfg.pairings)}) is installed")
    return [Cell(n, float(s), int(k)) for n in names for s in cfg.shares for k in cfg.seeds]


def check_device(device: str) -> None:
    """Refuse a CUDA study where torch sees no CUDA device (before any cell starts)."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise StudyError(f"device {device!r}: torch {torch.__version__} sees no CUDA device "
                             "(a CPU build, or no GPU); use --device cpu")


def check_old_cells(out: Path, cells: Sequence[Cell], expected: dict[str, dict[str, Any]]) -> list[Cell]:
    """The finished cells, after checking every started cell against the current fingerprints.

    Raises :class:`StudyError` naming each cell and what changed (code of which package, or config)."""
    done, problems = [], []
    for cell in cells:
        folder = cell_dir(out, cell)
        for name in ("cell.json", "started.json"):
            path = folder / name
            if not path.exists():
                continue
            old = ckpt.read_json(path, "study cell").get("fingerprints", {})
            new = expected[cell.key]
            changed = [f"code of {pkg}" for pkg, fp in new["code"].items() if old.get("code", {}).get(pkg) != fp]
            if old.get("config") != new["config"]:
                changed.append("config")
            if changed:
                problems.append(f"{cell.key} ({name}): {', '.join(changed)} changed")
            elif name == "cell.json":
                done.append(cell)
            break
    if problems:
        raise StudyError(f"{out} holds cells made with other code or config, which cannot be merged: "
                         + "; ".join(problems) + ". Use another --out, or delete those cells to re-run them.")
    return done


def run_study(cfg: StudyConfig, out: str | Path, pairings: Sequence[str] = (), *, jobs: int = 1,
              device: str | None = None, progress: bool = True, log=print) -> dict[str, Any]:
    """Run every unfinished cell (``jobs`` processes, one torch thread each), then write the report."""
    out = Path(out)
    t0 = time.perf_counter()
    cells = plan_cells(cfg, pairings)
    check_device(device or cfg.device)
    with run_lock(out):  # one study per --out folder: a second `regen study` there is refused naming the pid
        expected = {c.key: cell_fingerprints(cfg, c, device) for c in cells}
        done = set(check_old_cells(out, cells, expected))
        todo = [c for c in cells if c not in done]
        if log:
            log(f"regen study: {len(cells)} cells ({len(done)} finished earlier, {len(todo)} to run) -> {out}")
        for c in todo:
            ckpt.write_json_atomic(cell_dir(out, c) / "started.json", {"cell": dataclasses.asdict(c), "fingerprints": expected[c.key]})
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="regen study", unit="cell")
        if jobs <= 1:
            _worker_init()
            for c in todo:
                run_cell(cfg, c, out, device)
                if bar is not None:
                    bar.set_postfix_str(c.key)
                    bar.update(1)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init) as pool:
                futures = {pool.submit(_run_cell_job, (cfg, c, str(out), device)): c for c in todo}
                for fut in as_completed(futures):
                    fut.result()  # a failed cell stops the study; finished cells stay
                    if bar is not None:
                        bar.set_postfix_str(futures[fut].key)
                        bar.update(1)
        if bar is not None:
            bar.close()
        records = [ckpt.read_json(cell_dir(out, c) / "cell.json", "study cell") for c in cells]
        report = build_study(cfg, records, wall_seconds=time.perf_counter() - t0, jobs=jobs)
        write_study(out, report)
    return report


# -- the report ----------------------------------------------------------------------------------


def build_study(cfg: StudyConfig, records: list[dict[str, Any]], *, wall_seconds: float, jobs: int) -> dict[str, Any]:
    """study.json: every cell, and per (pairing, share) each side's summary over seeds, the paired difference,
    the winner and the cascade's split of regeneration's error."""
    by_pairing: dict[str, list[dict]] = {}
    for r in records:
        by_pairing.setdefault(r["pairing"], []).append(r)
    summaries = []
    for name, rows in by_pairing.items():
        data_fps = {json.dumps(r["fingerprints"]["data"], sort_keys=True) for r in rows}
        if len(data_fps) > 1:
            raise StudyError(f"the cells of {name} were made from different data (data fingerprints differ)")
        for share in sorted({r["cell"]["share"] for r in rows}):
            mine = sorted((r for r in rows if r["cell"]["share"] == share), key=lambda r: r["cell"]["seed"])
            h = mine[0]["headline"]
            per_side = {s: [r["headline"][s] for r in mine] for s in CELL_SIDES}
            row = compare.compare_metric(h["name"], h["higher_is_better"], per_side)
            gap = compare.paired_difference(per_side["regeneration"], per_side["oracle"])  # the X -> Y' part
            entry = {"pairing": name, "domain": mine[0]["domain"], "share": share, "n_paired": mine[0]["n_paired"],
                     "seeds": [r["cell"]["seed"] for r in mine], "metric": row,
                     "outcome": compare.outcome(row["winner"]),
                     "cascade": {"oracle": row["oracle"], "regeneration_minus_oracle": gap},
                     "budgets": {side: compare.summary([r["budgets"][side]["cpu_seconds"] or 0.0 for r in mine])
                                 for side in compare.SIDES},
                     "budget_steps": {side: [r["budgets"][side]["steps"] for r in mine] for side in compare.SIDES}}
            reg = row["regeneration"]["mean"]
            if not h["higher_is_better"] and reg > 0:  # an error metric (0 = perfect): the X -> Y' share of it
                entry["cascade"]["x_to_y_prime_share_of_error"] = gap["mean"] / reg
            summaries.append(entry)
    return {"schema": STUDY_SCHEMA, "comparison_schema": compare.SCHEMA, "config": dataclasses.asdict(cfg),
            "jobs": jobs, "wall_seconds": round(wall_seconds, 1), "machine": compare.machine_record(),
            "summaries": summaries, "cells": records}


def write_study(out: Path, report: dict[str, Any]) -> None:
    ckpt.write_json_atomic(out / "study.json", report)
    figures = plot_study(report, out / "figures")
    (out / "study.md").write_text(study_markdown(report, [f.relative_to(out) for f in figures]), encoding="utf-8")


def _ci(stat: dict | None) -> str:
    if not stat:
        return "–"
    ci = stat.get("ci95")
    return compare.fmt(stat["mean"]) + (f" [{compare.fmt(ci[0])}, {compare.fmt(ci[1])}]" if ci else "")


def study_markdown(report: dict[str, Any], figures: Sequence[Path]) -> str:
    cfg = report["config"]
    lines = [
        "# regen study: regeneration vs direct by paired-data share",
        "",
        f"Shares {cfg['shares']}, training seeds {cfg['seeds']}, sampling seeds {cfg['eval_seeds']}, "
        f"{len(report['cells'])} cells, {report['wall_seconds']:.0f} s wall with {report['jobs']} job(s) "
        f"on {report['machine']['processor']} ({report['machine']['cpu_count']} CPUs).",
        "Each value: mean over training seeds [95% t-interval]. Difference = regeneration - direct, seed by seed.",
        "Oracle = the regenerator on Y' extracted from the reference; regeneration - oracle = the X -> Y' part of "
        "regeneration's error (generation error and training-inference mismatch).",
        "",
        "## Win / lose / tie (regeneration vs direct, headline metric)",
        "",
        "| pairing | headline | share | paired n | direct | regeneration | difference | outcome | oracle | regeneration - oracle | CPU s per side (regen / direct) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["summaries"]:
        m = s["metric"]
        better = "↑" if m["higher_is_better"] else "↓"
        lines.append(
            f"| {s['pairing']} | {m['name']} {better} | {s['share']:g} | {s['n_paired']} | {_ci(m['direct'])} "
            f"| {_ci(m['regeneration'])} | {_ci(m.get('difference'))} | {s['outcome']} | {_ci(s['cascade']['oracle'])} "
            f"| {_ci(s['cascade']['regeneration_minus_oracle'])} "
            f"| {compare.fmt(s['budgets']['regeneration']['mean'])} / {compare.fmt(s['budgets']['direct']['mean'])} |")
    counts = {k: sum(1 for s in report["summaries"] if s["outcome"] == k) for k in ("win", "lose", "tie")}
    lines += ["", f"Regeneration wins {counts['win']}, loses {counts['lose']}, ties {counts['tie']} of "
              f"{len(report['summaries'])} (pairing, share) rows (a tie: the 95% interval includes 0, or one seed).", ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{f.stem}]({f.as_posix()})" for f in figures] + [""]
    return "\n".join(lines)


def plot_study(report: dict[str, Any], folder: Path) -> list[Path]:
    """One panel per domain (headline vs paired share, both sides and the oracle with interval bands) and
    a summary of regeneration's gain over direct (relative, direction-adjusted) across pairings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summaries = report["summaries"]
    if not summaries:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    domains = list(dict.fromkeys(s["domain"] for s in summaries))
    cols = min(3, len(domains))
    rows_n = math.ceil(len(domains) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 3.6 * rows_n), squeeze=False)
    styles = {"regeneration": "-o", "direct": "-s", "oracle": "--^"}
    for ax, domain in zip(axes.flat, domains):
        mine = [s for s in summaries if s["domain"] == domain]
        for pairing in dict.fromkeys(s["pairing"] for s in mine):
            pts = sorted((s for s in mine if s["pairing"] == pairing), key=lambda s: s["share"])
            x = [p["share"] for p in pts]
            for side in ("regeneration", "direct", "oracle"):
                stats = [p["metric"][side] for p in pts]
                y = [st["mean"] for st in stats]
                line, = ax.plot(x, y, styles[side], label=f"{pairing}: {side}", markersize=4)
                if all(st.get("ci95") for st in stats):
                    ax.fill_between(x, [st["ci95"][0] for st in stats], [st["ci95"][1] for st in stats],
                                    color=line.get_color(), alpha=0.15)
        m = mine[0]["metric"]
        shares = sorted({s["share"] for s in mine})
        ax.set_xscale("log")
        ax.set_xticks(shares, [f"{100 * v:g}%" for v in shares])
        ax.minorticks_off()
        ax.set_xlabel("paired share of the training split")
        ax.set_ylabel(f"{m['name']} ({'higher' if m['higher_is_better'] else 'lower'} is better)")
        ax.set_title(domain.removeprefix("regen_"))
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(domains):]:
        ax.axis("off")
    fig.tight_layout()
    panels = folder / "headline_vs_share.png"
    fig.savefig(panels, dpi=120)
    plt.close(fig)
    # Regeneration's gain: (direct - regeneration) / |direct| for lower-is-better, the reverse for higher.
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(summaries) + 2), 3.6))
    labels, gains, errs = [], [], []
    for s in summaries:
        m = s["metric"]
        d = m["direct"]["mean"]
        sign = 1 if m["higher_is_better"] else -1
        scale = abs(d) if d else 1.0
        diff = m.get("difference") or {"mean": 0.0, "ci95": None}
        gains.append(sign * diff["mean"] / scale)
        ci = diff.get("ci95")
        errs.append(0.0 if ci is None else (ci[1] - ci[0]) / 2 / scale)
        labels.append(f"{s['pairing']} {100 * s['share']:g}%")
    colors = ["tab:green" if s["outcome"] == "win" else "tab:red" if s["outcome"] == "lose" else "tab:gray" for s in summaries]
    ax.bar(range(len(gains)), gains, yerr=errs, color=colors, capsize=3)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(gains)), labels, fontsize=7, rotation=45, ha="right")
    ax.set_ylabel("regeneration's gain over direct\n(relative to direct, headline metric)")
    ax.set_title("green: win, red: lose, grey: tie (95% interval)")
    fig.tight_layout()
    gain = folder / "gain.png"
    fig.savefig(gain, dpi=120)
    plt.close(fig)
    return [panels, gain]


def estimate(cfg: StudyConfig, pairings: Sequence[str], jobs: int) -> dict[str, Any]:
    """The grid and, for plans with seconds or CPU-seconds budgets, the training time it implies (both sides)."""
    cells = plan_cells(cfg, pairings)
    per_pairing = {}
    for name in dict.fromkeys(c.pairing for c in cells):
        plan = cfg.pairings[name]
        n = sum(1 for c in cells if c.pairing == name)
        timed = plan.budget in ("seconds", "cpu_seconds") and plan.budget_amount > 0
        per_pairing[name] = {"cells": n, "budget": f"{plan.budget_amount:g} {plan.budget} per side",
                             "training_seconds": 2 * plan.budget_amount * n if timed else None}
    known = [v["training_seconds"] for v in per_pairing.values()]
    total = sum(known) if all(k is not None for k in known) else None
    return {"cells": len(cells), "jobs": jobs, "per_pairing": per_pairing,
            "training_seconds_total": total, "training_hours_with_jobs": None if total is None else total / jobs / 3600}
