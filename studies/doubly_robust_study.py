"""Simulation study: confounding by indication with a misspecified outcome regression.

Therapists give a modality to severer patients (treatment chosen by indication), and leg pain after
treatment depends on leg pain at the first visit in a curved way (severe pain improves
proportionally more), so the adjusted comparison's regression, linear in baseline leg pain, is
misspecified. The doubly robust estimate (AIPW, :func:`analysis.methods.confounding_diagnostics`) is
right when either its propensity model (here right: modality chosen on the logit scale linearly in
baseline pain and clinic) or its outcome model is.

Each replicate: 30 therapists in 6 clinics, 60 episodes each (1,800); a therapist random intercept
(SD 0.4 points); three modalities, ``ref``, ``a`` (true difference in final leg pain -0.5 points)
and ``b`` (no effect), each therapist giving all three, ``a`` and ``b`` more often to severer
patients; final leg pain missing for 15-35 % of episodes, more often for milder ones (missing at
random given baseline). Scenarios: ``linear`` (the regression is right) and ``curved`` (final pain
= ... + 0.35 (baseline - 6)^2 / 2, the regression is wrong). Methods: the adjusted comparison
(random-intercept model with cluster-robust covariance by therapist, the product's regression) and
the doubly robust estimate beside it (interval clustered by therapist). Printed: bias, coverage of
the 95 % interval for ``a``, false-positive rate for ``b`` (leg pain; and recovered, NRS <= 2, for
which both methods' null is the same: odds ratio 1).

Run: ``python studies/doubly_robust_study.py --replicates 1000`` (about 3 minutes on 2 cores; the table in
docs/methods.md, "Confounding by indication").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from analysis.methods import OutcomeSettings, adjusted_comparisons, confounding_diagnostics  # noqa: E402

EFFECT = {"ref": 0.0, "a": -0.5, "b": 0.0}
AGE = ["18-29", "30-39", "40-49", "50-59", "60-69", "70-79"]


def simulate(rng, scenario: str, n_ther: int = 30, per: int = 60) -> pd.DataFrame:
    t = np.repeat(np.arange(n_ther), per)
    n = len(t)
    clinic = t % 6
    u = rng.normal(0, 0.4, n_ther)
    base = np.clip(np.round(6.3 + 1.8 * rng.normal(size=n)), 0, 10)
    age = rng.integers(0, len(AGE), n)
    z = (base - 6.3) / 1.8
    c_eff = (clinic - 2.5) * 0.15
    eta = np.column_stack([np.zeros(n), 1.1 * z + c_eff - 0.2, 0.8 * z - c_eff - 0.4])
    m = np.argmax(eta + rng.gumbel(size=eta.shape), axis=1)
    mods = np.asarray(list(EFFECT))[m]
    eff = np.asarray(list(EFFECT.values()))[m]
    curve = 0.8 * np.maximum(base - 6.0, 0.0) ** 2 if scenario == "curved" else 0.0
    final = base - 3.0 + 0.3 * (base - 6.3) + curve + 0.1 * (age - 2.5) + eff + u[t] + rng.normal(0, 1.6, n)
    missing = rng.random(n) < 1 / (1 + np.exp(-(-1.2 - 0.5 * z)))
    final = np.where(missing, np.nan, final)
    rec = pd.array(np.where(missing, None, final <= 2), dtype="boolean")
    return pd.DataFrame({
        "modality": mods, "therapist": np.asarray([f"T{i:02d}" for i in range(n_ther)])[t],
        "clinic": np.asarray([f"C{i}" for i in range(6)])[clinic], "age_band": np.asarray(AGE)[age],
        "sex": np.where(rng.random(n) < 0.55, "female", "male"), "cause": "disc_herniation", "symptom_band": "<6",
        "surgical_candidate": False, "baseline_leg_pain": base, "final_leg_pain": final,
        "leg_pain_change": final - base, "recovered": rec,
        "surgery_time": np.full(n, 365.0), "surgery_event": np.zeros(n, bool), "in_population": np.ones(n, bool),
    })


def run(d: pd.DataFrame) -> list[dict]:
    s = OutcomeSettings()
    adj = adjusted_comparisons(d, reference="ref", cluster="therapist", settings=s,
                               models=("leg_pain_change", "recovered"))
    diags = {"doubly robust, each group's weights truncated at its own 1st/99th percentiles (the product)":
             confounding_diagnostics(d, reference="ref", cluster="therapist", settings=s, adjusted=adj),
             "doubly robust, untruncated weights":
             confounding_diagnostics(d, reference="ref", cluster="therapist", settings=s, adjusted=adj,
                                     truncation=None)}
    rows = []
    for key, est in (("leg_pain_change", "difference"), ("recovered", "odds_ratio")):
        for r in adj[key].to_dict("records"):
            rows.append({"outcome": key, "method": "regression (adjusted comparison)", "modality": r["modality"],
                         "est": r[est], "lo": r["ci_low"], "hi": r["ci_high"]})
        for method, diag in diags.items():
            for r in diag["doubly_robust"][key].to_dict("records"):
                rows.append({"outcome": key, "method": method, "modality": r["modality"],
                             "est": r["estimate"], "lo": r["ci_low"], "hi": r["ci_high"],
                             "ess": diag["overlap"].set_index("modality").loc[r["modality"], "ess_share"]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=400)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    t0 = time.time()
    out = []
    for scenario in ("linear", "curved"):
        rng = np.random.default_rng(args.seed)
        for rep in range(args.replicates):
            for r in run(simulate(rng, scenario)):
                out.append({"scenario": scenario, "rep": rep, **r})
    res = pd.DataFrame(out)
    lines = []
    for (scenario, outcome, method), g in res.groupby(["scenario", "outcome", "method"], sort=False):
        a = g[g["modality"] == "a"]
        b = g[g["modality"] == "b"]
        null = 1.0 if outcome == "recovered" else 0.0
        fp = float(np.mean((b["lo"] > null) | (b["hi"] < null)))
        bias_b = float(np.mean(b["est"] - null)) if outcome == "leg_pain_change" else float(np.mean(np.log(b["est"])))
        if outcome == "leg_pain_change":
            truth = EFFECT["a"]
            bias = float(np.mean(a["est"] - truth))
            cover = float(np.mean((a["lo"] <= truth) & (truth <= a["hi"])))
            power = float(np.mean(a["hi"] < 0))
            lines.append(f"| {scenario} | leg pain | {method} | {bias:+.3f} | {100 * cover:.1f} % | {bias_b:+.3f} | "
                         f"{100 * fp:.1f} % | {100 * power:.1f} % |")
        else:
            lines.append(f"| {scenario} | recovered | {method} | | | {bias_b:+.3f} (log OR) | {100 * fp:.1f} % | |")
    print(f"{args.replicates} replicates per scenario, 1,800 episodes each, {time.time() - t0:.0f} s")
    print("| scenario | outcome | method | bias (a, truth -0.5) | coverage (a) | bias (b, no effect) | "
          "false positives (b) | power (a) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    ess = res[res["method"].str.contains("the product") & (res["outcome"] == "leg_pain_change")]
    print(f"effective sample size share of a: median {ess[ess['modality'] == 'a']['ess'].median():.2f}")


if __name__ == "__main__":
    main()
