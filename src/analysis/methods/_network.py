"""Clinic networks without pooling records: what one clinic computes, and how a centre combines it.

A clinic's *aggregates* (:func:`clinic_aggregates`) are plain JSON: per
modality counts and sums for the crude outcome table, counts of surgeries and
censorings on a time grid, and the log-rank test's pieces. The disclosure layer
(:func:`analysis.disclosure.protect_release`) withholds small cells and merges
the grid before anything leaves the clinic. :func:`combine_releases` adds the
releases of several clinics into the result objects the single-site analysis
returns (the crude outcome table, survival curves, the log-rank test), so the
same disclosure, summary and report code runs on them.

Adjusted comparisons use the same design at every clinic, decided centrally
from the clinics' column counts (:func:`model_design`); the linear model pools
in one round from cross-products, the logistic and the Cox model (stratified by
clinic: each clinic keeps its own baseline hazard) by Newton steps on summed
log-likelihood pieces (:func:`model_parts`, :func:`fit_network_models`).

What is exact: counts, rates and Wilson intervals, means and t intervals, the
clinic-stratified log-rank test, the linear, logistic and clinic-stratified
Cox models. What is not: survival at the horizon comes from a life table on
the merged grid (not the per-day Kaplan-Meier curve, whose per-clinic steps
would date single operations).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..stats import (
    COMMON_OUTCOME,
    cox_parts,
    e_value,
    federated_newton,
    holm,
    grid_survival,
    linear_from_moments,
    logistic_parts,
    logrank_combine,
    logrank_parts,
    span_columns,
    wilson_interval,
)
from ._compare import _NUMERIC, ADJUSTMENT_SET, choose_reference
from ._outcomes import OutcomeSettings
from ._status import Reason, Status

__all__ = ["GRID_DAYS", "NETWORK_FORMAT", "SURVIVAL_METHOD", "network_summary", "clinic_aggregates", "combine_releases", "fit_network_models",
           "model_design", "model_parts", "network_methods"]

#: The format name and version every release carries (a combine refuses anything else).
NETWORK_FORMAT = "physio-outcomes clinic release 1"
#: The finest survival grid (days): intervals of this length up to the horizon, merged where cells are small.
GRID_DAYS = 30
_MODELS = ("leg_pain_change", "recovered", "surgery")


def _grid(horizon: int) -> list[int]:
    ends = list(range(GRID_DAYS, horizon, GRID_DAYS))
    return [e for e in ends if horizon - e >= GRID_DAYS // 2] + [int(horizon)]


def _surgery_counts(pop: pd.DataFrame, ends: list[int]) -> tuple[list[int], list[int]]:
    """Surgeries and censorings within each interval (0, e1], (e1, e2], ... up to the horizon."""
    t = pop["surgery_time"].to_numpy(dtype="float64")
    e = pop["surgery_event"].to_numpy(dtype=bool)
    horizon = ends[-1]
    idx = np.searchsorted(np.asarray(ends, dtype="float64"), t, side="left")
    ev = np.bincount(idx[e & (t <= horizon)], minlength=len(ends))[: len(ends)]
    ce = np.bincount(idx[~e & (t < horizon)], minlength=len(ends))[: len(ends)]
    return ev.astype(int).tolist(), ce.astype(int).tolist()


def _group_cells(df: pd.DataFrame, s: OutcomeSettings, ends: list[int]) -> dict:
    lp = df["leg_pain_change"].to_numpy(dtype="float64")
    lp = lp[~np.isnan(lp)]
    resp = df["responder"].dropna()
    rec = df["recovered"].dropna()
    pop = df[df["in_population"].to_numpy(dtype=bool)]
    ev, ce = _surgery_counts(pop, ends)
    return {
        "episodes": int(len(df)),
        "leg_pain_change": {"n": int(len(lp)), "sum": float(lp.sum()), "sum_squares": float((lp ** 2).sum())},
        "responder": {"n": int(len(resp)), "events": int(resp.sum())},
        "recovered": {"n": int(len(rec)), "events": int(rec.sum())},
        "surgery_free": {"n": int(len(pop)), "events": int(sum(ev)), "grid_events": ev, "grid_censored": ce},
    }


def clinic_aggregates(outcomes: pd.DataFrame, *, settings: OutcomeSettings | None = None,
                      visits: int | None = None, min_cell: int = 8) -> dict:
    """What one clinic would compute from its own episodes for the network (before disclosure control).

    Parameters
    ----------
    outcomes : pandas.DataFrame
        :func:`analysis.derive_outcomes` of one clinic's records.
    settings : OutcomeSettings, optional, keyword-only
    visits : int, optional, keyword-only
        Number of visit rows (for the data line of the summary).
    min_cell : int, keyword-only
        The node's smallest releasable count: a modality this clinic gave to
        fewer of a model's episodes is left out of that model here (and its
        design counts).

    Returns
    -------
    dict
        JSON-ready: ``format``, ``clinic``, ``settings``, ``data``,
        ``groups`` (``Overall`` and each modality code: episode count, leg pain
        n / sum / sum of squares, responder and recovered n / events,
        surgery-free population n / events with counts per interval of
        ``grid``), ``grid`` (interval ends in days), ``logrank``
        (:func:`analysis.stats.logrank_parts` for the modalities, in the order
        of ``modalities``) and ``design`` (per model, the column counts the
        centre needs to choose a common design: :func:`model_design`).

    Raises
    ------
    ValueError
        If the outcomes hold no episodes or more than one clinic.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import clinic_aggregates
    >>> o = derive_outcomes(load_records("data/sample"))
    >>> agg = clinic_aggregates(o[o["clinic"] == "STH"])
    >>> agg["clinic"], agg["groups"]["Overall"]["episodes"]
    ('STH', 321)
    """
    s = settings or OutcomeSettings()
    clinics = outcomes["clinic"].dropna().unique()
    if len(outcomes) == 0:
        raise ValueError("no episodes to release")
    if len(clinics) != 1:
        raise ValueError(f"a release holds one clinic's episodes; these records hold {len(clinics)} clinics "
                         "(choose one with --clinic)")
    ends = _grid(s.horizon_days)
    mods = sorted(outcomes["modality"].unique())
    groups = {"Overall": _group_cells(outcomes, s, ends)}
    needed = ["modality", "leg_pain_change", "responder", "recovered", "in_population", "surgery_time", "surgery_event"]
    for code, d in outcomes[needed].groupby("modality", sort=True):
        groups[str(code)] = _group_cells(d, s, ends)
    pop = outcomes[outcomes["in_population"].to_numpy(dtype=bool)]
    codes = pd.Categorical(pop["modality"], categories=mods).codes
    lr = logrank_parts(pop["surgery_time"], pop["surgery_event"], codes, len(mods))
    start = pd.to_datetime(outcomes["start_date"])
    return {
        "format": NETWORK_FORMAT,
        "clinic": str(clinics[0]),
        "settings": {"horizon_days": int(s.horizon_days), "population": s.population, "confidence": s.confidence},
        "data": {"episodes": int(len(outcomes)), "visits": None if visits is None else int(visits),
                 "first_start": start.min().strftime("%Y-%m-%d"), "last_start": start.max().strftime("%Y-%m-%d")},
        "modalities": mods,
        "min_cell": int(min_cell),
        "grid": ends,
        "groups": groups,
        "logrank": lr,
        "missing_covariates": int((outcomes["baseline_leg_pain"].notna()
                                   & outcomes[[c for c in ADJUSTMENT_SET if c in outcomes.columns]].isna().any(axis=1)
                                   ).sum()),
        "design": {key: _design_counts(*_model_episodes(outcomes, key, s, min_cell)[::2], key) for key in _MODELS},
    }


# ----------------------------------------------------------------- models: one design for every clinic


def _model_episodes(outcomes: pd.DataFrame, key: str, s: OutcomeSettings, min_cell: int):
    """:func:`_model_frame` without the modalities this clinic gave to 1 to *min_cell* - 1 of the model's
    episodes (their counts would leave the clinic in the model's pieces), and those modalities."""
    d, y = _model_frame(outcomes, key, s)
    counts = d["modality"].value_counts()
    few = sorted(str(m) for m, n in counts.items() if 0 < n < min_cell)
    if few:
        d = d[~d["modality"].isin(few).to_numpy(dtype=bool)]
    return d, y, few


def _model_frame(outcomes: pd.DataFrame, key: str, s: OutcomeSettings, covariates=ADJUSTMENT_SET):
    """The episodes a model uses (as :func:`adjusted_comparisons`: case mix recorded) and its outcome column."""
    covs = [c for c in covariates if c in outcomes.columns]
    ok = outcomes["baseline_leg_pain"].notna() & outcomes[covs].notna().all(axis=1)
    if key == "leg_pain_change":
        ok &= outcomes["final_leg_pain"].notna()
        y = "final_leg_pain"
    elif key == "recovered":
        ok &= outcomes["recovered"].notna()
        y = "recovered"
    else:
        ok &= outcomes["in_population"].astype(bool)
        y = "surgery_event"
    return outcomes[ok.to_numpy(dtype=bool)], y


def _columns(d: pd.DataFrame, covariates=ADJUSTMENT_SET) -> dict:
    """Every design column this clinic can have, by name: const, one per modality and per level, numeric ones."""
    cols = {"const": np.ones(len(d))}
    for m in sorted(d["modality"].unique()):
        cols[f"modality:{m}"] = (d["modality"] == m).to_numpy(dtype="float64")
    for cov in covariates:
        if cov not in d.columns:
            continue
        if cov in _NUMERIC:
            cols[cov] = d[cov].to_numpy(dtype="float64")
            continue
        for lev in sorted(d[cov].dropna().astype(str).unique()):
            cols[f"{cov}:{lev}"] = (d[cov].astype(str) == lev).to_numpy(dtype="float64")
    return cols


def _design_counts(d: pd.DataFrame, left_out: list, key: str) -> dict:
    y = d["final_leg_pain" if key == "leg_pain_change" else ("recovered" if key == "recovered" else "surgery_event")]
    yv = y.to_numpy(dtype="float64")
    out = {"n": int(len(d)), "left_out": left_out, "columns": {}}
    for name, col in _columns(d).items():
        if name == "const" or name in _NUMERIC:
            continue
        row = {"n": int(col.sum())}
        if key != "leg_pain_change":
            row["events"] = int((col * yv).sum())
        out["columns"][name] = row
    return out


def model_design(releases, *, key: str, min_cell: int, reference: str | None = None) -> dict:
    """The design every clinic uses for one adjusted model, chosen from the releases' column counts.

    As the single-site model (:func:`analysis.methods.adjusted_comparisons`):
    each covariate's most frequent level is its reference, levels with no
    events (or, for the logistic model, only events) are merged into it. In a
    network, a case-mix level that some clinic has for 1 to *min_cell* - 1
    episodes is merged into the reference too (its count would leave the
    clinic in the model's pieces), and each clinic leaves out of its model
    pieces the modalities it gave to 1 to *min_cell* - 1 episodes.

    Returns
    -------
    dict
        ``key``, ``reference``, ``modalities`` (compared with the reference),
        ``columns`` (design column names in order), ``merged`` (case-mix
        levels merged into their reference because some clinic had few),
        ``left_out`` (clinic -> modalities that clinic leaves out),
        ``not_estimable`` (modality -> reason), ``min_cell``.
    """
    releases = list(releases)
    designs = [r["design"][key] for r in releases]
    pooled: dict[str, dict] = {}
    small: set[str] = set()
    left_out: dict[str, list[str]] = {}
    for r, des in zip(releases, designs):
        if des.get("left_out"):
            left_out.setdefault(r["clinic"], []).extend(des["left_out"])
        for name, c in des["columns"].items():
            n = c["n"]
            p = pooled.setdefault(name, {"n": 0, "events": 0, "unknown_events": False})
            is_mod = name.startswith("modality:")
            if n is None or 0 < n < min_cell or 0 < des["n"] - n < min_cell:  # withheld at the clinic: small
                if is_mod:
                    left_out.setdefault(r["clinic"], []).append(name.split(":", 1)[1])
                    continue
                small.add(name)
                continue
            p["n"] += n
            if "events" in c:
                if c["events"] is None:
                    p["unknown_events"] = True
                else:
                    p["events"] += c["events"]
    mods = sorted({n.split(":", 1)[1] for n in pooled if n.startswith("modality:")})
    if reference is None:
        counts = pd.Series({m: pooled[f"modality:{m}"]["n"] for m in mods})
        reference = sorted(counts[counts == counts.max()].index)[0] if len(counts) else None
    not_estimable = {}
    for m in mods:
        p = pooled[f"modality:{m}"]
        if key == "leg_pain_change" and p["n"] < 2:
            not_estimable[m] = "fewer than 2 episodes with leg pain recorded at two visits"
        elif key != "leg_pain_change" and p["n"] and not p["unknown_events"] and p["events"] == 0:
            not_estimable[m] = ("none of the rated episodes recovered" if key == "recovered"
                                else "no surgeries in the surgery-free population")
        elif key == "recovered" and not p["unknown_events"] and p["events"] == p["n"]:
            not_estimable[m] = "all rated episodes recovered"
    compared = [m for m in mods if m != reference and m not in not_estimable]
    columns = [] if key == "surgery" else ["const"]
    columns += [f"modality:{m}" for m in compared]
    merged = []
    for cov in ADJUSTMENT_SET:
        if cov in _NUMERIC:
            columns.append(cov)
            continue
        if cov == "clinic" and key == "surgery":
            continue  # the Cox model is stratified by clinic: each clinic's baseline hazard takes it in
        levels = sorted(n.split(":", 1)[1] for n in pooled if n.startswith(f"{cov}:"))
        if len(levels) < 2:
            continue
        counts = [pooled[f"{cov}:{lev}"]["n"] for lev in levels]
        ref = levels[int(np.argmax(counts))]
        for lev in levels:
            name = f"{cov}:{lev}"
            p = pooled[name]
            sparse = key != "leg_pain_change" and not p["unknown_events"] and (
                p["events"] == 0 or (key == "recovered" and p["events"] == p["n"]))
            if lev == ref or sparse:
                continue
            if name in small:
                merged.append(name)
                continue
            columns.append(name)
    return {"key": key, "reference": reference, "modalities": compared, "columns": columns, "merged": merged,
            "left_out": left_out, "not_estimable": not_estimable, "min_cell": int(min_cell)}


def model_parts(outcomes: pd.DataFrame, *, design: dict, beta=None, settings: OutcomeSettings | None = None) -> dict:
    """One clinic's pieces of one adjusted model under the centre's *design*.

    The linear model's pieces are its cross-products (X'X, X'y, y'y, n: one
    round); the logistic and Cox models' are the log-likelihood, gradient and
    Hessian at *beta* (one Newton round each). Episodes of modalities outside
    the design (and those this clinic leaves out, ``design["left_out"]``) are
    not used. The Cox model is stratified by clinic (and, with
    ``population="all"``, by surgical candidacy).

    Returns
    -------
    dict
        JSON-ready lists and numbers (``n``, and ``events`` for the binary and
        survival models; ``column_counts``: each indicator column's count here,
        for the disclosure check).
    """
    s = settings or OutcomeSettings()
    key = design["key"]
    d, ycol, few = _model_episodes(outcomes, key, s, design["min_cell"])
    clinic = str(outcomes["clinic"].iloc[0]) if len(outcomes) else ""
    keep_mods = set(design["modalities"]) | {design["reference"]}
    d = d[d["modality"].isin(keep_mods).to_numpy(dtype=bool)]
    have = _columns(d)
    X = np.column_stack([have.get(c, np.zeros(len(d))) for c in design["columns"]]) if design["columns"] else \
        np.zeros((len(d), 0))
    y = d[ycol].to_numpy(dtype="float64")
    counts = {c: int(have[c].sum()) for c in design["columns"] if c in have and c != "const" and c not in _NUMERIC}
    base = {"key": key, "clinic": clinic, "n": int(len(d)), "column_counts": counts}
    if key == "leg_pain_change":
        return {**base, "xtx": (X.T @ X).tolist(), "xty": (X.T @ y).tolist(), "yty": float(y @ y),
                "ysum": float(y.sum())}
    b = np.zeros(len(design["columns"])) if beta is None else np.asarray(beta, dtype="float64")
    if key == "recovered":
        return {**base, **logistic_parts(y, X, b)}
    strata = d["surgical_candidate"].astype(str).to_numpy() if s.population == "all" else None
    return {**base, **cox_parts(d["surgery_time"].to_numpy(dtype="float64"), y, X, b, strata=strata)}


def _rows(kind: str, tab: pd.DataFrame | None, design: dict, *, n_by: dict, ev_by: dict | None, sd: float,
          freq: float, converged: bool) -> pd.DataFrame:
    ratio = {"linear": "difference", "logistic": "odds_ratio", "cox": "hazard_ratio"}[kind]
    rows = []
    mods = sorted(set(design["modalities"]) | set(design["not_estimable"]))
    for m in mods:
        row = {"modality": m, ratio: np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "note": None}
        term = f"modality:{m}"
        if m in design["not_estimable"]:
            row["note"] = f"{design['not_estimable'][m]}: not estimable"
        elif tab is None or not converged:
            row["note"] = "the model did not converge (too few episodes or events): not estimable"
        elif term not in tab.index:
            row["note"] = "not separable from the case mix (e.g. only offered at one clinic): not estimable"
        else:
            r = tab.loc[term]
            est, lo, hi = r["coef"], r["ci_low"], r["ci_high"]
            if not np.isfinite(r["se"]) or (kind != "linear" and r["se"] > 8.0):
                row["note"] = "too few events for a stable estimate: not estimable"
            else:
                if kind != "linear":
                    est, lo, hi = math.exp(est), math.exp(lo), math.exp(hi)
                row.update({ratio: est, "ci_low": lo, "ci_high": hi, "p": r["p"]})
        rows.append(row)
    out = pd.DataFrame(rows, columns=["modality", ratio, "ci_low", "ci_high", "p", "note"])
    out["note"] = pd.Series(list(out["note"]), dtype=object)
    estimated = out[ratio].notna().to_numpy()
    out["status"] = pd.Series(np.where(estimated, Status.ESTIMATED.value, Status.NOT_ESTIMABLE.value), dtype=object)
    out["reason"] = pd.Series([None if e else Reason.MODEL.value for e in estimated], dtype=object)
    out["p_holm"] = holm(out["p"].to_numpy())
    if kind == "linear":
        ev, ev_ci = e_value(out[ratio], out["ci_low"], out["ci_high"], scale="difference", sd=sd)
    else:
        ev, ev_ci = e_value(out[ratio], out["ci_low"], out["ci_high"], scale=ratio, common=freq > COMMON_OUTCOME)
    out["e_value"], out["e_value_ci"] = ev, ev_ci
    out["n"] = out["modality"].map(n_by).fillna(0).astype("int64")
    out["clusters"] = pd.Series([None] * len(out), dtype="Int64")
    if ev_by is not None:
        out["events"] = out["modality"].map(ev_by).astype("float64")
    return out


def network_methods(population: str = "candidates") -> dict:
    """Plain names of the network's models (what :func:`fit_network_models` fits)."""
    strat = " and by surgical candidacy" if population == "all" else ""
    return {
        "leg_pain_change": "linear regression pooled from each clinic's cross-products, t intervals (episodes "
                           "independent; clinic in the case mix)",
        "recovered": "logistic regression by Newton steps on the clinics' summed likelihoods, Wald intervals",
        "surgery": f"Cox proportional hazards (Efron ties) stratified by clinic{strat}, by Newton steps on the "
                   "clinics' summed partial likelihoods, Wald intervals",
    }


def fit_network_models(ask, releases, *, settings: OutcomeSettings | None = None, min_cell: int = 8,
                       max_rounds: int = 30, reference: str | None = None) -> dict:
    """The three adjusted comparisons across clinics, asking the clinics for model pieces round by round.

    Parameters
    ----------
    ask : callable
        ``ask(request) -> list of dict``: sends ``{"design": ..., "beta": ...,
        "round": ..., "clinics": ...}`` to every clinic and returns their :func:`model_parts` (after their
        disclosure check). In tests and ``network`` on one machine it calls the
        clinics directly; on vantage6 it creates a subtask.
    releases : list of dict
        The clinics' releases (their ``design`` counts choose the design).

    Returns
    -------
    dict
        Shaped as :func:`analysis.methods.adjusted_comparisons` (``cluster``
        is ``"none"``; ``method`` names the pooled models), with ``designs``
        (the design of each model) and ``rounds`` (Newton rounds used).
    """
    s = settings or OutcomeSettings()
    releases = list(releases)
    if reference is None:
        eps: dict[str, int] = {}
        for r in releases:
            for m in r["modalities"]:
                g = r["groups"].get(m)
                if g is not None and g["episodes"] is not None:
                    eps[m] = eps.get(m, 0) + g["episodes"]
        reference = choose_reference(pd.DataFrame({"modality": [m for m, n in eps.items() for _ in range(n)]}))
    out = {"reference": reference, "cluster": "none", "method": network_methods(s.population),
           "clusters": {}, "events_per_parameter": {}, "coefficients": {}, "designs": {}, "rounds": {}}
    used: set[str] = set()
    missing = 0
    for key, kind in (("leg_pain_change", "linear"), ("recovered", "logistic"), ("surgery", "cox")):
        design = model_design(releases, key=key, min_cell=min_cell, reference=reference)
        out["designs"][key] = design
        names = design["columns"]
        k = len(names)
        n_by: dict[str, int] = {}
        ev_by: dict[str, int] = {}
        tab, converged, sd, freq = None, False, float("nan"), 0.0

        def counts(parts):
            for p in parts:
                for c, n in p["column_counts"].items():
                    if c.startswith("modality:"):
                        n_by[c.split(":", 1)[1]] = n_by.get(c.split(":", 1)[1], 0) + n

        if design["modalities"]:
            if kind == "linear":
                parts = ask({"design": design, "beta": None, "round": 1, "clinics": len(releases)})
                counts(parts)
                xtx = np.sum([np.asarray(p["xtx"]) for p in parts], axis=0)
                xty = np.sum([np.asarray(p["xty"]) for p in parts], axis=0)
                yty = float(sum(p["yty"] for p in parts))
                n = int(sum(p["n"] for p in parts))
                keep = span_columns(xtx)
                res = linear_from_moments(xtx[np.ix_(keep, keep)], xty[keep], yty, n,
                                          names=[names[i] for i in keep], confidence=s.confidence)
                ysum = float(sum(p["ysum"] for p in parts))
                sd = math.sqrt((yty - ysum ** 2 / n) / (n - 1)) if n > 1 else float("nan")
                tab, converged = res.table.set_index("term"), res.converged
                out["rounds"][key] = 1
            else:
                state = {"first": None, "round": 0}

                def evaluate(beta):
                    state["round"] += 1
                    parts = ask({"design": design, "beta": [float(b) for b in beta], "round": state["round"],
                                 "clinics": len(releases)})
                    if state["first"] is None:
                        state["first"] = parts
                    return (float(sum(p["loglik"] for p in parts)),
                            np.sum([np.asarray(p["gradient"]) for p in parts], axis=0),
                            np.sum([np.asarray(p["hessian"]) for p in parts], axis=0))

                res = federated_newton(evaluate, k, names=names, max_rounds=max_rounds, confidence=s.confidence)
                first = state["first"] or []
                counts(first)
                n = int(sum(p["n"] for p in first))
                ev = int(sum(p["events"] for p in first))
                freq = ev / n if n else 0.0
                tab, converged = res.table.set_index("term"), res.converged
                out["rounds"][key] = res.extra["rounds"]
                for r in releases:  # events by modality where every clinic could say (else unknown: NaN)
                    for name, c in r["design"][key]["columns"].items():
                        if name.startswith("modality:"):
                            m = name.split(":", 1)[1]
                            ev = c.get("events")
                            ev_by[m] = np.nan if ev is None else ev_by.get(m, 0) + ev
            used |= {c.split(":", 1)[0] for c in names if c != "const" and not c.startswith("modality:")}
        out[key] = _rows(kind, tab, design, n_by=n_by, ev_by=None if kind == "linear" else ev_by, sd=sd,
                         freq=freq, converged=converged)
        out["clusters"][key] = None
        out["coefficients"][key] = tab["coef"] if tab is not None and converged else None
        out["events_per_parameter"][key] = None
    for r in releases:
        missing += int(r.get("missing_covariates") or 0)
    out["covariates"] = [c for c in ADJUSTMENT_SET if c in used]
    out["missing_covariates"] = missing
    return out


# ----------------------------------------------------------------- combining the one-round releases


def combine_releases(releases, *, min_clinics: int = 3) -> dict:
    """Add clinics' releases into the network's crude table, survival curves and log-rank test.

    Parameters
    ----------
    releases : list of dict
        Each clinic's protected release (:func:`analysis.disclosure.protect_release`).
        Their order does not matter.
    min_clinics : int, keyword-only
        Fewer releases than this are refused (a network of two lets each clinic
        subtract its own figures from the total and read the other's).

    Returns
    -------
    dict
        ``clinics``, ``data`` (episodes, visits, first and last start),
        ``settings``, ``crude`` (shaped as :func:`analysis.methods.outcome_table`;
        a modality withheld at some clinic has NaN figures and a ``withheld``
        note), ``curves`` and ``at_risk`` (shaped as
        :func:`analysis.methods.survival_curves`, on the merged grid),
        ``logrank`` (stratified by clinic), ``withheld`` (clinic, group,
        outcome) and ``grid`` (the common interval ends).

    Raises
    ------
    ValueError
        Fewer than *min_clinics* releases, a clinic twice, releases of another
        format or with different settings.
    """
    releases = sorted(releases, key=lambda r: r.get("clinic", ""))
    for r in releases:
        if r.get("format") != NETWORK_FORMAT:
            raise ValueError(f"not a clinic release of this version (expected format '{NETWORK_FORMAT}')")
    clinics = [r["clinic"] for r in releases]
    if len(set(clinics)) != len(clinics):
        raise ValueError(f"clinic {sorted(c for c in clinics if clinics.count(c) > 1)[0]} sent two releases")
    if len(releases) < min_clinics:
        raise ValueError(f"{len(releases)} clinic release(s): a network analysis needs at least {min_clinics} "
                         "clinics, so that no clinic can subtract its own figures from the total and read "
                         "another's")
    settings = releases[0]["settings"]
    if any(r["settings"] != settings for r in releases):
        raise ValueError("the releases were made with different settings (horizon, population or confidence)")
    conf = settings["confidence"]
    mods = sorted({m for r in releases for m in r["modalities"]})
    withheld = [{"clinic": r["clinic"], **w} for r in releases for w in r.get("withheld", [])]
    crude_rows = []
    for g in ["Overall", *mods]:
        cells = [r["groups"].get(g) for r in releases if g == "Overall" or g in r["modalities"]]
        crude_rows.append(_crude_row(g, cells, conf))
    crude = pd.DataFrame(crude_rows)
    # survival: each clinic's counts on its own merged grid, spread over the days of each interval and added
    horizon = int(settings["horizon_days"])
    times = [t for t in range(0, horizon, 90) if horizon - t >= 45] + [horizon]
    curves, risk = [], []
    for g in ["Overall", *mods]:
        cells = [(r, r["groups"].get(g)) for r in releases if g == "Overall" or g in r["modalities"]]
        if any(c is None or c["surgery_free"] is None for _, c in cells):
            continue
        sites = [{"n": c["surgery_free"]["n"], "grid": r["overall_grid" if g == "Overall" else "grid"], "events": c["surgery_free"]["grid_events"],
                  "censored": c["surgery_free"]["grid_censored"]} for r, c in cells]
        n = sum(x["n"] for x in sites)
        gs = grid_survival(sites, horizon=horizon, confidence=conf)
        followed = n - float(gs["n_event"].sum() + gs["n_censored"].sum())
        if g != "Overall":
            curves.append(pd.concat([pd.DataFrame({"group": [g], "time": [0.0], "n_risk": [float(n)],
                                                   "n_event": [0.0], "n_censored": [0.0], "survival": [1.0],
                                                   "ci_low": [1.0], "ci_high": [1.0]}), gs.assign(group=g)],
                                    ignore_index=True).assign(stopped=False))
            at = np.r_[float(n), gs["n_risk"].to_numpy()]
            cum_e = np.r_[0.0, np.cumsum(gs["n_event"].to_numpy())]
            cum_c = np.r_[0.0, np.cumsum(gs["n_censored"].to_numpy())]
            idx = np.asarray(times, dtype=int)
            # at risk on day t: followed to t (those censored on day t are still at risk that day)
            risk.append(pd.DataFrame({"group": g, "time": np.asarray(times, dtype="float64"),
                                      "at_risk": np.rint(at[idx]).astype("int64"),
                                      "events": np.rint(cum_e[idx]).astype("int64"),
                                      "censored": np.rint(cum_c[idx]).astype("int64")}))
        row = crude.index[crude["group"] == g][0]
        last = gs.iloc[-1]
        events = int(sum(c["surgery_free"]["events"] for _, c in cells))
        if n == 0 or followed <= 0:
            rate = [np.nan] * 3
        elif events == 0:  # no surgery: the one-sided interval of survival_at
            w = wilson_interval(0, int(round(followed)), confidence=conf)
            rate = [1.0, float(1 - w["ci_high"].iloc[0]), 1.0]
        else:
            rate = [float(last["survival"]), float(last["ci_low"]), float(last["ci_high"])]
        crude.loc[row, ["surgery_free_rate", "surgery_free_ci_low", "surgery_free_ci_high"]] = rate
    cols = ["group", "time", "n_risk", "n_event", "n_censored", "survival", "ci_low", "ci_high", "stopped"]
    curves_df = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=cols)
    risk_df = pd.concat(risk, ignore_index=True) if risk else pd.DataFrame(
        columns=["group", "time", "at_risk", "events", "censored"])
    # log-rank stratified by clinic: each clinic's pieces, aligned on the network's modality list
    parts = []
    for r in releases:
        if r.get("logrank") is None:
            continue
        idx = [mods.index(m) for m in r["modalities"]]
        ome = np.zeros(len(mods))
        var = np.zeros((len(mods), len(mods)))
        ome[idx] = r["logrank"]["o_minus_e"]
        var[np.ix_(idx, idx)] = r["logrank"]["variance"]
        parts.append({"o_minus_e": ome, "variance": var})
    lr = logrank_combine(parts) if len(parts) == len(releases) else {
        "chi2": np.nan, "df": len(mods) - 1, "p": np.nan, "note": "a clinic withheld its log-rank pieces"}
    data = {"episodes": int(sum(r["data"]["episodes"] for r in releases)),
            "visits": (int(sum(r["data"]["visits"] for r in releases))
                       if all(r["data"].get("visits") is not None for r in releases) else None),
            "clinics": clinics,
            "first_start": min(r["data"]["first_start"] for r in releases),
            "last_start": max(r["data"]["last_start"] for r in releases)}
    return {"clinics": clinics, "data": data, "settings": settings, "modalities": mods, "crude": crude,
            "curves": curves_df, "at_risk": risk_df, "logrank": {**lr, "stratified_by": "clinic"},
            "withheld": withheld, "grids": {r["clinic"]: r["grid"] for r in releases}}


def _crude_row(group: str, cells: list, conf: float) -> dict:
    row = {"group": group, "label": group}
    known = all(c is not None for c in cells)
    row["episodes"] = int(sum(c["episodes"] for c in cells)) if known and all(
        c["episodes"] is not None for c in cells) else np.nan
    lp = [c["leg_pain_change"] if c is not None else None for c in cells]
    if all(x is not None for x in lp):
        n = sum(x["n"] for x in lp)
        s1 = sum(x["sum"] for x in lp)
        s2 = sum(x["sum_squares"] for x in lp)
        mean = s1 / n if n else np.nan
        sd = math.sqrt(max(s2 - n * mean ** 2, 0.0) / (n - 1)) if n > 1 else np.nan
        half = float(sps.t.ppf(1 - (1 - conf) / 2, n - 1)) * sd / math.sqrt(n) if n > 1 else np.nan
        row.update({"leg_pain_change_n": n, "leg_pain_change_mean": mean, "leg_pain_change_sd": sd,
                    "leg_pain_change_ci_low": mean - half, "leg_pain_change_ci_high": mean + half})
    else:
        row.update({f"leg_pain_change_{k}": np.nan for k in ("n", "mean", "sd", "ci_low", "ci_high")})
    for key in ("responder", "recovered", "surgery_free"):
        xs = [c[key] if c is not None else None for c in cells]
        if all(x is not None for x in xs):
            n = sum(x["n"] for x in xs)
            ev = sum(x["events"] for x in xs)
            row[f"{key}_n"], row[f"{key}_events"] = n, ev
            if key != "surgery_free":
                w = wilson_interval(ev, n, confidence=conf).iloc[0]
                row.update({f"{key}_rate": w["rate"], f"{key}_ci_low": w["ci_low"], f"{key}_ci_high": w["ci_high"]})
            else:
                row.update({f"{key}_rate": np.nan, f"{key}_ci_low": np.nan, f"{key}_ci_high": np.nan})
        else:
            row.update({f"{key}_{k}": np.nan for k in ("n", "events", "rate", "ci_low", "ci_high")})
    row["surgery_free_note"] = None if known else "withheld: a clinic had 1-7 episodes or events in a cell"
    return row


def network_summary(combined: dict, adjusted: dict | None = None, *, labels: dict | None = None) -> dict:
    """The ``summary --json`` document of a network (spec section 6, as far as a network computes it).

    The keys of the single-site document, filled from :func:`combine_releases`
    and :func:`fit_network_models`: ``data`` (``clinics`` are the releasing
    clinics), ``settings``, ``overall``, ``modalities`` (a modality withheld
    at some clinic has nulls), ``tests.surgery_logrank`` (stratified by clinic,
    ``stratified_by: "clinic"``) and, when the models were fitted,
    ``adjusted``. Added: ``network`` (clinics, withheld cells, each clinic's
    survival grid, what was merged or left out of the models). Keys the
    network does not compute (imputed recovery, secondary outcomes, fixed
    days, doubly robust estimates) are absent, not zero.
    """
    from ._summary import _adjusted_rows, _num, _outcomes_block

    labels = labels or {}
    tab = combined["crude"]

    def block(row):
        b = _outcomes_block(row, None)
        b.pop("recovered_missing_adjusted", None)
        for part in b.values():  # counts are whole numbers (a withheld one made its column float)
            if isinstance(part, dict):
                for k in ("n", "events"):
                    if isinstance(part.get(k), float):
                        part[k] = int(part[k])
        return b

    rows = [pd.Series(r) for r in tab.to_dict("records")]
    lr = combined["logrank"]
    doc = {
        "data": {k: combined["data"][k] for k in ("episodes", "visits", "clinics", "first_start", "last_start")},
        "settings": {**combined["settings"], "reference": adjusted["reference"] if adjusted else None},
        "overall": block(rows[0]),
        "modalities": [{"modality": r["group"], "label": labels.get(r["group"], r["group"]), **block(r)}
                       for r in rows[1:]],
        "tests": {"surgery_logrank": {"chi2": _num(lr["chi2"]), "df": int(lr["df"]), "p": _num(lr["p"]),
                                      "stratified_by": "clinic"}},
        "network": {"clinics": combined["clinics"], "withheld": combined["withheld"], "grids": combined["grids"],
                    "survival_method": SURVIVAL_METHOD},
    }
    if adjusted:
        doc["adjusted"] = {
            "reference": adjusted["reference"], "covariates": adjusted["covariates"], "cluster": "none",
            "method": adjusted["method"],
            "leg_pain_change": _adjusted_rows(adjusted["leg_pain_change"], "difference"),
            "recovered": _adjusted_rows(adjusted["recovered"], "odds_ratio"),
            "surgery": _adjusted_rows(adjusted["surgery"], "hazard_ratio"),
        }
        doc["network"]["models"] = {k: {"merged": d["merged"], "left_out": d["left_out"],
                                        "rounds": adjusted["rounds"].get(k)} for k, d in adjusted["designs"].items()}
    return doc


#: How the network's surgery-free figures are computed, in words (the report's methods and the summary say it).
SURVIVAL_METHOD = ("Surgery-free survival across clinics: each clinic sends its surgeries and censorings per interval "
                   "of a 30-day grid, merged until every count is 0 or at least 8; the counts are spread evenly over "
                   "the days of each interval, added over clinics, and the Kaplan-Meier product is taken over the "
                   "days (not the exact per-day curve, whose steps at a small clinic would date single operations)")
