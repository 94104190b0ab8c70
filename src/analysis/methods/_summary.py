"""The outcome summary: the ``summary --json`` document (spec section 6) and its
readable terminal form.

:func:`summarise` gathers, for the filtered records: data extent, settings,
crude outcomes overall and per modality (leg pain change, responders,
recovered, surgery-free at the horizon), the log-rank test across modalities
and the adjusted comparisons. Numbers are unrounded; NaN becomes ``null``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..records import Records
from ..stats import logrank_test
from ._compare import ADJUSTMENT_SET, _check_cluster, adjusted_comparisons, choose_reference
from ._confounding import confounding_diagnostics
from ._crude import outcome_table
from ._fixed_day import leg_pain_at_days
from ._missing import impute_ratings, recovery_missing_adjusted
from ._missing_compare import recovery_comparisons_imputed
from ._outcomes import OutcomeSettings, derive_outcomes
from ._parallel import Task, run_tasks
from ._secondary import secondary_outcome_table

__all__ = ["ASSOCIATION_NOTE", "COVARIATE_LABELS", "summarise"]

ASSOCIATION_NOTE = (
    "These comparisons are associations in routinely collected data, adjusted for case mix "
    "(baseline leg pain, age, sex, symptom duration, cause and clinic). Patients were not "
    "randomised to modalities, so they do not prove that a modality causes a better or worse outcome."
)


#: Plain names of the adjustment covariates.
COVARIATE_LABELS = {
    "baseline_leg_pain": "leg pain at first visit",
    "age_band": "age band",
    "sex": "sex",
    "symptom_band": "symptom duration (<6, 6-12, >12 weeks)",
    "cause": "cause",
    "clinic": "clinic",
}


def _num(x):
    if x is None or x is pd.NA:
        return None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(x) or math.isinf(x) else float(x)
    return x


def _secondary_block(row: dict | None) -> dict:
    row = row or {}
    get = lambda k: _num(row.get(k))  # noqa: E731
    return {
        "odi_change": {k: get(f"odi_change_{k}") for k in ("n", "mean", "ci_low", "ci_high")},
        "odi_responder": {k: get(f"odi_responder_{k}") for k in ("n", "events", "rate", "ci_low", "ci_high")},
        "back_pain_change": {k: get(f"back_pain_change_{k}") for k in ("n", "mean", "ci_low", "ci_high")},
        "sessions": {k: get(f"sessions_{k}") for k in ("n", "median", "q1", "q3", "mean", "ci_low", "ci_high")},
        "days_to_discharge": {k: get(f"days_to_discharge_{k}")
                              for k in ("n", "median", "q1", "q3", "mean", "ci_low", "ci_high")},
    }


def _fixed_day_block(means: pd.DataFrame | None, group: str) -> list[dict]:
    if means is None:
        return []
    rows = means[means["group"] == group]
    return [{"day": int(r["day"]), "mean": _num(r["mean"]), "ci_low": _num(r["ci_low"]),
             "ci_high": _num(r["ci_high"])} for r in rows.to_dict("records")]


def _outcomes_block(row: pd.Series, mi: dict | None) -> dict:
    block = {"episodes": None if pd.isna(row["episodes"]) else int(row["episodes"])}
    block["leg_pain_change"] = {k: _num(row[f"leg_pain_change_{k}"]) for k in ("n", "mean", "ci_low", "ci_high")}
    for key in ("responder", "recovered", "surgery_free"):
        block[key] = {k: _num(row[f"{key}_{k}"]) for k in ("n", "events", "rate", "ci_low", "ci_high")}
    mi = mi or {"n": 0, "missing": 0, "imputations": 0, "rate": None, "ci_low": None, "ci_high": None}
    block["recovered_missing_adjusted"] = {k: _num(mi[k]) for k in ("n", "missing", "imputations", "rate",
                                                                   "ci_low", "ci_high")}
    return block


def _adjusted_rows(df: pd.DataFrame, estimate: str) -> list[dict]:
    return [
        {"modality": r["modality"], estimate: _num(r[estimate]), "ci_low": _num(r["ci_low"]),
         "ci_high": _num(r["ci_high"]), "p": _num(r["p"]), "p_holm": _num(r["p_holm"]),
         "e_value": _num(r["e_value"]), "e_value_ci": _num(r["e_value_ci"]), "note": r["note"],
         "clusters": _num(r.get("clusters"))}
        for r in df.to_dict("records")
    ]


def _confounding_block(diag: dict) -> dict:
    dr = {key: [{"modality": r["modality"], "estimate": _num(r["estimate"]), "ci_low": _num(r["ci_low"]),
                 "ci_high": _num(r["ci_high"]), "p": _num(r["p"]), "regression": _num(r["regression"]),
                 "effective_n": _num(r["effective_n"]), "n": _num(r["n"]), "clusters": _num(r["clusters"]),
                 "rests_on_assumptions": bool(r["assumptions"]), "note": r["note"]}
                for r in t.to_dict("records")]
          for key, t in diag["doubly_robust"].items()}
    overlap = [{"modality": r["modality"], "n": int(r["n"]), "effective_n": _num(r["effective_n"]),
                "max_weighted_smd": _num(r["max_weighted_smd"]), "max_smd": _num(r["max_smd"]),
                "truncated": _num(r["truncated"])}
               for r in diag["overlap"].to_dict("records")]
    return {"doubly_robust": dr, "overlap": overlap}


#: Text columns the models group or adjust by: held as categories while the summary's models run.
_CODED = ("modality", "clinic", "therapist", "age_band", "sex", "symptom_band", "cause")


def _coded(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The outcomes with the text columns the models use as categories (codes and levels): every model
    factorises, subsets and compares them, and on a million episodes doing that to text costs seconds
    across the summary's dozen models. Same values, same levels in the same (sorted) order."""
    cols = {c: "category" for c in _CODED if c in outcomes.columns and pd.api.types.is_string_dtype(outcomes[c].dtype)}
    return outcomes.astype(cols) if cols else outcomes


def _merge_adjusted(parts: dict[str, dict]) -> dict:
    """One :func:`adjusted_comparisons` result from fits of one model each (model -> its result): the same
    numbers as fitting them in one call, where each model is fitted on its own too."""
    first = next(iter(parts.values()))
    merged = {key: first[key] for key in ("reference", "cluster", "method", "missing_covariates")}
    used = set().union(*(p["covariates"] for p in parts.values()))
    merged["covariates"] = [c for c in ADJUSTMENT_SET if c in used]
    for key in ("clusters", "events_per_parameter", "coefficients"):
        merged[key] = {model: p[key][model] for model, p in parts.items()}
    for model in ("leg_pain_change", "recovered", "surgery"):  # the unfitted ones as an empty table, as before
        merged[model] = parts[model][model] if model in parts else first[model]
    merged.update({model: p[model] for model, p in parts.items()})
    return merged


def surgery_logrank(outcomes: pd.DataFrame, *, settings: OutcomeSettings | None = None) -> dict:
    """Log-rank test of the modalities' surgery-free curves in the surgery population; with
    ``population="all"`` stratified by surgical candidacy, as the Cox model is (spec section 4).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import OutcomeSettings, surgery_logrank
    >>> rec = load_records("data/sample")
    >>> s = OutcomeSettings(population="all")
    >>> round(surgery_logrank(derive_outcomes(rec, settings=s), settings=s)["df"])
    8
    """
    s = settings or OutcomeSettings()
    pop = outcomes[outcomes["in_population"]]
    strata = pop["surgical_candidate"] if s.population == "all" else None
    test = logrank_test(pop["surgery_time"], pop["surgery_event"], pop["modality"], strata=strata)
    return {**test, "stratified_by": "surgical_candidate" if strata is not None else None}


def summarise(records: Records, *, settings: OutcomeSettings | None = None, reference: str | None = None,
              outcomes: pd.DataFrame | None = None, cluster: str | None = None, imputations: int = 20) -> dict:
    """Build the ``summary --json`` document for (already filtered) records.

    Parameters
    ----------
    records : Records
    settings : OutcomeSettings, optional, keyword-only
    reference : str, optional, keyword-only
        Reference modality; default the one with most episodes (ties by code).
    outcomes : pandas.DataFrame, optional, keyword-only
        Pre-computed :func:`derive_outcomes` output for these records.
    cluster : {"therapist", "clinic", "none"}, optional, keyword-only
        Clustering allowed for in the adjusted models; default ``therapist``
        when therapist codes are recorded, else ``none``.
    imputations : int, keyword-only
        Imputations for ``recovered_missing_adjusted`` (20).

    Returns
    -------
    dict
        Keys ``data``, ``settings``, ``overall``, ``modalities``, ``tests``,
        ``adjusted``, ``doubly_robust`` and ``overlap`` as spec section 6
        (doubly robust rows also carry ``p``, ``regression``, ``n``,
        ``clusters`` and ``rests_on_assumptions``; ``adjusted`` also has
        ``recovered_missing_adjusted``, the recovery odds ratios from the
        imputed ratings with ``tipping_odds``, and ``leg_pain_at_day``, the
        differences on the fixed days from the model of all visits
        (:func:`leg_pain_at_days`); every OUTCOMES block has
        ``leg_pain_at_day``, the modelled mean on each fixed day, ``null``
        where the data do not reach the day; overlap rows ``max_smd``
        before weighting and the share of weights ``truncated``).

    Examples
    --------
    >>> from analysis import load_records
    >>> from analysis.methods import summarise
    >>> doc = summarise(load_records("data/sample"))
    >>> sorted(doc), doc["settings"]["population"]
    (['adjusted', 'data', 'doubly_robust', 'modalities', 'overall', 'overlap', 'settings', 'tests'], 'candidates')
    """
    s = settings or OutcomeSettings()
    out = outcomes if outcomes is not None else derive_outcomes(records, settings=s)
    ref = reference or choose_reference(out)
    labels = records.labels
    clus = _check_cluster(out, cluster)  # a choice that cannot be fails here, before any model runs
    crude, out = out, _coded(out)  # the models' copy coded (the imputed rates by the records' own text)

    def adjusted(model):
        return lambda done: adjusted_comparisons(out, reference=ref, settings=s, cluster=clus, models=(model,))

    # independent pieces two at a time on two cores, the longest chains first (see run_tasks): the model of
    # all visits alone is a third of the work at registry size
    done = run_tasks([
        Task("fixed", lambda done: leg_pain_at_days(records, out, reference=ref, settings=s, cluster=clus)),
        Task("leg_pain_change", adjusted("leg_pain_change")),
        Task("recovered", adjusted("recovered")),
        # one imputation model for the rates and the comparisons
        Task("imputed", lambda done: impute_ratings(out, imputations=imputations)),
        Task("diag", lambda done: confounding_diagnostics(
            out, reference=ref, settings=s, cluster=clus,
            adjusted=_merge_adjusted({k: done[k] for k in ("leg_pain_change", "recovered")})),
             after=("leg_pain_change", "recovered")),
        Task("rc_mi", lambda done: recovery_comparisons_imputed(out, reference=ref, settings=s, cluster=clus,
                                                                imputations=imputations, imputed=done["imputed"]),
             after=("imputed",)),
        Task("surgery", adjusted("surgery")),
        Task("odi_change", adjusted("odi_change")),
        Task("mi", lambda done: recovery_missing_adjusted(crude, imputations=imputations, confidence=s.confidence,
                                                          imputed=done["imputed"]), after=("imputed",)),
        Task("tab", lambda done: outcome_table(out, settings=s, labels=labels)),
        Task("lr", lambda done: surgery_logrank(out, settings=s)),
        Task("sec", lambda done: secondary_outcome_table(out, settings=s)),
    ])
    adj = _merge_adjusted({k: done[k] for k in ("leg_pain_change", "recovered", "surgery", "odi_change")})
    tab, lr, diag, rc_mi, fixed = done["tab"], done["lr"], done["diag"], done["rc_mi"], done["fixed"]
    ep = records.episodes
    sec = {r["group"]: r for r in done["sec"].to_dict("records")}
    mi = {r["group"]: r for r in done["mi"].to_dict("records")}
    fixed_means = fixed["means"]
    modalities = []
    for row in tab.iloc[1:].to_dict("records"):
        modalities.append({"modality": row["group"], "label": labels.get(row["group"], row["group"]),
                           **_outcomes_block(pd.Series(row), mi.get(row["group"])),
                           **_secondary_block(sec.get(row["group"])),
                           "leg_pain_at_day": _fixed_day_block(fixed_means, row["group"])})
    return {
        "data": {
            "episodes": int(len(ep)),
            "visits": int(len(records.visits)),
            "clinics": sorted(ep["clinic"].unique().tolist()),
            "first_start": ep["start_date"].min().strftime("%Y-%m-%d"),
            "last_start": ep["start_date"].max().strftime("%Y-%m-%d"),
        },
        "settings": {"horizon_days": int(s.horizon_days), "population": s.population,
                     "confidence": s.confidence, "reference": ref},
        "overall": {**_outcomes_block(tab.iloc[0], mi.get("Overall")), **_secondary_block(sec.get("Overall")),
                    "leg_pain_at_day": _fixed_day_block(fixed_means, "Overall")},
        "modalities": modalities,
        "tests": {"surgery_logrank": {"chi2": _num(lr["chi2"]), "df": int(lr["df"]), "p": _num(lr["p"])}},
        "adjusted": {
            "reference": ref,
            "covariates": adj["covariates"],
            "cluster": adj["cluster"],
            "method": {**adj["method"], "leg_pain_at_day": fixed["method"]},
            "leg_pain_change": _adjusted_rows(adj["leg_pain_change"], "difference"),
            "recovered": _adjusted_rows(adj["recovered"], "odds_ratio"),
            "surgery": _adjusted_rows(adj["surgery"], "hazard_ratio"),
            "odi_change": _adjusted_rows(adj["odi_change"], "difference"),
            "recovered_missing_adjusted": [{**row, "tipping_odds": _num(t)} for row, t in
                                           zip(_adjusted_rows(rc_mi, "odds_ratio"), rc_mi["tipping_odds"])],
            "leg_pain_at_day": [{"modality": row["modality"], "day": int(d), **{k: v for k, v in row.items()
                                                                                  if k != "modality"}}
                                for row, d in zip(_adjusted_rows(fixed["differences"], "difference"),
                                                  fixed["differences"]["day"])],
        },
        **_confounding_block(diag),
    }


# ----------------------------------------------------------------- terminal rendering


