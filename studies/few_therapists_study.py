"""Simulation study: a modality given by only a few therapists, and no true effect.

In a small clinic one therapist doing dry needling is the normal case. Then the modality's
comparison cannot be told apart from that therapist's own results, and with two to four
therapists it rests on their few patients' clusters. This study asks how often each method
calls such a modality "significantly" different when it makes no difference at all.

Each replicate simulates a network of 20 therapists in 4 clinics, 75 episodes each (1,500):

- therapist random effects (SD 0.5 NRS points on final leg pain, 0.4 on the log-odds of
  recovery, 0.3 on the log-hazard of surgery);
- modality "x" given by K of the therapists (K = 1, 2, 4, 8), to half of their patients, more
  often to severer ones (treatment chosen by indication); the other patients get one of three
  modalities, partly by severity; x itself has no effect on any outcome;
- global change ratings missing more often after a poor leg-pain outcome.

Methods (all through ``adjusted_comparisons``): episodes independent (``cluster="none"``);
clustered by therapist with t on G - 1 degrees of freedom for the recovery and surgery models (as
before this study; emulated by patching the degrees of freedom); and clustered by therapist as the
product now does (no estimate with K = 1, a caution with K = 2-4, t on the effective number of
clusters). Printed: the false-positive rate (p < 0.05 for x against the reference) per outcome, K
and method, and how often x was not estimable.

Run: ``python studies/few_therapists_study.py --replicates 200`` (about 15 minutes on 2 cores).
Not a test: the numbers go in ``docs/methods.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import analysis.methods._compare as compare  # noqa: E402
import analysis.stats._clustered as clustered  # noqa: E402
from analysis.methods import OutcomeSettings, adjusted_comparisons  # noqa: E402

OTHERS = ["ref", "b", "c"]
AGE = ["18-29", "30-39", "40-49", "50-59", "60-69", "70-79"]
CAUSE = ["disc_herniation", "foraminal_stenosis", "central_stenosis"]
SD_U, SD_V, SD_W = 0.5, 0.4, 0.3


def simulate(rng, k: int, n_ther: int = 20, per: int = 75) -> pd.DataFrame:
    u, v, w = rng.normal(0, SD_U, n_ther), rng.normal(0, SD_V, n_ther), rng.normal(0, SD_W, n_ther)
    givers = rng.choice(n_ther, size=k, replace=False)
    t = np.repeat(np.arange(n_ther), per)
    n = len(t)
    age = rng.integers(0, len(AGE), n)
    cause = rng.integers(0, len(CAUSE), n)
    weeks = rng.gamma(2.0, 5.0, n)
    band = np.where(weeks < 6, "<6", np.where(weeks <= 12, "6-12", ">12"))
    base = 6.3 + 1.5 * rng.normal(0, 1, n) + rng.normal(0, 1.0, n)
    sev = (base - 6.3) / 1.8
    pull = np.column_stack([0 * sev, -0.6 * sev, 0.6 * sev])
    other = np.asarray(OTHERS)[np.argmax(pull + rng.gumbel(size=pull.shape), axis=1)]
    gets_x = np.isin(t, givers) & (rng.random(n) < 1 / (1 + np.exp(-0.8 * sev)))   # severer patients more often
    mod = np.where(gets_x, "x", other)
    eff = pd.Series(mod).map({"ref": 0.0, "b": -0.3, "c": 0.2, "x": 0.0}).to_numpy()
    e = rng.normal(0, 1.8, n)
    final = base - 3.0 + 0.35 * (base - 6.3) + 0.15 * (age - 2.5) + 0.3 * (cause == 2) + eff + u[t] + e
    change = final - base
    lin = -0.25 * (base - 6.3) - 0.1 * (age - 2.5) - 0.3 * (band == ">12") + 0.5 * eff + v[t] - 0.5 * e / 1.8
    rec = rng.random(n) < 1 / (1 + np.exp(-lin))
    miss = rng.random(n) < 1 / (1 + np.exp(-(-1.1 + 0.45 * (change + 3.0))))
    cand = rng.random(n) < 0.4
    hz = 0.0015 * np.exp(1.2 * cand + 0.2 * (base - 6.3) + 0.3 * eff + w[t])
    stime = rng.exponential(1 / hz)
    fu = rng.uniform(200, 730, n)
    event = stime <= fu
    return pd.DataFrame({
        "modality": mod, "therapist": np.asarray([f"T{i:02d}" for i in range(n_ther)])[t],
        "clinic": np.asarray([f"C{i % 4}" for i in range(n_ther)])[t],
        "age_band": np.asarray(AGE)[age], "sex": np.where(rng.random(n) < 0.55, "female", "male"),
        "cause": np.asarray(CAUSE)[cause], "symptom_band": band, "surgical_candidate": cand,
        "baseline_leg_pain": base, "final_leg_pain": final, "leg_pain_change": change,
        "recovered": pd.array(np.where(miss, pd.NA, rec), dtype="boolean"),
        "surgery_time": np.where(event, stime, fu), "surgery_event": event, "in_population": np.ones(n, bool),
    })


def _old_df(shares, G):  # before: t with G - 1 degrees of freedom whatever the clusters' shares
    return np.full(np.shape(shares)[1], max(G - 1.0, 1.0))


def run(d: pd.DataFrame) -> list[dict]:
    s = OutcomeSettings(population="all")
    rows = []
    new_df = clustered.effective_df
    for method, cluster in (("independent episodes", "none"), ("clustered, t(G-1) (before)", "therapist"),
                            ("clustered, few-cluster rule (now)", "therapist")):
        before = "before" in method
        clustered.effective_df = _old_df if before else new_df
        compare.MIN_CLUSTERS, compare.FEW_CLUSTERS = (1, 0) if before else (2, 4)
        try:
            adj = adjusted_comparisons(d, reference="ref", cluster=cluster, settings=s)
        finally:
            clustered.effective_df = new_df
            compare.MIN_CLUSTERS, compare.FEW_CLUSTERS = 2, 4
        for key, est in (("leg_pain_change", "difference"), ("recovered", "odds_ratio"), ("surgery", "hazard_ratio")):
            r = adj[key].set_index("modality").loc["x"]
            rows.append({"outcome": key, "method": method, "estimated": bool(pd.notna(r[est])),
                         "positive": bool(pd.notna(r["p"]) and r["p"] < 0.05)})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8])
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for k in args.k:
        for i in range(args.replicates):
            rng = np.random.default_rng([args.seed, k, i])
            rows += [{"K": k, **r} for r in run(simulate(rng, k))]
        print(f"  K = {k}: {args.replicates} replicates ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    res = pd.DataFrame(rows)
    tab = res.groupby(["outcome", "K", "method"], sort=False).agg(
        estimated=("estimated", "mean"), fpr=("positive", "sum"), n=("positive", "size")).reset_index()
    print(f"\n{args.replicates} replicates per K, 20 therapists x 75 episodes, no true effect of x, seed {args.seed}; "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| outcome | therapists giving x (K) | method | estimated | false-positive rate (p < 0.05) |")
    print("|---|---|---|---|---|")
    names = {"leg_pain_change": "leg pain difference", "recovered": "recovery odds ratio",
             "surgery": "surgery hazard ratio"}
    for r in tab.to_dict("records"):
        est = r["estimated"]
        fpr = r["fpr"] / r["n"]  # of all replicates: a comparison not made is not a false positive
        print(f"| {names[r['outcome']]} | {r['K']} | {r['method']} | {100 * est:.0f}% | {100 * fpr:.1f}% |")


if __name__ == "__main__":
    main()
