"""Recovery with missing ratings accounted for: multiple imputation and a tipping point.

About a third of discharged patients never give a global change rating, and
those who do not are often the ones who did less well (they stop coming).
The complete-case recovery rate (``recovered``) then runs too high. Spec
section 3 defines ``recovered_missing_adjusted``: the recovery rate among all
discharged episodes, with each missing rating multiply imputed from what was
recorded.

Method (Rubin 1987; White, Royston & Wood 2011):

1. Imputation model: logistic regression of recovered (global change 6-7) on
   leg pain change and baseline leg pain (each with a missing-value
   indicator), number of visits (log), age band, sex, symptom duration band,
   cause, clinic, modality and discharge reason, fitted to the rated
   episodes (at most 200,000 of them, drawn at random, on very large data).
2. For each of ``imputations`` (default 20) imputations, coefficients are
   drawn from their approximate posterior N(b, Cov(b)) ("proper" imputation)
   and each missing rating is drawn as recovered / not recovered.
3. Each group's rate is estimated on the logit scale in every completed data
   set and the estimates are combined by Rubin's rules (total variance
   W + (1 + 1/m) B, t reference with Rubin's degrees of freedom) and
   transformed back.

This assumes ratings are *missing at random* given what was recorded. The
tipping point (:func:`recovery_tipping_point`) says how much less (or more)
likely to have recovered the unrated patients would need to be, beyond what
their recorded pain and case mix predict, to move the rate outside its
interval (delta adjustment on the log-odds scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from ..stats import logistic_model

__all__ = ["MAX_MODEL_ROWS", "RatingImputations", "impute_ratings", "recovery_missing_adjusted",
           "recovery_tipping_point"]

#: The imputation model is fitted to at most this many rated episodes (a random subset beyond it).
MAX_MODEL_ROWS = 200_000
_CATEGORICAL = ("age_band", "sex", "symptom_band", "cause", "clinic", "modality", "discharge_reason")


def _eligible(outcomes: pd.DataFrame) -> np.ndarray:
    """Discharged episodes, and any episode with a rating."""
    rated = outcomes["recovered"].notna().to_numpy(dtype=bool)
    reason = outcomes["discharge_reason"].astype("str")
    discharged = outcomes["days_to_discharge"].notna().to_numpy(dtype=bool) & (reason != "ongoing").to_numpy(dtype=bool)
    return rated | discharged


def _design(d: pd.DataFrame, rated: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    # the columns are described first and written into one design (no list of full columns stacked again)
    specs, names = [("const", None)], ["const"]
    for c in ("leg_pain_change", "baseline_leg_pain"):
        v = d[c].to_numpy(dtype="float64")
        miss = np.isnan(v)
        fill = float(np.nanmean(v[rated])) if (~miss & rated).any() else 0.0
        specs.append(("values", np.where(miss, fill, v)))
        names.append(c)
        if miss[rated].any() and (~miss[rated]).any():
            specs.append(("values", miss))
            names.append(f"{c}:missing")
    specs.append(("values", np.log1p(d["sessions"].to_numpy(dtype="float64"))))
    names.append("log_sessions")
    for c in _CATEGORICAL:
        if c not in d.columns:
            continue
        codes, levels = pd.factorize(d[c], sort=True)
        if (codes < 0).any():  # missing is a level of its own
            codes = np.where(codes < 0, len(levels), codes)
            levels = list(levels) + ["(missing)"]
        if len(levels) < 2:
            continue
        n_r = np.bincount(codes[rated], minlength=len(levels))
        ev = np.bincount(codes[rated], weights=y[rated], minlength=len(levels))
        ref = int(np.argmax(n_r))
        # levels with few ratings, or with all / none recovered, are pooled with the reference level
        keep = [i for i in range(len(levels)) if i != ref and n_r[i] >= 5 and 0 < ev[i] < n_r[i]]
        for i in keep:
            specs.append(("level", (codes, i)))
            names.append(f"{c}:{levels[i]}")
    X = np.empty((len(d), len(specs)))
    for j, (kind, val) in enumerate(specs):
        if kind == "const":
            X[:, j] = 1.0
        elif kind == "values":
            X[:, j] = val
        else:
            np.equal(val[0], val[1], out=X[:, j], casting="unsafe")
    # drop columns that do not vary among the rated episodes (one column at a time: no copy of the rated rows)
    idx = np.flatnonzero(rated)
    ok = np.array([j == 0 or float(np.std(X[idx, j])) > 0 for j in range(X.shape[1])], dtype=bool)
    return (X if ok.all() else X[:, ok]), [n for n, k in zip(names, ok) if k]


def _fit_imputation_model(X: np.ndarray, y: np.ndarray, rated: np.ndarray):
    """Logistic imputation model on the rated rows (already at most MAX_MODEL_ROWS, see _prepare)."""
    idx = np.flatnonzero(rated)
    Xr = X[idx]
    names = [f"x{j}" for j in range(X.shape[1])]
    # drop exact linear combinations (e.g. a clinic that is also one discharge pattern)
    q, r = np.linalg.qr(Xr[: min(len(Xr), 50_000)])
    keep = np.flatnonzero(np.abs(np.diag(r)) > 1e-8 * np.abs(np.diag(r)).max())
    res = logistic_model(y[idx], Xr[:, keep], names=[names[j] for j in keep])
    beta = res.table["coef"].to_numpy()
    se = res.table["se"].to_numpy()
    p = 1 / (1 + np.exp(-np.clip(Xr[:, keep] @ beta, -35, 35)))
    info = (Xr[:, keep] * (p * (1 - p))[:, None]).T @ Xr[:, keep]
    cov = np.linalg.pinv(info)
    if not res.converged or not np.all(np.isfinite(se)):
        raise FloatingPointError("imputation model did not converge")
    return keep, beta, cov


def _prepare(outcomes: pd.DataFrame, seed: int):
    elig = _eligible(outcomes)
    cols = [c for c in ("recovered", "leg_pain_change", "baseline_leg_pain", "sessions", *_CATEGORICAL)
            if c in outcomes.columns]
    d = outcomes.loc[elig, cols].reset_index(drop=True)
    rated = d["recovered"].notna().to_numpy(dtype=bool)
    y = d["recovered"].to_numpy(dtype="float64", na_value=np.nan)
    y0 = np.nan_to_num(y)
    if not rated.any():
        raise ValueError("no rated episodes")
    rng = np.random.default_rng(seed)
    # the design is needed only for the episodes the model is fitted to and those it imputes
    rated_idx = np.flatnonzero(rated)
    if len(rated_idx) > MAX_MODEL_ROWS:
        rated_idx = np.sort(rng.choice(rated_idx, MAX_MODEL_ROWS, replace=False))
    use = np.sort(np.r_[rated_idx, np.flatnonzero(~rated)])
    X, _ = _design(d.iloc[use].reset_index(drop=True), rated[use], y0[use])
    keep, beta, cov = _fit_imputation_model(X, y0[use], rated[use])
    Xm = X[~rated[use]][:, keep]
    return d, rated, y0, Xm, beta, cov, rng


@dataclass(frozen=True)
class RatingImputations:
    """The imputation model and its draws for one set of outcomes (shared by every analysis that uses them).

    Attributes
    ----------
    d : pandas.DataFrame
        The eligible episodes (discharged, or rated), in the outcomes' order.
    rated : numpy.ndarray of bool
    y0 : numpy.ndarray
        Recorded recovery (0 where unrated).
    Xm, beta, cov :
        The imputation model's design for the unrated episodes, its estimate and covariance.
    imputed : numpy.ndarray (imputations, unrated)
        The drawn ratings (missing at random).
    """

    d: pd.DataFrame
    rated: np.ndarray
    y0: np.ndarray
    Xm: np.ndarray
    beta: np.ndarray
    cov: np.ndarray
    imputed: np.ndarray
    seed: int

    @property
    def imputations(self) -> int:
        return int(self.imputed.shape[0])


def impute_ratings(outcomes: pd.DataFrame, *, imputations: int = 20, seed: int = 2024) -> RatingImputations | None:
    """Fit the imputation model once and draw the missing ratings; None where no model can be fitted.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import impute_ratings
    >>> imp = impute_ratings(derive_outcomes(load_records("data/sample")))
    >>> imp.imputations, imp.imputed.shape[1] == int((~imp.rated).sum())
    (20, True)
    """
    if imputations < 2:
        raise ValueError("imputations must be at least 2 (20 or more recommended)")
    try:
        d, rated, y0, Xm, beta, cov, rng = _prepare(outcomes, seed)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError, IndexError):
        return None
    imputed = _draw_imputations(Xm, beta, cov, rng, imputations)
    return RatingImputations(d, rated, y0, Xm, beta, cov, imputed, seed)


def _draw_imputations(Xm, beta, cov, rng, imputations: int, delta: float = 0.0) -> np.ndarray:
    """Proper imputations: coefficients drawn from N(beta, cov), then each missing rating; (m, missing) 0/1."""
    try:
        L = np.linalg.cholesky(cov + 1e-12 * np.eye(len(cov)))
    except np.linalg.LinAlgError:
        w_, v_ = np.linalg.eigh(cov)
        L = v_ * np.sqrt(np.clip(w_, 0, None))
    imputed = np.empty((imputations, len(Xm)))
    for m in range(imputations):
        b = beta + L @ rng.standard_normal(len(beta))
        p = 1 / (1 + np.exp(-np.clip(Xm @ b + delta, -35, 35)))
        imputed[m] = rng.random(len(Xm)) < p
    return imputed


def _rubin_logit(est: np.ndarray, var: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Combine m logit-scale estimates and variances; returns (rate, low, high)."""
    m = len(est)
    qbar = float(est.mean())
    w = float(var.mean())
    b = float(est.var(ddof=1)) if m > 1 else 0.0
    t = w + (1 + 1 / m) * b
    if b > 0:
        nu = (m - 1) * (1 + w / ((1 + 1 / m) * b)) ** 2
        q = float(sps.t.ppf(1 - (1 - confidence) / 2, nu))
    else:
        q = float(sps.norm.ppf(1 - (1 - confidence) / 2))
    expit = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    half = q * np.sqrt(t)
    return expit(qbar), expit(qbar - half), expit(qbar + half)


def recovery_missing_adjusted(outcomes: pd.DataFrame, *, by: str = "modality", imputations: int = 20,
                              seed: int = 2024, confidence: float = 0.95, delta: float = 0.0,
                              overall: bool = True, imputed: RatingImputations | None = None) -> pd.DataFrame:
    """Recovery rate among discharged episodes with missing ratings multiply imputed.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes`.
    by : str, keyword-only
        Grouping column.
    imputations : int, keyword-only
        Number of imputations (at least 20 recommended; spec section 3).
    seed : int, keyword-only
        Random seed: the same data and seed give the same result.
    confidence : float, keyword-only
    delta : float, keyword-only
        Shift of the imputed log-odds of recovery for unrated episodes
        (0 = missing at random; negative = the unrated did worse). Used by
        :func:`recovery_tipping_point`.
    overall : bool, keyword-only
        Add an ``Overall`` row first.
    imputed : RatingImputations, optional, keyword-only
        :func:`impute_ratings` of these outcomes with the same *imputations*
        and *seed*, when the caller has it (used only with ``delta`` 0): the
        same result, without fitting the imputation model again.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``n`` (discharged or rated episodes), ``missing`` (without a
        rating), ``imputations``, ``rate``, ``ci_low``, ``ci_high``,
        ``complete_case_rate``, ``note``, ``delta`` (the shift used). Rates
        are NaN, with a note, where a group has no episodes or none rated.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import recovery_missing_adjusted
    >>> t = recovery_missing_adjusted(derive_outcomes(load_records("data/sample")))
    >>> t["group"].iloc[0], int(t["imputations"].iloc[0]), int(t["missing"].iloc[0]) > 0
    ('Overall', 20, True)
    """
    if imputations < 2:
        raise ValueError("imputations must be at least 2 (20 or more recommended)")
    groups_all = sorted(outcomes[by].dropna().astype("str").unique())
    cols = ["group", "n", "missing", "imputations", "rate", "ci_low", "ci_high", "complete_case_rate", "note"]
    reuse = (imputed is not None and delta == 0.0 and imputed.seed == seed and imputed.imputations == imputations)
    if reuse:
        d, rated, y0 = imputed.d, imputed.rated, imputed.y0
    else:
        try:
            d, rated, y0, Xm, beta, cov, rng = _prepare(outcomes, seed)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError, IndexError):
            d = None
    labels = (["Overall"] if overall else []) + groups_all
    if d is None or rated.sum() == 0:
        return pd.DataFrame([{"group": g, "n": 0, "missing": 0, "imputations": imputations, "rate": np.nan,
                              "ci_low": np.nan, "ci_high": np.nan, "complete_case_rate": np.nan,
                              "note": "no rated episodes to learn from: not estimable"} for g in labels],
                            columns=cols).assign(delta=float(delta))
    col = d[by]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("str")
    gcode = pd.Categorical(col, categories=groups_all).codes  # each episode's group by number (-1: none)
    masks = ([("Overall", np.ones(len(d), dtype=bool))] if overall else []) + \
        [(g, gcode == i) for i, g in enumerate(groups_all)]
    miss_rows = np.flatnonzero(~rated)
    draws = imputed.imputed if reuse else _draw_imputations(Xm, beta, cov, rng, imputations, delta)
    rows = []
    for name, mask in masks:
        n = int(mask.sum())
        n_rated = int((mask & rated).sum())
        obs_events = float(y0[mask & rated].sum())
        miss_in = mask[miss_rows]
        rec = {"group": name, "n": n, "missing": n - n_rated, "imputations": imputations,
               "complete_case_rate": obs_events / n_rated if n_rated else np.nan, "note": None}
        if n == 0 or n_rated == 0:
            rec.update(rate=np.nan, ci_low=np.nan, ci_high=np.nan,
                       note="no discharged episodes" if n == 0 else "no rated episodes: not estimable")
            rows.append(rec)
            continue
        events = obs_events + draws[:, miss_in].sum(axis=1)
        p = np.clip(events / n, 0.5 / n, 1 - 0.5 / n)
        est = np.log(p / (1 - p))
        var = 1 / (n * p * (1 - p))
        rate, lo, hi = _rubin_logit(est, var, confidence)
        rec.update(rate=float(events.mean() / n), ci_low=lo, ci_high=hi)
        rows.append(rec)
    return pd.DataFrame(rows, columns=cols).assign(delta=float(delta))


def recovery_tipping_point(outcomes: pd.DataFrame, *, imputations: int = 20, seed: int = 2024,
                           confidence: float = 0.95, missing_adjusted: pd.DataFrame | None = None,
                           imputed: RatingImputations | None = None) -> dict:
    """How different the unrated patients would have to be to move the overall rate outside its interval.

    Delta adjustment: the imputed log-odds of recovery of every unrated
    episode is shifted by delta. The tipping points are the shifts at which
    the expected overall rate reaches the lower (or upper) limit of its
    missing-at-random interval.

    Pass the table :func:`recovery_missing_adjusted` already gave for these
    outcomes (``delta`` 0, same seed) as ``missing_adjusted``: its overall
    rate and interval are used, and only the imputation model is fitted
    again (not the imputations); with *imputed* (:func:`impute_ratings` of
    these outcomes, same seed) not even that.

    Returns
    -------
    dict
        ``rate``, ``ci_low``, ``ci_high`` (missing at random), ``missing``,
        ``n``, ``expected_unrated`` (predicted recovery among the unrated),
        ``odds_ratio_low`` / ``unrated_rate_low`` (odds multiplier for the
        unrated, and their implied recovery rate, that bring the overall rate
        down to ``ci_low``), ``odds_ratio_high`` / ``unrated_rate_high`` (up
        to ``ci_high``). None where no shift gets there or nothing is missing.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import recovery_tipping_point
    >>> tp = recovery_tipping_point(derive_outcomes(load_records("data/sample")))
    >>> bool(tp["odds_ratio_low"] < 1 < tp["odds_ratio_high"])
    True
    """
    usable = (missing_adjusted is not None and "Overall" in set(missing_adjusted["group"])
              and "delta" in missing_adjusted.columns and (missing_adjusted["delta"] == 0.0).all())
    if not usable:
        missing_adjusted = recovery_missing_adjusted(outcomes, imputations=imputations, seed=seed,
                                                     confidence=confidence, overall=True)
    tab = missing_adjusted[missing_adjusted["group"] == "Overall"].iloc[0]
    out = {"rate": tab["rate"], "ci_low": tab["ci_low"], "ci_high": tab["ci_high"], "missing": int(tab["missing"]),
           "n": int(tab["n"]), "expected_unrated": None, "odds_ratio_low": None, "unrated_rate_low": None,
           "odds_ratio_high": None, "unrated_rate_high": None}
    if out["missing"] == 0 or not np.isfinite(tab["rate"]):
        return out
    if imputed is not None and imputed.seed == seed:
        d, rated, y0, Xm, beta = imputed.d, imputed.rated, imputed.y0, imputed.Xm, imputed.beta
    else:
        d, rated, y0, Xm, beta, _, _ = _prepare(outcomes, seed)
    eta, n, obs = np.clip(Xm @ beta, -35, 35), len(d), float(y0[rated].sum())

    def unrated_rate(delta):
        return float(np.mean(1 / (1 + np.exp(-(eta + delta)))))

    def overall(delta):
        return (obs + unrated_rate(delta) * len(eta)) / n

    out["expected_unrated"] = unrated_rate(0.0)
    for side, target, lo, hi in (("low", tab["ci_low"], -15.0, 0.0), ("high", tab["ci_high"], 0.0, 15.0)):
        f = lambda x: overall(x) - target  # noqa: E731
        if np.sign(f(lo)) == np.sign(f(hi)):
            continue
        delta = optimize.brentq(f, lo, hi, xtol=1e-6)
        out[f"odds_ratio_{side}"] = float(np.exp(delta))
        out[f"unrated_rate_{side}"] = unrated_rate(delta)
    return out
