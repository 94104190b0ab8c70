"""Statistics returning tidy DataFrames: estimate, confidence interval and n.

Methods (spec section 4), each checked in ``tests/test_stats.py`` against a
published value named in the test:

- proportions: Wilson score interval (Newcombe 1998a, method 3);
- differences of proportions: Newcombe's hybrid score interval (1998b, method 10);
- means: t interval;
- Kaplan-Meier (statsmodels ``SurvfuncRight``) with Greenwood variance and a
  pointwise interval on the log(-log) scale (``conf_type="log"`` gives R's
  default, used only to compare with R's printed output); at-risk, event and
  censored counts as a table;
- log-rank test across groups (statsmodels ``survdiff``);
- Cox proportional hazards with Efron ties (our vectorised Newton-Raphson,
  checked against statsmodels ``PHReg`` and R ``coxph``), logistic (statsmodels
  ``Logit``) and linear (normal equations, t-based intervals, checked against
  statsmodels ``OLS``) models on numpy design matrices (the formula interface
  is far too slow at a million rows);
- Holm adjustment of p-values across modalities.

Comparisons that cannot be estimated (no events, every episode an event,
too few episodes, a model that does not converge) return ``NaN`` estimates
with a plain-language ``note``; they never raise and never print a nonsense
ratio.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.discrete.discrete_model import Logit
from statsmodels.duration.survfunc import SurvfuncRight, survdiff
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

__all__ = [
    "ModelResult",
    "at_risk_table",
    "cox_model",
    "holm",
    "kaplan_meier",
    "linear_model",
    "logistic_model",
    "logrank_test",
    "mean_ci",
    "newcombe_difference",
    "survival_at",
    "wilson_interval",
    "z_value",
]


def z_value(confidence: float = 0.95) -> float:
    """Two-sided standard normal quantile; 1.959963984540054 for 95 %.

    Examples
    --------
    >>> from analysis.stats import z_value
    >>> round(z_value(0.95), 9)
    1.959963985
    """
    return float(sps.norm.ppf(1 - (1 - confidence) / 2))


# ----------------------------------------------------------------- proportions and means


def wilson_interval(events, n, *, confidence: float = 0.95) -> pd.DataFrame:
    """Wilson score interval for proportions (Newcombe 1998a, method 3).

    Parameters
    ----------
    events, n : int or array-like
        Numbers of events and of trials.
    confidence : float, keyword-only

    Returns
    -------
    pandas.DataFrame
        Columns ``n``, ``events``, ``rate``, ``ci_low``, ``ci_high``; NaN where n = 0.

    Examples
    --------
    >>> from analysis.stats import wilson_interval
    >>> wilson_interval(81, 263).round(4).to_dict("records")
    [{'n': 263, 'events': 81, 'rate': 0.308, 'ci_low': 0.2553, 'ci_high': 0.3662}]
    """
    r = np.atleast_1d(np.asarray(events, dtype="float64"))
    m = np.atleast_1d(np.asarray(n, dtype="float64"))
    z = z_value(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = r / m
        denom = 2 * (m + z**2)
        root = z * np.sqrt(z**2 + 4 * m * p * (1 - p))
        low = (2 * m * p + z**2 - root) / denom
        high = (2 * m * p + z**2 + root) / denom
    low = np.where(r == 0, 0.0, np.clip(low, 0, 1))
    high = np.where(r == m, 1.0, np.clip(high, 0, 1))
    bad = m <= 0
    return pd.DataFrame({
        "n": m.astype("int64"),
        "events": r.astype("int64"),
        "rate": np.where(bad, np.nan, p),
        "ci_low": np.where(bad, np.nan, low),
        "ci_high": np.where(bad, np.nan, high),
    })


def newcombe_difference(events1, n1, events2, n2, *, confidence: float = 0.95) -> pd.DataFrame:
    """Difference of two independent proportions, p1 - p2, with Newcombe's
    hybrid score interval (Newcombe 1998b, method 10).

    Returns
    -------
    pandas.DataFrame
        Columns ``difference``, ``ci_low``, ``ci_high`` (clamped to [-1, 1]).

    Examples
    --------
    >>> from analysis.stats import newcombe_difference
    >>> newcombe_difference(56, 70, 48, 80).round(4).to_dict("records")
    [{'difference': 0.2, 'ci_low': 0.0524, 'ci_high': 0.3339}]
    """
    a = wilson_interval(events1, n1, confidence=confidence)
    b = wilson_interval(events2, n2, confidence=confidence)
    d = a["rate"] - b["rate"]
    low = d - np.sqrt((a["rate"] - a["ci_low"]) ** 2 + (b["ci_high"] - b["rate"]) ** 2)
    high = d + np.sqrt((a["ci_high"] - a["rate"]) ** 2 + (b["rate"] - b["ci_low"]) ** 2)
    return pd.DataFrame({"difference": d, "ci_low": low.clip(-1, 1), "ci_high": high.clip(-1, 1)})


def mean_ci(values, *, confidence: float = 0.95) -> dict:
    """Mean with a t interval; missing values are left out.

    Returns
    -------
    dict
        ``n``, ``mean``, ``sd``, ``ci_low``, ``ci_high`` (NaN where undefined).

    Examples
    --------
    >>> from analysis.stats import mean_ci
    >>> {k: round(v, 3) for k, v in mean_ci([1, 2, 3, 4]).items()}
    {'n': 4, 'mean': 2.5, 'sd': 1.291, 'ci_low': 0.446, 'ci_high': 4.554}
    """
    x = np.asarray(values, dtype="float64")
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return {"n": 0, "mean": np.nan, "sd": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    mean = float(x.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "sd": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    sd = float(x.std(ddof=1))
    half = float(sps.t.ppf(1 - (1 - confidence) / 2, n - 1)) * sd / np.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "ci_low": float(mean - half), "ci_high": float(mean + half)}


# ----------------------------------------------------------------- survival


def kaplan_meier(time, event, *, confidence: float = 0.95, conf_type: str = "log-log") -> pd.DataFrame:
    """Kaplan-Meier estimate with Greenwood standard errors.

    Parameters
    ----------
    time : array-like
        Follow-up times (days).
    event : array-like of bool
        True where the event (surgery) was observed at ``time``; False = censored.
    confidence : float, keyword-only
    conf_type : {"log-log", "log"}, keyword-only
        Pointwise interval scale. The product uses log(-log) (it stays within
        [0, 1]); ``"log"`` reproduces R ``survfit``'s default.

    Returns
    -------
    pandas.DataFrame
        One row per distinct event time: ``time``, ``n_risk``, ``n_event``,
        ``n_censored`` (censored since the previous row, up to and including
        this time), ``survival``, ``std_err`` (Greenwood SE of S(t)),
        ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> from analysis.stats import kaplan_meier
    >>> kaplan_meier([1, 2, 2, 3], [True, True, False, False])[["time", "n_risk", "survival"]].round(4).to_dict("list")
    {'time': [1.0, 2.0], 'n_risk': [4, 3], 'survival': [0.75, 0.5]}
    """
    t = np.asarray(time, dtype="float64")
    e = np.asarray(event, dtype=bool)
    cols = ["time", "n_risk", "n_event", "n_censored", "survival", "std_err", "ci_low", "ci_high"]
    if len(t) == 0 or not e.any():
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
    sf = SurvfuncRight(t, e.astype("float64"))
    times = np.asarray(sf.surv_times, dtype="float64")
    surv = np.asarray(sf.surv_prob, dtype="float64")
    se = np.asarray(sf.surv_prob_se, dtype="float64")
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log-log":
            theta = se / (surv * np.abs(np.log(surv)))
            low = surv ** np.exp(z * theta)
            high = surv ** np.exp(-z * theta)
            undefined = (surv <= 0) | (surv >= 1)
        elif conf_type == "log":
            theta = se / surv
            low = surv * np.exp(-z * theta)
            high = np.minimum(surv * np.exp(z * theta), 1.0)
            undefined = surv <= 0
        else:
            raise ValueError("conf_type must be 'log-log' or 'log'")
    low = np.where(undefined, np.nan, low)
    high = np.where(undefined, np.nan, high)
    se = np.where(surv <= 0, np.nan, se)
    # censored counts between event times
    cens_t = np.sort(t[~e])
    upto = np.searchsorted(cens_t, times, side="right")
    n_cens = np.diff(np.r_[0, upto])
    return pd.DataFrame({
        "time": times,
        "n_risk": np.asarray(sf.n_risk, dtype="int64"),
        "n_event": np.asarray(sf.n_events, dtype="int64"),
        "n_censored": n_cens.astype("int64"),
        "survival": surv,
        "std_err": se,
        "ci_low": low,
        "ci_high": high,
    })


def survival_at(time, event, horizon: float, *, confidence: float = 0.95) -> dict:
    """Kaplan-Meier survival at a horizon with its log(-log) interval.

    Returns
    -------
    dict
        ``n`` (number followed), ``events`` (events up to the horizon),
        ``rate`` (S(horizon)), ``ci_low``, ``ci_high``, ``note``. ``rate`` is NaN
        when nobody is still followed at the horizon. With no event by the
        horizon, S = 1 and the interval is one-sided: the lower limit comes from
        the Wilson bound for zero events among those at risk.

    Examples
    --------
    >>> from analysis.stats import survival_at
    >>> survival_at([5, 10, 400, 400], [True, False, False, False], 365)["rate"]
    0.75
    """
    t = np.asarray(time, dtype="float64")
    e = np.asarray(event, dtype=bool)
    n = int(len(t))
    events = int((e & (t <= horizon)).sum())
    res = {"n": n, "events": events, "rate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "note": None}
    if n == 0:
        res["note"] = "no episodes in the population"
        return res
    if t.max() < horizon:
        res["note"] = f"no one followed for {horizon:g} days"
        return res
    if events == 0:
        at_risk = int((t >= horizon).sum())
        w = wilson_interval(0, at_risk, confidence=confidence)
        res.update(rate=1.0, ci_low=float(1 - w["ci_high"].iloc[0]), ci_high=1.0)
        return res
    km = kaplan_meier(t, e, confidence=confidence)
    row = km[km["time"] <= horizon].iloc[-1]
    res.update(rate=float(row["survival"]), ci_low=float(row["ci_low"]), ci_high=float(row["ci_high"]))
    return res


def at_risk_table(time, event, *, groups=None, times) -> pd.DataFrame:
    """Numbers at risk, and cumulative events and censorings, at chosen times.

    Parameters
    ----------
    time, event : array-like
    groups : array-like, optional, keyword-only
        Group of each episode (e.g. modality); one table per group, stacked.
    times : sequence of float, keyword-only
        Time points (days), e.g. ``[0, 90, 180, 270, 365]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``time``, ``at_risk`` (followed at least to that
        time: ``time >= t``), ``events`` and ``censored`` (cumulative, up to and
        including ``t``).

    Examples
    --------
    >>> from analysis.stats import at_risk_table
    >>> at_risk_table([5, 10, 400], [True, False, False], times=[0, 100])["at_risk"].tolist()
    [3, 1]
    """
    t = np.asarray(time, dtype="float64")
    e = np.asarray(event, dtype=bool)
    g = np.asarray(groups, dtype=object) if groups is not None else np.full(len(t), "all", dtype=object)
    pts = np.asarray(list(times), dtype="float64")
    rows = []
    for name in pd.unique(g):
        m = g == name
        tt, ee = np.sort(t[m]), e[m]
        ev_t = np.sort(t[m][ee])
        ce_t = np.sort(t[m][~ee])
        at_risk = len(tt) - np.searchsorted(tt, pts, side="left")
        rows.append(pd.DataFrame({
            "group": name,
            "time": pts,
            "at_risk": at_risk.astype("int64"),
            "events": np.searchsorted(ev_t, pts, side="right").astype("int64"),
            "censored": np.searchsorted(ce_t, pts, side="right").astype("int64"),
        }))
    if not rows:
        return pd.DataFrame(columns=["group", "time", "at_risk", "events", "censored"])
    return pd.concat(rows, ignore_index=True)


def logrank_test(time, event, groups) -> dict:
    """Log-rank test of equal survival across groups (statsmodels ``survdiff``).

    Returns
    -------
    dict
        ``chi2``, ``df`` (groups - 1), ``p``; NaN values with a ``note`` when
        fewer than two groups or no events.

    Examples
    --------
    >>> from analysis.stats import logrank_test
    >>> sorted(logrank_test([1, 2, 3, 4], [1, 1, 1, 1], ["a", "a", "b", "b"]))
    ['chi2', 'df', 'note', 'p']
    """
    t = np.asarray(time, dtype="float64")
    e = np.asarray(event, dtype="float64")
    g = np.asarray(groups, dtype=object)
    k = len(pd.unique(g))
    if k < 2 or e.sum() == 0:
        return {"chi2": np.nan, "df": max(k - 1, 0), "p": np.nan,
                "note": "needs at least two groups and one event"}
    codes, _ = pd.factorize(g)
    chi2, p = survdiff(t, e, codes)
    return {"chi2": float(chi2), "df": k - 1, "p": float(p), "note": None}


# ----------------------------------------------------------------- design matrices (shared by the models' callers)


def _one_hot(codes: np.ndarray, levels, *, drop: set) -> tuple[np.ndarray, list[str]]:
    """Dummy columns for factorised categories; the most frequent level and *drop* are omitted."""
    counts = np.bincount(codes[codes >= 0], minlength=len(levels))
    ref = int(np.argmax(counts))
    keep = np.asarray([i for i in range(len(levels)) if i != ref and levels[i] not in drop], dtype=int)
    X = (codes[:, None] == keep[None, :]).astype("float64")
    return X, [str(levels[i]) for i in keep]


def _independent_columns(X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Indexes of columns kept, in order, dropping any that is a linear combination of earlier ones."""
    xtx = X.T @ X
    keep: list[int] = []
    for j in range(X.shape[1]):
        d = xtx[j, j]
        if d <= 0:
            continue
        if keep:
            k = np.asarray(keep)
            sub = xtx[np.ix_(k, k)]
            v = xtx[k, j]
            try:
                resid = d - v @ np.linalg.solve(sub, v)
            except np.linalg.LinAlgError:
                continue
        else:
            resid = d
        if resid > tol * d:
            keep.append(j)
    return np.asarray(keep, dtype=int)


# ----------------------------------------------------------------- models


@dataclass
class ModelResult:
    """A fitted regression model as a tidy table.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per term: ``term``, ``coef``, ``se``, ``stat``, ``p``,
        ``ci_low``, ``ci_high`` (on the coefficient scale).
    loglike : float
    converged : bool
    n : int
    events : int or None
    extra : dict
        Method-specific details (e.g. variance components, number of clusters).
    """

    table: pd.DataFrame
    loglike: float
    converged: bool
    n: int
    events: int | None = None
    extra: dict = field(default_factory=dict)


def _tidy(names, params, bse, stat, p, ci) -> pd.DataFrame:
    return pd.DataFrame({
        "term": list(names),
        "coef": np.asarray(params, dtype="float64"),
        "se": np.asarray(bse, dtype="float64"),
        "stat": np.asarray(stat, dtype="float64"),
        "p": np.asarray(p, dtype="float64"),
        "ci_low": np.asarray(ci)[:, 0].astype("float64"),
        "ci_high": np.asarray(ci)[:, 1].astype("float64"),
    })


def linear_model(y, X, *, names, confidence: float = 0.95) -> ModelResult:
    """Ordinary least squares with t-based intervals.

    Solved from the normal equations (Cholesky of X'X), which is exact for the
    full-rank designs built by :mod:`analysis.compare` and about ten times
    faster than statsmodels' pseudo-inverse at a million rows; a test checks it
    against statsmodels ``OLS``. ``X`` must include the constant column if one
    is wanted.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import linear_model
    >>> X = np.column_stack([np.ones(4), [0.0, 1, 2, 3]])
    >>> linear_model([1.0, 3, 5, 7.5], X, names=["const", "x"]).table["coef"].round(2).tolist()
    [0.9, 2.15]
    """
    yv = np.asarray(y, dtype="float64")
    Xv = np.asarray(X, dtype="float64")
    n, k = Xv.shape
    xtx = Xv.T @ Xv
    beta = np.linalg.solve(xtx, Xv.T @ yv)
    resid = yv - Xv @ beta
    df = n - k
    sigma2 = float(resid @ resid) / df if df > 0 else np.nan
    cov = sigma2 * np.linalg.inv(xtx)
    se = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
    p = 2 * sps.t.sf(np.abs(t), df) if df > 0 else np.full(k, np.nan)
    q = sps.t.ppf(1 - (1 - confidence) / 2, df) if df > 0 else np.nan
    ci = np.column_stack([beta - q * se, beta + q * se])
    llf = -n / 2 * (np.log(2 * np.pi * float(resid @ resid) / n) + 1)
    return ModelResult(_tidy(names, beta, se, t, p, ci), float(llf), True, n)


def logistic_model(y, X, *, names, confidence: float = 0.95) -> ModelResult:
    """Logistic regression by Newton-Raphson (statsmodels ``Logit``), Wald intervals.

    ``X`` must include the constant column. Separation and non-convergence are
    reported through ``converged`` (and huge standard errors), never raised.

    Examples
    --------
    >>> import pandas as pd, numpy as np
    >>> from analysis.stats import logistic_model
    >>> d = pd.read_csv("tests/data/spector.csv")  # Spector & Mazzeo (1980)
    >>> X = np.column_stack([d[["GPA", "TUCE", "PSI"]], np.ones(len(d))])
    >>> logistic_model(d["GRADE"], X, names=["GPA", "TUCE", "PSI", "const"]).table["coef"].round(3).tolist()
    [2.826, 0.095, 2.379, -13.021]
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, PerfectSeparationWarning, RuntimeWarning))
        # check_rank only feeds df_model (not the estimates) and costs a QR of the whole design
        model = Logit(np.asarray(y, dtype="float64"), np.asarray(X, dtype="float64"), check_rank=False)
        fit = model.fit(method="newton", maxiter=100, disp=0, tol=1e-10)
    converged = bool(fit.mle_retvals.get("converged", False))
    tab = _tidy(names, fit.params, fit.bse, fit.tvalues, fit.pvalues, fit.conf_int(alpha=1 - confidence))
    y_ = np.asarray(y)
    return ModelResult(tab, float(fit.llf), converged, len(y_), int(y_.sum()))


class _CoxData:
    """Sufficient structure for Cox partial likelihoods with tied times (Efron or Breslow).

    Observations are grouped by distinct event time, so each Newton step costs a
    few passes over the data and p x p work per distinct time, however many
    episodes there are.
    """

    def __init__(self, time, event, X, ties):
        t = np.asarray(time, dtype="float64")
        e = np.asarray(event, dtype="float64") > 0
        self.X = np.asarray(X, dtype="float64")
        order = np.argsort(t, kind="stable")
        self.order = order
        self.t, self.e, self.X = t[order], e[order], self.X[order]
        self.ev_times = np.unique(self.t[self.e])
        # first sorted row with time >= each event time: the start of its risk set
        self.risk_start = np.searchsorted(self.t, self.ev_times, side="left")
        ev_rows = np.flatnonzero(self.e)
        self.ev_rows = ev_rows
        self.ev_group = np.searchsorted(self.ev_times, self.t[ev_rows])
        self.d = np.bincount(self.ev_group, minlength=len(self.ev_times)).astype("float64")
        # Efron: for event-time j the l-th tied event (l = 0..d_j-1) removes fraction l/d_j of the tied set
        self.pair_group = np.repeat(np.arange(len(self.ev_times)), self.d.astype(int))
        first = np.r_[0, np.cumsum(self.d)[:-1]].astype(int)
        l = np.arange(len(self.pair_group)) - first[self.pair_group]
        self.c = (l / self.d[self.pair_group]) if ties == "efron" else np.zeros(len(self.pair_group))
        self.sum_x_events = self.X[ev_rows].sum(axis=0)
        # number of event times <= each row's time (the same at every beta)
        self.upto = np.searchsorted(self.ev_times, self.t, side="right")

    def evaluate(self, beta):
        """Log partial likelihood, gradient and Hessian at beta."""
        X, J = self.X, len(self.ev_times)
        eta = X @ beta
        shift = eta.max() if len(eta) else 0.0
        w = np.exp(eta - shift)
        wx = X * w[:, None]
        # risk-set sums via reverse cumulative sums at each risk-set start
        cw = np.r_[np.cumsum(w[::-1])[::-1], 0.0]
        cwx = np.vstack([np.cumsum(wx[::-1], axis=0)[::-1], np.zeros((1, X.shape[1]))])
        s0r, s1r = cw[self.risk_start], cwx[self.risk_start]
        # tied-event sums per event time
        s0d = np.bincount(self.ev_group, weights=w[self.ev_rows], minlength=J)
        s1d = np.zeros((J, X.shape[1]))
        np.add.at(s1d, self.ev_group, wx[self.ev_rows])
        g, c = self.pair_group, self.c
        s0 = s0r[g] - c * s0d[g]
        ll = float(eta[self.ev_rows].sum() - (np.log(s0) + shift).sum())
        inv = 1 / s0
        a = np.bincount(g, weights=inv, minlength=J)
        b = np.bincount(g, weights=c * inv, minlength=J)
        grad = self.sum_x_events - (s1r * a[:, None]).sum(0) + (s1d * b[:, None]).sum(0)
        # second moments: sum_j a_j S2_R,j = X' diag(w * A) X with A_i = sum of a_j over event times <= t_i
        A = np.r_[0.0, np.cumsum(a)][self.upto]
        s2 = (X * (w * A)[:, None]).T @ X
        Xe = X[self.ev_rows]  # the tied-event correction involves event rows only
        s2 -= (Xe * (w[self.ev_rows] * b[self.ev_group])[:, None]).T @ Xe
        alpha = np.bincount(g, weights=inv**2, minlength=J)
        bet = np.bincount(g, weights=c * inv**2, minlength=J)
        gam = np.bincount(g, weights=c**2 * inv**2, minlength=J)
        outer = (s1r.T * alpha) @ s1r - (s1r.T * bet) @ s1d - (s1d.T * bet) @ s1r + (s1d.T * gam) @ s1d
        hess = -(s2 - outer)
        return ll, grad, hess

    def _moments(self, beta):
        """Breslow-form risk-set quantities at beta: weights w, risk-set means xbar_j, hazard
        increments d_j / S0_j, and for each row the cumulative hazard A and hazard-weighted mean B
        over event times up to its own time."""
        X, k = self.X, self.X.shape[1]
        eta = X @ beta
        w = np.exp(eta - eta.max())
        cw = np.r_[np.cumsum(w[::-1])[::-1], 0.0]
        cwx = np.vstack([np.cumsum((X * w[:, None])[::-1], axis=0)[::-1], np.zeros((1, k))])
        s0, s1 = cw[self.risk_start], cwx[self.risk_start]
        xbar = s1 / s0[:, None]
        hz = self.d / s0
        A = np.r_[0.0, np.cumsum(hz)][self.upto]
        B = np.vstack([np.zeros((1, k)), np.cumsum(xbar * hz[:, None], axis=0)])[self.upto]
        return w, xbar, hz, A, B

    def score_residuals(self, beta) -> np.ndarray:
        """Per-row score residuals (Breslow form), in time-sorted order (``self.order``).

        L_i = e_i (x_i - xbar(t_i)) - w_i sum over event times t_j <= t_i of d_j (x_i - xbar_j) / S0_j.
        """
        X = self.X
        if len(self.ev_times) == 0:
            return np.zeros_like(X)
        w, xbar, _, A, B = self._moments(beta)
        resid = -w[:, None] * (X * A[:, None] - B)
        ev = self.ev_rows
        resid[ev] += X[ev] - xbar[self.ev_group]
        return resid

    def cluster_information(self, beta, codes: np.ndarray, G: int, clusters: np.ndarray) -> dict:
        """Each listed cluster's share of the information matrix (Breslow form), in time-sorted order.

        I = sum_i w_i sum_{t_j <= t_i} (d_j / S0_j) (x_i - xbar_j)(x_i - xbar_j)'; the terms of the
        rows of cluster g add up to I_g. *codes* are cluster codes in the original row order.
        """
        X, J, k = self.X, len(self.ev_times), self.X.shape[1]
        out = {}
        if J == 0:
            return out
        w, xbar, hz, A, B = self._moments(beta)
        Ccum = np.concatenate([np.zeros((1, k, k)), np.cumsum(np.einsum("j,ja,jb->jab", hz, xbar, xbar), axis=0)])
        c = codes[self.order]
        order = np.argsort(c, kind="stable")
        bounds = np.searchsorted(c[order], np.arange(G + 1))
        for g in clusters:
            rows = order[bounds[g]:bounds[g + 1]]
            if not len(rows):
                continue
            xg, wg = X[rows], w[rows]
            xb = (xg * wg[:, None]).T @ B[rows]
            Wu = np.bincount(self.upto[rows], weights=wg, minlength=J + 1)
            out[g] = (xg * (wg * A[rows])[:, None]).T @ xg - xb - xb.T + np.tensordot(Wu, Ccum, axes=1)
        return out


class _StrataData:
    """Several :class:`_CoxData` strata sharing one coefficient vector (stratified Cox)."""

    def __init__(self, parts):
        self.parts = parts
        self.t = np.concatenate([p.t for p in parts])
        self.e = np.concatenate([p.e for p in parts])
        self.X = parts[0].X

    def evaluate(self, beta):
        ll, grad, hess = 0.0, 0.0, 0.0
        for p in self.parts:
            a, b, c = p.evaluate(beta)
            ll, grad, hess = ll + a, grad + b, hess + c
        return ll, grad, hess


def cox_model(time, event, X, *, names, ties: str = "efron", strata=None, confidence: float = 0.95,
              max_iter: int = 50, tol: float = 1e-10) -> ModelResult:
    """Cox proportional hazards by Newton-Raphson, Efron ties by default (Breslow on request).

    A vectorised implementation grouped by distinct event time: a million
    episodes fit in seconds, where statsmodels ``PHReg`` loops in Python over
    risk sets. It is checked against ``PHReg`` (both tie methods) and against R
    ``coxph`` (Rossi, 7 decimals; aml) in the tests. Wald intervals.

    ``strata`` (array-like, optional) gives each stratum its own baseline
    hazard (e.g. surgical candidates and non-candidates); the partial
    likelihoods of the strata are added.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.stats import cox_model
    >>> aml = pd.read_csv("tests/data/aml.csv")  # R survival::aml
    >>> x = (aml["x"] == "Nonmaintained").to_numpy(float)[:, None]
    >>> round(float(cox_model(aml["time"], aml["status"], x, names=["Nonmaintained"]).table["coef"].iloc[0]), 4)
    0.9155
    """
    return _cox_fit(time, event, X, names=names, ties=ties, strata=strata, confidence=confidence,
                    max_iter=max_iter, tol=tol)[0]


def _cox_fit(time, event, X, *, names, ties="efron", strata=None, confidence=0.95, max_iter=50, tol=1e-10):
    """:func:`cox_model`, also returning what a robust covariance reuses: the strata's row
    indexes (None when unstratified), their :class:`_CoxData` and the Hessian at the estimate."""
    if ties not in ("efron", "breslow"):
        raise ValueError("ties must be 'efron' or 'breslow'")
    if strata is None:
        index = None
        parts = [_CoxData(time, event, X, ties)]
    else:
        t_, e_, X_ = np.asarray(time, dtype="float64"), np.asarray(event, dtype="float64"), np.asarray(X, dtype="float64")
        st = pd.factorize(pd.Series(strata, dtype="str"))[0]
        index = [np.flatnonzero(st == s) for s in np.unique(st)]
        parts = [_CoxData(t_[i], e_[i], X_[i], ties) for i in index]
    data = parts[0] if len(parts) == 1 else _StrataData(parts)
    k = data.X.shape[1]
    beta = np.zeros(k)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # diverging steps are halved below
        res, hess = _cox_newton(data, beta, names, confidence, max_iter, tol)
    return res, index, parts, hess


def _cox_newton(data: _CoxData, beta, names, confidence, max_iter, tol) -> tuple[ModelResult, np.ndarray]:
    k = len(beta)
    ll, grad, hess = data.evaluate(beta)
    converged = False
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(-hess, grad)
        except np.linalg.LinAlgError:
            break
        new = beta + step
        new_ll, new_grad, new_hess = data.evaluate(new)
        halvings = 0
        # halve steps that lower the likelihood; differences of rounding size (a sum over
        # hundreds of thousands of terms) are not a decrease
        while (not np.isfinite(new_ll) or new_ll < ll - 1e-10 * (1 + abs(ll))) and halvings < 30:
            step /= 2
            new = beta + step
            new_ll, new_grad, new_hess = data.evaluate(new)
            halvings += 1
        done = np.max(np.abs(step)) < tol or abs(new_ll - ll) < tol * (1 + abs(ll))
        beta, ll, grad, hess = new, new_ll, new_grad, new_hess
        if done:
            converged = True
            break
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            cov = np.linalg.inv(-hess)
            se = np.sqrt(np.diag(cov))
        except np.linalg.LinAlgError:
            se = np.full(k, np.nan)
        z = beta / se
    p = 2 * sps.norm.sf(np.abs(z))
    q = z_value(confidence)
    ci = np.column_stack([beta - q * se, beta + q * se])
    return ModelResult(_tidy(names, beta, se, z, p, ci), ll, converged and bool(np.all(np.isfinite(se))),
                       len(data.t), int(data.e.sum())), hess


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN entries stay NaN.

    Examples
    --------
    >>> from analysis.stats import holm
    >>> holm([0.01, 0.04, float("nan"), 0.03]).round(2).tolist()
    [0.03, 0.06, nan, 0.06]
    """
    p = np.asarray(pvalues, dtype="float64")
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok):
        # the i-th smallest of m p values is multiplied by m - i, then made monotone (Holm 1979);
        # written out because statsmodels' multipletests runs a full garbage collection per call
        order = ok[np.argsort(p[ok], kind="stable")]
        m = len(order)
        out[order] = np.minimum(np.maximum.accumulate(p[order] * np.arange(m, 0, -1)), 1.0)
    return out
