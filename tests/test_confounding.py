"""Confounding by indication, diagnosed: propensity model, weights, balance and doubly robust estimates.

The kernel is checked against statsmodels (``MNLogit`` for the multinomial propensity model,
``TreatmentEffect.aipw`` for the AIPW estimate and its standard error) and against direct
standardisation, which AIPW equals when both models are saturated; the clinical layer on the sample
and on seeded networks built to have poor overlap or one therapist giving a modality.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.discrete.discrete_model import Logit, MNLogit
from statsmodels.regression.linear_model import OLS
from statsmodels.treatment.treatment_effects import TreatmentEffect

from analysis.methods import adjusted_comparisons, confounding_diagnostics, summarise
from analysis.stats import aipw_means, kish_ess, multinomial_logit, truncate_weights, weighted_smd


def _binary_data(seed=7, n=600):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, n)
    X = np.column_stack([np.ones(n), x1, x2])
    e = 1 / (1 + np.exp(-(0.3 + 0.8 * x1 - 0.5 * x2)))
    t = (rng.random(n) < e).astype(int)
    y = 1 + 0.5 * x1 + x2 + 0.7 * t + 0.4 * x1 * t + rng.normal(size=n)
    return X, t, y


def test_multinomial_logit_equals_statsmodels_mnlogit():
    rng = np.random.default_rng(3)
    n = 800
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.binomial(1, 0.5, n)])
    eta = np.column_stack([np.zeros(n), 0.5 + X[:, 1], -0.3 + 0.8 * X[:, 2], 0.2 - 0.6 * X[:, 1]])
    P = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > P.cumsum(axis=1)).sum(axis=1)
    beta, prob, ok = multinomial_logit(X, y)
    ref = MNLogit(y, X).fit(disp=0, method="newton", maxiter=100)
    assert ok
    np.testing.assert_allclose(beta, ref.params, atol=1e-7)
    np.testing.assert_allclose(prob, ref.predict(), atol=1e-9)


def test_multinomial_logit_frequency_weights_equal_the_expanded_rows():
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(40), rng.integers(0, 3, 40).astype(float)])
    y = rng.integers(0, 3, 40)
    w = rng.integers(1, 6, 40)
    b_w, _, _ = multinomial_logit(X, y, weights=w)
    b_x, _, _ = multinomial_logit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(b_w, b_x, atol=1e-8)


def test_multinomial_logit_pattern_counts_equal_the_weighted_rows():
    """counts= (one row per covariate pattern with its episodes per class) is the weighted fit of one row
    per (pattern, class), with its probabilities per pattern; a counts table that does not fit X is refused."""
    rng = np.random.default_rng(5)
    X = np.column_stack([np.ones(30), rng.integers(0, 3, 30).astype(float), rng.normal(size=30)])
    C = rng.integers(0, 7, (30, 4)).astype(float)
    C[:, 0] += 1  # every pattern has an episode
    rows, cls = np.nonzero(C)
    b_w, _, ok_w = multinomial_logit(X[rows], cls, weights=C[rows, cls], n_classes=4, ridge=1e-7)
    b_c, P_c, ok_c = multinomial_logit(X, counts=C, ridge=1e-7)
    assert ok_w and ok_c and P_c.shape == (30, 4)
    np.testing.assert_allclose(b_c, b_w, atol=1e-9)
    with pytest.raises(ValueError, match="counts has 29 rows for 30 rows of X"):
        multinomial_logit(X, counts=C[:29])


def test_aipw_equals_statsmodels_treatment_effect():
    # statsmodels TreatmentEffect.aipw: Logit propensity, an OLS outcome model per arm; its standard
    # error comes from the joint GMM (nuisance models included), ours from the influence function
    X, t, y = _binary_data()
    sel = Logit(t, X).fit(disp=0)
    te = TreatmentEffect(OLS(y, X), t, results_select=sel)
    ate, pom0, pom1 = te.aipw(return_results=False)
    se_ref = float(te.aipw().summary_frame()["std err"].iloc[0])
    res = aipw_means(y, t.astype(bool), sel.predict(), te.results1.predict(X), te.results0.predict(X),
                     truncate=None)
    assert res["estimate"] == pytest.approx(ate, abs=1e-12)
    assert (res["mean1"], res["mean0"]) == (pytest.approx(pom1, abs=1e-12), pytest.approx(pom0, abs=1e-12))
    assert res["se"] == pytest.approx(se_ref, rel=0.03)


def test_aipw_with_saturated_models_is_direct_standardisation():
    rng = np.random.default_rng(5)
    n = 2000
    stratum = rng.integers(0, 4, n)
    t = rng.random(n) < np.array([0.2, 0.4, 0.6, 0.8])[stratum]
    y = (rng.random(n) < 0.2 + 0.1 * stratum + 0.1 * t).astype(float)
    df = pd.DataFrame({"s": stratum, "t": t, "y": y})
    e = df.groupby("s")["t"].transform("mean").to_numpy()
    cell = df.groupby(["s", "t"])["y"].mean()
    mu1 = cell.xs(True, level="t").reindex(stratum).to_numpy()
    mu0 = cell.xs(False, level="t").reindex(stratum).to_numpy()
    share = df["s"].value_counts(normalize=True).sort_index()
    std1 = float((share * cell.xs(True, level="t")).sum())
    std0 = float((share * cell.xs(False, level="t")).sum())
    res = aipw_means(y, t, e, mu1, mu0, truncate=None, scale="odds_ratio")
    assert (res["mean1"], res["mean0"]) == (pytest.approx(std1, abs=1e-12), pytest.approx(std0, abs=1e-12))
    assert res["estimate"] == pytest.approx(std1 / (1 - std1) / (std0 / (1 - std0)), rel=1e-12)


def test_aipw_cluster_variance_is_the_sum_within_clusters():
    X, t, y = _binary_data(n=300)
    e = np.full(300, t.mean())
    mu1 = np.full(300, y[t == 1].mean())
    mu0 = np.full(300, y[t == 0].mean())
    g = np.arange(300) % 12
    res = aipw_means(y, t.astype(bool), e, mu1, mu0, groups=g, truncate=None)
    w = np.where(t == 1, 1 / e, 1 / (1 - e))
    a1 = mu1 + (t == 1) * w * (y - mu1)
    a0 = mu0 + (t == 0) * w * (y - mu0)
    phi = (a1 - a1.mean()) - (a0 - a0.mean())
    sums = np.array([phi[g == k].sum() for k in range(12)])  # written out cluster by cluster
    assert res["se"] == pytest.approx(np.sqrt((sums ** 2).sum() / 300 ** 2 * 12 / 11), rel=1e-12)
    assert res["clusters"] == 12 and 1 <= res["df"] <= 11


def test_weights_are_truncated_within_each_group():
    # the modality's weights 1/e and the reference's 1/(1-e) are truncated each at its own 1st and 99th
    # percentiles: pooled, the group with the larger weights lost more than 1 % of them (docs/methods.md,
    # "Confounding by indication": pooled truncation biased the estimate where the outcome model was wrong)
    w_m = np.arange(1, 101, dtype=float)  # percentiles 1 and 99 (inverted CDF)
    w_r = np.linspace(1.0, 2.0, 100)
    w, share = truncate_weights(np.r_[w_m, w_r], groups=np.r_[np.ones(100, bool), np.zeros(100, bool)])
    assert w[:100].min() == 1.0 and w[:100].max() == 99.0
    assert w[100:].min() == pytest.approx(w_r[0]) and w[100:].max() == pytest.approx(w_r[98])
    assert share == pytest.approx(0.01)  # one in each group of 100, where pooled truncation would cap 2 of w_m
    pooled, _ = truncate_weights(np.r_[w_m, w_r])
    assert (pooled[:100] < w_m).sum() == 2
    counted, share_c = truncate_weights(np.array([1.0, 50.0, 100.0, 1.0, 3.0]), counts=[49, 50, 1, 99, 1],
                                        groups=[1, 1, 1, 0, 0])
    assert counted.tolist() == [1.0, 50.0, 50.0, 1.0, 1.0] and share_c == pytest.approx(2 / 200)


@pytest.mark.parametrize("seed", range(6))
def test_truncation_of_repeated_weights_equals_that_of_every_row(seed):
    """Weights repeat (one per case-mix pattern): the percentiles are taken on the distinct values with their summed
    counts; the truncated weights must be exactly those of numpy's percentiles over every row."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    values = 1 / rng.uniform(0.01, 0.99, int(rng.integers(2, 60)))
    w = rng.choice(values, n)
    counts = rng.integers(0, 4, n).astype(float) if seed % 2 else None
    groups = rng.integers(0, 3, n)
    got, share = truncate_weights(w, counts=counts, groups=groups)
    c = np.ones(n) if counts is None else counts
    expected = w.copy()
    for g in range(3):
        sel, keep = groups == g, (groups == g) & (c > 0)
        lo, hi = np.percentile(w[keep], [1, 99], weights=c[keep], method="inverted_cdf")
        expected[sel] = np.clip(w[sel], lo, hi)
    assert got.tolist() == expected.tolist()
    assert share == pytest.approx(np.sum(c * (expected != w)) / np.sum(c), rel=1e-15)


def test_aipw_truncates_each_group_at_its_own_percentiles():
    rng = np.random.default_rng(5)
    n = 2000
    x = rng.normal(size=n)
    e = 1 / (1 + np.exp(-1.5 * x))
    t = rng.random(n) < e
    y = x + 0.5 * t + rng.normal(size=n)
    res = aipw_means(y, t, e, x + 0.5, x)
    w = np.where(t, 1 / e, 1 / (1 - e))
    for grp in (t, ~t):
        lo, hi = np.percentile(w[grp], [1, 99], method="inverted_cdf")
        w[grp] = np.clip(w[grp], lo, hi)
    a1 = x + 0.5 + t * w * (y - x - 0.5)
    a0 = x + ~t * w * (y - x)
    assert res["estimate"] == pytest.approx(a1.mean() - a0.mean(), rel=1e-12)


def test_aipw_rejects_an_unknown_scale():
    with pytest.raises(ValueError, match="scale must be 'difference' or 'odds_ratio', not 'ratio'"):
        aipw_means([1.0, 2.0], [True, False], [0.5, 0.5], [1.0, 1.0], [1.0, 1.0], scale="ratio")


def test_weights_ess_and_smd_by_hand():
    assert kish_ess([2, 2, 2]) == pytest.approx(3.0)
    assert kish_ess([1, 3]) == pytest.approx(16 / 10)
    assert kish_ess([1, 3], counts=[2, 1]) == pytest.approx(kish_ess([1, 1, 3]))
    w, share = truncate_weights(np.arange(1, 101, dtype=float))  # inverted-CDF percentiles: 1 and 99
    assert share == pytest.approx(0.01) and w.min() == 1.0 and w.max() == 99.0
    wc, share_c = truncate_weights(np.array([1.0, 50.0, 99.0, 100.0]), counts=[49, 49, 1, 1])
    assert wc.tolist() == [1.0, 50.0, 99.0, 99.0] and share_c == pytest.approx(0.01)  # the 99th of 100 episodes is 99
    x = np.array([[1.0], [2.0], [3.0], [5.0], [6.0], [10.0]])
    t = np.array([True, True, True, False, False, False])
    pooled = np.sqrt((np.var([1, 2, 3], ddof=1) + np.var([5, 6, 10], ddof=1)) / 2)
    assert weighted_smd(x, t)[0] == pytest.approx((2 - 7) / pooled)
    wts = np.array([1, 1, 2, 1, 1, 1.0])  # weighted mean of the treated: 9/4
    assert weighted_smd(x, t, weights=wts)[0] == pytest.approx((9 / 4 - 7) / pooled)


def test_sample_weighting_improves_balance_and_estimates_sit_beside_the_regression(data):
    _, out = data
    diag = confounding_diagnostics(out)
    ov = diag["overlap"]
    assert diag["converged"] and len(ov) == out["modality"].nunique() - 1
    assert (ov["max_weighted_smd"] < ov["max_smd"]).all()
    assert ((ov["effective_n"] > 0) & (ov["effective_n"] <= ov["n"])).all()
    bins = diag["bins"]
    for (m, group), b in bins.groupby(["modality", "group"]):
        assert b["count"].sum() == (ov.set_index("modality").loc[m, "n"] if group == "modality"
                                    else ov.set_index("modality").loc[m, "reference_n"])
    for key in ("leg_pain_change", "recovered"):
        t = diag["doubly_robust"][key]
        assert t["estimate"].notna().all() and (t["ci_low"] < t["estimate"]).all()
        assert (t["estimate"] < t["ci_high"]).all()


def test_linear_outcome_model_standardised_is_the_regression_coefficient(data):
    # with cluster none the outcome model is the ordinary linear model: its standardised difference
    # between two modalities is exactly the modality's coefficient
    _, out = data
    adj = adjusted_comparisons(out, cluster="none", models=("leg_pain_change", "recovered"))
    diag = confounding_diagnostics(out, cluster="none", adjusted=adj)
    np.testing.assert_allclose(diag["doubly_robust"]["leg_pain_change"]["regression"],
                               adj["leg_pain_change"]["difference"], rtol=1e-10)


def _network(seed=11, n=1600, overlap="good", one_therapist=False):
    rng = np.random.default_rng(seed)
    base = rng.integers(3, 11, n).astype(float)
    clinic = rng.choice(["A", "B", "C"], n)
    logit = (base - 6.5) * (2.5 if overlap == "poor" else 0.3)
    treat = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "new", "usual")
    therapist = np.array([f"{c}{k}" for c, k in zip(clinic, rng.integers(0, 5, n))], dtype=object)
    if one_therapist:
        therapist[treat == "new"] = "A9"
    final = np.clip(base * 0.5 + rng.normal(0, 1.5, n), 0, 10)
    return pd.DataFrame({"modality": treat, "baseline_leg_pain": base, "clinic": clinic, "therapist": therapist,
                         "final_leg_pain": final, "recovered": (final < 3).astype(float)})


def test_poor_overlap_says_the_comparison_rests_on_model_assumptions():
    diag = confounding_diagnostics(_network(overlap="poor"), reference="usual",
                                   covariates=("baseline_leg_pain", "clinic"))
    ov = diag["overlap"].iloc[0]
    assert ov["poor_overlap"] and ov["effective_n"] < 0.5 * ov["n"] and ov["status"] == "caution"
    row = diag["doubly_robust"]["leg_pain_change"].iloc[0]
    assert row["assumptions"] and row["reason"] == "model_assumptions" and row["status"] == "caution"
    assert row["note"].startswith("rests on model assumptions: weighting leaves an effective ")
    good = confounding_diagnostics(_network(overlap="good"), reference="usual",
                                   covariates=("baseline_leg_pain", "clinic"))
    assert not good["overlap"]["poor_overlap"].iloc[0]


def test_one_therapist_giving_a_modality_is_not_estimable():
    diag = confounding_diagnostics(_network(one_therapist=True), reference="usual",
                                   covariates=("baseline_leg_pain", "clinic"))
    for key in ("leg_pain_change", "recovered"):
        row = diag["doubly_robust"][key].iloc[0]
        assert np.isnan(row["estimate"]) and row["reason"] == "one_cluster"
        assert row["note"] == "given by one therapist only: not separable from that therapist's own results: not estimable"


def test_summary_document_carries_doubly_robust_and_overlap(sample_dir):
    from analysis import load_records
    doc = summarise(load_records(sample_dir))
    mods = [m["modality"] for m in doc["modalities"] if m["modality"] != doc["settings"]["reference"]]
    assert [r["modality"] for r in doc["overlap"]] == mods
    assert set(doc["doubly_robust"]) == {"leg_pain_change", "recovered"}
    row = doc["doubly_robust"]["recovered"][0]
    assert {"modality", "estimate", "ci_low", "ci_high", "effective_n", "note"} <= set(row)


# ----------------------------------------------------------------- disclosure and presentation


def test_disclosure_hides_small_bins_and_never_leaves_one_to_be_worked_back(data):
    from analysis.disclosure import apply_disclosure_to_confounding, disclosure_rule
    _, out = data
    diag = confounding_diagnostics(out)
    for name in ("internal", "public"):
        shown = apply_disclosure_to_confounding(diag, rule=disclosure_rule(name))
        b = shown["bins"]
        assert not (b["shown"] & b["count"].between(1, 7)).any()
        assert b.loc[~b["shown"], "drawn"].isna().all()
        for _, g in b.groupby(["modality", "group"]):
            # with the group's total known, a lone hidden non-zero bin would be the total minus the rest
            assert (~g["shown"] & (g["count"] > 0)).sum() != 1
    pub = apply_disclosure_to_confounding(diag, rule=disclosure_rule("public"))["bins"]
    drawn = pub.loc[pub["shown"], "drawn"]
    assert (drawn % 5 == 0).all()  # the public rule draws rounded counts


def test_a_small_modality_is_hidden_everywhere_and_drawn_nowhere(data):
    from analysis.disclosure import apply_disclosure_to_adjusted, apply_disclosure_to_confounding, disclosure_rule
    from analysis.present import plot_overlap
    _, out = data
    keep = out[out["modality"] != "traction"]
    few = out[out["modality"] == "traction"].head(6)
    small = pd.concat([keep, few])
    rule = disclosure_rule("internal")
    adj = adjusted_comparisons(small, models=("leg_pain_change", "recovered"))
    shown = apply_disclosure_to_confounding(confounding_diagnostics(small, adjusted=adj), rule=rule,
                                            adjusted_shown=apply_disclosure_to_adjusted(adj, rule=rule))
    ov = shown["overlap"].set_index("modality").loc["traction"]
    assert ov["status"] == "hidden" and np.isnan(ov["effective_n"])
    for key in ("leg_pain_change", "recovered"):
        row = shown["doubly_robust"][key].set_index("modality").loc["traction"]
        assert row["status"] in ("hidden", "not_estimable") and np.isnan(row["estimate"])
    assert shown["balance"].loc[shown["balance"]["modality"] == "traction", "smd"].isna().all()
    t = shown["bins"][shown["bins"]["modality"] == "traction"]
    assert not t["shown"].any() and set(t["count_text"]) == {"-"}
    fig = plot_overlap(shown["bins"])
    panel = [ax for ax in fig.axes if ax.get_title() == "traction"][0]
    assert len(panel.patches) == 0


def test_doubly_robust_hidden_where_the_adjusted_comparison_is(data):
    from analysis.disclosure import apply_disclosure_to_adjusted, apply_disclosure_to_confounding, disclosure_rule
    _, out = data
    rule = disclosure_rule("public")
    adj = adjusted_comparisons(out, models=("leg_pain_change", "recovered"))
    adj_shown = apply_disclosure_to_adjusted(adj, rule=rule)
    # pretend the disclosure rule hid one modality's recovery odds ratio (as it does for 1-7 recoveries)
    rc = adj_shown["recovered"].copy()
    rc.loc[rc["modality"] == "mckenzie", ["odds_ratio", "status", "reason"]] = [np.nan, "hidden", "few_events"]
    adj_shown = {**adj_shown, "recovered": rc}
    shown = apply_disclosure_to_confounding(confounding_diagnostics(out, adjusted=adj), rule=rule,
                                            adjusted_shown=adj_shown)
    row = shown["doubly_robust"]["recovered"].set_index("modality").loc["mckenzie"]
    assert row["status"] == "hidden" and np.isnan(row["estimate"])
    assert row["note"] == "not shown: rests on 1-7 recoveries (disclosure control)"
    assert shown["doubly_robust"]["leg_pain_change"].set_index("modality").loc["mckenzie", "status"] != "hidden"


def test_report_section_says_which_comparison_rests_on_assumptions(sample_dir):
    from analysis.app import ReportContent
    from analysis.disclosure import disclosure_rule
    from analysis.methods import OutcomeSettings
    from analysis.records import load_records
    c = ReportContent(load_records(sample_dir), settings=OutcomeSettings(), rule=disclosure_rule("public"))
    table, sentence = (str(x) for x in c.doubly_robust())
    # on the sample, education and advice goes to milder patients: weighting keeps under half of its episodes
    assert "For Education and advice the comparison rests on model assumptions: after weighting its 190 " in sentence
    assert "truncated at their own 1st and 99th percentiles" in sentence
    assert "(rests on model assumptions)" in table and "76 of 190" in table  # 191 episodes, rounded to 5
    overlap, love = str(c.overlap()), str(c.love())
    assert "Numbers behind this figure" in overlap and "Effective episodes after weighting" in overlap
    assert "Leg pain at first visit" in love and "Cause: Disc herniation" in love


def test_overlap_alt_text_gives_each_shown_modality_its_effective_share(data):
    from analysis.disclosure import apply_disclosure_to_confounding, disclosure_rule
    from analysis.present import alt_overlap
    _, out = data
    shown = apply_disclosure_to_confounding(confounding_diagnostics(out), rule=disclosure_rule("internal"))
    alt = alt_overlap(shown["overlap"], labels={"education": "Education and advice"})
    ov = shown["overlap"].set_index("modality")
    assert f"Education and advice {100 * ov.loc['education', 'ess_share']:.0f} %" in alt
    assert alt.count(" %") == len(ov)
