"""``python -m regen_melody.pd_analysis --run DIR --out DIR``: why PD (pitch-distribution overlap) is
or is not won by regeneration -> DIR/pd_analysis.json.

Measured on the run's held-out chorales (the bench's test split), every number a mean over
the test pieces (and over the sampling seeds where something is sampled):

1. data: keys of the training / test chorales (the tonic the template's ``transpose`` undoes),
   register (mean and median MIDI pitch) of chorale sopranos, folk tunes and both moved to
   C major / A minor;
2. distribution baselines, no model: PD of *n* notes drawn i.i.d. from a fixed pitch
   distribution against each reference (n = the reference's own note count), for the
   training chorales' absolute distribution (all a lyrics-blind direct model can learn), the
   key-normalised chorale / folk distributions left in C / Am (what regeneration gets with
   ``transpose = 0``), moved to every fixed tonic, and moved by the reference's own shift
   (an oracle, for scale only); plus the reference against its own i.i.d. resample (the
   ceiling sampling noise leaves);
3. models: direct's PD against its reference, against the training-chorale average and
   against other test pieces (does its pitch content depend on the lyrics?), register of its
   output; regeneration's PD with the generated template put in every fixed key (``--shifts``;
   the sounding register kept, the notes resampled with the pipeline's seed), in the
   reference's key (oracle, for scale only) and in the key the generator chose; the
   regenerator on the ground-truth templates with their shift and with the shift set to 0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import _fold, overlap, pitch_overlap
from regen_core.errors import cli_main

SHIFTS = tuple(range(-5, 7))  # shift_to_c's range: the transpose of every key


def folded_hist(pitches: list[int], shift: int = 0) -> np.ndarray:
    """(128,) note counts, pitches moved by ``shift`` then folded as PD folds them."""
    h = np.zeros(128)
    for p in pitches:
        h[_fold(int(p) + shift)] += 1
    return h


def raw_hist(pitches: list[int], shift: int = 0) -> np.ndarray:
    """(128,) note counts of pitches moved by ``shift`` (unfolded)."""
    h = np.zeros(128)
    for p in pitches:
        h[int(np.clip(int(p) + shift, 0, 127))] += 1
    return h


def fold_dist(raw: np.ndarray, shift: int = 0) -> np.ndarray:
    """A raw (128,) distribution moved by ``shift`` and folded."""
    out = np.zeros(128)
    for p in np.nonzero(raw)[0]:
        out[_fold(int(p) + shift)] += raw[p]
    return out / max(out.sum(), 1e-12)


def iid_pd(dist: np.ndarray, ref_pitches: list[int], rng: np.random.Generator, draws: int = 3) -> float:
    """Mean PD of len(ref) notes drawn i.i.d. from ``dist`` (folded (128,)) against the reference."""
    ref = folded_hist(ref_pitches)
    vals = []
    for _ in range(draws):
        sample = rng.choice(128, size=len(ref_pitches), p=dist)
        vals.append(overlap(ref, np.bincount(sample, minlength=128).astype(np.float64)))
    return float(np.mean(vals))


def register(melodies: list[list[int]]) -> dict[str, float]:
    means = [float(np.mean(p)) for p in melodies if len(p)]
    spans = [float(np.max(p) - np.min(p)) for p in melodies if len(p)]
    return {"mean_pitch": float(np.mean(means)), "std_of_mean_pitch": float(np.std(means)),
            "median_pitch": float(np.median(np.concatenate([np.asarray(p) for p in melodies if len(p)]))),
            "mean_range": float(np.mean(spans))}


def tonic_of(t: dict[str, Any]) -> int:
    """Tonic pitch class of a template's key (C / Am moved back by ``transpose``)."""
    return ((9 if t["mode"] else 0) - int(t["transpose"])) % 12


def analyse(run: Path, seeds: tuple[int, ...], n_test: int, temperature: float,
            shifts: tuple[int, ...] = SHIFTS, split: str = "test", key_choice: str = "") -> dict[str, Any]:
    from regen_core.pipeline import load_run

    from .theory import PITCH_NAMES, shift_to_c
    from .regenerate import UNCONSTRAINED

    pairing, models = load_run(run)
    if key_choice:
        from .generate import check_key_choice

        models["generate"].key_choice = check_key_choice(key_choice)
    data = pairing.load_data()
    ex = models["extract"]
    train = [data["train"][i]["melody"] for i in range(len(data["train"]))]
    test_all = [data[split][i] for i in range(len(data[split]))]  # "test" below, whichever split
    test_rows = test_all if n_test <= 0 else test_all[:n_test]
    test = [r["melody"] for r in test_rows]
    lyrics = [r["lyrics"] for r in test_rows]
    folk = [data["unpaired"][i]["melody"] for i in range(len(data["unpaired"]))] if "unpaired" in data else []
    t_train = [ex.extract(y) for y in train]
    t_test = [ex.extract(y) for y in test]
    t_folk = [ex.extract(y) for y in folk]
    out: dict[str, Any] = {"run": str(run), "split": split, "n_train_chorales": len(train), "n_test": len(test), "n_folk": len(folk),
                           "seeds": list(seeds), "temperature": temperature,
                           "key_choice": models["generate"].key_choice}

    # 1. Keys and registers.
    def key_counts(ts: list[dict]) -> dict[str, int]:
        c: dict[str, int] = {}
        for t in ts:
            name = PITCH_NAMES[tonic_of(t)] + ("m" if t["mode"] else "")
            c[name] = c.get(name, 0) + 1
        return dict(sorted(c.items(), key=lambda kv: -kv[1]))

    out["keys"] = {"train": key_counts(t_train), "test": key_counts(t_test)}
    out["transpose_test"] = [int(t["transpose"]) for t in t_test]
    out["register"] = {
        "train_chorales": register([y["pitch"] for y in train]),
        "test_chorales": register([y["pitch"] for y in test]),
        "train_chorales_in_C_Am": register([[p + t["transpose"] for p in y["pitch"]] for y, t in zip(train, t_train)]),
    }
    if folk:
        out["register"]["folk"] = register([y["pitch"] for y in folk])
        out["register"]["folk_in_C_Am"] = register([[p + t["transpose"] for p in y["pitch"]] for y, t in zip(folk, t_folk)])

    # 2. Distribution baselines (no model).
    rng = np.random.default_rng(0)
    absolute = sum(raw_hist(y["pitch"]) for y in train)
    normalised = sum(raw_hist(y["pitch"], t["transpose"]) for y, t in zip(train, t_train))
    base: dict[str, Any] = {}

    def mean_pd(dist_for: Any) -> float:
        return float(np.mean([iid_pd(dist_for(i), y["pitch"], rng) for i, y in enumerate(test)]))

    base["train_chorales_absolute"] = mean_pd(lambda i: fold_dist(absolute))
    base["train_chorales_in_C_Am_by_tonic_shift"] = {str(s): mean_pd(lambda i, s=s: fold_dist(normalised, -s)) for s in SHIFTS}
    base["train_chorales_in_C_Am_oracle_shift"] = mean_pd(lambda i: fold_dist(normalised, -t_test[i]["transpose"]))
    if folk:
        folk_norm = sum(raw_hist(y["pitch"], t["transpose"]) for y, t in zip(folk, t_folk))
        base["folk_in_C_Am_by_tonic_shift"] = {str(s): mean_pd(lambda i, s=s: fold_dist(folk_norm, -s)) for s in SHIFTS}
        base["folk_in_C_Am_oracle_shift"] = mean_pd(lambda i: fold_dist(folk_norm, -t_test[i]["transpose"]))
    base["reference_own_resample"] = mean_pd(lambda i: fold_dist(raw_hist(test[i]["pitch"])))
    out["distribution_baselines_iid"] = base

    # 3. Models.
    from regen_core.evaluate import _seed

    avg_train = fold_dist(absolute)
    direct_rows: dict[str, list[float]] = {"PD": [], "PD_vs_train_average": [], "PD_vs_other_test_pieces": []}
    direct_pitches, regen_rows = [], {}
    regen_pitches: dict[str, list[list[int]]] = {}
    chosen_shift: list[int] = []
    decodings = {"default": models["regenerate"].decoding, "unconstrained": UNCONSTRAINED}
    for name in decodings:
        regen_rows[name] = {"by_tonic_shift": {str(s): [] for s in shifts}, "oracle_shift": [], "chosen_shift": []}
        regen_pitches[name] = []
    for seed in seeds:
        for i, (x, y) in enumerate(zip(lyrics, test)):
            d = models["direct"].sample(x, seed=_seed(seed, i), temperature=temperature)
            direct_pitches.append(d["pitch"])
            direct_rows["PD"].append(pitch_overlap(d, y))
            direct_rows["PD_vs_train_average"].append(overlap(avg_train, folded_hist(d["pitch"])))
            others = [pitch_overlap(d, z) for j, z in enumerate(test) if j != i]
            if others:
                direct_rows["PD_vs_other_test_pieces"].append(float(np.mean(others)))
            y_prime = models["generate"].sample(x, seed=_seed(seed, i), temperature=temperature)
            chosen_shift.append(int(y_prime["transpose"]))
            for name, dec in decodings.items():
                models["regenerate"].decoding = dec
                rows = regen_rows[name]

                def regen_at(shift: int) -> dict[str, Any]:
                    """The same template in another key: the sounding register kept, the notes resampled."""
                    t = dict(y_prime, transpose=shift)
                    if y_prime.get("register") is not None:
                        t["register"] = int(y_prime["register"]) - int(y_prime["transpose"]) + shift
                    return models["regenerate"].sample(t, seed=_seed(seed, i) + 1, temperature=temperature)

                pred = regen_at(int(y_prime["transpose"]))  # what the pipeline samples (regenerate_pipeline's seeds)
                regen_pitches[name].append(pred["pitch"])
                rows["chosen_shift"].append(pitch_overlap(pred, y))
                for s in shifts:
                    rows["by_tonic_shift"][str(s)].append(pitch_overlap(regen_at(s), y))
                rows["oracle_shift"].append(pitch_overlap(regen_at(int(t_test[i]["transpose"])), y))
    models["regenerate"].decoding = decodings["default"]
    out["direct"] = {k: float(np.mean(v)) if v else None for k, v in direct_rows.items()}
    out["direct"]["register"] = register(direct_pitches)
    out["regeneration"] = {}
    for name, rows in regen_rows.items():
        out["regeneration"][name] = {
            "PD_by_tonic_shift": {s: float(np.mean(v)) for s, v in rows["by_tonic_shift"].items()},
            "PD_oracle_shift": float(np.mean(rows["oracle_shift"])),
            "PD_chosen_shift": float(np.mean(rows["chosen_shift"])),
            "register": register(regen_pitches[name]),
        }
    out["regeneration"]["chosen_shifts"] = {str(s): chosen_shift.count(s) for s in sorted(set(chosen_shift))}
    # The regenerator on the ground-truth templates: with their shift, and with the shift set to 0.
    gt = {"gt_shift": [], "shift_0": []}
    for seed in seeds:
        for i, (y, t) in enumerate(zip(test, t_test)):
            pred = models["regenerate"].sample(t, seed=seed * 1000 + i, temperature=temperature)
            gt["gt_shift"].append(pitch_overlap(pred, y))
            t0 = dict(t, transpose=0, register=int(t["register"]) - int(t["transpose"]))  # C / Am, sounding register kept
            gt["shift_0"].append(pitch_overlap(models["regenerate"].sample(t0, seed=seed * 1000 + i, temperature=temperature), y))
    out["regenerator_on_ground_truth_templates"] = {k: float(np.mean(v)) for k, v in gt.items()}
    if shifts:
        out["best_fixed_shift"] = {
            name: max(out["regeneration"][name]["PD_by_tonic_shift"].items(), key=lambda kv: kv[1]) for name in decodings
        }
    out["shift_to_c_of_keys"] = {k: shift_to_c(PITCH_NAMES.index(k.rstrip("m")), k.endswith("m")) for k in out["keys"]["train"]}
    return out


@cli_main("python -m regen_melody.pd_analysis")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regen_melody.pd_analysis", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="a trained melody run folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--n-test", type=int, default=0, help="held-out chorales (0 = all)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--split", default="test", choices=("valid", "test"), help="held-out chorales to analyse")
    ap.add_argument("--key-choice", default="", help="override the generator's key_choice (c | likeliest | sample)")
    ap.add_argument("--shifts", default="all", help="fixed key shifts to resample regeneration in: all (-5..6), none, or e.g. 0,5,-2")
    args = ap.parse_args(argv)
    shifts = SHIFTS if args.shifts == "all" else () if args.shifts == "none" else tuple(int(s) for s in args.shifts.split(","))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = analyse(Path(args.run), tuple(int(s) for s in args.seeds.split(",")), args.n_test, args.temperature, shifts,
                     args.split, args.key_choice)
    (out / "pd_analysis.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    print(f"wrote {out / 'pd_analysis.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
