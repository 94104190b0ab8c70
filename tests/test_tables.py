"""Baseline table: types from the schema, counts, percentages, SMD; formatted tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import outcome_table
from analysis.disclosure import disclosure_rule
from analysis.methods import baseline_table
from analysis.present import format_baseline_table, format_outcome_table


def test_types_come_from_the_schema(data):
    _, out = data
    t = baseline_table(out)
    kinds = t.drop_duplicates("variable").set_index("variable")["kind"].to_dict()
    assert kinds["age_band"] == "categorical" and kinds["surgical_candidate"] == "binary"
    assert kinds["symptom_weeks"] == "continuous" and kinds["baseline_leg_pain"] == "continuous"
    # all contract levels are listed even when empty, in contract order
    levels = t[(t["variable"] == "age_band") & (t["group"] == "Overall")]["level"].tolist()
    assert levels[:8] == ["18-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+"]


def test_counts_percentages_and_missing(data):
    _, out = data
    t = baseline_table(out)
    sex = t[(t["variable"] == "sex") & (t["group"] == "mckenzie")]
    m = out[out["modality"] == "mckenzie"]
    assert sex.set_index("level")["n"].to_dict()["female"] == (m["sex"] == "female").sum()
    assert sex["percent"].sum() == pytest.approx(100)
    leg = t[(t["variable"] == "baseline_leg_pain") & (t["group"] == "Overall")].set_index("level")
    assert leg.loc["Missing", "n"] == out["baseline_leg_pain"].isna().sum()
    assert leg.loc["mean (SD)", "mean"] == pytest.approx(out["baseline_leg_pain"].mean())
    assert leg.loc["median [IQR]", "q3"] == pytest.approx(out["baseline_leg_pain"].quantile(0.75))
    assert not ((t["variable"] == "sex") & (t["level"] == "Missing")).any()  # nothing missing: no row


def test_smd_known_values():
    """SMD for two groups: binary |p1-p2|/sqrt((p1q1+p2q2)/2); continuous |m1-m2|/sqrt((s1^2+s2^2)/2)."""
    out = pd.DataFrame({
        "modality": ["a"] * 10 + ["b"] * 10,
        "surgical_candidate": [True] * 5 + [False] * 5 + [True] * 3 + [False] * 7,
        "symptom_weeks": list(range(10)) + list(range(2, 12)),
    })
    t = baseline_table(out).drop_duplicates("variable").set_index("variable")["smd_max"]
    assert t["surgical_candidate"] == pytest.approx(0.2 / np.sqrt((0.25 + 0.21) / 2))
    sd = np.std(range(10), ddof=1)
    assert t["symptom_weeks"] == pytest.approx(2 / sd)


def test_format_baseline_table_with_disclosure(data):
    _, out = data
    tiny = out.copy()
    tiny.loc[:2, "modality"] = "zz_tiny"
    wide = format_baseline_table(baseline_table(tiny), rule=disclosure_rule("internal"))
    assert wide.iloc[0]["zz_tiny"] == "1-7"
    leg_mean = wide[wide["Characteristic"].str.strip() == "mean (SD)"]["zz_tiny"]
    assert set(leg_mean) <= {"-", ""}


def test_outcome_table_formatting(data):
    rec, out = data
    t = format_outcome_table(outcome_table(out, labels=rec.labels))
    assert t.iloc[0]["Modality"] == "Overall" and "McKenzie (MDT)" in set(t["Modality"])
    assert t.iloc[0]["Recovered (95% CI)"].endswith(f"n = {out['recovered'].notna().sum():,}")


def test_hidden_counts_do_not_leak_through_percentages(data):
    _, out = data
    wide = format_baseline_table(baseline_table(out), rule=disclosure_rule("internal"))
    cells = wide.drop(columns=["Characteristic"]).to_numpy().ravel()
    assert any(c == "1-7" for c in cells)
    assert not any(str(c).startswith("1-7 (") for c in cells)


def test_format_estimate_under_each_rule():
    from analysis.present import format_estimate

    row = {"recovered_n": 20, "recovered_events": 5, "recovered_rate": 0.25, "recovered_ci_low": 0.11,
           "recovered_ci_high": 0.47, "leg_pain_change_n": 6, "leg_pain_change_mean": -2.0,
           "leg_pain_change_ci_low": -3.0, "leg_pain_change_ci_high": -1.0}
    assert format_estimate(row, "recovered", rule=disclosure_rule("internal")) == ("25%", "11 to 47")
    assert format_estimate(row, "recovered", rule=disclosure_rule("public")) == ("*", "")  # 5 events
    assert format_estimate(row, "leg_pain_change", rule=disclosure_rule("internal")) == ("-", "")  # 6 episodes
    assert format_estimate(row, "leg_pain_change", rule=disclosure_rule("none")) == ("-2.0", "-3.0 to -1.0")
