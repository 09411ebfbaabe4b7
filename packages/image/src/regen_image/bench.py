"""Benchmark: latent diffusion vs VQ prior vs down-sampling vs pixel diffusion at equal training compute.

    python -m regen_image.bench --quick --out DIR          # minutes: one seed, small budgets
    python -m regen_image.bench --out DIR                  # preset `bench_full`, seeds 0 1 2
    python -m regen_image.bench --out DIR --seeds 0 --methods latent pixel train.generate.max_steps=400

Every method trains with the same generator budget (steps, batch, learning rate) and the same
UNet widths; the pixel baseline (the direct stage) is trained once per seed. Each model then
samples one image per test example (the test split's class balance) in batches, timed; the
evaluation classifier judges the set: FID (and the real-vs-real FID at the same n), k-NN
precision/recall, conditional accuracy. Writes DIR/bench.json and a PNG grid per method.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from regen_core import registry
from regen_core.config import to_dict
from regen_core.pipeline import load_run, load_run_config, train_stage

from .sampling import sample_images
from .visualise import save_grid

METHODS = {"latent": "image", "vq": "image-vq", "down": "image-down", "pixel": "image-down"}  # pixel = the direct stage (no extractor needed)
QUICK = [  # small sizes and budgets: checks the whole bench end to end in a few CPU minutes (numbers are not meaningful)
    "pairing.n_train=500", "pairing.n_test=50", "pairing.classifier_steps=100", "pairing.sample_steps=10",
    "pairing.ae_channels=[8,16,16]", "pairing.unet_channels=[16,32,32]", "pairing.prior_dim=64", "pairing.prior_layers=2",
    "pairing.sr_channels=16", "pairing.sr_blocks=1",
    "train.extract.max_steps=40", "train.generate.max_steps=60", "train.regenerate.max_steps=40",
    "train.direct.max_steps=60",
]
TRAIN_STAGES = ("extract", "generate", "regenerate")


def _seeded(run_cfg: Any, seed: int) -> Any:
    import dataclasses

    stages = {s: dataclasses.replace(getattr(run_cfg.train, s), seed=seed) for s in ("extract", "generate", "regenerate", "direct")}
    return dataclasses.replace(run_cfg, train=dataclasses.replace(run_cfg.train, **stages))


def run_method(method: str, seed: int, preset: str, overrides: list[str], out: Path, n_eval: int, grid: bool) -> dict:
    """Train one method with one seed, sample the test classes, score the set."""
    cls = registry.pairing_class(METHODS[method])
    run_cfg = _seeded(load_run_config(cls, preset, overrides), seed)
    pairing = cls(run_cfg.pairing)
    data = pairing.load_data()
    run_dir = out / "runs" / f"{method}-seed{seed}"
    # 1. Train (the pixel baseline is the pairing's direct stage).
    stages = ("direct",) if method == "pixel" else TRAIN_STAGES
    records = {}
    for stage in stages:
        done = (run_dir / stage / "final").exists()
        if not done:
            rec = train_stage(pairing, stage, run_cfg, run_dir, data=data)
            records[stage] = {"steps": rec.steps, "seconds": round(rec.seconds, 2), "parameters": rec.parameters}
    pairing, models = load_run(run_dir)
    # 2. Sample one image per test example (same classes for every method), timed after a warm-up.
    test = data["test"]
    n = len(test) if n_eval <= 0 else min(n_eval, len(test))
    labels = torch.as_tensor(np.asarray(test["label"][:n], dtype=np.int64))
    references = [np.asarray(r, dtype=np.float32) for r in test["image"][:n]]
    side = "direct" if method == "pixel" else "regeneration"
    sample_images(models, side, labels[:2], seed=10_000 + seed)
    images, seconds = sample_images(models, side, labels, seed=1000 * seed)
    # 3. Score the set.
    scores = pairing.set_metrics(list(images.numpy()), references, labels.tolist())
    scores["images_per_second"] = n / seconds
    if grid:
        rows = [images[labels == c][:8] for c in range(pairing.config.num_classes)]
        save_grid([list(r.numpy()) for r in rows if len(r)], out / f"grid_{method}_seed{seed}.png")
    return {"method": method, "seed": seed, "n": n, "training": records, **{k: float(v) for k, v in scores.items()}}


def summarise(rows: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        keys = [k for k, v in mine[0].items() if isinstance(v, float)]
        out[method] = {
            "seeds": [r["seed"] for r in mine],
            "mean": {k: float(np.mean([r[k] for r in mine])) for k in keys},
            "std": {k: float(np.std([r[k] for r in mine], ddof=1)) if len(mine) > 1 else None for k in keys},
            "training_seconds": float(np.mean([sum(s["seconds"] for s in r["training"].values()) for r in mine])),
        }
    return out


def targets(summary: dict) -> dict:
    """The issue's targets, checked on the means (met: true/false, with the numbers)."""
    t: dict[str, Any] = {}
    if "latent" in summary and "pixel" in summary:
        lat, pix = summary["latent"]["mean"], summary["pixel"]["mean"]
        t["latent_fid_below_pixel_fid"] = {"latent": lat["fid"], "pixel": pix["fid"], "met": lat["fid"] < pix["fid"]}
        ratio = lat["images_per_second"] / pix["images_per_second"]
        t["latent_sampling_4x_faster"] = {"ratio": ratio, "met": ratio >= 4.0}
    if "latent" in summary:
        acc = summary["latent"]["mean"]["set_cond_acc"]
        t["latent_cond_acc_at_least_0.9"] = {"value": acc, "met": acc >= 0.9}
    return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regen_image.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (bench.json, grids, runs/)")
    p.add_argument("--quick", action="store_true", help="small budgets, one seed (default seeds: 0)")
    p.add_argument("--preset", default=None, help="preset to start from (default: tiny with --quick, else bench_full)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="training/sampling seeds (default 0 1 2; --quick: 0)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--n-eval", type=int, default=0, help="test images sampled per method (0 = the whole test split)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.generate.max_steps=400")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = args.preset or ("tiny" if args.quick else "bench_full")
    overrides = (QUICK if args.quick else []) + list(args.overrides)
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = []
    for seed in seeds:
        for method in args.methods:
            row = run_method(method, seed, preset, overrides, out, args.n_eval, grid=seed == seeds[0])
            rows.append(row)
            print(f"[bench] {method:6s} seed {seed}: fid {row['fid']:.3f} (real-vs-real {row['fid_real_vs_real']:.3f}) "
                  f"cond_acc {row['set_cond_acc']:.3f} P {row['precision']:.2f} R {row['recall']:.2f} "
                  f"{row['images_per_second']:.1f} img/s", flush=True)
            partial = {"rows": rows}
            (out / "bench.partial.json").write_text(json.dumps(partial, indent=2))
    summary = summarise(rows)
    cfg = load_run_config(registry.pairing_class("image"), preset, overrides)
    report = {
        "quick": args.quick, "preset": preset, "overrides": overrides, "seeds": seeds, "methods": args.methods,
        "equal_compute": "same UNet widths, generator/direct steps, batch size and DDIM steps for every diffusion model; "
                         "the learned extractors' (autoencoders') training is extra compute on the regeneration side",
        "config": to_dict(cfg), "rows": rows, "summary": summary, "targets": targets(summary),
        "seconds_total": round(time.perf_counter() - t0, 1),
        "machine": {"python": sys.version.split()[0], "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "platform": platform.platform()},
    }
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    (out / "bench.partial.json").unlink(missing_ok=True)
    print(json.dumps({"summary": {m: s["mean"] for m, s in summary.items()}, "targets": report["targets"]}, indent=2))
    print(f"wrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
