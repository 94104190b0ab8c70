"""Tables of benchmarking, data completeness and exclusions for people, under a disclosure rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..disclosure import (
    CellState,
    DisclosureRule,
    group_column_states,
    protect,
)
from ._numbers import signed


def format_benchmark_table(leg_pain: pd.DataFrame, recovered: pd.DataFrame, *, unit_label: str = "Therapist",
                           rule=None) -> pd.DataFrame:
    """Observed against expected per unit, both outcomes side by side, for people.

    Parameters
    ----------
    leg_pain, recovered : pandas.DataFrame
        From :func:`analysis.methods.benchmark_units` for each outcome.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import benchmark_units
    >>> from analysis.present import format_benchmark_table
    >>> o = derive_outcomes(load_records("data/sample"))
    >>> t = format_benchmark_table(benchmark_units(o), benchmark_units(o, outcome="recovered"))
    >>> list(t.columns)[:2]
    ['Therapist', 'Episodes (leg pain)']
    """
    from ..disclosure import disclosure_rule

    rule = rule or disclosure_rule("internal")

    def cell(r, unit, fmt):
        if pd.isna(r["difference"]):
            return r["note"] or "not shown"
        flag = {"above": " (above the 99.8% limit)", "below": " (below the 99.8% limit)"}.get(r["flag"], "")
        return (f"{r['observed']:{fmt}} vs {r['expected']:{fmt}} expected: {signed(r['difference'], fmt)}{unit} "
                f"({signed(r['ci_low'], fmt)} to {signed(r['ci_high'], fmt)}); allowing for caseload size "
                f"{signed(r['shrunken'], fmt)}{_interval(r, fmt)}{flag}")

    def _interval(r, fmt):
        lo, hi = r.get("shrunken_low"), r.get("shrunken_high")
        if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
            return ""
        return f" ({signed(lo, fmt)} to {signed(hi, fmt)})"

    rc = recovered.set_index("unit")
    rows = []
    for r in leg_pain.to_dict("records"):
        q = rc.loc[r["unit"]].to_dict() if r["unit"] in rc.index else None
        rows.append({
            unit_label: r["unit"],
            "Episodes (leg pain)": rule.count(r["n"]),
            "Final leg pain, points: observed vs expected, difference (95% CI)": cell(r, "", ".1f"),
            "Episodes (rated)": rule.count(q["n"]) if q else "",
            "Recovered, %: observed vs expected, difference in points (95% CI)": cell(q, "", ".0f") if q else "",
        })
    return pd.DataFrame(rows)


def format_completeness_table(table: pd.DataFrame, *, labels: dict | None = None, rule=None) -> pd.DataFrame:
    """Completeness of each outcome by group as a readable table, with disclosure control.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`analysis.methods.completeness_table`.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import completeness_table
    >>> from analysis.present import format_completeness_table
    >>> t = format_completeness_table(completeness_table(derive_outcomes(load_records("data/sample"))))
    >>> t.columns[0], t.iloc[0, 0]
    ('Group', 'Overall')
    """
    from ..disclosure import disclosure_rule

    labels = labels or {}
    rule = rule or disclosure_rule("internal")
    from ..methods import COMPLETENESS_ITEMS

    recs = table.to_dict("records")
    keys = {key: (f"{key}_n" if f"{key}_n" in recs[0] else key) for key in COMPLETENESS_ITEMS} if recs else {}
    states = {col: group_column_states(recs, col, rule)
              for col in ["episodes", *keys.values()]}
    rows = []
    for i, r in enumerate(recs):
        ep_hidden = states["episodes"][i] != CellState.SHOWN
        row = {"Group": labels.get(r["group"], r["group"]), "Episodes": rule.count_in(r["episodes"], states["episodes"][i])}
        for key, name in COMPLETENESS_ITEMS.items():
            col = keys[key]
            n, st = r[col], states[col][i]
            if st != CellState.SHOWN or ep_hidden:  # a percentage of a hidden total gives the total away
                row[name] = rule.count_in(n, st)
            else:
                row[name] = rule.count_percent(n, r["episodes"], decimals=0)
        rows.append(row)
    return pd.DataFrame(rows)


def format_exclusions(table: pd.DataFrame, *, rule: DisclosureRule) -> pd.DataFrame:
    """The exclusions table for people, counts under the disclosure rule.

    Included + left out = all episodes (shown exactly elsewhere), so a hidden
    count's partner in its row is hidden too (secondary suppression).
    """
    from ..disclosure import CellState

    inc = [""] * len(table)
    exc = [""] * len(table)
    for _, idx in table.groupby("analysis", sort=False).indices.items():
        rows = table.iloc[idx]
        included = int(rows["included"].iloc[0])
        v = [included, *(int(x) for x in rows["excluded"])]
        v.append(sum(v))  # all episodes, shown exactly elsewhere in the report
        if rule.name == "none":
            st = [CellState.SHOWN] * len(v)
        else:
            st = protect(v, [rule.small(x) for x in v[:-1]] + [False],
                         [(np.arange(len(v)), np.r_[np.ones(len(v) - 1), -1.0])], rounding=rule.rounding).tolist()
        for j, i in enumerate(idx):
            inc[i] = rule.count_in(included, st[0])
            exc[i] = rule.count_in(v[j + 1], st[j + 1])
    return pd.DataFrame({
        "Analysis": table["analysis"],
        "Episodes included": inc,
        "Left out": exc,
        "Reason": table["reason"],
    })


