"""Simulation study: do the adjusted intervals and the recovery rates hold their promises
on data shaped like a clinic network?

Each replicate simulates a network of 20 therapists in 4 clinics (about 150
episodes each) with what makes real clinic data hard:

- therapist random effects: SD 0.5 NRS points on final leg pain, 0.4 on the
  log-odds of recovery, 0.3 on the log-hazard of surgery;
- modality partly chosen by therapist preference (each therapist has a
  favourite, given to half of their patients) and partly by indication
  (severer patients steered to some modalities: confounding by indication,
  which the case-mix adjustment has to remove);
- global change ratings missing more often after a poor leg-pain outcome
  (about 30 % missing; missing at random given the recorded pain scores).

It then runs the product's own functions (``adjusted_comparisons`` with
``cluster="none"`` and ``cluster="therapist"``, ``outcome_table`` and
``recovery_missing_adjusted``) and prints bias and coverage of the 95 %
intervals against the known truth, old method beside new.

Truths: leg pain differences are the generator's coefficients (the linear
model is correctly specified). Odds and hazard ratios are population-averaged
quantities, so their truth is the estimate from one very large network
(1,000 therapists, 400,000 episodes, every rating observed). Recovery rates:
the expected rate among the discharged patients of *this* replicate's
therapists (their effects held fixed), from 100,000 further simulated
patients of theirs.

Run: ``python studies/clustering_study.py --replicates 1000`` (about 5 minutes on
2 cores). Not a test: the numbers go in ``docs/methods.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from analysis.methods import (
    OutcomeSettings,
    adjusted_comparisons,
    outcome_table,
    recovery_missing_adjusted,
)

MODS = ["ref", "b", "c", "d", "e"]
PAIN = {"ref": 0.0, "b": -0.4, "c": 0.0, "d": 0.3, "e": -0.2}      # points on final leg pain
REC = {"ref": 0.0, "b": 0.3, "c": 0.0, "d": -0.3, "e": 0.15}       # conditional log-odds of recovery
SURG = {"ref": 0.0, "b": -0.25, "c": 0.0, "d": 0.2, "e": 0.0}      # conditional log-hazard of surgery
PULL = {"ref": 0.0, "b": -0.6, "c": 0.0, "d": 0.8, "e": 0.4}       # severity -> modality (confounding)
AGE = ["18-29", "30-39", "40-49", "50-59", "60-69", "70-79"]
CAUSE = ["disc_herniation", "foraminal_stenosis", "central_stenosis"]
SD_U, SD_V, SD_W = 0.5, 0.4, 0.3


def therapists(rng, n_ther=20, clinics=4):
    return {
        "u": rng.normal(0, SD_U, n_ther), "v": rng.normal(0, SD_V, n_ther), "w": rng.normal(0, SD_W, n_ther),
        "fav": np.array([MODS[i % len(MODS)] for i in rng.permutation(n_ther)]),
        "clinic": np.array([f"C{i % clinics}" for i in range(n_ther)]),
    }


def simulate(rng, th, per_therapist=150, *, missing=True):
    """One network's episodes as an outcomes frame (the columns derive_outcomes gives)."""
    n_ther = len(th["u"])
    t = np.repeat(np.arange(n_ther), per_therapist)
    n = len(t)
    age = rng.integers(0, len(AGE), n)
    sex = rng.random(n) < 0.55
    cause = rng.integers(0, len(CAUSE), n)
    weeks = rng.gamma(2.0, 5.0, n)
    band = np.where(weeks < 6, "<6", np.where(weeks <= 12, "6-12", ">12"))
    sev = rng.normal(0, 1, n)
    base = 6.3 + 1.5 * sev + rng.normal(0, 1.0, n)
    # modality: the therapist's favourite for half the patients, else by indication
    logits = np.column_stack([PULL[m] * (base - 6.3) / 1.8 for m in MODS])
    by_ind = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
    mod = np.where(rng.random(n) < 0.5, th["fav"][t], np.asarray(MODS)[by_ind])
    eff = np.vectorize(PAIN.get)(mod)
    e = rng.normal(0, 1.8, n)
    final = (base - 3.0 + 0.35 * (base - 6.3) + 0.15 * (age - 2.5) + 0.3 * (cause == 2) + 0.2 * (band == ">12")
             + eff + th["u"][t] + e)
    change = final - base
    lin = (0.0 - 0.25 * (base - 6.3) - 0.1 * (age - 2.5) - 0.3 * (band == ">12") + np.vectorize(REC.get)(mod)
           + th["v"][t] - 0.5 * e / 1.8)
    rec = rng.random(n) < 1 / (1 + np.exp(-lin))
    miss = rng.random(n) < 1 / (1 + np.exp(-(-1.1 + 0.45 * (change + 3.0)))) if missing else np.zeros(n, bool)
    reason = np.where(rng.random(n) < np.where(miss, 0.45, 0.15), "self_discharged", "goals_met")
    cand = rng.random(n) < 0.3
    hz = 0.0009 * np.exp(1.6 * cand + 0.2 * (base - 6.3) + np.vectorize(SURG.get)(mod) + th["w"][t])
    stime = rng.exponential(1 / hz)
    fu = rng.uniform(200, 730, n)
    event = stime <= fu
    return pd.DataFrame({
        "modality": mod, "therapist": np.asarray([f"T{i:02d}" for i in range(n_ther)])[t], "clinic": th["clinic"][t],
        "age_band": np.asarray(AGE)[age], "sex": np.where(sex, "female", "male"),
        "cause": np.asarray(CAUSE)[cause], "symptom_band": band, "surgical_candidate": cand,
        "baseline_leg_pain": base, "final_leg_pain": final, "leg_pain_change": change,
        "recovered": pd.array(np.where(miss, pd.NA, rec), dtype="boolean"), "recovered_true": rec,
        "responder": pd.array(change <= -2, dtype="boolean"),
        "surgery_time": np.where(event, stime, fu), "surgery_event": event, "in_population": cand,
        "days_to_discharge": np.full(n, 50.0), "discharge_reason": reason, "sessions": rng.poisson(5, n) + 1,
    })


def large_sample_truth(seed):
    rng = np.random.default_rng(seed)
    th = therapists(rng, n_ther=1000)
    big = simulate(rng, th, per_therapist=400, missing=False)
    adj = adjusted_comparisons(big, reference="ref", cluster="none", settings=OutcomeSettings())
    return {"recovered": dict(zip(adj["recovered"]["modality"], np.log(adj["recovered"]["odds_ratio"]))),
            "surgery": dict(zip(adj["surgery"]["modality"], np.log(adj["surgery"]["hazard_ratio"]))),
            "leg_pain_check": dict(zip(adj["leg_pain_change"]["modality"], adj["leg_pain_change"]["difference"]))}


def replicate(seed, truth):
    rng = np.random.default_rng(seed)
    th = therapists(rng)
    d = simulate(rng, th)
    ref_pop = simulate(rng, th, per_therapist=5000, missing=False)
    true_rate = {"Overall": float(ref_pop["recovered_true"].mean()),
                 **ref_pop.groupby("modality")["recovered_true"].mean().to_dict()}
    rows = []
    s = OutcomeSettings()
    for cluster in ("none", "therapist"):
        adj = adjusted_comparisons(d, reference="ref", cluster=cluster, settings=s)
        for key, est, tr, log in (("leg_pain_change", "difference", PAIN, False),
                                  ("recovered", "odds_ratio", truth["recovered"], True),
                                  ("surgery", "hazard_ratio", truth["surgery"], True)):
            for r in adj[key].to_dict("records"):
                if pd.isna(r[est]):
                    continue
                f = np.log if log else (lambda x: x)
                target = tr[r["modality"]]
                rows.append({"family": key, "method": cluster, "error": f(r[est]) - target,
                             "covered": f(r["ci_low"]) <= target <= f(r["ci_high"])})
    crude = outcome_table(d, settings=s)
    mi = recovery_missing_adjusted(d, imputations=20, seed=seed)
    for g, cc in zip(crude["group"], crude.to_dict("records")):
        target = true_rate[g]
        rows.append({"family": "recovery rate", "method": "complete case (Wilson)",
                     "error": cc["recovered_rate"] - target,
                     "covered": cc["recovered_ci_low"] <= target <= cc["recovered_ci_high"]})
    for r in mi.to_dict("records"):
        target = true_rate[r["group"]]
        rows.append({"family": "recovery rate", "method": "multiple imputation (20, Rubin)",
                     "error": r["rate"] - target, "covered": r["ci_low"] <= target <= r["ci_high"]})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261124)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    truth = large_sample_truth(args.seed - 1)
    rows = []
    for i in range(args.replicates):
        rows += replicate(args.seed + i, truth)
        if (i + 1) % 25 == 0:
            print(f"  {i + 1} replicates ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    res = pd.DataFrame(rows)
    scale = {"leg_pain_change": "points", "recovered": "log OR", "surgery": "log HR", "recovery rate": "percentage points"}
    res.loc[res["family"] == "recovery rate", "error"] *= 100
    tab = (res.groupby(["family", "method"], sort=False)
           .agg(intervals=("covered", "size"), bias=("error", "mean"), coverage=("covered", "mean")).reset_index())
    names = {"none": "independent episodes", "therapist": "clustered by therapist (the product)"}
    print(f"\n{args.replicates} replicates, 20 therapists x 150 episodes, seed {args.seed}; "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| estimate | method | intervals | bias | coverage of 95% CI |")
    print("|---|---|---|---|---|")
    for r in tab.to_dict("records"):
        fam = {"leg_pain_change": "leg pain difference", "recovered": "recovery odds ratio",
               "surgery": "surgery hazard ratio"}.get(r["family"], r["family"])
        print(f"| {fam} | {names.get(r['method'], r['method'])} | {r['intervals']} | "
              f"{r['bias']:+.3f} {scale[r['family']]} | {100 * r['coverage']:.1f}% |")
    chk = max(abs(truth["leg_pain_check"][m] - PAIN[m]) for m in MODS[1:])
    print(f"\nLarge-sample check: linear model recovers the true leg-pain differences within {chk:.3f} points.")


if __name__ == "__main__":
    main()
