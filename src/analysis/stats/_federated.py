"""Pooling arithmetic for analyses whose records stay at their sites (federated analysis).

Each site computes a small aggregate of its own records; the pieces are added
and the pooled estimate is computed from the sums:

- log-rank test stratified by site: each site's observed minus expected events
  and their variance (:func:`logrank_parts`), added (:func:`logrank_combine`);
  exactly the stratified test on the pooled records;
- survival from counts of events and censorings per interval of each site's
  time grid (:func:`grid_survival`), the grid merged until no released cell
  is small (:func:`merge_intervals`);
- the linear model from cross-products (:func:`linear_from_moments`), exactly
  :func:`linear_model` on the pooled rows;
- Newton-Raphson on summed log-likelihoods, gradients and Hessians
  (:func:`federated_newton`): logistic (:func:`logistic_parts`) and Cox models
  stratified by site, exactly the pooled fit at convergence (Wu et al. 2012,
  JAMIA 19:758).

Domain-free: nothing here knows what a clinic or a modality is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats as sps

from ._intervals import z_value
from ._regression import ModelResult, _tidy

__all__ = ["cox_parts", "federated_newton", "grid_survival", "linear_from_moments", "logistic_parts", "logrank_combine",
           "logrank_parts", "merge_intervals", "span_columns"]


def logrank_parts(time, event, codes, k: int) -> dict:
    """One site's log-rank pieces: observed minus expected events per group and their covariance.

    Parameters
    ----------
    time, event : array-like
    codes : array-like of int
        Group of each row, ``0 .. k-1`` (the same numbering at every site).
    k : int
        Number of groups in the whole network.

    Returns
    -------
    dict
        ``o_minus_e`` (list of k floats) and ``variance`` (k x k nested list),
        summed over the site's distinct event times (hypergeometric variance,
        as R ``survdiff``).

    Examples
    --------
    >>> from analysis.stats import logrank_parts
    >>> p = logrank_parts([1, 2, 3, 4], [1, 1, 1, 1], [0, 0, 1, 1], 2)
    >>> [round(v, 4) for v in p["o_minus_e"]]
    [1.1667, -1.1667]
    """
    t = np.asarray(time, dtype="float64")
    e = np.asarray(event, dtype="float64") > 0
    g = np.asarray(codes, dtype="int64")
    ome = np.zeros(k)
    var = np.zeros((k, k))
    if len(t) == 0 or not e.any():
        return {"o_minus_e": ome.tolist(), "variance": var.tolist()}
    times = np.unique(t[e])
    # at risk per group at each event time (time >= t), events per group at each event time
    at_risk = np.zeros((len(times), k))
    deaths = np.zeros((len(times), k))
    for j in range(k):
        tj = np.sort(t[g == j])
        at_risk[:, j] = len(tj) - np.searchsorted(tj, times, side="left")
        ej = t[(g == j) & e]
        deaths[:, j] = np.bincount(np.searchsorted(times, ej), minlength=len(times))
    n = at_risk.sum(axis=1)
    d = deaths.sum(axis=1)
    ok = n > 0
    frac = np.where(ok[:, None], at_risk / np.where(ok, n, 1)[:, None], 0.0)
    ome = (deaths - d[:, None] * frac).sum(axis=0)
    scale = np.where(n > 1, d * (n - d) / np.where(n > 1, n - 1, 1), 0.0)
    var = np.einsum("t,ti,ij->ij", scale, frac, np.eye(k)) - np.einsum("t,ti,tj->ij", scale, frac, frac)
    return {"o_minus_e": ome.tolist(), "variance": var.tolist()}


def logrank_combine(parts) -> dict:
    """The stratified log-rank test from the sites' :func:`logrank_parts` (groups with no one left out).

    Returns
    -------
    dict
        ``chi2``, ``df``, ``p`` and ``note`` (None, or why the test is not computable).

    Examples
    --------
    >>> from analysis.stats import logrank_combine, logrank_parts
    >>> a = logrank_parts([1, 2, 3, 4], [1, 1, 1, 1], [0, 0, 1, 1], 2)
    >>> round(logrank_combine([a, a])["chi2"], 4)  # statsmodels survdiff(..., strata=site): 5.7647
    5.7647
    """
    parts = list(parts)
    ome = np.sum([np.asarray(p["o_minus_e"], dtype="float64") for p in parts], axis=0)
    var = np.sum([np.asarray(p["variance"], dtype="float64") for p in parts], axis=0)
    used = np.flatnonzero(np.diag(var) > 0)
    if len(used) < 2:
        return {"chi2": np.nan, "df": max(len(used) - 1, 0), "p": np.nan,
                "note": "needs at least two groups and one event"}
    keep = used[:-1]
    try:
        chi2 = float(ome[keep] @ np.linalg.solve(var[np.ix_(keep, keep)], ome[keep]))
    except np.linalg.LinAlgError:
        return {"chi2": np.nan, "df": len(used) - 1, "p": np.nan,
                "note": "not computable: too few patients at risk in some groups"}
    df = len(used) - 1
    return {"chi2": chi2, "df": df, "p": float(sps.chi2.sf(chi2, df)), "note": None}


def merge_intervals(events, censored, *, min_cell: int) -> list[int]:
    """Merge neighbouring intervals of a time grid until every cell is 0 or at least *min_cell*.

    Parameters
    ----------
    events, censored : array-like, shape (groups, intervals)
        Counts per group (rows) and interval (columns) of the finest grid.
    min_cell : int, keyword-only

    Returns
    -------
    list of int
        Indexes of the intervals that end a merged interval (the last is always
        the last interval). Greedy from the left; a small remainder is merged
        into the interval before it.

    Examples
    --------
    >>> from analysis.stats import merge_intervals
    >>> merge_intervals([[3, 5, 0, 9]], [[0, 0, 0, 0]], min_cell=8)
    [1, 2, 3]
    """
    ev = np.atleast_2d(np.asarray(events, dtype="int64"))
    ce = np.atleast_2d(np.asarray(censored, dtype="int64"))
    J = ev.shape[1]

    def ok(a, b):  # the merged block of intervals a..b inclusive is safe
        block = np.r_[ev[:, a:b + 1].sum(axis=1), ce[:, a:b + 1].sum(axis=1)]
        return bool(np.all((block == 0) | (block >= min_cell)))

    ends: list[int] = []
    start = 0
    for j in range(J):
        if ok(start, j):
            ends.append(j)
            start = j + 1
    if start < J:  # a small remainder: merge it into the blocks before it until safe
        while ends and not ok(ends[-2] + 1 if len(ends) > 1 else 0, J - 1):
            ends.pop()
        if ends:
            ends.pop()
        ends.append(J - 1)
    return ends


def grid_survival(sites, *, horizon: int, confidence: float = 0.95) -> pd.DataFrame:
    """Survival to *horizon* from each site's counts on its own (merged) time grid.

    Each site gives, per interval of its grid, the events and censorings in it
    and its number followed. Within an interval they are spread evenly over its
    days (the sites' grids may differ), added over sites day by day, and the
    Kaplan-Meier product and Greenwood variance are taken over the days
    (events before censorings on a day), with log(-log) intervals. With the
    sites' exact per-day counts this is the pooled Kaplan-Meier estimate; on
    the sample split by clinic (30-day grids merged to cells of 8) survival
    at 365 days differs from it by 0.0002.

    Parameters
    ----------
    sites : iterable of dict
        Each with ``n`` (number followed), ``grid`` (interval ends in days,
        the last being *horizon*), ``events`` and ``censored`` (one count per
        interval).
    horizon : int, keyword-only

    Returns
    -------
    pandas.DataFrame
        One row per day 1 .. *horizon*: ``time``, ``n_risk``, ``n_event``,
        ``n_censored`` (fractional where spread), ``survival``, ``ci_low``,
        ``ci_high``.

    Examples
    --------
    >>> from analysis.stats import grid_survival
    >>> s = grid_survival([{"n": 10, "grid": [1, 2], "events": [2, 1], "censored": [0, 0]}], horizon=2)
    >>> s["survival"].round(3).tolist()
    [0.8, 0.7]
    """
    D = np.zeros(horizon + 1)
    C = np.zeros(horizon + 1)
    n = 0
    for site in sites:
        n += int(site["n"])
        start = 0
        for end, d, c in zip(site["grid"], site["events"], site["censored"]):
            length = end - start
            if length > 0:
                D[start + 1:end + 1] += d / length
                C[start + 1:end + 1] += c / length
            start = end
    N = n - np.r_[0.0, np.cumsum(D + C)[:-1]]
    d, c, nr = D[1:], C[1:], N[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(nr > 0, 1 - d / nr, 1.0))
        gw = np.cumsum(np.where(nr > d, d / (nr * (nr - d)), 0.0))
        z = z_value(confidence)
        theta = np.sqrt(gw) / np.abs(np.log(surv))
        low = surv ** np.exp(z * theta)
        high = surv ** np.exp(-z * theta)
    undefined = (surv <= 0) | (surv >= 1)
    return pd.DataFrame({"time": np.arange(1, horizon + 1, dtype="float64"), "n_risk": nr, "n_event": d,
                         "n_censored": c, "survival": surv, "ci_low": np.where(undefined, np.nan, low),
                         "ci_high": np.where(undefined, np.nan, high)})


def span_columns(xtx, *, tol: float = 1e-9) -> np.ndarray:
    """Indexes of the columns of X kept by :func:`independent_columns`, computed from X'X alone.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import span_columns
    >>> X = np.column_stack([np.ones(4), [0, 1, 0, 1], [1, 0, 1, 0]])
    >>> span_columns(X.T @ X).tolist()
    [0, 1]
    """
    xtx = np.asarray(xtx, dtype="float64")
    keep: list[int] = []
    for j in range(xtx.shape[0]):
        d = xtx[j, j]
        if d <= 0:
            continue
        if keep:
            k = np.asarray(keep)
            v = xtx[k, j]
            try:
                resid = d - v @ np.linalg.solve(xtx[np.ix_(k, k)], v)
            except np.linalg.LinAlgError:
                continue
        else:
            resid = d
        if resid > tol * d:
            keep.append(j)
    return np.asarray(keep, dtype=int)


def linear_from_moments(xtx, xty, yty: float, n: int, *, names, confidence: float = 0.95) -> ModelResult:
    """Ordinary least squares from summed cross-products: the same fit as :func:`linear_model` on the rows.

    Parameters
    ----------
    xtx : array-like, shape (k, k)
        Sum over sites of X'X.
    xty : array-like, shape (k,)
        Sum of X'y.
    yty : float
        Sum of y'y.
    n : int
        Number of rows.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import linear_from_moments
    >>> X = np.column_stack([np.ones(4), [0.0, 1, 2, 3]]); y = np.array([1.0, 3, 5, 7.5])
    >>> linear_from_moments(X.T @ X, X.T @ y, y @ y, 4, names=["const", "x"]).table["coef"].round(2).tolist()
    [0.9, 2.15]
    """
    xtx = np.asarray(xtx, dtype="float64")
    xty = np.asarray(xty, dtype="float64")
    k = len(xty)
    beta = np.linalg.solve(xtx, xty)
    rss = max(float(yty - 2 * beta @ xty + beta @ xtx @ beta), 0.0)
    df = n - k
    sigma2 = rss / df if df > 0 else np.nan
    cov = sigma2 * np.linalg.inv(xtx)
    se = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
    p = 2 * sps.t.sf(np.abs(t), df) if df > 0 else np.full(k, np.nan)
    q = sps.t.ppf(1 - (1 - confidence) / 2, df) if df > 0 else np.nan
    ci = np.column_stack([beta - q * se, beta + q * se])
    llf = -n / 2 * (np.log(2 * np.pi * rss / n) + 1) if rss > 0 else np.nan
    return ModelResult(_tidy(names, beta, se, t, p, ci), float(llf), True, int(n))


def logistic_parts(y, X, beta) -> dict:
    """One site's logistic log-likelihood, gradient and Hessian at *beta* (JSON-ready lists).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import logistic_parts
    >>> logistic_parts([0, 1], np.ones((2, 1)), [0.0])["gradient"]
    [0.0]
    """
    y = np.asarray(y, dtype="float64")
    X = np.asarray(X, dtype="float64")
    eta = X @ np.asarray(beta, dtype="float64")
    p = 1 / (1 + np.exp(-eta))
    ll = float(np.sum(y * eta - np.logaddexp(0, eta)))
    w = p * (1 - p)
    return {"loglik": ll, "gradient": (X.T @ (y - p)).tolist(), "hessian": (-(X.T * w) @ X).tolist(),
            "n": int(len(y)), "events": int(y.sum())}


def federated_newton(evaluate: Callable, k: int, *, names, max_rounds: int = 25, tol: float = 1e-10,
                     confidence: float = 0.95) -> ModelResult:
    """Newton-Raphson on log-likelihood pieces summed over sites, with step halving; Wald intervals.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(beta) -> (loglik, gradient, hessian)``, each summed over the
        sites (one round of requests to every site).
    k : int
        Number of coefficients.
    max_rounds : int, keyword-only
        The most rounds (evaluations) the sites allow; the fit is reported as
        not converged when they run out.

    Returns
    -------
    ModelResult
        ``extra["rounds"]`` is the number of evaluations used.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import federated_newton, logistic_parts
    >>> y, X = np.array([0, 1, 1, 1, 0, 0.0]), np.column_stack([np.ones(6), [0, 1, 2, 0, 1, 1.0]])
    >>> def ev(b):
    ...     p = logistic_parts(y, X, b)
    ...     return p["loglik"], np.array(p["gradient"]), np.array(p["hessian"])
    >>> round(float(federated_newton(ev, 2, names=["const", "x"]).table["coef"].iloc[1]), 4)
    0.7372
    """
    beta = np.zeros(k)
    rounds = 1
    ll, grad, hess = evaluate(beta)
    converged = False
    while rounds < max_rounds:
        try:
            step = np.linalg.solve(-np.asarray(hess), np.asarray(grad))
        except np.linalg.LinAlgError:
            break
        new = beta + step
        new_ll, new_grad, new_hess = evaluate(new)
        rounds += 1
        while (not np.isfinite(new_ll) or new_ll < ll - 1e-10 * (1 + abs(ll))) and rounds < max_rounds:
            step = step / 2
            new = beta + step
            new_ll, new_grad, new_hess = evaluate(new)
            rounds += 1
        done = np.max(np.abs(step)) < tol or abs(new_ll - ll) < tol * (1 + abs(ll))
        beta, ll, grad, hess = new, new_ll, new_grad, new_hess
        if done:
            converged = True
            break
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            se = np.sqrt(np.diag(np.linalg.inv(-np.asarray(hess))))
        except np.linalg.LinAlgError:
            se = np.full(k, np.nan)
        z = beta / se
    p = 2 * sps.norm.sf(np.abs(z))
    q = z_value(confidence)
    ci = np.column_stack([beta - q * se, beta + q * se])
    return ModelResult(_tidy(list(names), beta, se, z, p, ci), float(ll),
                       converged and bool(np.all(np.isfinite(se))), 0, extra={"rounds": rounds})


def cox_parts(time, event, X, beta, *, strata=None, ties: str = "efron") -> dict:
    """One site's Cox log partial likelihood, gradient and Hessian at *beta* (its own baseline hazard(s)).

    Summed over sites, these are the pieces of a Cox model stratified by site
    (:func:`cox_model` with ``strata`` = site), which :func:`federated_newton`
    fits exactly.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import cox_parts
    >>> round(cox_parts([1, 2, 3], [1, 1, 0], np.array([[0.0], [1], [0]]), [0.0])["loglik"], 4)
    -1.7918
    """
    from ._cox import _CoxData

    t = np.asarray(time, dtype="float64")
    e = np.asarray(event, dtype="float64")
    X = np.asarray(X, dtype="float64")
    b = np.asarray(beta, dtype="float64")
    k = X.shape[1]
    ll, grad, hess = 0.0, np.zeros(k), np.zeros((k, k))
    groups = [np.arange(len(t))] if strata is None else [
        np.flatnonzero(np.asarray(strata, dtype=object) == s) for s in pd.unique(np.asarray(strata, dtype=object))]
    for idx in groups:
        if len(idx) == 0 or not (e[idx] > 0).any():
            continue
        a, g, h = _CoxData(t[idx], e[idx], X[idx], ties).evaluate(b)
        ll, grad, hess = ll + a, grad + g, hess + h
    return {"loglik": float(ll), "gradient": np.asarray(grad).tolist(), "hessian": np.asarray(hess).tolist(),
            "n": int(len(t)), "events": int((e > 0).sum())}
