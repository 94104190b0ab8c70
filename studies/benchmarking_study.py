"""Simulation study: does case-mix adjusted benchmarking find the therapists that differ?

Each replicate: a network of 20 therapists in 4 clinics, about 150 episodes each. Every therapist
has a true effect on final leg pain (SD 0.5 NRS points) and on the log-odds of recovery (SD 0.4),
and therapists see different case mix (some get severer, more chronic patients), so crude
comparisons would blame therapists for their patients. ``benchmark_units`` (the product's own
function) then gives each therapist's observed-minus-expected difference, its 95 % interval and its
shrunken estimate. Printed: the Spearman correlation between the shrunken estimates and the true
effects (crude mean final leg pain beside it), the coverage of the 95 % intervals of the true
centred effects by the shrunken estimates' intervals, how often a therapist is flagged at the 99.8 %
limits, and, with one therapist made 1.5 or 2 points worse, how often that therapist is flagged and
how often the others are, with overdispersion estimated from raw z-scores (before) and from
z-scores winsorised at 10/90 % (now, Spiegelhalter 2005).

Run: ``python studies/benchmarking_study.py --replicates 1000`` (about a minute). Not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import analysis.methods._benchmark as bm  # noqa: E402
from analysis.methods import benchmark_units  # noqa: E402

AGE = ["18-29", "30-39", "40-49", "50-59", "60-69", "70-79"]
CAUSE = ["disc_herniation", "foraminal_stenosis", "central_stenosis"]


def network(rng, therapists=20, per=150, sd_u=0.5, sd_v=0.4, outlier=0.0):
    t = np.repeat(np.arange(therapists), per)
    n = len(t)
    u, v = rng.normal(0, sd_u, therapists), rng.normal(0, sd_v, therapists)
    u[0] += outlier  # therapist T00 this many points worse on final leg pain
    severity_shift = rng.normal(0, 0.8, therapists)  # case mix differs by therapist
    base = np.clip(6.3 + severity_shift[t] + rng.normal(0, 1.8, n), 0, 10)
    age = rng.integers(0, len(AGE), n)
    weeks = rng.gamma(2.0, 5.0 + 3 * (severity_shift[t] > 0), n)
    band = np.where(weeks < 6, "<6", np.where(weeks <= 12, "6-12", ">12"))
    cause = rng.integers(0, len(CAUSE), n)
    final = (base - 3 + 0.35 * (base - 6.3) + 0.15 * (age - 2.5) + 0.3 * (band == ">12") + 0.2 * (cause == 2)
             + u[t] + rng.normal(0, 1.8, n))
    lin = -0.25 * (base - 6.3) - 0.3 * (band == ">12") + v[t]
    rec = rng.random(n) < 1 / (1 + np.exp(-lin))
    d = pd.DataFrame({
        "therapist": np.array([f"T{i:02d}" for i in range(therapists)])[t], "clinic": (t % 4).astype(str),
        "baseline_leg_pain": base, "final_leg_pain": final, "recovered": pd.array(rec, dtype="boolean"),
        "age_band": np.asarray(AGE)[age], "sex": np.where(rng.random(n) < 0.55, "female", "male"),
        "symptom_band": band, "cause": np.asarray(CAUSE)[cause],
    })
    return d, u, v


def _flags_before(lp) -> np.ndarray:
    """The flags as before: overdispersion from the raw z-scores (the outlier included)."""
    big = lp["difference"].notna().to_numpy()
    var = (lp["sigma2"] / lp["n"]).to_numpy(dtype="float64")
    diff = lp["difference"].to_numpy(dtype="float64")
    tau2 = bm._tau2(diff[big], var[big], winsor=None)
    return np.abs(diff) > sps.norm.ppf(0.999) * np.sqrt(var + tau2)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261124)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for i in range(args.replicates):
        rng = np.random.default_rng(args.seed + i)
        d, u, v = network(rng)
        lp = benchmark_units(d, by="therapist", outcome="leg_pain_change")
        rc = benchmark_units(d, by="therapist", outcome="recovered")
        centred = u - u.mean()
        crude = d.groupby("therapist")["final_leg_pain"].mean().to_numpy()
        row = {
            "rho_shrunken": sps.spearmanr(lp["shrunken"], u).statistic,
            "rho_difference": sps.spearmanr(lp["difference"], u).statistic,
            "rho_crude": sps.spearmanr(crude, u).statistic,
            "coverage": float(np.mean((lp["shrunken_low"] <= centred) & (centred <= lp["shrunken_high"]))),
            "flagged": float(lp["flag"].notna().mean()),
            "rho_recovery": sps.spearmanr(rc["shrunken"], v).statistic,
        }
        for delta in (1.5, 2.0):  # the same network with therapist T00 this many points worse
            d2, _, _ = network(np.random.default_rng(args.seed + i), outlier=delta)
            lp2 = benchmark_units(d2, by="therapist", outcome="leg_pain_change")
            now = lp2["flag"].notna().to_numpy()
            before = _flags_before(lp2)
            row[f"hit_now_{delta}"], row[f"hit_before_{delta}"] = bool(now[0]), bool(before[0])
            row[f"false_now_{delta}"], row[f"false_before_{delta}"] = now[1:].mean(), before[1:].mean()
        rows.append(row)
    r = pd.DataFrame(rows)
    print(f"\n{args.replicates} replicates, 20 therapists x 150 episodes, seed {args.seed}; "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| measure | mean over replicates |")
    print("|---|---|")
    print(f"| Spearman: shrunken leg-pain estimate vs true therapist effect | {r['rho_shrunken'].mean():.3f} |")
    print(f"| Spearman: observed - expected (unshrunken) vs true effect | {r['rho_difference'].mean():.3f} |")
    print(f"| Spearman: crude mean final leg pain vs true effect (no case-mix adjustment) | {r['rho_crude'].mean():.3f} |")
    print(f"| Coverage of the true centred effect by the shrunken estimate's 95% interval | "
          f"{100 * r['coverage'].mean():.1f}% |")
    print(f"| Therapists flagged at the 99.8% limits, no outlier (overdispersed funnel) | {100 * r['flagged'].mean():.1f}% |")
    print(f"| Spearman: shrunken recovery estimate vs true log-odds effect | {r['rho_recovery'].mean():.3f} |")
    print("\n| one therapist worse by | overdispersion from | networks where it is flagged | other therapists flagged |")
    print("|---|---|---|---|")
    for delta in (1.5, 2.0):
        for key, name in (("before", "raw z-scores (before)"), ("now", "z-scores winsorised at 10/90 % (now)")):
            print(f"| {delta} points | {name} | {100 * r[f'hit_{key}_{delta}'].mean():.1f}% | "
                  f"{100 * r[f'false_{key}_{delta}'].mean():.2f}% |")


if __name__ == "__main__":
    main()
