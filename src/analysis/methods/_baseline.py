"""The baseline table ("Table 1") by modality as numbers, with standardised mean differences."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..records import schema

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
        rows), ``is_reference`` (True on the reference group's rows).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import baseline_table
    >>> t1 = baseline_table(derive_outcomes(load_records("data/sample")))
    >>> t1[(t1["variable"] == "sex") & (t1["group"] == "Overall")]["level"].tolist()
    ['female', 'male', 'other', 'unknown']
    """
    from ._compare import choose_reference

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
    return out.assign(is_reference=out["group"] == ref)


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
    >>> from analysis.methods import baseline_table, largest_differences
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


