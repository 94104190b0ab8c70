"""The terminal text of `physio-outcomes summary`, from the summary document."""

from __future__ import annotations

from ..methods import ASSOCIATION_NOTE, COVARIATE_LABELS
from ._numbers import signed


def _pct_ci(b: dict) -> str:
    if b["rate"] is None:
        return "-"
    return f"{100 * b['rate']:.0f}% ({100 * b['ci_low']:.0f}-{100 * b['ci_high']:.0f})" if b["ci_low"] is not None \
        else f"{100 * b['rate']:.0f}%"


def _mean_ci(b: dict) -> str:
    if b["mean"] is None:
        return "-"
    if b["ci_low"] is None:
        return f"{signed(b['mean'], '.1f')}"
    return f"{signed(b['mean'], '.1f')} ({signed(b['ci_low'], '.1f')} to {signed(b['ci_high'], '.1f')})"


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
    >>> from analysis.methods import summarise
    >>> from analysis.present import format_summary
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


