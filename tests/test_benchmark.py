"""Case-mix adjusted benchmarking: observed against expected per therapist or clinic."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis.app.cli import main
from analysis.methods import benchmark_units, funnel_limits_adjusted


def _network(seed, therapists=20, per=150, sd_u=0.5):
    """Therapists with known effects on final leg pain, and case mix that differs between them."""
    rng = np.random.default_rng(seed)
    t = np.repeat(np.arange(therapists), per)
    n = len(t)
    u = rng.normal(0, sd_u, therapists)
    shift = rng.normal(0, 0.8, therapists)
    base = np.clip(6.3 + shift[t] + rng.normal(0, 1.8, n), 0, 10)
    age = rng.integers(0, 4, n)
    final = base - 3 + 0.35 * (base - 6.3) + 0.2 * age + u[t] + rng.normal(0, 1.8, n)
    rec = rng.random(n) < 1 / (1 + np.exp(-(-0.25 * (base - 6.3) + 0.8 * u[t])))
    d = pd.DataFrame({"therapist": np.array([f"T{i:02d}" for i in range(therapists)])[t],
                      "clinic": (t % 2).astype(str), "baseline_leg_pain": base, "final_leg_pain": final,
                      "recovered": pd.array(rec, dtype="boolean"),
                      "age_band": np.array(["30-39", "40-49", "50-59", "60-69"])[age], "sex": "female",
                      "symptom_band": "<6", "cause": "disc_herniation"})
    return d, u


def test_shrunken_estimates_rank_therapists_and_intervals_cover():
    """Known therapist effects (SD 0.5 points, 150 episodes each): Spearman >= 0.85, coverage about 95%
    (the full study with 200 networks is studies/benchmarking_study.py)."""
    rhos, covered = [], []
    for seed in range(8):
        d, u = _network(seed)
        b = benchmark_units(d, by="therapist")
        rhos.append(sps.spearmanr(b["shrunken"], u).statistic)
        centred = u - u.mean()
        covered += list((b["ci_low"] <= centred) & (centred <= b["ci_high"]))
    assert np.mean(rhos) >= 0.85
    assert 0.88 <= np.mean(covered) <= 1.0


def test_case_mix_adjustment_is_what_ranks_them():
    d, u = _network(3)
    crude = d.groupby("therapist")["final_leg_pain"].mean().to_numpy()
    adjusted = benchmark_units(d, by="therapist")["difference"].to_numpy()
    assert sps.spearmanr(adjusted, u).statistic > sps.spearmanr(crude, u).statistic + 0.2


def test_recovery_in_percentage_points():
    d, u = _network(5)
    b = benchmark_units(d, by="therapist", outcome="recovered")
    assert np.allclose(b["difference"], b["observed"] - b["expected"])
    assert b["observed"].between(0, 100).all() and np.allclose(b["overall"], 100 * d["recovered"].mean())
    assert sps.spearmanr(b["shrunken"], u).statistic > 0.6


def test_small_units_listed_without_figures():
    d, _ = _network(1, therapists=6, per=60)
    d = d[~((d["therapist"] == "T00") & (d.index % 60 >= 25))]  # T00 keeps 25 episodes
    b = benchmark_units(d, by="therapist").set_index("unit")
    assert b.loc["T00", "n"] == 25 and pd.isna(b.loc["T00", "difference"]) and b.loc["T00", "flag"] is None
    assert b.loc["T00", "note"] == "fewer than 40 episodes: not shown"
    assert b.drop(index="T00")["difference"].notna().all()


def test_single_unit_and_no_variation_give_clear_output():
    d, _ = _network(2, therapists=1, per=80)
    b = benchmark_units(d, by="therapist")
    assert len(b) == 1 and b["note"].iloc[0] == "only one unit in the data: nothing to compare it with"
    flat, _ = _network(4, therapists=4, per=50)
    flat.loc[flat["therapist"] == "T01", "final_leg_pain"] = 3.0
    flat.loc[flat["therapist"] == "T02", "recovered"] = True
    for outcome in ("leg_pain_change", "recovered"):
        out = benchmark_units(flat, by="therapist", outcome=outcome)
        assert out["difference"].notna().all()


def test_refuses_unknown_options():
    d, _ = _network(0, therapists=3, per=50)
    with pytest.raises(ValueError, match="by must be 'therapist' or 'clinic'"):
        benchmark_units(d, by="modality")
    with pytest.raises(ValueError, match="outcome must be 'leg_pain_change' or 'recovered'"):
        benchmark_units(d, outcome="odi")


def test_funnel_limits_widen_with_overdispersion():
    a = funnel_limits_adjusted([50, 200], sigma2=4.0, tau2=0.0)
    b = funnel_limits_adjusted([50, 200], sigma2=4.0, tau2=0.25)
    assert (b["high_99.8"] > a["high_99.8"]).all()
    assert a["high_95"].iloc[0] == pytest.approx(1.959963984540054 * np.sqrt(4 / 50))


def test_cli_benchmark_json(sample_dir, capsys):
    assert main(["benchmark", str(sample_dir), "--by", "clinic", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["by"] == "clinic" and set(doc["outcomes"]) == {"leg_pain_change", "recovered"}
    for rows in doc["outcomes"].values():
        assert [r["unit"] for r in rows] == ["CEN", "NTH", "STH"]
        assert set(rows[0]) == {"unit", "n", "observed", "expected", "difference", "ci_low", "ci_high", "shrunken",
                                "flag"}
    assert main(["benchmark", str(sample_dir), "--min-episodes", "1000"]) == 0
    assert "fewer than 1000 episodes: not shown" in capsys.readouterr().out


def test_benchmark_table_shows_the_computed_figures(data):
    """What a physiotherapist reads in the report's table is the benchmark's own numbers, rounded."""
    from analysis.disclosure import disclosure_rule
    from analysis.present import format_benchmark_table

    _, out = data
    lp, rc = benchmark_units(out), benchmark_units(out, outcome="recovered")
    t = format_benchmark_table(lp, rc, rule=disclosure_rule("internal")).set_index("Therapist")
    r, q = lp.iloc[0], rc.iloc[0]
    cell = t.loc[r["unit"], "Final leg pain, points: observed vs expected, difference (95% CI)"]
    def signed(v):
        return f"{v:+.1f}" if round(v, 1) != 0 else "0.0"

    assert cell.startswith(f"{r['observed']:.1f} vs {r['expected']:.1f} expected: {signed(r['difference'])} "
                           f"({signed(r['ci_low'])} to {signed(r['ci_high'])}); allowing for caseload size "
                           f"{signed(r['shrunken'])}")
    cell = t.loc[q["unit"], "Recovered, %: observed vs expected, difference in points (95% CI)"]
    assert cell.startswith(f"{q['observed']:.0f} vs {q['expected']:.0f} expected: {q['difference']:+.0f}")
    assert t.loc[r["unit"], "Episodes (leg pain)"] == f"{r['n']:,}"


def test_disclosure_of_the_benchmarking_table_and_funnel():
    """Public rule: episode counts (and so funnel positions) rounded to 5, a therapist resting on
    1-7 recoveries loses its figures, the others' observed rates come from rounded counts; internal
    hides units under 8 episodes; none changes nothing."""
    from analysis.disclosure import apply_disclosure_to_benchmark, disclosure_rule

    d, _ = _network(5, therapists=12, per=60)
    d = d.iloc[3:].reset_index(drop=True)  # counts that are not all multiples of 5
    t0 = d["therapist"] == "T00"
    d.loc[t0, "recovered"] = pd.array(np.arange(t0.sum()) < 4, dtype="boolean")  # 4 recoveries
    b = benchmark_units(d, outcome="recovered", min_episodes=5)
    assert b.loc[b["unit"] == "T00", "difference"].notna().all() and (b["n"] % 5 != 0).any()

    assert apply_disclosure_to_benchmark(b, rule=disclosure_rule("none"), outcome="recovered").equals(b)
    pub = apply_disclosure_to_benchmark(b, rule=disclosure_rule("public"), outcome="recovered")
    assert (pub["n"] % 5 == 0).all() and pub[["tau2", "sigma2", "overall"]].equals(b[["tau2", "sigma2", "overall"]])
    row = pub.set_index("unit").loc["T00"]
    assert np.isnan(row["observed"]) and np.isnan(row["difference"]) and "1-7 recoveries" in row["note"]
    rest = pub[pub["unit"] != "T00"].set_index("unit")
    exact = b.set_index("unit").loc[rest.index]
    events = np.round(exact["observed"] * exact["n"] / 100)
    np.testing.assert_allclose(rest["observed"], 100 * (5 * np.floor(events / 5 + 0.5)) / rest["n"])
    np.testing.assert_allclose(rest["difference"], rest["observed"] - exact["expected"])
    np.testing.assert_allclose(rest["ci_high"] - rest["ci_low"], exact["ci_high"] - exact["ci_low"])
    assert list(rest["flag"]) == list(exact["flag"])

    small = benchmark_units(d.iloc[: 60 * 3 + 4], outcome="leg_pain_change", min_episodes=1)
    internal = apply_disclosure_to_benchmark(small, rule=disclosure_rule("internal"))
    few = small["n"] < 8
    assert few.any() and internal.loc[few, "difference"].isna().all()
    assert internal.loc[~few, "difference"].equals(small.loc[~few, "difference"])


def test_overdispersion_from_winsorised_z_scores_and_one_variance(data):
    """Spiegelhalter 2005: z-scores winsorised at 10/90 % before tau^2; the unit's interval and its flag
    from the same variance; the shrunken estimate's own interval (issue 22)."""
    from analysis.methods import robust_tau2

    _, out = data
    lp = benchmark_units(out)
    ok = lp["difference"].notna()
    var = (lp.loc[ok, "sigma2"] / lp.loc[ok, "n"]).to_numpy()
    diff = lp.loc[ok, "difference"].to_numpy()
    # by hand: winsorise z, then the moment estimate around 0
    z = diff / np.sqrt(var)
    zw = np.clip(z, np.percentile(z, 10), np.percentile(z, 90))
    w = 1 / var
    tau2 = max(0.0, (np.sum(zw**2) - (len(z) - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    assert robust_tau2(diff, var) == pytest.approx(tau2, rel=1e-12)
    assert lp["tau2"].iloc[0] == pytest.approx(tau2, rel=1e-12)
    se = np.sqrt(var + tau2)
    np.testing.assert_allclose(lp.loc[ok, "ci_high"] - lp.loc[ok, "difference"], 1.959964 * se, rtol=1e-6)
    flagged = np.abs(diff) > 3.090232 * se
    assert (lp.loc[ok, "flag"].notna().to_numpy() == flagged).all()
    post = np.sqrt(tau2 * var / (tau2 + var))
    np.testing.assert_allclose(lp.loc[ok, "shrunken_high"] - lp.loc[ok, "shrunken"], 1.959964 * post, rtol=1e-6)
    # one outlier cannot hide itself: winsorising keeps tau^2 near the others' spread
    d_out = np.r_[diff, 4.0]
    v_out = np.r_[var, var.mean()]
    assert robust_tau2(d_out, v_out) < 0.5 * (np.sum((d_out / np.sqrt(v_out))**2) - len(d_out) + 1) / \
        ((1 / v_out).sum() - (1 / v_out**2).sum() / (1 / v_out).sum())
