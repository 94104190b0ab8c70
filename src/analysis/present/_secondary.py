"""Secondary outcomes as a clinician reads them: one table by modality and the disability figure.

Pure functions of the disclosed table (:func:`analysis.disclosure.apply_disclosure_to_secondary`): a
mean, rate or median the rule hides is neither printed nor drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._plots import _new_ax, _short, _style, modality_colors
from ._numbers import signed

__all__ = ["SECONDARY_HEADS", "alt_secondary", "format_secondary_table", "plot_secondary", "secondary_numbers"]

#: Column headings of the secondary outcome table.
SECONDARY_HEADS = {
    "odi_change": "Disability (ODI 0-100) change, mean (95% CI)",
    "odi_responder": "ODI improved by 10+ points and 30%+",
    "back_pain_change": "Back pain (0-10) change, mean (95% CI)",
    "sessions": "Sessions, median [IQR]",
    "days_to_discharge": "Days to discharge, median [IQR]",
}
#: Shown beside an outcome recorded for fewer than this share of the episodes.
COMPLETENESS_FLAG = 0.5


def _short_number(v: float) -> str:
    """A median or quartile with at most one decimal: 6, 41.5, 21.8."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _cell(r: dict, key: str, rule) -> str:
    n_text = rule.count_in(r[f"{key}_n"], int(r[f"{key}_state"]))
    if not r[f"{key}_shown"]:
        return f"not shown (n = {n_text})" if r[f"{key}_n"] else "not recorded"
    if key in ("odi_change", "back_pain_change"):
        d = 1 if key == "odi_change" else 2
        body = f"{r[f'{key}_mean']:+.{d}f} ({r[f'{key}_ci_low']:+.{d}f} to {r[f'{key}_ci_high']:+.{d}f})"
    elif key == "odi_responder":
        body = f"{rule.percent(r[f'{key}_events'], r[f'{key}_n'])} ({100 * r[f'{key}_ci_low']:.0f} to " \
               f"{100 * r[f'{key}_ci_high']:.0f}%)"
    else:
        body = f"{_short_number(r[f'{key}_median'])} [{_short_number(r[f'{key}_q1'])}-{_short_number(r[f'{key}_q3'])}]"
    share = r[f"{key}_n"] / r["episodes"] if r["episodes"] else 1.0
    flag = f", recorded for {100 * share:.0f}% of episodes" if share < COMPLETENESS_FLAG else ""
    return f"{body}; n = {n_text}{flag}"


def format_secondary_table(disclosed: pd.DataFrame, *, rule, labels: dict | None = None) -> pd.DataFrame:
    """The secondary outcomes by modality, as shown (strings), ``Overall`` first.

    Each cell gives the figure and the episodes it rests on; an outcome
    recorded for fewer than half of a group's episodes says so in the cell.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import secondary_outcome_table
    >>> from analysis.disclosure import apply_disclosure_to_secondary, disclosure_rule
    >>> from analysis.present import format_secondary_table
    >>> rule = disclosure_rule("internal")
    >>> t = secondary_outcome_table(derive_outcomes(load_records("data/sample")))
    >>> f = format_secondary_table(apply_disclosure_to_secondary(t, rule=rule), rule=rule)
    >>> f.iloc[0, 0], f.iloc[0, 4]
    ('Overall', '6 [4-9]; n = 1,500')
    """
    labels = labels or {}
    rows = []
    for r in disclosed.to_dict("records"):
        row = {"Modality": "Overall" if r["group"] == "Overall" else labels.get(r["group"], r["label"])}
        for key, head in SECONDARY_HEADS.items():
            row[head] = _cell(r, key, rule)
        rows.append(row)
    return pd.DataFrame(rows, columns=["Modality", *SECONDARY_HEADS.values()])


def plot_secondary(disclosed: pd.DataFrame, *, key: str = "odi_change", labels: dict | None = None,
                   colors: dict | None = None, ax=None):
    """Each modality's mean change in disability (ODI) with its 95% interval; hidden ones say so.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import plot_secondary
    >>> t = pd.DataFrame({"group": ["Overall", "a", "b"], "odi_change_mean": [-10.0, -12.0, -8.0],
    ...                   "odi_change_ci_low": [-11.0, -14.0, -9.0], "odi_change_ci_high": [-9.0, -10.0, -7.0],
    ...                   "odi_change_shown": [True, True, False]})
    >>> len(plot_secondary(t).axes[0].collections[1].get_offsets())  # b is hidden: one point
    1
    """
    labels = labels or {}
    d = disclosed[disclosed["group"] != "Overall"].iloc[::-1].reset_index(drop=True)
    colors = colors or modality_colors(d["group"])
    ok = d[f"{key}_shown"].to_numpy(dtype=bool)
    overall = disclosed[disclosed["group"] == "Overall"]
    with _style():
        fig, ax = _new_ax(ax, (9, 0.55 * len(d) + 1.8))
        y = np.arange(len(d))
        c = [colors.get(g, "#444444") for g in d.loc[ok, "group"]]
        ax.hlines(y[ok], d.loc[ok, f"{key}_ci_low"], d.loc[ok, f"{key}_ci_high"], color=c, lw=2.5)
        ax.scatter(d.loc[ok, f"{key}_mean"], y[ok], s=70, zorder=3, c=c, edgecolor="black", linewidth=0.6)
        if len(overall) and bool(overall[f"{key}_shown"].iloc[0]):
            ax.axvline(float(overall[f"{key}_mean"].iloc[0]), color="#555555", lw=1.2, ls="--",
                       label="all modalities")
            ax.legend(frameon=False, loc="lower right")
        centre = float(np.nanmean(d.loc[ok, f"{key}_mean"])) if ok.any() else 0.0
        for yi in y[~ok]:
            ax.text(centre, yi, "not shown (too few episodes)", ha="center", va="center", fontsize=11,
                    color="#555555", style="italic")
        ax.set_yticks(y)
        ax.set_yticklabels([_short(labels.get(g, g)) for g in d["group"]])
        ax.set_ylim(-0.7, len(d) - 0.3)
        ax.set_xlabel("Change in disability (ODI points, 0-100), mean and 95% CI\n\u2190 less disability      "
                      "more disability \u2192")
        ax.set_title("Disability (ODI): change from the first to the last recorded visit", fontsize=13)
        fig.tight_layout()
    return fig


def alt_secondary(disclosed: pd.DataFrame, *, key: str = "odi_change", labels: dict | None = None) -> str:
    """Alternative text for the disability figure."""
    labels = labels or {}
    parts = [f"{'all modalities' if r['group'] == 'Overall' else labels.get(r['group'], r['group'])} "
             f"{signed(r[f'{key}_mean'], '.1f')}" if r[f"{key}_shown"] else
             f"{labels.get(r['group'], r['group'])} not shown"
             for r in disclosed.to_dict("records")]
    return "Mean change in disability (ODI points) by modality: " + "; ".join(parts) + "."


def secondary_numbers(disclosed: pd.DataFrame, *, rule, key: str = "odi_change",
                      labels: dict | None = None) -> pd.DataFrame:
    """The disability figure's numbers as a table (the table's own cells).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.present import secondary_numbers
    >>> t = pd.DataFrame({"group": ["Overall"], "label": ["Overall"], "episodes": [10], "odi_change_n": [9],
    ...                   "odi_change_state": [0], "odi_change_shown": [True], "odi_change_mean": [-10.0],
    ...                   "odi_change_ci_low": [-11.0], "odi_change_ci_high": [-9.0]})
    >>> secondary_numbers(t, rule=disclosure_rule("internal")).values.tolist()
    [['Overall', '-10.0 (-11.0 to -9.0); n = 9']]
    """
    labels = labels or {}
    return pd.DataFrame({"Modality": [labels.get(g, g) for g in disclosed["group"]],
                         SECONDARY_HEADS[key]: [_cell(r, key, rule) for r in disclosed.to_dict("records")]})
