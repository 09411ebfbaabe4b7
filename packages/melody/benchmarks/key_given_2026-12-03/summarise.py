"""Regeneration - direct per training seed (each the mean over 10 sampling seeds x 34 test chorales)
and a 95% t-interval over the 3 training seeds: python summarise.py > summary.json"""
import json
from pathlib import Path

import numpy as np
from scipy import stats

here = Path(__file__).parent
out = {}
for weights in ("final", "best"):
    runs = [json.loads((here / f"test_train{t}_{weights}.json").read_text()) for t in (0, 1, 2)]
    for cond in ("comparison", "comparison_unconstrained", "comparison_key_given", "comparison_key_given_unconstrained"):
        for m in ("PD", "DD", "MD"):
            d = np.array([r[cond][m]["regeneration"] - r[cond][m]["direct"] for r in runs])
            h = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            out[f"{weights}/{cond}/{m}"] = {
                "per_training_seed": [round(float(x), 4) for x in d],
                "per_training_seed_winner": [r[cond][m]["winner"] for r in runs],
                "mean": round(float(d.mean()), 4), "ci95_over_training_seeds": [round(float(d.mean() - h), 4), round(float(d.mean() + h), 4)],
            }
print(json.dumps(out, indent=1))
