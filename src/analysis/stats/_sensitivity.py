"""Sensitivity to unmeasured confounding: E-values (VanderWeele & Ding 2017).

The E-value is the minimum strength of association, on the risk-ratio scale,
that an unmeasured confounder would need to have with both the modality and
the outcome, beyond the case mix already adjusted for, to explain an observed
association away. An E-value near 1 means a weak confounder would do; a large
one means only a strong confounder could.

- Risk ratio RR >= 1: E = RR + sqrt(RR (RR - 1)); below 1, RR is inverted first.
- Interval: the formula is applied to the limit closest to 1; an interval
  that contains 1 has E-value 1.
- Conversions to the risk-ratio scale (VanderWeele 2017; Ann Intern Med
  167:268): odds ratio of a common outcome (over 15 %): RR = sqrt(OR); hazard
  ratio of a common outcome: RR = (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR));
  rare outcomes: RR = OR = HR; difference in means: d = difference / SD,
  RR = exp(0.91 d).
"""

from __future__ import annotations

import numpy as np

__all__ = ["COMMON_OUTCOME", "e_value", "to_risk_ratio"]

#: Outcome frequency above which odds and hazard ratios are converted ("common outcome").
COMMON_OUTCOME = 0.15


def to_risk_ratio(estimate, *, scale: str, common: bool = False, sd: float | None = None) -> np.ndarray:
    """Approximate risk ratio for an odds ratio, hazard ratio or mean difference.

    Parameters
    ----------
    estimate : float or array-like
    scale : {"ratio", "odds_ratio", "hazard_ratio", "difference"}, keyword-only
    common : bool, keyword-only
        The outcome is common (over 15 %): convert odds and hazard ratios.
    sd : float, keyword-only
        Standard deviation of the outcome, for ``difference``.

    Examples
    --------
    >>> from analysis.stats import to_risk_ratio
    >>> float(to_risk_ratio(4.0, scale="odds_ratio", common=True))
    2.0
    """
    x = np.asarray(estimate, dtype="float64")
    # a difference of hundreds of SDs (a handful of episodes) converts to an infinite ratio: no warning
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if scale == "ratio" or (scale in ("odds_ratio", "hazard_ratio") and not common):
            return x
        if scale == "odds_ratio":
            return np.sqrt(x)
        if scale == "hazard_ratio":
            return (1 - 0.5 ** np.sqrt(x)) / (1 - 0.5 ** np.sqrt(1 / x))
        if scale == "difference":
            if sd is None or not np.isfinite(sd) or sd <= 0:
                return np.full_like(x, np.nan)
            return np.exp(0.91 * x / sd)
    raise ValueError("scale must be 'ratio', 'odds_ratio', 'hazard_ratio' or 'difference'")


def _e(rr: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = np.where(rr < 1, 1 / rr, rr)
        return r + np.sqrt(r) * np.sqrt(r - 1)  # not sqrt(r (r - 1)), which overflows from r = 1e154


def e_value(estimate, ci_low, ci_high, *, scale: str, common: bool = False,
            sd: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """E-values for point estimates and for their confidence limits.

    Returns
    -------
    (e_value, e_value_ci) : arrays
        NaN where the estimate is missing.

    Examples
    --------
    VanderWeele & Ding (2017), breastfeeding example: RR 3.9 (1.8 to 8.7) gives
    E-values 7.26 and 3.0.

    >>> from analysis.stats import e_value
    >>> e, lo = e_value(3.9, 1.8, 8.7, scale="ratio")
    >>> round(float(e), 2), round(float(lo), 2)
    (7.26, 3.0)
    """
    rr = to_risk_ratio(estimate, scale=scale, common=common, sd=sd)
    lo = to_risk_ratio(ci_low, scale=scale, common=common, sd=sd)
    hi = to_risk_ratio(ci_high, scale=scale, common=common, sd=sd)
    point = _e(rr)
    contains = (lo <= 1) & (hi >= 1)
    nearest = np.where(rr >= 1, lo, hi)
    ci = np.where(contains, 1.0, _e(nearest))
    bad = ~np.isfinite(rr)
    return np.where(bad, np.nan, point), np.where(bad | ~np.isfinite(lo) | ~np.isfinite(hi), np.nan, ci)
