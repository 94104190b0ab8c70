"""Models for episodes clustered within therapists (or clinics).

Patients of one therapist share that therapist's skill, habits and
caseload, so their outcomes are correlated (reported therapist intraclass
correlations for physiotherapy outcomes: 0.08-0.30). Treating the episodes
as independent then gives intervals that are too narrow, most of all when a
modality is offered mainly by a few therapists. Three methods, one per model
family, each chosen to keep about 95 % coverage with 10-30 clusters and to
fit a million episodes in seconds (``studies/clustering_study.py`` shows the
coverage; ``docs/methods.md`` carries its table):

- **Linear (leg pain)**: a linear mixed model with a random intercept per
  cluster, fitted by REML. The likelihood of a random-intercept model depends
  on the data only through X'X, X'y and per-cluster sums (episodes, column
  sums of the design, outcome sums), so each likelihood evaluation costs
  p x p work per cluster, not a pass over the data; a one-dimensional search
  over the variance ratio finds the REML estimate. Checked against
  statsmodels ``MixedLM`` (REML) in the tests. Wald intervals on a t
  distribution with Satterthwaite degrees of freedom.
- **Logistic (recovery)**: the ordinary logistic regression estimate (a
  population-averaged odds ratio; GEE with an independence working
  correlation) with the Mancl-DeRouen (2001) bias-reduced cluster-robust
  covariance and a t reference with the effective number of clusters as
  degrees of freedom (:func:`effective_df`: G - 1 when clusters share the
  information evenly, about K when a modality's comparison rests on K
  therapists). The
  per-cluster leverage correction is computed with the Woodbury identity
  from p x p matrices, so it never forms an n_g x n_g matrix.
- **Cox (surgery)**: the Lin-Wei robust sandwich summed by cluster, each
  cluster's score corrected for its leverage in the Mancl-DeRouen way
  (U*_g = I (I - I_g)^-1 U_g, from the cluster's share I_g of the
  information), and a t reference with the effective number of clusters as
  degrees of freedom, as for the logistic model.

Episodes without a cluster code (no therapist recorded) count as clusters of
their own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, sparse
from scipy import stats as sps

from ._cox import _cox_fit
from ._regression import ModelResult, _tidy, logistic_model

__all__ = ["cluster_codes", "clustered_cox_model", "clustered_logistic_model", "effective_df", "random_intercept_model"]


def cluster_codes(groups) -> np.ndarray:
    """Integer cluster codes 0..G-1; a missing code becomes a cluster of its own.

    Examples
    --------
    >>> from analysis.stats import cluster_codes
    >>> cluster_codes(["a", "b", None, "a", None]).tolist()
    [0, 1, 2, 0, 3]
    >>> cluster_codes([5, 7, -1, 5]).tolist()
    [0, 1, 2, 0]
    """
    arr = np.asarray(groups)
    if np.issubdtype(arr.dtype, np.integer):  # already codes (e.g. a categorical's): negative = missing
        codes = np.full(len(arr), -1, dtype="int64")
        ok = arr >= 0
        codes[ok] = pd.factorize(arr[ok])[0]
    else:
        codes, _ = pd.factorize(pd.Series(groups, dtype="str"))
        codes = np.asarray(codes, dtype="int64")
    miss = codes < 0
    if miss.any():
        start = codes.max() + 1 if (~miss).any() else 0
        codes[miss] = start + np.arange(int(miss.sum()))
    return codes


def _cluster_sums(values: np.ndarray, codes: np.ndarray, G: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per-cluster column sums of a 1-d or 2-d array (G rows), each row times its *weight* when given.

    The 2-d case is one pass over the rows: a cluster-by-row indicator (one entry per column, so built
    without sorting) times the array, adding each cluster's rows in row order as bincount does."""
    if values.ndim == 1:
        return np.bincount(codes, weights=values if weights is None else values * weights, minlength=G)
    n = len(codes)
    if not values.shape[1]:
        return np.zeros((G, 0))
    w = np.ones(n) if weights is None else np.asarray(weights, dtype="float64")
    indicator = sparse.csc_matrix((w, np.asarray(codes, dtype="int64"), np.arange(n + 1)), shape=(G, n))
    return np.asarray(indicator @ np.ascontiguousarray(values))


def _t_table(names, beta, cov, df: float, confidence: float) -> pd.DataFrame:
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        stat = beta / se
    df = np.broadcast_to(np.asarray(df, dtype="float64"), np.shape(beta))
    ok = np.isfinite(df) & (df > 0)
    safe = np.where(ok, df, 1.0)
    p = np.where(ok, 2 * sps.t.sf(np.abs(stat), safe), np.nan)
    q = np.where(ok, sps.t.ppf(1 - (1 - confidence) / 2, safe), np.nan)
    ci = np.column_stack([beta - q * se, beta + q * se])
    return _tidy(names, beta, se, stat, p, ci)


def effective_df(shares, G: int) -> np.ndarray:
    """Degrees of freedom for each coefficient's cluster-robust t test: the effective number of clusters.

    A cluster-robust variance is a sum over clusters. When a few clusters carry most of one
    coefficient's variance (a modality given by two therapists: its comparison rests on their
    patients), that sum behaves like a chi-square with about as many degrees of freedom as there are
    such clusters, not G - 1. Satterthwaite's approximation with each cluster's expected share
    lambda_g of the variance gives df = (sum lambda_g)^2 / sum lambda_g^2 (Bell & McCaffrey 2002;
    the "effective number of clusters" of Carter, Schnepel & Steigerwald 2017), kept within
    [1, G - 1]. With equal shares it is G; with one dominating cluster, 1.

    Parameters
    ----------
    shares : array of shape (G, k)
        Each cluster's expected contribution to each coefficient's variance.
    G : int
        Number of clusters.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import effective_df
    >>> effective_df(np.column_stack([np.ones(30), np.r_[10.0, 10.0, np.full(28, 0.01)]]), 30).round(1).tolist()
    [29.0, 2.1]
    """
    lam = np.clip(np.asarray(shares, dtype="float64"), 0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = lam.sum(axis=0) ** 2 / (lam ** 2).sum(axis=0)
    df = np.where(np.isfinite(df), df, G - 1.0)
    return np.clip(df, 1.0, max(G - 1.0, 1.0))


# ----------------------------------------------------------------- linear mixed model


def random_intercept_model(y, X, groups, *, names, confidence: float = 0.95, robust: bool = False) -> ModelResult:
    """Linear mixed model ``y = X b + u_cluster + e`` fitted by REML.

    Parameters
    ----------
    y : array-like
    X : array-like
        Design matrix, including the constant column.
    groups : array-like
        Cluster of each row (missing = a cluster of its own).
    names : list of str, keyword-only
    confidence : float, keyword-only
    robust : bool, keyword-only
        Cluster-robust covariance around the REML estimate instead of the
        model's own: the Mancl-DeRouen bias-reduced sandwich
        B^-1 (sum_g U*_g U*_g') B^-1 with B = X'V^-1X, U_g = X_g'V_g^-1 r_g and
        U*_g = B (B - B_g)^-1 U_g, and t intervals on the effective number of
        clusters (:func:`effective_df`). It holds when the random-intercept
        model does not: when therapists differ in how well they deliver a
        modality (therapist x modality variation), which the model's
        covariance ignores.

    Returns
    -------
    ModelResult
        Fixed effects with Wald intervals on a t distribution with
        Satterthwaite degrees of freedom per coefficient (n - p when the
        between-cluster variance is estimated as zero; the effective number
        of clusters when *robust*);
        ``extra`` holds ``tau2`` (between-cluster variance),
        ``sigma2`` (residual variance), ``icc`` and ``clusters``.

    Notes
    -----
    With V_g = sigma2 (I + lambda 11'), V_g^-1 = (I - gamma_g 11') / sigma2 with
    gamma_g = lambda / (1 + n_g lambda), so X'V^-1X, X'V^-1y and y'V^-1y need
    only X'X, X'y, y'y and per-cluster sums. sigma2 is profiled out of the
    restricted likelihood and lambda = tau2 / sigma2 is found by a bounded
    one-dimensional search (lambda = 0 is checked too).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import random_intercept_model
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(30), 20)
    >>> x = rng.normal(size=600)
    >>> y = 1 + 0.5 * x + rng.normal(size=30)[g] + rng.normal(size=600)
    >>> res = random_intercept_model(y, np.column_stack([np.ones(600), x]), g, names=["const", "x"])
    >>> round(float(res.table["coef"].iloc[1]), 2), round(res.extra["icc"], 1)
    (0.52, 0.5)
    """
    yv = np.asarray(y, dtype="float64")
    Xv = np.asarray(X, dtype="float64")
    n, k = Xv.shape
    codes = cluster_codes(groups)
    G = int(codes.max()) + 1 if n else 0
    ng = np.bincount(codes, minlength=G).astype("float64")
    S = _cluster_sums(Xv, codes, G)          # G x k column sums
    t = _cluster_sums(yv, codes, G)          # G outcome sums
    xtx, xty, yty = Xv.T @ Xv, Xv.T @ yv, float(yv @ yv)
    dfr = n - k
    if dfr <= 0:
        raise ValueError(f"{n} observations cannot fit {k} parameters and a variance: not estimable")

    def pieces(lam):
        gam = lam / (1 + ng * lam)
        A = xtx - (S.T * gam) @ S
        b = xty - S.T @ (gam * t)
        yvy = yty - float(gam @ (t * t))
        beta = np.linalg.solve(A, b)
        rss = yvy - float(b @ beta)
        return A, beta, max(rss, 1e-300)

    def objective(loglam):
        lam = float(np.exp(loglam)) if loglam is not None else 0.0
        try:
            A, _, rss = pieces(lam)
            sign, logdet = np.linalg.slogdet(A)
        except np.linalg.LinAlgError:
            return np.inf
        if sign <= 0:
            return np.inf
        return dfr * np.log(rss / dfr) + float(np.log1p(ng * lam).sum()) + logdet

    best_lam, best = 0.0, objective(None)
    if G > 1 and G < n:
        opt = optimize.minimize_scalar(objective, bounds=(-18.0, 8.0), method="bounded",
                                       options={"xatol": 1e-7})
        if opt.success and opt.fun < best:
            best_lam, best = float(np.exp(opt.x)), float(opt.fun)
    A, beta, rss = pieces(best_lam)
    sigma2 = rss / dfr
    cov = sigma2 * np.linalg.inv(A)
    tau2 = best_lam * sigma2
    if robust:
        cov, df = _robust_gls(Xv, yv, codes, G, ng, S, best_lam, A, beta)
    else:
        df = _satterthwaite_df(pieces, ng, k, n, sigma2, tau2) if best_lam > 1e-7 else np.full(k, float(dfr))
    tab = _t_table(names, beta, cov, df, confidence)
    res = ModelResult(tab, float(-0.5 * best), bool(np.isfinite(best)), n)
    res.extra = {"tau2": tau2, "sigma2": sigma2, "icc": tau2 / (tau2 + sigma2), "clusters": G, "df": df}
    return res


def _robust_gls(Xv, yv, codes, G, ng, S, lam, A, beta) -> tuple[np.ndarray, np.ndarray]:
    """Bias-reduced cluster-robust covariance of the random-intercept (GLS) estimate, and its df.

    On the sigma2 = 1 scale (it cancels): V_g^-1 = I - gamma_g 11', B = A, the cluster's score
    U_g = X_g' r_g - gamma_g s_g (1' r_g) and its information B_g = X_g'X_g - gamma_g s_g s_g'
    (s_g the cluster's column sums), so one pass gives the scores and one k x k product per
    cluster the corrections; singletons use the rank-one form U*_g = U_g / (1 - h_g).
    """
    k = Xv.shape[1]
    gam = lam / (1 + ng * lam)
    r = yv - Xv @ beta
    U = _cluster_sums(Xv, codes, G, weights=r) - (gam * np.bincount(codes, weights=r, minlength=G))[:, None] * S
    Ainv = np.linalg.inv(A)
    Ustar = U.copy()
    shares = np.zeros((G, k))
    single_rows = np.flatnonzero(ng[codes] == 1)
    if len(single_rows):
        cs = codes[single_rows]
        xs = Xv[single_rows]
        b = 1 - gam[cs]
        xa = xs @ Ainv
        h = np.clip(b * np.einsum("ij,ij->i", xa, xs), 0, 1 - 1e-8)
        Ustar[cs] = U[cs] / (1 - h)[:, None]
        shares[cs] = b[:, None] * (xa / (1 - h)[:, None]) ** 2
    multi = np.flatnonzero(ng > 1)
    if len(multi):
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(G + 1))
        for g in multi:  # each cluster's rows taken in turn (no sorted copy of the whole design)
            Xg = Xv[order[bounds[g]:bounds[g + 1]]]
            Bg = Xg.T @ Xg - gam[g] * np.outer(S[g], S[g])
            P = np.linalg.pinv(A - Bg)
            Ustar[g] = A @ (P @ U[g])
            shares[g] = np.einsum("ij,jk,ki->i", P, Bg, P)
    cov = Ainv @ (Ustar.T @ Ustar) @ Ainv
    return cov, effective_df(shares, G)


def _satterthwaite_df(pieces, ng, k, n, sigma2, tau2) -> np.ndarray:
    """Satterthwaite degrees of freedom for each fixed effect of the random-intercept model.

    df_j = 2 V_j^2 / (g_j' C g_j), with V_j = var(b_j) as a function of
    (sigma2, tau2), g_j its gradient and C the inverse of the negative
    Hessian of the restricted log-likelihood (both by central differences).
    Between-cluster contrasts get about G - 1, within-cluster ones nearly n - p.
    """
    def reml(theta):
        s2, t2 = theta
        if s2 <= 0 or t2 < 0:
            return -np.inf
        lam = t2 / s2
        A, _, rss = pieces(lam)
        _, logdet = np.linalg.slogdet(A)
        return -0.5 * ((n - k) * np.log(s2) + float(np.log1p(ng * lam).sum()) + logdet + rss / s2)

    def variances(theta):
        s2, t2 = theta
        A, _, _ = pieces(t2 / s2)
        return s2 * np.diag(np.linalg.inv(A))

    theta = np.array([sigma2, tau2])
    h = np.array([sigma2, tau2]) * 1e-3
    H = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h[i], np.eye(2)[j] * h[j]
            H[i, j] = (reml(theta + ei + ej) - reml(theta + ei - ej) - reml(theta - ei + ej)
                       + reml(theta - ei - ej)) / (4 * h[i] * h[j])
    try:
        C = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        return np.full(k, float(n - k))
    grads = np.column_stack([(variances(theta + np.eye(2)[i] * h[i]) - variances(theta - np.eye(2)[i] * h[i]))
                             / (2 * h[i]) for i in range(2)])
    V = variances(theta)
    denom = np.einsum("ji,ik,jk->j", grads, C, grads)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = 2 * V**2 / denom
    return np.clip(np.where(np.isfinite(df) & (df > 0), df, n - k), 1.0, float(n - k))


# ----------------------------------------------------------------- logistic, Mancl-DeRouen


def clustered_logistic_model(y, X, groups, *, names, confidence: float = 0.95) -> ModelResult:
    """Logistic regression with the Mancl-DeRouen bias-reduced cluster-robust covariance.

    The point estimates are those of :func:`analysis.stats.logistic_model`
    (population-averaged odds ratios). The covariance is
    M^-1 (sum_g U*_g U*_g') M^-1 with M = X'WX and
    U*_g = X_g' (I - H_gg)^-1 r_g, H_gg = W_g X_g M^-1 X_g' (Mancl & DeRouen
    2001); by the Woodbury identity U*_g = (I + M_g (M - M_g)^-1) X_g' r_g with
    M_g = X_g' W_g X_g, so only p x p matrices are formed. Intervals and p
    values use a t distribution with each coefficient's effective number of
    clusters as degrees of freedom (:func:`effective_df`, from each cluster's
    expected share e_j' (M - M_g)^-1 M_g (M - M_g)^-1 e_j of the variance).

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import clustered_logistic_model
    >>> rng = np.random.default_rng(2)
    >>> g = np.repeat(np.arange(20), 50); x = rng.normal(size=1000)
    >>> y = (rng.random(1000) < 1 / (1 + np.exp(-(x + rng.normal(scale=.5, size=20)[g])))).astype(float)
    >>> res = clustered_logistic_model(y, np.column_stack([np.ones(1000), x]), g, names=["const", "x"])
    >>> res.extra["clusters"], bool(res.table["se"].iloc[1] > 0)
    (20, True)
    """
    base = logistic_model(y, X, names=names, confidence=confidence)
    yv = np.asarray(y, dtype="float64")
    Xv = np.asarray(X, dtype="float64")
    beta = base.table["coef"].to_numpy()
    eta = np.clip(Xv @ beta, -35, 35)
    p = 1 / (1 + np.exp(-eta))
    w = p * (1 - p)
    r = yv - p
    M = (Xv * w[:, None]).T @ Xv
    Minv = np.linalg.pinv(M)
    codes = cluster_codes(groups)
    G = int(codes.max()) + 1
    U = _cluster_sums(Xv, codes, G, weights=r)      # G x k raw scores
    sizes = np.bincount(codes, minlength=G)
    Ustar = U.copy()
    k = Xv.shape[1]
    lam = np.zeros((G, k))  # each cluster's expected share of each coefficient's variance (for the df)
    # singletons: rank-one leverage, U* = x r / (1 - w h)
    single = sizes[codes] == 1
    if single.any():
        xs = Xv[single]
        h = np.einsum("ij,jk,ik->i", xs, Minv, xs) * w[single]
        Ustar[codes[single]] = xs * (r[single] / np.clip(1 - h, 1e-8, None))[:, None]
        lam[codes[single]] = (xs @ Minv) ** 2 * (w[single] / np.clip(1 - h, 1e-8, None) ** 2)[:, None]
    multi = np.flatnonzero(sizes > 1)
    if len(multi):
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(G + 1))
        for gi in multi:  # each cluster's rows taken in turn (no sorted copy of the whole design)
            rows = order[bounds[gi]:bounds[gi + 1]]
            Xg = Xv[rows]
            Mg = (Xg * w[rows, None]).T @ Xg
            P = np.linalg.pinv(M - Mg)
            Ustar[gi] = U[gi] + Mg @ (P @ U[gi])
            lam[gi] = np.einsum("ij,jk,ki->i", P, Mg, P)
    meat = Ustar.T @ Ustar
    cov = Minv @ meat @ Minv
    df = effective_df(lam, G)
    tab = _t_table(names, beta, cov, df, confidence)
    res = ModelResult(tab, base.loglike, base.converged, base.n, base.events)
    res.extra = {"clusters": G, "df": df}
    return res


# ----------------------------------------------------------------- Cox, robust by cluster


def clustered_cox_model(time, event, X, groups, *, names, strata=None, confidence: float = 0.95) -> ModelResult:
    """Cox model (Efron ties) with a bias-reduced robust covariance by cluster.

    The Lin-Wei robust sandwich I^-1 (sum_g U_g U_g') I^-1 summed by cluster,
    with each cluster's score U_g (Breslow-form score residuals at the Efron
    estimate) inflated for its own leverage as Mancl and DeRouen do for GEE:
    U*_g = I (I - I_g)^-1 U_g, I_g being the cluster's share of the
    information. Clusters of one episode are left uncorrected (their leverage
    is negligible). Intervals and p values use a t distribution with each
    coefficient's effective number of clusters as degrees of freedom
    (:func:`effective_df`).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.stats import clustered_cox_model
    >>> d = pd.read_csv("tests/data/rossi.csv")
    >>> res = clustered_cox_model(d["week"], d["arrest"], d[["fin", "age"]], d.index % 20, names=["fin", "age"])
    >>> res.extra["clusters"]
    20
    """
    base, index, parts, hess = _cox_fit(time, event, X, names=names, strata=strata, confidence=confidence)
    beta = base.table["coef"].to_numpy()
    Xv = np.asarray(X, dtype="float64")
    if index is None:
        index = [np.arange(len(Xv))]
    codes = cluster_codes(groups)
    G = int(codes.max()) + 1
    sizes = np.bincount(codes, minlength=G)
    multi = np.flatnonzero(sizes > 1)
    k = Xv.shape[1]
    resid = np.zeros_like(Xv)
    info = -hess  # of the whole partial likelihood (all strata) at the estimate
    info_g = np.zeros((len(multi), k, k))
    slot = {g: i for i, g in enumerate(multi)}
    for idx, data in zip(index, parts):  # each stratum's risk sets, as built for the fit
        resid[idx[data.order]] = data.score_residuals(beta)
        sub = codes[idx]
        present = np.intersect1d(np.unique(sub), multi)
        for g, ig in data.cluster_information(beta, sub, G, present).items():
            info_g[slot[g]] += ig
    U = _cluster_sums(resid, codes, G)
    Ustar = U.copy()
    Iinv = np.linalg.pinv(info)
    # singletons' shares of the variance from their own scores (their information is not split out)
    lam = (U @ Iinv) ** 2
    for i, g in enumerate(multi):
        P = np.linalg.pinv(info - info_g[i])
        Ustar[g] = info @ (P @ U[g])
        lam[g] = np.einsum("ij,jk,ki->i", P, info_g[i], P)
    cov = Iinv @ (Ustar.T @ Ustar) @ Iinv
    df = effective_df(lam, G)
    tab = _t_table(names, beta, cov, df, confidence)
    res = ModelResult(tab, base.loglike, base.converged, base.n, base.events)
    res.extra = {"clusters": G, "df": df}
    return res
