"""A crude rate by modality as dots with intervals (the explorer's responder figure), from the disclosure decision."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd

from ..disclosure import CrudeDisclosure
from ._plots import _new_ax, _short, _style, modality_colors

__all__ = ["alt_rates", "plot_rates", "rates_numbers"]

_NAMES = {"responder": "Responders (leg pain)", "recovered": "Recovered at discharge", "surgery_free": "Surgery-free"}


def _rows(disclosed: CrudeDisclosure, key: str) -> pd.DataFrame:
    t = disclosed.table
    t = t[t["group"] != "Overall"].reset_index(drop=True)
    shown = set(disclosed.shown_groups(key))
    return t.assign(shown=t["group"].isin(shown) & t[f"{key}_rate"].notna())


def plot_rates(disclosed: CrudeDisclosure, *, key: str = "responder", labels: dict | None = None,
               colors: dict | None = None, ax=None):
    """Each modality's crude rate (95% CI) as a dot and line, in the table's order; hidden ones say so.

    Parameters
    ----------
    disclosed : CrudeDisclosure
        The decision about the crude outcome table
        (:func:`analysis.disclosure.disclose_crude`): only the rates it shows
        are drawn.
    key : {"responder", "recovered", "surgery_free"}, keyword-only

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, outcome_table
    >>> from analysis.disclosure import disclose_crude, disclosure_rule
    >>> from analysis.present import plot_rates
    >>> d = disclose_crude(outcome_table(derive_outcomes(load_records("data/sample"))), rule=disclosure_rule("internal"))
    >>> len(plot_rates(d).axes[0].collections[1].get_offsets())
    9
    """
    if key not in _NAMES:
        raise ValueError(f"key must be one of {', '.join(_NAMES)}")
    labels = labels or {}
    d = _rows(disclosed, key).iloc[::-1].reset_index(drop=True)  # first row at the top
    colors = colors or modality_colors(d["group"])
    ok = d["shown"].to_numpy(dtype=bool)
    overall = disclosed.table[disclosed.table["group"] == "Overall"]
    with _style():
        fig, ax = _new_ax(ax, (9, 0.55 * len(d) + 1.8))
        y = np.arange(len(d))
        c = [colors.get(g, "#444444") for g in d.loc[ok, "group"]]
        ax.hlines(y[ok], 100 * d.loc[ok, f"{key}_ci_low"], 100 * d.loc[ok, f"{key}_ci_high"], color=c, lw=2.5)
        ax.scatter(100 * d.loc[ok, f"{key}_rate"], y[ok], s=70, zorder=3, c=c, edgecolor="black", linewidth=0.6)
        if len(overall) and disclosed.cell("Overall", key).shown:
            ax.axvline(100 * float(overall[f"{key}_rate"].iloc[0]), color="#555555", lw=1.2, ls="--",
                       label="all modalities")
            ax.legend(frameon=False, loc="lower right")
        for yi in y[~ok]:
            ax.text(50, yi, "not shown (too few episodes or events)", ha="center", va="center", fontsize=11,
                    color="#555555", style="italic")
        ax.set_xlim(0, 100)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(100))
        ax.set_yticks(y)
        ax.set_yticklabels([_short(labels.get(g, g)) for g in d["group"]])
        ax.set_ylim(-0.7, len(d) - 0.3)
        ax.set_xlabel(f"{_NAMES[key]}, % with 95% confidence interval (crude: not adjusted for case mix)")
        ax.set_title(f"{_NAMES[key]} by modality", fontsize=13, loc="left")
    return fig


def rates_numbers(disclosed: CrudeDisclosure, *, key: str = "responder", labels: dict | None = None) -> pd.DataFrame:
    """The numbers :func:`plot_rates` draws: rate (95% CI) and episodes it rests on, or why none is shown."""
    labels = labels or {}
    rule = disclosed.rule
    rows = []
    for r in _rows(disclosed, key).to_dict("records"):
        if not r["shown"]:
            cell = "not shown (too few episodes or events)"
        else:
            cell = (f"{100 * r[f'{key}_rate']:.0f}% ({100 * r[f'{key}_ci_low']:.0f} to "
                    f"{100 * r[f'{key}_ci_high']:.0f}); n = {rule.count(r[f'{key}_n'])}")
        rows.append({"Modality": labels.get(r["group"], r["group"]), f"{_NAMES[key]} (95% CI)": cell})
    return pd.DataFrame(rows)


def alt_rates(disclosed: CrudeDisclosure, *, key: str = "responder", labels: dict | None = None) -> str:
    """Alternative text for :func:`plot_rates`."""
    d = _rows(disclosed, key)
    shown = d[d["shown"]]
    text = f"Dot chart of the crude {_NAMES[key].lower()} rate by modality with 95% confidence intervals"
    if len(shown):
        lo = shown.loc[shown[f"{key}_rate"].idxmin()]
        hi = shown.loc[shown[f"{key}_rate"].idxmax()]
        text += (f"; rates range from {100 * lo[f'{key}_rate']:.0f}% ({(labels or {}).get(lo['group'], lo['group'])})"
                 f" to {100 * hi[f'{key}_rate']:.0f}% ({(labels or {}).get(hi['group'], hi['group'])})")
    if len(shown) < len(d):
        text += f"; {len(d) - len(shown)} modalities not shown (too few episodes or events)"
    return text + "."
