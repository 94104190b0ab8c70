"""A modality given by one or a few therapists (issue 22): no estimate from one, a caution and few-cluster
degrees of freedom from 2-4, the number of therapists on every adjusted row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import derive_outcomes, load_records
from analysis.methods import Reason, Status, adjusted_comparisons
from analysis.stats import clustered_logistic_model, effective_df


@pytest.fixture(scope="module")
def outcomes(sample_dir):
    return derive_outcomes(load_records(sample_dir))


def _given_by(outcomes, modality, therapists):
    o = outcomes.copy()
    mine = (o["modality"] == modality).to_numpy()
    o.loc[mine, "therapist"] = np.resize(np.asarray(therapists, dtype=object), int(mine.sum()))
    return o


def test_one_therapist_gives_no_estimate(outcomes):
    adj = adjusted_comparisons(_given_by(outcomes, "traction", ["CEN-T1"]))
    for key, est in (("leg_pain_change", "difference"), ("recovered", "odds_ratio"), ("surgery", "hazard_ratio")):
        r = adj[key].set_index("modality").loc["traction"]
        assert pd.isna(r[est]) and pd.isna(r["ci_low"]) and pd.isna(r["p"])
        assert r["status"] == Status.NOT_ESTIMABLE and r["reason"] == Reason.ONE_CLUSTER
        assert r["note"] == ("given by one therapist only: not separable from that therapist's own results; "
                             "not estimable")
        assert r["clusters"] == 1
        others = adj[key].set_index("modality").drop("traction")
        assert others[est].notna().all()       # the other comparisons are still made


def test_a_reference_given_by_one_therapist_stops_every_comparison(outcomes):
    adj = adjusted_comparisons(_given_by(outcomes, "electrotherapy", ["NTH-T2"]), reference="electrotherapy")
    t = adj["recovered"]
    assert t["odds_ratio"].isna().all() and (t["reason"] == Reason.ONE_CLUSTER).all()
    assert t["note"].str.contains(r"the reference modality \(electrotherapy\) has only one therapist giving it").all()


def test_two_to_four_therapists_are_cautioned_with_their_degrees_of_freedom(outcomes):
    few = _given_by(outcomes, "traction", ["CEN-T1", "NTH-T3", "STH-T2"])
    adj = adjusted_comparisons(few)
    base = adjusted_comparisons(outcomes)
    for key in ("leg_pain_change", "recovered", "surgery"):
        r = adj[key].set_index("modality").loc["traction"]
        assert r["status"] == Status.CAUTION and r["reason"] == Reason.FEW_CLUSTERS and r["clusters"] == 3
        assert r["note"].startswith("caution: given by only 3 therapists, so this comparison rests on their patients")
        assert (base[key]["clusters"] > 4).all() and (base[key]["reason"] != Reason.FEW_CLUSTERS).all()


def test_independent_episodes_have_no_cluster_rule(outcomes):
    adj = adjusted_comparisons(_given_by(outcomes, "traction", ["CEN-T1"]), cluster="none")
    r = adj["recovered"].set_index("modality").loc["traction"]
    assert pd.notna(r["odds_ratio"]) and pd.isna(r["clusters"])


def test_effective_df_follows_the_clusters_a_coefficient_rests_on():
    """x is non-zero in 2 of 30 clusters only: its robust variance comes from those two, so about 1-2 df,
    while the intercept keeps about G - 1."""
    rng = np.random.default_rng(4)
    G, per = 30, 40
    g = np.repeat(np.arange(G), per)
    x = np.where(g < 2, rng.random(G * per) < 0.5, 0).astype(float)
    y = (rng.random(G * per) < 0.4).astype(float)
    res = clustered_logistic_model(y, np.column_stack([np.ones_like(x), x]), g, names=["c", "x"])
    df = res.extra["df"]
    assert df[0] > 15 and df[1] < 3
    # and equal shares give G (capped at G - 1); one dominating cluster gives 1
    assert effective_df(np.ones((10, 1)), 10).tolist() == [9.0]
    assert effective_df(np.r_[[[1.0]], np.full((9, 1), 1e-9)], 10).tolist() == pytest.approx([1.0])


def test_e_values_judge_common_in_the_modelled_population(outcomes):
    """Surgery is rare over all episodes (7 %) but common among the surgical candidates the Cox model is
    fitted in (23 %): the hazard ratios are converted as for a common outcome (VanderWeele & Ding 2017)."""
    from analysis.stats import e_value

    assert outcomes["surgery_event"].mean() < 0.15 < outcomes.loc[outcomes["in_population"], "surgery_event"].mean()
    t = adjusted_comparisons(outcomes)["surgery"]
    ev, ev_ci = e_value(t["hazard_ratio"], t["ci_low"], t["ci_high"], scale="hazard_ratio", common=True)
    rare, _ = e_value(t["hazard_ratio"], t["ci_low"], t["ci_high"], scale="hazard_ratio", common=False)
    np.testing.assert_allclose(t["e_value"], ev, equal_nan=True)
    np.testing.assert_allclose(t["e_value_ci"], ev_ci, equal_nan=True)
    assert not np.allclose(t["e_value"], rare, equal_nan=True)


def test_the_report_table_says_which_caution(outcomes):
    from analysis.present import format_adjusted_table

    adj = adjusted_comparisons(_given_by(outcomes, "traction", ["CEN-T1", "NTH-T3"]))
    t = format_adjusted_table(adj).set_index("Modality")
    assert t.loc["traction", "Recovered, odds ratio (95% CI)"].endswith("(caution: given by only 2 therapists or clinics)")
    assert t.loc["traction", "Surgery, hazard ratio (95% CI)"].endswith("(caution: given by only 2 therapists or clinics)")
    assert t.loc["pilates", "Surgery, hazard ratio (95% CI)"].endswith("(caution: few events for the model)")
