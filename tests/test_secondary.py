"""Secondary outcomes (issue 23): ODI, back pain, sessions, days to discharge in ``summary --json``.

Each figure is recomputed here independently from the raw visits and episodes with pandas (first visit's
value, last recorded value at a later visit, groupby), and the adjusted ODI comparison against an
ordinary least squares fit by statsmodels on a design built from the data frame with pandas dummies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from analysis import load_records
from analysis.methods import adjusted_comparisons, derive_outcomes, summarise


@pytest.fixture(scope="module")
def doc(sample_dir):
    return summarise(load_records(sample_dir))


@pytest.fixture(scope="module")
def by_hand(sample_dir):
    rec = load_records(sample_dir)
    v = rec.visits.sort_values(["episode_id", "visit_no"])
    out = rec.episodes[["episode_id", "modality", "discharge_day"]].set_index("episode_id")
    for col, name in (("odi", "odi"), ("back_pain", "back")):
        first = v.groupby("episode_id").head(1).set_index("episode_id")[col]  # the first visit's value
        later = v[v["visit_no"] > v.groupby("episode_id")["visit_no"].transform("min")].dropna(subset=[col])
        last = later.groupby("episode_id")[col].last()
        out[f"{name}0"] = first.astype("float64")
        out[f"{name}1"] = last.astype("float64")
    out["sessions"] = v.groupby("episode_id").size()
    return out


def _mean_ci(x):
    x = np.asarray(x, dtype="float64")
    x = x[~np.isnan(x)]
    m, se = x.mean(), x.std(ddof=1) / np.sqrt(len(x))
    q = sps.t.ppf(0.975, len(x) - 1)
    return len(x), m, m - q * se, m + q * se


def test_odi_and_back_pain_change_equal_an_independent_computation(doc, by_hand):
    for key, name in (("odi_change", "odi"), ("back_pain_change", "back")):
        change = by_hand[f"{name}1"] - by_hand[f"{name}0"]
        for block, sel in [(doc["overall"], slice(None))] + [
                (m, by_hand["modality"] == m["modality"]) for m in doc["modalities"]]:
            n, mean, lo, hi = _mean_ci(change[sel])
            got = block[key]
            assert got["n"] == n
            assert got["mean"] == pytest.approx(mean, rel=1e-12)
            assert (got["ci_low"], got["ci_high"]) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))


def test_odi_responder_is_ten_points_and_thirty_percent(doc, by_hand):
    b, f = by_hand["odi0"], by_hand["odi1"]
    ok = b.notna() & f.notna()
    resp = ok & (b - f >= 10) & (b - f >= 0.3 * b)
    got = doc["overall"]["odi_responder"]
    assert (got["n"], got["events"]) == (int(ok.sum()), int(resp.sum()))
    edu = next(m for m in doc["modalities"] if m["modality"] == "education")["odi_responder"]
    sel = by_hand["modality"] == "education"
    assert (edu["n"], edu["events"]) == (int((ok & sel).sum()), int((resp & sel).sum()))


def test_sessions_and_days_to_discharge_medians_and_quartiles(doc, by_hand):
    s = by_hand["sessions"].dropna()
    got = doc["overall"]["sessions"]
    assert got["n"] == len(s) and got["median"] == float(s.median())
    assert (got["q1"], got["q3"]) == tuple(float(x) for x in np.percentile(s, [25, 75]))
    days = by_hand["discharge_day"].dropna().astype(float)
    got = doc["overall"]["days_to_discharge"]
    assert got["n"] == len(days) and got["median"] == float(days.median())
    n, mean, lo, hi = _mean_ci(days)
    assert got["mean"] == pytest.approx(mean) and got["ci_low"] == pytest.approx(lo)


def test_odi_is_recorded_for_fewer_episodes_than_leg_pain(doc):
    # the sample's southern clinic rarely uses ODI (data card): the report shows completeness beside it
    assert doc["overall"]["odi_change"]["n"] < 0.7 * doc["overall"]["episodes"]
    assert doc["overall"]["odi_change"]["n"] < doc["overall"]["leg_pain_change"]["n"]


def test_adjusted_odi_difference_equals_ordinary_least_squares(data):
    _, out = data
    adj = adjusted_comparisons(out, cluster="none", models=("odi_change",))
    ref = adj["reference"]
    cols = ["final_odi", "baseline_odi", "baseline_leg_pain", "modality", "age_band", "sex", "symptom_band",
            "cause", "clinic"]
    d = out[cols].dropna().copy()
    X = pd.get_dummies(d[["modality", "age_band", "sex", "symptom_band", "cause", "clinic"]].astype(str),
                       drop_first=False, dtype=float)
    X = X.drop(columns=[f"modality_{ref}"])
    # one reference level per categorical covariate: the first dummy column of each is dropped
    for cov in ("age_band", "sex", "symptom_band", "cause", "clinic"):
        first = [c for c in X.columns if c.startswith(f"{cov}_")][0]
        X = X.drop(columns=first)
    X = sm.add_constant(pd.concat([X, d[["baseline_odi", "baseline_leg_pain"]].astype(float)], axis=1))
    fit = sm.OLS(d["final_odi"].astype(float), X).fit()
    got = adj["odi_change"].set_index("modality")
    for m in got.index:
        assert got.loc[m, "difference"] == pytest.approx(fit.params[f"modality_{m}"], rel=1e-8)
        lo, hi = fit.conf_int().loc[f"modality_{m}"]
        assert (got.loc[m, "ci_low"], got.loc[m, "ci_high"]) == (pytest.approx(lo, rel=1e-8),
                                                                  pytest.approx(hi, rel=1e-8))


def test_adjusted_odi_rows_are_in_the_summary(doc):
    rows = doc["adjusted"]["odi_change"]
    mods = [m["modality"] for m in doc["modalities"] if m["modality"] != doc["settings"]["reference"]]
    assert [r["modality"] for r in rows] == mods
    assert all(r["clusters"] >= 2 for r in rows) and "odi_change" in doc["adjusted"]["method"]


def test_back_pain_final_and_change_in_derived_outcomes(data):
    rec, out = data
    assert {"final_back_pain", "back_pain_change"} <= set(out.columns)
    np.testing.assert_allclose(out["back_pain_change"], out["final_back_pain"] - out["baseline_back_pain"])
    assert derive_outcomes(rec)["back_pain_change"].notna().sum() == out["back_pain_change"].notna().sum()


def test_secondary_table_under_disclosure_hides_small_groups_and_draws_nothing_it_hides(data):
    from analysis.disclosure import apply_disclosure_to_secondary, disclosure_rule
    from analysis.methods import secondary_outcome_table
    from analysis.present import format_secondary_table, plot_secondary
    _, out = data
    small = out.copy()
    few = small.index[small["modality"] == "traction"][5:]
    small = small.drop(index=few)  # five traction episodes left
    rule = disclosure_rule("public")
    t = apply_disclosure_to_secondary(secondary_outcome_table(small), rule=rule)
    row = t.set_index("group").loc["traction"]
    assert not row["odi_change_shown"] and not row["sessions_shown"]
    for key in ("odi_change", "odi_responder", "back_pain_change", "sessions", "days_to_discharge"):
        hidden = [s for s in t[f"{key}_state"].iloc[1:] if s != 0]
        assert len(hidden) != 1  # with the Overall total shown, a lone hidden count could be worked back
    shown = format_secondary_table(t, rule=rule).set_index("Modality").loc["traction"]
    assert all(cell.startswith(("not shown", "not recorded")) for cell in shown)
    fig = plot_secondary(t)
    assert len(fig.axes[0].collections[1].get_offsets()) == int(t["odi_change_shown"].iloc[1:].sum())


def test_report_section_shows_disability_table_figure_and_adjusted_comparison(sample_dir):
    from analysis.app import ReportContent
    from analysis.disclosure import disclosure_rule
    from analysis.methods import OutcomeSettings
    c = ReportContent(load_records(sample_dir), settings=OutcomeSettings(), rule=disclosure_rule("internal"))
    figure, table, adjusted = (str(p) for p in c.secondary())
    assert "Numbers behind this figure" in figure and "<img" in figure
    assert "Disability (ODI 0-100) change, mean (95% CI)" in table and "Sessions, median [IQR]" in table
    assert "adjusted for ODI at the first visit and case mix" in adjusted and "Manual therapy" in adjusted


def test_an_outcome_recorded_for_under_half_says_so_in_its_cell(data):
    from analysis.disclosure import apply_disclosure_to_secondary, disclosure_rule
    from analysis.methods import secondary_outcome_table
    from analysis.present import format_secondary_table
    _, out = data
    sth = out[out["clinic"] == "STH"]  # the clinic that rarely records ODI (14 % of its episodes)
    rule = disclosure_rule("internal")
    t = apply_disclosure_to_secondary(secondary_outcome_table(sth), rule=rule)
    overall = format_secondary_table(t, rule=rule).iloc[0]
    share = round(100 * sth["odi_change"].notna().mean())
    assert overall["Disability (ODI 0-100) change, mean (95% CI)"].endswith(f", recorded for {share}% of episodes")
    assert "recorded for" not in overall["Sessions, median [IQR]"]  # every episode has its sessions
