"""Clustered models against statsmodels' tested implementations, and the adjusted
comparisons' clustering, stratification, E-values, Holm p and cautions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from analysis.methods import OutcomeSettings, adjusted_comparisons, default_cluster
from analysis.stats import (
    cluster_codes,
    clustered_cox_model,
    clustered_logistic_model,
    cox_model,
    e_value,
    holm,
    random_intercept_model,
    to_risk_ratio,
)


@pytest.fixture(scope="module")
def grouped():
    rng = np.random.default_rng(5)
    G, n = 25, 2000
    g = rng.integers(0, G, n)
    x = rng.normal(size=n)
    z = (rng.random(n) < 0.3).astype(float)
    X = np.column_stack([np.ones(n), x, z])
    y = 1 + 0.5 * x - 0.3 * z + rng.normal(scale=0.7, size=G)[g] + rng.normal(size=n)
    yb = (rng.random(n) < 1 / (1 + np.exp(-(x + rng.normal(scale=0.5, size=G)[g])))).astype(float)
    return g, X, y, yb


def test_random_intercept_matches_statsmodels_mixedlm(grouped):
    """Our REML from per-cluster sums equals statsmodels MixedLM (REML) to 5 decimals."""
    g, X, y, _ = grouped
    ours = random_intercept_model(y, X, g, names=["c", "x", "z"])
    ref = sm.MixedLM(y, X, groups=g).fit(reml=True)
    np.testing.assert_allclose(ours.table["coef"], ref.fe_params, atol=1e-6)
    np.testing.assert_allclose(ours.table["se"], ref.bse_fe, rtol=1e-4)
    assert ours.extra["tau2"] == pytest.approx(float(np.asarray(ref.cov_re)[0, 0]), rel=1e-4)
    assert ours.extra["sigma2"] == pytest.approx(ref.scale, rel=1e-5)


def test_random_intercept_satterthwaite_df(grouped):
    """Between-cluster terms (the intercept) get about G - 1 df; within-cluster terms nearly n - p."""
    g, X, y, _ = grouped
    df = random_intercept_model(y, X, g, names=["c", "x", "z"]).extra["df"]
    assert 15 < df[0] < 30 and df[1] > 1500 and df[2] > 1500


def test_random_intercept_without_cluster_variance_is_ols():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(10), 30)
    X = np.column_stack([np.ones(300), rng.normal(size=300)])
    y = X @ [1.0, 2.0] + rng.normal(size=300)
    ours = random_intercept_model(y, X, g, names=["c", "x"])
    ols = sm.OLS(y, X).fit()
    if ours.extra["tau2"] < 1e-8:
        np.testing.assert_allclose(ours.table["se"], ols.bse, rtol=1e-6)
        np.testing.assert_allclose(ours.table[["ci_low", "ci_high"]], ols.conf_int(), rtol=1e-6)
    np.testing.assert_allclose(ours.table["coef"], ols.params, atol=0.02)


def test_mancl_derouen_matches_statsmodels_gee_bias_reduced(grouped):
    """The Woodbury per-cluster form equals statsmodels GEE(..., cov_type='bias_reduced')."""
    g, X, _, yb = grouped
    ours = clustered_logistic_model(yb, X, g, names=["c", "x", "z"])
    gee = sm.GEE(yb, X, groups=g, family=sm.families.Binomial(),
                 cov_struct=sm.cov_struct.Independence()).fit(cov_type="bias_reduced")
    np.testing.assert_allclose(ours.table["coef"], gee.params, atol=1e-6)
    np.testing.assert_allclose(ours.table["se"], gee.bse, rtol=1e-5)
    # 25 clusters sharing the information about evenly: about G - 1 = 24 degrees of freedom for each term
    assert (ours.extra["df"] > 18).all() and (ours.extra["df"] <= 24).all()


def test_mancl_derouen_with_singleton_clusters(grouped):
    """Episodes without a therapist are clusters of one; the rank-one shortcut equals the general form."""
    g, X, _, yb = grouped
    groups = np.where(np.arange(len(g)) < 150, -1 - np.arange(len(g)), g).astype(str)
    ours = clustered_logistic_model(yb, X, groups, names=["c", "x", "z"])
    gee = sm.GEE(yb, X, groups=groups, family=sm.families.Binomial(),
                 cov_struct=sm.cov_struct.Independence()).fit(cov_type="bias_reduced")
    np.testing.assert_allclose(ours.table["se"], gee.bse, rtol=1e-5)


@pytest.fixture(scope="module")
def survival_clusters():
    rng = np.random.default_rng(9)
    n, G = 600, 20
    g = rng.integers(0, G, n)
    X = np.column_stack([rng.normal(size=n), rng.random(n) < 0.5]).astype(float)
    t = rng.exponential(1 / np.exp(X @ [0.5, -0.4] + rng.normal(0, .3, G)[g]))
    c = rng.exponential(2.0, n)
    return np.minimum(t, c), (t <= c).astype(float), X, g


def test_cox_sandwich_with_one_episode_clusters_matches_phreg_robust(survival_clusters):
    """Clusters of one are left uncorrected: the plain Lin-Wei sandwich, as statsmodels PHReg
    computes it (no tied times, so Breslow = Efron)."""
    time_, ev, X, _ = survival_clusters
    ours = clustered_cox_model(time_, ev, X, np.arange(len(ev)), names=["x1", "x2"])
    ph = sm.PHReg(time_, X, status=ev, ties="breslow").fit(groups=np.arange(len(ev)))
    np.testing.assert_allclose(ours.table["coef"], ph.params, atol=1e-6)
    np.testing.assert_allclose(ours.table["se"], ph.bse, rtol=1e-5)


def test_cox_bias_reduction_inflates_the_clustered_sandwich(survival_clusters):
    """With 20 clusters the leverage-corrected SE exceeds PHReg's plain robust SE by cluster,
    and the clusters' information shares add up to the information matrix."""
    from analysis.stats._cox import _CoxData

    time_, ev, X, g = survival_clusters
    ours = clustered_cox_model(time_, ev, X, g, names=["x1", "x2"])
    ph = sm.PHReg(time_, X, status=ev, ties="breslow").fit(groups=g)
    ratio = ours.table["se"].to_numpy() / ph.bse
    assert (ratio > 1.01).all() and (ratio < 1.3).all()
    data = _CoxData(time_, ev, X, "efron")
    beta = ours.table["coef"].to_numpy()
    parts = data.cluster_information(beta, g, 20, np.arange(20))
    np.testing.assert_allclose(sum(parts.values()), -data.evaluate(beta)[2], rtol=1e-10)


def test_stratified_cox_matches_statsmodels_phreg():
    """Rossi data stratified by 'wexp', Efron ties, against statsmodels PHReg(strata=...)."""
    from pathlib import Path

    d = pd.read_csv(Path(__file__).parent / "data" / "rossi.csv")
    X = d[["fin", "age", "prio"]].to_numpy(float)
    ours = cox_model(d["week"], d["arrest"], X, names=["fin", "age", "prio"], strata=d["wexp"])
    ph = sm.PHReg(d["week"], X, status=d["arrest"], strata=d["wexp"], ties="efron").fit()
    np.testing.assert_allclose(ours.table["coef"], ph.params, atol=1e-6)
    np.testing.assert_allclose(ours.table["se"], ph.bse, rtol=1e-5)


def test_cluster_codes_missing_are_singletons():
    assert cluster_codes(["a", None, "a", None]).tolist() == [0, 1, 0, 2]


# ----------------------------------------------------------------- adjusted comparisons


def test_cluster_none_reproduces_independent_ols(data):
    """--cluster none: the modality differences and t intervals are plain OLS (statsmodels)."""
    import statsmodels.formula.api as smf

    _, out = data
    adj = adjusted_comparisons(out, cluster="none")
    ref = adj["reference"]
    d = out.dropna(subset=["final_leg_pain", "baseline_leg_pain"])
    fit = smf.ols(f"final_leg_pain ~ C(modality, Treatment('{ref}')) + baseline_leg_pain + C(age_band) + C(sex)"
                  " + C(symptom_band) + C(cause) + C(clinic)", data=d).fit()
    lp = adj["leg_pain_change"].set_index("modality")
    for m in lp.index:
        term = f"C(modality, Treatment('{ref}'))[T.{m}]"
        assert lp.loc[m, "difference"] == pytest.approx(fit.params[term], abs=1e-9)
        assert lp.loc[m, "ci_low"] == pytest.approx(fit.conf_int().loc[term, 0], abs=1e-9)
    assert adj["cluster"] == "none" and "independent" in adj["method"]["leg_pain_change"]


def test_default_cluster_is_therapist_when_recorded(data, network):
    _, out = data
    assert default_cluster(out) == "therapist"
    assert default_cluster(out.drop(columns="therapist")) == "none"
    assert adjusted_comparisons(network)["cluster"] == "therapist"


def test_cluster_on_absent_codes_is_a_clear_error(network):
    with pytest.raises(ValueError, match="cannot cluster by therapist: the records have no therapist codes"):
        adjusted_comparisons(network.assign(therapist=None), cluster="therapist")
    with pytest.raises(ValueError, match="cluster must be one of therapist, clinic, none"):
        adjusted_comparisons(network, cluster="patient")


def test_clustering_widens_intervals_on_a_clustered_network(network):
    """Therapists favour modalities and differ in outcome: intervals must widen, estimates stay put
    (logistic and Cox estimates are the same model; the mixed model re-weights)."""
    none = adjusted_comparisons(network, reference="a", cluster="none")
    ther = adjusted_comparisons(network, reference="a", cluster="therapist")
    for key in ("leg_pain_change", "recovered"):
        w0 = (none[key]["ci_high"] - none[key]["ci_low"]).to_numpy()
        w1 = (ther[key]["ci_high"] - ther[key]["ci_low"]).to_numpy()
        # a cluster-robust interval estimates its variance from the clusters, so one may come out a little
        # narrower by chance; on average they are wider
        assert w1.mean() > w0.mean() and (w1 > 0.9 * w0).all(), key
    np.testing.assert_allclose(none["recovered"]["odds_ratio"], ther["recovered"]["odds_ratio"])
    assert ther["clusters"]["recovered"] == 16
    assert "Mancl-DeRouen" in ther["method"]["recovered"] and "random intercept" in ther["method"]["leg_pain_change"]


def test_population_all_stratifies_by_candidacy(data):
    _, out0 = data
    s = OutcomeSettings(population="all")
    from analysis import derive_outcomes, load_records
    from analysis.methods._compare import _design

    out = derive_outcomes(load_records("data/sample"), settings=s)
    adj = adjusted_comparisons(out, settings=s, cluster="none")
    assert "stratified by surgical candidacy" in adj["method"]["surgery"]
    d = out[out["baseline_leg_pain"].notna()]
    mods = [m for m in sorted(d["modality"].unique()) if m != adj["reference"]]
    X, names, _ = _design(d, modalities=mods, covariates=list(adj["covariates"]),
                          y_events=d["surgery_event"].to_numpy(float), both_ends=False, constant=False)
    strat = cox_model(d["surgery_time"], d["surgery_event"], X, names=names, strata=d["surgical_candidate"])
    unstrat = cox_model(d["surgery_time"], d["surgery_event"], X, names=names)
    hr = adj["surgery"].set_index("modality")["hazard_ratio"]
    for m in mods:
        term = strat.table.set_index("term").loc[f"modality:{m}", "coef"]
        assert hr[m] == pytest.approx(np.exp(term), rel=1e-9)
    assert not np.allclose(strat.table["coef"], unstrat.table["coef"])
    # and the population really is everyone
    assert int(adj["surgery"]["n"].sum()) + int((d["modality"] == adj["reference"]).sum()) == len(d)


def test_holm_and_e_values_on_every_row(data):
    _, out = data
    adj = adjusted_comparisons(out, cluster="none")
    for key in ("leg_pain_change", "recovered", "surgery"):
        t = adj[key]
        np.testing.assert_allclose(t["p_holm"], holm(t["p"]), equal_nan=True)
        ok = t["e_value"].notna()
        assert (t.loc[ok, "e_value"] >= 1).all() and (t.loc[ok, "e_value_ci"] >= 1).all()
        contains = ok & ((t["difference"] if key == "leg_pain_change" else t["ci_low"]).notna())
        crosses = (t["ci_low"] <= (0 if key == "leg_pain_change" else 1)) & \
                  (t["ci_high"] >= (0 if key == "leg_pain_change" else 1))
        assert (t.loc[contains & crosses, "e_value_ci"] == 1).all()


def test_e_value_published_examples():
    """VanderWeele & Ding (2017, Ann Intern Med 167:268): RR 3.9 (1.8-8.7) -> 7.26 (3.00);
    the formula for a protective RR inverts it first; OR of a common outcome uses sqrt(OR)."""
    e, lo = e_value(3.9, 1.8, 8.7, scale="ratio")
    assert float(e) == pytest.approx(7.26, abs=0.005) and float(lo) == pytest.approx(3.0, abs=0.005)
    e, lo = e_value(1 / 3.9, 1 / 8.7, 1 / 1.8, scale="ratio")
    assert float(e) == pytest.approx(7.26, abs=0.005) and float(lo) == pytest.approx(3.0, abs=0.005)
    assert float(to_risk_ratio(2.25, scale="odds_ratio", common=True)) == pytest.approx(1.5)
    assert float(to_risk_ratio(2.25, scale="odds_ratio", common=False)) == pytest.approx(2.25)
    hr = float(to_risk_ratio(2.0, scale="hazard_ratio", common=True))
    assert hr == pytest.approx((1 - 0.5 ** np.sqrt(2)) / (1 - 0.5 ** np.sqrt(0.5)))
    assert float(to_risk_ratio(0.5, scale="difference", sd=1.0)) == pytest.approx(np.exp(0.455))
    e, lo = e_value(1.2, 0.9, 1.6, scale="ratio")
    assert float(lo) == 1.0


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_e_value_of_an_extreme_difference_warns_nothing():
    """A handful of episodes can give a difference of hundreds of SDs (found by the small-data test: 30 episodes):
    the E-value is then missing (shown as none), never a numerical warning (an 'internal error' for the user);
    a ratio of 1e200 keeps a finite E-value (the formula no longer squares it)."""
    e, lo = e_value(np.array([900.0]), np.array([800.0]), np.array([1000.0]), scale="difference", sd=1.0)
    assert np.isnan(e).all() and np.isnan(lo).all()
    e, _ = e_value(1e200, 1e199, 1e201, scale="ratio")
    assert float(e) == pytest.approx(2e200, rel=1e-12)


def test_events_per_parameter_caution(data):
    """The sample's surgery model has about 3 surgeries per parameter: every estimate carries the caution."""
    _, out = data
    adj = adjusted_comparisons(out)
    assert adj["events_per_parameter"]["surgery"] < 10
    est = adj["surgery"]["hazard_ratio"].notna()
    assert adj["surgery"].loc[est, "note"].str.startswith("caution: only").all()
    assert adj["recovered"]["note"].isna().all()  # 17 per parameter: no caution


def test_missing_covariate_values_are_left_out_and_counted(network):
    """A custom covariate with gaps (therapist) neither raises nor merges into the reference level."""
    d = network.copy()
    d.loc[d.index[:50], "therapist"] = None
    covs = ("baseline_leg_pain", "age_band", "therapist")
    adj = adjusted_comparisons(d, reference="a", covariates=covs, cluster="none")
    assert adj["missing_covariates"] == 50
    full = adjusted_comparisons(d.iloc[50:], reference="a", covariates=covs, cluster="none")
    for key, est in (("leg_pain_change", "difference"), ("recovered", "odds_ratio"), ("surgery", "hazard_ratio")):
        np.testing.assert_allclose(adj[key][est], full[key][est], rtol=1e-8)


def test_adjusted_table_shows_holm_p_and_e_values(data):
    """The report's adjusted table: the estimate, its interval, the Holm p and the E-value a reader sees."""
    from analysis.present import format_adjusted_table

    _, out = data
    adj = adjusted_comparisons(out)
    t = format_adjusted_table(adj)
    r = adj["recovered"].dropna(subset=["odds_ratio"]).iloc[0]
    cell = t.loc[t["Modality"] == r["modality"], "Recovered, odds ratio (95% CI)"].iloc[0]
    ph = r["p_holm"]
    p = "Holm p < 0.001" if ph < 0.001 else "Holm p > 0.99" if ph >= 0.995 else f"Holm p = {ph:.3f}"
    assert cell == f"{r['odds_ratio']:.2f} ({r['ci_low']:.2f} to {r['ci_high']:.2f}), {p}, E-value {r['e_value']:.2f}"
    s = adj["surgery"].dropna(subset=["hazard_ratio"]).iloc[0]
    assert t.loc[t["Modality"] == s["modality"], "Surgery, hazard ratio (95% CI)"].iloc[0].endswith(" (caution: few events for the model)")


def test_clustering_by_few_clinics_is_refused(network, tmp_path, capsys):
    """--cluster clinic in a 4-clinic network: t(3) robust intervals were erratic (a hazard-ratio interval
    0.96-1.18, narrower than the independent-episode 0.75-1.53; issue 22). Refused with the reason."""
    from analysis.app.cli import main

    with pytest.raises(ValueError, match=r"^with 2 clinics, intervals clustered by clinic are not trustworthy"):
        adjusted_comparisons(network, reference="a", cluster="clinic")
    assert main(["summary", "data/sample", "--cluster", "clinic"]) == 2
    err = capsys.readouterr().err
    assert "--cluster clinic: with 3 clinics, intervals clustered by clinic are not trustworthy" in err
    assert "cluster by therapist (the default when therapists are recorded)" in err


def test_robust_random_intercept_matches_r_clubsandwich_cr3():
    """The cluster-robust covariance around the REML estimate equals clubSandwich's CR3 for an lme fit
    (12 clusters of 3-14 and five singletons; tests/data/robust-gls.csv).

    R 4.2 (Debian r-cran-nlme, r-cran-clubsandwich 0.5.8)::

        library(nlme); library(clubSandwich)
        d <- read.csv("tests/data/robust-gls.csv")
        f <- lme(y ~ x + z, random = ~ 1 | g, data = d, method = "REML")
        fixef(f)                      # 0.829280637457 0.621111481993 0.583356145972
        sqrt(diag(as.matrix(vcovCR(f, cluster = d$g, type = "CR3"))))
                                      # 0.3232063770419 0.0714336147029 0.2264414818021
        as.numeric(VarCorr(f)[, 1])   # 1.4357942 0.8475106 (tau2, sigma2)
    """
    from pathlib import Path

    d = pd.read_csv(Path(__file__).parent / "data" / "robust-gls.csv")
    X = np.column_stack([np.ones(len(d)), d["x"], d["z"]])
    res = random_intercept_model(d["y"], X, d["g"], names=["c", "x", "z"], robust=True)
    np.testing.assert_allclose(res.table["coef"], [0.829280637457, 0.621111481993, 0.583356145972], rtol=1e-6)
    np.testing.assert_allclose(res.table["se"], [0.3232063770419, 0.0714336147029, 0.2264414818021], rtol=1e-5)
    assert res.extra["tau2"] == pytest.approx(1.4357942, rel=1e-5)
    assert res.extra["sigma2"] == pytest.approx(0.8475106, rel=1e-5)
    # 17 clusters: at most 16 df; the model-based fit is unchanged by the option
    assert (res.extra["df"] <= 16).all()
    plain = random_intercept_model(d["y"], X, d["g"], names=["c", "x", "z"])
    np.testing.assert_allclose(plain.table["coef"], res.table["coef"], rtol=1e-12)
