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

from .compare import adjusted_comparisons, choose_reference, outcome_table
from .io import Records
from .missing import recovery_missing_adjusted
from .outcomes import OutcomeSettings, derive_outcomes
from .stats import logrank_test

__all__ = ["ASSOCIATION_NOTE", "COVARIATE_LABELS", "format_summary", "summarise"]

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
    if x is None:
        return None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if math.isnan(x) or math.isinf(x) else float(x)
    return x


def _outcomes_block(row: pd.Series, mi: dict | None) -> dict:
    block = {"episodes": int(row["episodes"])}
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
         "e_value": _num(r["e_value"]), "e_value_ci": _num(r["e_value_ci"]), "note": r["note"]}
        for r in df.to_dict("records")
    ]


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
        ``adjusted`` exactly as spec section 6.

    Examples
    --------
    >>> from analysis import load_records
    >>> from analysis.summary import summarise
    >>> doc = summarise(load_records("data/sample"))
    >>> sorted(doc), doc["settings"]["population"]
    (['adjusted', 'data', 'modalities', 'overall', 'settings', 'tests'], 'candidates')
    """
    s = settings or OutcomeSettings()
    out = outcomes if outcomes is not None else derive_outcomes(records, settings=s)
    ref = reference or choose_reference(out)
    labels = records.labels
    tab = outcome_table(out, settings=s, labels=labels)
    ep = records.episodes
    pop = out[out["in_population"]]
    lr = logrank_test(pop["surgery_time"], pop["surgery_event"], pop["modality"])
    adj = adjusted_comparisons(out, reference=ref, settings=s, cluster=cluster)
    mi = {r["group"]: r for r in recovery_missing_adjusted(out, imputations=imputations,
                                                           confidence=s.confidence).to_dict("records")}
    modalities = []
    for row in tab.iloc[1:].to_dict("records"):
        modalities.append({"modality": row["group"], "label": labels.get(row["group"], row["group"]),
                           **_outcomes_block(pd.Series(row), mi.get(row["group"]))})
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
        "overall": _outcomes_block(tab.iloc[0], mi.get("Overall")),
        "modalities": modalities,
        "tests": {"surgery_logrank": {"chi2": _num(lr["chi2"]), "df": int(lr["df"]), "p": _num(lr["p"])}},
        "adjusted": {
            "reference": ref,
            "covariates": adj["covariates"],
            "cluster": adj["cluster"],
            "method": adj["method"],
            "leg_pain_change": _adjusted_rows(adj["leg_pain_change"], "difference"),
            "recovered": _adjusted_rows(adj["recovered"], "odds_ratio"),
            "surgery": _adjusted_rows(adj["surgery"], "hazard_ratio"),
        },
    }


# ----------------------------------------------------------------- terminal rendering


def _pct_ci(b: dict) -> str:
    if b["rate"] is None:
        return "-"
    return f"{100 * b['rate']:.0f}% ({100 * b['ci_low']:.0f}-{100 * b['ci_high']:.0f})" if b["ci_low"] is not None \
        else f"{100 * b['rate']:.0f}%"


def _mean_ci(b: dict) -> str:
    if b["mean"] is None:
        return "-"
    if b["ci_low"] is None:
        return f"{b['mean']:+.1f}"
    return f"{b['mean']:+.1f} ({b['ci_low']:+.1f} to {b['ci_high']:+.1f})"


def _p(p) -> str:
    if p is None:
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _ratio(r: dict, key: str, fmt: str) -> str:
    if r[key] is None:
        return "not estimable"
    return f"{r[key]:{fmt}} ({r['ci_low']:{fmt}} to {r['ci_high']:{fmt}})"


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    def line(cells):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align))
    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def format_summary(doc: dict, *, labels: dict | None = None) -> str:
    """The summary as a readable plain-text report for the terminal.

    Examples
    --------
    >>> from analysis import load_records
    >>> from analysis.summary import summarise, format_summary
    >>> print(format_summary(summarise(load_records("data/sample"))).splitlines()[0])
    Sciatica outcomes by treatment modality
    """
    d, st = doc["data"], doc["settings"]
    labels = labels or {m["modality"]: m["label"] for m in doc["modalities"]}
    pop = "surgical candidates" if st["population"] == "candidates" else "all episodes"
    conf = f"{100 * st['confidence']:g}%"
    lines = [
        "Sciatica outcomes by treatment modality",
        f"{d['episodes']:,} episodes, {d['visits']:,} visits; clinics {', '.join(d['clinics'])}; "
        f"start dates {d['first_start']} to {d['last_start']}",
        f"Surgery-free at {st['horizon_days']} days among {pop}; {conf} confidence intervals in brackets.",
        "",
        "Crude outcomes (not adjusted for case mix)",
    ]
    header = ["Modality", "Episodes", "Leg pain change, points", "Responders", "Recovered", f"Surgery-free at {st['horizon_days']} d"]
    rows = []
    for name, b in [("Overall", doc["overall"])] + [(m["label"], m) for m in doc["modalities"]]:
        rows.append([name, f"{b['episodes']:,}", _mean_ci(b["leg_pain_change"]), _pct_ci(b["responder"]),
                     _pct_ci(b["recovered"]), _pct_ci(b["surgery_free"])])
    lines += _table(header, rows, "lrrrrr")
    lr = doc["tests"]["surgery_logrank"]
    if lr["chi2"] is not None:
        lines += ["", f"Log-rank test of surgery-free time across modalities ({pop}, whole follow-up): "
                      f"chi-squared {lr['chi2']:.2f} on {lr['df']} df, p = {_p(lr['p'])}"]
    adj = doc["adjusted"]
    ref_label = labels.get(adj["reference"], adj["reference"])
    lines += ["", f"Adjusted comparisons against {ref_label} (reference)",
              f"Adjusted for: {', '.join(COVARIATE_LABELS.get(c, c) for c in adj['covariates']) or 'nothing'}"]
    header = ["Modality", "Leg pain difference", "Holm p", "Recovered, odds ratio", "Holm p", "Surgery, hazard ratio",
              "Holm p"]
    rows = []
    by = {k: {r["modality"]: r for r in adj[k]} for k in ("leg_pain_change", "recovered", "surgery")}
    for m in sorted(by["leg_pain_change"]):
        lp, rc, sg = by["leg_pain_change"][m], by["recovered"][m], by["surgery"][m]
        rows.append([labels.get(m, m), _ratio(lp, "difference", "+.2f"), _p(lp["p_holm"]),
                     _ratio(rc, "odds_ratio", ".2f"), _p(rc["p_holm"]), _ratio(sg, "hazard_ratio", ".2f"),
                     _p(sg["p_holm"])])
    lines += _table(header, rows, "lrrrrrr")
    notes = [f"- {labels.get(r['modality'], r['modality'])}, {k.replace('_', ' ')}: {r['note']}"
             for k in ("leg_pain_change", "recovered", "surgery") for r in adj[k]
             if r["note"] and not r["note"].startswith("caution")]
    if notes:
        lines += ["", "Not estimable:", *notes]
    cautions = {k: next(r["note"] for r in adj[k] if r["note"] and r["note"].startswith("caution"))
                for k in ("recovered", "surgery") if any(r["note"] and r["note"].startswith("caution") for r in adj[k])}
    for k, note in cautions.items():
        lines += ["", f"{'Recovery' if k == 'recovered' else 'Surgery'} model {note}."]
    if "method" in adj:
        lines += ["", f"Clustering: {adj.get('cluster', 'none')}. Models: "
                  + "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in adj["method"].items()) + "."]
    mi = doc["overall"].get("recovered_missing_adjusted")
    if mi and mi["rate"] is not None:
        lines += ["", f"Recovered with the {mi['missing']:,} missing ratings imputed ({mi['imputations']} imputations): "
                  f"{100 * mi['rate']:.0f}% ({100 * mi['ci_low']:.0f}-{100 * mi['ci_high']:.0f}) of {mi['n']:,} "
                  f"discharged episodes."]
    lines += ["", "Leg pain difference: points on the 0-10 scale, negative = less pain than the reference. "
              "Odds ratio above 1 = more often recovered; hazard ratio below 1 = surgery less often. "
              "p values are Holm-adjusted within each outcome (unadjusted p and E-values are in --json).",
              "", ASSOCIATION_NOTE]
    return "\n".join(lines)
