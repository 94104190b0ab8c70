"""Statistics against published values; each test names its source.

Reference values: ../shared/reference/statistics-reference-values.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TEST_DATA

from analysis.stats import (
    at_risk_table,
    cox_model,
    holm,
    kaplan_meier,
    logistic_model,
    logrank_test,
    mean_ci,
    newcombe_difference,
    survival_at,
    wilson_interval,
    z_value,
)


@pytest.fixture(scope="module")
def aml():
    return pd.read_csv(TEST_DATA / "aml.csv")


def test_z_value():
    assert z_value(0.95) == pytest.approx(1.959963984540054, abs=1e-12)


# Newcombe RG (1998a) Statistics in Medicine 17:857-872, method 3 (Wilson score), 95 %.
@pytest.mark.parametrize("r,n,low,high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_newcombe_1998a(r, n, low, high):
    res = wilson_interval(r, n).iloc[0]
    assert res["ci_low"] == pytest.approx(low, abs=5e-5)
    assert res["ci_high"] == pytest.approx(high, abs=5e-5)
    assert res["rate"] == pytest.approx(r / n)


def test_wilson_vectorised_and_empty():
    res = wilson_interval([0, 5, 0], [10, 5, 0])
    assert res["ci_low"].iloc[0] == 0 and res["ci_high"].iloc[1] == 1
    assert np.isnan(res["rate"].iloc[2])


# Newcombe RG (1998b) Statistics in Medicine 17:873-890, method 10 (hybrid score), 95 %.
@pytest.mark.parametrize("e1,n1,e2,n2,d,low,high", [
    (56, 70, 48, 80, 0.2000, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.6000, 0.1705, 0.8090),
])
def test_newcombe_method10_1998b(e1, n1, e2, n2, d, low, high):
    res = newcombe_difference(e1, n1, e2, n2).iloc[0]
    assert res["difference"] == pytest.approx(d, abs=1e-12)
    assert res["ci_low"] == pytest.approx(low, abs=5e-5)
    assert res["ci_high"] == pytest.approx(high, abs=5e-5)


def test_mean_ci_t_interval():
    # t interval by hand: mean 2.5, sd 1.2910, t(0.975, 3) = 3.182446
    res = mean_ci([1, 2, 3, 4, np.nan])
    assert res["n"] == 4
    assert res["ci_low"] == pytest.approx(2.5 - 3.182446305 * 1.290994449 / 2, abs=1e-8)
    assert np.isnan(mean_ci([3.0])["ci_low"]) and mean_ci([])["n"] == 0


# R survival `aml`: summary(survfit(Surv(time, status) ~ x)), tests/doaml.Rout.save (therneau/survival, aeb13fc).
AML_R = {
    "Maintained": [  # time, n.risk, n.event, survival, std.err, lower (log), upper (log)
        (9, 11, 1, 0.909, 0.0867, 0.7541, 1.000),
        (13, 10, 1, 0.818, 0.1163, 0.6192, 1.000),
        (18, 8, 1, 0.716, 0.1397, 0.4884, 1.000),
        (23, 7, 1, 0.614, 0.1526, 0.3769, 0.999),
        (31, 5, 1, 0.491, 0.1642, 0.2549, 0.946),
        (34, 4, 1, 0.368, 0.1627, 0.1549, 0.875),
        (48, 2, 1, 0.184, 0.1535, 0.0359, 0.944),
    ],
    "Nonmaintained": [
        (5, 12, 2, 0.8333, 0.1076, 0.6470, 1.000),
        (8, 10, 2, 0.6667, 0.1361, 0.4468, 0.995),
        (12, 8, 1, 0.5833, 0.1423, 0.3616, 0.941),
        (23, 6, 1, 0.4861, 0.1481, 0.2675, 0.883),
        (27, 5, 1, 0.3889, 0.1470, 0.1854, 0.816),
        (30, 4, 1, 0.2917, 0.1387, 0.1148, 0.741),
        (33, 3, 1, 0.1944, 0.1219, 0.0569, 0.664),
        (43, 2, 1, 0.0972, 0.0919, 0.0153, 0.620),
    ],
}


@pytest.mark.parametrize("group", ["Maintained", "Nonmaintained"])
def test_kaplan_meier_matches_r_aml(aml, group):
    d = aml[aml["x"] == group]
    km = kaplan_meier(d["time"], d["status"] == 1, conf_type="log")
    ref = pd.DataFrame(AML_R[group], columns=["time", "n_risk", "n_event", "surv", "se", "low", "high"])
    km = km[km["survival"] > 0].reset_index(drop=True)
    assert km["time"].tolist() == ref["time"].tolist()
    assert km["n_risk"].tolist() == ref["n_risk"].tolist()
    assert km["n_event"].tolist() == ref["n_event"].tolist()
    dec = 3 if group == "Maintained" else 4  # R printed 3 and 4 decimals
    np.testing.assert_allclose(km["survival"], ref["surv"], atol=0.5 * 10**-dec)
    np.testing.assert_allclose(km["std_err"], ref["se"], atol=5e-5)
    np.testing.assert_allclose(km["ci_low"], ref["low"], atol=5e-5)
    np.testing.assert_allclose(km["ci_high"], ref["high"], atol=5e-4)


def test_kaplan_meier_last_row_zero_survival(aml):
    d = aml[aml["x"] == "Nonmaintained"]
    last = kaplan_meier(d["time"], d["status"] == 1).iloc[-1]
    assert last["time"] == 45 and last["survival"] == 0 and np.isnan(last["ci_low"]) and np.isnan(last["std_err"])


def test_kaplan_meier_log_log_interval(aml):
    """The product's log(-log) interval: statistics-reference-values.md section 3 'CI-transform trap'
    (lifelines KaplanMeierFitter / R conf.type = "log-log"): Maintained t = 9: 0.5081-0.9867; t = 48: 0.0117-0.5250."""
    d = aml[aml["x"] == "Maintained"]
    km = kaplan_meier(d["time"], d["status"] == 1).set_index("time")
    assert km.loc[9, "ci_low"] == pytest.approx(0.5081, abs=5e-5)
    assert km.loc[9, "ci_high"] == pytest.approx(0.9867, abs=5e-5)
    assert km.loc[48, "ci_low"] == pytest.approx(0.0117, abs=5e-5)
    assert km.loc[48, "ci_high"] == pytest.approx(0.5250, abs=5e-5)


def test_censored_counts_between_event_times(aml):
    d = aml[aml["x"] == "Maintained"]
    km = kaplan_meier(d["time"], d["status"] == 1)
    # censored at 13 (same time as an event), 28, 45; 161 is after the last event
    assert km.set_index("time")["n_censored"].to_dict() == {9: 0, 13: 1, 18: 0, 23: 0, 31: 1, 34: 0, 48: 1}


def test_logrank_matches_r_aml(aml):
    """R survdiff(Surv(time, status) ~ x, aml): Chisq = 3.4 on 1 df, p = 0.07; full precision 3.3964, p 0.06534."""
    res = logrank_test(aml["time"], aml["status"], aml["x"])
    assert res["df"] == 1
    assert res["chi2"] == pytest.approx(3.3964, abs=5e-5)
    assert res["p"] == pytest.approx(0.06534, abs=5e-6)


def test_survival_at_horizon_and_at_risk_table(aml):
    d = aml[aml["x"] == "Maintained"]
    res = survival_at(d["time"], d["status"] == 1, 30)
    assert res["rate"] == pytest.approx(0.614, abs=5e-4)  # S(23) holds until 31
    assert res["events"] == 4 and res["n"] == 11
    tab = at_risk_table(d["time"], d["status"] == 1, times=[0, 13, 30, 200])
    assert tab["at_risk"].tolist() == [11, 10, 5, 0]
    assert tab["events"].tolist() == [0, 2, 4, 7]
    assert tab["censored"].tolist() == [0, 1, 2, 4]


def test_at_risk_table_agrees_with_km_table(aml):
    km = kaplan_meier(aml["time"], aml["status"] == 1)
    tab = at_risk_table(aml["time"], aml["status"] == 1, times=km["time"])
    assert tab["at_risk"].tolist() == km["n_risk"].tolist()
    assert tab["events"].tolist() == km["n_event"].cumsum().tolist()


def test_survival_at_no_events_and_short_follow_up():
    res = survival_at([100, 400, 500], [False, False, False], 365)
    assert res["rate"] == 1.0 and 0 < res["ci_low"] < 1 and res["ci_high"] == 1.0
    short = survival_at([10, 20], [True, False], 365)
    assert np.isnan(short["rate"]) and "no one followed" in short["note"]


# Cox on aml, one covariate: tests/doaml.Rout.save (Breslow 0.9042 se 0.5122; Efron 0.9155 se 0.5119).
@pytest.mark.parametrize("ties,coef,se,p", [("breslow", 0.9042, 0.5122, 0.0775), ("efron", 0.9155, 0.5119, 0.0737)])
def test_cox_aml(aml, ties, coef, se, p):
    x = (aml["x"] == "Nonmaintained").to_numpy(dtype=float)[:, None]
    res = cox_model(aml["time"], aml["status"], x, names=["Nonmaintained"], ties=ties).table.iloc[0]
    assert res["coef"] == pytest.approx(coef, abs=5e-5)
    assert res["se"] == pytest.approx(se, abs=5e-5)
    assert res["p"] == pytest.approx(p, abs=5e-5)


def test_cox_rossi_efron_seven_decimals():
    """R coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio, Rossi), Efron ties,
    coefficients to 7 d.p. (lifelines test_coef_output_against_R_super_accurate, commit ad023a0);
    partial log-likelihood -658.7477."""
    rossi = pd.read_csv(TEST_DATA / "rossi.csv")
    names = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    res = cox_model(rossi["week"], rossi["arrest"], rossi[names].to_numpy(float), names=names)
    r_coef = [-0.3794222, -0.0574377, 0.3138998, -0.1497957, -0.4337039, -0.0848711, 0.0914971]
    np.testing.assert_allclose(res.table["coef"], r_coef, atol=5e-8)
    np.testing.assert_allclose(res.table["se"], [0.1914, 0.0220, 0.3080, 0.2122, 0.3819, 0.1958, 0.0286], atol=5e-5)
    assert res.loglike == pytest.approx(-658.7477, abs=5e-5)


def test_logit_spector_stata():
    """Stata 11 logit GRADE ~ GPA + TUCE + PSI (statsmodels results_discrete.py, Spector.logit, commit 82c59e3)."""
    d = pd.read_csv(TEST_DATA / "spector.csv")
    X = np.column_stack([d[["GPA", "TUCE", "PSI"]].to_numpy(float), np.ones(len(d))])
    res = logistic_model(d["GRADE"], X, names=["GPA", "TUCE", "PSI", "const"])
    np.testing.assert_allclose(res.table["coef"], [2.82611297201, 0.0951576702557, 2.37868772835, -13.0213483201], rtol=1e-6)
    np.testing.assert_allclose(res.table["se"], [1.26294114526, 0.141554207662, 1.06456430165, 4.93132462871], rtol=1e-6)
    assert res.loglike == pytest.approx(-12.8896334653335, rel=1e-6)  # Stata convergence tolerance
    assert res.converged


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(7)
    for m in (1, 2, 5, 9, 40):
        p = rng.uniform(0, 0.2, m) ** 2
        p[rng.integers(0, m)] = p[0]  # ties
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)


def test_holm():
    # Holm by hand: sorted 0.01, 0.03, 0.04 -> 0.03, 0.06, max(0.06, 0.04) = 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def _tied_data(seed, n=400, k=3):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), rng.normal(size=n)])[:, :k]
    t = np.ceil(rng.exponential(20 * np.exp(-0.4 * X[:, 0]), n))  # whole days: many ties
    e = rng.random(n) < 0.7
    return t, e, X


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cox_agrees_with_statsmodels_phreg(ties, seed):
    """Our vectorised Newton-Raphson against statsmodels PHReg on heavily tied data."""
    from statsmodels.duration.hazard_regression import PHReg
    t, e, X = _tied_data(seed)
    ours = cox_model(t, e, X, names=["a", "b", "c"], ties=ties)
    ref = PHReg(t, X, status=e.astype(float), ties=ties).fit()
    np.testing.assert_allclose(ours.table["coef"], ref.params, atol=1e-7)
    np.testing.assert_allclose(ours.table["se"], ref.bse, rtol=1e-6)
    assert ours.loglike == pytest.approx(ref.llf, rel=1e-9)


def test_linear_model_agrees_with_statsmodels_ols(rng):
    import statsmodels.api as sm

    from analysis.stats import linear_model
    X = np.column_stack([np.ones(300), rng.normal(size=(300, 3))])
    y = X @ [1.0, 0.5, -0.2, 0.0] + rng.normal(size=300)
    ours = linear_model(y, X, names=list("abcd"))
    ref = sm.OLS(y, X).fit()
    np.testing.assert_allclose(ours.table["coef"], ref.params, rtol=1e-10)
    np.testing.assert_allclose(ours.table["se"], ref.bse, rtol=1e-10)
    np.testing.assert_allclose(ours.table[["ci_low", "ci_high"]], ref.conf_int(), rtol=1e-10)
    np.testing.assert_allclose(ours.table["p"], ref.pvalues, rtol=1e-8)
    assert ours.loglike == pytest.approx(ref.llf)


def test_cox_newton_does_not_halve_steps_on_rounding_noise():
    """On a million episodes the log partial likelihood is of order 1e5-1e6, and its last digits
    are rounding noise (a sum over hundreds of thousands of terms). Near the optimum the noise can
    make a step look like a decrease; halving the step for that cost ten extra passes over the
    data on the 1M benchmark (300,000 generated episodes show it too). Here every evaluation
    comes out a rounding-size 2e-6 lower than the last: the fit must still stop at once."""

    class Noisy:
        t, e, X = np.zeros(10), np.ones(10), np.zeros((10, 1))
        calls = 0

        def evaluate(self, beta):
            self.calls += 1
            b = float(beta[0])
            ll = -7e5 - 0.5e4 * (b - 1) ** 2 - 2e-6 * self.calls  # 2e-6 << 1e-10 * |ll| = 7e-5
            return ll, np.array([-1e4 * (b - 1)]), np.array([[-1e4]])

    data = Noisy()
    from analysis.stats._cox import _cox_newton

    res, _ = _cox_newton(data, np.zeros(1), ["b"], 0.95, 50, 1e-10)
    assert res.converged
    assert data.calls <= 4, f"{data.calls} likelihood evaluations"
    assert float(res.table["coef"].iloc[0]) == pytest.approx(1, abs=1e-9)


def test_stratified_logrank_matches_r_survdiff():
    """Rossi recidivism data, prior convictions grouped 0/1/2/3+ and stratified by work experience.

    R 4.2 (Debian r-base-core, r-cran-survival)::

        library(survival); d <- read.csv("tests/data/rossi.csv")
        d$prio_g <- pmin(d$prio, 3)
        survdiff(Surv(week, arrest) ~ prio_g + strata(wexp), data = d)$chisq   # 9.79572420459
        survdiff(Surv(week, arrest) ~ prio_g, data = d)$chisq                  # 13.5838709205
        survdiff(Surv(week, arrest) ~ fin + strata(wexp), data = d)$chisq      # 4.03310682025
    """
    from pathlib import Path

    from analysis.stats import logrank_test

    d = pd.read_csv(Path(__file__).parent / "data" / "rossi.csv")
    g = np.minimum(d["prio"], 3)
    strat = logrank_test(d["week"], d["arrest"], g, strata=d["wexp"])
    plain = logrank_test(d["week"], d["arrest"], g)
    assert strat["chi2"] == pytest.approx(9.79572420459, rel=1e-9) and strat["df"] == 3
    assert plain["chi2"] == pytest.approx(13.5838709205, rel=1e-9)
    assert logrank_test(d["week"], d["arrest"], d["fin"], strata=d["wexp"])["chi2"] == pytest.approx(4.03310682025, rel=1e-9)


def test_fit_warnings_are_silenced_safely_from_two_threads():
    """Two fits at once (the summary runs its models two at a time): the first to leave must not undo the
    other's silencing (warnings.catch_warnings did, so a fit warned or, where warnings are errors, failed),
    and after both the caller's filters are exactly as before, an identical filter of its own included."""
    import threading
    import warnings

    from analysis.stats._regression import _quiet_fit

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with _quiet_fit():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def second():
        a_in.wait(5)
        with _quiet_fit():
            b_in.set()
            a_out.wait(5)  # the first fit has left
            try:
                warnings.warn("numbers overflowed", RuntimeWarning)
                seen["ok"] = True
            except RuntimeWarning:
                seen["ok"] = False

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        before = list(warnings.filters)
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert seen == {"ok": True}
        assert warnings.filters == before
        with pytest.raises(RuntimeWarning, match="after both"):
            warnings.warn("after both", RuntimeWarning)


# ----------------------------------------------------------------- distinct keys by hashing


@pytest.mark.parametrize("kind", ["few ints", "many ints", "negative ints", "floats", "floats with nan and -0"])
def test_unique_keys_gives_what_np_unique_gives(kind):
    """The hashed distinct values must be exactly numpy's (sorted values, first rows, inverse), whatever the keys."""
    from analysis.stats import unique_keys

    rng = np.random.default_rng(5)
    keys = {
        "few ints": rng.integers(0, 7, 5000) * 11,
        "many ints": rng.integers(0, 4000, 5000),
        "negative ints": rng.integers(-50, 50, 5000),
        "floats": rng.normal(size=5000).round(2),
        "floats with nan and -0": rng.choice(np.array([np.nan, 0.0, -0.0, 1.5, -2.25]), 5000),
    }[kind]
    expected = np.unique(keys, return_index=True, return_inverse=True)
    got = unique_keys(keys)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e.reshape(-1))
    assert got[1].dtype == np.int64 and got[2].dtype == np.int64


def test_unique_keys_empty_and_refused():
    from analysis.stats import first_rows, unique_keys

    values, first, inverse = unique_keys(np.zeros(0, dtype="int64"))
    assert len(values) == len(first) == len(inverse) == 0
    with pytest.raises(ValueError, match="keys must be one-dimensional"):
        unique_keys(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="numbered 0, 1, 2, ... in order of first appearance"):
        first_rows(np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="numbered 0, 1, 2, ... in order of first appearance"):
        first_rows(np.array([0, 2, 1]))


def test_first_rows_of_factorized_codes():
    from analysis.stats import first_rows

    rng = np.random.default_rng(6)
    codes = pd.factorize(rng.integers(0, 300, 4000))[0]
    np.testing.assert_array_equal(first_rows(codes), np.unique(codes, return_index=True)[1])


def test_logrank_with_categorical_groups_equals_text_groups():
    """Categories are compared by their codes: the test must be that of the same groups as text."""
    from analysis.stats import logrank_test

    rng = np.random.default_rng(8)
    n = 600
    groups = rng.choice(np.array(["b", "a", "c"], dtype=object), n)
    t = rng.exponential(10, n).round(1)
    e = rng.random(n) < 0.6
    strata = rng.random(n) < 0.4
    as_text = logrank_test(t, e, pd.Series(groups, dtype="str"), strata=strata)
    as_cat = logrank_test(t, e, pd.Series(groups, index=np.arange(n) + 1000, dtype="category"), strata=strata)
    assert as_cat == as_text and np.isfinite(as_text["chi2"])
