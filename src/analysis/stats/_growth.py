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
Each likelihood evaluation is then a pass over units, not over measurements. Units are held sorted
by group and covariate pattern (the distinct rows of X with their group): the covariate products
run over patterns, each group's basis block is one matrix product over its units, and the
cluster-robust pieces need only sums within (cluster, pattern) cells; X may be given as its
distinct rows alone (``rows=``). When the times are whole days, the basis is given per day
(``basis_rows=``) and the per-unit sums are a units-by-days count matrix (and one holding y) times
each day's table of products: no product over the measurements is formed. A million episodes with
6.7 million visits fit in about 4-7 s on 2 cores (7.2 s alone in a fresh process) where
statsmodels ``MixedLM`` needs minutes for 20,000.

Covariance: the model's own (sigma2 (X'V^-1X)^-1), or, with *groups*, the cluster-robust sandwich
around the same estimate (scores X_i'V_i^-1 r_i summed within clusters, each cluster's sum bias-reduced
as if the cluster were left out, U*_g = A (A - A_g)^-1 U_g: Mancl and DeRouen 2001, the CR3 of the
single-site models), which holds when clusters (therapists) differ in more than the model says; t references on the
effective number of clusters for each contrast (:func:`analysis.stats.effective_df`).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, sparse
from scipy import stats as sps

from ._clustered import cluster_codes, effective_df
from ._keys import unique_keys

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


def _unit_sums(yv, uv, tv, table, trows, N: int, *, tscale: float = 1.0, order=None) -> dict:
    """Per unit (last axis), the sufficient statistics of its measurements.

    ``n``, ``t``, ``tt``, ``y``, ``ty``, ``yy``; ``B``, ``tB``, ``By`` (basis rows x units) and ``BB``
    (the basis pairs' products, upper triangle, pairs x units); time divided by *tscale*.

    *table* holds the basis of each distinct time and *trows* each measurement's row of it (a time
    fixed per row, as whole days are). Every statistic but those with y is then a function of the row
    only: it is tabulated once per row, and a unit's sum is its rows' counts (a units-by-rows sparse
    matrix) times the table; those with y use the same matrix holding y instead of counts. No product of
    every measurement is ever formed. With *order*, the units come out in that order (unit ``order[i]``
    in column i)."""
    n, D = len(yv), len(table)
    k = table.shape[1]
    iu = np.triu_indices(k)
    if n > 1 and not bool(np.all(uv[1:] >= uv[:-1])):
        srt = np.argsort(uv, kind="stable")
        yv, uv, tv, trows = yv[srt], uv[srt], tv[srt], trows[srt]
    tday = np.zeros(D)
    tday[trows] = tv / tscale
    # each row's statistics: 1, t, t^2, B, tB, the basis pairs (the first 3 + k also weighted by y)
    T = np.column_stack([np.ones(D), tday, tday * tday, table, table * tday[:, None],
                         table[:, iu[0]] * table[:, iu[1]]])
    indptr = np.searchsorted(uv, np.arange(N + 1))
    sel = order if order is not None else slice(None)
    # the units' rows of the sparse matrices put in the wanted order (cheap: whole rows move)
    C = sparse.csr_matrix((np.ones(n), trows, indptr), shape=(N, D))[sel]
    Cy = sparse.csr_matrix((np.asarray(yv, dtype="float64"), trows, indptr), shape=(N, D))[sel]
    Ty = T[:, :3 + k]
    yy = np.bincount(uv, weights=yv * yv, minlength=N)[sel]
    # statistics x units, summed and transposed block by block of units: the units x statistics products are
    # never whole (a whole-array transpose is ten times slower, and the whole products twice the memory)
    out = np.empty((6 + 3 * k + len(iu[0]), N))
    for lo in range(0, N, _TRANSPOSE_BLOCK):
        hi = min(lo + _TRANSPOSE_BLOCK, N)
        St, Syt = (C[lo:hi] @ T).T, (Cy[lo:hi] @ Ty).T
        out[0:3, lo:hi] = St[0:3]
        out[3:5, lo:hi] = Syt[0:2]
        out[6:6 + k, lo:hi] = St[3:3 + k]
        out[6 + k:6 + 2 * k, lo:hi] = St[3 + k:3 + 2 * k]
        out[6 + 2 * k:6 + 3 * k, lo:hi] = Syt[3:3 + k]
        out[6 + 3 * k:, lo:hi] = St[3 + 2 * k:]
    out[5] = yy
    return {"n": out[0], "t": out[1], "tt": out[2], "y": out[3], "ty": out[4], "yy": out[5],
            "B": out[6:6 + k], "tB": out[6 + k:6 + 2 * k], "By": out[6 + 2 * k:6 + 3 * k], "BB": out[6 + 3 * k:]}


#: Units per block when the sums are laid out statistics x units.
_TRANSPOSE_BLOCK = 8192


def _subset(st: dict, idx) -> dict:
    return {key: v[..., idx] for key, v in st.items()}


class _Design:
    """The fixed-effect side of the model with units sorted by group, then by covariate pattern
    (distinct rows of X with their group): the covariate products run over patterns, not units, and
    each group's units are one slice."""

    def __init__(self, Xv, byv, h: int, k: int, rows=None):
        self.q, self.k, self.h = Xv.shape[1], k, h
        self.p = self.q + h * k
        self.iu = np.triu_indices(k)
        N = len(byv)
        if rows is not None:  # X given as its distinct rows and each unit's row: the patterns are (row, group)
            _, first, pat = unique_keys(rows * max(h, 1) + byv)
            pat, xrow = pat.ravel(), rows
        else:
            hkey = Xv @ np.random.default_rng(12345).uniform(1, 2, self.q) + byv * np.pi
            _, first, pat = unique_keys(hkey)
            pat = pat.ravel()
            if not (np.array_equal(Xv[first][pat], Xv) and np.array_equal(byv[first][pat], byv)):
                first, pat = np.arange(N), np.arange(N)      # a hash collision: no compression
            xrow = np.arange(N)
        relabel = np.argsort(byv[first], kind="stable")   # patterns by group
        new = np.empty(len(first), dtype="int64")
        new[relabel] = np.arange(len(first))
        self.Xp, self.bp = Xv[xrow[first[relabel]]], byv[first[relabel]]
        pat = new[pat]
        self.order = np.argsort(pat, kind="stable")      # units by pattern (so by group)
        self.pat = pat[self.order]                       # each sorted unit's pattern
        self.starts = np.searchsorted(self.pat, np.arange(len(self.Xp)))   # every pattern has a unit
        self.group_units = np.searchsorted(self.bp[self.pat], np.arange(h + 1))
        self.group_pats = np.searchsorted(self.bp, np.arange(h + 1))

    def pattern_sums(self, M) -> np.ndarray:
        """Sums over each pattern's units of the rows of *M* (rows x units, units in the sorted order)."""
        return np.add.reduceat(np.atleast_2d(M), self.starts, axis=1)

    def matrix(self, s0, s1, s2, rows=None) -> np.ndarray:
        """sum_i X_i' W_i X_i from pattern sums: *s0* (P) for the covariate block, *s1* (k x P) for the
        covariate x basis block and *s2* (h x k x k: each group's sum) for the basis block; with
        *rows*, the sums are of those patterns only (distinct pattern numbers, in increasing order)."""
        q, k, h = self.q, self.k, self.h
        if rows is None:
            Xp, bounds = self.Xp, self.group_pats
        else:
            Xp, bounds = self.Xp[rows], np.searchsorted(self.bp[rows], np.arange(h + 1))
        M = np.zeros((self.p, self.p))
        M[:q, :q] = Xp.T @ (Xp * s0[:, None])
        for g in range(h):
            lo, hi = bounds[g], bounds[g + 1]
            cols = slice(q + g * k, q + (g + 1) * k)
            if hi > lo:
                cb = Xp[lo:hi].T @ s1[:, lo:hi].T
                M[:q, cols] = cb
                M[cols, :q] = cb.T
            M[cols, cols] = s2[g]
        return M

    def vector(self, s0, s1g) -> np.ndarray:
        """sum_i X_i' w_i from pattern sums *s0* (P) and each group's sums *s1g* (h x k)."""
        v = np.zeros(self.p)
        v[:self.q] = self.Xp.T @ s0
        v[self.q:] = np.asarray(s1g).ravel()
        return v

    def symmetric(self, pairs) -> np.ndarray:
        """Each group's k x k basis block (h x k x k) from its upper triangle (h x pairs)."""
        full = np.zeros((self.h, self.k, self.k))
        full[:, self.iu[0], self.iu[1]] = pairs
        full[:, self.iu[1], self.iu[0]] = pairs
        return full

    def group_sums(self, M) -> np.ndarray:
        """Sums over each group's units of the rows of *M* (rows x units, sorted order): h x rows."""
        b = self.group_units
        return np.vstack([M[:, b[g]:b[g + 1]].sum(axis=1) for g in range(self.h)])

    def group_pairs(self, F, P1, G2=None, P2=None) -> np.ndarray:
        """Per group, sum over its units of F_i P1_i' (+ G2_i P2_i'): h x rows x rows."""
        out = np.zeros((self.h, len(F), len(P1)))
        for g in range(self.h):
            sl = slice(self.group_units[g], self.group_units[g + 1])
            out[g] = F[:, sl] @ P1[:, sl].T
            if G2 is not None:
                out[g] += G2[:, sl] @ P2[:, sl].T
        return out


def _variance_terms(st: dict, theta) -> dict:
    """Per unit, the 2 x 2 matrices M_i = I + L'Z_i'Z_i L and the vectors L'Z_i'(1, b, y) at *theta*."""
    l11, l21, l22 = float(np.exp(theta[0])), float(theta[1]), float(np.exp(theta[2]))
    n, St, Stt = st["n"], st["t"], st["tt"]
    m11 = 1 + n * l11 ** 2 + 2 * St * l11 * l21 + Stt * l21 ** 2
    m12 = l22 * (St * l11 + Stt * l21)
    m22 = 1 + Stt * l22 ** 2
    return {"l11": l11, "l21": l21, "l22": l22, "det": m11 * m22 - m12 * m12, "m11": m11, "m12": m12, "m22": m22,
            "u1": l11 * n + l21 * St, "u2": l22 * St,
            "R1": l11 * st["B"] + l21 * st["tB"], "R2": l22 * st["tB"],
            "w1": l11 * st["y"] + l21 * st["ty"], "w2": l22 * st["ty"]}


class _Reml:
    """REML pieces from units' sufficient statistics *st* and covariates; units are held sorted by
    group and covariate pattern (``design.order``)."""

    def __init__(self, st: dict, Xv, byv, h: int, *, design: _Design | None = None):
        design = design or _Design(Xv, byv, h, len(st["B"]))
        if not np.array_equal(design.order, np.arange(len(design.order))):
            st = _subset(st, design.order)
        self.st, self.d = st, design
        P = design.pattern_sums
        self.XtX = design.matrix(P(st["n"])[0], P(st["B"]), design.symmetric(design.group_sums(st["BB"])))
        self.Xty = design.vector(P(st["y"])[0], design.group_sums(st["By"]))
        self.yty = float(st["yy"].sum())
        self.n = float(st["n"].sum())

    def pieces(self, theta, *, keep: bool = False):
        """A = X'V^-1X, beta, the residual sum of squares, log|V| (sigma2 = 1) and, with *keep*, the
        per-unit terms.

        With P1 = L'Z_i'(1, b, y)'s first and P2 its second component (rows u, R_1..R_k, w) and
        M_i^-1 = [[a, b], [b, c]], every p'M^-1 q is F_p P1_q + G_p P2_q with F = a P1 + b P2 and
        G = b P1 + c P2: the u rows are summed by covariate pattern, the others by group (one
        matrix product per group)."""
        d, k = self.d, self.d.k
        s = _variance_terms(self.st, theta)
        P1 = np.vstack([s["u1"], s["R1"], s["w1"]])
        P2 = np.vstack([s["u2"], s["R2"], s["w2"]])
        a, b, c = s["m22"] / s["det"], -s["m12"] / s["det"], s["m11"] / s["det"]
        F, G = a * P1 + b * P2, b * P1 + c * P2
        Qp = d.pattern_sums(F[0] * P1 + G[0] * P2)           # u'M^-1(u, R, w) by pattern
        pairs = d.group_pairs(F[1:], P1[1:], G[1:], P2[1:])  # h x (R, w) x (R, w)
        A = self.XtX - d.matrix(Qp[0], Qp[1:k + 1], pairs[:, :k, :k])
        bvec = self.Xty - d.vector(Qp[k + 1], pairs[:, :k, k])
        yvy = self.yty - float(pairs[:, k, k].sum())
        beta = np.linalg.solve(A, bvec)
        rss = max(yvy - float(bvec @ beta), 1e-300)
        return A, beta, rss, float(np.log(s["det"]).sum()), (s if keep else None)

    def objective(self, theta, dfr):
        try:
            A, _, rss, logdetV, _ = self.pieces(theta)
            sign, logdetA = np.linalg.slogdet(A)
        except (np.linalg.LinAlgError, FloatingPointError):
            return np.inf
        if sign <= 0 or not np.isfinite(rss):
            return np.inf
        return dfr * np.log(rss / dfr) + logdetV + logdetA


def _cell_sums(codes, design: _Design, pieces, G: int) -> dict:
    """The unit information pieces summed within (cluster, covariate pattern) cells, cells sorted by
    cluster: what the clusters' information and the contrasts' effective df need (*codes* and
    *pieces* in the design's sorted unit order)."""
    a0, b0, H = pieces
    P = len(design.Xp)
    cu, _, cell = unique_keys(codes * P + design.pat)
    C = len(cu)
    pat = cu % P
    group = design.bp[pat]
    return {"pat": pat, "by_group": [np.flatnonzero(group == g) for g in range(design.h)], "unit_cell": cell,
            "cluster_start": np.searchsorted(cu // P, np.arange(G + 1)),
            "a0": np.bincount(cell, weights=a0, minlength=C),
            "b0": np.vstack([np.bincount(cell, weights=b0[j], minlength=C) for j in range(len(b0))]),
            "H": np.vstack([np.bincount(cell, weights=H[c], minlength=C) for c in range(len(H))])}


def _cluster_information(design: _Design, cells: dict, gi: int) -> np.ndarray:
    """A_g = sum over cluster *gi*'s units of X_i'V_i^-1 X_i (sigma2 = 1), p x p, from its cells."""
    sl = slice(cells["cluster_start"][gi], cells["cluster_start"][gi + 1])
    # a cluster's cells have distinct patterns, in increasing order
    pat = cells["pat"][sl]
    Hg = np.vstack([np.bincount(design.bp[pat], weights=cells["H"][c, sl], minlength=design.h)
                    for c in range(len(cells["H"]))])           # pairs x h
    return design.matrix(cells["a0"][sl], cells["b0"][:, sl], design.symmetric(Hg.T), rows=pat)


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
    theta : numpy.ndarray
        The variance parameters (log of L's diagonal and its lower corner, D = sigma2 L L' on the
        internal time scale).
    reml_criterion : float
        The REML criterion at *theta* on all units, (n - p) log(RSS / (n - p)) + log|V| + log|X'V^-1X|
        with sigma2 profiled out: -2 x the restricted log-likelihood less a constant. The search
        minimises it (on the variance sample, where one is used).
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

    def _contrast_dfs(self, Lm) -> np.ndarray:
        """Each contrast's effective number of clusters: cluster g's share of l'A^-1 l is v'A_g v
        (v = A^-1 l); per unit it is c_i^2 a0_i + 2 c_i b0_i'g + g'H_i g with c_i = x_i'v (its
        covariates) and g its group's basis coefficients in v, so sums of a0, b0 and H within
        (cluster, covariate pattern) cells are all it needs."""
        if self._cells is None:
            return np.full(len(Lm), float(max(self.units - len(self.beta), 1)))
        cells, design = self._cells, self._design
        q, k, h = design.q, design.k, design.h
        iu = design.iu
        wgt = np.where(iu[0] == iu[1], 1.0, 2.0)
        out = np.empty(len(Lm))
        for lo in range(0, len(Lm), 16):   # sixteen contrasts at a time: cells x 16 arrays
            V = self._Ainv @ Lm[lo:lo + 16].T                    # p x m
            cp = design.Xp @ V[:q]                                 # patterns x m
            gam = V[q:].reshape(h, k, -1)                          # group x basis x m
            pairgam = gam[:, iu[0], :] * gam[:, iu[1], :] * wgt[None, :, None]
            share = np.empty((len(cells["pat"]), V.shape[1]))
            for g, sel in enumerate(cells["by_group"]):
                cc = cp[cells["pat"][sel]]
                share[sel] = (cc * (cc * cells["a0"][sel, None] + 2 * (cells["b0"][:, sel].T @ gam[g]))
                              + cells["H"][:, sel].T @ pairgam[g])
            shares = np.add.reduceat(share, cells["cluster_start"][:-1], axis=0)
            out[lo:lo + 16] = effective_df(shares, self.clusters)
        return out


def _unit_pieces(s, st, k):
    """Per unit, the pieces of its information X_i'V_i^-1 X_i (sigma2 = 1): a0 (covariate block weight),
    b0 (k x N, covariate x basis) and H (the k x k basis block's upper triangle, pairs x N)."""
    u1, u2, R1, R2 = s["u1"], s["u2"], s["R1"], s["R2"]
    a0 = st["n"] - _quad_at(s, u1, u2, u1, u2)
    b0 = st["B"] - _quad_at(s, u1, u2, R1, R2)
    iu = np.triu_indices(k)
    H = np.vstack([st["BB"][c] - _quad_at(s, R1[i], R2[i], R1[j], R2[j]) for c, (i, j) in enumerate(zip(*iu))])
    return a0, b0, H


def _times_unit_information(v, units, X, by, pieces, *, q, k):
    """Row m of the result: A_i v_m for unit i = units[m] (A_i its information, X and by its covariate
    row and group), without forming A_i."""
    a0, b0, H = pieces
    c = np.einsum("ij,ij->i", X, v[:, :q])
    cols = q + by[:, None] * k + np.arange(k)                    # m x k: the unit's basis columns
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




def _bias_reduced_scores(U, A, Ainv, codes, pieces, design: _Design, cells: dict):
    """U*_g = A (A - A_g)^-1 U_g = (I - A_g A^-1)^-1 U_g for every cluster (Mancl-DeRouen, CR3).

    A cluster of one unit (an episode without a therapist code) has a tiny leverage on a large data
    set: its U* is the series U + A_g A^-1 U + ..., summed for all such clusters at once until it no
    longer moves. Larger clusters (therapists), and any unit whose series does not settle, are solved
    one by one (pseudo-inverse: a modality given only in that cluster makes A - A_g singular).
    """
    q, k = design.q, design.k
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
        Xu, byu = design.Xp[design.pat[units]], design.bp[design.pat[units]]
        for _ in range(60):
            new = u + _times_unit_information(w @ Ainv, units, Xu, byu, pieces, q=q, k=k)
            moved = np.abs(new - w).max(axis=1) > 1e-13 * (1 + np.abs(new).max(axis=1))
            w = new
            if not moved.any():
                break
        ok = np.isfinite(w).all(axis=1) & ~moved
        Ustar[single[ok]] = w[ok]
        solve_each += list(single[~ok])
    for gi in solve_each:
        Ag = _cluster_information(design, cells, gi)
        Ustar[gi] = A @ (np.linalg.pinv(A - Ag) @ U[gi])
    return Ustar


def growth_curve_model(y, unit, time, basis, X, by, *, basis_rows=None, rows=None, groups=None, names=None, start=None, theta=None,
                       variance_sample: int | None = VARIANCE_SAMPLE, confidence: float = 0.95,
                       _tscale: float | None = None) -> GrowthModel:
    """Fit the growth-curve mixed model described in this module (REML).

    Parameters
    ----------
    y, unit, time : array-like, one entry per measurement
        Outcome (no missing values), the unit's number 0 .. N-1, and the time of the measurement
        (the random slope's variable).
    basis : array of shape (measurements, k), or (D, k) with *basis_rows*
        Time basis of the mean curve, without a constant (e.g. :func:`natural_spline_basis`).
    X : array of shape (N, q), or (P, q) with *rows*
        The units' covariates, with the constant column; each unit's group effect at the first
        basis value is in here (group dummies).
    by : array of N integer codes 0 .. h-1
        Each unit's group: every group has its own time curve (basis coefficients).
    basis_rows : array of integer codes 0 .. D-1, one per measurement, optional, keyword-only
        With *basis* holding the basis of each distinct time only (D rows, e.g. of each whole day):
        each measurement's row of it (the basis of every visit is not built).
    rows : array of N integer codes 0 .. P-1, optional, keyword-only
        With X holding only the distinct covariate rows (P of them): each unit's row of X. The same
        fit as with the full X (``X[rows]``), without building it: at registry size the full design
        is a quarter of a gigabyte, its distinct rows a few megabytes.
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
    brv = None
    if basis_rows is not None:
        brv = np.asarray(basis_rows, dtype="int64")
        if len(brv) != len(yv) or (len(brv) and (brv.min() < 0 or brv.max() >= len(Bv))):
            raise ValueError("basis_rows must give each measurement's row of basis (0 .. len(basis) - 1)")
    elif len(Bv) != len(yv):
        raise ValueError(f"basis has {len(Bv)} rows for {len(yv)} measurements (give basis_rows= when it holds "
                         "the basis of distinct times only)")
    Xv = np.asarray(X, dtype="float64")
    byv = np.asarray(by, dtype="int64")
    N, q = len(byv), Xv.shape[1]
    rv = None
    if rows is not None:
        rv = np.asarray(rows, dtype="int64")
        if len(rv) != N or (N and (rv.min() < 0 or rv.max() >= len(Xv))):
            raise ValueError("rows must give each unit's row of X (one code per unit, 0 .. len(X) - 1)")
    elif len(Xv) != N:
        raise ValueError(f"X has {len(Xv)} rows for {N} units (give rows= when X holds distinct rows only)")
    k = Bv.shape[1]
    h = int(byv.max()) + 1 if N else 0
    n = len(yv)
    p = q + h * k
    if n - p <= 0 or N < 3:
        raise ValueError(f"{n} measurements of {N} units cannot fit {p} parameters and the variances: not estimable")
    # time on a unit scale for the optimiser; the random-effects covariance is put back on the caller's scale
    tscale = _tscale or float(np.quantile(np.abs(tv), 0.95) if len(tv) else 0.0) or 1.0
    # units renumbered in the design's order (by group and covariate pattern) before their sums are taken
    design = _Design(Xv, byv, h, k, rows=rv)
    if brv is not None:
        # the sums tabulate the basis and time per row of basis: each row's measurements need one time
        seen = np.full(len(Bv), np.nan)
        seen[brv] = tv
        if not np.array_equal(seen[brv], tv):
            Bv, brv = Bv[brv], None
    if brv is None:
        brv = np.arange(len(yv))
    # the units' sums, the units in the design's order
    st = _unit_sums(yv, uv, tv, Bv, brv, N, tscale=tscale, order=design.order)
    # the measurements are summed up: what is left works on units (the caller's arrays are the caller's)
    del y, unit, time, basis, X, yv, uv, tv, Bv, Xv, brv
    codes = cluster_codes(groups)[design.order] if groups is not None else None
    design.order = np.arange(N)   # the units are in the design's order from here on (X by pattern: design.Xp)
    return _fit_sums(st, h, design, codes=codes, names=names, start=start, theta=theta,
                     variance_sample=variance_sample, tscale=tscale)


#: Finite-difference step of the search's gradient. The criterion is a sum over tens of thousands of units, exact
#: to about 1e-6; scipy's default step (1e-8) turns that rounding into gradient errors of order 100, and the
#: search wanders (3 times the evaluations, and stops short of the optimum). 1e-5 keeps both the rounding
#: and the truncation error of the gradient near 0.1.
_FD_STEP = 1e-5


def _search(st: dict, Xv, byv, h: int, start, *, design: _Design | None = None):
    """REML estimate of the variance parameters (and whether the search converged)."""
    reml = _Reml(st, Xv, byv, h, design=design)
    dfr = reml.n - reml.d.p
    # a point where the criterion is not finite (inf) is outside the search's region: its arithmetic there
    # (and scipy's differences of inf) is expected, not a warning for the user
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        opt = optimize.minimize(reml.objective, np.asarray(start, dtype="float64"), args=(dfr,), method="L-BFGS-B",
                                bounds=[(-12, 6), (-50, 50), (-12, 6)],
                                options={"maxiter": 200, "ftol": 1e-10, "gtol": 1e-6, "eps": _FD_STEP})
    return opt.x, bool(opt.success)


def _sample(N: int, size: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(N, size, replace=False))


def _fit_sums(st: dict, h: int, design: _Design, *, codes, names, start, theta, variance_sample,
              tscale) -> GrowthModel:
    """The fit from units' sums *st*, units in *design*'s order (``design.order`` the identity)."""
    N, q = len(design.pat), design.q
    k = len(st["B"])

    def rows(idx):  # covariate rows and groups of these units
        return design.Xp[design.pat[idx]], design.bp[design.pat[idx]]

    converged = True
    if theta is None:
        if start is None and N > 2 * _START_SAMPLE:
            pick = _sample(N, _START_SAMPLE, 1202)
            start, _ = _search(_subset(st, pick), *rows(pick), h, [0.0, 0.0, -1.0])
        if start is None:
            start = [0.0, 0.0, -1.0]
        if variance_sample is not None and N > variance_sample:
            # the variance parameters from a random sample of units, the fixed effects from all of them
            pick = _sample(N, variance_sample, 20261202)
            theta, converged = _search(_subset(st, pick), *rows(pick), h, start)
        else:
            theta, converged = _search(st, None, None, h, start, design=design)
    theta = np.asarray(theta, dtype="float64")
    reml = _Reml(st, None, None, h, design=design)
    n = reml.n
    A, beta, rss, logdetV, s = reml.pieces(theta, keep=True)
    dfr = n - design.p
    sigma2 = rss / dfr
    criterion = float(dfr * np.log(rss / dfr) + logdetV + np.linalg.slogdet(A)[1])
    Ainv = np.linalg.inv(A)
    cov_model = sigma2 * Ainv
    Lam = np.array([[s["l11"], 0.0], [s["l21"], s["l22"]]])
    D = sigma2 * Lam @ Lam.T
    back = np.diag([1.0, 1.0 / tscale])
    re_cov = back @ D @ back
    names = list(names) if names is not None else [f"x{j}" for j in range(q)]
    names += [f"group{g}:basis{j}" for g in range(h) for j in range(k)]
    cells = None
    cov = cov_model
    G = 0
    if codes is not None:
        G = int(codes.max()) + 1
        bys = design.bp[design.pat]
        # scores X_i'V_i^-1 r_i (sigma2 = 1 scale, as A), summed within clusters; the residuals' sums per
        # unit come from its sufficient statistics (no pass over the measurements)
        f = (design.Xp @ beta[:q])[design.pat]
        gam = beta[q:].reshape(h, k)[bys].T                        # k x N: each unit's basis coefficients
        BBg = np.zeros((k, N))
        for c, (i, j) in enumerate(zip(*design.iu)):
            BBg[i] += st["BB"][c] * gam[j]
            if i != j:
                BBg[j] += st["BB"][c] * gam[i]
        Sr = st["y"] - st["n"] * f - np.einsum("jn,jn->n", st["B"], gam)
        Str = st["ty"] - st["t"] * f - np.einsum("jn,jn->n", st["tB"], gam)
        SBr = st["By"] - st["B"] * f - BBg
        wr1, wr2 = s["l11"] * Sr + s["l21"] * Str, s["l22"] * Str
        cU = Sr - _quad_at(s, s["u1"], s["u2"], wr1, wr2)         # per unit
        bU = SBr - _quad_at(s, s["R1"], s["R2"], wr1, wr2)       # k x N
        pieces = _unit_pieces(s, st, k)
        cells = _cell_sums(codes, design, pieces, G)
        U = np.zeros((G, design.p))
        # the covariate part by (cluster, pattern) cell: X_i is its pattern's row
        cUc = np.bincount(cells["unit_cell"], weights=cU, minlength=len(cells["pat"]))
        U[:, :q] = np.add.reduceat(design.Xp[cells["pat"]] * cUc[:, None], cells["cluster_start"][:-1], axis=0)
        cg = codes * h + bys
        for j in range(k):
            U[:, q + j::k] = np.bincount(cg, weights=bU[j], minlength=G * h).reshape(G, h)
        # bias-reduced (Mancl-DeRouen / CR3): each cluster's score as if left out, U*_g = A (A - A_g)^-1 U_g
        Ustar = _bias_reduced_scores(U, A, Ainv, codes, pieces, design, cells)
        cov = Ainv @ (Ustar.T @ Ustar) @ Ainv
    return GrowthModel(beta=beta, names=names, cov=cov, cov_model=cov_model, sigma2=sigma2, re_cov=re_cov,
                       converged=converged, units=N, measurements=int(n), clusters=G, theta=theta,
                       reml_criterion=criterion,
                       _q=q, _k=k, _Ainv=Ainv, _design=design, _cells=cells)
