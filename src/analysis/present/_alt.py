"""Alternative text for each figure, written from the same disclosed numbers the figure draws."""

from __future__ import annotations

import pandas as pd

from ..disclosure import CrudeDisclosure, DisclosureRule, disclose_crude
from ..methods import OutcomeSettings
from ._html import missing_estimate_text

__all__ = ["alt_adjusted_funnel", "alt_forest", "alt_funnel", "alt_survival", "alt_trajectories"]


def _name(labels, code):
    return (labels or {}).get(code, code)


def alt_trajectories(traj: pd.DataFrame, *, labels=None, min_n: int = 1) -> str:
    """Alternative text for the leg-pain trajectory figure, from its data."""
    t = traj[traj["n"] >= min_n]
    if t.empty:
        return "Line chart of mean leg pain by visit number; too few episodes to show."
    first = t[t["visit_no"] == t["visit_no"].min()]
    return (f"Line chart of mean leg pain (0-10) by visit number for {t['group'].nunique()} modalities, visits "
            f"{int(t['visit_no'].min())} to {int(t['visit_no'].max())}. At the first visit means range from "
            f"{first['mean'].min():.1f} to {first['mean'].max():.1f}; every line falls over the visits.")


def alt_survival(crude: pd.DataFrame, *, settings: OutcomeSettings, rule: DisclosureRule,
                 disclosed: CrudeDisclosure | None = None) -> str:
    """Alternative text for the Kaplan-Meier figure, from the crude outcome table and its decision."""
    decided = disclose_crude(crude, rule=rule) if disclosed is None else disclosed
    rows = crude.iloc[1:]
    shown = rows[rows["group"].isin(decided.shown_groups("surgery_free"))]
    text = (f"Kaplan-Meier curves of the proportion surgery-free over {settings.horizon_days} days for "
            f"{len(shown)} of {len(rows)} modalities, with the numbers at risk every 90 days in a table below.")
    if len(shown) < len(rows):
        text += f" {len(rows) - len(shown)} modalities have too few patients or surgeries to show."
    if len(shown):
        lo, hi = shown.loc[shown["surgery_free_rate"].idxmin()], shown.loc[shown["surgery_free_rate"].idxmax()]
        text += (f" At {settings.horizon_days} days the surgery-free proportion ranges from "
                 f"{100 * lo['surgery_free_rate']:.0f}% ({lo['label']}) to {100 * hi['surgery_free_rate']:.0f}% "
                 f"({hi['label']}).")
    return text


def alt_forest(adjusted: pd.DataFrame, *, estimate: str, labels=None, reference_label: str = "") -> str:
    """Alternative text for a forest plot, from its table."""
    what = {"difference": "difference in final leg pain (points)", "odds_ratio": "odds ratio of recovery",
            "hazard_ratio": "hazard ratio of surgery"}[estimate]
    parts = []
    for r in adjusted.to_dict("records"):
        if pd.isna(r[estimate]):
            parts.append(f"{_name(labels, r['modality'])} {missing_estimate_text(r, estimate)}")
        else:
            parts.append(f"{_name(labels, r['modality'])} {r[estimate]:.2f} ({r['ci_low']:.2f} to {r['ci_high']:.2f})")
    return (f"Forest plot of the adjusted {what} against {reference_label}, with 95% confidence intervals: "
            + "; ".join(parts) + ".")


def alt_adjusted_funnel(bench: pd.DataFrame, *, unit: str = "therapist", outcome: str = "recovery") -> str:
    """Alternative text for the risk-adjusted funnel plot, from its table.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import alt_adjusted_funnel
    >>> b = pd.DataFrame({"unit": ["T1", "T2"], "n": [50, 60], "difference": [2.0, -3.0], "flag": [None, "below"]})
    >>> alt_adjusted_funnel(b).endswith("Below the 99.8% limits: T2.")
    True
    """
    shown = bench[bench["difference"].notna()]
    if shown.empty:
        return f"Risk-adjusted funnel plot of {outcome} by {unit}: no {unit} has enough episodes to show."
    text = (f"Risk-adjusted funnel plot of {outcome}: for each of {len(shown)} {unit}s, observed minus expected "
            f"(given their patients' case mix) against their number of episodes, with 95% and 99.8% limits "
            f"around zero. ")
    above = shown.loc[shown["flag"] == "above", "unit"].astype(str).tolist()
    below = shown.loc[shown["flag"] == "below", "unit"].astype(str).tolist()
    if not above and not below:
        outside95 = int(((shown["ci_low"] > 0) | (shown["ci_high"] < 0)).sum()) if "ci_low" in shown else 0
        return text + ("All lie within the 99.8% limits; " + (f"{outside95} differ from expected by more than "
                       "their own 95% interval." if outside95 else "none differs clearly from expected."))
    if above:
        text += f"Above the 99.8% limits: {', '.join(above)}. "
    if below:
        text += f"Below the 99.8% limits: {', '.join(below)}."
    return text.strip()


def alt_funnel(funnel: pd.DataFrame, *, unit: str = "clinic") -> str:
    """Alternative text for the funnel plot."""
    if funnel.empty:
        return f"Funnel plot of recovery by {unit}: no {unit} has enough episodes to show."
    out99 = funnel.loc[funnel["outside_99.8"], "unit"].tolist()
    out95 = funnel.loc[funnel["outside_95"] & ~funnel["outside_99.8"], "unit"].tolist()
    text = (f"Funnel plot of the recovery rate of {len(funnel)} {unit}s against their number of rated episodes, "
            f"around the overall rate of {100 * funnel['overall'].iloc[0]:.0f}%. ")
    if not out95 and not out99:
        return text + "All lie within the 95% limits."
    if out99:
        text += f"Outside the 99.8% limits: {', '.join(map(str, out99))}. "
    if out95:
        text += f"Outside the 95% but within the 99.8% limits: {', '.join(map(str, out95))}."
    return text.strip()
