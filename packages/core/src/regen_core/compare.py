"""Comparisons: the one place where regen trains both sides, sets equal budgets and judges the outcome.

Every comparison in the project (``regen compare``, ``regen study``, each domain's ``bench.py``) uses
these, so a number in one report means the same as in another:

- :func:`train_stages`: train every stage of a run folder in order, keeping finished stages (resumable);
- :class:`Budget` / :func:`equal_budget_overrides`: the equal-compute rule (steps, wall seconds or CPU
  seconds per side) and :func:`run_budgets`: what each side actually spent, read from its model folders;
- :func:`interval`, :func:`summary`, :func:`paired_difference`, :func:`winner`, :func:`outcome`,
  :func:`clears`: multi-seed summaries (mean, std, 95% t-interval), paired differences and the winner rule;
- :func:`machine_record`, :func:`cpu_seconds`, :func:`load_average`: where and under what load a figure
  was measured;
- :func:`code_fingerprint`, :func:`data_fingerprint`, :func:`config_fingerprint`: what a result depends on;
- :func:`budget_table`: the budgets as a markdown table.

``SCHEMA`` names the JSON layout of a comparison row (:func:`compare_metric`); reports carry it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .contract import STAGES
from .errors import RegenError
from .runlock import run_lock

#: Version of the comparison JSON layout written by :func:`compare_metric` (and by ``regen study``).
SCHEMA = "regen.comparison/1"
#: Labels of the two sides of every comparison.
SIDES = ("regeneration", "direct")
#: The stages each side trains (a learned extractor counts for regeneration).
SIDE_STAGES = {"regeneration": ("extract", "generate", "regenerate"), "direct": ("direct",)}
#: Kinds of training budget the trainer enforces (TrainConfig field per kind).
BUDGET_FIELDS = {"steps": "max_steps", "seconds": "max_seconds", "cpu_seconds": "max_cpu_seconds"}


class CompareError(RegenError, ValueError):
    """A comparison cannot be made as asked (unknown budget kind, sides of different lengths)."""


def headline_metric(pairing: Any) -> Any:
    """The :class:`~regen_core.contract.Metric` a pairing (class or instance) declares as its ``headline``."""
    name = getattr(pairing, "headline", None)  # declared in contract.Pairing; checked here with a clear error
    declared = {m.name: m for m in (*pairing.metrics_spec, *getattr(pairing, "set_metrics_spec", ()))}
    if not name:
        raise CompareError(f"pairing {pairing.name!r} declares no headline metric (class attribute `headline`, "
                           f"one of {', '.join(declared)})")
    if name not in declared:
        raise CompareError(f"pairing {pairing.name!r}: headline {name!r} is not one of its metrics ({', '.join(declared)})")
    return declared[name]


# -- training ------------------------------------------------------------------------------------


def train_stages(pairing: Any, run_cfg: Any, run: str | Path, *, data: Any = None, stages: Sequence[str] = STAGES,
                 resume: bool = True, log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Train ``stages`` of ``pairing`` into the run folder ``run``, in order; finished stages are kept when
    ``resume`` (unfinished ones resume from their last checkpoint). Returns stage -> StageRecord (None if kept)."""
    from .pipeline import final_dir, train_stage

    records: dict[str, Any] = {}
    with run_lock(run):  # one writer for every stage (each stage takes the lock again: it is re-entrant)
        data = data if data is not None else pairing.load_data()
        for stage in stages:
            if resume and final_dir(run, stage).exists():
                records[stage] = None
                if log:
                    log(f"{pairing.name}:{stage}: already trained in {final_dir(run, stage)}")
                continue
            rec = train_stage(pairing, stage, run_cfg, run, resume=resume, data=data)
            records[stage] = rec
            if log:
                log(f"{pairing.name}:{stage}: " + ("explicit, saved" if rec.explicit else f"{rec.steps} steps in {rec.seconds:.1f} s")
                    + f" -> {rec.folder}")
    return records


# -- equal budgets -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Budget:
    """The training compute each side gets.

    ``kind`` is ``steps``, ``seconds`` (training wall seconds) or ``cpu_seconds`` (training CPU seconds of
    the process); ``amount`` is each side's total. The direct side puts it all into ``direct``; the
    regeneration side splits it between its trained stages in proportion to the run config's own
    budgets of that kind for them (its ``max_steps`` when the config sets none of that kind). Under a
    seconds budget the config's ``max_steps`` stays a cap, so a side may spend less: :func:`run_budgets`
    records what each side spent.
    """

    kind: str = "steps"  # steps | seconds | cpu_seconds
    amount: float = 0.0  # each side's total; 0 = the run config's own budgets (no equalising)
    split: tuple[tuple[str, float], ...] = ()  # (stage, weight) of regeneration's stages; () = the config's own ratios

    def __post_init__(self) -> None:
        if self.kind not in BUDGET_FIELDS:
            raise CompareError(f"budget kind {self.kind!r} is not one of {', '.join(BUDGET_FIELDS)}")
        if not (self.amount >= 0 and math.isfinite(self.amount)):
            raise CompareError(f"budget amount must be a finite number >= 0, got {self.amount!r}")
        for stage, w in self.split:
            if stage not in SIDE_STAGES["regeneration"] or not w >= 0:
                raise CompareError(f"budget split ({stage!r}, {w!r}): expected a regeneration stage "
                                   f"({', '.join(SIDE_STAGES['regeneration'])}) and a weight >= 0")


def equal_budget_overrides(run_cfg: Any, budget: Budget, *, trained: Sequence[str] = ("generate", "regenerate")) -> list[str]:
    """``key=value`` overrides giving both sides ``budget`` (see :class:`Budget`); [] when its amount is 0.

    ``trained``: the regeneration stages with parameters to train (a learned extractor; not a regenerator
    that is the extractor's own decoder, trained with it): only they share regeneration's budget."""
    if budget.amount <= 0:
        return []
    key = BUDGET_FIELDS[budget.kind]
    stages = [s for s in SIDE_STAGES["regeneration"] if s in trained]
    if not stages:
        raise CompareError("equal budget: the regeneration side has no stage to train")

    def weight(stage: str) -> float:
        if budget.split:
            return float(dict(budget.split).get(stage, 0.0))
        tc = getattr(run_cfg.train, stage)
        own = float(getattr(tc, key))
        return own if own > 0 else float(tc.max_steps)

    weights = [weight(s) for s in stages]
    total = sum(weights) or float(len(stages))
    out = []
    for stage, w in zip(stages, weights):
        share = budget.amount * (w / total if sum(weights) else 1.0 / len(stages))
        out.append(f"train.{stage}.{key}={_budget_value(budget.kind, share)}")
    out.append(f"train.direct.{key}={_budget_value(budget.kind, budget.amount)}")
    return out


def _budget_value(kind: str, v: float) -> Any:
    return max(1, int(round(v))) if kind == "steps" else round(float(v), 3)


def run_budgets(run: str | Path) -> dict[str, Any]:
    """Parameters, steps and training seconds (wall and CPU) of each side, read from the run's model folders."""
    from .pipeline import final_dir, training_record

    budgets: dict[str, Any] = {}
    for side, stages in SIDE_STAGES.items():
        entry: dict[str, Any] = {"stages": {}}
        for s in stages:
            folder = final_dir(run, s)
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


def budget_table(budgets: dict[str, Any]) -> list[str]:
    """Markdown lines: each side's stages and totals (parameters, steps, wall and CPU training seconds)."""
    lines = ["| side | stage | parameters | steps | training seconds | training CPU seconds |", "|---|---|---|---|---|---|"]
    for side, b in budgets.items():
        for s, v in b.get("stages", {}).items():
            lines.append(f"| {side} | {s} | {fmt(v.get('parameters'))} | {fmt(v.get('steps'))} | {fmt(v.get('seconds'))} "
                         f"| {fmt(v.get('cpu_seconds'))} |")
        lines.append(f"| **{side}** | total | {fmt(b.get('parameters'))} | {fmt(b.get('steps'))} | {fmt(b.get('seconds'))} "
                     f"| {fmt(b.get('cpu_seconds'))} |")
    return lines


def fmt(v: Any) -> str:
    """A number for a markdown table: 4 significant digits, '–' for missing."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# -- multi-seed summaries ------------------------------------------------------------------------


def interval(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Mean, standard deviation and a t-interval of ``values`` (one value per seed); no interval below 2 values."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        raise CompareError("interval of no values")
    mean = float(arr.mean())
    if len(arr) < 2:
        return {"mean": mean, "std": None, "ci95": None, "n": int(len(arr))}
    from scipy import stats

    std = float(arr.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(arr) - 1) * std / math.sqrt(len(arr)))
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": int(len(arr))}


def summary(values: Sequence[float]) -> dict[str, Any]:
    """:func:`interval` plus the values themselves (``per_seed``)."""
    values = [float(v) for v in values]
    return {**interval(values), "per_seed": values}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Summary of ``a[i] - b[i]`` (the same seed on both sides)."""
    if len(a) != len(b):
        raise CompareError(f"paired difference of {len(a)} and {len(b)} values: the sides need the same seeds")
    return summary([x - y for x, y in zip(a, b)])


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Summary of ``a[i] / b[i]`` (e.g. a speed ratio, seed by seed)."""
    if len(a) != len(b):
        raise CompareError(f"paired ratio of {len(a)} and {len(b)} values: the sides need the same seeds")
    return summary([x / y for x, y in zip(a, b)])


def winner(difference: dict[str, Any], higher_is_better: bool, sides: Sequence[str] = SIDES) -> str:
    """Which side wins, given ``difference`` = summary of (sides[0] - sides[1]).

    With an interval: ``neither (95% interval includes 0)`` when it includes 0; with one seed the side
    ahead, marked ``(one seed: no interval)``.
    """
    ci = difference.get("ci95")
    sign = 1 if higher_is_better else -1
    ahead = sides[0] if sign * difference["mean"] > 0 else sides[1]
    if ci is None:
        return f"{ahead} (one seed: no interval)"
    if ci[0] <= 0 <= ci[1]:
        return "neither (95% interval includes 0)"
    return ahead


def outcome(win: str, side: str = "regeneration") -> str:
    """``win`` / ``lose`` / ``tie`` for ``side`` from a :func:`winner` string (one seed counts as a tie)."""
    if win.startswith("neither") or "one seed" in win:
        return "tie"
    return "win" if win.startswith(side) else "lose"


def clears(stat: dict[str, Any], threshold: float, above: bool) -> bool | None:
    """Whether the whole 95% interval of ``stat`` lies above (or below) ``threshold``; None with one seed."""
    ci = stat.get("ci95")
    if ci is None:
        return None
    return bool(ci[0] >= threshold) if above else bool(ci[1] < threshold)


def compare_metric(name: str, higher_is_better: bool, per_side: dict[str, Sequence[float]], *,
                   description: str = "", sides: Sequence[str] = SIDES) -> dict[str, Any]:
    """One comparison row (the :data:`SCHEMA` layout): each side's summary, the paired difference
    ``sides[0] - sides[1]`` and the winner."""
    row: dict[str, Any] = {"name": name, "higher_is_better": higher_is_better, "description": description}
    for side, vals in per_side.items():
        row[side] = summary(vals) if len(vals) else None
    a, b = (per_side.get(s) for s in sides[:2])
    if a and b:
        row["difference"] = paired_difference(a, b)
        row["winner"] = winner(row["difference"], higher_is_better, sides)
    return row


# -- machine, load and fingerprints ---------------------------------------------------------------


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages, or None where the platform has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_record() -> dict[str, Any]:
    """Where a figure was measured: Python, torch, threads, CPU, GPU (if any), load average."""
    import torch

    rec: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                           "processor": platform.processor() or platform.machine(), "platform": platform.platform(),
                           "load_average": load_average()}
    if torch.cuda.is_available():
        rec["cuda_device"] = torch.cuda.get_device_name(0)
    return rec


def code_fingerprint(modules: Sequence[Any]) -> dict[str, Any]:
    """SHA-256 per package over its sources (.py and .yaml files), keyed by package name."""
    out: dict[str, Any] = {}
    for mod in modules:
        root = Path(mod.__file__).parent
        h, n = hashlib.sha256(), 0
        for f in sorted(root.rglob("*")):
            if f.is_file() and f.suffix in (".py", ".yaml") and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
                n += 1
        out[mod.__name__] = {"sha256": h.hexdigest(), "files": n}
    return out


def config_fingerprint(cfg: Any) -> str:
    """SHA-256 of a config (dataclass or JSON-able value), key order independent."""
    if dataclasses.is_dataclass(cfg):
        from .config import to_dict

        cfg = to_dict(cfg)
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def data_fingerprint(data: Any) -> dict[str, Any]:
    """Each split's size and content fingerprint (``datasets``' own fingerprint where the split has one)."""
    out: dict[str, Any] = {}
    for name in data:
        split = data[name]
        fp = getattr(split, "_fingerprint", None)
        out[name] = {"n": len(split), "fingerprint": fp}
    return out


def python_command() -> str:
    """The command line that produced a result (for reports)."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
