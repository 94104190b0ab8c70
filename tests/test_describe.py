"""The tables behind figures and data-quality pages, checked against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.methods import (
    completeness_table,
    data_overview,
    exclusions_table,
    funnel_data,
    pain_trajectories,
    summarise,
)
from analysis.present import format_summary


def test_exclusions_add_up(data):
    _, out = data
    t = exclusions_table(out)
    n = len(out)
    for analysis, grp in t.groupby("analysis"):
        assert grp["included"].nunique() == 1
        assert grp["included"].iloc[0] + grp["excluded"].sum() == n, analysis
    lp = t[t["analysis"] == "Leg pain change"]
    assert lp["included"].iloc[0] == out["leg_pain_change"].notna().sum()
    assert t[t["analysis"] == "Surgery-free"]["included"].iloc[0] == out["surgical_candidate"].sum()


def test_completeness_matches_counts(data):
    _, out = data
    c = completeness_table(out).set_index("group")
    assert c.loc["Overall", "global_change_n"] == out["global_change"].notna().sum()
    m = out[out["modality"] == "traction"]
    assert c.loc["traction", "final_leg_pain_pct"] == pytest.approx(100 * m["final_leg_pain"].notna().mean())
    assert c.loc["Overall", "ongoing"] == out["days_to_discharge"].isna().sum()
    short = ((out["followup_day"] < 365) & ~out["surgery_event"]).sum()
    assert c.loc["Overall", "short_followup"] == short


def test_funnel_rates_and_limits(data):
    _, out = data
    f = funnel_data(out).set_index("unit")
    nth = out[(out["clinic"] == "NTH") & out["recovered"].notna()]
    assert f.loc["NTH", "n"] == len(nth) and f.loc["NTH", "events"] == nth["recovered"].sum()
    p0 = out["recovered"].dropna().astype(bool).mean()
    assert f["overall"].iloc[0] == pytest.approx(p0)
    half = 1.959963985 * np.sqrt(p0 * (1 - p0) / f.loc["NTH", "n"])
    assert f.loc["NTH", "outside_95"] == (abs(f.loc["NTH", "rate"] - p0) > half)


def test_trajectory_first_visit_means(data):
    rec, out = data
    tr = pain_trajectories(rec).set_index(["group", "visit_no"])
    m = out[out["modality"] == "pilates"]["baseline_leg_pain"].dropna()
    assert tr.loc[("pilates", 1), "mean"] == pytest.approx(m.mean())
    assert tr.loc[("pilates", 1), "n"] == len(m)


@pytest.mark.parametrize("measure,by", [("leg_pain", "modality"), ("odi", "clinic"), ("back_pain", "sex")])
def test_trajectories_equal_a_plain_groupby_of_the_visits(data, measure, by):
    """Every visit number's n, mean and SD per group: the bincount version against pandas on the merged rows."""
    rec, _ = data
    vi = rec.visits.merge(rec.episodes[["episode_id", by]], on="episode_id", how="inner")
    vi = vi[(vi["visit_no"] <= 10) & vi[measure].notna()]
    want = (vi.assign(value=vi[measure].astype("float64")).groupby([by, "visit_no"])["value"]
            .agg(n="count", mean="mean", sd="std").reset_index())
    got = pain_trajectories(rec, by=by, measure=measure)
    assert list(got["group"]) == list(want[by]) and list(got["visit_no"]) == list(want["visit_no"])
    np.testing.assert_array_equal(got["n"], want["n"])
    np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-12)
    np.testing.assert_allclose(got["sd"], want["sd"], rtol=1e-10)  # NaN where a cell holds one visit
    assert (got["ci_low"] < got["mean"]).where(got["n"] > 1, True).all()


def test_overview_counts(data):
    rec, _ = data
    ov = dict(data_overview(rec).to_numpy())
    assert ov["Visits"] == f"{len(rec.visits):,}" and ov["Clinics"] == "CEN, NTH, STH"


def test_terminal_summary_numbers(data):
    rec, _ = data
    doc = summarise(rec)
    text = format_summary(doc)
    o = doc["overall"]
    rec_ = o["recovered"]
    assert (f"{100 * rec_['rate']:.0f}% ({100 * rec_['ci_low']:.0f}-{100 * rec_['ci_high']:.0f})") in text
    assert f"{o['leg_pain_change']['mean']:+.1f} ({o['leg_pain_change']['ci_low']:+.1f} to" in text
    lr = doc["tests"]["surgery_logrank"]
    assert f"chi-squared {lr['chi2']:.2f} on {lr['df']} df" in text
