"""Propensity scores, weighting and doubly robust (AIPW) estimates.

- :func:`multinomial_logit`: multinomial logistic regression by Newton-Raphson
  with frequency weights, so that a million episodes collapse to their few
  thousand distinct case-mix patterns first (the generalised propensity score
  of Imbens 2000 for several treatments; checked against statsmodels
  ``MNLogit``).
- :func:`kish_ess`: Kish's effective sample size of a set of weights.
- :func:`weighted_smd`: standardised mean differences of design columns
  between two groups, before or after weighting (R cobalt's convention: the
  denominator is the unweighted pooled SD, so only the means move).
- :func:`aipw_means`: augmented inverse probability weighting (Robins,
  Rotnitzky & Zhao 1994; Bang & Robins 2005) of one treatment against another
  within their pooled patients, with the influence-function variance summed
  within clusters (checked against statsmodels ``TreatmentEffect.aipw``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from ._clustered import cluster_codes, effective_df
from ._keys import unique_keys
from ._newton import _damped_newton, _solve

__all__ = ["aipw_means", "kish_ess", "multinomial_logit", "truncate_weights", "weighted_smd"]


def _softmax(eta: np.ndarray) -> np.ndarray:
    """Class probabilities from linear predictors of classes 1..K-1 (class 0 has 0)."""
    full = np.column_stack([np.zeros(len(eta)), eta])
    full -= full.max(axis=1, keepdims=True)
    np.exp(full, out=full)
    full /= full.sum(axis=1, keepdims=True)
    return full


def multinomial_logit(X, y=None, *, weights=None, counts=None, n_classes: int | None = None, ridge: float = 0.0,
                      max_iter: int = 60, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray, bool]:
    """Multinomial logistic regression by Newton-Raphson with step halving.

    Parameters
    ----------
    X : array (n, p)
        Design, including the constant column.
    y : array of int (n,)
        Class codes 0..K-1; class 0 is the base.
    weights : array (n,), optional, keyword-only
        Frequency weights (a row standing for that many identical episodes).
    counts : array (n, K), optional, keyword-only
        Instead of *y* and *weights*: each row's episodes in each class (a row is a distinct
        covariate pattern). The same estimate as one row per (pattern, class) with its count as
        weight, with the information summed over K times fewer rows.
    n_classes : int, optional, keyword-only
        K, when some classes have no rows.
    ridge : float, keyword-only
        A small penalty on the non-constant coefficients (times the total
        weight), which keeps the estimates finite when a class never occurs
        at some covariate level (then its probability there tends to 0, which
        is what the overlap diagnostic should show).

    Returns
    -------
    (beta, probabilities, converged)
        ``beta`` of shape (p, K-1); the fitted probabilities (n, K).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import multinomial_logit
    >>> X = np.column_stack([np.ones(6), [0.0, 1, 2, 0, 1, 2]])
    >>> beta, prob, ok = multinomial_logit(X, np.array([0, 0, 1, 1, 2, 2]))
    >>> ok, prob.shape, bool(np.allclose(prob.sum(axis=1), 1))
    (True, (6, 3), True)
    """
    Xv = np.asarray(X, dtype="float64")
    n, p = Xv.shape
    if counts is not None:
        Cn = np.asarray(counts, dtype="float64")
        if Cn.shape[0] != n:
            raise ValueError(f"counts has {Cn.shape[0]} rows for {n} rows of X")
        K = Cn.shape[1]
        w = Cn.sum(axis=1)
        Yw = Cn[:, 1:]
        class_totals = Cn.sum(axis=0)
    else:
        yv = np.asarray(y, dtype="int64")
        K = int(n_classes or (yv.max() + 1))
        w = np.ones(n) if weights is None else np.asarray(weights, dtype="float64")
        Y = (yv[:, None] == np.arange(1, K)[None, :]).astype("float64")
        class_totals = np.bincount(yv, weights=w, minlength=K)
    total = float(w.sum())
    pen = np.full(p, ridge * total)
    const = np.flatnonzero(np.all(Xv == 1.0, axis=0))
    pen[const] = 0.0
    m = K - 1
    beta = np.zeros((p, m))
    # start from the class shares (intercepts), which converges in a few steps
    share = class_totals / total
    if len(const):
        beta[const[0]] = np.log(np.clip(share[1:], 1e-12, None) / max(share[0], 1e-12))

    def loglik(b):
        P = _softmax(Xv @ b)
        if counts is not None:
            ll = float(np.sum(Cn * np.log(np.clip(P, 1e-300, None))))
        else:
            ll = float(np.sum(w * np.log(np.clip(P[np.arange(n), yv], 1e-300, None))))
        return ll - 0.5 * float(np.sum(pen[:, None] * b ** 2)), P

    def newton_step(b, P):
        resid = (Yw - w[:, None] * P[:, 1:]) if counts is not None else w[:, None] * (Y - P[:, 1:])
        grad = Xv.T @ resid - pen[:, None] * b
        H = np.zeros((p * m, p * m))
        for k in range(m):
            pk = P[:, k + 1]
            for j in range(k, m):
                c = w * pk * ((1.0 if j == k else 0.0) - P[:, j + 1])
                block = (Xv * c[:, None]).T @ Xv
                H[k * p:(k + 1) * p, j * p:(j + 1) * p] = block
                H[j * p:(j + 1) * p, k * p:(k + 1) * p] = block.T
        H[np.diag_indices_from(H)] += np.tile(pen, m)
        return _solve(H, grad.T.reshape(-1)).reshape(m, p).T  # class-major, matching H's blocks

    beta, P, converged = _damped_newton(beta, loglik, newton_step, max_iter=max_iter, tol=tol, step_tol=1e-8,
                                        either=True)
    return beta, P, converged


def kish_ess(weights, *, counts=None) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 (*counts*: how many episodes each weight stands for).

    Examples
    --------
    >>> from analysis.stats import kish_ess
    >>> kish_ess([1, 1, 1, 1]), round(kish_ess([1, 1, 1, 5]), 2), round(kish_ess([1, 5], counts=[3, 1]), 2)
    (4.0, 2.29, 2.29)
    """
    w = np.asarray(weights, dtype="float64")
    c = np.ones(len(w)) if counts is None else np.asarray(counts, dtype="float64")
    s2 = float(np.sum(c * w ** 2))
    return float(np.sum(c * w) ** 2 / s2) if s2 > 0 else 0.0


def truncate_weights(weights, *, percentiles=(1.0, 99.0), counts=None, groups=None) -> tuple[np.ndarray, float]:
    """Weights held within their 1st and 99th percentiles (Cole & Hernan 2008).

    Percentiles are those of the weights' distribution (the inverted-CDF
    definition, so that a weight standing for *counts* episodes gives what
    those episodes' own weights give); with *groups* (one label per weight,
    e.g. treated or not), those of each group's own weights, so that each
    group loses its own extremes and a group whose weights run larger does not
    lose more of them. Returns the truncated weights and the share of
    episodes whose weight was changed.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import truncate_weights
    >>> w, share = truncate_weights(np.r_[np.ones(197), 20.0, 50.0, 80.0])
    >>> float(w.max()), share
    (20.0, 0.01)
    >>> truncate_weights(np.array([1.0, 20.0, 50.0, 80.0]), counts=[197, 1, 1, 1])[0].tolist()
    [1.0, 20.0, 20.0, 20.0]
    >>> truncate_weights(np.array([1.0, 80.0, 1.0, 3.0]), counts=[99, 1, 99, 1], groups=[1, 1, 0, 0])[0].tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    w = np.asarray(weights, dtype="float64")
    if not len(w) or percentiles is None:
        return w, 0.0
    c = np.ones(len(w)) if counts is None else np.asarray(counts, dtype="float64")
    if not (c > 0).any():
        return w, 0.0
    out = w.copy()
    labels = np.zeros(len(w), dtype="int64") if groups is None else unique_keys(np.asarray(groups).reshape(-1))[2]
    for g in range(int(labels.max()) + 1 if len(labels) else 0):
        sel = labels == g
        keep = sel & (c > 0)
        if keep.any():
            # the weights take one value per case-mix pattern: the percentiles of the distinct values with their
            # summed counts are those of every row (the same weighted distribution), without sorting every row
            values, _, which = unique_keys(w[keep])
            lo, hi = np.percentile(values, percentiles, weights=np.bincount(which, weights=c[keep], minlength=len(values)),
                                   method="inverted_cdf")
            out[sel] = np.clip(w[sel], lo, hi)
    return out, float(np.sum(c * (out != w)) / np.sum(c))


def weighted_smd(X, treated, *, weights=None, counts=None) -> np.ndarray:
    """Standardised mean difference of each column of *X*, treated minus untreated.

    With *weights*, the group means are weighted; the denominator stays the
    unweighted pooled SD sqrt((s1^2 + s0^2) / 2), so that balance before and
    after weighting is measured on one scale (cobalt's default). *counts*:
    how many episodes each row stands for (rows of distinct case-mix patterns).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import weighted_smd
    >>> x = np.array([[0.0], [1.0], [1.0], [2.0]])
    >>> weighted_smd(x, np.array([False, False, True, True])).round(3).tolist()
    [1.414]
    >>> rows = np.array([[0.0], [1.0], [2.0]]); g = np.array([False, False, True])
    >>> weighted_smd(rows, g, counts=[1, 1, 2]).tolist() == weighted_smd(rows[[0, 1, 2, 2]], g[[0, 1, 2, 2]]).tolist()
    True
    """
    Xv = np.asarray(X, dtype="float64")
    t = np.asarray(treated, dtype=bool)
    c = np.ones(len(t)) if counts is None else np.asarray(counts, dtype="float64")
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype="float64")

    def moments(sel):
        cs, ws, xs = c[sel], w[sel], Xv[sel]
        n = cs.sum()
        mean = (cs * ws) @ xs / (cs * ws).sum() if (cs * ws).sum() > 0 else np.full(Xv.shape[1], np.nan)
        m0 = cs @ xs / n if n > 0 else np.full(Xv.shape[1], np.nan)
        var = (cs @ (xs - m0) ** 2) / (n - 1) if n > 1 else np.full(Xv.shape[1], np.nan)
        return mean, var

    m1, v1 = moments(t)
    m0, v0 = moments(~t)
    s = np.sqrt((v1 + v0) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, (m1 - m0) / s, 0.0)


def aipw_means(y, treated, propensity, mu1, mu0, *, groups=None, confidence: float = 0.95,
               truncate=(1.0, 99.0), scale: str = "difference") -> dict:
    """Doubly robust (AIPW) comparison of a treatment with another among their pooled patients.

    For each patient i of the two groups, with e_i the probability of the
    treatment given the case mix (among the two), m1_i and m0_i the outcome
    model's predictions under each, and weights w1_i = 1/e_i, w0_i = 1/(1-e_i)
    (each group's truncated at its own 1st and 99th percentiles when
    *truncate* is given: pooled, the group with the larger weights lost more
    of them, which biased the estimate where the outcome model is wrong),

        mean1 = mean(m1 + T w1 (Y - m1)),  mean0 = mean(m0 + (1-T) w0 (Y - m0)).

    The estimate is consistent if either the propensity model or the outcome
    model is right. Its variance is the influence-function variance
    sum_g (sum_{i in g} phi_i)^2 / n^2 times G/(G-1), the sums taken within
    clusters (*groups*; each patient its own cluster when None), with a t
    distribution on the effective number of clusters (:func:`effective_df`).

    Parameters
    ----------
    scale : {"difference", "odds_ratio"}
        ``odds_ratio`` (outcome 0/1): the population-average odds ratio
        mean1/(1-mean1) / (mean0/(1-mean0)), interval on the log scale.

    Returns
    -------
    dict
        ``estimate``, ``ci_low``, ``ci_high``, ``se`` (on the difference or
        log-odds scale), ``p``, ``mean1``, ``mean0``, ``regression`` (the
        outcome model's own standardised estimate, the mean of m1 - m0 or its
        odds ratio), ``df``, ``clusters``, ``truncated`` (share of weights
        truncated).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import aipw_means
    >>> rng = np.random.default_rng(0); x = rng.normal(size=400); e = 1 / (1 + np.exp(-x))
    >>> t = rng.random(400) < e; y = x + 1.0 * t + rng.normal(size=400)
    >>> res = aipw_means(y, t, e, x + 1.0, x, truncate=None)
    >>> round(res["estimate"], 2), res["ci_low"] < 1 < res["ci_high"]
    (1.13, True)
    """
    yv = np.asarray(y, dtype="float64")
    t = np.asarray(treated, dtype=bool)
    e = np.clip(np.asarray(propensity, dtype="float64"), 1e-12, 1 - 1e-12)
    m1 = np.asarray(mu1, dtype="float64")
    m0 = np.asarray(mu0, dtype="float64")
    n = len(yv)
    w = np.where(t, 1 / e, 1 / (1 - e))
    share = 0.0
    if truncate is not None:
        w, share = truncate_weights(w, percentiles=truncate, groups=t)
    a1 = m1 + np.where(t, w * (yv - m1), 0.0)
    a0 = m0 + np.where(t, 0.0, w * (yv - m0))
    mean1, mean0 = float(a1.mean()), float(a0.mean())
    if scale == "odds_ratio":
        c1 = np.clip(mean1, 1e-12, 1 - 1e-12)
        c0 = np.clip(mean0, 1e-12, 1 - 1e-12)
        est = np.log(c1 / (1 - c1)) - np.log(c0 / (1 - c0))
        phi = (a1 - mean1) / (c1 * (1 - c1)) - (a0 - mean0) / (c0 * (1 - c0))
        r1, r0 = np.clip(m1.mean(), 1e-12, 1 - 1e-12), np.clip(m0.mean(), 1e-12, 1 - 1e-12)
        regression = float((r1 / (1 - r1)) / (r0 / (1 - r0)))
    elif scale == "difference":
        est = mean1 - mean0
        phi = (a1 - mean1) - (a0 - mean0)
        regression = float(np.mean(m1 - m0))
    else:
        raise ValueError(f"scale must be 'difference' or 'odds_ratio', not '{scale}'")
    codes = np.arange(n) if groups is None else cluster_codes(groups)
    G = int(codes.max()) + 1 if n else 0
    sums = np.bincount(codes, weights=phi, minlength=G)
    var = float(np.sum(sums ** 2)) / n ** 2 * (G / (G - 1) if G > 1 else np.nan)
    se = np.sqrt(var)
    if groups is None:
        df = np.inf  # independent episodes: a normal interval, as the Wald intervals of the models
    elif G > 1:
        # each cluster's expected share of the variance is its weight mass (squared weights: residual
        # variance taken as constant), so that a comparison resting on few clusters gets about that many df
        df = float(effective_df(np.bincount(codes, weights=w ** 2, minlength=G)[:, None], G)[0])
    else:
        df = np.nan
    q = sps.t.ppf(0.5 + confidence / 2, df) if not np.isnan(df) else np.nan
    lo, hi = est - q * se, est + q * se
    p = float(2 * sps.t.sf(abs(est / se), df)) if se > 0 and not np.isnan(df) else np.nan
    if scale == "odds_ratio":
        with np.errstate(over="ignore"):
            est, lo, hi = float(np.exp(est)), float(np.exp(lo)), float(np.exp(hi))
    return {"estimate": float(est), "ci_low": float(lo), "ci_high": float(hi), "se": float(se), "p": p,
            "mean1": mean1, "mean0": mean0, "regression": regression, "df": df, "clusters": G,
            "truncated": share}
