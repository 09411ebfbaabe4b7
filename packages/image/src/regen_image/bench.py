"""Benchmark: latent diffusion vs VQ prior vs down-sampling vs pixel diffusion at equal training compute.

    python -m regen_image.bench --quick --out DIR          # minutes: one seed, small budgets
    python -m regen_image.bench --out DIR                  # preset `bench_full`, seeds 0 1 2
    python -m regen_image.bench --out DIR --seeds 0 --methods latent pixel train.generate.max_steps=400
    python -m regen_image.bench --merge A/bench.json B/bench.json --out DIR   # one report over their seeds

Every method trains with the same generator budget (steps, batch, learning rate) and the same
UNet widths; the pixel baseline (the direct stage) is trained once per seed. Each model then
samples one image per test example (the test split's class balance) in batches, timed (wall and
CPU seconds, after a warm-up); the evaluation classifier judges the set: FID (and the
real-vs-real FID at the same n), k-NN precision/recall, conditional accuracy. For the
regeneration methods the set of reconstructions regenerate(extract(Y)) of the test images is
judged too (``recon_fid``, ``recon_cond_acc``): the ceiling the generator's Y' can reach.

Over seeds, every metric gets its mean, standard deviation and a 95% t-interval; each method is
compared with pixel diffusion seed by seed (FID difference, sampling speed ratio at the same
DDIM steps, conditional-accuracy difference), with 95% intervals. The targets are checked on
the means and, separately, on whether the 95% interval clears the threshold.
Writes DIR/bench.json (DIR/bench.partial.json after every method while running) and a PNG grid
per method. ``--merge`` only combines results whose preset, overrides, resolved config, methods,
data and code fingerprint (a hash of the regen_image and regen_core sources) are identical.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from regen_core import compare, registry
from regen_core.config import to_dict
from regen_core.pipeline import load_run, load_run_config, training_record

from .pairing import extract_all
from .sampling import sample_images
from .visualise import save_grid
from regen_core.errors import RegenError, cli_main

METHODS = {"latent": "image", "vq": "image-vq", "down": "image-down", "pixel": "image-down"}  # pixel = the direct stage (no extractor needed)
QUICK = [  # small sizes and budgets: checks the whole bench end to end in a few CPU minutes (numbers are not meaningful)
    "pairing.n_train=500", "pairing.n_test=50", "pairing.classifier_steps=100", "pairing.sample_steps=10",
    "pairing.ae_channels=[8,16,16]", "pairing.unet_channels=[16,32,32]", "pairing.prior_dim=64", "pairing.prior_layers=2",
    "pairing.sr_channels=16", "pairing.sr_blocks=1",
    "train.extract.max_steps=40", "train.generate.max_steps=60", "train.regenerate.max_steps=40",
    "train.direct.max_steps=60",
]
TRAIN_STAGES = ("extract", "generate", "regenerate")
MERGE_KEYS = ("quick", "preset", "overrides", "methods", "n_eval", "config", "code", "data")  # must match to merge
TARGET_FID = "latent_fid_below_pixel_fid"
TARGET_SPEED = "latent_sampling_4x_faster"
TARGET_ACC = "latent_cond_acc_at_least_0.9"


class BenchMergeError(RegenError, ValueError):
    """Per-seed bench results that cannot be combined into one report (different settings or code)."""


def _seeded(run_cfg: Any, seed: int) -> Any:
    stages = {s: dataclasses.replace(getattr(run_cfg.train, s), seed=seed) for s in ("extract", "generate", "regenerate", "direct")}
    return dataclasses.replace(run_cfg, train=dataclasses.replace(run_cfg.train, **stages))


def code_fingerprint() -> dict[str, Any]:
    """Core's fingerprint of the regen_core and regen_image sources (what a merge must share)."""
    import regen_core

    import regen_image

    return compare.code_fingerprint([regen_core, regen_image])


def _git_state() -> dict[str, Any]:
    """Commit and whether the package sources differ from it (informational; merging compares the source hash)."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "../core/src"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _data_info(preset: str, overrides: list[str]) -> dict[str, Any]:
    """Which data the bench reads (resolved source, split sizes, a hash of the test split)."""
    from .data import resolve_source

    cls = registry.pairing_class("image")
    cfg = load_run_config(cls, preset, overrides).pairing
    data = cls(cfg).load_data()
    test = data["test"]
    digest = hashlib.sha256(np.ascontiguousarray(test["image"], dtype=np.float32).tobytes()
                            + np.asarray(test["label"], dtype=np.int64).tobytes()).hexdigest()
    return {"source": resolve_source(cfg.source, cfg.data_path), "splits": {k: len(v) for k, v in data.items()},
            "test_sha256": digest}


def _train_records(pairing: Any, run_cfg: Any, run_dir: Path, stages: tuple[str, ...], data: Any) -> dict[str, dict]:
    """Train the stages not yet in run_dir (core's train_stages); each stage's record read from its model folder."""
    trained = compare.train_stages(pairing, run_cfg, run_dir, data=data, stages=stages, log=None)
    records = {}
    for stage in stages:
        rec = training_record(run_dir / stage / "final")
        records[stage] = {**{k: rec.get(k) for k in ("steps", "seconds", "cpu_seconds", "parameters", "explicit")},
                          "reused": trained[stage] is None}
        steps = records[stage]["steps"] or 0
        records[stage]["step_seconds"] = round(records[stage]["seconds"] / steps, 4) if steps else None
    return records


def run_method(method: str, seed: int, preset: str, overrides: list[str], out: Path, n_eval: int, grid: bool) -> dict:
    """Train one method with one seed, sample the test classes, score the set."""
    t_row, load_start = time.perf_counter(), compare.load_average()
    cls = registry.pairing_class(METHODS[method])
    run_cfg = _seeded(load_run_config(cls, preset, overrides), seed)
    pairing = cls(run_cfg.pairing)
    data = pairing.load_data()
    run_dir = out / "runs" / f"{method}-seed{seed}"
    # 1. Train (the pixel baseline is the pairing's direct stage). Training wall and CPU seconds are the
    #    trainer's (validation and checkpoint I/O excluded).
    stages = ("direct",) if method == "pixel" else TRAIN_STAGES
    records = _train_records(pairing, run_cfg, run_dir, stages, data)
    pairing, models = load_run(run_dir)
    # 2. Sample one image per test example (same classes for every method), timed after a warm-up.
    test = data["test"]
    n = len(test) if n_eval <= 0 else min(n_eval, len(test))
    labels = torch.as_tensor(np.asarray(test["label"][:n], dtype=np.int64))
    references = [np.asarray(r, dtype=np.float32) for r in test["image"][:n]]
    side = "direct" if method == "pixel" else "regeneration"
    sample_images(models, side, labels[:2], seed=10_000 + seed)
    c0 = time.process_time()
    images, seconds = sample_images(models, side, labels, seed=1000 * seed)
    cpu_seconds = time.process_time() - c0
    # 3. Score the set.
    scores = pairing.set_metrics(list(images.numpy()), references, labels.tolist())
    scores["images_per_second"] = n / seconds
    scores["images_per_cpu_second"] = n / max(cpu_seconds, 1e-9)
    # 4. The reconstruction ceiling: regenerate(extract(Y)) of the same test images.
    if method != "pixel":
        with torch.no_grad():
            real = torch.from_numpy(np.stack(references))  # (n, C, H, W)
            recon = models["regenerate"].decode_batch(extract_all(models["extract"], real)).float().cpu()
        rec_scores = pairing.set_metrics(list(recon.numpy()), references, labels.tolist())
        scores["recon_fid"], scores["recon_cond_acc"] = rec_scores["fid"], rec_scores["set_cond_acc"]
    if grid:
        rows = [images[labels == c][:8] for c in range(pairing.config.num_classes)]
        save_grid([list(r.numpy()) for r in rows if len(r)], out / f"grid_{method}_seed{seed}.png")
    return {"method": method, "seed": seed, "n": n, "training": records, "sampling_seconds": round(seconds, 3),
            "sampling_cpu_seconds": round(cpu_seconds, 3), **{k: float(v) for k, v in scores.items()},
            "row_wall_seconds": round(time.perf_counter() - t_row, 1),
            "load_average": {"start": load_start, "end": compare.load_average()}}


METRIC_KEYS = ("fid", "fid_real_vs_real", "precision", "recall", "set_cond_acc", "classifier_accuracy",
               "images_per_second", "images_per_cpu_second", "recon_fid", "recon_cond_acc")


def summarise(rows: list[dict]) -> dict:
    """Per method: each metric's mean, std and 95% t-interval over seeds (with the per-seed values); training seconds."""
    out: dict[str, Any] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["seed"])
        keys = [k for k in METRIC_KEYS if all(k in r for r in mine)]
        metrics = {k: compare.summary([r[k] for r in mine]) for k in keys}
        stages = list(mine[0]["training"])
        training = {s: compare.summary([r["training"][s]["seconds"] for r in mine]) for s in stages}
        step_time = {s: compare.summary([r["training"][s]["seconds"] / r["training"][s]["steps"] for r in mine])
                     for s in stages if all(r["training"][s]["steps"] for r in mine)}
        cpu = [[r["training"][s].get("cpu_seconds") for s in stages] for r in mine]
        out[method] = {
            "seeds": [r["seed"] for r in mine],
            "metrics": metrics,
            "mean": {k: v["mean"] for k, v in metrics.items()},
            "training_seconds_by_stage": training,
            "step_seconds_by_stage": step_time,
            "training_seconds": float(np.mean([sum(r["training"][s]["seconds"] for s in stages) for r in mine])),
            "training_cpu_seconds": (float(np.mean([sum(c) for c in cpu]))
                                     if all(x is not None for c in cpu for x in c) else None),
            "any_stage_reused": any(r["training"][s].get("reused", False) for r in mine for s in stages),
        }
    return out


def comparisons(rows: list[dict]) -> dict:
    """Each regeneration method against pixel diffusion, paired by seed, with 95% t-intervals."""
    pixel = {r["seed"]: r for r in rows if r["method"] == "pixel"}
    out: dict[str, Any] = {}
    for method in dict.fromkeys(r["method"] for r in rows if r["method"] != "pixel"):
        mine = {r["seed"]: r for r in rows if r["method"] == method}
        seeds = sorted(s for s in mine if s in pixel)
        if not seeds:
            continue
        pair = [(mine[s], pixel[s]) for s in seeds]

        def side(key: str) -> tuple[list[float], list[float]]:
            return [a[key] for a, _ in pair], [b[key] for _, b in pair]

        out[f"{method}_vs_pixel"] = {
            "seeds": seeds,
            "fid_difference": compare.paired_difference(*side("fid")),  # < 0: the method is better
            "set_cond_acc_difference": compare.paired_difference(*side("set_cond_acc")),
            "sampling_speed_ratio": compare.paired_ratio(*side("images_per_second")),
        }
        if all("images_per_cpu_second" in r for ab in pair for r in ab):
            out[f"{method}_vs_pixel"]["sampling_cpu_speed_ratio"] = compare.paired_ratio(*side("images_per_cpu_second"))
    return out


def targets(summary: dict, comps: dict, sample_steps: int) -> dict:
    """The issue's targets, checked on the means (``met``) and on the 95% intervals (``met_with_95_interval``)."""
    t: dict[str, Any] = {}
    lp = comps.get("latent_vs_pixel")
    if lp:
        fd = lp["fid_difference"]
        t[TARGET_FID] = {"latent": summary["latent"]["mean"]["fid"], "pixel": summary["pixel"]["mean"]["fid"],
                         "difference": fd["mean"], "difference_ci95": fd["ci95"], "met": fd["mean"] < 0,
                         "met_with_95_interval": compare.clears(fd, 0.0, above=False)}
        sr, cr = lp["sampling_speed_ratio"], lp.get("sampling_cpu_speed_ratio", {"mean": None, "ci95": None})
        t[TARGET_SPEED] = {"ddim_steps_both": sample_steps, "ratio": sr["mean"], "ratio_ci95": sr["ci95"],
                           "cpu_ratio": cr["mean"], "cpu_ratio_ci95": cr["ci95"], "met": sr["mean"] >= 4.0,
                           "met_with_95_interval": compare.clears(sr, 4.0, above=True)}
    if "latent" in summary:
        acc = summary["latent"]["metrics"]["set_cond_acc"]
        t[TARGET_ACC] = {"value": acc["mean"], "ci95": acc["ci95"], "met": acc["mean"] >= 0.9,
                         "met_with_95_interval": compare.clears(acc, 0.9, above=True)}
    return t


def build_report(header: dict, rows: list[dict]) -> dict:
    summary, comps = summarise(rows), comparisons(rows)
    sample_steps = header["config"]["pairing"]["sample_steps"]
    return {**header, "seeds": sorted({r["seed"] for r in rows}), "rows": rows, "summary": summary,
            "comparisons": comps, "targets": targets(summary, comps, sample_steps)}


def merge_reports(paths: list[Path]) -> tuple[dict, list[dict]]:
    """(header, rows) of several bench.json / bench.partial.json files with identical settings and code."""
    if not paths:
        raise BenchMergeError("--merge needs at least one bench.json")
    reports = []
    for p in paths:
        try:
            reports.append(json.loads(Path(p).read_text()))
        except (OSError, ValueError) as err:
            raise BenchMergeError(f"{p}: cannot read a bench result ({err})") from None
    first = reports[0]
    for p, r in zip(paths[1:], reports[1:]):
        for k in MERGE_KEYS:
            if r.get(k) != first.get(k):
                raise BenchMergeError(f"{p}: '{k}' differs from {paths[0]} ({r.get(k)!r} vs {first.get(k)!r}); "
                                      "only runs with the same settings, data and code can be merged")
    rows, seen = [], set()
    for p, r in zip(paths, reports):
        for row in r.get("rows", []):
            key = (row["method"], row["seed"])
            if key in seen:
                raise BenchMergeError(f"{p}: {row['method']} seed {row['seed']} appears in more than one input")
            seen.add(key)
            rows.append(row)
    header = {k: first.get(k) for k in (*MERGE_KEYS, "equal_compute", "machine")}
    header["merged_from"] = [{"path": str(p), "seeds": r.get("seeds"), "git": r.get("git"),
                              "seconds_total": r.get("seconds_total")} for p, r in zip(paths, reports)]
    header["seconds_total"] = round(sum(r.get("seconds_total") or 0.0 for r in reports), 1)
    return header, rows


def _print_row(row: dict) -> None:
    cpu = f" ({row['images_per_cpu_second']:.1f} per CPU s)" if "images_per_cpu_second" in row else ""
    took = (f" [{row['row_wall_seconds']:.0f} s, load {row['load_average']['end'][0]}]"
            if "row_wall_seconds" in row else "")
    recon = f" | recon fid {row['recon_fid']:.2f} acc {row['recon_cond_acc']:.3f}" if "recon_fid" in row else ""
    print(f"[bench] {row['method']:6s} seed {row['seed']}: fid {row['fid']:.3f} (real-vs-real {row['fid_real_vs_real']:.3f}) "
          f"cond_acc {row['set_cond_acc']:.3f} P {row['precision']:.2f} R {row['recall']:.2f} "
          f"{row['images_per_second']:.1f} img/s{cpu}{recon}{took}", flush=True)


def _finish(out: Path, report: dict) -> None:
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    (out / "bench.partial.json").unlink(missing_ok=True)
    brief = {m: {k: [round(v["mean"], 4), v["ci95"] and [round(x, 4) for x in v["ci95"]]] for k, v in s["metrics"].items()}
             for m, s in report["summary"].items()}
    print(json.dumps({"summary (mean, 95% interval)": brief, "targets": report["targets"]}, indent=1))
    print(f"wrote {out / 'bench.json'}")


@cli_main("python -m regen_image.bench")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_image.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (bench.json, grids, runs/)")
    p.add_argument("--quick", action="store_true", help="small budgets, one seed (default seeds: 0)")
    p.add_argument("--preset", default=None, help="preset to start from (default: tiny with --quick, else bench_full)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="training/sampling seeds (default 0 1 2; --quick: 0)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--n-eval", type=int, default=0, help="test images sampled per method (0 = the whole test split)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--merge", nargs="+", type=Path, default=None, metavar="BENCH_JSON",
                   help="combine these results (same settings and code, different seeds) into OUT/bench.json; trains nothing")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.generate.max_steps=400")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.merge:
        try:
            header, rows = merge_reports(args.merge)
        except BenchMergeError as err:
            print(f"regen_image.bench: error: {err}", file=sys.stderr)
            return 2
        out.mkdir(parents=True, exist_ok=True)
        for row in rows:
            _print_row(row)
        _finish(out, build_report(header, rows))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = args.preset or ("tiny" if args.quick else "bench_full")
    overrides = (QUICK if args.quick else []) + list(args.overrides)
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    cfg = load_run_config(registry.pairing_class("image"), preset, overrides)
    header = {
        "quick": args.quick, "preset": preset, "overrides": overrides, "methods": args.methods, "n_eval": args.n_eval,
        "config": to_dict(cfg), "code": code_fingerprint(), "data": _data_info(preset, overrides), "git": _git_state(),
        "equal_compute": "same UNet widths, generator/direct steps, batch size and DDIM steps for every diffusion model; "
                         "the learned extractors' (autoencoders') training is extra compute on the regeneration side",
        "machine": compare.machine_record(),
    }
    rows = []
    for seed in seeds:
        for method in args.methods:
            row = run_method(method, seed, preset, overrides, out, args.n_eval, grid=seed == seeds[0])
            rows.append(row)
            _print_row(row)
            (out / "bench.partial.json").write_text(json.dumps({**header, "seeds": seeds, "rows": rows}, indent=2))
    header["seconds_total"] = round(time.perf_counter() - t0, 1)
    header["cpu_seconds_total"] = round(time.process_time() - c0, 1)
    _finish(out, build_report(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
