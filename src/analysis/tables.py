"""Tables for people: the baseline table ("Table 1") by modality.

Each variable is summarised by its *declared* type in the records contract
(:mod:`analysis.schema`), never a guessed one: categories as n (%), whole
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

from . import schema
from .suppression import CellState, grid_relations, protect

__all__ = ["TABLE1_VARIABLES", "baseline_table", "format_adjusted_table", "format_baseline_table",
           "display_table", "format_completeness_table", "format_estimate", "format_outcome_table",
           "format_recovery_missing_table", "largest_differences", "apply_disclosure_to_adjusted", "column_states",
           "format_benchmark_table", "apply_disclosure_to_benchmark"]

#: (column in the outcomes frame, contract column it comes from, label shown).
TABLE1_VARIABLES: tuple[tuple[str, schema.ColumnSpec, str], ...] = tuple(
    (col, spec, label)
    for col, spec, label in [
        ("age_band", next(s for s in schema.EPISODES if s.name == "age_band"), "Age band"),
        ("sex", next(s for s in schema.EPISODES if s.name == "sex"), "Sex"),
        ("side", next(s for s in schema.EPISODES if s.name == "side"), "Side of leg pain"),
        ("cause", next(s for s in schema.EPISODES if s.name == "cause"), "Cause"),
        ("symptom_weeks", next(s for s in schema.EPISODES if s.name == "symptom_weeks"), "Symptom duration, weeks"),
        ("surgical_candidate", next(s for s in schema.EPISODES if s.name == "surgical_candidate"), "Surgical candidate"),
        ("clinic", next(s for s in schema.EPISODES if s.name == "clinic"), "Clinic"),
        ("baseline_leg_pain", next(s for s in schema.VISITS if s.name == "leg_pain"), "Leg pain at first visit (0-10)"),
        ("baseline_back_pain", next(s for s in schema.VISITS if s.name == "back_pain"), "Back pain at first visit (0-10)"),
        ("baseline_odi", next(s for s in schema.VISITS if s.name == "odi"), "ODI at first visit (0-100)"),
    ]
)


def column_states(values, rule) -> list[int]:
    """Suppression states of a column of counts whose first entry is the total of the others.

    Primary suppression (1-7) and then complementary suppression, so that no
    hidden count is the total minus the shown ones (spec section 9).

    Examples
    --------
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.tables import column_states
    >>> column_states([63, 3, 20, 40], disclosure_rule("internal"))
    [0, 1, 2, 0]
    """
    v = [int(x) for x in values]
    if rule.name == "none" or len(v) < 2:
        return [CellState.SHOWN] * len(v)
    cells = np.asarray(v[1:] + v[:1])  # groups, then the total last
    st = protect(cells, [rule.small(x) for x in cells], grid_relations(len(v) - 1, 1, total_col=False),
                 rounding=rule.rounding)
    st = st.tolist()
    return [st[-1]] + st[:-1]


def _baseline_states(t: pd.DataFrame, rule) -> dict:
    """Suppression state of every count of the baseline table: (variable, level, group) -> state."""
    groups = list(dict.fromkeys(t["group"]))          # Overall first
    order = groups[1:] + groups[:1]                   # grid columns: groups, total last
    ep = t[t["kind"] == "count"].set_index("group")["n"]
    values, primary, unshown, keys, rel = [], [], [], [], []

    def add_row(key_prefix, counts, shown=True):
        start = len(values)
        for g in order:
            c = int(counts.get(g, 0))
            values.append(c)
            primary.append(shown and rule.small(c))
            unshown.append(not shown)
            keys.append((*key_prefix, g))
        idx = np.arange(start, start + len(order))
        rel.append((idx, np.r_[np.ones(len(order) - 1), -1.0]))
        return idx

    ep_idx = add_row(("episodes", "n"), ep)
    for var, sub in t[t["kind"] != "count"].groupby("variable", sort=False):
        kind = sub["kind"].iloc[0]
        counted = sub[~sub["level"].isin(["mean (SD)", "median [IQR]"])]
        rows = []
        for lev, ls in counted.groupby("level", sort=False):
            rows.append(add_row((var, lev), ls.set_index("group")["n"]))
        if kind == "binary":
            yes = counted[counted["level"] == "yes"].set_index("group")
            no = (yes["denominator"] - yes["n"]).astype(int)
            rows.append(add_row((var, "(no)"), no, shown=False))
        if kind in ("categorical", "binary"):  # the levels (and Missing) add up to each group's episodes
            block = np.vstack(rows)
            for j in range(len(order)):
                rel.append((np.r_[block[:, j], ep_idx[j]], np.r_[np.ones(len(block)), -1.0]))
    st = protect(values, primary, rel, rounding=rule.rounding, unshown=unshown)
    return {k: int(x) for k, x in zip(keys, st)}


def _smd_continuous(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return np.nan
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return float(abs(a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0


def _smd_categorical(pa_: np.ndarray, pb: np.ndarray) -> float:
    """Yang & Dalton (2012) multi-level SMD from level proportions (first level dropped)."""
    t = (pa_ - pb)[1:]
    if len(t) == 0:
        return 0.0
    sa = np.diag(pa_[1:]) - np.outer(pa_[1:], pa_[1:])
    sb = np.diag(pb[1:]) - np.outer(pb[1:], pb[1:])
    s = (sa + sb) / 2
    val = float(t @ np.linalg.pinv(s) @ t)
    return float(np.sqrt(max(val, 0.0)))


def baseline_table(outcomes: pd.DataFrame, *, by: str = "modality", labels: dict | None = None,
                   reference: str | None = None) -> pd.DataFrame:
    """Baseline characteristics by group, as a tidy numeric table.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes` (one row per episode).
    by : str, keyword-only
        Grouping column.
    labels : dict, optional, keyword-only
        Group code -> label.
    reference : str, optional, keyword-only
        Group the SMDs are measured against; default the one with most
        episodes (ties by code order).

    Returns
    -------
    pandas.DataFrame
        Long table, one row per (variable, level, statistic, group):
        ``variable``, ``label``, ``kind`` (``categorical``, ``binary``,
        ``continuous``), ``level`` (category, ``Missing``, or for continuous
        variables ``mean (SD)`` / ``median [IQR]``), ``group`` (``Overall`` first,
        then codes in code order), ``group_label``, ``n`` (count in the cell, or
        episodes with a value), ``denominator``, ``percent``, ``mean``, ``sd``,
        ``median``, ``q1``, ``q3``, ``smd`` (the group's SMD against the
        reference group; NaN for ``Overall`` and the reference) and
        ``smd_max`` (the largest of them for the variable, repeated on its
        rows). ``attrs["reference"]`` names the reference group.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.tables import baseline_table
    >>> t1 = baseline_table(derive_outcomes(load_records("data/sample")))
    >>> t1[(t1["variable"] == "sex") & (t1["group"] == "Overall")]["level"].tolist()
    ['female', 'male', 'other', 'unknown']
    """
    from .compare import choose_reference

    labels = labels or {}
    groups = sorted(outcomes[by].dropna().unique(), key=str)
    ref = reference if reference is not None else (choose_reference(outcomes, by=by) if groups else None)
    if groups and ref not in groups:
        raise ValueError(f"reference group '{ref}' is not in the data")
    frames = [("Overall", "Overall", outcomes)] + [
        (g, labels.get(g, g), outcomes[outcomes[by] == g]) for g in groups
    ]
    rows = []
    rows += [{"variable": "episodes", "label": "Episodes", "kind": "count", "level": "n", "group": code,
              "group_label": lab, "n": len(df), "denominator": len(df)} for code, lab, df in frames]
    for col, spec, label in TABLE1_VARIABLES:
        if col not in outcomes.columns:
            continue
        if spec.kind in ("integer", "number"):
            kind = "continuous"
            per_group = {}
            for code, lab, df in frames:
                x = df[col].to_numpy(dtype="float64", na_value=np.nan)
                ok = x[~np.isnan(x)]
                per_group[code] = x
                q = np.percentile(ok, [25, 50, 75]) if len(ok) else [np.nan] * 3
                base = {"variable": col, "label": label, "kind": kind, "group": code, "group_label": lab,
                        "denominator": len(x)}
                rows.append({**base, "level": "mean (SD)", "n": len(ok), "mean": ok.mean() if len(ok) else np.nan,
                             "sd": ok.std(ddof=1) if len(ok) > 1 else np.nan})
                rows.append({**base, "level": "median [IQR]", "n": len(ok), "median": q[1], "q1": q[0], "q3": q[2]})
                miss = len(x) - len(ok)
                rows.append({**base, "level": "Missing", "n": miss, "percent": 100 * miss / len(x) if len(x) else np.nan})
            smd = {g: _smd_continuous(per_group[g], per_group[ref]) for g in groups if g != ref}
        else:
            kind = "binary" if spec.kind == "boolean" else "categorical"
            if spec.kind == "boolean":
                levels = [True]
            elif spec.allowed:
                levels = list(spec.allowed)
            else:
                levels = sorted(outcomes[col].dropna().unique(), key=str)
            props = {}
            for code, lab, df in frames:
                v = df[col]
                nonmiss = int(v.notna().sum())
                counts = v.value_counts()
                full = np.array([counts.get(lev, 0) for lev in (levels if kind == "categorical" else [False, True])],
                                dtype=float)
                props[code] = full / full.sum() if full.sum() else full
                for lev in levels:
                    c = int(counts.get(lev, 0))
                    rows.append({"variable": col, "label": label, "kind": kind, "level": "yes" if lev is True else str(lev),
                                 "group": code, "group_label": lab, "n": c, "denominator": nonmiss,
                                 "percent": 100 * c / nonmiss if nonmiss else np.nan})
                miss = len(v) - nonmiss
                rows.append({"variable": col, "label": label, "kind": kind, "level": "Missing", "group": code,
                             "group_label": lab, "n": miss, "denominator": len(v),
                             "percent": 100 * miss / len(v) if len(v) else np.nan})
            smd = {g: (_smd_categorical(props[g], props[ref]) if props[g].sum() and props[ref].sum() else np.nan)
                   for g in groups if g != ref}
        vals = [v for v in smd.values() if not np.isnan(v)]
        for r in rows:
            if r["variable"] == col:
                r["smd"] = smd.get(r["group"], np.nan)
                r["smd_max"] = max(vals) if vals else np.nan
    out = pd.DataFrame(rows)
    for c in ("percent", "mean", "sd", "median", "q1", "q3", "smd", "smd_max"):
        if c not in out:
            out[c] = np.nan
    # drop Missing rows for variables with nothing missing anywhere
    miss = out[out["level"] == "Missing"].groupby("variable")["n"].sum()
    drop = set(miss[miss == 0].index)
    out = out[~((out["level"] == "Missing") & out["variable"].isin(drop))].reset_index(drop=True)
    out = out[["variable", "label", "kind", "level", "group", "group_label", "n", "denominator", "percent",
               "mean", "sd", "median", "q1", "q3", "smd", "smd_max"]]
    out.attrs["reference"] = ref
    return out


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
        group's SMD against the reference group (above 0.1 marked ``(>0.1)``).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.tables import baseline_table, format_baseline_table
    >>> wide = format_baseline_table(baseline_table(derive_outcomes(load_records("data/sample"))))
    >>> list(wide.columns[:2]), wide.iloc[0, 0]
    (['Characteristic', 'Overall'], 'Episodes, n')
    """
    from .disclosure import disclosure_rule

    rule = rule or disclosure_rule("none")
    allowed = rule.allows
    f = f"{{:.{decimals}f}}"
    states = _baseline_states(table, rule) if rule.name != "none" else {}

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
    ref = table.attrs.get("reference")
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
            row = {"Characteristic": f"    {lev}"}
            row.update({g: c for g, c in zip(ls["group_label"], ls["cell"])})
            out_rows.append(row)
        if ref is not None:
            per = sub.drop_duplicates("group").set_index("group_label")["smd"]
            row = {"Characteristic": f"    SMD against {ref_label}"}
            row.update({g: ("" if pd.isna(v) else f"{v:.2f}" + (" (>0.1)" if v > 0.1 else "")) for g, v in per.items()})
            out_rows.append(row)
    return pd.DataFrame(out_rows, columns=["Characteristic", *order_groups]).fillna("")


def largest_differences(table: pd.DataFrame) -> pd.DataFrame:
    """Each characteristic's largest SMD against the reference group, and which group has it.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`baseline_table`.

    Returns
    -------
    pandas.DataFrame
        ``Characteristic``, ``Largest SMD``, ``Group``, ``Groups above 0.1``;
        largest first.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.tables import baseline_table, largest_differences
    >>> d = largest_differences(baseline_table(derive_outcomes(load_records("data/sample"))))
    >>> list(d.columns)
    ['Characteristic', 'Largest SMD', 'Group', 'Groups above 0.1']
    """
    t = table[table["smd"].notna()].drop_duplicates(["variable", "group"])
    rows = []
    for var, sub in t.groupby("variable", sort=False):
        top = sub.loc[sub["smd"].idxmax()]
        rows.append({"Characteristic": top["label"], "Largest SMD": float(top["smd"]), "Group": top["group_label"],
                     "Groups above 0.1": int((sub["smd"] > 0.1).sum())})
    out = pd.DataFrame(rows, columns=["Characteristic", "Largest SMD", "Group", "Groups above 0.1"])
    return out.sort_values("Largest SMD", ascending=False).reset_index(drop=True)


def format_estimate(row, key: str, *, rule) -> tuple[str, str]:
    """One crude estimate of :func:`analysis.compare.outcome_table` as shown under a disclosure rule.

    Parameters
    ----------
    row : mapping
        A row of the outcome table.
    key : {"leg_pain_change", "responder", "recovered", "surgery_free"}
    rule : DisclosureRule, keyword-only

    Returns
    -------
    (value, interval) : tuple of str
        e.g. ``("49%", "46 to 52")`` or ``("-2.3", "-2.4 to -2.2")``; the value is
        ``rule.hidden`` (and the interval empty) when it rests on too few episodes
        (or, under the public rule, a percentage's numerator is 1-7).

    Examples
    --------
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.tables import format_estimate
    >>> row = {"recovered_n": 200, "recovered_events": 30, "recovered_rate": 0.15,
    ...        "recovered_ci_low": 0.107, "recovered_ci_high": 0.206}
    >>> format_estimate(row, "recovered", rule=disclosure_rule("internal"))
    ('15%', '11 to 21')
    """
    n = row[f"{key}_n"]
    estimate = row[f"{key}_mean" if key == "leg_pain_change" else f"{key}_rate"]
    if not n or pd.isna(estimate):
        return "-", ""
    if not rule.allows(n):
        return rule.hidden, ""
    low, high = row[f"{key}_ci_low"], row[f"{key}_ci_high"]
    if key == "leg_pain_change":
        return f"{estimate:+.1f}", (f"{low:+.1f} to {high:+.1f}" if pd.notna(low) else "")
    if key != "leg_pain_change" and f"{key}_events" in row and not rule.allows_events(row[f"{key}_events"]):
        return rule.hidden, ""  # public: no rate resting on 1-7 events
    if rule.name == "public" and key != "surgery_free":  # counted percentages: from rounded figures
        value = rule.percent(row[f"{key}_events"], n)
        if value == "*":
            return "*", ""
    else:
        value = f"{100 * estimate:.0f}%"
    return value, (f"{100 * low:.0f} to {100 * high:.0f}" if pd.notna(low) else "")


def format_outcome_table(table: pd.DataFrame, *, horizon_days: int = 365, rule=None) -> pd.DataFrame:
    """Crude outcomes by modality as a readable table, with disclosure control.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`analysis.compare.outcome_table`.
    horizon_days : int, keyword-only
    rule : DisclosureRule, optional, keyword-only
        From :func:`analysis.disclosure.disclosure_rule`; default ``internal``.

    Returns
    -------
    pandas.DataFrame
        ``Modality``, ``Episodes``, ``Leg pain change, points (95% CI)``,
        ``Responders (95% CI)``, ``Recovered (95% CI)``,
        ``Surgery-free at N days (95% CI)``, each rate with its denominator.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, outcome_table
    >>> from analysis.tables import format_outcome_table
    >>> rec = load_records("data/sample")
    >>> t = format_outcome_table(outcome_table(derive_outcomes(rec), labels=rec.labels))
    >>> t.columns[1], t.iloc[0, 0]
    ('Episodes', 'Overall')
    """
    from .disclosure import disclosure_rule

    rule = rule or disclosure_rule("internal")
    recs = table.to_dict("records")
    keys = ("leg_pain_change", "responder", "recovered", "surgery_free")
    overall_first = len(recs) > 1 and recs[0]["group"] == "Overall"
    states = {k: (column_states([r[f"{k}_n"] for r in recs], rule) if overall_first else [0] * len(recs))
              for k in keys}
    ep_states = column_states([r["episodes"] for r in recs], rule) if overall_first else [0] * len(recs)

    def cell(i, r, key):
        value, ci = format_estimate(r, key, rule=rule)
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


def apply_disclosure_to_adjusted(adjusted: dict, *, rule) -> dict:
    """The adjusted comparisons with every estimate a disclosure rule forbids removed.

    Under ``internal`` and ``public`` no model estimate resting on fewer than 8
    episodes of a modality (or, under ``public``, on 1-7 recoveries or
    surgeries) is shown: its estimate, interval, p values and E-values become
    NaN and ``note`` says why. Use the result for tables, forest plots and their
    alternative text alike.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, adjusted_comparisons
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.tables import apply_disclosure_to_adjusted
    >>> adj = adjusted_comparisons(derive_outcomes(load_records("data/sample")))
    >>> pub = apply_disclosure_to_adjusted(adj, rule=disclosure_rule("public"))
    >>> int(pub["surgery"]["hazard_ratio"].isna().sum()) > int(adj["surgery"]["hazard_ratio"].isna().sum())
    True
    """
    out = dict(adjusted)
    if rule.name == "none":
        return out
    for key, est in (("leg_pain_change", "difference"), ("recovered", "odds_ratio"), ("surgery", "hazard_ratio")):
        t = adjusted[key].copy()
        if est not in t.columns:  # a model that was not fitted (adjusted_comparisons(models=...))
            continue
        few = ~t["n"].map(rule.allows).astype(bool)
        why = pd.Series([None] * len(t), index=t.index, dtype=object)
        why[few] = f"not shown: rests on fewer than {rule.min_n} episodes (disclosure control)"
        if "events" in t.columns and rule.name == "public":
            ev = ~t["events"].map(rule.allows_events).astype(bool) & ~few
            why[ev] = "not shown: rests on 1-7 events (disclosure control)"
        hide = why.notna() & t[est].notna()
        for c in (est, "ci_low", "ci_high", "p", "p_holm", "e_value", "e_value_ci"):
            if c in t.columns:
                t.loc[hide, c] = np.nan
        t["note"] = pd.Series([w if h else n for w, h, n in zip(why, hide, t["note"])], index=t.index, dtype=object)
        out[key] = t
    return out


def format_adjusted_table(adjusted: dict, *, labels: dict | None = None) -> pd.DataFrame:
    """The three adjusted comparisons side by side, one row per modality.

    Each cell: estimate (95% CI), the Holm-adjusted p value and the E-value;
    a caution (fewer than 10 events per parameter) is marked with ``!``.
    Model estimates are exempt from count-based disclosure control.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, adjusted_comparisons
    >>> from analysis.tables import format_adjusted_table
    >>> rec = load_records("data/sample")
    >>> t = format_adjusted_table(adjusted_comparisons(derive_outcomes(rec)), labels=rec.labels)
    >>> list(t.columns)[:2], "Holm p" in t.iloc[0, 1]
    (['Modality', 'Leg pain difference, points (95% CI)'], True)
    """
    labels = labels or {}

    def cell(r, est, fmt):
        if pd.isna(r[est]):
            hidden = isinstance(r.get("note"), str) and r["note"].startswith("not shown")
            return "not shown (too few episodes)" if hidden else "not estimable"
        p = "Holm p < 0.001" if r["p_holm"] < 0.001 else f"Holm p = {r['p_holm']:.3f}"
        caution = " !" if isinstance(r.get("note"), str) and r["note"].startswith("caution") else ""
        return (f"{r[est]:{fmt}} ({r['ci_low']:{fmt}} to {r['ci_high']:{fmt}}), {p}, "
                f"E-value {r['e_value']:.2f}{caution}")

    lp = adjusted["leg_pain_change"].set_index("modality")
    rc = adjusted["recovered"].set_index("modality")
    sg = adjusted["surgery"].set_index("modality")
    rows = []
    for m in lp.index:
        rows.append({
            "Modality": labels.get(m, m),
            "Leg pain difference, points (95% CI)": cell(lp.loc[m], "difference", "+.2f"),
            "Recovered, odds ratio (95% CI)": cell(rc.loc[m], "odds_ratio", ".2f"),
            "Surgery, hazard ratio (95% CI)": cell(sg.loc[m], "hazard_ratio", ".2f"),
        })
    return pd.DataFrame(rows)


def format_recovery_missing_table(table: pd.DataFrame, *, labels: dict | None = None, rule=None) -> pd.DataFrame:
    """Recovery with missing ratings imputed, beside the complete-case rate, under a disclosure rule.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`analysis.missing.recovery_missing_adjusted`.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.missing import recovery_missing_adjusted
    >>> from analysis.tables import format_recovery_missing_table
    >>> t = format_recovery_missing_table(recovery_missing_adjusted(derive_outcomes(load_records("data/sample"))))
    >>> list(t.columns)[:3]
    ['Group', 'Discharged episodes', 'Without a rating']
    """
    from .disclosure import disclosure_rule

    labels = labels or {}
    rule = rule or disclosure_rule("internal")
    recs = table.to_dict("records")
    overall_first = len(recs) > 1 and recs[0]["group"] == "Overall"
    n_st = column_states([r["n"] for r in recs], rule) if overall_first else [0] * len(recs)
    m_st = column_states([r["missing"] for r in recs], rule) if overall_first else [0] * len(recs)
    rows = []
    for i, r in enumerate(recs):
        n, miss = r["n"], r["missing"]
        rated = n - miss
        ok = (pd.notna(r["rate"]) and rule.allows(n) and (rule.name != "public" or rule.allows(rated))
              and rule.allows_events(round(r["complete_case_rate"] * rated) if rated else 0))
        mi = f"{100 * r['rate']:.0f}% ({100 * r['ci_low']:.0f} to {100 * r['ci_high']:.0f})" if ok else rule.hidden
        cc_ok = (pd.notna(r["complete_case_rate"]) and rule.allows(rated)
                 and rule.allows_events(round(r["complete_case_rate"] * rated)))
        shown_pct = n_st[i] == CellState.SHOWN and m_st[i] == CellState.SHOWN
        rows.append({"Group": labels.get(r["group"], r["group"]), "Discharged episodes": rule.count_in(n, n_st[i]),
                     "Without a rating": (rule.count_percent(miss, n, decimals=0) if shown_pct
                                          else rule.count_in(miss, m_st[i])),
                     "Recovered, missing ratings imputed (95% CI)": mi,
                     "Recovered among those rated": f"{100 * r['complete_case_rate']:.0f}%" if cc_ok else rule.hidden})
    return pd.DataFrame(rows)


def apply_disclosure_to_benchmark(bench: pd.DataFrame, *, rule, outcome: str = "leg_pain_change") -> pd.DataFrame:
    """A benchmarking table as a disclosure rule lets it be shown (its table, funnel plot and alt text).

    ``internal``: units with fewer than 8 episodes lose their figures.
    ``public`` (HES rule), in addition: episode counts are rounded to 5 (so
    funnel points sit at rounded positions too); for recovery, a unit resting
    on 1-7 recoveries loses its figures, and the observed rate of the others
    is worked out from the rounded counts, moving its difference, interval and
    shrunken estimate with it. Flags keep the verdict of the exact analysis.
    ``none``: unchanged. The variances in ``attrs`` (funnel limits) are kept.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.tables import apply_disclosure_to_benchmark
    >>> b = pd.DataFrame({"unit": ["T1", "T2"], "n": [43, 41], "observed": [100 * 5 / 43, 100 * 21 / 41],
    ...                   "expected": [30.0, 45.0], "difference": [100 * 5 / 43 - 30, 100 * 21 / 41 - 45],
    ...                   "ci_low": [-35.0, 5.0], "ci_high": [-10.0, 30.0], "shrunken": [-9.0, 3.0],
    ...                   "flag": [None, None], "note": [None, None]})
    >>> pub = apply_disclosure_to_benchmark(b, rule=disclosure_rule("public"), outcome="recovered")
    >>> pub["n"].tolist(), pub["observed"].round(1).tolist(), pub["note"].iloc[0]
    ([45, 40], [nan, 50.0], 'rests on 1-7 recoveries: not shown (disclosure control)')
    """
    out = bench.copy()
    out.attrs = dict(bench.attrs)
    if rule.name == "none" or out.empty:
        return out
    figures = ["observed", "expected", "difference", "ci_low", "ci_high", "shrunken"]
    n = out["n"].to_numpy(dtype="float64")
    note = out["note"].astype(object).to_numpy()
    hide = np.array([not rule.allows(v) for v in n])
    note = np.where(hide & out["difference"].notna().to_numpy(),
                    f"fewer than {rule.min_n} episodes: not shown (disclosure control)", note)
    if rule.name == "public":
        rounded = 5 * np.floor(n / 5 + 0.5)
        if outcome == "recovered":
            events = np.round(out["observed"].to_numpy(dtype="float64") * n / 100)
            few = (events >= 1) & (events <= 7) & ~hide
            note = np.where(few, "rests on 1-7 recoveries: not shown (disclosure control)", note)
            hide |= few
            with np.errstate(invalid="ignore", divide="ignore"):
                shown = np.where(rounded > 0, 100 * (5 * np.floor(events / 5 + 0.5)) / rounded, np.nan)
                shift = np.where(np.isfinite(events), shown - out["observed"].to_numpy(dtype="float64"), 0.0)
            for c in ("observed", "difference", "ci_low", "ci_high"):
                out[c] = out[c].to_numpy(dtype="float64") + shift
            old = bench["difference"].to_numpy(dtype="float64")
            with np.errstate(invalid="ignore", divide="ignore"):
                factor = np.where(old != 0, bench["shrunken"].to_numpy(dtype="float64") / old, 0.0)
            out["shrunken"] = out["difference"].to_numpy(dtype="float64") * factor
        out["n"] = rounded.astype("int64")
    for c in figures:
        out.loc[hide, c] = np.nan
    out["flag"] = out["flag"].astype(object).where(~hide, None)
    out["note"] = pd.Series(note, index=out.index, dtype=object)
    return out


def format_benchmark_table(leg_pain: pd.DataFrame, recovered: pd.DataFrame, *, unit_label: str = "Therapist",
                           rule=None) -> pd.DataFrame:
    """Observed against expected per unit, both outcomes side by side, for people.

    Parameters
    ----------
    leg_pain, recovered : pandas.DataFrame
        From :func:`analysis.benchmark.benchmark_units` for each outcome.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.benchmark import benchmark_units
    >>> from analysis.tables import format_benchmark_table
    >>> o = derive_outcomes(load_records("data/sample"))
    >>> t = format_benchmark_table(benchmark_units(o), benchmark_units(o, outcome="recovered"))
    >>> list(t.columns)[:2]
    ['Therapist', 'Episodes (leg pain)']
    """
    from .disclosure import disclosure_rule

    rule = rule or disclosure_rule("internal")

    def cell(r, unit, fmt):
        if pd.isna(r["difference"]):
            return r["note"] or "not shown"
        flag = {"above": " (above the 99.8% limit)", "below": " (below the 99.8% limit)"}.get(r["flag"], "")
        return (f"{r['observed']:{fmt}} vs {r['expected']:{fmt}} expected: {r['difference']:+{fmt}}{unit} "
                f"({r['ci_low']:+{fmt}} to {r['ci_high']:+{fmt}}); shrunken {r['shrunken']:+{fmt}}{flag}")

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
        From :func:`analysis.describe.completeness_table`.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.describe import completeness_table
    >>> from analysis.tables import format_completeness_table
    >>> t = format_completeness_table(completeness_table(derive_outcomes(load_records("data/sample"))))
    >>> t.columns[0], t.iloc[0, 0]
    ('Group', 'Overall')
    """
    from .disclosure import disclosure_rule

    labels = labels or {}
    rule = rule or disclosure_rule("internal")
    from .describe import COMPLETENESS_ITEMS

    recs = table.to_dict("records")
    overall_first = len(recs) > 1 and recs[0]["group"] == "Overall"
    keys = {key: (f"{key}_n" if f"{key}_n" in recs[0] else key) for key in COMPLETENESS_ITEMS} if recs else {}
    states = {col: (column_states([r[col] for r in recs], rule) if overall_first else [0] * len(recs))
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


def display_table(df: pd.DataFrame):
    """A table styled for notebooks: no index, first column left-aligned with its indentation kept.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.tables import display_table
    >>> "text-align: left" in display_table(pd.DataFrame({"a": ["  x"], "b": [1]})).to_html()
    True
    """
    first = df.columns[0]
    return (df.style.hide(axis="index")
            .set_properties(subset=[first], **{"text-align": "left", "white-space": "pre"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}]))
