"""Simulation study: leg pain on fixed days when modalities differ in length of care.

Each replicate: 24 therapists in 6 clinics, 1,500 episodes; each therapist gives one or two of three
modalities (``ref``, ``a``, ``b``: a modality given by a few therapists, as in small clinics); a
therapist random intercept (SD 0.4) and an episode random intercept (SD 1.2) and slope (SD 0.01
points a day); treatment chosen by indication (severer leg pain at the first visit and women more
often get ``b``). Courses differ in length by modality (``a`` 30-80 days, ``ref`` 45-100, ``b``
70-140), visits every 5-12 days, and a patient whose recorded pain falls to 2 or less leaves early
half the time (missing at random: it depends on what was recorded). Leg pain follows a modality's
own curve, 7 - A (1 - exp(-day / T)) plus the random effects and noise (SD 0.9).

Scenarios: ``same curves`` (every modality A = 3.5, T = 35: no true difference on any day, only
the course lengths differ) and ``different curves`` (``a`` faster, ``b`` slower and deeper). The
truth on day d is the difference of the curves, for patients with the same leg pain at the first
visit. Methods: the fixed-day estimate of :func:`analysis.methods.leg_pain_at_days` (clustered by
therapist) and the last-value comparison (final leg pain on modality, leg pain at the first visit
and sex, the product's random-intercept model with cluster-robust covariance), judged against
each day's truth. Printed: bias, coverage of the 95 % interval and, under ``same curves``, the
false-positive rate.

Run: ``python studies/fixed_day_study.py --replicates 1000`` (about 11 minutes on 2 cores; the table in docs/methods.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from analysis.methods import leg_pain_at_days  # noqa: E402
from analysis.records import Records  # noqa: E402
from analysis.stats import random_intercept_model  # noqa: E402

DAYS = (42, 84)
COURSE = {"ref": (45, 100), "a": (30, 80), "b": (70, 140)}
CURVES = {
    "same curves": {"ref": (3.5, 35.0), "a": (3.5, 35.0), "b": (3.5, 35.0)},
    "different curves": {"ref": (3.5, 35.0), "a": (3.5, 20.0), "b": (4.2, 55.0)},
}


def curve(m: str, day, scenario: str):
    A, T = CURVES[scenario][m]
    return -A * (1 - np.exp(-np.asarray(day, dtype="float64") / T))


def simulate(rng: np.random.Generator, scenario: str, n: int = 1500):
    clinics, per = 6, 4
    th = np.arange(clinics * per)
    th_eff = rng.normal(0, 0.4, len(th))
    # each therapist gives one or two modalities
    gives = [rng.choice(["ref", "a", "b"], size=rng.integers(1, 3), replace=False) for _ in th]
    for m in ("ref", "a", "b"):  # every modality by at least two therapists
        if sum(m in g for g in gives) < 2:
            for k in rng.choice(len(th), 2, replace=False):
                gives[k] = np.union1d(gives[k], [m])
    sex = rng.integers(0, 2, n)
    u0 = rng.normal(0, 1.2, n)
    u1 = rng.normal(0, 0.01, n)
    t_of = rng.integers(0, len(th), n)
    y0 = 6.8 + 0.3 * sex + u0 + th_eff[t_of] + rng.normal(0, 0.9, n)
    mod = []
    for i in range(n):
        options = gives[t_of[i]]
        if len(options) == 1:
            mod.append(options[0])
            continue
        # chosen by indication: severer pain at the first visit and women more often get b
        w = np.array([np.exp(0.6 * (y0[i] - 6.8) + 0.4 * sex[i]) if o == "b" else 1.0 for o in options])
        mod.append(options[rng.choice(len(options), p=w / w.sum())])
    mod = np.array(mod)
    rows = []
    for i in range(n):
        lo, hi = COURSE[mod[i]]
        length = rng.integers(lo, hi)
        day, k = 0, 1
        rows.append((i, k, 0, y0[i]))
        while True:
            day += int(rng.integers(5, 13))
            if day > length:
                break
            k += 1
            y = 6.8 + 0.3 * sex[i] + u0[i] + th_eff[t_of[i]] + curve(mod[i], day, scenario) + u1[i] * day \
                + rng.normal(0, 0.9)
            rows.append((i, k, day, float(np.clip(y, 0, 10))))
            if y <= 2 and rng.random() < 0.5:  # feels better, leaves early (depends on what was recorded)
                break
    vis = pd.DataFrame(rows, columns=["ep", "visit_no", "day", "leg_pain"])
    ids = np.array([f"E{i:05d}" for i in range(n)])
    ep = pd.DataFrame({"episode_id": ids, "modality": mod, "therapist": [f"T{t}" for t in t_of],
                       "sex": np.where(sex == 1, "female", "male")})
    vis["episode_id"] = ids[vis["ep"].to_numpy()]
    return ep, vis.drop(columns="ep")


def last_value(ep: pd.DataFrame, vis: pd.DataFrame):
    g = vis.groupby("episode_id", sort=True)["leg_pain"]
    first, last, count = g.first(), g.last(), g.size()
    d = ep.set_index("episode_id").loc[first.index]
    keep = (count >= 2).to_numpy()
    X = np.column_stack([np.ones(keep.sum()), (d["modality"] == "a").to_numpy()[keep],
                         (d["modality"] == "b").to_numpy()[keep], first.to_numpy()[keep],
                         (d["sex"] == "female").to_numpy()[keep]]).astype(float)
    res = random_intercept_model(last.to_numpy()[keep], X, d["therapist"].to_numpy()[keep],
                                 names=["c", "a", "b", "base", "sex"], robust=True)
    return res.table.set_index("term")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    out = []
    for scenario in CURVES:
        for r in range(args.replicates):
            ep, vis = simulate(rng, scenario)
            rec = Records(ep, vis, pd.DataFrame({"code": ["a", "b", "ref"], "label": ["a", "b", "ref"]}),
                          Path("."), {})
            fd = leg_pain_at_days(rec, ep[["modality", "therapist", "sex"]], reference="ref", covariates=("sex",),
                                  cluster="therapist")
            lv = last_value(ep, vis)
            for row in fd["differences"].to_dict("records"):
                m, day = row["modality"], row["day"]
                truth = float(curve(m, day, scenario) - curve("ref", day, scenario))
                out.append({"scenario": scenario, "modality": m, "day": day, "method": "fixed day (all visits)",
                            "est": row["difference"], "lo": row["ci_low"], "hi": row["ci_high"], "truth": truth})
                lr = lv.loc[m]
                out.append({"scenario": scenario, "modality": m, "day": day, "method": "last value",
                            "est": lr["coef"], "lo": lr["ci_low"], "hi": lr["ci_high"], "truth": truth})
        print(f"  {scenario}: {args.replicates} replicates, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    d = pd.DataFrame(out)
    d["covered"] = (d["lo"] <= d["truth"]) & (d["truth"] <= d["hi"])
    d["positive"] = (d["lo"] > 0) | (d["hi"] < 0)
    d["estimated"] = d["est"].notna()
    rows = []
    for (sc, m, day, meth), g in d.groupby(["scenario", "modality", "day", "method"], sort=False):
        e = g[g["estimated"]]
        rows.append({"scenario": sc, "modality": m, "day": day, "method": meth, "truth": g["truth"].iloc[0],
                     "bias": e["est"].mean() - e["truth"].mean(), "coverage": 100 * e["covered"].mean(),
                     "false_pos": 100 * e["positive"].mean() if sc == "same curves" else np.nan,
                     "estimated": 100 * len(e) / len(g)})
    res = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print(f"{args.replicates} replicates per scenario, seed {args.seed}, {time.time() - t0:.0f} s")
    print(res.to_string(index=False, float_format=lambda v: f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"))


if __name__ == "__main__":
    main()
