"""Regeneration - direct per training seed (each the mean over 10 sampling seeds x 34 test chorales)
and a 95% t-interval over the 3 training seeds: python summarise.py > summary.json"""
import json
from pathlib import Path

from regen_core.compare import paired_difference

here = Path(__file__).parent
out = {}
for weights in ("final", "best"):
    runs = [json.loads((here / f"test_train{t}_{weights}.json").read_text()) for t in (0, 1, 2)]
    for cond in ("comparison", "comparison_unconstrained", "comparison_key_given", "comparison_key_given_unconstrained"):
        for m in ("PD", "DD", "MD"):
            d = paired_difference([r[cond][m]["regeneration"] for r in runs], [r[cond][m]["direct"] for r in runs])
            out[f"{weights}/{cond}/{m}"] = {
                "per_training_seed": [round(x, 4) for x in d["per_seed"]],
                "per_training_seed_winner": [r[cond][m]["winner"] for r in runs],
                "mean": round(d["mean"], 4), "ci95_over_training_seeds": [round(x, 4) for x in d["ci95"]],
            }
print(json.dumps(out, indent=1))
