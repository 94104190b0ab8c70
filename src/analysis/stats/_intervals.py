"""Intervals and adjustments: z values, Wilson and Newcombe intervals, t intervals for means, Holm."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps


def z_value(confidence: float = 0.95) -> float:
    """Two-sided standard normal quantile; 1.959963984540054 for 95 %.

    Examples
    --------
    >>> from analysis.stats import z_value
    >>> round(z_value(0.95), 9)
    1.959963985
    """
    return float(sps.norm.ppf(1 - (1 - confidence) / 2))


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


