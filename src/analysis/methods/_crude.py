"""Crude outcomes by modality: means, Wilson rates and Kaplan-Meier survival at the horizon, with intervals."""

from __future__ import annotations

import pandas as pd

from ..stats import (
    mean_ci,
    survival_at,
    wilson_interval,
)
from ._outcomes import OutcomeSettings


def _outcomes_for(df: pd.DataFrame, s: OutcomeSettings) -> dict:
    lp = mean_ci(df["leg_pain_change"].to_numpy(dtype="float64"), confidence=s.confidence)
    resp = df["responder"].dropna()
    rec = df["recovered"].dropna()
    r = wilson_interval(int(resp.sum()), len(resp), confidence=s.confidence).iloc[0]
    c = wilson_interval(int(rec.sum()), len(rec), confidence=s.confidence).iloc[0]
    pop = df[df["in_population"]]
    sf = survival_at(pop["surgery_time"].to_numpy(), pop["surgery_event"].to_numpy(), s.horizon_days,
                     confidence=s.confidence)
    return {
        "episodes": len(df),
        "leg_pain_change": {"n": lp["n"], "mean": lp["mean"], "sd": lp["sd"], "ci_low": lp["ci_low"], "ci_high": lp["ci_high"]},
        "responder": {"n": int(r["n"]), "events": int(r["events"]), "rate": r["rate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]},
        "recovered": {"n": int(c["n"]), "events": int(c["events"]), "rate": c["rate"], "ci_low": c["ci_low"], "ci_high": c["ci_high"]},
        "surgery_free": {"n": sf["n"], "events": sf["events"], "rate": sf["rate"], "ci_low": sf["ci_low"],
                         "ci_high": sf["ci_high"], "note": sf["note"]},
    }


def outcome_table(outcomes: pd.DataFrame, *, by: str = "modality", settings: OutcomeSettings | None = None,
                  labels: dict | None = None, overall: bool = True) -> pd.DataFrame:
    """Crude outcomes by group with confidence intervals, one row per group.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes`.
    by : str, keyword-only
        Grouping column (``modality``, ``clinic``, ``therapist``).
    settings : OutcomeSettings, optional, keyword-only
        The settings the outcomes were derived with (default settings if omitted).
    labels : dict, optional, keyword-only
        Code -> label for a ``label`` column.
    overall : bool, keyword-only
        Add an ``Overall`` row first.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``label``, ``episodes``; ``leg_pain_change_n``,
        ``leg_pain_change_mean``, ``leg_pain_change_sd``, ``leg_pain_change_ci_low``,
        ``leg_pain_change_ci_high``; for ``responder``, ``recovered`` and
        ``surgery_free``: ``_n``, ``_events``, ``_rate``, ``_ci_low``, ``_ci_high``.
        Groups in code order.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import outcome_table
    >>> tab = outcome_table(derive_outcomes(load_records("data/sample")))
    >>> tab["group"].iloc[0], len(tab)
    ('Overall', 10)
    """
    s = settings or OutcomeSettings()
    rows = []
    if overall:
        rows.append(("Overall", "Overall", _outcomes_for(outcomes, s)))
    # only the columns the figures need: splitting a million rows' text columns by group costs more
    needed = [c for c in dict.fromkeys([by, "leg_pain_change", "responder", "recovered", "in_population",
                                        "surgery_time", "surgery_event"]) if c in outcomes.columns]
    for code, df in sorted(outcomes[needed].groupby(by, sort=False), key=lambda kv: str(kv[0])):
        rows.append((code, (labels or {}).get(code, code), _outcomes_for(df, s)))
    flat = []
    for code, label, o in rows:
        rec = {"group": code, "label": label, "episodes": o["episodes"]}
        for key in ("leg_pain_change", "responder", "recovered", "surgery_free"):
            for k, v in o[key].items():
                if k != "note":
                    rec[f"{key}_{k}"] = v
        rec["surgery_free_note"] = o["surgery_free"]["note"]
        flat.append(rec)
    return pd.DataFrame(flat)


