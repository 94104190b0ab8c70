"""Tables for people: crude outcomes, adjusted comparisons, imputed recovery and the baseline table.

Each variable is summarised by its *declared* type in the records contract
(:mod:`analysis.records.schema`), never a guessed one: categories as n (%), whole
numbers and numbers as mean (SD) and median [IQR], yes/no as n (%). Missing
values get their own row. An ``Overall`` column comes first. Each group's
standardised mean difference (SMD) is against the reference group (the
modality with most episodes unless chosen; for categories, the multi-level SMD
of Yang & Dalton 2012). An SMD above 0.1 is the usual sign that a group differs
from the reference in case mix. (The largest of all pairs is not used: with
nine modalities it exceeds 0.1 even when labels are shuffled at random.)

:func:`baseline_table` returns a tidy, numeric long table (so reports can
apply disclosure control to every count); :func:`format_baseline_table` turns
it into the familiar wide table of strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..disclosure import (
    CellState,
    baseline_states,
    group_column_states,
    crude_cell,
    disclose_crude,
    recovery_mi_cell,
)
from ..records.schema import code_label
from ..methods import COMPARED_OUTCOMES, Status
from ._html import missing_estimate_text
from ._numbers import signed

__all__ = ["display_table", "format_adjusted_table", "format_baseline_table", "format_estimate", "format_outcome_table", "format_recovery_missing_table"]


def format_baseline_table(table: pd.DataFrame, *, rule=None, decimals: int = 1) -> pd.DataFrame:
    """Wide, human-readable Table 1 from :func:`baseline_table`.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`baseline_table`.
    rule : DisclosureRule, optional, keyword-only
        Disclosure control for every count, percentage and summary
        (:func:`analysis.disclosure.disclosure_rule`); default exact figures.
    decimals : int, keyword-only

    Returns
    -------
    pandas.DataFrame
        Columns ``Characteristic``, ``Overall``, one per group label. Under
        each characteristic a row ``SMD against <reference>`` gives each
        group's SMD against the reference group (above 0.1 marked ``(differs)``).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import baseline_table
    >>> from analysis.present import format_baseline_table
    >>> wide = format_baseline_table(baseline_table(derive_outcomes(load_records("data/sample"))))
    >>> list(wide.columns[:2]), wide.iloc[0, 0]
    (['Characteristic', 'Overall'], 'Episodes, n')
    """
    from ..disclosure import disclosure_rule

    rule = rule or disclosure_rule("none")
    allowed = rule.allows
    f = f"{{:.{decimals}f}}"
    states = baseline_states(table, rule) if rule.name != "none" else {}

    def state(var, lev, g):
        return states.get((var, lev, g), CellState.SHOWN)

    def cell(r) -> str:
        if r["kind"] == "count":
            return rule.count_in(r["n"], state("episodes", "n", r["group"]))
        if r["level"] in ("mean (SD)", "median [IQR]"):
            if r["n"] == 0:
                return ""
            if not allowed(r["n"]):
                return "-" if rule.name != "public" else "*"
            if r["level"] == "median [IQR]":
                return f"{f.format(r['median'])} [{f.format(r['q1'])}, {f.format(r['q3'])}]"
            sd = "" if np.isnan(r["sd"]) else f" ({f.format(r['sd'])})"
            return f"{f.format(r['mean'])}{sd}"
        st = state(r["variable"], r["level"], r["group"])
        if st != CellState.SHOWN:
            return rule.count_in(r["n"], st)
        # a percentage gives its denominator away: none where the group's episodes or missing count is hidden
        hidden_denominator = (state("episodes", "n", r["group"]) != CellState.SHOWN
                              or state(r["variable"], "Missing", r["group"]) != CellState.SHOWN)
        if hidden_denominator and r["level"] != "Missing":
            return rule.count(r["n"])
        if r["level"] == "Missing" and state("episodes", "n", r["group"]) != CellState.SHOWN:
            return rule.count(r["n"])
        return rule.count_percent(r["n"], r["denominator"], decimals=decimals)

    t = table.copy()
    t["cell"] = [cell(r) for r in t.to_dict("records")]
    order_groups = list(dict.fromkeys(t["group_label"]))
    var_order = list(dict.fromkeys(t["variable"]))
    refs = table.loc[table["is_reference"], "group"] if "is_reference" in table.columns else []
    ref = refs.iloc[0] if len(refs) else None
    ref_label = next((lab for g, lab in zip(t["group"], t["group_label"]) if g == ref), ref)
    out_rows = []
    for var in var_order:
        sub = t[t["variable"] == var]
        first = sub.iloc[0]
        if first["kind"] == "count":
            row = {"Characteristic": "Episodes, n"}
            row.update({g: c for g, c in zip(sub["group_label"], sub["cell"])})
            out_rows.append(row)
            continue
        if first["kind"] == "binary":
            yes = sub[sub["level"] == "yes"]
            row = {"Characteristic": f"{first['label']}, n (%)"}
            row.update({g: c for g, c in zip(yes["group_label"], yes["cell"])})
            out_rows.append(row)
            levels = ["Missing"] if (sub["level"] == "Missing").any() else []
        else:
            head = f"{first['label']}, n (%)" if first["kind"] == "categorical" else first["label"]
            out_rows.append({"Characteristic": head, **{g: "" for g in order_groups}})
            levels = list(dict.fromkeys(sub["level"]))
        for lev in levels:
            ls = sub[sub["level"] == lev]
            row = {"Characteristic": f"    {code_label(var, lev)}"}
            row.update({g: c for g, c in zip(ls["group_label"], ls["cell"])})
            out_rows.append(row)
        if ref is not None:
            per = sub.drop_duplicates("group").set_index("group_label")["smd"]
            row = {"Characteristic": f"    SMD against {ref_label}"}
            row.update({g: ("" if pd.isna(v) else f"{v:.2f}" + (" (differs)" if v > 0.1 else "")) for g, v in per.items()})
            out_rows.append(row)
    return pd.DataFrame(out_rows, columns=["Characteristic", *order_groups]).fillna("")


def format_estimate(row, key: str, *, rule, cell=None) -> tuple[str, str]:
    """One crude estimate of :func:`analysis.methods.outcome_table` as shown under a disclosure rule.

    Parameters
    ----------
    row : mapping
        A row of the outcome table.
    key : {"leg_pain_change", "responder", "recovered", "surgery_free"}
    rule : DisclosureRule, keyword-only
    cell : analysis.disclosure.Cell, optional, keyword-only
        The decision for this estimate (from :func:`analysis.disclosure.disclose_crude`);
        made by :func:`analysis.disclosure.crude_cell` when not given.

    Returns
    -------
    (value, interval) : tuple of str
        e.g. ``("49%", "46 to 52")`` or ``("-2.3", "-2.4 to -2.2")``; the value is
        ``rule.hidden`` (and the interval empty) when it rests on too few episodes
        (or, under the public rule, a percentage's numerator is 1-7).

    Examples
    --------
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.present import format_estimate
    >>> row = {"recovered_n": 200, "recovered_events": 30, "recovered_rate": 0.15,
    ...        "recovered_ci_low": 0.107, "recovered_ci_high": 0.206}
    >>> format_estimate(row, "recovered", rule=disclosure_rule("internal"))
    ('15%', '11 to 21')
    """
    cell = crude_cell(row, key, rule=rule) if cell is None else cell
    if cell.status is Status.NOT_ESTIMABLE:
        return "-", ""
    if not cell.shown:
        return rule.hidden, ""
    estimate = row[f"{key}_mean" if key == "leg_pain_change" else f"{key}_rate"]
    low, high = row[f"{key}_ci_low"], row[f"{key}_ci_high"]
    if key == "leg_pain_change":
        return f"{signed(estimate, '.1f')}", (f"{signed(low, '.1f')} to {signed(high, '.1f')}" if pd.notna(low) else "")
    if rule.name == "public" and key != "surgery_free":  # counted percentages: from rounded figures
        value = rule.percent(row[f"{key}_events"], row[f"{key}_n"])
        if value == "*":
            return "*", ""
    else:
        value = f"{100 * estimate:.0f}%"
    return value, (f"{100 * low:.0f} to {100 * high:.0f}" if pd.notna(low) else "")


def format_outcome_table(table: pd.DataFrame, *, horizon_days: int = 365, rule=None, disclosed=None) -> pd.DataFrame:
    """Crude outcomes by modality as a readable table, with disclosure control.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`analysis.methods.outcome_table`.
    horizon_days : int, keyword-only
    rule : DisclosureRule, optional, keyword-only
        From :func:`analysis.disclosure.disclosure_rule`; default ``internal``.
    disclosed : CrudeDisclosure, optional, keyword-only
        The decision for this table (:func:`analysis.disclosure.disclose_crude`),
        when the caller shares it with other views (headline, figures).

    Returns
    -------
    pandas.DataFrame
        ``Modality``, ``Episodes``, ``Leg pain change, points (95% CI)``,
        ``Responders (95% CI)``, ``Recovered (95% CI)``,
        ``Surgery-free at N days (95% CI)``, each rate with its denominator.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, outcome_table
    >>> from analysis.present import format_outcome_table
    >>> rec = load_records("data/sample")
    >>> t = format_outcome_table(outcome_table(derive_outcomes(rec), labels=rec.labels))
    >>> t.columns[1], t.iloc[0, 0]
    ('Episodes', 'Overall')
    """
    from ..disclosure import disclosure_rule

    rule = rule or disclosure_rule("internal")
    decided = disclose_crude(table, rule=rule) if disclosed is None else disclosed
    recs = table.to_dict("records")
    states = decided.count_states
    ep_states = states["episodes"]

    def cell(i, r, key):
        value, ci = format_estimate(r, key, rule=rule, cell=decided.cell(r["group"], key))
        if value in ("-", "*"):
            return value
        n = rule.count_in(r[f"{key}_n"], states[key][i])
        return f"{value}{f' ({ci})' if ci else ''}, n = {n if n != rule.hidden else 'not shown'}"

    rows = []
    for i, r in enumerate(recs):
        cell_ = lambda key: cell(i, r, key)  # noqa: E731
        rows.append({
            "Modality": r["label"],
            "Episodes": rule.count_in(r["episodes"], ep_states[i]),
            "Leg pain change, points (95% CI)": cell_("leg_pain_change"),
            "Responders (95% CI)": cell_("responder"),
            "Recovered (95% CI)": cell_("recovered"),
            f"Surgery-free at {horizon_days} days (95% CI)": cell_("surgery_free"),
        })
    return pd.DataFrame(rows)


def format_adjusted_table(adjusted: dict, *, labels: dict | None = None) -> pd.DataFrame:
    """The three adjusted comparisons side by side, one row per modality.

    Each cell: estimate (95% CI), the Holm-adjusted p value and the E-value;
    a caution (fewer than 10 events per parameter) is marked with ``!``.
    Model estimates are exempt from count-based disclosure control.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, adjusted_comparisons
    >>> from analysis.present import format_adjusted_table
    >>> rec = load_records("data/sample")
    >>> t = format_adjusted_table(adjusted_comparisons(derive_outcomes(rec)), labels=rec.labels)
    >>> list(t.columns)[:2], "Holm p" in t.iloc[0, 1]
    (['Modality', 'Leg pain difference, points (95% CI)'], True)
    """
    labels = labels or {}

    def cell(r, est, fmt):
        if pd.isna(r[est]):
            return missing_estimate_text(r, est)
        ph = r["p_holm"]
        p = "Holm p < 0.001" if ph < 0.001 else "Holm p > 0.99" if ph >= 0.995 else f"Holm p = {ph:.3f}"
        caution = ""
        if r.get("status") == Status.CAUTION:
            k = r.get("clusters")
            caution = (f" (caution: given by only {int(k)} therapists or clinics)" if r.get("reason") == "few_clusters"
                       and k is not None and not pd.isna(k) else " (caution: few events for the model)")
        return (f"{r[est]:{fmt}} ({r['ci_low']:{fmt}} to {r['ci_high']:{fmt}}), {p}, "
                f"E-value {r['e_value']:.2f}{caution}")

    heads = {"leg_pain_change": "Leg pain difference, points (95% CI)",
             "recovered": "Recovered, odds ratio (95% CI)", "surgery": "Surgery, hazard ratio (95% CI)"}
    frames = {o.key: adjusted[o.key].set_index("modality") for o in COMPARED_OUTCOMES}
    rows = []
    for m in frames["leg_pain_change"].index:
        row = {"Modality": labels.get(m, m)}
        for o in COMPARED_OUTCOMES:
            row[heads[o.key]] = cell(frames[o.key].loc[m], o.estimate, o.fmt)
        rows.append(row)
    return pd.DataFrame(rows)


def format_recovery_missing_table(table: pd.DataFrame, *, labels: dict | None = None, rule=None) -> pd.DataFrame:
    """Recovery with missing ratings imputed, beside the complete-case rate, under a disclosure rule.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`analysis.methods.recovery_missing_adjusted`.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import recovery_missing_adjusted
    >>> from analysis.present import format_recovery_missing_table
    >>> t = format_recovery_missing_table(recovery_missing_adjusted(derive_outcomes(load_records("data/sample"))))
    >>> list(t.columns)[:3]
    ['Group', 'Discharged episodes', 'Without a rating']
    """
    from ..disclosure import disclosure_rule

    labels = labels or {}
    rule = rule or disclosure_rule("internal")
    recs = table.to_dict("records")
    n_st = group_column_states(recs, "n", rule)
    m_st = group_column_states(recs, "missing", rule)
    rows = []
    for i, r in enumerate(recs):
        n, miss = r["n"], r["missing"]
        rated = n - miss
        mi_cell = recovery_mi_cell(r, rule=rule)
        mi = (f"{100 * r['rate']:.0f}% ({100 * r['ci_low']:.0f} to {100 * r['ci_high']:.0f})" if mi_cell.shown
              else rule.hidden)
        cc_ok = (pd.notna(r["complete_case_rate"]) and rule.allows(rated)
                 and rule.allows_events(round(r["complete_case_rate"] * rated)))
        shown_pct = n_st[i] == CellState.SHOWN and m_st[i] == CellState.SHOWN
        rows.append({"Group": labels.get(r["group"], r["group"]), "Discharged episodes": rule.count_in(n, n_st[i]),
                     "Without a rating": (rule.count_percent(miss, n, decimals=0) if shown_pct
                                          else rule.count_in(miss, m_st[i])),
                     "Recovered, missing ratings imputed (95% CI)": mi,
                     "Recovered among those rated": f"{100 * r['complete_case_rate']:.0f}%" if cc_ok else rule.hidden})
    return pd.DataFrame(rows)


def display_table(df: pd.DataFrame):
    """A table styled for notebooks: no index, first column left-aligned with its indentation kept.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import display_table
    >>> "text-align: left" in display_table(pd.DataFrame({"a": ["  x"], "b": [1]})).to_html()
    True
    """
    first = df.columns[0]
    return (df.style.hide(axis="index")
            .set_properties(subset=[first], **{"text-align": "left", "white-space": "pre"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}]))




def format_recovery_comparisons_imputed(imputed: pd.DataFrame, adjusted_recovered: pd.DataFrame, *,
                                        labels: dict | None = None, count_format=None) -> pd.DataFrame:
    """Recovery odds ratios from rated episodes beside those with missing ratings imputed, and the tipping odds.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import format_recovery_comparisons_imputed
    >>> imp = pd.DataFrame({"modality": ["a"], "odds_ratio": [1.69], "ci_low": [1.06], "ci_high": [2.69],
    ...                     "tipping_odds": [0.97], "missing": [42], "n": [171], "status": ["estimated"],
    ...                     "reason": [None], "note": [None]})
    >>> cc = pd.DataFrame({"modality": ["a"], "odds_ratio": [1.73], "ci_low": [1.02], "ci_high": [2.91],
    ...                    "status": ["estimated"], "reason": [None], "note": [None]})
    >>> format_recovery_comparisons_imputed(imp, cc).iloc[0].tolist()
    ['a', '1.73 (1.02 to 2.91)', '1.69 (1.06 to 2.69)', '42 of 171', '0.97: fragile']
    """
    labels = labels or {}
    count = count_format or (lambda n: f"{int(n):,}")
    cc = adjusted_recovered.set_index("modality")
    rows = []
    for r in imputed.to_dict("records"):
        m = r["modality"]
        a = cc.loc[m] if m in cc.index else None
        rated = ("" if a is None else missing_estimate_text(a, "odds_ratio") if pd.isna(a["odds_ratio"]) else
                 f"{a['odds_ratio']:.2f} ({a['ci_low']:.2f} to {a['ci_high']:.2f})")
        imp = (missing_estimate_text(r, "odds_ratio") if pd.isna(r["odds_ratio"]) else
               f"{r['odds_ratio']:.2f} ({r['ci_low']:.2f} to {r['ci_high']:.2f})")
        t = r["tipping_odds"]
        if pd.isna(r["odds_ratio"]):
            tip = ""
        elif not r["missing"]:
            tip = "no unrated patients"
        elif pd.isna(t):
            tip = "beyond 1/400 to 400: robust"
        else:
            far = max(t, 1 / t)
            tip = f"{t:.2f}: " + ("fragile" if far < 1.5 else "moderately robust" if far < 3 else "robust")
        rows.append({"Modality": labels.get(m, m), "Rated episodes only": rated,
                     "Missing ratings imputed": imp,
                     "Unrated": "" if pd.isna(r["odds_ratio"]) else f"{count(r['missing'])} of {count(r['n'])}",
                     "Tipping odds": tip})
    return pd.DataFrame(rows, columns=["Modality", "Rated episodes only", "Missing ratings imputed", "Unrated",
                                       "Tipping odds"])
