"""The numbers behind each figure, as tables printed with it (spec section 7).

Each function takes exactly what its figure draws (already disclosed: the
curves, points and counts the figure may show) and returns a display table
of strings, so a reader who cannot read a picture, or prints the page, has
the same figures in words and the figure shows nothing its table does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["forest_numbers", "signed", "survival_numbers", "trajectory_numbers"]


def signed(v, fmt: str) -> str:
    """A signed figure, with no "-0" where it rounds to zero ("-0.00" reads as a negative difference).

    >>> signed(-0.01, ".1f"), signed(0.26, ".1f"), signed(-0.004, ".2f"), signed(-0.62, ".2f")
    ('0.0', '+0.3', '0.00', '-0.62')
    """
    s = f"{v:+{fmt}}"
    return s[1:] if float(s) == 0 else s


def _name(labels, code) -> str:
    return str((labels or {}).get(code, code))


def survival_numbers(curves: pd.DataFrame, at_risk: pd.DataFrame, *, labels: dict | None = None,
                     count_format=None, min_at_risk: int = 1) -> pd.DataFrame:
    """Surgery-free percentage and numbers at risk at each time of the at-risk table, per curve drawn.

    Parameters
    ----------
    curves, at_risk : pandas.DataFrame
        What the survival figure draws (from
        :func:`analysis.disclosure.disclose_survival`).
    labels : dict, optional, keyword-only
    count_format : callable, optional, keyword-only
        How a count is shown (the disclosure rule's ``count``).
    min_at_risk : int, keyword-only
        The figure stops a curve where fewer remain at risk; so does the table.

    Returns
    -------
    pandas.DataFrame
        ``Modality`` and one column per time (``Day 0``, ``Day 90`` ...):
        "surgery-free % (95% CI); n at risk", or why a curve has stopped.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import survival_numbers
    >>> curves = pd.DataFrame({"group": ["a"] * 3, "time": [0.0, 40.0, 200.0], "survival": [1.0, 0.9, 0.8],
    ...                        "ci_low": [1.0, 0.8, 0.7], "ci_high": [1.0, 0.95, 0.9], "n_risk": [20, 20, 9],
    ...                        "stopped": [False, False, False]})
    >>> risk = pd.DataFrame({"group": ["a", "a"], "time": [0.0, 365.0], "at_risk": [20, 8]})
    >>> survival_numbers(curves, risk, min_at_risk=8).iloc[0].tolist()
    ['a', '100% (100 to 100); 20 at risk', '80% (70 to 90); 8 at risk']
    """
    fmt = count_format or (lambda n: f"{int(n):,}")
    times = sorted(at_risk["time"].unique())
    rows = []
    for g in sorted(curves["group"].unique(), key=str):
        d = curves[curves["group"] == g].sort_values("time", kind="stable")
        stopped_at = float(d["time"].iloc[-1]) if "stopped" in d.columns and bool(d["stopped"].iloc[-1]) else np.inf
        row = {"Modality": _name(labels, g)}
        for t in times:
            risk = at_risk[(at_risk["group"] == g) & (at_risk["time"] == t)]
            n = int(risk["at_risk"].iloc[0]) if len(risk) else 0
            upto = d[d["time"] <= t]
            if t > stopped_at or n < min_at_risk or upto.empty:
                row[f"Day {t:g}"] = f"not shown: fewer than {min_at_risk} at risk"
                continue
            last = upto.iloc[-1]
            row[f"Day {t:g}"] = (f"{100 * last['survival']:.0f}% ({100 * last['ci_low']:.0f} to "
                                 f"{100 * last['ci_high']:.0f}); {fmt(n)} at risk")
        rows.append(row)
    return pd.DataFrame(rows, columns=["Modality", *[f"Day {t:g}" for t in times]])


def trajectory_numbers(traj: pd.DataFrame, *, labels: dict | None = None, min_n: int = 1,
                       count_format=None) -> pd.DataFrame:
    """Mean leg pain (95% CI) and episodes at each visit, per modality, as the trajectory figure draws them.

    Points resting on fewer than *min_n* episodes are not drawn, and not given.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import trajectory_numbers
    >>> t = pd.DataFrame({"group": ["a", "a"], "visit_no": [1, 2], "n": [30, 4], "mean": [6.5, 4.0],
    ...                   "ci_low": [6.0, 3.0], "ci_high": [7.0, 5.0]})
    >>> trajectory_numbers(t, min_n=8).iloc[0].tolist()
    ['a', '6.5 (6.0 to 7.0); n = 30', 'not shown: fewer than 8']
    """
    fmt = count_format or (lambda n: f"{int(n):,}")
    visits = sorted(traj["visit_no"].unique())
    rows = []
    for g, d in sorted(traj.groupby("group", sort=False), key=lambda kv: str(kv[0])):
        row = {"Modality": _name(labels, g)}
        by_visit = d.set_index("visit_no")
        for v in visits:
            if v not in by_visit.index:
                row[f"Visit {v}"] = ""
                continue
            r = by_visit.loc[v]
            row[f"Visit {v}"] = (f"not shown: fewer than {min_n}" if r["n"] < min_n else
                                 f"{r['mean']:.1f} ({r['ci_low']:.1f} to {r['ci_high']:.1f}); n = {fmt(r['n'])}")
        rows.append(row)
    return pd.DataFrame(rows, columns=["Modality", *[f"Visit {v}" for v in visits]])


def forest_numbers(adjusted: pd.DataFrame, *, estimate: str, labels: dict | None = None) -> pd.DataFrame:
    """The estimates a forest plot draws, in its order: estimate (95% CI), Holm p, or why none is shown.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import forest_numbers
    >>> a = pd.DataFrame({"modality": ["a", "b"], "odds_ratio": [1.73, float("nan")], "ci_low": [1.07, None],
    ...                   "ci_high": [2.78, None], "p_holm": [0.21, None], "status": ["estimated", "hidden"],
    ...                   "reason": [None, "few_events"]})
    >>> forest_numbers(a, estimate="odds_ratio").values.tolist()
    [['a', '1.73 (1.07 to 2.78)', '0.210'], ['b', 'not shown (too few recoveries)', '']]
    """
    from ._html import missing_estimate_text

    name = {"difference": "Difference (95% CI)", "odds_ratio": "Odds ratio (95% CI)",
            "hazard_ratio": "Hazard ratio (95% CI)"}[estimate]
    rows = []
    for r in adjusted.to_dict("records"):
        if pd.isna(r[estimate]):
            rows.append({"Modality": _name(labels, r["modality"]), name: missing_estimate_text(r, estimate),
                         "Holm p": ""})
            continue
        sign = "+" if estimate == "difference" else ""
        p = r.get("p_holm")
        rows.append({"Modality": _name(labels, r["modality"]),
                     name: f"{r[estimate]:{sign}.2f} ({r['ci_low']:{sign}.2f} to {r['ci_high']:{sign}.2f})",
                     "Holm p": "" if p is None or pd.isna(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")})
    return pd.DataFrame(rows, columns=["Modality", name, "Holm p"])
