"""Disclosure applied to whole tables: count states with secondary suppression, adjusted comparisons, benchmarking."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..methods import COMPARED_OUTCOMES, Reason, Status
from ._suppression import CellState, grid_relations, protect


def group_column_states(records: list[dict], column: str, rule) -> list[int]:
    """Suppression states of one column of a by-group table whose first row is ``Overall``.

    ``Overall`` is the total of the group rows, so :func:`column_states` applies;
    a table without that first row has no total to subtract from: all shown.

    Examples
    --------
    >>> from analysis.disclosure import disclosure_rule, group_column_states
    >>> rows = [{"group": "Overall", "n": 63}, {"group": "a", "n": 3}, {"group": "b", "n": 20}, {"group": "c", "n": 40}]
    >>> group_column_states(rows, "n", disclosure_rule("internal")), group_column_states(rows[1:], "n", disclosure_rule("internal"))
    ([0, 1, 2, 0], [0, 0, 0])
    """
    if len(records) > 1 and records[0]["group"] == "Overall" and column in records[0]:
        return column_states([r[column] for r in records], rule)
    return [CellState.SHOWN] * len(records)


def column_states(values, rule) -> list[int]:
    """Suppression states of a column of counts whose first entry is the total of the others.

    Primary suppression (1-7) and then complementary suppression, so that no
    hidden count is the total minus the shown ones (spec section 9).

    Examples
    --------
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.disclosure import column_states
    >>> column_states([63, 3, 20, 40], disclosure_rule("internal"))
    [0, 1, 2, 0]
    """
    unknown = [x is None or (isinstance(x, float) and np.isnan(x)) for x in values]
    if any(unknown[1:]) and not unknown[0]:
        # counts a network's clinics withheld (:func:`protect_release`): not known here, never shown; their total
        # (the total minus the known ones) counts as one cell, so the known ones are protected around it
        known = [i for i, u in enumerate(unknown) if not u]
        merged = list(values[i] for i in known) + [int(values[0]) - sum(int(values[i]) for i in known[1:])]
        st = column_states(merged, rule)
        out = [CellState.SECONDARY] * len(values)
        for i, state in zip(known, st):
            out[i] = state
        return out
    if any(unknown):
        return [CellState.SECONDARY] * len(values)
    v = [int(x) for x in values]
    if rule.name == "none" or len(v) < 2:
        return [CellState.SHOWN] * len(v)
    cells = np.asarray(v[1:] + v[:1])  # groups, then the total last
    st = protect(cells, [rule.small(x) for x in cells], grid_relations(len(v) - 1, 1, total_col=False),
                 rounding=rule.rounding)
    st = st.tolist()
    return [st[-1]] + st[:-1]


def baseline_states(t: pd.DataFrame, rule) -> dict:
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


def apply_disclosure_to_adjusted(adjusted: dict, *, rule) -> dict:
    """The adjusted comparisons with every estimate a disclosure rule forbids removed.

    Under ``internal`` and ``public`` no model estimate resting on fewer than 8
    episodes of a modality (or, under ``public``, on 1-7 recoveries or
    surgeries) is shown: its estimate, interval, p values and E-values become
    NaN, ``status`` becomes ``hidden`` with a ``reason`` code (``few_episodes``
    or ``few_events``) and ``note`` says why in words. Use the result for tables, forest plots and their
    alternative text alike.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, adjusted_comparisons
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.disclosure import apply_disclosure_to_adjusted
    >>> adj = adjusted_comparisons(derive_outcomes(load_records("data/sample")))
    >>> pub = apply_disclosure_to_adjusted(adj, rule=disclosure_rule("public"))
    >>> int(pub["surgery"]["hazard_ratio"].isna().sum()) > int(adj["surgery"]["hazard_ratio"].isna().sum())
    True
    """
    out = dict(adjusted)
    if rule.name == "none":
        return out
    extra = [("odi_change", "difference", None)] if "odi_change" in adjusted else []
    for key, est, events in [(o.key, o.estimate, o.events) for o in COMPARED_OUTCOMES] + extra:
        t = adjusted[key].copy()
        if est not in t.columns:  # a model that was not fitted (adjusted_comparisons(models=...))
            continue
        few = ~t["n"].map(rule.allows).astype(bool)
        reason = pd.Series([None] * len(t), index=t.index, dtype=object)
        reason[few] = Reason.FEW_EPISODES.value
        if "events" in t.columns and rule.name == "public":
            ev = ~t["events"].map(rule.allows_events).astype(bool) & ~few
            reason[ev] = Reason.FEW_EVENTS.value
        hide = reason.notna() & t[est].notna()
        out[key] = _hide_rows(t, hide, reason, (est, "ci_low", "ci_high", "p", "p_holm", "e_value", "e_value_ci"),
                              events, rule)
    return out


def _hide_rows(t: pd.DataFrame, hide: pd.Series, reason: pd.Series, columns, events, rule) -> pd.DataFrame:
    """Rows *hide* of a table of estimates lose their figures: NaN, status ``hidden``, reason code and sentence."""
    for c in columns:
        if c in t.columns:
            t.loc[hide, c] = np.nan
    t["status"] = t["status"].astype(object).where(~hide, Status.HIDDEN.value)
    t["reason"] = t["reason"].astype(object).where(~hide, reason)
    t["note"] = pd.Series([hidden_sentence(r, events, rule) if h else n
                           for r, h, n in zip(reason, hide, t["note"])], index=t.index, dtype=object)
    return t


def _hidden_with(t: pd.DataFrame, adjusted_rows: pd.DataFrame | None, rule) -> tuple[pd.Series, pd.Series]:
    """Rows to hide: too few episodes, or the modality's adjusted comparison hidden; with the reason codes."""
    hide = ~t["n"].map(rule.allows).astype(bool)
    reason = pd.Series([Reason.FEW_EPISODES.value] * len(t), index=t.index, dtype=object)
    if adjusted_rows is not None and "status" in adjusted_rows:
        a = adjusted_rows.set_index("modality")
        adj_hidden = t["modality"].map(lambda m: m in a.index and a.loc[m, "status"] == Status.HIDDEN.value)
        adj_hidden = adj_hidden.astype(bool)
        adj_reason = t["modality"].map(lambda m: a.loc[m, "reason"] if m in a.index else None)
        reason = reason.where(~adj_hidden | hide, adj_reason)
        hide = hide | adj_hidden
    return hide, reason


def hidden_sentence(reason: str, events: str | None, rule) -> str:
    """Why an estimate is not shown, in plain words, from its reason code.

    Examples
    --------
    >>> from analysis.disclosure import disclosure_rule, hidden_sentence
    >>> hidden_sentence("few_events", "surgeries", disclosure_rule("public"))
    'not shown: rests on 1-7 surgeries (disclosure control)'
    """
    if reason == Reason.FEW_EVENTS:
        return f"not shown: rests on 1-7 {events or 'events'} (disclosure control)"
    return f"not shown: rests on fewer than {rule.min_n} episodes (disclosure control)"


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
    >>> from analysis.disclosure import apply_disclosure_to_benchmark
    >>> b = pd.DataFrame({"unit": ["T1", "T2"], "n": [43, 41], "observed": [100 * 5 / 43, 100 * 21 / 41],
    ...                   "expected": [30.0, 45.0], "difference": [100 * 5 / 43 - 30, 100 * 21 / 41 - 45],
    ...                   "ci_low": [-35.0, 5.0], "ci_high": [-10.0, 30.0], "shrunken": [-9.0, 3.0],
    ...                   "flag": [None, None], "note": [None, None]})
    >>> pub = apply_disclosure_to_benchmark(b, rule=disclosure_rule("public"), outcome="recovered")
    >>> pub["n"].tolist(), pub["observed"].round(1).tolist(), pub["note"].iloc[0]
    ([45, 40], [nan, 50.0], 'rests on 1-7 recoveries: not shown (disclosure control)')
    """
    out = bench.copy()
    if rule.name == "none" or out.empty:
        return out
    figures = ["observed", "expected", "difference", "ci_low", "ci_high", "shrunken", "shrunken_low", "shrunken_high"]
    figures = [c for c in figures if c in out.columns]
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
            for c in ("shrunken_low", "shrunken_high"):  # the shrunken estimate's interval moves with it
                if c in out.columns:
                    out[c] = out["shrunken"] + (bench[c].to_numpy(dtype="float64")
                                                - bench["shrunken"].to_numpy(dtype="float64"))
        out["n"] = rounded.astype("int64")
    for c in figures:
        out.loc[hide, c] = np.nan
    out["flag"] = out["flag"].astype(object).where(~hide, None)
    out["note"] = pd.Series(note, index=out.index, dtype=object)
    return out




def apply_disclosure_to_confounding(diagnostics: dict, *, rule, adjusted_shown: dict | None = None) -> dict:
    """The confounding diagnostics with everything a disclosure rule forbids removed.

    - overlap and balance of a modality with fewer than the rule's minimum of
      episodes are hidden (``status`` ``hidden``, figures NaN);
    - a propensity bin's count of 1-7 is not shown and its bar is not drawn
      (``shown`` False; ``count_text`` is what a table shows), nor is any bin
      that would let a hidden one be worked back from the group's total
      (complementary suppression, :func:`protect`); under ``public``
      shown counts are rounded to 5, and the figure draws the rounded count;
    - a doubly robust estimate is hidden where the modality's adjusted
      comparison is (*adjusted_shown*, from :func:`apply_disclosure_to_adjusted`)
      or rests on fewer than the minimum of episodes.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import confounding_diagnostics
    >>> from analysis.disclosure import apply_disclosure_to_confounding, disclosure_rule
    >>> shown = apply_disclosure_to_confounding(confounding_diagnostics(derive_outcomes(load_records("data/sample"))),
    ...                                         rule=disclosure_rule("internal"))
    >>> bool((shown["bins"]["shown"] & shown["bins"]["count"].between(1, 7)).any())  # no bar of 1-7 drawn
    False
    """
    out = dict(diagnostics)
    ov = diagnostics["overlap"].copy()
    hide_mod = ~ov["n"].map(rule.allows).astype(bool) if rule.name != "none" else pd.Series(False, index=ov.index)
    hidden = set(ov.loc[hide_mod, "modality"])
    for c in ("effective_n", "ess_share", "max_smd", "max_weighted_smd"):
        ov.loc[hide_mod, c] = np.nan
    ov["status"] = ov["status"].astype(object).where(~hide_mod, Status.HIDDEN.value)
    ov["reason"] = ov["reason"].astype(object).where(~hide_mod, Reason.FEW_EPISODES.value)
    out["overlap"] = ov
    bal = diagnostics["balance"].copy()
    gone = bal["modality"].isin(hidden)
    bal.loc[gone, ["smd", "weighted_smd"]] = np.nan
    out["balance"] = bal
    bins = diagnostics["bins"].copy().reset_index(drop=True)
    # each group's bins add up to its number of episodes, shown elsewhere: one hidden bin could be worked
    # back from the others, so complementary suppression runs on each histogram with its total
    state = np.zeros(len(bins), dtype=int)
    if rule.name != "none":
        for _, idx in bins.groupby(["modality", "group"], sort=False).groups.items():
            idx = np.asarray(idx)
            counts = bins.loc[idx, "count"].to_numpy(dtype=int)
            values = np.r_[counts, counts.sum()]
            primary = np.r_[[rule.small(c) for c in counts], False]
            st = protect(values, primary, grid_relations(1, len(counts), total_row=False), rounding=rule.rounding)
            state[idx] = st[:-1]
    hidden_bin = (state != CellState.SHOWN) | bins["modality"].isin(hidden).to_numpy()
    bins["shown"] = ~hidden_bin
    bins["count_text"] = [rule.hidden if (m in hidden or st == CellState.SECONDARY) else rule.count(c)
                          for m, c, st in zip(bins["modality"], bins["count"], state)]
    shown_value = [float(s.replace(",", "")) if s.replace(",", "").isdigit() else np.nan
                   for s in bins["count_text"]]
    bins["drawn"] = np.where(bins["shown"], shown_value, np.nan)
    out["bins"] = bins
    dr = {}
    for key, t in diagnostics["doubly_robust"].items():
        t = t.copy()
        hide, reason = _hidden_with(t, (adjusted_shown or {}).get(key), rule)
        hide = (hide | t["modality"].isin(hidden)) & t["estimate"].notna() & (rule.name != "none")
        dr[key] = _hide_rows(t, hide, reason, ("estimate", "ci_low", "ci_high", "p", "regression", "effective_n"),
                             "recoveries" if key == "recovered" else None, rule)
    out["doubly_robust"] = dr
    return out


def apply_disclosure_to_imputed_comparisons(table: pd.DataFrame, *, rule, adjusted_shown: dict | None = None
                                            ) -> pd.DataFrame:
    """The imputed recovery comparisons with what the rule forbids removed.

    A row is hidden where the modality's complete-case recovery comparison is
    hidden (*adjusted_shown*) or rests on fewer than the rule's minimum of
    episodes; its estimate, interval, p values, E-values and tipping point
    become NaN and ``note`` says why.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.disclosure import apply_disclosure_to_imputed_comparisons, disclosure_rule
    >>> t = pd.DataFrame({"modality": ["a"], "odds_ratio": [1.2], "ci_low": [0.9], "ci_high": [1.6], "p": [0.2],
    ...                   "p_holm": [0.2], "e_value": [1.7], "e_value_ci": [1.0], "tipping_odds": [3.0], "n": [5],
    ...                   "note": [None], "status": ["estimated"], "reason": [None]})
    >>> apply_disclosure_to_imputed_comparisons(t, rule=disclosure_rule("internal"))["note"].iloc[0]
    'not shown: rests on fewer than 8 episodes (disclosure control)'
    """
    t = table.copy()
    if rule.name == "none":
        return t
    hide, reason = _hidden_with(t, (adjusted_shown or {}).get("recovered"), rule)
    hide = hide & t["odds_ratio"].notna()
    return _hide_rows(t, hide, reason, ("odds_ratio", "ci_low", "ci_high", "p", "p_holm", "e_value", "e_value_ci",
                                        "tipping_odds"), "recoveries", rule)


#: The secondary outcomes' count columns, each with its figure (``mean``, ``rate`` or ``median``).
_SECONDARY = {"odi_change": "mean", "odi_responder": "rate", "back_pain_change": "mean", "sessions": "median",
              "days_to_discharge": "median"}


def apply_disclosure_to_secondary(table: pd.DataFrame, *, rule) -> pd.DataFrame:
    """The secondary outcome table (:func:`analysis.methods.secondary_outcome_table`) under a disclosure rule.

    For each outcome adds ``<key>_state`` (the :class:`CellState` of its
    ``n``, with complementary suppression down the column, whose first row
    ``Overall`` is the total) and ``<key>_shown`` (whether its mean, rate or
    median may be shown: at least the rule's minimum of episodes, its count
    not suppressed, and under ``public`` a rate not resting on 1-7 events).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import secondary_outcome_table
    >>> from analysis.disclosure import apply_disclosure_to_secondary, disclosure_rule
    >>> t = apply_disclosure_to_secondary(secondary_outcome_table(derive_outcomes(load_records("data/sample"))),
    ...                                   rule=disclosure_rule("public"))
    >>> bool(t["odi_change_shown"].all()), int(t["odi_change_state"].iloc[0])
    (True, 0)
    """
    t = table.copy()
    records = t.to_dict("records")
    for key, figure in _SECONDARY.items():
        states = group_column_states(records, f"{key}_n", rule)
        t[f"{key}_state"] = states
        shown = []
        for r, st in zip(records, states):
            ok = st == CellState.SHOWN and rule.allows(r[f"{key}_n"])
            if figure == "rate":
                ok = ok and rule.allows_events(r[f"{key}_events"])
            shown.append(bool(ok))
        t[f"{key}_shown"] = shown
    return t


def apply_disclosure_to_fixed_day(result: dict, *, rule) -> dict:
    """Leg pain at fixed days (:func:`analysis.methods.leg_pain_at_days`) under a disclosure rule.

    A modality's mean on a day is hidden when it rests on fewer than the rule's minimum of episodes,
    or fewer than that many of them had a visit near the day; a difference is hidden when either
    side's mean on that day is, or its modality has too few episodes. Hidden rows keep their
    counts and lose their figures (status ``hidden``, a reason code and the sentence).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import leg_pain_at_days
    >>> from analysis.disclosure import apply_disclosure_to_fixed_day, disclosure_rule
    >>> rec = load_records("data/sample")
    >>> res = apply_disclosure_to_fixed_day(leg_pain_at_days(rec, derive_outcomes(rec)),
    ...                                     rule=disclosure_rule("internal"))
    >>> sorted(set(res["means"]["status"]))
    ['estimated']
    """
    out = dict(result)
    if rule.name == "none":
        return out
    m = result["means"].copy()
    few = ~(m["n"].map(rule.allows).astype(bool) & m["reach"].map(rule.allows).astype(bool))
    reason = pd.Series([Reason.FEW_EPISODES.value] * len(m), index=m.index, dtype=object)
    hide_m = few & m["mean"].notna()
    out["means"] = _hide_rows(m, hide_m, reason, ("mean", "ci_low", "ci_high"), None, rule)
    hidden = {(g, d) for g, d, h in zip(m["group"], m["day"], few) if h}
    t = result["differences"].copy()
    ref = result["reference"]
    side = pd.Series([(mod, d) in hidden or (ref, d) in hidden for mod, d in zip(t["modality"], t["day"])],
                     index=t.index)
    hide = (~t["n"].map(rule.allows).astype(bool) | side) & t["difference"].notna()
    reason = pd.Series([Reason.FEW_EPISODES.value] * len(t), index=t.index, dtype=object)
    out["differences"] = _hide_rows(t, hide, reason, ("difference", "ci_low", "ci_high", "p", "p_holm", "e_value",
                                                      "e_value_ci"), None, rule)
    ld = result["last_day"].copy()
    ld["shown"] = ld["n"].map(rule.allows).astype(bool)
    for c in ("median", "q1", "q3"):
        ld[c] = ld[c].where(ld["shown"])
    out["last_day"] = ld
    sv = result.get("single_visit")
    out["single_visit"] = sv if sv and rule.allows(sv) else None
    return out
