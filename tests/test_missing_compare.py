"""The adjusted recovery comparison with missing ratings imputed (Rubin's rules) and its tipping points.

Checked: the grouped-rows logistic fit against statsmodels ``Logit``; the cluster-robust sandwich against
statsmodels' cluster covariance (``use_correction=False``) times G/(G-1); with every rating recorded the
imputed comparison is the complete-case one; on a seeded network the tipping odds move the conclusion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.discrete.discrete_model import Logit

from analysis.methods import adjusted_comparisons, recovery_comparisons_imputed
from analysis.stats import logistic_counts


def _cluster_data(seed=1, n=500, G=25):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, G, n)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, rng.integers(0, 2, n)])
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 * x + rng.normal(0, 0.5, G)[g])))).astype(float)
    return X, y, g


def test_grouped_logistic_equals_statsmodels_on_the_expanded_rows():
    X, y, _ = _cluster_data()
    ref = Logit(y, X).fit(disp=0)
    beta, info, ok = logistic_counts(X, np.ones(len(y)), y)
    assert ok
    np.testing.assert_allclose(beta, ref.params, atol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(np.linalg.inv(info))), ref.bse, rtol=1e-6)
    # the same rows grouped: two copies of each row with summed events
    beta2, _, _ = logistic_counts(X, np.full(len(y), 2.0), 2 * y)
    np.testing.assert_allclose(beta2, beta, atol=1e-8)


def test_cluster_sandwich_is_statsmodels_cluster_covariance_times_g_over_g_minus_1():
    from analysis.methods._missing_compare import _robust_cov
    X, y, g = _cluster_data()
    ref = Logit(y, X).fit(disp=0, cov_type="cluster", cov_kwds={"groups": g, "use_correction": False})
    beta, info, _ = logistic_counts(X, np.ones(len(y)), y)
    p = 1 / (1 + np.exp(-X @ beta))
    cov = _robust_cov(X, info, y - p, np.arange(len(y)), g, 25)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), ref.bse * np.sqrt(25 / 24), rtol=1e-8)


def test_with_every_rating_recorded_the_imputed_comparison_is_the_complete_case_one(data):
    _, out = data
    full = out.copy()
    rng = np.random.default_rng(3)
    miss = full["recovered"].isna()
    full.loc[miss, "recovered"] = rng.random(int(miss.sum())) < 0.4
    imp = recovery_comparisons_imputed(full, cluster="none")
    cc = adjusted_comparisons(full, cluster="none", models=("recovered",))["recovered"]
    assert (imp["missing"] == 0).all()
    np.testing.assert_allclose(imp["odds_ratio"], cc["odds_ratio"], rtol=1e-6)
    np.testing.assert_allclose(imp["ci_low"], cc["ci_low"], rtol=2e-3)  # t on n - p df against z
    np.testing.assert_allclose(imp["ci_high"], cc["ci_high"], rtol=2e-3)
    assert imp["tipping_odds"].isna().all()  # no unrated patients: nothing can tip


def _network(seed=5, n=2400):
    rng = np.random.default_rng(seed)
    clinic = rng.choice(["A", "B", "C"], n)
    ther = np.array([f"{c}{k}" for c, k in zip(clinic, rng.integers(0, 6, n))], dtype=object)
    mod = rng.choice(["good", "usual", "same"], n)
    base = rng.integers(3, 11, n).astype(float)
    logit = -0.4 + 0.9 * (mod == "good") - 0.1 * (base - 6.5)
    rec = rng.random(n) < 1 / (1 + np.exp(-logit))
    rated = rng.random(n) < 0.65
    change = -rng.uniform(0, 5, n) - 1.5 * rec
    return pd.DataFrame({
        "modality": mod, "clinic": clinic, "therapist": ther, "baseline_leg_pain": base,
        "leg_pain_change": change, "sessions": rng.integers(2, 10, n), "age_band": "40-49", "sex": "female",
        "symptom_band": "<6", "cause": "disc_herniation", "discharge_reason": "completed",
        "days_to_discharge": rng.integers(20, 80, n).astype(float),
        "recovered": pd.array(np.where(rated, rec, None), dtype="boolean"),
    })


def test_tipping_odds_name_the_shift_that_changes_the_conclusion():
    t = recovery_comparisons_imputed(_network(), reference="usual").set_index("modality")
    good, same = t.loc["good"], t.loc["same"]
    assert good["ci_low"] > 1 and good["tipping_odds"] < 1  # the unrated of `good` would have to do worse
    assert same["ci_low"] < 1 < same["ci_high"]
    assert not np.isnan(same["tipping_odds"]) and same["tipping_odds"] != 1
    assert (t["clusters"] >= 2).all() and (t["imputations"] == 20).all()


def test_one_therapist_giving_a_modality_is_not_estimable_with_imputed_ratings_either():
    d = _network()
    d.loc[d["modality"] == "good", "therapist"] = "A0"
    row = recovery_comparisons_imputed(d, reference="usual").set_index("modality").loc["good"]
    assert np.isnan(row["odds_ratio"]) and row["reason"] == "one_cluster"
    assert row["note"] == ("given by one therapist only: not separable from that therapist's own results; "
                           "not estimable")


def test_imputed_comparison_is_reproducible(data):
    _, out = data
    a = recovery_comparisons_imputed(out)
    b = recovery_comparisons_imputed(out)
    pd.testing.assert_frame_equal(a, b)
    assert recovery_comparisons_imputed(out, seed=1)["odds_ratio"].iloc[0] != pytest.approx(
        a["odds_ratio"].iloc[0], rel=1e-9)


def test_disclosure_hides_an_imputed_comparison_where_the_rated_one_is_hidden(data):
    from analysis.disclosure import apply_disclosure_to_imputed_comparisons, disclosure_rule
    _, out = data
    t = recovery_comparisons_imputed(out)
    cc = adjusted_comparisons(out, models=("recovered",))["recovered"].copy()
    cc["status"] = cc["status"].astype(object)
    cc.loc[cc["modality"] == "traction", ["status", "reason"]] = ["hidden", "few_events"]
    shown = apply_disclosure_to_imputed_comparisons(t, rule=disclosure_rule("public"),
                                                    adjusted_shown={"recovered": cc}).set_index("modality")
    assert shown.loc["traction", "status"] == "hidden" and np.isnan(shown.loc["traction", "tipping_odds"])
    assert shown.loc["traction", "note"] == "not shown: rests on 1-7 recoveries (disclosure control)"
    assert shown.loc["pilates", "status"] != "hidden" and not np.isnan(shown.loc["pilates", "odds_ratio"])


def test_logistic_model_on_grouped_rows_equals_statsmodels_and_falls_back_when_it_must():
    from analysis.stats import logistic_model
    rng = np.random.default_rng(3)
    n = 60_000
    X = np.column_stack([np.ones(n), rng.integers(0, 11, n), rng.integers(0, 2, n), rng.integers(0, 3, n)]).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + 0.1 * X[:, 1] + 0.3 * X[:, 2])))).astype(float)
    got = logistic_model(y, X, names=["const", "a", "b", "c"])
    ref = Logit(y, X).fit(disp=0, method="newton", tol=1e-10)
    np.testing.assert_allclose(got.table["coef"], ref.params, atol=1e-10)
    np.testing.assert_allclose(got.table["se"], ref.bse, rtol=1e-9)
    np.testing.assert_allclose(got.table[["ci_low", "ci_high"]].to_numpy(), ref.conf_int(), atol=1e-9)
    assert got.loglike == pytest.approx(ref.llf, rel=1e-12) and got.converged
    # a level with no events separates the model: the grouped fit stands aside and statsmodels reports it
    y2 = np.where(X[:, 2] == 1, 0.0, y)  # no events where b is 1
    sep = logistic_model(y2, X, names=["const", "a", "b", "c"])
    assert sep.table["se"].iloc[2] > 8 or not sep.converged


def test_cluster_scores_dense_and_sparse_agree(data, monkeypatch):
    """The clusters' scores are summed in a dense clusters x design-rows matrix when it is small and in a
    sparse one otherwise: the same comparisons either way."""
    import analysis.methods._missing_compare as mc

    _, out = data
    dense = recovery_comparisons_imputed(out, imputations=5)
    monkeypatch.setattr(mc, "_DENSE_SCORES", 0)
    sparse_ = recovery_comparisons_imputed(out, imputations=5)
    for col in ("odds_ratio", "ci_low", "ci_high", "p", "tipping_odds"):
        np.testing.assert_allclose(sparse_[col].to_numpy(dtype=float), dense[col].to_numpy(dtype=float),
                                   rtol=1e-10, equal_nan=True)
