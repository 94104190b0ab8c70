"""Case-mix adjusted benchmarking of clinics and therapists: observed against expected.

What outcome registries (FOTO, the Dutch national physiotherapy registry,
NORspine) give their members: for each unit (clinic or therapist), how its
patients did against what their case mix predicts.

- **Expected** outcome per episode from a case-mix model that does not know
  the unit or the modality: baseline leg pain, age band, sex, symptom duration
  band and cause (and, optionally, clinic when therapists are benchmarked
  within a network). Leg pain: a linear mixed model with a random intercept
  per unit (:func:`analysis.stats.random_intercept_model`), so that the
  case-mix coefficients are not distorted by which units see which patients;
  recovery: logistic regression.
- **Overdispersion** tau^2 (the usual spread between units) estimated
  robustly (Spiegelhalter 2005): each unit's z-score d / sqrt(v) is
  winsorised at the 10th and 90th percentiles before the DerSimonian-Laird
  moment estimate, so that the units being screened, an outlier most of
  all, cannot inflate the spread meant to judge them.
- **Difference** = observed minus expected (NRS points of final leg pain, or
  percentage points of recovery), with a 95 % interval from the same variance
  as the funnel's limits, v + tau^2 (v: within-unit variation, sigma^2 / n for
  leg pain, sum p(1-p) / n^2 for recovery): an interval that excludes 0 and a
  flag say the same thing at their two levels.
- **Shrunken** estimate: the random-effect prediction (empirical Bayes),
  difference x tau^2 / (tau^2 + v), which pulls small units toward the
  average, with its own 95 % interval, +-1.96 sqrt(tau^2 v / (tau^2 + v)).
- **Flag**: ``above`` or ``below`` when the difference lies outside the 99.8 %
  limits of a funnel that allows for overdispersion between units
  (Spiegelhalter 2005, additive random-effects: +-3.09 sqrt(v + tau^2)).
  "Worth a conversation, not a verdict": modality choice and unmeasured case
  mix are part of what is being compared.
- Units with fewer than ``min_episodes`` (default 40, as Lutz et al. 2020)
  are listed without a figure.

``studies/benchmarking_study.py`` checks, on simulated networks with known
therapist effects, that the shrunken estimates rank therapists close to the
truth and that the intervals cover the true centred effects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..stats import independent_columns, logistic_model, one_hot, random_intercept_model

__all__ = ["BENCHMARK_CASE_MIX", "MIN_EPISODES", "WINSOR", "benchmark_document", "benchmark_units",
           "funnel_limits_adjusted", "robust_tau2"]

#: Case mix of the expected-outcome models (no unit, no modality).
BENCHMARK_CASE_MIX = ("baseline_leg_pain", "age_band", "sex", "symptom_band", "cause")
#: Fewest episodes for a unit to be shown (Lutz et al. 2020, Phys Ther).
MIN_EPISODES = 40
_Z95 = float(sps.norm.ppf(0.975))
_Z998 = float(sps.norm.ppf(0.999))
_COLUMNS = ["unit", "n", "observed", "expected", "difference", "ci_low", "ci_high", "shrunken", "shrunken_low",
            "shrunken_high", "flag", "note"]
#: z-scores are winsorised at these percentiles before overdispersion is estimated (Spiegelhalter 2005).
WINSOR = (10, 90)
_FUNNEL = ["tau2", "sigma2", "overall"]


def _case_mix_matrix(d: pd.DataFrame, covariates) -> np.ndarray:
    """Constant, baseline leg pain and one-hot case mix (most frequent level as reference), collinear columns dropped."""
    cols = [np.ones((len(d), 1))]
    for c in covariates:
        if c == "baseline_leg_pain":
            cols.append(d[c].to_numpy(dtype="float64")[:, None])
            continue
        codes, levels = pd.factorize(d[c], sort=True)
        if len(levels) >= 2:
            cols.append(one_hot(codes, levels, drop=set())[0])
    X = np.hstack(cols)
    return X[:, independent_columns(X)]


def robust_tau2(diff, var) -> float:
    """Between-unit variance from winsorised z-scores (Spiegelhalter 2005), on the scale of *diff*.

    z_i = d_i / sqrt(v_i) is winsorised at the 10th and 90th percentiles, and
    tau^2 = max(0, (sum z_w^2 - (I - 1)) / (sum w - sum w^2 / sum w)) with w = 1 / v: the
    DerSimonian-Laird moment estimate around the target 0 (observed minus expected), from
    z-scores one outlier cannot inflate.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.methods import robust_tau2
    >>> rng = np.random.default_rng(0)
    >>> d = rng.normal(0, np.sqrt(0.25 + 0.02), 20); v = np.full(20, 0.02)
    >>> d_out = np.r_[d[:-1], 2.0]                         # one therapist 2 points off
    >>> from analysis.methods._benchmark import _tau2
    >>> bool(robust_tau2(d_out, v) < _tau2(d_out, v, winsor=None))
    True
    """
    return _tau2(diff, var, winsor=WINSOR)


def _tau2(diff, var, *, winsor) -> float:
    diff, var = np.asarray(diff, dtype="float64"), np.asarray(var, dtype="float64")
    ok = np.isfinite(diff) & np.isfinite(var) & (var > 0)
    d, v = diff[ok], var[ok]
    if len(d) < 2:
        return 0.0
    z = d / np.sqrt(v)
    if winsor is not None:
        z = np.clip(z, *np.percentile(z, winsor))
    w = 1 / v
    denom = np.sum(w) - np.sum(w**2) / np.sum(w)
    return float(max(0.0, (np.sum(z**2) - (len(d) - 1)) / denom)) if denom > 0 else 0.0


def funnel_limits_adjusted(n, *, sigma2: float, tau2: float, scale: str = "mean", p0: float | None = None) -> pd.DataFrame:
    """95 % and 99.8 % limits of observed-minus-expected around 0 at each n, with overdispersion.

    Parameters
    ----------
    n : array-like
        Episodes per unit.
    sigma2 : float, keyword-only
        Within-unit variance of one episode's outcome (for a rate: p0 (1 - p0)).
    tau2 : float, keyword-only
        Between-unit variance (additive random-effects overdispersion).

    Examples
    --------
    >>> from analysis.methods import funnel_limits_adjusted
    >>> funnel_limits_adjusted([100], sigma2=4.0, tau2=0.0).round(3).to_dict("records")
    [{'n': 100, 'low_95': -0.392, 'high_95': 0.392, 'low_99.8': -0.618, 'high_99.8': 0.618}]
    """
    n = np.asarray(n, dtype="float64")
    half = np.sqrt(sigma2 / n + tau2)
    return pd.DataFrame({"n": n.astype(int) if np.all(n == np.round(n)) else n,
                         "low_95": -_Z95 * half, "high_95": _Z95 * half,
                         "low_99.8": -_Z998 * half, "high_99.8": _Z998 * half})


def _finish(units, n, observed, expected, var, tau2, min_episodes) -> pd.DataFrame:
    diff = observed - expected
    se = np.sqrt(var + tau2)  # one variance for the interval and the flag
    with np.errstate(invalid="ignore", divide="ignore"):
        shrink = np.where(var > 0, tau2 / (tau2 + var), 0.0)
    post = np.sqrt(shrink * var)  # the shrunken estimate's own standard error
    lim = _Z998 * se
    flag = np.where(diff > lim, "above", np.where(diff < -lim, "below", None))
    out = pd.DataFrame({"unit": units, "n": n.astype("int64"), "observed": observed, "expected": expected,
                        "difference": diff, "ci_low": diff - _Z95 * se, "ci_high": diff + _Z95 * se,
                        "shrunken": diff * shrink, "shrunken_low": diff * shrink - _Z95 * post,
                        "shrunken_high": diff * shrink + _Z95 * post,
                        "flag": pd.Series(flag, dtype=object), "note": None})
    small = n < min_episodes
    for c in ("observed", "expected", "difference", "ci_low", "ci_high", "shrunken", "shrunken_low",
              "shrunken_high"):
        out.loc[small, c] = np.nan
    out["flag"] = out["flag"].where(~small, None)
    out["note"] = pd.Series([f"fewer than {min_episodes} episodes: not shown" if s else None for s in small],
                            dtype=object)
    if len(out) == 1:
        out[["shrunken", "shrunken_low", "shrunken_high"]] = np.nan
        out["flag"] = None
        out["note"] = "only one unit in the data: nothing to compare it with"
    return out[_COLUMNS].sort_values("unit", key=lambda s: s.astype(str)).reset_index(drop=True)


def benchmark_units(outcomes: pd.DataFrame, *, by: str = "therapist", outcome: str = "leg_pain_change",
                    min_episodes: int = MIN_EPISODES, adjust_clinic: bool = False) -> pd.DataFrame:
    """Observed against expected outcome per clinic or therapist, adjusted for case mix.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes`.
    by : {"therapist", "clinic"}, keyword-only
    outcome : {"leg_pain_change", "recovered"}, keyword-only
        ``leg_pain_change``: final leg pain (NRS points; lower is better) among
        episodes with leg pain at a later visit; ``recovered``: recovery
        (percentage points; higher is better) among rated episodes.
    min_episodes : int, keyword-only
        Units with fewer episodes are listed without figures.
    adjust_clinic : bool, keyword-only
        Add clinic to the case mix (therapists compared with their own clinic's patients).

    Returns
    -------
    pandas.DataFrame
        ``unit``, ``n``, ``observed``, ``expected``, ``difference`` (observed
        minus expected), ``ci_low``, ``ci_high`` (from v + tau^2, as the flag),
        ``shrunken`` with ``shrunken_low`` and ``shrunken_high``, ``flag``
        (``above`` / ``below`` / None at the 99.8 % limits), ``note``; and,
        the same on every row, what the funnel's limits need: ``tau2``
        (between-unit variance), ``sigma2`` (within-unit variance per
        episode) and ``overall`` (the overall mean or rate).
        Episodes without a unit code are left out.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import benchmark_units
    >>> b = benchmark_units(derive_outcomes(load_records("data/sample")), by="clinic")
    >>> list(b["unit"]), list(b.columns[:5])
    (['CEN', 'NTH', 'STH'], ['unit', 'n', 'observed', 'expected', 'difference'])
    """
    if by not in ("therapist", "clinic"):
        raise ValueError("by must be 'therapist' or 'clinic'")
    if outcome not in ("leg_pain_change", "recovered"):
        raise ValueError("outcome must be 'leg_pain_change' or 'recovered'")
    covs = list(BENCHMARK_CASE_MIX) + (["clinic"] if adjust_clinic and by == "therapist" else [])
    covs = [c for c in covs if c in outcomes.columns]
    y_col = "final_leg_pain" if outcome == "leg_pain_change" else "recovered"
    ok = outcomes[by].notna() & outcomes[y_col].notna() & outcomes["baseline_leg_pain"].notna()
    ok &= outcomes[covs].notna().all(axis=1)
    d = outcomes.loc[ok, [by, y_col, *covs]]
    if len(d) == 0:
        return pd.DataFrame(columns=[*_COLUMNS, *_FUNNEL])
    try:
        return _benchmark_fit(d, by=by, outcome=outcome, y_col=y_col, covs=covs, min_episodes=min_episodes)
    except (np.linalg.LinAlgError, ValueError, ArithmeticError):  # too few episodes for the case-mix model
        units, n = np.unique(d[by].astype(str), return_counts=True)
        out = pd.DataFrame({"unit": units, "n": n.astype("int64")})
        for c in ("observed", "expected", "difference", "ci_low", "ci_high", "shrunken", "shrunken_low",
                  "shrunken_high", *_FUNNEL):
            out[c] = np.nan
        out["flag"] = None
        out["note"] = "too few episodes for the case-mix model: not estimable"
        return out[[*_COLUMNS, *_FUNNEL]]


def _benchmark_fit(d: pd.DataFrame, *, by, outcome, y_col, covs, min_episodes) -> pd.DataFrame:
    X = _case_mix_matrix(d, covs)
    y = d[y_col].to_numpy(dtype="float64")
    codes, units = pd.factorize(d[by], sort=True)
    n = np.bincount(codes, minlength=len(units)).astype("float64")
    obs = np.bincount(codes, weights=y, minlength=len(units)) / n
    if outcome == "leg_pain_change":
        res = random_intercept_model(y, X, codes, names=[f"x{j}" for j in range(X.shape[1])])
        beta = res.table["coef"].to_numpy()
        pred = X @ beta
        sigma2 = res.extra["sigma2"]
        exp = np.bincount(codes, weights=pred, minlength=len(units)) / n
        var = sigma2 / n
        big = n >= min_episodes
        tau2 = robust_tau2((obs - exp)[big], var[big])
        out = _finish(np.asarray(units), n, obs, exp, var, tau2, min_episodes)
        return out.assign(tau2=tau2, sigma2=sigma2, overall=float(y.mean()))
    fit = logistic_model(y, X, names=[f"x{j}" for j in range(X.shape[1])])
    p = 1 / (1 + np.exp(-np.clip(X @ fit.table["coef"].to_numpy(), -35, 35)))
    exp = np.bincount(codes, weights=p, minlength=len(units)) / n
    var = np.bincount(codes, weights=p * (1 - p), minlength=len(units)) / n**2
    big = n >= min_episodes
    tau2 = robust_tau2((obs - exp)[big], var[big])
    out = _finish(np.asarray(units), n, 100 * obs, 100 * exp, 1e4 * var, 1e4 * tau2, min_episodes)
    p0 = float(y.mean())
    return out.assign(tau2=1e4 * tau2, sigma2=1e4 * p0 * (1 - p0), overall=100 * p0)


def benchmark_document(tables: dict, *, by: str, min_episodes: int = MIN_EPISODES) -> dict:
    """The ``benchmark --json`` document: ``{"by", "min_episodes", "outcomes": {outcome: [rows]}}``.

    Rows are keyed ``unit, n, observed, expected, difference, ci_low, ci_high,
    shrunken, flag``; a figure not shown (a unit under the minimum) is ``null``.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import benchmark_document, benchmark_units
    >>> o = derive_outcomes(load_records("data/sample"))
    >>> doc = benchmark_document({"recovered": benchmark_units(o, by="clinic", outcome="recovered")}, by="clinic")
    >>> [r["unit"] for r in doc["outcomes"]["recovered"]], type(doc["outcomes"]["recovered"][0]["n"])
    (['CEN', 'NTH', 'STH'], <class 'int'>)
    """
    def number(v):
        return None if v is None or pd.isna(v) else float(v)

    rows = {}
    for outcome, t in tables.items():
        rows[outcome] = [{"unit": str(r["unit"]), "n": int(r["n"]),
                          **{c: number(r[c]) for c in ("observed", "expected", "difference", "ci_low", "ci_high",
                                                       "shrunken")},
                          "flag": r["flag"] if isinstance(r["flag"], str) else None}
                         for r in t.to_dict("records")]
    return {"by": by, "min_episodes": int(min_episodes), "outcomes": rows}
