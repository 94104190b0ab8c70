"""Secondary outcomes by modality: disability (ODI), back pain, sessions and days to discharge (spec section 3).

- ``odi_change``: last ODI of the episode (at a later visit than the first) minus the first (0-100;
  negative is less disability), mean with a t interval;
- ``odi_responder``: ODI improved by at least ``odi_points`` (10) and ``odi_fraction`` (30 %) of the
  first value, Wilson interval;
- ``back_pain_change``: as leg pain, for back pain (0-10 NRS);
- ``sessions``: attended sessions per episode (episodes with at least one visit), and
  ``days_to_discharge`` (discharged episodes): median with quartiles, and mean with a t interval.

Each outcome's ``n`` is the number of episodes it is defined for, so that a report can show how
completely it was recorded (ODI is often recorded at some clinics only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import mean_ci, wilson_interval
from ._outcomes import OutcomeSettings

__all__ = ["SECONDARY_COUNTS", "SECONDARY_MEANS", "SECONDARY_RATES", "secondary_outcome_table"]

#: Outcomes summarised as a mean change with a t interval.
SECONDARY_MEANS = ("odi_change", "back_pain_change")
#: Outcomes summarised as a rate with a Wilson interval.
SECONDARY_RATES = ("odi_responder",)
#: Outcomes summarised by median and quartiles (and mean).
SECONDARY_COUNTS = ("sessions", "days_to_discharge")


def _block(df: pd.DataFrame, s: OutcomeSettings) -> dict:
    rec: dict = {"episodes": len(df)}
    for key in SECONDARY_MEANS:
        m = mean_ci(df[key].to_numpy(dtype="float64", na_value=np.nan), confidence=s.confidence)
        rec.update({f"{key}_n": int(m["n"]), f"{key}_mean": m["mean"], f"{key}_ci_low": m["ci_low"],
                    f"{key}_ci_high": m["ci_high"]})
    for key in SECONDARY_RATES:
        v = df[key].dropna()
        r = wilson_interval(int(v.sum()), len(v), confidence=s.confidence).iloc[0]
        rec.update({f"{key}_n": int(r["n"]), f"{key}_events": int(r["events"]), f"{key}_rate": r["rate"],
                    f"{key}_ci_low": r["ci_low"], f"{key}_ci_high": r["ci_high"]})
    for key in SECONDARY_COUNTS:
        v = df[key].to_numpy(dtype="float64", na_value=np.nan)
        if key == "sessions":
            v = np.where(v > 0, v, np.nan)
        v = v[~np.isnan(v)]
        m = mean_ci(v, confidence=s.confidence)
        q = np.percentile(v, [25, 50, 75]) if len(v) else (np.nan,) * 3
        rec.update({f"{key}_n": int(len(v)), f"{key}_median": float(q[1]), f"{key}_q1": float(q[0]),
                    f"{key}_q3": float(q[2]), f"{key}_mean": m["mean"], f"{key}_ci_low": m["ci_low"],
                    f"{key}_ci_high": m["ci_high"]})
    return rec


def secondary_outcome_table(outcomes: pd.DataFrame, *, by: str = "modality", settings: OutcomeSettings | None = None,
                            labels: dict | None = None, overall: bool = True) -> pd.DataFrame:
    """Secondary outcomes by group, one row per group (``Overall`` first), groups in code order.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``label``, ``episodes``; for ``odi_change`` and
        ``back_pain_change``: ``_n``, ``_mean``, ``_ci_low``, ``_ci_high``; for
        ``odi_responder``: ``_n``, ``_events``, ``_rate``, ``_ci_low``,
        ``_ci_high``; for ``sessions`` and ``days_to_discharge``: ``_n``,
        ``_median``, ``_q1``, ``_q3``, ``_mean``, ``_ci_low``, ``_ci_high``.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import secondary_outcome_table
    >>> t = secondary_outcome_table(derive_outcomes(load_records("data/sample")))
    >>> t["group"].iloc[0], bool(t["odi_change_n"].iloc[0] < t["episodes"].iloc[0]), bool(t["sessions_median"].iloc[0] > 1)
    ('Overall', True, True)
    """
    s = settings or OutcomeSettings()
    cols = [by, *SECONDARY_MEANS, *SECONDARY_RATES, *SECONDARY_COUNTS]
    d = outcomes[[c for c in dict.fromkeys(cols) if c in outcomes.columns]]
    rows = []
    if overall:
        rows.append({"group": "Overall", "label": "Overall", **_block(d, s)})
    for code, g in sorted(d.groupby(by, sort=False), key=lambda kv: str(kv[0])):
        rows.append({"group": code, "label": (labels or {}).get(code, code), **_block(g, s)})
    return pd.DataFrame(rows)
