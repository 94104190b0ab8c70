"""The network report's own pieces: its header, what the clinics withheld, and how the network computed it."""

from __future__ import annotations

import datetime
import html

import pandas as pd

from ..disclosure import DisclosureRule
from ..methods import SURVIVAL_METHOD, OutcomeSettings
from ._html import _HTML

__all__ = ["format_withheld_table", "network_header_html", "network_methods_html"]

_OUTCOMES = {"all": "every figure", "leg_pain_change": "leg pain change", "responder": "responders",
             "recovered": "recovered", "surgery_free": "surgery-free", "logrank": "log-rank test"}


def network_header_html(data: dict, *, title: str) -> _HTML:
    """Title, clinics, period and episodes of a network report.

    Examples
    --------
    >>> from analysis.present import network_header_html
    >>> d = {"clinics": ["A", "B", "C"], "episodes": 900, "first_start": "2024-01-02", "last_start": "2024-12-30"}
    >>> "3 clinics (A, B, C)" in str(network_header_html(d, title="Network"))
    True
    """
    fmt = lambda s: datetime.date.fromisoformat(s).strftime("%d %B %Y")  # noqa: E731
    clinics = data["clinics"]
    today = datetime.date.today().strftime("%d %B %Y")
    return _HTML(f"<h1>{html.escape(title)}</h1>"
                 f"<p><strong>Episodes starting {fmt(data['first_start'])} to {fmt(data['last_start'])}</strong><br>"
                 f"{len(clinics)} clinics ({html.escape(', '.join(clinics))}), {data['episodes']:,} episodes. "
                 "No patient record left its clinic: each clinic sent only the counts and sums described under "
                 f"Methods, checked against its own minimums first.<br>Report produced {today} by physio-outcomes.</p>")


def format_withheld_table(withheld: list, *, labels: dict | None = None) -> pd.DataFrame:
    """What each clinic withheld from its release, one row per clinic and outcome, modalities listed.

    Examples
    --------
    >>> from analysis.present import format_withheld_table
    >>> w = [{"clinic": "A", "group": "pilates", "outcome": "surgery_free", "reason": "x"},
    ...      {"clinic": "A", "group": "traction", "outcome": "surgery_free", "reason": "x"}]
    >>> format_withheld_table(w, labels={"pilates": "Clinical Pilates"}).iloc[0].tolist()
    ['A', 'surgery-free', 'Clinical Pilates, traction']
    """
    labels = labels or {}
    if not withheld:
        return pd.DataFrame(columns=["Clinic", "Figure", "Withheld for"])
    df = pd.DataFrame(withheld)
    rows = []
    for (clinic, outcome), d in df.groupby(["clinic", "outcome"], sort=False):
        names = [("all modalities together" if g == "Overall" else labels.get(g, g)) for g in d["group"]]
        rows.append({"Clinic": clinic, "Figure": _OUTCOMES.get(outcome, outcome), "Withheld for": ", ".join(names)})
    return pd.DataFrame(rows)


def network_methods_html(*, settings: OutcomeSettings, rule: DisclosureRule, node: dict, method: dict | None,
                         reference_label: str | None, merged: dict | None = None) -> _HTML:
    """How the network's figures were computed, in plain words, and the rules applied."""
    pop = "surgical candidates" if settings.population == "candidates" else "all episodes"
    items = [
        ("What each clinic sent", "per modality: the number of episodes; the number, sum and sum of squares of "
         "leg pain changes; the numbers rated and recovered, and of responders; the surgery-free population with "
         "its surgeries and censorings per interval of time; the log-rank test's observed-minus-expected pieces; "
         "and, for the adjusted comparisons, each round's model sums (cross-products, or a likelihood with its "
         "first and second derivatives). No row about a patient."),
        ("Each clinic's minimums", f"nothing is sent by a clinic with fewer than {node.get('min_episodes')} "
         f"episodes; every count sent is 0 or at least {node.get('min_cell')} (smaller ones are withheld, with "
         "further ones where a total would give them away); a network analysis needs at least "
         f"{node.get('min_clinics')} clinics; a clinic answers at most {node.get('max_rounds')} rounds of one "
         "model."),
        ("Exact", "episode counts, means and their t intervals, rates and their Wilson intervals are the same as "
         "with every record in one place; so are the log-rank test (stratified by clinic) and the adjusted models "
         "for the design used."),
        ("Surgery-free", f"among {pop}. {SURVIVAL_METHOD}. On the sample data split into its three clinics this "
         "differs from the exact curve by less than 0.001 at 365 days."),
    ]
    if method:
        ref = reference_label or "the reference"
        items.append(("Adjusted comparisons", f"each modality against {ref}. Leg pain: {method['leg_pain_change']}. "
                      f"Recovered: {method['recovered']}. Surgery: {method['surgery']}. Episodes are treated as "
                      "independent within a clinic (therapist codes do not leave the clinics), so the intervals "
                      "are narrower than a therapist-clustered analysis of pooled records would give."))
    if merged:
        flat = sorted({m for v in merged.values() for m in v})
        if flat:
            items.append(("Case mix in the models", "levels that some clinic had for fewer than "
                          f"{node.get('min_cell')} episodes were merged into their covariate's most common level: "
                          + ", ".join(x.replace(":", " ").replace("_", " ") for x in flat) + "."))
    items.append(("Disclosure", rule.statement))
    inner = "".join(f"<li><strong>{html.escape(a)}</strong>: {html.escape(b)}</li>" for a, b in items)
    return _HTML(f'<ul class="report-methods">{inner}</ul>')
