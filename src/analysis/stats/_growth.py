"""Growth-curve mixed model of repeated measurements, fitted from per-unit sufficient statistics.

The model for measurement j of unit i (an episode's visits) is

    y_ij = x_i'beta + b(t_ij)'gamma_{g(i)} + u_0i + u_1i t_ij + e_ij,

with x_i the unit's covariates (constant, group and case-mix columns), b(t) a time basis without a
constant (a natural spline: :func:`natural_spline_basis`), one time curve gamma per group g(i) (the
group x time interaction), a random intercept and slope (u_0i, u_1i) ~ N(0, D) per unit and
independent errors of variance sigma2. It is fitted by REML (as ``lme4::lmer`` and statsmodels
``MixedLM`` do by default).

Why sufficient statistics: with Z_i = [1, t_ij] and D = sigma2 L L', Woodbury's identity gives
V_i^-1 = (I - Z_i L M_i^-1 L'Z_i') / sigma2 with the 2 x 2 matrix M_i = I + L'Z_i'Z_i L, so
X'V^-1X, X'V^-1y, y'V^-1y and log|V| need only X'X, X'y, y'y (once) and, per unit, its number of
measurements, the sums of t, t^2, y, t y and of the basis and t x basis: a few numbers per unit.
Each likelihood evaluation is then a pass over units, not over measurements, and over the distinct
covariate rows for the p x p products, so a million episodes with 6.7 million visits fit in
seconds where statsmodels ``MixedLM`` takes minutes.

Covariance: the model's own (sigma2 (X'V^-1X)^-1), or, with *groups*, the cluster-robust sandwich
around the same estimate (scores X_i'V_i^-1 r_i summed within clusters, each cluster's sum bias-reduced
as if the cluster were left out, U*_g = A (A - A_g)^-1 U_g: Mancl and DeRouen 2001, the CR3 of the
single-site models), which holds when clusters (therapists) differ in more than the model says; t references on the
effective number of clusters for each contrast (:func:`analysis.stats.effective_df`).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy import stats as sps

from ._clustered import cluster_codes, effective_df

__all__ = ["GrowthModel", "VARIANCE_SAMPLE", "growth_curve_model", "natural_spline_basis"]


def natural_spline_basis(x, knots) -> np.ndarray:
    """Natural (restricted) cubic spline basis in *x*: linear beyond the outer knots, no constant column.

    The truncated-power form of Hastie, Tibshirani & Friedman (2009, eq. 5.4-5.5): x and, for
    k = 1 .. K-2, d_k(x) - d_{K-1}(x) with d_k(x) = ((x - xi_k)_+^3 - (x - xi_K)_+^3) / (xi_K - xi_k),
    here divided by (xi_K - xi_1)^2 so that all columns are on the scale of x. It spans the same
    functions as R's ``splines::ns`` with the same knots (inner and boundary).

    Parameters
    ----------
    x : array-like
    knots : sequence of float
        At least 3 increasing knots (the first and last are the boundary knots).

    Returns
    -------
    numpy.ndarray of shape (len(x), len(knots) - 1)

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import natural_spline_basis
    >>> B = natural_spline_basis(np.array([0.0, 10, 50, 100, 200]), [0, 20, 60, 100])
    >>> B.shape, bool(np.allclose(np.diff(B[3:], axis=0)[0] / 100, np.diff(B[2:4], axis=0)[0] / 50) is False)
    ((5, 3), True)
    """
    xv = np.asarray(x, dtype="float64")
    k = np.asarray(knots, dtype="float64")
    if k.ndim != 1 or len(k) < 3 or np.any(np.diff(k) <= 0):
        raise ValueError("a natural spline needs at least 3 increasing knots")
    scale = (k[-1] - k[0]) ** 2

    def d(j):
        return (np.clip(xv - k[j], 0, None) ** 3 - np.clip(xv - k[-1], 0, None) ** 3) / (k[-1] - k[j])

    last = d(len(k) - 2)
    cols = [xv] + [(d(j) - last) / scale for j in range(len(k) - 2)]
    return np.column_stack(cols)


def _quad(det, m11, m12, m22, p1, p2, q1, q2):
    """p' M^-1 q per unit, for 2 x 2 matrices M = [[m11, m12], [m12, m22]] with determinant *det*.

    Per-unit quantities are 1-d (units) or 2-d (columns x units: blocks are kept column by row so
    that each column is contiguous)."""
    return (m22 * p1 * q1 - m12 * (p1 * q2 + p2 * q1) + m11 * p2 * q2) / det


def _quad_at(s: dict, p1, p2, q1, q2):
    """:func:`_quad` with the units' matrices of a fit at its variance parameters (*s*, from ``pieces``)."""
    return _quad(s["det"], s["m11"], s["m12"], s["m22"], p1, p2, q1, q2)


#: Above this many units the variance parameters are estimated on a random sample of this many units
#: (the fixed effects and their covariance always use every unit).
VARIANCE_SAMPLE = 50_000
#: Above twice this many units the search starts from a fit on this many.
_START_SAMPLE = 10_000


class GrowthModel:
    """A fitted :func:`growth_curve_model`: coefficients, covariances and linear contrasts.

    Attributes
    ----------
    beta : numpy.ndarray
        Fixed effects: the unit covariates' coefficients, then one block of basis coefficients per group.
    names : list of str
    cov : numpy.ndarray
        Covariance of *beta* used for inference (cluster-robust when fitted with *groups*).
    cov_model : numpy.ndarray
        The model's own covariance, sigma2 (X'V^-1X)^-1.
    sigma2 : float
        Residual variance.
    re_cov : numpy.ndarray
        2 x 2 covariance of the random intercept and slope (on the scale of the time given).
    converged : bool
    units, measurements, clusters : int
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def design_row(self, x_unit, group: int, basis_row) -> np.ndarray:
        """The fixed-effect design row of a measurement: unit covariates, then the group's basis block."""
        row = np.zeros(len(self.beta))
        q, k = self._q, self._k
        row[:q] = x_unit
        row[q + group * k:q + (group + 1) * k] = basis_row
        return row

    def contrast(self, L, *, confidence: float = 0.95) -> dict:
        """Estimate, standard error, degrees of freedom, interval and p-value of the contrast L'beta.

        With clusters the degrees of freedom are the contrast's effective number of clusters (each
        cluster's share l'A^-1 B_g A^-1 l of its variance, B_g the cluster's information); without,
        the units less the parameters.
        """
        return self.contrasts(np.atleast_2d(L), confidence=confidence)[0]

    def contrasts(self, L, *, confidence: float = 0.95) -> list[dict]:
        """:meth:`contrast` for each row of *L* (one pass over the units for all of them)."""
        Lm = np.atleast_2d(np.asarray(L, dtype="float64"))
        est = Lm @ self.beta
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", Lm, self.cov, Lm), 0, None))
        df = self._contrast_dfs(Lm)
        q = sps.t.ppf(1 - (1 - confidence) / 2, df)
        out = []
        for e, s_, d, qq in zip(est, se, df, q):
            with np.errstate(divide="ignore", invalid="ignore"):
                p = float(2 * sps.t.sf(abs(e / s_), d)) if s_ > 0 else np.nan
            out.append({"estimate": float(e), "se": float(s_), "df": float(d), "ci_low": float(e - qq * s_),
                        "ci_high": float(e + qq * s_), "p": p})
        return out

    def _unit_information(self):
        """Per unit, the pieces of x_ij'V_i^-1 x_ij-type quadratic forms (sigma2 = 1), computed once.

        For a contrast with A^-1 l = v, unit i's share is c_i^2 a0_i + 2 c_i b0_i'g + g'H_i g with
        c_i = x_i'v (its covariates) and g its group's basis coefficients in v.
        """
        if self._info is None:
            a0, b0, H = self._pieces
            h = int(self._by.max()) + 1
            cells = self._codes * h + self._by
            # the g'H g term only needs H summed within (cluster, group) cells
            Hc = np.vstack([np.bincount(cells, weights=H[c], minlength=self.clusters * h) for c in range(len(H))])
            self._info = (a0, b0, Hc.reshape(len(H), self.clusters, h))
        return self._info

    def _contrast_dfs(self, Lm) -> np.ndarray:
        if self._codes is None:
            return np.full(len(Lm), float(max(self.units - len(self.beta), 1)))
        a0, b0, Hc = self._unit_information()
        q, k = self._q, self._k
        h = Hc.shape[2]
        iu = np.triu_indices(k)
        wgt = np.where(iu[0] == iu[1], 1.0, 2.0)
        out = np.empty(len(Lm))
        for lo in range(0, len(Lm), 12):  # a dozen contrasts at a time: units x 12 arrays
            V = self._Ainv @ Lm[lo:lo + 12].T                     # p x c
            c = self._X @ V[:q]                                   # units x c
            gam = V[q:].reshape(h, k, -1)                         # group x basis x contrast
            bg = np.zeros_like(c)
            for j in range(k):
                bg += b0[j][:, None] * gam[self._by, j, :]
            unit_share = c * (c * a0[:, None] + 2 * bg)
            shares = np.column_stack([np.bincount(self._codes, weights=unit_share[:, m], minlength=self.clusters)
                                      for m in range(unit_share.shape[1])])
            pair = gam[:, iu[0], :] * gam[:, iu[1], :] * wgt[None, :, None]   # group x 6 x c
            shares += np.einsum("pgh,hpc->gc", Hc, pair)
            out[lo:lo + 12] = effective_df(shares, self.clusters)
        return out


def _unit_pieces(s, sums, k):
    """Per unit, the pieces of its information X_i'V_i^-1 X_i (sigma2 = 1): a0 (covariate block weight),
    b0 (k x N, covariate x basis) and H (the k x k basis block's upper triangle, pairs x N)."""
    nI, SB, SBB = sums
    u1, u2, R1, R2 = s["u1"], s["u2"], s["R1"], s["R2"]
    a0 = nI - _quad_at(s, u1, u2, u1, u2)
    b0 = SB - _quad_at(s, u1, u2, R1, R2)
    iu = np.triu_indices(k)
    H = np.vstack([SBB[c] - _quad_at(s, R1[i], R2[i], R1[j], R2[j]) for c, (i, j) in enumerate(zip(*iu))])
    return a0, b0, H


def _times_unit_information(v, units, Xv, byv, pieces, *, q, k):
    """Row m of the result: A_i v_m for unit i = units[m] (A_i its information), without forming A_i."""
    a0, b0, H = pieces
    X = Xv[units]
    c = np.einsum("ij,ij->i", X, v[:, :q])
    cols = q + byv[units][:, None] * k + np.arange(k)            # m x k: the unit's basis columns
    gam = np.take_along_axis(v, cols, axis=1)
    bu = b0[:, units].T
    iu = np.triu_indices(k)
    Hm = np.zeros((len(units), k, k))
    Hm[:, iu[0], iu[1]] = H[:, units].T
    Hm[:, iu[1], iu[0]] = H[:, units].T
    out = np.zeros_like(v)
    out[:, :q] = X * (a0[units] * c + np.einsum("ij,ij->i", bu, gam))[:, None]
    np.put_along_axis(out, cols, bu * c[:, None] + np.einsum("mij,mj->mi", Hm, gam), axis=1)
    return out


def _cluster_information(Xv, byv, idx, pieces, *, q, k):
    """A_g = sum over the cluster's units of X_i'V_i^-1 X_i (sigma2 = 1), p x p."""
    a0, b0, H = pieces
    h = int(byv.max()) + 1
    p = q + h * k
    iu = np.triu_indices(k)
    Ag = np.zeros((p, p))
    Xg, bg = Xv[idx], byv[idx]
    Ag[:q, :q] = Xg.T @ (Xg * a0[idx, None])
    for grp in np.unique(bg):
        sel = idx[bg == grp]
        cols = slice(q + grp * k, q + (grp + 1) * k)
        cross = Xv[sel].T @ b0[:, sel].T                        # q x k
        Ag[:q, cols] = cross
        Ag[cols, :q] = cross.T
        blk = np.zeros((k, k))
        blk[iu] = H[:, sel].sum(axis=1)
        Ag[cols, cols] = blk + np.triu(blk, 1).T
    return Ag


def _bias_reduced_scores(U, A, Ainv, Xv, byv, codes, pieces, *, q, k):
    """U*_g = A (A - A_g)^-1 U_g = (I - A_g A^-1)^-1 U_g for every cluster (Mancl-DeRouen, CR3).

    A cluster of one unit (an episode without a therapist code) has a tiny leverage on a large data
    set: its U* is the series U + A_g A^-1 U + ..., summed for all such clusters at once until it no
    longer moves. Larger clusters (therapists), and any unit whose series does not settle, are solved
    one by one (pseudo-inverse: a modality given only in that cluster makes A - A_g singular).
    """
    G = len(U)
    sizes = np.bincount(codes, minlength=G)
    Ustar = U.copy()
    solve_each = list(np.flatnonzero(sizes > 1))
    single = np.flatnonzero(sizes == 1)
    if len(single):
        unit_of = np.empty(G, dtype="int64")
        unit_of[codes] = np.arange(len(codes))
        units = unit_of[single]
        u = U[single]
        w = u.copy()
        for _ in range(60):
            new = u + _times_unit_information(w @ Ainv, units, Xv, byv, pieces, q=q, k=k)
            moved = np.abs(new - w).max(axis=1) > 1e-13 * (1 + np.abs(new).max(axis=1))
            w = new
            if not moved.any():
                break
        ok = np.isfinite(w).all(axis=1) & ~moved
        Ustar[single[ok]] = w[ok]
        solve_each += list(single[~ok])
    if solve_each:
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(G + 1))
        for gi in solve_each:
            Ag = _cluster_information(Xv, byv, order[bounds[gi]:bounds[gi + 1]], pieces, q=q, k=k)
            Ustar[gi] = A @ (np.linalg.pinv(A - Ag) @ U[gi])
    return Ustar


def growth_curve_model(y, unit, time, basis, X, by, *, groups=None, names=None, start=None, theta=None,
                       variance_sample: int | None = VARIANCE_SAMPLE, confidence: float = 0.95,
                       _tscale: float | None = None) -> GrowthModel:
    """Fit the growth-curve mixed model described in this module (REML).

    Parameters
    ----------
    y, unit, time : array-like, one entry per measurement
        Outcome (no missing values), the unit's number 0 .. N-1, and the time of the measurement
        (the random slope's variable).
    basis : array of shape (measurements, k)
        Time basis of the mean curve, without a constant (e.g. :func:`natural_spline_basis`).
    X : array of shape (N, q)
        The units' covariates, with the constant column; each unit's group effect at the first
        basis value is in here (group dummies).
    by : array of N integer codes 0 .. h-1
        Each unit's group: every group has its own time curve (basis coefficients).
    groups : array of N cluster codes, optional, keyword-only
        Clusters of units (therapists) for the cluster-robust covariance; None: the model's own.
    names : list of str, optional, keyword-only
        Names of X's columns (the basis coefficients are named ``group{g}:basis{j}``).
    start : sequence of 3 floats, optional, keyword-only
        Starting values of the variance parameters (the log of L's diagonal and its lower corner,
        D = sigma2 L L' on the internal time scale).
    theta : sequence of 3 floats, optional, keyword-only
        Variance parameters held fixed (no search): the fixed effects are then GLS at them.
    variance_sample : int or None, keyword-only
        With more units than this, the variance parameters are estimated by REML on a random
        sample of this many units (seeded, so the same data give the same fit), and the fixed
        effects and their covariance by GLS on all units at those values. A million units'
        variance components are known to about a percent from 50,000 (the fixed effects
        depend on them only through their weights). None: always all units.

    Returns
    -------
    GrowthModel

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.stats import growth_curve_model, natural_spline_basis
    >>> rng = np.random.default_rng(3)
    >>> N = 300
    >>> unit = np.repeat(np.arange(N), 5)
    >>> t = np.tile([0.0, 1, 2, 4, 8], N)
    >>> by = rng.integers(0, 2, N)
    >>> y = 6 - 0.4 * t * (1 + by[unit]) + rng.normal(0, 1, N)[unit] + rng.normal(0, 0.2, N)[unit] * t \\
    ...     + rng.normal(0, 1, len(t))
    >>> X = np.column_stack([np.ones(N), by])
    >>> fit = growth_curve_model(y, unit, t, natural_spline_basis(t, [0, 2, 8]), X, by)
    >>> bool(abs(fit.contrast(fit.design_row([1, 1], 1, natural_spline_basis([4.0], [0, 2, 8])[0])
    ...      - fit.design_row([1, 0], 0, natural_spline_basis([4.0], [0, 2, 8])[0]))["estimate"] + 1.6) < 0.3)
    True
    """
    yv = np.asarray(y, dtype="float64")
    uv = np.asarray(unit, dtype="int64")
    tv = np.asarray(time, dtype="float64")
    Bv = np.asarray(basis, dtype="float64")
    if Bv.ndim == 1:
        Bv = Bv[:, None]
    Xv = np.asarray(X, dtype="float64")
    byv = np.asarray(by, dtype="int64")
    N, q = Xv.shape
    k = Bv.shape[1]
    h = int(byv.max()) + 1 if N else 0
    n = len(yv)
    p = q + h * k
    if n - p <= 0 or N < 3:
        raise ValueError(f"{n} measurements of {N} units cannot fit {p} parameters and the variances: not estimable")
    # time on a unit scale for the optimiser; the random-effects covariance is put back on the caller's scale
    tscale = _tscale or float(np.quantile(np.abs(tv), 0.95) if len(tv) else 0.0) or 1.0
    ts = tv / tscale

    # ------------------------------------------------ sufficient statistics (one pass over measurements)
    def per_unit(w):
        return np.bincount(uv, weights=w, minlength=N)

    nI = np.bincount(uv, minlength=N).astype("float64")
    St, Stt = per_unit(ts), per_unit(ts * ts)
    Sy, Sty = per_unit(yv), per_unit(ts * yv)
    SB = np.vstack([per_unit(Bv[:, j]) for j in range(k)])          # k x N (each column contiguous)
    StB = np.vstack([per_unit(ts * Bv[:, j]) for j in range(k)])
    iu = np.triu_indices(k)
    SBB = np.vstack([per_unit(Bv[:, i] * Bv[:, j]) for i, j in zip(*iu)])
    gm = byv[uv]  # each measurement's group
    # distinct covariate rows: the p x p products run over them, not over units
    hkey = Xv @ np.random.default_rng(12345).uniform(1, 2, q) + byv * np.pi
    _, first, pat = np.unique(hkey, return_index=True, return_inverse=True)
    pat = pat.ravel()
    Xp, bp = Xv[first], byv[first]
    if not (np.array_equal(Xp[pat], Xv) and np.array_equal(bp[pat], byv)):  # a hash collision: no compression
        Xp, bp, pat = Xv, byv, np.arange(N)
    P = len(Xp)
    onep = np.eye(h)[bp]                           # P x h

    def per_pat(w):
        return np.bincount(pat, weights=w, minlength=P)

    # X'X, X'y, y'y
    XtX = np.zeros((p, p))
    XtX[:q, :q] = Xp.T @ (Xp * per_pat(nI)[:, None])
    CB = Xp.T @ (onep[:, :, None] * np.column_stack([per_pat(SB[j]) for j in range(k)])[:, None, :]).reshape(P, h * k)
    XtX[:q, q:] = CB
    XtX[q:, :q] = CB.T
    for g in range(h):
        sel = gm == g
        Bg = Bv[sel]
        XtX[q + g * k:q + (g + 1) * k, q + g * k:q + (g + 1) * k] = Bg.T @ Bg
    Xty = np.zeros(p)
    Xty[:q] = Xp.T @ per_pat(Sy)
    Xty[q:] = np.column_stack([np.bincount(gm, weights=Bv[:, j] * yv, minlength=h) for j in range(k)]).ravel()
    yty = float(yv @ yv)
    dfr = n - p

    def pieces(theta, *, keep=False):
        l11, l21, l22 = float(np.exp(theta[0])), float(theta[1]), float(np.exp(theta[2]))
        T11 = nI * l11 ** 2 + 2 * St * l11 * l21 + Stt * l21 ** 2
        T12 = l22 * (St * l11 + Stt * l21)
        T22 = Stt * l22 ** 2
        m11, m12, m22 = 1 + T11, T12, 1 + T22
        det = m11 * m22 - m12 * m12
        u1, u2 = l11 * nI + l21 * St, l22 * St
        R1, R2 = l11 * SB + l21 * StB, l22 * StB           # k x N
        w1, w2 = l11 * Sy + l21 * Sty, l22 * Sty
        a = _quad(det, m11, m12, m22, u1, u2, u1, u2)
        b = _quad(det, m11, m12, m22, u1, u2, R1, R2)      # k x N
        A = XtX.copy()
        A[:q, :q] -= Xp.T @ (Xp * per_pat(a)[:, None])
        bpat = np.column_stack([per_pat(b[j]) for j in range(k)])
        cb = Xp.T @ (onep[:, :, None] * bpat[:, None, :]).reshape(P, h * k)
        A[:q, q:] -= cb
        A[q:, :q] -= cb.T
        for (i, j) in zip(*iu):
            qij = _quad(det, m11, m12, m22, R1[i], R2[i], R1[j], R2[j])
            s_g = np.bincount(byv, weights=qij, minlength=h)
            for g in range(h):
                A[q + g * k + i, q + g * k + j] -= s_g[g]
                if i != j:
                    A[q + g * k + j, q + g * k + i] -= s_g[g]
        bvec = Xty.copy()
        bvec[:q] -= Xp.T @ per_pat(_quad(det, m11, m12, m22, u1, u2, w1, w2))
        rw = _quad(det, m11, m12, m22, R1, R2, w1, w2)     # k x N
        bvec[q:] -= np.column_stack([np.bincount(byv, weights=rw[j], minlength=h) for j in range(k)]).ravel()
        yvy = yty - float(_quad(det, m11, m12, m22, w1, w2, w1, w2).sum())
        beta = np.linalg.solve(A, bvec)
        rss = max(yvy - float(bvec @ beta), 1e-300)
        extra = ({"l11": l11, "l21": l21, "l22": l22, "det": det, "m11": m11, "m12": m12, "m22": m22,
                  "u1": u1, "u2": u2, "R1": R1, "R2": R2} if keep else None)
        return A, beta, rss, float(np.log(det).sum()), extra

    def objective(theta):
        try:
            A, _, rss, logdetV, _ = pieces(theta)
            sign, logdetA = np.linalg.slogdet(A)
        except (np.linalg.LinAlgError, FloatingPointError):
            return np.inf
        if sign <= 0 or not np.isfinite(rss):
            return np.inf
        return dfr * np.log(rss / dfr) + logdetV + logdetA

    converged = True
    if theta is None and start is None and N > 2 * _START_SAMPLE:
        pick = np.zeros(N, dtype=bool)
        pick[np.random.default_rng(1202).choice(N, _START_SAMPLE, replace=False)] = True
        newid = np.cumsum(pick) - 1
        vsel = pick[uv]
        start = growth_curve_model(yv[vsel], newid[uv[vsel]], ts[vsel] * tscale, Bv[vsel], Xv[pick], byv[pick],
                                   variance_sample=None, _tscale=tscale).theta
    if theta is None and variance_sample is not None and N > variance_sample:
        pick = np.zeros(N, dtype=bool)
        pick[np.random.default_rng(20261202).choice(N, variance_sample, replace=False)] = True
        newid = np.cumsum(pick) - 1
        vsel = pick[uv]
        # on the caller's time scale the sample's own scale differs: hand it the same scaled time
        sub = growth_curve_model(yv[vsel], newid[uv[vsel]], ts[vsel] * tscale, Bv[vsel], Xv[pick], byv[pick],
                                 variance_sample=None, start=start, _tscale=tscale)
        theta, converged = sub.theta, sub.converged
    if theta is None:
        if start is None:
            start = np.array([0.0, 0.0, -1.0])
        opt = optimize.minimize(objective, np.asarray(start, dtype="float64"), method="L-BFGS-B",
                                bounds=[(-12, 6), (-50, 50), (-12, 6)],
                                options={"maxiter": 200, "ftol": 1e-10, "gtol": 1e-6})
        theta, converged = opt.x, bool(opt.success)
    theta = np.asarray(theta, dtype="float64")
    A, beta, rss, _, s = pieces(theta, keep=True)
    sigma2 = rss / dfr
    Ainv = np.linalg.inv(A)
    cov_model = sigma2 * Ainv
    Lam = np.array([[s["l11"], 0.0], [s["l21"], s["l22"]]])
    D = sigma2 * Lam @ Lam.T
    back = np.diag([1.0, 1.0 / tscale])
    re_cov = back @ D @ back
    names = list(names) if names is not None else [f"x{j}" for j in range(q)]
    names += [f"group{g}:basis{j}" for g in range(h) for j in range(k)]
    codes = pieces = None
    cov = cov_model
    G = 0
    if groups is not None:
        codes = cluster_codes(groups)
        G = int(codes.max()) + 1
        # scores X_i'V_i^-1 r_i (sigma2 = 1 scale, as A), summed within clusters
        fit_unit = Xv @ beta[:q]
        gam = beta[q:].reshape(h, k)
        r = yv - fit_unit[uv] - np.einsum("ij,ij->i", Bv, gam[gm])
        Sr, Str = per_unit(r), per_unit(ts * r)
        SBr = np.vstack([per_unit(Bv[:, j] * r) for j in range(k)])
        wr1, wr2 = s["l11"] * Sr + s["l21"] * Str, s["l22"] * Str
        cU = Sr - _quad_at(s, s["u1"], s["u2"], wr1, wr2)         # per unit
        bU = SBr - _quad_at(s, s["R1"], s["R2"], wr1, wr2)       # k x N
        U = np.zeros((G, p))
        for j in range(q):
            U[:, j] = np.bincount(codes, weights=Xv[:, j] * cU, minlength=G)
        cg = codes * h + byv
        for j in range(k):
            blk = np.bincount(cg, weights=bU[j], minlength=G * h).reshape(G, h)
            U[:, q + j::k] = blk
        # bias-reduced (Mancl-DeRouen / CR3): each cluster's score as if left out, U*_g = A (A - A_g)^-1 U_g
        pieces = _unit_pieces(s, (nI, SB, SBB), k)
        Ustar = _bias_reduced_scores(U, A, Ainv, Xv, byv, codes, pieces, q=q, k=k)
        meat = Ustar.T @ Ustar
        cov = Ainv @ meat @ Ainv
    return GrowthModel(beta=beta, names=names, cov=cov, cov_model=cov_model, sigma2=sigma2, re_cov=re_cov,
                       converged=converged, units=N, measurements=n, clusters=G, theta=theta,
                       _q=q, _k=k, _Ainv=Ainv, _codes=codes, _X=Xv, _by=byv, _info=None, _pieces=pieces)
