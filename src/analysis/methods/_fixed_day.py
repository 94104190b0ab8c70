"""Leg pain at fixed days (6 and 12 weeks by default), from every recorded visit.

The last-value change compares each episode's last recorded leg pain, whatever day that was. When
one modality's courses run longer than another's, its last values are taken later, on a part of the
recovery curve further down, so the comparison mixes the modality with the length of its course.
Trials compare pain at fixed times instead. This module fits one growth-curve mixed model to all
recorded visits (:func:`analysis.stats.growth_curve_model`):

- leg pain at every visit (the first one included, so episodes with a single visit count too) on
  the case mix at the first visit (age band, sex, symptom duration, cause, clinic), the modality,
  and a separate time curve per modality: a natural cubic spline in days since the first visit,
  knots at the 5th, 23rd, 41st, 59th, 77th and 95th percentiles of the visit days (Harrell 2015, six knots);
- a random intercept and slope per episode, REML; with clustering, the cluster-robust covariance
  by therapist (or clinic) around the same estimate;
- each modality's mean leg pain on day d: the model's mean for its own patients on that day;
- the adjusted difference on day d: between patients of the same case mix and the same leg pain at
  the first visit (as the last-value comparison is adjusted for it), from the model's own
  correlation of pain on day d with pain at the first visit: mu_m(d) - mu_ref(d) -
  rho(d) (mu_m(0) - mu_ref(0)), rho(d) = cov(y(d), y(0)) / var(y(0));
- a figure only where the data reach the day: at least :data:`MIN_REACH` of the modality's episodes
  with a visit within :data:`REACH_DAYS` days of it; otherwise none, with the reason (a spline is
  never extrapolated).

Under missing at random (a visit missed, or a course ended, for reasons seen in the earlier visits)
the mixed model is unbiased where the last value is not (Molenberghs & Kenward 2007).
``studies/fixed_day_study.py`` shows bias and coverage beside the last-value comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..records import Records
from ..stats import e_value, first_rows, growth_curve_model, holm, natural_spline_basis
from ._compare import FEW_CLUSTERS, MIN_CLUSTERS, _design, _few_clusters_note, _one_cluster_note, choose_reference, default_cluster
from ._confounding import _pattern_codes
from ._outcomes import OutcomeSettings
from ._status import Reason, Status

__all__ = ["FIXED_DAY_COVARIATES", "MIN_REACH", "REACH_DAYS", "SPLINE_QUANTILES", "leg_pain_at_days"]

#: A modality's figure on a day needs at least this many of its episodes with a visit near the day ...
MIN_REACH = 8
#: ... within this many days of it.
REACH_DAYS = 14
#: Knots of the time spline: these percentiles of the visit days.
SPLINE_QUANTILES = (0.05, 0.23, 0.41, 0.59, 0.77, 0.95)
#: Case mix of the fixed-day model (leg pain at the first visit is the model's first measurement).
FIXED_DAY_COVARIATES = ("age_band", "sex", "symptom_band", "cause", "clinic")


def _knots(days: np.ndarray, *, whole: np.ndarray | None = None) -> np.ndarray | None:
    k = np.unique(_quantiles(days, SPLINE_QUANTILES, whole=whole))
    return k if len(k) >= 3 else None


def _quantiles(x: np.ndarray, qs, *, whole: np.ndarray | None = None) -> np.ndarray:
    """``np.quantile(x, qs)``; with *whole* (the same values as integers), from their counts per value, without
    sorting millions of visit days: the two order statistics each quantile lies between, found in the
    cumulative counts, then numpy's own interpolation between them (the same numbers to the last bit)."""
    if whole is None or not len(whole):
        return np.quantile(x, qs)
    lo = int(whole.min())
    if int(whole.max()) - lo >= 1_000_000:
        return np.quantile(x, qs)
    cum = np.cumsum(np.bincount(whole - lo))
    n = len(whole)
    virtual = (n - 1) * np.asarray(qs, dtype="float64")  # numpy's "linear" method
    below = np.floor(virtual).astype("int64")
    above = np.minimum(below + 1, n - 1)
    a = (np.searchsorted(cum, below, side="right") + lo).astype("float64")  # the below-th smallest value
    b = (np.searchsorted(cum, above, side="right") + lo).astype("float64")
    return np.array([np.quantile(np.array([ai, bi]), g) for ai, bi, g in zip(a, b, virtual - below)])


def _basis(x, knots) -> np.ndarray:
    x = np.atleast_1d(np.asarray(x, dtype="float64"))
    if knots is None:
        return x[:, None]
    return natural_spline_basis(x, knots)


def _basis_of_days(x, knots, *, whole=None) -> tuple[np.ndarray, np.ndarray | None]:
    """The time basis of the visits: for whole days, the basis of each day from the first to the last and
    each visit's row of it (the model tabulates per day); else the basis of every visit. *whole*: the
    same days as integers, when the records hold them so (no check needed)."""
    x = np.asarray(x, dtype="float64")
    if whole is not None and len(whole) and knots is not None:
        lo, hi = int(whole.min()), int(whole.max())
        if hi - lo < 100_000:
            return natural_spline_basis(np.arange(hi - lo + 1, dtype="float64") + lo, knots), whole - lo
    if len(x) and knots is not None:
        lo, hi = np.min(x), np.max(x)
        if np.isfinite(lo) and hi - lo < 100_000:
            day = (x - lo).astype("int64")
            if np.array_equal(day + lo, x):
                return natural_spline_basis(np.arange(int(hi - lo) + 1) + lo, knots), day
    return _basis(x, knots), None


def leg_pain_at_days(records: Records, outcomes: pd.DataFrame, *, reference: str | None = None,
                     covariates=FIXED_DAY_COVARIATES, cluster: str | None = None,
                     settings: OutcomeSettings | None = None) -> dict:
    """Mean leg pain on fixed days by modality and the adjusted differences, from all visits.

    Parameters
    ----------
    records : Records
        The (filtered) records; their visits give the measurements.
    outcomes : pandas.DataFrame
        :func:`derive_outcomes` of the same records (same row order).
    reference : str, optional, keyword-only
    covariates : sequence of str, keyword-only
        Case mix at the first visit (default :data:`FIXED_DAY_COVARIATES`).
    cluster : {"therapist", "clinic", "none"}, optional, keyword-only
        Default :func:`default_cluster`.
    settings : OutcomeSettings, optional, keyword-only
        ``fixed_days`` gives the days (42 and 84).

    Returns
    -------
    dict
        ``means``: one row per group (``Overall`` first, then each modality in code order) and day:
        ``group``, ``day``, ``mean``, ``ci_low``, ``ci_high``, ``n`` (episodes in the model),
        ``reach`` (of them, with a visit within :data:`REACH_DAYS` days of the day), ``status``,
        ``reason``, ``note``. ``differences``: one row per non-reference modality and day:
        ``modality``, ``day``, ``difference``, ``ci_low``, ``ci_high``, ``p``, ``p_holm`` (Holm
        within the day), ``e_value``, ``e_value_ci``, ``note``, ``status``, ``reason``, ``n``,
        ``clusters``. Also ``reference``, ``days``, ``episodes``, ``visits``, ``single_visit``
        (episodes with one leg-pain value, used here and not in the last-value change), ``last_day``
        (by modality: median and quartiles of the day of the last recorded leg pain, the day the
        last-value change is taken, among episodes with two or more), ``knots``,
        ``rho`` (day -> correlation used for the first-visit adjustment), ``cluster``, ``method``
        and ``converged``.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import leg_pain_at_days
    >>> rec = load_records("data/sample")
    >>> res = leg_pain_at_days(rec, derive_outcomes(rec))
    >>> res["days"], len(res["differences"]) == 2 * 8, bool(res["means"]["mean"].between(0, 10).all())
    ([42, 84], True, True)
    """
    s = settings or OutcomeSettings()
    days = [int(d) for d in s.fixed_days]
    ref = reference or choose_reference(outcomes)
    cluster = cluster or default_cluster(outcomes)
    covs = [c for c in covariates if c in outcomes.columns]
    if len(outcomes) != len(records.episodes):
        raise ValueError("outcomes must be derive_outcomes of these records (one row per episode, same order)")
    pos = records.visit_positions()
    vi = records.visits
    leg = vi["leg_pain"].to_numpy(dtype="float64", na_value=np.nan)
    vday = vi["day"].to_numpy(dtype="float64", na_value=np.nan)
    okv = (pos >= 0) & ~np.isnan(leg) & ~np.isnan(vday)
    ep_ok = outcomes[covs].notna().all(axis=1).to_numpy(copy=True) if covs else np.ones(len(outcomes), dtype=bool)
    has = np.zeros(len(outcomes), dtype=bool)
    has[pos[okv]] = True
    ep_ok &= has
    okv &= ep_ok[np.where(pos >= 0, pos, 0)]
    all_mods = sorted(outcomes["modality"].unique())
    others = [m for m in all_mods if m != ref]
    keep_ep = np.flatnonzero(ep_ok)
    wanted = list(dict.fromkeys(["modality", *covs, *([cluster] if cluster in outcomes.columns else [])]))
    d = outcomes[wanted].take(keep_ep)  # only the columns the model uses
    remap = np.full(len(outcomes), -1, dtype="int64")
    remap[keep_ep] = np.arange(len(keep_ep))
    unit = remap[pos[okv]]
    y, t = leg[okv], vday[okv]
    n_vis = np.bincount(unit, minlength=len(keep_ep))
    mods_present = sorted(d["modality"].unique())
    mcode = pd.Categorical(d["modality"], categories=mods_present).codes.astype("int64")
    h = len(mods_present)
    # the visits are in episode order (records sort them), so an episode's visits are one run
    starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]]) if len(unit) else np.zeros(0, dtype="int64")
    in_runs = bool(np.all(unit[1:] >= unit[:-1])) if len(unit) else True
    # reach: episodes with a visit within REACH_DAYS of each day, by modality
    reach, near_visit = {}, {}
    for day in days:
        near_visit[day] = (t >= day - REACH_DAYS) & (t <= day + REACH_DAYS)  # no day-sized temporaries
        near = np.zeros(len(keep_ep), dtype=bool)
        if in_runs and len(unit):
            near[unit[starts]] = np.logical_or.reduceat(near_visit[day], starts)  # one pass over the runs
        else:
            near[unit[near_visit[day]]] = True
        per = np.bincount(mcode[near], minlength=h)
        reach[day] = {**{m: int(per[g]) for g, m in enumerate(mods_present)}, "Overall": int(near.sum())}
    n_by = dict(zip(mods_present, np.bincount(mcode, minlength=h).tolist()))
    # the day of each episode's last recorded leg pain (what the last-value change uses), among episodes with two
    last = np.full(len(keep_ep), -np.inf)
    if len(unit):
        if in_runs:
            last[unit[starts]] = np.maximum.reduceat(t, starts)
        else:
            np.maximum.at(last, unit, t)
    two = n_vis >= 2
    last_day = (pd.DataFrame({"modality": np.asarray(mods_present, dtype=object)[mcode[two]], "day": last[two]})
                .groupby("modality")["day"].agg(n="count", median="median",
                                                q1=lambda x: x.quantile(0.25), q3=lambda x: x.quantile(0.75))
                .reset_index())
    # therapists (or clinics) giving each modality, as in the other comparisons
    k_by = {}
    if cluster != "none":
        ccode = pd.factorize(d[cluster])[0]   # -1: no code recorded
        given = ccode >= 0
        G = int(ccode.max()) + 1 if given.any() else 1
        per = np.bincount(np.unique(mcode[given] * G + ccode[given]) // G, minlength=h)
        k_by = {m: int(per[g]) for g, m in enumerate(mods_present)}
    method = ("growth-curve linear mixed model of leg pain at every visit (natural cubic spline in days per "
              "modality, case mix at the first visit, random intercept and slope per episode, REML)"
              + (f", cluster-robust covariance by {cluster}, t intervals with the effective number of {cluster}s "
                 "as degrees of freedom" if cluster != "none" else ", t intervals (episodes independent)"))
    base = {"reference": ref, "days": days, "episodes": int(len(keep_ep)), "visits": int(okv.sum()),
            "single_visit": int((n_vis == 1).sum()), "last_day": last_day, "cluster": cluster, "method": method, "rho": {},
            "knots": None, "converged": False}
    mean_rows, diff_rows = [], []
    fit = None
    whole = vi["day"].to_numpy()[okv] if vi["day"].dtype == np.int64 else None
    knots = _knots(t, whole=whole) if len(t) else None
    # the spread of leg pain near each day (for the E-values), taken now: the visits are let go before the fit
    sd_near, near = {}, None
    for day in days:
        near = near_visit[day]
        sd_near[day] = float(np.std(y[near], ddof=1)) if near.sum() > 1 else np.nan
    near_visit.clear()
    # the measurements, handed to the model by the only reference to them: it lets each go once summed up
    visits = {"y": y, "unit": unit, "t": t, "whole": whole}
    del leg, vday, okv, y, unit, t, whole, near
    failure = None
    if len(keep_ep) >= 3 and ref in mods_present:
        # the design of the distinct case-mix rows only (each episode's row by number): the same columns as
        # the design of every episode (a level, and the rank, are the same on the distinct rows)
        rows = _pattern_codes(d, [*covs, "modality"])
        first = first_rows(rows)  # the patterns are numbered in order of appearance
        dd = d.iloc[first].assign(modality=d["modality"].iloc[first].astype("str"))
        X, names, _ = _design(dd, modalities=[m for m in mods_present if m != ref], covariates=covs,
                              y_events=None, both_ends=False, constant=True)
        groups = None
        if cluster != "none":
            groups = pd.factorize(d[cluster])[0]  # codes; -1 (no code recorded): an episode on its own
        try:
            table, visits["rows"] = _basis_of_days(visits["t"], knots, whole=visits.pop("whole"))
            fit = growth_curve_model(visits.pop("y"), visits.pop("unit"), visits.pop("t"), table, X, mcode,
                                     basis_rows=visits.pop("rows"), rows=rows, groups=groups, names=names,
                                     confidence=s.confidence)
            del table
            if not fit.converged:
                failure = "the model of all visits did not converge: not estimable"
        except (np.linalg.LinAlgError, ValueError):
            failure = "too few visits for the model of all visits: not estimable"
    else:
        failure = "too few episodes with leg pain recorded: not estimable" if len(keep_ep) < 3 else \
            f"the reference modality ({ref}) has no episodes with leg pain recorded: not estimable"
    base["knots"] = knots.tolist() if knots is not None else None
    if fit is not None and failure is None:
        base["converged"] = True
        names = fit.names
        q = len(names) - len(mods_present) * fit._k
        counts = np.bincount(mcode, minlength=h)
        share = counts / len(mcode)
        # the mean covariate row overall and of each modality's episodes, from the distinct rows' counts
        per_row = np.bincount(mcode * len(X) + rows, minlength=h * len(X)).reshape(h, len(X)).astype("float64")
        xbar_all = per_row.sum(axis=0) @ X / len(mcode)
        xbar_by = per_row @ X / np.maximum(counts, 1)[:, None]
        D, s2 = fit.re_cov, fit.sigma2
        b0 = _basis([0.0], knots)[0]
        gref = mods_present.index(ref)
        means_L, mean_keys, diff_L, diff_keys = [], [], [], []
        for day in days:
            bd = _basis([float(day)], knots)[0]
            rho = float((D[0, 0] + day * D[0, 1]) / (D[0, 0] + s2))
            base["rho"][day] = rho
            # overall: every episode at its own modality's curve
            L = np.zeros(len(fit.beta))
            L[:q] = xbar_all
            for g in range(len(mods_present)):
                L[q + g * fit._k:q + (g + 1) * fit._k] = share[g] * bd
            means_L.append(L)
            mean_keys.append(("Overall", day, int(len(keep_ep)), int(reach[day]["Overall"])))
            for g, m in enumerate(mods_present):
                means_L.append(fit.design_row(xbar_by[g], g, bd))
                mean_keys.append((m, day, int(counts[g]), int(reach[day].get(m, 0))))
            for m in others:
                row = {"modality": m, "day": day, "n": int(n_by.get(m, 0)),
                       "clusters": k_by.get(m) if cluster != "none" else None}
                why, reason = _diff_blocker(m, ref, day, reach, k_by, cluster, names)
                if why is None:
                    g = mods_present.index(m)
                    L = np.zeros(len(fit.beta))
                    L[names.index(f"modality:{m}")] = 1 - rho
                    blk = bd - rho * b0
                    L[q + g * fit._k:q + (g + 1) * fit._k] += blk
                    L[q + gref * fit._k:q + (gref + 1) * fit._k] -= blk
                    diff_L.append(L)
                    diff_keys.append(row)
                else:
                    row.update({"difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan,
                                "note": why, "reason": reason})
                    diff_rows.append(row)
        # only what will be shown is estimated: means where the data reach the day
        shown = [i for i, key in enumerate(mean_keys) if key[3] >= MIN_REACH]
        est = dict(zip(shown, fit.contrasts(np.array([means_L[i] for i in shown]), confidence=s.confidence)))\
            if shown else {}
        for i, (g, day, n_g, r) in enumerate(mean_keys):
            mean_rows.append(_mean_row(g, day, est.get(i), n_g, r))
        for row, c in zip(diff_keys, fit.contrasts(np.array(diff_L), confidence=s.confidence) if diff_L else []):
            row.update({"difference": c["estimate"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
                        "p": c["p"], "note": None, "reason": None})
            k = row["clusters"]
            if k is not None and k <= FEW_CLUSTERS:
                row["note"] = _few_clusters_note(k, cluster)
                row["reason"] = Reason.FEW_CLUSTERS.value
            diff_rows.append(row)
    else:
        for day in days:
            for g in ["Overall", *mods_present]:
                n_g = int(len(keep_ep)) if g == "Overall" else int(n_by.get(g, 0))
                mean_rows.append({"group": g, "day": day, "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                                  "n": n_g, "reach": int(reach[day].get(g, 0)), "status": Status.NOT_ESTIMABLE.value,
                                  "reason": Reason.MODEL.value, "note": failure})
            for m in others:
                diff_rows.append({"modality": m, "day": day, "difference": np.nan, "ci_low": np.nan,
                                  "ci_high": np.nan, "p": np.nan, "note": failure, "reason": Reason.MODEL.value,
                                  "n": int(n_by.get(m, 0)), "clusters": k_by.get(m)})
    # modalities with no episode in the model still get their rows
    seen = {(r["group"], r["day"]) for r in mean_rows}
    for day in days:
        for m in all_mods:
            if (m, day) not in seen:
                mean_rows.append({"group": m, "day": day, "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                                  "n": 0, "reach": 0, "status": Status.NOT_ESTIMABLE.value,
                                  "reason": Reason.MODEL.value, "note": "no episodes with leg pain recorded"})
    means = pd.DataFrame(mean_rows)
    order = {g: i for i, g in enumerate(["Overall", *all_mods])}
    means = means.sort_values(["day", "group"], key=lambda c: c.map(order) if c.name == "group" else c)
    means = means.reset_index(drop=True)
    diffs = pd.DataFrame(diff_rows, columns=["modality", "day", "difference", "ci_low", "ci_high", "p", "note",
                                             "reason", "n", "clusters"])
    diffs = diffs.sort_values(["day", "modality"]).reset_index(drop=True)
    diffs["note"] = pd.Series([v if isinstance(v, str) else None for v in diffs["note"]], dtype=object)
    diffs["reason"] = pd.Series([v if isinstance(v, str) else None for v in diffs["reason"]], dtype=object)
    est = diffs["difference"].notna().to_numpy()
    diffs["status"] = pd.Series(np.where(~est, Status.NOT_ESTIMABLE.value,
                                         np.where(diffs["note"].notna(), Status.CAUTION.value,
                                                  Status.ESTIMATED.value)), dtype=object)
    diffs["p_holm"] = np.nan
    diffs["e_value"] = np.nan
    diffs["e_value_ci"] = np.nan
    for day in days:
        sel = (diffs["day"] == day).to_numpy()
        if not sel.any():
            continue
        diffs.loc[sel, "p_holm"] = holm(diffs.loc[sel, "p"].to_numpy())
        sd = sd_near[day]
        ev, ev_ci = e_value(diffs.loc[sel, "difference"], diffs.loc[sel, "ci_low"], diffs.loc[sel, "ci_high"],
                            scale="difference", sd=sd)
        diffs.loc[sel, "e_value"] = np.asarray(ev, dtype="float64")
        diffs.loc[sel, "e_value_ci"] = np.asarray(ev_ci, dtype="float64")
    diffs["clusters"] = pd.Series(diffs["clusters"], dtype="Int64")
    return {**base, "means": means, "differences": diffs}


def _mean_row(group, day, c, n, reach_n) -> dict:
    row = {"group": group, "day": day, "n": n, "reach": reach_n}
    if c is None:
        return {**row, "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "status": Status.NOT_ESTIMABLE.value,
                "reason": Reason.BEYOND_DATA.value,
                "note": (f"only {reach_n} episode{'s' if reach_n != 1 else ''} with a visit within {REACH_DAYS} days "
                         f"of day {day} (at least {MIN_REACH} needed): not estimated beyond the data")}
    return {**row, "mean": c["estimate"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
            "status": Status.ESTIMATED.value, "reason": None, "note": None}


def _diff_blocker(m, ref, day, reach, k_by, cluster, names):
    for g in (m, ref):
        r = int(reach[day].get(g, 0))
        if r < MIN_REACH:
            who = "the reference modality" if g == ref else "this modality"
            return (f"{who} has only {r} episode{'s' if r != 1 else ''} with a visit within {REACH_DAYS} days of "
                    f"day {day} (at least {MIN_REACH} needed): not estimable", Reason.BEYOND_DATA.value)
    if cluster != "none":
        for g in (m, ref):
            if k_by.get(g, 0) < MIN_CLUSTERS:
                return _one_cluster_note(cluster), Reason.ONE_CLUSTER.value
    if f"modality:{m}" not in names:
        return ("not separable from the case mix (e.g. only offered at one clinic): not estimable",
                Reason.MODEL.value)
    return None, None
