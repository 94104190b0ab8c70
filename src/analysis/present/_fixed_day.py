"""Leg pain on fixed days, as a clinician reads it: a figure, its numbers, a table and one paragraph.

Pure functions of the disclosed result (:func:`analysis.disclosure.apply_disclosure_to_fixed_day`):
a mean or difference the rule hides is neither printed nor drawn, and one the data do not reach is
shown as "not estimated" with the reason.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._plots import _new_ax, _short, _style, modality_colors
from ._numbers import signed

__all__ = ["alt_fixed_day", "fixed_day_numbers", "fixed_day_sentence", "format_fixed_day_table", "plot_fixed_day"]

_MARKERS = ("o", "s", "D", "^", "v")


def _name(group: str, labels: dict) -> str:
    return "All modalities" if group == "Overall" else labels.get(group, group)


def _mean_cell(r: dict) -> str:
    if r["status"] in ("estimated", "caution") and pd.notna(r["mean"]):
        return f"{r['mean']:.1f} ({r['ci_low']:.1f} to {r['ci_high']:.1f})"
    return "not shown" if r["status"] == "hidden" else "not estimated"


def _diff_cell(r: dict | None) -> str:
    if r is None:
        return "reference"
    if pd.notna(r["difference"]):
        mark = " (few therapists)" if r["status"] == "caution" else ""
        return f"{signed(r['difference'], '.2f')} ({signed(r['ci_low'], '.2f')} to {signed(r['ci_high'], '.2f')}){mark}"
    return "not shown" if r["status"] == "hidden" else "not estimated"


def format_fixed_day_table(disclosed: dict, last_value=None, *, labels: dict | None = None) -> pd.DataFrame:
    """Each modality's modelled mean leg pain on the fixed days and its adjusted difference from the reference.

    Parameters
    ----------
    disclosed : dict
        From :func:`analysis.disclosure.apply_disclosure_to_fixed_day`.
    last_value : pandas.DataFrame, optional
        The disclosed last-value comparison (``adjusted["leg_pain_change"]``), shown beside it with the
        median day of the last value, so that both can be read together.
    labels : dict, optional, keyword-only

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import leg_pain_at_days
    >>> from analysis.disclosure import apply_disclosure_to_fixed_day, disclosure_rule
    >>> from analysis.present import format_fixed_day_table
    >>> rec = load_records("data/sample")
    >>> res = apply_disclosure_to_fixed_day(leg_pain_at_days(rec, derive_outcomes(rec)), rule=disclosure_rule("internal"))
    >>> t = format_fixed_day_table(res)
    >>> list(t.columns)[:3], t.iloc[0, 0]
    (['Modality', 'Leg pain on day 42', 'Leg pain on day 84'], 'All modalities')
    """
    labels = labels or {}
    days = disclosed["days"]
    m = disclosed["means"]
    diffs = {(r["modality"], r["day"]): r for r in disclosed["differences"].to_dict("records")}
    last = {r["modality"]: r for r in last_value.to_dict("records")} if last_value is not None else {}
    ld = {r["modality"]: r for r in disclosed["last_day"].to_dict("records")}
    rows = []
    for g in dict.fromkeys(m["group"]):
        row = {"Modality": _name(g, labels)}
        mine = {r["day"]: r for r in m[m["group"] == g].to_dict("records")}
        for day in days:
            row[f"Leg pain on day {day}"] = _mean_cell(mine[day]) if day in mine else "not estimated"
        for day in days:
            row[f"Difference on day {day}"] = "" if g == "Overall" else _diff_cell(
                None if g == disclosed["reference"] else diffs.get((g, day)))
        if last_value is not None:
            r = last.get(g)
            row["Last-value difference"] = "" if g == "Overall" else (
                "reference" if g == disclosed["reference"] else
                (f"{signed(r['difference'], '.2f')} ({signed(r['ci_low'], '.2f')} to {signed(r['ci_high'], '.2f')})"
                 if r is not None and pd.notna(r["difference"]) else "not shown"))
            q = ld.get(g)
            row["Day of last value, median"] = (f"day {q['median']:.0f}" if q is not None and pd.notna(q["median"])
                                                else "")
        rows.append(row)
    return pd.DataFrame(rows)


def plot_fixed_day(disclosed: dict, *, labels: dict | None = None, colors: dict | None = None, ax=None):
    """Modelled mean leg pain on each fixed day by modality, with 95% intervals; what is not shown says why.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import plot_fixed_day
    >>> m = pd.DataFrame({"group": ["Overall", "a", "b"] * 2, "day": [42] * 3 + [84] * 3,
    ...                   "mean": [4.0, 3.5, None, 3.5, 3.0, None], "ci_low": [3.8, 3.2, None, 3.3, 2.7, None],
    ...                   "ci_high": [4.2, 3.8, None, 3.7, 3.3, None], "status": ["estimated"] * 2 + ["hidden"]
    ...                   + ["estimated"] * 2 + ["hidden"]})
    >>> fig = plot_fixed_day({"means": m, "days": [42, 84]})
    >>> len(fig.axes[0].collections)  # per day: interval lines and points of the one shown modality
    4
    """
    labels = labels or {}
    m = disclosed["means"]
    days = disclosed["days"]
    groups = [g for g in dict.fromkeys(m["group"]) if g != "Overall"][::-1]
    colors = colors or modality_colors(groups)
    with _style():
        fig, ax = _new_ax(ax, (9, 0.6 * len(groups) + 2.0))
        y = np.arange(len(groups))
        step = 0.5 / max(len(days), 1)
        shown_any = False
        for j, day in enumerate(days):
            d = m[m["day"] == day].set_index("group").reindex(groups)
            ok = d["mean"].notna().to_numpy()
            off = (j - (len(days) - 1) / 2) * step
            c = [colors.get(g, "#444444") for g, k in zip(groups, ok) if k]
            if ok.any():
                shown_any = True
                ax.hlines(y[ok] + off, d["ci_low"].to_numpy()[ok], d["ci_high"].to_numpy()[ok], color=c, lw=2.2)
                ax.scatter(d["mean"].to_numpy()[ok], y[ok] + off, s=60, zorder=3, c=c, edgecolor="black",
                           linewidth=0.6, marker=_MARKERS[j % len(_MARKERS)], label=f"day {day}")
        centre = float(np.nanmean(m["mean"])) if shown_any else 5.0
        for yi, g in zip(y, groups):
            if m[(m["group"] == g)]["mean"].isna().all():
                st = m[m["group"] == g]["status"]
                why = "not shown (too few episodes)" if (st == "hidden").any() else "not estimated (too few visits)"
                ax.text(centre, yi, why, ha="center", va="center", fontsize=11, color="#555555", style="italic")
        ax.set_yticks(y)
        ax.set_yticklabels([_short(labels.get(g, g)) for g in groups])
        ax.set_ylim(-0.7, len(groups) - 0.3)
        ax.set_xlabel("Leg pain (0-10) on the day, modelled mean and 95% CI\n\u2190 less pain      more pain \u2192")
        ax.set_title("Leg pain on fixed days after the first visit, from every recorded visit", fontsize=13)
        if shown_any:  # grey keys beside the plot, so that the legend covers no modality's row
            from matplotlib.lines import Line2D

            keys = [Line2D([], [], ls="none", marker=_MARKERS[j % len(_MARKERS)], markersize=8, color="#777777",
                           markeredgecolor="black", label=f"day {d}" + (f" ({d // 7} weeks)" if d % 7 == 0 else ""))
                    for j, d in enumerate(days)]
            ax.legend(handles=keys, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      title="Day after the first visit")
        fig.tight_layout()
    return fig


def alt_fixed_day(disclosed: dict, *, labels: dict | None = None) -> str:
    """Alternative text for the fixed-day figure."""
    labels = labels or {}
    parts = []
    for day in disclosed["days"]:
        rows = disclosed["means"][disclosed["means"]["day"] == day]
        vals = [f"{_name(r['group'], labels)} {r['mean']:.1f}" if pd.notna(r["mean"]) else
                f"{_name(r['group'], labels)} not shown" for r in rows.to_dict("records")]
        parts.append(f"Day {day}: " + "; ".join(vals))
    return "Modelled mean leg pain (0-10) on fixed days by modality. " + ". ".join(parts) + "."


def fixed_day_numbers(disclosed: dict, *, labels: dict | None = None, count_format=None) -> pd.DataFrame:
    """The fixed-day figure's numbers as a table: the means it draws, under the same rule (*count_format*: the
    rule's way of printing a count, e.g. rounded to 5 under ``public``).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import fixed_day_numbers
    >>> m = pd.DataFrame({"group": ["Overall"], "day": [42], "mean": [4.0], "ci_low": [3.8], "ci_high": [4.2],
    ...                   "status": ["estimated"], "reach": [30], "n": [40]})
    >>> fixed_day_numbers({"means": m, "days": [42]}).values.tolist()
    [['All modalities', '4.0 (3.8 to 4.2)', '30 of 40']]
    """
    labels = labels or {}
    fmt = count_format or (lambda v: f"{int(v):,}")
    m = disclosed["means"]
    rows = []
    for g in dict.fromkeys(m["group"]):
        mine = {r["day"]: r for r in m[m["group"] == g].to_dict("records")}
        row = {"Modality": _name(g, labels)}
        for day in disclosed["days"]:
            r = mine.get(day)
            row[f"Day {day}, mean (95% CI)"] = _mean_cell(r) if r else "not estimated"
        for day in disclosed["days"]:
            r = mine.get(day)
            row[f"Episodes with a visit near day {day}"] = (f"{fmt(int(r['reach']))} of {fmt(int(r['n']))}"
                                                            if r and r["status"] != "hidden" else "not shown")
        rows.append(row)
    return pd.DataFrame(rows)


def fixed_day_sentence(disclosed: dict, *, labels: dict | None = None) -> str:
    """Why the fixed-day comparison is the fair one when courses differ in length, with this selection's numbers.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import leg_pain_at_days
    >>> from analysis.disclosure import apply_disclosure_to_fixed_day, disclosure_rule
    >>> from analysis.present import fixed_day_sentence
    >>> rec = load_records("data/sample")
    >>> res = apply_disclosure_to_fixed_day(leg_pain_at_days(rec, derive_outcomes(rec)), rule=disclosure_rule("internal"))
    >>> fixed_day_sentence(res)[:60]
    'The change in leg pain in the tables above uses each patient'
    """
    labels = labels or {}
    ld = disclosed["last_day"]
    ld = ld[ld["median"].notna()] if "median" in ld else ld.iloc[0:0]
    days = disclosed["days"]
    day_words = " and ".join(f"day {d}" + (f" ({d // 7} weeks)" if d % 7 == 0 else "") for d in days)
    text = ("The change in leg pain in the tables above uses each patient's last recorded value, whatever day "
            "that was. ")
    if len(ld) >= 2:
        lo, hi = ld.loc[ld["median"].idxmin()], ld.loc[ld["median"].idxmax()]
        if hi["median"] > lo["median"]:
            text += (f"Here the last value was taken at a median of day {lo['median']:.0f} for "
                     f"{labels.get(lo['modality'], lo['modality'])} but day {hi['median']:.0f} for "
                     f"{labels.get(hi['modality'], hi['modality'])}. ")
    text += ("Leg pain keeps falling for weeks, so a modality with longer courses has its last values taken further "
             "down the recovery curve and can look better for that reason alone. The figures here compare every "
             f"modality on the same days, {day_words}, estimated from all recorded visits with a model of each "
             "modality's pain over time, including patients seen only once. The differences compare patients "
             "with the same leg pain at the first visit and the same case mix, as the last-value comparison does. "
             "A figure is given only where enough of a modality's patients had a visit near that day; it is "
             "never extended beyond the data.")
    if disclosed.get("single_visit"):
        text += (f" {disclosed['single_visit']:,} episodes with a single leg-pain rating count here and not in the "
                 "last-value change.")
    return text
