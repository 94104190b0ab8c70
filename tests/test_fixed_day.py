"""Leg pain on fixed days: the growth-curve mixed model (stats) and its clinical use (methods, disclosure, summary)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import derive_outcomes, load_records
from analysis.disclosure import apply_disclosure_to_fixed_day, disclosure_rule
from analysis.methods import MIN_REACH, OutcomeSettings, Reason, leg_pain_at_days
from analysis.records import Records
from analysis.stats import growth_curve_model, natural_spline_basis

DATA = Path(__file__).parent / "data" / "growth-visits.csv"
KNOTS = [0, 15, 60, 110]


def _small():
    d = pd.read_csv(DATA)
    units = d.groupby("unit").first()
    X = np.column_stack([np.ones(len(units)), units["sex"], units["grp"] == 1, units["grp"] == 2]).astype(float)
    return d, units, X


def _fit(**kw):
    d, units, X = _small()
    return growth_curve_model(d["y"], d["unit"], d["day"], natural_spline_basis(d["day"], KNOTS), X,
                              units["grp"].to_numpy(), names=["const", "sex", "grp1", "grp2"], **kw)


def test_growth_model_matches_r_lmer():
    """Means on days 42 and 84 by group (sex 0), their standard errors and the variance components equal lme4's.

    R 4.2 (Debian r-cran-lme4 1.1.31), tests/data/growth-visits.csv (150 units, 588 visits)::

        library(lme4); library(splines)
        d <- read.csv("tests/data/growth-visits.csv"); d$grp <- factor(d$grp)
        f <- lmer(y ~ sex + grp + grp:ns(day, knots = c(15, 60), Boundary.knots = c(0, 110)) + (1 + day | unit),
                  data = d, REML = TRUE, control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12)))
        sigma(f)^2                                 # 0.721398465852
        as.data.frame(VarCorr(f))$vcov             # 1.855925854982 0.000250401769 0.001227456495 (var0, var1, cov)
        nd <- expand.grid(sex = 0, grp = factor(0:2), day = c(42, 84))
        X <- model.matrix(delete.response(terms(f)), nd)
        X %*% fixef(f); sqrt(diag(X %*% as.matrix(vcov(f)) %*% t(X)))
    """
    fit = _fit()
    assert fit.converged
    assert fit.sigma2 == pytest.approx(0.721398465852, rel=2e-5)
    np.testing.assert_allclose([fit.re_cov[0, 0], fit.re_cov[1, 1], fit.re_cov[0, 1]],
                               [1.855925854982, 0.000250401769, 0.001227456495], rtol=5e-4)
    r_est = {(0, 42): 3.93988181729, (1, 42): 4.71289235143, (2, 42): 4.86746640728,
             (0, 84): 3.19493169074, (1, 84): 3.95900682593, (2, 84): 4.38639027691}
    r_se = {(0, 42): 0.307418924314, (1, 42): 0.271760843650, (2, 42): 0.322404459402,
            (0, 84): 0.353368299250, (1, 84): 0.318630139860, (2, 84): 0.390801753123}
    for (g, day), est in r_est.items():
        x = np.array([1.0, 0.0, g == 1, g == 2])
        c = fit.contrast(fit.design_row(x, g, natural_spline_basis([day], KNOTS)[0]))
        assert c["estimate"] == pytest.approx(est, rel=2e-6)
        assert c["se"] == pytest.approx(r_se[(g, day)], rel=2e-5)


def test_growth_model_from_distinct_rows_is_the_same_fit():
    """X given as its distinct rows with each unit's row number (rows=) gives the fit of the full X, with
    and without clustering; a rows array that does not fit X is refused."""
    d, units, X = _small()
    distinct, rows = np.unique(X, axis=0, return_inverse=True)
    groups = np.arange(len(units)) // 10
    for kw in ({}, {"groups": groups}):
        full = _fit(**kw)
        compact = growth_curve_model(d["y"], d["unit"], d["day"], natural_spline_basis(d["day"], KNOTS), distinct,
                                     units["grp"].to_numpy(), rows=rows.ravel(), names=["const", "sex", "grp1", "grp2"],
                                     **kw)
        assert len(distinct) < len(X)
        np.testing.assert_allclose(compact.beta, full.beta, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(compact.cov, full.cov, rtol=1e-9, atol=1e-14)
        assert compact.sigma2 == pytest.approx(full.sigma2, rel=1e-12)
    with pytest.raises(ValueError, match="rows must give each unit's row of X"):
        growth_curve_model(d["y"], d["unit"], d["day"], natural_spline_basis(d["day"], KNOTS), distinct,
                           units["grp"].to_numpy(), rows=np.full(len(units), len(distinct)))
    with pytest.raises(ValueError, match=r"X has 4 rows for 150 units \(give rows= when X holds distinct rows"):
        growth_curve_model(d["y"], d["unit"], d["day"], natural_spline_basis(d["day"], KNOTS), distinct[:4],
                           units["grp"].to_numpy())


def test_growth_model_from_the_basis_of_each_day_is_the_same_fit():
    """The basis given once per distinct day with each visit's row of it (basis_rows=) gives the fit of the
    basis of every visit; rows whose visits have different times fall back to the basis per visit; rows
    that do not fit the basis are refused."""
    d, units, X = _small()
    days = np.unique(d["day"].to_numpy())
    table = natural_spline_basis(days, KNOTS)
    day_rows = np.searchsorted(days, d["day"].to_numpy())
    full = _fit()
    per_day = growth_curve_model(d["y"], d["unit"], d["day"], table, X, units["grp"].to_numpy(), basis_rows=day_rows,
                                 names=["const", "sex", "grp1", "grp2"])
    np.testing.assert_allclose(per_day.beta, full.beta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(per_day.cov, full.cov, rtol=1e-9, atol=1e-14)
    # one row standing for two different times: the model takes the basis of each visit instead
    merged = np.where(day_rows == 1, 2, day_rows)
    mixed = growth_curve_model(d["y"], d["unit"], d["day"], table, X, units["grp"].to_numpy(), basis_rows=merged)
    explicit = growth_curve_model(d["y"], d["unit"], d["day"], table[merged], X, units["grp"].to_numpy())
    np.testing.assert_allclose(mixed.beta, explicit.beta, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="basis_rows must give each measurement's row of basis"):
        growth_curve_model(d["y"], d["unit"], d["day"], table, X, units["grp"].to_numpy(),
                           basis_rows=np.full(len(d), len(table)))
    with pytest.raises(ValueError, match="give basis_rows= when it holds the basis of distinct times only"):
        growth_curve_model(d["y"], d["unit"], d["day"], table, X, units["grp"].to_numpy())


def test_growth_model_matches_statsmodels_mixedlm():
    """The same fit as statsmodels MixedLM (REML, random intercept and slope) on the full design."""
    import statsmodels.api as sm

    d, units, X = _small()
    fit = _fit()
    B = natural_spline_basis(d["day"], KNOTS)
    g = units["grp"].to_numpy()[d["unit"]]
    Xfull = np.column_stack([X[d["unit"]]] + [B * (g == k)[:, None] for k in range(3)])
    md = sm.MixedLM(d["y"].to_numpy(), Xfull, groups=d["unit"].to_numpy(),
                    exog_re=np.column_stack([np.ones(len(d)), d["day"]]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = md.fit(reml=True, method=["lbfgs"])
    np.testing.assert_allclose(fit.beta, res.fe_params, rtol=1e-4, atol=1e-5)
    assert fit.sigma2 == pytest.approx(res.scale, rel=1e-4)
    np.testing.assert_allclose(fit.re_cov, np.asarray(res.cov_re), rtol=2e-3, atol=1e-7)


def test_fixed_variance_parameters_and_variance_sample():
    """Held at the fitted variance parameters the fit is the same; estimated on a sample of units it stays close."""
    fit = _fit()
    again = _fit(theta=fit.theta)
    np.testing.assert_allclose(again.beta, fit.beta, rtol=1e-12)
    sampled = _fit(variance_sample=100)  # 150 units: variances from 100 of them, fixed effects from all
    se = np.sqrt(np.diag(fit.cov))
    assert np.all(np.abs(sampled.beta - fit.beta) < 0.5 * se)
    assert sampled.units == 150


@pytest.mark.parametrize("singletons", [False, True])
def test_robust_covariance_equals_direct_sandwich(singletons):
    """The bias-reduced cluster-robust covariance and a contrast's effective df equal a direct computation with
    n_i x n_i V_i."""
    from analysis.stats import effective_df

    d, units, X = _small()
    ther = units["therapist"].to_numpy().copy()
    if singletons:  # every third episode without a therapist code: a cluster of its own (summed as a series)
        lone = np.arange(0, len(ther), 3)
        ther[lone] = ther.max() + 1 + np.arange(len(lone))
        ther = np.unique(ther, return_inverse=True)[1]
    fit = _fit(groups=ther)
    B = natural_spline_basis(d["day"], KNOTS)
    g = units["grp"].to_numpy()[d["unit"]]
    Xfull = np.column_stack([X[d["unit"]]] + [B * (g == k)[:, None] for k in range(3)])
    D = fit.re_cov
    p = Xfull.shape[1]
    A = np.zeros((p, p))
    scores = np.zeros((ther.max() + 1, p))
    infos = np.zeros((ther.max() + 1, p, p))
    for u in range(len(units)):
        rows = np.flatnonzero(d["unit"].to_numpy() == u)
        Z = np.column_stack([np.ones(len(rows)), d["day"].to_numpy()[rows]])
        Vi = np.linalg.inv(Z @ D @ Z.T + fit.sigma2 * np.eye(len(rows)))
        Xi = Xfull[rows]
        A += Xi.T @ Vi @ Xi
        r = d["y"].to_numpy()[rows] - Xi @ fit.beta
        scores[ther[u]] += Xi.T @ Vi @ r
        infos[ther[u]] += Xi.T @ Vi @ Xi
    Ainv = np.linalg.inv(A)
    G = ther.max() + 1
    # bias-reduced: each therapist's score as if that therapist were left out (Mancl-DeRouen, CR3)
    star = np.stack([A @ np.linalg.pinv(A - infos[t]) @ scores[t] for t in range(G)])
    cov = Ainv @ (star.T @ star) @ Ainv
    np.testing.assert_allclose(fit.cov, cov, rtol=1e-6, atol=1e-12)
    L = np.zeros(p)
    L[2] = 1.0
    v = Ainv @ L
    shares = np.einsum("i,gij,j->g", v, infos, v)
    assert fit.contrast(L)["df"] == pytest.approx(float(effective_df(shares[:, None], G)[0]), rel=1e-6)


def test_natural_spline_is_linear_beyond_the_boundary_knots():
    x = np.linspace(120, 400, 8)
    B = natural_spline_basis(x, KNOTS)
    np.testing.assert_allclose(np.diff(B, n=2, axis=0), 0, atol=1e-9)
    with pytest.raises(ValueError, match="at least 3 increasing knots"):
        natural_spline_basis([1.0], [0, 10])


def test_variance_search_reaches_the_reml_optimum(sample, monkeypatch):
    """The fitted variance parameters minimise the REML criterion: no nearby point is lower.

    With scipy's default finite-difference step (1e-8) the gradient was swamped by the criterion's
    rounding and the search stopped short on the sample (criterion 1685.086 against 1685.046)."""
    import analysis.methods._fixed_day as fd

    seen = {}

    def keep(*args, **kw):
        seen["args"], seen["kw"] = args, kw
        seen["fit"] = growth_curve_model(*args, **kw)
        return seen["fit"]

    monkeypatch.setattr(fd, "growth_curve_model", keep)
    rec, out = sample
    fd.leg_pain_at_days(rec, out)
    fit = seen["fit"]
    assert fit.converged
    kw = {k: v for k, v in seen["kw"].items() if k != "groups"}
    for j in range(3):
        for step in (-0.02, -0.005, -0.001, 0.001, 0.005, 0.02):
            th = fit.theta.copy()
            th[j] += step
            other = growth_curve_model(*seen["args"], theta=th, **kw)
            assert other.reml_criterion > fit.reml_criterion - 1e-6, (j, step, other.reml_criterion)


def test_basis_of_whole_days_equals_the_spline_itself():
    """Visit days are whole days: the fixed-day model looks each day's basis up; the same numbers."""
    from analysis.methods._fixed_day import _basis

    knots = [1.0, 9.0, 30.0, 61.5, 120.0]
    days = np.random.default_rng(2).integers(0, 400, 30_000).astype(float)
    np.testing.assert_array_equal(_basis(days, knots), natural_spline_basis(days, knots))
    halves = days + 0.5  # not whole days: computed directly
    np.testing.assert_allclose(_basis(halves, knots), natural_spline_basis(halves, knots), rtol=0, atol=0)


@pytest.fixture(scope="module")
def sample():
    rec = load_records("data/sample")
    return rec, derive_outcomes(rec)


@pytest.fixture(scope="module")
def fixed(sample):
    rec, out = sample
    return leg_pain_at_days(rec, out)


def test_fixed_day_uses_single_visit_episodes_and_its_rows(sample, fixed):
    rec, out = sample
    leg = rec.visits.dropna(subset=["leg_pain"])
    per_episode = leg.groupby("episode_id").size()
    assert fixed["single_visit"] == int((per_episode == 1).sum()) > 0
    assert fixed["episodes"] == len(per_episode) and fixed["visits"] == len(leg)
    assert fixed["days"] == [42, 84]
    mods = sorted(out["modality"].unique())
    assert len(fixed["means"]) == 2 * (len(mods) + 1)
    assert set(fixed["differences"]["modality"]) == set(mods) - {fixed["reference"]}
    assert fixed["differences"]["clusters"].notna().all()


def test_overall_mean_is_the_average_of_the_modalities_means(sample, fixed):
    """Means are averages of the model's predictions over each group's own episodes: the overall one is the
    episode-weighted average of the modalities' (the same linear model, so exactly)."""
    m = fixed["means"]
    row = m[(m["group"] == fixed["reference"]) & (m["day"] == 42)].iloc[0]
    assert row["ci_low"] < row["mean"] < row["ci_high"]
    over = m[(m["group"] == "Overall") & (m["day"] == 42)].iloc[0]
    mods = m[(m["group"] != "Overall") & (m["day"] == 42)]
    assert over["mean"] == pytest.approx(float((mods["mean"] * mods["n"]).sum() / mods["n"].sum()), rel=1e-9)


def test_a_day_the_data_do_not_reach_is_not_estimated(sample):
    rec, out = sample
    res = leg_pain_at_days(rec, out, settings=OutcomeSettings(fixed_days=(42, 600)))
    far = res["means"][res["means"]["day"] == 600]
    assert far["mean"].isna().all()
    assert set(far["reason"]) == {Reason.BEYOND_DATA.value}
    assert far["note"].str.contains(f"at least {MIN_REACH} needed").all()
    d600 = res["differences"][res["differences"]["day"] == 600]
    assert d600["difference"].isna().all() and d600["note"].str.contains("within 14 days of day 600").all()
    assert res["means"][res["means"]["day"] == 42]["mean"].notna().all()


def test_a_modality_given_by_one_therapist_is_not_estimable(sample):
    rec, out = sample
    ep = rec.episodes.copy()
    solo = ep["modality"] == "traction"
    ep.loc[solo, "therapist"] = "CEN-T1"
    rec2 = Records(ep, rec.visits, rec.modalities, rec.folder, rec.files)
    res = leg_pain_at_days(rec2, derive_outcomes(rec2))
    t = res["differences"][res["differences"]["modality"] == "traction"]
    assert t["difference"].isna().all() and set(t["reason"]) == {Reason.ONE_CLUSTER.value}


def test_longer_courses_do_not_bias_the_fixed_day_comparison():
    """Two modalities with the same pain curve, one with courses twice as long: the fixed-day difference is ~0
    while the last-value difference is over half a point (its last values are taken further down the curve)."""
    rng = np.random.default_rng(5)
    N = 1600
    mod = np.where(np.arange(N) % 2 == 0, "a", "b")
    ep = pd.DataFrame({"episode_id": [f"E{i:05d}" for i in range(N)], "modality": mod})
    rows = []
    u0 = rng.normal(0, 1.2, N)
    for i in range(N):
        length = rng.integers(30, 80) if mod[i] == "a" else rng.integers(90, 150)
        for day in np.r_[0, np.sort(rng.choice(np.arange(5, length), 5, replace=False))]:
            rows.append((ep["episode_id"][i], day, 7 + u0[i] - 5 * (1 - np.exp(-day / 40)) + rng.normal(0, 0.8)))
    vis = pd.DataFrame(rows, columns=["episode_id", "day", "leg_pain"])
    vis["visit_no"] = vis.groupby("episode_id").cumcount() + 1
    rec = Records(ep, vis, pd.DataFrame({"code": ["a", "b"], "label": ["a", "b"]}), Path("."), {})
    res = leg_pain_at_days(rec, ep[["modality"]], reference="a", covariates=(), cluster="none")
    diff = res["differences"].set_index("day")
    # day 42 is inside both modalities' courses: no bias; day 84 is at the end of the short courses, still
    # reached by enough of them to be estimated (studies/fixed_day_study.py measures bias and coverage)
    assert abs(diff.loc[42, "difference"]) < 0.1 and diff.loc[42, "ci_low"] < 0 < diff.loc[42, "ci_high"]
    assert np.isfinite(diff.loc[84, "difference"])
    # the last-value comparison (final on baseline and modality) on the same episodes is biased
    first = vis.groupby("episode_id")["leg_pain"].first().to_numpy()
    last = vis.groupby("episode_id")["leg_pain"].last().to_numpy()
    X = np.column_stack([np.ones(N), first, mod == "b"])
    beta = np.linalg.lstsq(X, last, rcond=None)[0]
    assert beta[2] < -0.6
    assert res["last_day"].set_index("modality").loc["b", "median"] > res["last_day"].set_index("modality").loc["a", "median"]


def test_disclosure_hides_small_groups_and_says_why(fixed):
    rule = disclosure_rule("internal")
    res = dict(fixed)
    res["means"] = fixed["means"].copy()
    res["means"].loc[res["means"]["group"] == "mckenzie", "reach"] = 5
    shown = apply_disclosure_to_fixed_day(res, rule=rule)
    mk = shown["means"][shown["means"]["group"] == "mckenzie"]
    assert mk["mean"].isna().all() and set(mk["status"]) == {"hidden"}
    dm = shown["differences"][shown["differences"]["modality"] == "mckenzie"]
    assert dm["difference"].isna().all() and dm["note"].str.contains("disclosure control").all()
    none = apply_disclosure_to_fixed_day(res, rule=disclosure_rule("none"))
    assert none["means"]["mean"].notna().all()


def test_summary_carries_the_fixed_day_keys(sample, fixed):
    from analysis.methods import summarise

    rec, out = sample
    doc = summarise(rec, outcomes=out)
    assert [r["day"] for r in doc["overall"]["leg_pain_at_day"]] == [42, 84]
    mine = fixed["means"].set_index(["group", "day"])
    # summarise runs its models with BLAS on one thread each: the variance search's optimum, and so the
    # means, agree with a fit beside BLAS's own threads to about the eighth digit (see test_refactor_unchanged)
    for m in doc["modalities"]:
        for r in m["leg_pain_at_day"]:
            assert r["mean"] == pytest.approx(mine.loc[(m["modality"], r["day"]), "mean"], rel=1e-6)
    rows = doc["adjusted"]["leg_pain_at_day"]
    assert len(rows) == len(fixed["differences"])
    assert {"modality", "day", "difference", "ci_low", "ci_high", "p", "p_holm", "e_value", "e_value_ci", "note",
            "clusters"} <= set(rows[0])
    assert "growth-curve" in doc["adjusted"]["method"]["leg_pain_at_day"]


def test_reach_and_last_value_day_equal_a_direct_count(sample, fixed):
    """The report prints each modality's episodes with a visit near the day and the median day of the last
    value: both equal a plain pandas count from the visits."""
    rec, out = sample
    leg = rec.visits.dropna(subset=["leg_pain"]).merge(rec.episodes[["episode_id", "modality"]], on="episode_id")
    for day in (42, 84):
        near = leg[(leg["day"] - day).abs() <= 14].groupby("modality")["episode_id"].nunique()
        got = fixed["means"][(fixed["means"]["day"] == day) & (fixed["means"]["group"] != "Overall")]
        assert got.set_index("group")["reach"].to_dict() == near.to_dict()
    per = leg.groupby("episode_id").agg(modality=("modality", "first"), n=("day", "size"), last=("day", "max"))
    medians = per[per["n"] >= 2].groupby("modality")["last"].median()
    np.testing.assert_allclose(fixed["last_day"].set_index("modality")["median"].reindex(medians.index), medians)


def test_an_interval_end_rounding_to_zero_is_printed_without_a_minus(fixed):
    """"-0.62 (-1.24 to -0.00)" read as an interval below zero; an end that rounds to zero is printed 0.00."""
    from analysis.present import format_fixed_day_table

    res = dict(fixed)
    res["differences"] = fixed["differences"].copy()
    first = res["differences"].index[res["differences"]["difference"].notna()][0]
    res["differences"].loc[first, ["difference", "ci_low", "ci_high"]] = [-0.62, -1.24, -0.003]
    table = format_fixed_day_table(apply_disclosure_to_fixed_day(res, rule=disclosure_rule("none")))
    cells = table.astype(str).to_numpy().ravel().tolist()
    assert "-0.62 (-1.24 to 0.00)" in cells
    assert not any("-0.00" in c for c in cells)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_knot_quantiles_from_day_counts_equal_numpy_to_the_last_bit(seed):
    """The spline's knots come from the visit days' counts per day (no sort of millions of days): they must be
    numpy's quantiles exactly, or the fitted model would move."""
    from analysis.methods._fixed_day import SPLINE_QUANTILES, _quantiles

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    whole = rng.geometric(0.02, n).astype("int64") - 1 + int(rng.integers(0, 3))
    got = _quantiles(whole.astype("float64"), SPLINE_QUANTILES, whole=whole)
    expected = np.quantile(whole.astype("float64"), SPLINE_QUANTILES)
    assert got.tolist() == expected.tolist()
    assert _quantiles(np.array([5.0]), (0.05, 0.95), whole=np.array([5])).tolist() == [5.0, 5.0]
