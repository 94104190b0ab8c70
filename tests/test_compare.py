"""Adjusted comparisons: simulation with known effects, non-estimable cases, crude tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import load_records
from analysis.methods import (
    adjusted_comparisons,
    choose_reference,
    derive_outcomes,
    outcome_table,
)

TRUE = {"B": {"difference": -0.5, "odds_ratio": 1.5, "hazard_ratio": 0.7},
        "C": {"difference": 0.3, "odds_ratio": 0.8, "hazard_ratio": 1.2}}


def simulate(n=30000, seed=42):
    """Known adjusted effects; confounding by indication through baseline leg pain and clinic."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    baseline = np.clip(np.round(6 + 1.8 * z), 0, 10)
    clinic = rng.choice(["X", "Y", "Z"], size=n)
    age = rng.choice(["30-39", "40-49", "50-59", "60-69"], size=n)
    sex = rng.choice(["female", "male"], size=n, p=[0.6, 0.4])
    band = rng.choice(["<6", "6-12", ">12"], size=n)
    cause = rng.choice(["disc_herniation", "foraminal_stenosis", "other"], size=n)
    severe = (baseline - 6) / 1.8
    logits = np.column_stack([np.zeros(n), 1.4 * severe + 0.5 * (clinic == "Y"), -1.0 * severe])
    modality = np.array(["A", "B", "C"])[np.argmax(logits + rng.gumbel(size=(n, 3)), axis=1)]
    eff = {m: np.where(modality == m, 1.0, 0.0) for m in "BC"}
    chronic = (band == ">12").astype(float)
    clin = (clinic == "Y") * 0.4
    final = (1 + 0.5 * baseline + TRUE["B"]["difference"] * eff["B"] + TRUE["C"]["difference"] * eff["C"]
             + 0.5 * chronic + clin + rng.normal(0, 1.5, n))
    lo = (2.5 - 0.45 * baseline + np.log(TRUE["B"]["odds_ratio"]) * eff["B"] + np.log(TRUE["C"]["odds_ratio"]) * eff["C"]
          - 0.3 * chronic - clin)
    recovered = rng.random(n) < 1 / (1 + np.exp(-lo))
    lh = 0.5 * severe + np.log(TRUE["B"]["hazard_ratio"]) * eff["B"] + np.log(TRUE["C"]["hazard_ratio"]) * eff["C"] + clin
    t = rng.exponential(1 / (0.0015 * np.exp(lh)))
    cens = rng.uniform(200, 730, n)
    return pd.DataFrame({
        "modality": modality, "baseline_leg_pain": baseline, "final_leg_pain": final,
        "recovered": pd.array(recovered, dtype="boolean"), "in_population": np.ones(n, dtype=bool),
        "surgery_time": np.ceil(np.minimum(t, cens)), "surgery_event": t <= cens,
        "age_band": age, "sex": sex, "symptom_band": band, "cause": cause, "clinic": clinic,
    })


@pytest.fixture(scope="module")
def sim():
    return simulate()


@pytest.mark.parametrize("outcome,estimate", [("leg_pain_change", "difference"), ("recovered", "odds_ratio"),
                                              ("surgery", "hazard_ratio")])
def test_adjusted_recovers_truth_crude_does_not(sim, outcome, estimate):
    adj = adjusted_comparisons(sim, reference="A")
    crude = adjusted_comparisons(sim, reference="A", covariates=())
    for m in ("B", "C"):
        truth = TRUE[m][estimate]
        a = adj[outcome].set_index("modality").loc[m]
        c = crude[outcome].set_index("modality").loc[m]
        assert a["ci_low"] <= truth <= a["ci_high"], (outcome, m, a[estimate], truth)
        assert not (c["ci_low"] <= truth <= c["ci_high"]), (outcome, m, "crude should be confounded", c[estimate])


def test_adjusted_table_shape(sim):
    adj = adjusted_comparisons(sim, reference="A")
    assert adj["covariates"] == ["baseline_leg_pain", "age_band", "sex", "symptom_band", "cause", "clinic"]
    for key, est in (("leg_pain_change", "difference"), ("recovered", "odds_ratio"), ("surgery", "hazard_ratio")):
        df = adj[key]
        assert df["modality"].tolist() == ["B", "C"]
        assert {"modality", est, "ci_low", "ci_high", "p", "p_holm", "note", "n"} <= set(df.columns)
        assert (df["p_holm"] >= df["p"]).all()


def test_non_estimable_comparisons_say_why(sim):
    d = sim.copy()
    d.loc[d["modality"] == "C", "recovered"] = False
    d.loc[d["modality"] == "C", "surgery_event"] = False
    d["clinic"] = "X"  # one clinic: clinic is left out
    adj = adjusted_comparisons(d, reference="A")
    rec = adj["recovered"].set_index("modality")
    assert np.isnan(rec.loc["C", "odds_ratio"])
    assert rec.loc["C", "note"].startswith("none of the") and rec.loc["C", "note"].endswith("rated episodes recovered: not estimable")
    assert rec.loc["B", "odds_ratio"] > 0 and rec.loc["B", "note"] is None
    sg = adj["surgery"].set_index("modality")
    assert np.isnan(sg.loc["C", "hazard_ratio"]) and sg.loc["C", "note"].startswith("no surgeries among the")
    assert "clinic" not in adj["covariates"]


def test_reference_without_events_makes_all_null(sim):
    d = sim.copy()
    d.loc[d["modality"] == "A", "surgery_event"] = False
    sg = adjusted_comparisons(d, reference="A")["surgery"]
    assert sg["hazard_ratio"].isna().all()
    assert sg["note"].str.contains("the reference modality \\(A\\) has no surgeries").all()


def test_tiny_modality_is_not_estimable_never_crashes(sim):
    d = pd.concat([sim, sim.iloc[:1].assign(modality="D")], ignore_index=True)
    adj = adjusted_comparisons(d, reference="A")
    assert adj["leg_pain_change"].set_index("modality").loc["D", "note"].startswith("fewer than 2 episodes")
    assert np.isnan(adj["recovered"].set_index("modality").loc["D", "odds_ratio"])


def test_choose_reference_most_episodes_ties_by_code():
    assert choose_reference(pd.DataFrame({"modality": ["z", "y", "z", "y", "x"]})) == "y"


def test_outcome_table_matches_hand_counts(sample_dir):
    rec = load_records(sample_dir)
    out = derive_outcomes(rec)
    tab = outcome_table(out, labels=rec.labels).set_index("group")
    assert tab.loc["Overall", "episodes"] == len(out)
    m = out[out["modality"] == "mckenzie"]
    assert tab.loc["mckenzie", "recovered_n"] == m["recovered"].notna().sum()
    assert tab.loc["mckenzie", "recovered_events"] == m["recovered"].sum()
    assert tab.loc["mckenzie", "label"] == "McKenzie (MDT)"
    assert tab.loc["mckenzie", "surgery_free_n"] == m["surgical_candidate"].sum()
    assert list(tab.index[1:]) == sorted(out["modality"].unique())
