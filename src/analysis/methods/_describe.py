"""Descriptive tables behind the figures: trajectories, survival curves,
funnel-plot data and data completeness. Every figure in :mod:`analysis.present`
draws one of these tables, so every number in a figure can be read (and
tested) as data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..records import Records
from ..stats import at_risk_table, kaplan_meier, wilson_interval, z_value
from ._outcomes import OutcomeSettings

__all__ = ["COMPLETENESS_ITEMS", "completeness_table", "data_overview", "exclusions_table", "funnel_data", "funnel_limits", "pain_trajectories", "survival_curves"]


def pain_trajectories(records: Records, *, by: str = "modality", measure: str = "leg_pain", max_visit: int = 10,
                      confidence: float = 0.95) -> pd.DataFrame:
    """Mean pain by visit number and group, with t intervals.

    Parameters
    ----------
    records : Records
    by : str, keyword-only
        Episode column to group by.
    measure : {"leg_pain", "back_pain", "odi"}, keyword-only
    max_visit : int, keyword-only
        Last visit number shown (later visits are few and self-selected).

    Returns
    -------
    pandas.DataFrame
        ``group``, ``visit_no``, ``n``, ``mean``, ``sd``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> from analysis import load_records
    >>> from analysis.methods import pain_trajectories
    >>> tr = pain_trajectories(load_records("data/sample"))
    >>> int(tr["visit_no"].max()), bool(tr.groupby("group")["mean"].first().between(5, 8).all())
    (10, True)
    """
    ep, vi = records.episodes, records.visits
    pos = records.visit_positions()
    ok = pos >= 0
    # grouped by integer codes with bincount (a registry's millions of visits; a string groupby took ~1 s)
    codes, groups = pd.factorize(ep[by], sort=True)
    code = codes[pos[ok]]
    visit_no = vi["visit_no"].to_numpy(dtype="int64")[ok]
    value = vi[measure].to_numpy(dtype="float64", na_value=np.nan)[ok]
    use = (visit_no <= max_visit) & ~np.isnan(value) & (code >= 0)
    code, visit_no, value = code[use], visit_no[use], value[use]
    lo = int(visit_no.min()) if len(visit_no) else 0
    span = (int(visit_no.max()) - lo + 1) if len(visit_no) else 1
    key = code.astype("int64") * span + (visit_no - lo)
    size = len(groups) * span
    n = np.bincount(key, minlength=size)
    total = np.bincount(key, weights=value, minlength=size)
    cells = np.flatnonzero(n)
    mean_all = np.divide(total, n, out=np.zeros(size), where=n > 0)
    ss = np.bincount(key, weights=(value - mean_all[key]) ** 2, minlength=size)
    n_c = n[cells]
    out = pd.DataFrame({
        "group": np.asarray(groups, dtype=object)[cells // span],
        "visit_no": (cells % span + lo).astype("int64"),
        "n": n_c.astype("int64"),
        "mean": mean_all[cells],
        "sd": np.where(n_c > 1, np.sqrt(ss[cells] / np.maximum(n_c - 1, 1)), np.nan),
    })
    q = sps.t.ppf(1 - (1 - confidence) / 2, np.maximum(out["n"] - 1, 1))
    half = q * out["sd"] / np.sqrt(out["n"])
    out["ci_low"] = np.where(out["n"] > 1, out["mean"] - half, np.nan)
    out["ci_high"] = np.where(out["n"] > 1, out["mean"] + half, np.nan)
    return out


def survival_curves(outcomes: pd.DataFrame, *, by: str = "modality", confidence: float = 0.95,
                    times=None, min_n: int = 1, min_at_risk: int = 1,
                    settings: OutcomeSettings | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kaplan-Meier surgery-free curves per group in the surgery-free population.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes`.
    by : str, keyword-only
    confidence : float, keyword-only
    times : sequence of float, optional, keyword-only
        Times for the at-risk table; default every 90 days up to the horizon
        (and the horizon itself).
    min_n : int, keyword-only
        Groups with fewer episodes in the population are left out (each step of
        a tiny group's curve would reveal one patient; disclosure control).
    min_at_risk : int, keyword-only
        Each curve stops where fewer than this many remain at risk (8 under
        the internal and public rules): its steps would date single operations.
    settings : OutcomeSettings, optional, keyword-only
        The settings the outcomes were derived with (their horizon sets the
        default *times*); default settings if omitted.

    Returns
    -------
    curves : pandas.DataFrame
        ``group``, ``time``, ``survival``, ``ci_low``, ``ci_high``, ``n_risk``,
        ``n_event``, ``n_censored``, ``stopped``; each group starts with a row
        at time 0, S = 1. A curve cut by *min_at_risk* ends with a row at the
        last time at which enough remained at risk, ``stopped`` True.
    at_risk : pandas.DataFrame
        ``group``, ``time``, ``at_risk``, ``events``, ``censored`` (see
        :func:`analysis.stats.at_risk_table`).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import survival_curves
    >>> curves, risk = survival_curves(derive_outcomes(load_records("data/sample")))
    >>> risk["time"].unique().tolist()
    [0.0, 90.0, 180.0, 270.0, 365.0]
    """
    s = settings or OutcomeSettings()
    pop = outcomes[outcomes["in_population"]]
    sizes = pop[by].value_counts()
    pop = pop[pop[by].isin(sizes[sizes >= min_n].index)]
    if times is None:
        times = [t for t in range(0, s.horizon_days, 90) if s.horizon_days - t >= 45] + [s.horizon_days]
    frames = []
    for g, d in sorted(pop.groupby(by, sort=False), key=lambda kv: str(kv[0])):
        km = kaplan_meier(d["surgery_time"], d["surgery_event"], confidence=confidence)
        start = pd.DataFrame({"time": [0.0], "n_risk": [len(d)], "n_event": [0], "n_censored": [0],
                              "survival": [1.0], "std_err": [0.0], "ci_low": [1.0], "ci_high": [1.0]})
        km = pd.concat([start, km], ignore_index=True) if len(km) else start
        km["stopped"] = False
        if min_at_risk > 1:
            t_sorted = np.sort(d["surgery_time"].to_numpy(dtype="float64"))
            t_stop = t_sorted[-min_at_risk] if len(t_sorted) >= min_at_risk else 0.0
            km = km[(km["n_risk"] >= min_at_risk) | (km["time"] == 0)]
            if t_stop < t_sorted[-1]:
                end = km.iloc[[-1]].assign(time=t_stop, n_event=0, n_censored=0, stopped=True,
                                           n_risk=int((t_sorted >= t_stop).sum()))
                km = pd.concat([km, end], ignore_index=True)
        km.insert(0, "group", g)
        frames.append(km.drop(columns=["std_err"]))
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["group", "time", "n_risk", "n_event", "n_censored", "survival", "ci_low", "ci_high", "stopped"])
    risk = at_risk_table(pop["surgery_time"], pop["surgery_event"], groups=pop[by].to_numpy(dtype=object), times=times)
    risk = risk.sort_values(["group", "time"], key=lambda c: c.astype(str) if c.name == "group" else c).reset_index(drop=True)
    return curves, risk


def funnel_limits(p0: float, n, *, levels=(0.95, 0.998)) -> pd.DataFrame:
    """Control limits for a proportion around a target p0 (Spiegelhalter 2005), normal approximation.

    Returns
    -------
    pandas.DataFrame
        ``n`` and, per level, ``low_95``/``high_95`` style columns named by the
        level (``low_95``, ``high_95``, ``low_99.8``, ``high_99.8``), clipped to [0, 1].

    Examples
    --------
    >>> from analysis.methods import funnel_limits
    >>> funnel_limits(0.5, [100]).round(3).to_dict("records")
    [{'n': 100, 'low_95': 0.402, 'high_95': 0.598, 'low_99.8': 0.345, 'high_99.8': 0.655}]
    """
    n = np.asarray(n, dtype="float64")
    out = {"n": n.astype(int) if np.all(n == np.round(n)) else n}
    for lev in levels:
        z = z_value(lev)
        half = z * np.sqrt(p0 * (1 - p0) / n)
        name = f"{100 * lev:g}"
        out[f"low_{name}"] = np.clip(p0 - half, 0, 1)
        out[f"high_{name}"] = np.clip(p0 + half, 0, 1)
    return pd.DataFrame(out)


def funnel_data(outcomes: pd.DataFrame, *, by: str = "clinic", outcome: str = "recovered",
                confidence: float = 0.95) -> pd.DataFrame:
    """Rate of a yes/no outcome per unit (clinic or therapist), for a funnel plot.

    Returns
    -------
    pandas.DataFrame
        ``unit``, ``n``, ``events``, ``rate``, ``ci_low``, ``ci_high``, ``overall``
        (the pooled rate, the funnel's centre), and ``outside_95``/``outside_99.8``
        flags against the funnel limits at that unit's n. Units without a code
        (therapist not recorded) are left out.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import funnel_data
    >>> funnel_data(derive_outcomes(load_records("data/sample")))["unit"].tolist()
    ['CEN', 'NTH', 'STH']
    """
    d = outcomes[outcomes[outcome].notna() & outcomes[by].notna()]
    y = d[outcome].astype(bool).to_numpy()
    grp = d.groupby(d[by].to_numpy(dtype=object), sort=True)
    n = grp.size()
    ev = pd.Series(y, index=d.index).groupby(d[by].to_numpy(dtype=object), sort=True).sum()
    w = wilson_interval(ev.to_numpy(), n.to_numpy(), confidence=confidence)
    p0 = float(y.mean()) if len(y) else np.nan
    lim = funnel_limits(p0, n.to_numpy())
    out = pd.DataFrame({"unit": n.index, "n": n.to_numpy(), "events": ev.to_numpy().astype(int),
                        "rate": w["rate"], "ci_low": w["ci_low"], "ci_high": w["ci_high"], "overall": p0})
    out["outside_95"] = (out["rate"] < lim["low_95"]) | (out["rate"] > lim["high_95"])
    out["outside_99.8"] = (out["rate"] < lim["low_99.8"]) | (out["rate"] > lim["high_99.8"])
    return out.reset_index(drop=True)


#: Completeness items -> label shown in tables and figures.
COMPLETENESS_ITEMS = {
    "baseline_leg_pain": "Leg pain at first visit",
    "final_leg_pain": "Leg pain at a later visit",
    "global_change": "Global change rating",
    "baseline_odi": "ODI at first visit",
    "ongoing": "Still in treatment",
    "short_followup": "Followed less than the horizon",
}


def completeness_table(outcomes: pd.DataFrame, *, by: str = "modality",
                       settings: OutcomeSettings | None = None) -> pd.DataFrame:
    """How complete each outcome is, by group (and overall first).

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes`.
    by : str, keyword-only
        Grouping column.
    settings : OutcomeSettings, optional, keyword-only
        The settings the outcomes were derived with (their horizon defines
        short follow-up); default settings if omitted.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``episodes``, and for each of ``baseline_leg_pain``,
        ``final_leg_pain``, ``global_change``, ``baseline_odi``: the number
        recorded (``<name>_n``) and the share recorded (``<name>_pct``); also
        ``ongoing`` (no discharge yet) and ``short_followup`` (no surgery and
        surgery status last known before the horizon: lost to follow-up, or
        started too recently to have reached it) with their shares (``_pct``).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import completeness_table
    >>> c = completeness_table(derive_outcomes(load_records("data/sample")))
    >>> c["group"].iloc[0], bool(60 < c["global_change_pct"].iloc[0] < 80)
    ('Overall', True)
    """
    s = settings or OutcomeSettings()
    cols = ["baseline_leg_pain", "final_leg_pain", "global_change", "baseline_odi"]

    def row(name, d):
        r = {"group": name, "episodes": len(d)}
        for c in cols:
            k = int(d[c].notna().sum())
            r[f"{c}_n"] = k
            r[f"{c}_pct"] = 100 * k / len(d) if len(d) else np.nan
        ongoing = int(d["days_to_discharge"].isna().sum())  # no discharge_day yet
        short = int(((d["followup_day"] < s.horizon_days) & ~d["surgery_event"]).sum())
        r.update(ongoing=ongoing, ongoing_pct=100 * ongoing / len(d) if len(d) else np.nan,
                 short_followup=short, short_followup_pct=100 * short / len(d) if len(d) else np.nan)
        return r

    rows = [row("Overall", outcomes)]
    rows += [row(g, d) for g, d in sorted(outcomes.groupby(by, sort=False), key=lambda kv: str(kv[0]))]
    return pd.DataFrame(rows)


def data_overview(records: Records) -> pd.DataFrame:
    """What was loaded, as a two-column table (item, value) for people.

    Examples
    --------
    >>> from analysis import load_records
    >>> from analysis.methods import data_overview
    >>> data_overview(load_records("data/sample")).iloc[0].tolist()
    ['Episodes of care', '1,500']
    """
    ep, vi = records.episodes, records.visits
    items = [
        ("Episodes of care", f"{len(ep):,}"),
        ("Patients", f"{ep['patient_id'].nunique():,}"),
        ("Visits", f"{len(vi):,}"),
        ("Clinics", ", ".join(sorted(ep["clinic"].unique()))),
        ("Therapists recorded", f"{ep['therapist'].nunique():,}"),
        ("Modalities", f"{ep['modality'].nunique()} ({'labels from modalities.csv' if records.has_catalogue else 'codes; no modalities.csv'})"),
        ("First start date", ep["start_date"].min().strftime("%d %b %Y") if len(ep) else "-"),
        ("Last start date", ep["start_date"].max().strftime("%d %b %Y") if len(ep) else "-"),
        ("Files read", ", ".join(records.files.values())),
    ]
    return pd.DataFrame(items, columns=["Item", "Value"])


def exclusions_table(outcomes: pd.DataFrame, *, settings: OutcomeSettings | None = None) -> pd.DataFrame:
    """For each analysis, how many episodes are in it and why the others are not.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes`.
    settings : OutcomeSettings, optional, keyword-only
        The settings the outcomes were derived with (population and horizon);
        default settings if omitted.

    Returns
    -------
    pandas.DataFrame
        ``analysis``, ``included``, ``excluded``, ``reason``: one row per reason.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import exclusions_table
    >>> t = exclusions_table(derive_outcomes(load_records("data/sample")))
    >>> t["analysis"].unique().tolist()
    ['Leg pain change', 'Recovery', 'Surgery-free']
    """
    s = settings or OutcomeSettings()
    n = len(outcomes)
    no_base = outcomes["baseline_leg_pain"].isna()
    no_final = ~no_base & outcomes["final_leg_pain"].isna()
    single = no_final & (outcomes["sessions"] <= 1)
    no_gc = outcomes["global_change"].isna()
    ongoing = no_gc & outcomes["days_to_discharge"].isna()
    not_pop = ~outcomes["in_population"]
    pop_word = "not a surgical candidate" if s.population == "candidates" else ""
    rows = [
        ("Leg pain change", int((~no_base & ~no_final).sum()), int(no_base.sum()), "no leg pain at the first visit"),
        ("Leg pain change", int((~no_base & ~no_final).sum()), int(single.sum()), "only one visit"),
        ("Leg pain change", int((~no_base & ~no_final).sum()), int((no_final & ~single).sum()),
         "no leg pain recorded at any later visit"),
        ("Recovery", int((~no_gc).sum()), int(ongoing.sum()), "still in treatment (no discharge yet)"),
        ("Recovery", int((~no_gc).sum()), int((no_gc & ~ongoing).sum()), "discharged without a global change rating"),
    ]
    if pop_word:
        rows.append(("Surgery-free", int((~not_pop).sum()), int(not_pop.sum()), pop_word))
    else:
        rows.append(("Surgery-free", n, 0, "none: all episodes are in the surgery-free analysis"))
    return pd.DataFrame(rows, columns=["analysis", "included", "excluded", "reason"])
