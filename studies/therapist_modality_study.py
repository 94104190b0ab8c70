"""Simulation study: therapists differ in how well they deliver a modality (therapist x modality variation).

The random-intercept model lets each therapist's patients do better or worse overall, but assumes
a modality's effect is the same whoever gives it. When therapists differ in how well they deliver a
modality (a therapist-by-modality random slope), that model's interval for a modality's difference
is too narrow. A cluster-robust covariance around the same estimate does not rest on that
assumption.

Each replicate: 20 therapists in 4 clinics, 75 episodes each; a therapist random intercept (SD 0.5
NRS points); each therapist gives all four modalities, the favourite to half of the patients and
the rest partly by severity (confounding by indication); the effect of modality m for therapist t is
PAIN[m] + b_tm with b_tm ~ N(0, slope SD) (0 or 0.3 points), so the population-average difference is
PAIN[m]. Methods, through ``adjusted_comparisons``: episodes independent, random intercept with its
model-based covariance (before), random intercept with the bias-reduced cluster-robust covariance
(now). Printed: bias, coverage of the 95 % interval, and the false-positive rate for the modality
with no effect.

Run: ``python studies/therapist_modality_study.py --replicates 200`` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import analysis.methods._compare as compare  # noqa: E402
from analysis.methods import OutcomeSettings, adjusted_comparisons  # noqa: E402

MODS = ["ref", "b", "c", "d"]
PAIN = {"ref": 0.0, "b": -0.4, "c": 0.0, "d": 0.3}
AGE = ["18-29", "30-39", "40-49", "50-59", "60-69", "70-79"]


def simulate(rng, slope_sd: float, n_ther: int = 20, per: int = 75) -> pd.DataFrame:
    u = rng.normal(0, 0.5, n_ther)
    b = rng.normal(0, slope_sd, (n_ther, len(MODS)))
    b[:, 0] = 0.0
    fav = rng.integers(0, len(MODS), n_ther)
    t = np.repeat(np.arange(n_ther), per)
    n = len(t)
    age = rng.integers(0, len(AGE), n)
    base = 6.3 + 1.5 * rng.normal(0, 1, n) + rng.normal(0, 1.0, n)
    sev = (base - 6.3) / 1.8
    pull = np.column_stack([0 * sev, -0.6 * sev, 0.3 * sev, 0.8 * sev])
    by_ind = np.argmax(pull + rng.gumbel(size=pull.shape), axis=1)
    m = np.where(rng.random(n) < 0.5, fav[t], by_ind)
    eff = np.asarray([PAIN[x] for x in MODS])[m] + b[t, m]
    final = base - 3.0 + 0.35 * (base - 6.3) + 0.15 * (age - 2.5) + eff + u[t] + rng.normal(0, 1.8, n)
    return pd.DataFrame({
        "modality": np.asarray(MODS)[m], "therapist": np.asarray([f"T{i:02d}" for i in range(n_ther)])[t],
        "clinic": np.asarray([f"C{i % 4}" for i in range(n_ther)])[t], "age_band": np.asarray(AGE)[age],
        "sex": np.where(rng.random(n) < 0.55, "female", "male"), "cause": "disc_herniation", "symptom_band": "<6",
        "surgical_candidate": False, "baseline_leg_pain": base, "final_leg_pain": final,
        "leg_pain_change": final - base, "recovered": pd.array([pd.NA] * n, dtype="boolean"),
        "surgery_time": np.full(n, 365.0), "surgery_event": np.zeros(n, bool), "in_population": np.ones(n, bool),
    })


def run(d: pd.DataFrame) -> list[dict]:
    rows = []
    robust_now = compare.random_intercept_model
    for method, cluster, robust in (("independent episodes", "none", True),
                                    ("random intercept, model covariance (before)", "therapist", False),
                                    ("random intercept, cluster-robust covariance (now)", "therapist", True)):
        # before: the model's own covariance (the product now asks for robust=True)
        compare.random_intercept_model = robust_now if robust else functools.partial(_model_based, robust_now)
        try:
            adj = adjusted_comparisons(d, reference="ref", cluster=cluster, settings=OutcomeSettings(),
                                       models=("leg_pain_change",))
        finally:
            compare.random_intercept_model = robust_now
        for r in adj["leg_pain_change"].to_dict("records"):
            if pd.isna(r["difference"]):
                continue
            target = PAIN[r["modality"]]
            rows.append({"method": method, "modality": r["modality"], "error": r["difference"] - target,
                         "covered": r["ci_low"] <= target <= r["ci_high"], "null": target == 0.0,
                         "positive": r["p"] < 0.05})
    return rows


def _model_based(fit, *args, **kwargs):
    return fit(*args, **{**kwargs, "robust": False})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261203)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for sd in (0.0, 0.3):
        for i in range(args.replicates):
            rows += [{"slope_sd": sd, **r} for r in run(simulate(np.random.default_rng([args.seed, int(sd * 10), i]), sd))]
        print(f"  slope SD {sd}: {args.replicates} replicates ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    res = pd.DataFrame(rows)
    print(f"\n{args.replicates} replicates per slope SD, 20 therapists x 75 episodes, seed {args.seed}; "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| therapist x modality SD | method | intervals | bias (points) | coverage of 95% CI | "
          "false-positive rate (no effect) |")
    print("|---|---|---|---|---|---|")
    for (sd, method), grp in res.groupby(["slope_sd", "method"], sort=False):
        null = grp[grp["null"]]
        print(f"| {sd} | {method} | {len(grp)} | {grp['error'].mean():+.3f} | {100 * grp['covered'].mean():.1f}% | "
              f"{100 * null['positive'].mean():.1f}% |")


if __name__ == "__main__":
    main()
