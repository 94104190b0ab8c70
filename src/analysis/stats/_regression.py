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

import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.discrete.discrete_model import Logit
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from ._keys import unique_keys
from ._newton import _damped_newton, _solve

#: The warnings a statsmodels fit may give that its result reports itself (``converged``, huge errors).
_FIT_WARNINGS = (ConvergenceWarning, PerfectSeparationWarning, RuntimeWarning)
_quiet_lock = threading.Lock()
_quiet_state = {"depth": 0, "entries": []}


@contextmanager
def _quiet_fit():
    """Silence :data:`_FIT_WARNINGS` while a fit runs, safely from several threads at once.

    ``warnings.catch_warnings`` saves and restores the process's one filter list, so two threads
    using it at once undo each other's filters (one thread's fit then warned, or raised where
    warnings are errors, and a filter could outlive both). Here the first fit to enter adds the
    filters, the last to leave removes exactly those, under a lock; numpy's floating-point warnings
    are also held off by ``np.errstate``, which is each thread's own.
    """
    with _quiet_lock:
        if _quiet_state["depth"] == 0:
            # our own entries, in front (the caller's filters stay as they are, even an identical one)
            _quiet_state["entries"] = [("ignore", None, category, None, 0) for category in _FIT_WARNINGS]
            warnings.filters[:0] = _quiet_state["entries"]
            _filters_changed()
        _quiet_state["depth"] += 1
    try:
        with np.errstate(all="ignore"):
            yield
    finally:
        with _quiet_lock:
            _quiet_state["depth"] -= 1
            if _quiet_state["depth"] == 0:
                for entry in _quiet_state["entries"]:
                    for i, f in enumerate(warnings.filters):
                        if f is entry:
                            del warnings.filters[i]
                            break
                _filters_changed()
                _quiet_state["entries"] = []


def _filters_changed() -> None:
    """Tell the warnings module its filter list was edited in place (it caches what the filters said)."""
    changed = getattr(warnings, "_filters_mutated", None) or getattr(warnings, "_filters_mutated_lock_held", None)
    if changed is not None:
        changed()

__all__ = ["ModelResult", "dummy_levels", "independent_columns", "linear_model", "logistic_counts", "logistic_model", "one_hot"]


# ----------------------------------------------------------------- proportions and means


# ----------------------------------------------------------------- survival


# ----------------------------------------------------------------- design matrices (shared by the models' callers)


def dummy_levels(codes: np.ndarray, levels, *, drop: set) -> np.ndarray:
    """Indexes of the levels that get a dummy column: all but the most frequent one and *drop*.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import dummy_levels
    >>> dummy_levels(np.array([0, 1, 1, 2, -1]), ["a", "b", "c"], drop={"c"}).tolist()
    [0]
    """
    counts = np.bincount(codes[codes >= 0], minlength=len(levels))
    ref = int(np.argmax(counts))
    return np.asarray([i for i in range(len(levels)) if i != ref and levels[i] not in drop], dtype=int)


def one_hot(codes: np.ndarray, levels, *, drop: set, out: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Dummy columns for factorised categories (code -1: missing, no 1 anywhere); the most frequent level
    and *drop* are omitted (:func:`dummy_levels`).

    *out*: a zero-filled (rows x columns) array to write the columns into (a slice of a design
    being built, so that no temporary copy of it is made); it is returned.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import one_hot
    >>> X, names = one_hot(np.array([0, 1, 1, 2, -1]), ["a", "b", "c"], drop=set())
    >>> X.tolist(), names
    ([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]], ['a', 'c'])
    """
    keep = dummy_levels(codes, levels, drop=drop)
    names = [str(levels[i]) for i in keep]
    if out is None:
        return (codes[:, None] == keep[None, :]).astype("float64"), names
    col = np.full(len(levels) + 1, -1, dtype="int64")     # the last entry: code -1
    col[keep] = np.arange(len(keep))
    c = col[codes]
    rows = np.flatnonzero(c >= 0)
    out[rows, c[rows]] = 1.0
    return out, names


def independent_columns(X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
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
    full-rank designs built by :mod:`analysis.methods` and about ten times
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


#: Grouping pays from this many rows on (below it statsmodels is as quick).
_GROUP_FROM = 20_000


def _grouped_logistic(y, X, *, names, confidence: float) -> ModelResult | None:
    """The logistic MLE on the design's distinct rows with their counts, or None to let statsmodels fit it.

    A million episodes have a few tens of thousands of distinct case-mix rows: Newton on those is the
    same estimate (and information) for a fraction of the time. Used only when the rows compress to
    at most half and the fit converges with finite, moderate standard errors; anything unusual
    (separation, too few events) goes to statsmodels as before.
    """
    Xv = np.asarray(X, dtype="float64")
    yv = np.asarray(y, dtype="float64")
    n, k = Xv.shape
    if n < _GROUP_FROM or not np.all(np.isfinite(Xv)):
        return None
    rng = np.random.default_rng(20261202)
    keys = Xv @ rng.standard_normal((k, 2))  # two random projections: equal rows, equal keys
    _, first, inverse = unique_keys(keys[:, 0])
    if len(first) > n // 2 or not np.array_equal(keys[first, 1][inverse], keys[:, 1]):
        return None  # no gain, or two different rows on one key (then the second projection differs)
    Xg = Xv[first]
    counts = np.bincount(inverse, minlength=len(first)).astype("float64")
    events = np.bincount(inverse, weights=yv, minlength=len(first))
    beta, info, ok = logistic_counts(Xg, counts, events)
    if not ok:
        return None
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return None
    se = np.sqrt(np.diag(cov))
    if not np.all(np.isfinite(se)) or np.any(se > 8.0):
        return None
    z = beta / se
    q = sps.norm.ppf(0.5 + confidence / 2)
    eta = np.clip(Xg @ beta, -35, 35)
    llf = float(np.sum(events * eta - counts * np.logaddexp(0, eta)))
    tab = _tidy(names, beta, se, z, 2 * sps.norm.sf(np.abs(z)), np.column_stack([beta - q * se, beta + q * se]))
    return ModelResult(tab, llf, True, n, int(yv.sum()))


def logistic_model(y, X, *, names, confidence: float = 0.95) -> ModelResult:
    """Logistic regression by Newton-Raphson (statsmodels ``Logit``), Wald intervals.

    From 20,000 rows on, the distinct design rows are fitted with their
    counts (:func:`logistic_counts`; the same estimate, checked against
    statsmodels in the tests), falling back to statsmodels where that does
    not compress the data or does not converge cleanly. ``X`` must include
    the constant column. Separation and non-convergence are
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
    fast = _grouped_logistic(y, X, names=names, confidence=confidence)
    if fast is not None:
        return fast
    with _quiet_fit():
        # check_rank only feeds df_model (not the estimates) and costs a QR of the whole design
        model = Logit(np.asarray(y, dtype="float64"), np.asarray(X, dtype="float64"), check_rank=False)
        fit = model.fit(method="newton", maxiter=100, disp=0, tol=1e-10)
        converged = bool(fit.mle_retvals.get("converged", False))
        tab = _tidy(names, fit.params, fit.bse, fit.tvalues, fit.pvalues, fit.conf_int(alpha=1 - confidence))
    y_ = np.asarray(y)
    return ModelResult(tab, float(fit.llf), converged, len(y_), int(y_.sum()))




def logistic_counts(X, n, events, *, start=None, max_iter: int = 50, tol: float = 1e-10, chord=None):
    """Logistic regression on grouped rows (``n`` trials, ``events`` successes, possibly fractional).

    Newton-Raphson with step halving: the maximum-likelihood estimate that the
    same rows expanded to one per trial give (a test checks it against
    statsmodels ``Logit``). Fractional ``events`` (expected counts) give the
    quasi-likelihood estimate. Cheap on a million episodes once they are
    grouped into their distinct design rows.

    *chord*: the inverse information of a nearby fit (e.g. of another
    imputed data set): the iterations then keep it fixed (each costs one
    X'r instead of a new information matrix), which is what makes twenty
    completed data sets cheap; the same estimate to the tolerance.

    Returns
    -------
    (beta, information, converged)
        ``information`` is X' diag(n p (1 - p)) X at the estimate.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import logistic_counts
    >>> X = np.column_stack([np.ones(2), [0.0, 1.0]])
    >>> beta, info, ok = logistic_counts(X, np.array([10.0, 10.0]), np.array([2.0, 6.0]))
    >>> ok, np.round(beta, 4).tolist()  # log-odds 2/8 and 6/4
    (True, [-1.3863, 1.7918])
    """
    Xv = np.asarray(X, dtype="float64")
    nv = np.asarray(n, dtype="float64")
    ev = np.asarray(events, dtype="float64")
    beta = np.zeros(Xv.shape[1]) if start is None else np.asarray(start, dtype="float64").copy()

    def loglik(b):
        eta = np.clip(Xv @ b, -35, 35)
        return float(np.sum(ev * eta - nv * np.logaddexp(0, eta))), eta

    if chord is not None:
        converged = False
        for _ in range(20 * max_iter):
            p = 1 / (1 + np.exp(-np.clip(Xv @ beta, -35, 35)))
            step = chord @ (Xv.T @ (ev - nv * p))
            beta = beta + step
            if np.max(np.abs(step)) < 1e-8:
                converged = True
                break
        p = 1 / (1 + np.exp(-np.clip(Xv @ beta, -35, 35)))
        return beta, (Xv * (nv * p * (1 - p))[:, None]).T @ Xv, converged
    def newton_step(b, eta):
        p = 1 / (1 + np.exp(-eta))
        return _solve((Xv * (nv * p * (1 - p))[:, None]).T @ Xv, Xv.T @ (ev - nv * p))

    beta, eta, converged = _damped_newton(beta, loglik, newton_step, max_iter=max_iter, tol=tol, step_tol=1e-6)
    p = 1 / (1 + np.exp(-eta))
    info = (Xv * (nv * p * (1 - p))[:, None]).T @ Xv
    return beta, info, converged
