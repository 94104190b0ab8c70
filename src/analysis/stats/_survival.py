"""Survival: Kaplan-Meier with log(-log) intervals, survival at a horizon, numbers at risk, log-rank."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from ._intervals import wilson_interval, z_value


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


def logrank_test(time, event, groups, *, strata=None) -> dict:
    """Log-rank test of equal survival across groups (statsmodels ``survdiff``).

    Parameters
    ----------
    time, event, groups : array-like
    strata : array-like, optional, keyword-only
        Stratified test: observed minus expected events and their variance are
        computed within each stratum (its own baseline hazard) and summed, as
        R's ``survdiff(Surv(time, event) ~ group + strata(s))`` does.

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
    # categories are compared by their codes (a million labels are never made into Python strings)
    g = (pd.Series(groups).reset_index(drop=True) if isinstance(getattr(groups, "dtype", None), pd.CategoricalDtype)
         else np.asarray(groups, dtype=object))
    k = len(pd.unique(g))
    if k < 2 or e.sum() == 0:
        return {"chi2": np.nan, "df": max(k - 1, 0), "p": np.nan,
                "note": "needs at least two groups and one event"}
    codes, _ = pd.factorize(g)
    try:
        st = None if strata is None else pd.factorize(np.asarray(strata, dtype=object))[0]
        chi2, p = survdiff(t, e, codes) if st is None or len(np.unique(st)) < 2 else survdiff(t, e, codes, strata=st)
    except (np.linalg.LinAlgError, ValueError, ArithmeticError):  # a singular variance: too few at risk
        return {"chi2": np.nan, "df": k - 1, "p": np.nan,
                "note": "not computable: too few patients at risk in some groups"}
    if not np.isfinite(chi2):
        return {"chi2": np.nan, "df": k - 1, "p": np.nan,
                "note": "not computable: too few patients at risk in some groups"}
    return {"chi2": float(chi2), "df": k - 1, "p": float(p), "note": None}


