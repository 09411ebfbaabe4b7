"""Build the models a domain package ships, and list the shipped ones.

``python -m regen_<domain>.zoo --out DIR`` (each domain's ``zoo.py`` calls :func:`main`) does, per pairing:

1. train every stage with the pairing's ``zoo`` preset into ``DIR/<pairing>/run`` (resumable: finished
   stages are kept), both sides at the preset's budgets;
2. evaluate regeneration vs direct on the test split (the preset's evaluation seeds) into
   ``DIR/<pairing>/evaluation``;
3. package the run into ``DIR/<pairing>/model`` (:func:`regen_core.pretrained.package_run`): float16 weights when
   the headline metric on the evaluation subset stays within ``--fp16-tolerance`` of float32, else float32;
4. re-evaluate the packaged model on the first ``--n-subset`` test examples (saved beside it) and record those
   figures, with the test-split report, budgets, seeds and fingerprints, in its ``provenance.json``.

``--install`` then copies each model into the package's own ``pretrained/`` folder (a source checkout).
``--package-run RUN --name PAIRING-VARIANT`` packages a run trained otherwise (e.g. a shipped model fine-tuned on
other data with ``regen train --init``) through steps 2-4, as a variant shipped beside the default.
``regen zoo`` lists the shipped models and their recorded figures; :func:`reevaluate` is what the test of the
shipped models runs.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shutil
import uuid
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import checkpoint as ckpt
from . import compare, registry
from .config import EvalConfig, to_dict
from .errors import RegenError
from . import pretrained
from .pretrained import (PROVENANCE, folder_bytes, from_pretrained, load_eval_subset, package_run, read_provenance,
                         shipped, update_provenance)

#: Metrics that measure this machine's speed, not the model: never compared on re-evaluation.
TIMING_METRICS = ("seconds_per_sample", "real_time_factor")
#: Every shipped model of every package together stays under this (issue: a checkout stays small).
SIZE_LIMIT_BYTES = 25 * 1024 * 1024


class ZooError(RegenError, RuntimeError):
    """Building or checking a shipped model failed."""


def side_means(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{side: {metric: mean over seeds}}`` of an evaluation report."""
    out: dict[str, dict[str, float]] = {}
    for row in report["metrics"]:
        for side in ("regeneration", "direct"):
            if row.get(side):
                out.setdefault(side, {})[row["name"]] = row[side]["mean"]
    return out


def evaluate_subset(pairing: Any, models: dict[str, Any], subset: Any, seeds: Sequence[int], temperature: float) -> dict[str, Any]:
    """Both sides on ``subset`` (every example, each seed), one torch thread; the report (nothing kept on disk)."""
    import torch

    from .evaluate import evaluate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = EvalConfig(seeds=tuple(seeds), n_test=0, temperature=temperature, n_visualise=0)
            return evaluate(pairing, models, subset, cfg, tmp, progress=False)
    finally:
        torch.set_num_threads(threads)


def _git_commit() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True,
                               text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    if sha.returncode != 0:
        return {"commit": None}
    return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def build(pairing_name: str, out: str | Path, *, config: str = "zoo", overrides: Sequence[str] = (), n_subset: int = 4,
          fp16_tolerance: float = 0.02, shared: Mapping[str, str] | None = None,
          log: Callable[[str], None] | None = print) -> Path:
    """Steps 1-4 of the module docstring for one pairing; returns the packaged model folder ``OUT/<pairing>/model``.

    ``shared`` maps a stage to another pairing built into the same ``OUT`` whose trained stage this one takes instead
    of training the same model again (tts-codec's direct baseline is tts's: same model, data and budget); the
    settings are checked (:func:`share_stage`) and provenance records it."""
    import time

    from .compare import train_stages
    from .pipeline import load_run_config

    t0, c0 = time.perf_counter(), compare.cpu_seconds()
    cls = registry.pairing_class(pairing_name)
    run_cfg = load_run_config(cls, config, list(overrides))
    pairing = cls(run_cfg.pairing)
    root = Path(out) / pairing_name
    old = root / "run" / "run_config.json"
    if old.is_file():  # resuming: only the same recipe (a toy check's run must not ship as the zoo's)
        before, now = ckpt.read_json(old, "run config"), json.loads(json.dumps(to_dict(run_cfg)))
        differ = sorted(_diff_keys(before, now))
        if differ:
            raise ZooError(f"{root / 'run'} was trained with another config ({', '.join(differ[:6])} differ): "
                           f"use another --out, or remove that folder to rebuild")
    # 1. Data and every stage (a shared one copied from the other pairing's run).
    for stage, other in (shared or {}).items():
        share_stage(pairing, run_cfg, stage, Path(out) / other / "run", root / "run", log=log)
    data = pairing.load_data()
    train_stages(pairing, run_cfg, root / "run", data=data, log=log)
    recipe = {"preset": config, "overrides": list(overrides), **({"shared_stages": dict(shared)} if shared else {})}
    model_dir = package(root / "run", root / "model", data=data, evaluation=root / "evaluation", n_subset=n_subset,
                        fp16_tolerance=fp16_tolerance, recipe=recipe, log=log)
    update_provenance(model_dir, zoo_seconds=round(time.perf_counter() - t0, 1),
                      zoo_cpu_seconds=round(compare.cpu_seconds() - c0, 1))
    return model_dir


def share_stage(pairing: Any, run_cfg: Any, stage: str, other_run: Path, run: Path,
                log: Callable[[str], None] | None = print) -> None:
    """Copy ``other_run``'s trained ``stage`` into ``run`` after checking that it is the model this pairing would train:
    the same training settings for the stage, the same paired-data settings, the same values of every pairing setting
    both configs have, and the same parameter names and shapes.
    Where ``run`` holds the stage already it must be that copy. A mismatch is a :class:`ZooError` naming it."""
    from safetensors import safe_open

    from .pipeline import stage_shapes, copy_stage_folder, final_dir

    src, dst = final_dir(other_run, stage), final_dir(run, stage)
    other = other_run.parent.name
    if not src.is_dir():
        raise ZooError(f"{pairing.name}'s {stage} stage is shared with {other}'s, which is not built "
                       f"({src} is missing): build {other} into the same --out first")
    if dst.exists():  # a resumed build: only the copy of this very model may stand
        mine = ckpt.read_config(dst).get("training", {}).get("copied_from")
        same = ckpt.sha256_file(dst / "model.safetensors") == ckpt.sha256_file(src / "model.safetensors")
        if mine != str(src) or not same:
            raise ZooError(f"{dst} is not the copy of {src} that the recipe shares (copied from {mine!r}"
                           f"{'' if same else ', other weights'}): remove {dst.parent} to share it again")
        return
    cfg = ckpt.read_config(src)
    differ = [f"train.{stage}.{k}" for k in _diff_keys(cfg.get("train", {}), to_dict(getattr(run_cfg.train, stage)))]
    other_paired = ckpt.read_json(other_run / "run_config.json", "run config").get("paired", {})
    differ += [f"paired.{k}" for k in _diff_keys(other_paired, to_dict(run_cfg.paired))]
    theirs, ours = cfg.get("pairing", {}), to_dict(pairing.config)
    differ += [f"pairing.{k}" for k in sorted(set(theirs) & set(ours)) if theirs[k] != ours[k]]
    if differ:
        raise ZooError(f"{pairing.name} cannot share {src}: {', '.join(differ[:6])} differ from this recipe's")
    with safe_open(str(src / "model.safetensors"), framework="pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    if shapes != stage_shapes(pairing, stage):
        raise ZooError(f"{pairing.name} cannot share {src}: its parameters are not those of {pairing.name}'s {stage} model")
    copy_stage_folder(src, dst, pairing)
    if log:
        log(f"{pairing.name}:{stage}: shared with {other} (copied from {src})")


def package(run: str | Path, model_dir: str | Path, *, data: Any = None, evaluation: str | Path | None = None,
            n_subset: int = 4, fp16_tolerance: float = 0.02, recipe: dict[str, Any] | None = None,
            log: Callable[[str], None] | None = print) -> Path:
    """Steps 2-4 for a trained run folder (a zoo run, or e.g. a fine-tune of a shipped model on other data):
    evaluate on the test split of ``data`` (default: the run's own), package into ``model_dir``, record figures."""
    from .compare import headline_metric, run_budgets
    from .config import build_config, run_config_class
    from .evaluate import evaluate
    from .pipeline import load_run

    run, model_dir = Path(run), Path(model_dir)
    pairing, models = load_run(run)
    cls = type(pairing)
    run_cfg = build_config(run_config_class(cls.config_class), values=ckpt.read_json(run / "run_config.json", "run config"))
    data = data if data is not None else pairing.load_data()
    # 2. The test-split report of the trained (float32) models.
    report = evaluate(pairing, models, data["test"], run_cfg.evaluate, evaluation or model_dir.with_name(model_dir.name + "-evaluation"),
                      budgets=run_budgets(run), progress=log is not None)
    # 3. Package: float16 unless the headline metric moves more than the tolerance on the subset.
    subset = data["test"].select(range(min(n_subset, len(data["test"]))))
    seeds, temperature = list(run_cfg.evaluate.seeds), run_cfg.evaluate.temperature
    head = headline_metric(pairing).name
    full = side_means(evaluate_subset(pairing, models, subset, seeds, temperature))
    provenance = {
        "pairing": pairing.name, **_git_commit(), **(recipe or {}),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seeds": {s: getattr(run_cfg.train, s).seed for s in ("extract", "generate", "regenerate", "direct")},
        "budgets": run_budgets(run), "data": compare.data_fingerprint(data),
        "code": compare.code_fingerprint(_modules(cls)), "machine": compare.machine_record(),
        "test_split": {"seeds": seeds, "n_test": run_cfg.evaluate.n_test, "temperature": temperature,
                       "headline": head, "weights": "float32, before packaging (the packaged weights' subset figures "
                                                    "are under 'subset', their float16 change under 'fp16_check')",
                       "metrics": report["metrics"]},
    }
    package_run(run, model_dir, half=True, eval_subset=subset, provenance=provenance)
    half = side_means(evaluate_subset(*from_pretrained(model_dir), subset, seeds, temperature))
    drift = {side: _rel(half[side][head], full[side][head]) for side in full}
    use_half = all(d <= fp16_tolerance for d in drift.values())
    if not use_half:
        package_run(run, model_dir, half=False, eval_subset=subset, provenance=provenance)
    # 4. The figures the re-evaluation test compares against, measured on the packaged model.
    packaged = half if use_half else side_means(evaluate_subset(*from_pretrained(model_dir), subset, seeds, temperature))
    update_provenance(model_dir, subset={"n": len(subset), "seeds": seeds, "temperature": temperature, "metrics": packaged},
                      fp16_check={"headline": head, "relative_change": drift, "tolerance": fp16_tolerance,
                                  "float32_subset_metrics": full})
    if log:
        log(f"{pairing.name}: packaged {'float16' if use_half else 'float32'} model, {folder_bytes(model_dir) / 1e6:.2f} MB "
            f"-> {model_dir}")
    return model_dir


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [k for key in sorted(set(a) | set(b)) for k in _diff_keys(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".")]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def _modules(cls: type) -> list[Any]:
    import importlib

    import regen_core

    top = importlib.import_module(cls.__module__.split(".")[0])
    return [regen_core] if top is regen_core else [regen_core, top]


def install(model_dir: str | Path, name: str) -> Path:
    """Copy a packaged model (checksums verified first) into its pairing's package, ``pretrained/<name>`` (a source
    checkout); the folder it replaces is moved aside until the new one is in place."""
    pretrained.verify(model_dir)
    dest = pretrained.package_folder(read_provenance(model_dir)["pairing"]) / name
    tmp = dest.with_name(f".tmp-{dest.name}-{uuid.uuid4().hex[:8]}")
    shutil.copytree(model_dir, tmp)
    pretrained.swap_in(tmp, dest)
    return dest


def reevaluate(folder: str | Path, *, rtol: float = 1e-4, atol: float = 1e-6) -> dict[str, Any]:
    """Load a packaged model (checksums verified), evaluate it on its saved subset with the recorded seeds, and
    compare with provenance's figures. Returns ``{"recorded", "measured", "mismatches"}``."""
    folder = Path(folder)
    prov = read_provenance(folder)
    sub = prov.get("subset")
    if not sub:
        raise ZooError(f"{folder / PROVENANCE} records no subset figures")
    pairing, models = from_pretrained(folder)
    measured = side_means(evaluate_subset(pairing, models, load_eval_subset(folder), sub["seeds"], sub["temperature"]))
    mismatches = []
    for side, metrics in sub["metrics"].items():
        for name, want in metrics.items():
            if name in TIMING_METRICS:
                continue
            got = measured.get(side, {}).get(name)
            if got is None or abs(got - want) > atol + rtol * abs(want):
                mismatches.append(f"{side} {name}: recorded {want!r}, measured {got!r}")
    return {"recorded": sub["metrics"], "measured": measured, "mismatches": mismatches}


# -- command lines -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, *, pairings: Sequence[str], prog: str,
         shared: Mapping[str, Mapping[str, str]] | None = None) -> int:
    """``python -m regen_<domain>.zoo``: build (and optionally install) the domain's shipped models; ``shared``:
    pairing -> {stage: other pairing} (see :func:`build`)."""
    from .cli_common import set_threads
    from .errors import cli_main

    p = argparse.ArgumentParser(prog=prog, description=f"train, evaluate and package the shipped models of {', '.join(pairings)}")
    p.add_argument("--out", required=True, help="work folder: OUT/<pairing>/run, evaluation, model")
    p.add_argument("--config", "-c", default="zoo", help="preset (default zoo; toy for a quick check)")
    p.add_argument("--pairing", action="append", choices=list(pairings), help="only these pairings (default: all of them)")
    p.add_argument("--n-subset", type=int, default=4, help="test examples saved with the model for re-evaluation")
    p.add_argument("--fp16-tolerance", type=float, default=0.02, help="relative change of the headline metric float16 may cause")
    p.add_argument("--install", action="store_true", help="copy each model into the package's pretrained/ folder")
    p.add_argument("--package-run", metavar="RUN", help="package this trained run (e.g. a fine-tune made with "
                   "`regen train --init`) instead of training: evaluated on its own config's test split")
    p.add_argument("--name", help="with --package-run: the shipped name (a variant: PAIRING-SOMETHING)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("overrides", nargs="*", metavar="key=value")

    def run(args: argparse.Namespace) -> int:
        set_threads(args.threads)
        if args.package_run:
            return _package_variant(args, pairings)
        for name in args.pairing or pairings:
            folder = build(name, args.out, config=args.config, overrides=args.overrides, n_subset=args.n_subset,
                           fp16_tolerance=args.fp16_tolerance, shared=(shared or {}).get(name))
            if args.install:
                print(f"{name}: installed -> {install(folder, name)}")
        return 0

    return cli_main(prog)(run)(p.parse_args(argv))


def domain_main(pairings: Sequence[str], prog: str,
                shared: Mapping[str, Mapping[str, str]] | None = None) -> Callable[[Sequence[str] | None], int]:
    """The ``main`` of a domain's ``zoo.py``: :func:`main` for the pairings that package ships (built in that order;
    ``shared``: pairing -> {stage: an earlier pairing whose trained stage it takes})."""
    return lambda argv=None: main(argv, pairings=pairings, prog=prog, shared=shared)


def _package_variant(args: argparse.Namespace, pairings: Sequence[str]) -> int:
    from .pipeline import load_model, final_dir
    from .contract import STAGES

    run = Path(args.package_run)
    stage = next((s for s in STAGES if final_dir(run, s).is_dir()), None)
    if stage is None:
        raise ZooError(f"--package-run {run}: no trained stage (no */final folder)")
    pairing, _, _ = load_model(final_dir(run, stage))
    if pairing.name not in pairings:
        raise ZooError(f"--package-run {run} holds a {pairing.name!r} model; this package ships {', '.join(pairings)}")
    name = args.name or ""
    if not name.startswith(pairing.name + "-"):
        raise ZooError(f"--package-run needs --name {pairing.name}-VARIANT (a variant beside the default "
                       f"{pairing.name!r}, which only the zoo recipe builds); got {name or 'none'}")
    folder = package(run, Path(args.out) / name, n_subset=args.n_subset, fp16_tolerance=args.fp16_tolerance,
                     recipe={"preset": None, "packaged_run": str(run)})
    if args.install:
        print(f"{name}: installed -> {install(folder, name)}")
    return 0


def readme_row(folder: str | Path) -> str:
    """The row a package README's "Current figures" table carries for a shipped model, made from its provenance
    alone (``tests/test_zoo.py`` checks that every shipped model's row is in its package's README, verbatim)."""
    folder = Path(folder)
    prov = read_provenance(folder)
    ts = prov.get("test_split", {})
    row = next((m for m in ts.get("metrics", []) if m["name"] == ts.get("headline")), None)
    if row is None:
        raise ZooError(f"{folder / PROVENANCE} records no headline metric in its test-split report")
    budgets = prov.get("budgets", {})
    cpu = {side: (budgets.get(side) or {}).get("cpu_seconds") for side in ("regeneration", "direct")}
    diff = row.get("difference") or {}
    ci = diff.get("ci95")
    figures = (f"{row['name']} ({'higher' if row['higher_is_better'] else 'lower'} is better): regeneration "
               f"**{compare.fmt(row['regeneration']['mean'])}**, direct {compare.fmt((row.get('direct') or {}).get('mean'))}"
               + (f", difference {compare.fmt(diff.get('mean'))} [{compare.fmt(ci[0])}, {compare.fmt(ci[1])}]" if ci else "")
               + f" ({row.get('winner', '–')}); {len(ts.get('seeds', []))} seeds, {ts.get('n_test') or 'all'} test examples; "
               f"training CPU s {compare.fmt(cpu['regeneration'])} vs {compare.fmt(cpu['direct'])}")
    return (f"| shipped model `{folder.name}` (preset `{prov.get('preset')}`, {prov.get('weights_dtype')}) | {figures} "
            f"| `regen evaluate --model {folder.name} --out DIR` (rebuild: `python -m "
            f"{pretrained.package_folder(prov['pairing']).parent.name}.zoo --out DIR`) | {str(prov.get('created', ''))[:10]} |")


def listing(pairings: Sequence[str] | None = None) -> list[str]:
    """Lines for ``regen zoo``: each shipped model, its size, dtype and recorded headline figures."""
    found = shipped(pairings)
    if not found:
        return ["no shipped models in the installed packages"]
    lines = ["| model | size | weights | preset | headline (test split) | regeneration | direct | winner |",
             "|---|---|---|---|---|---|---|---|"]
    total = 0
    for name, folder in found.items():
        prov = read_provenance(folder)
        size = folder_bytes(folder)
        total += size
        ts = prov.get("test_split", {})
        row = next((m for m in ts.get("metrics", []) if m["name"] == ts.get("headline")), None)
        figs = ["–", "–", "–"] if row is None else [compare.fmt(row["regeneration"]["mean"]),
                                                    compare.fmt((row.get("direct") or {}).get("mean")), row.get("winner", "–")]
        lines.append(f"| {name} | {size / 1e6:.2f} MB | {prov.get('weights_dtype')} | {prov.get('preset')} "
                     f"| {ts.get('headline')} | {' | '.join(figs)} |")
    lines.append(f"\n{len(found)} shipped models, {total / 1e6:.2f} MB in all (limit {SIZE_LIMIT_BYTES / 1e6:.1f} MB)")
    return lines
