"""Clinic networks without pooling records (spec section 14): release, answer, combine, report.

A clinic's data steward runs :func:`network_release` on the clinic's records
and reads what would leave (plain JSON, each figure's disclosure state in
``withheld``). A coordinator combines the releases of at least three clinics
(:func:`combine_network`): the crude outcome table, surgery-free survival and
the clinic-stratified log-rank test, in one round. The adjusted comparisons
need rounds of questions to the clinics (:func:`clinic_answer` at each clinic);
:func:`run_network` drives them when the clinics are reachable from one
process (tests, the notebooks' default), and the vantage6 algorithm package
(``network/vantage6``) drives them across real nodes.

Whatever drove it, the result is a :class:`NetworkResult` whose tables have
the shapes of the single-site analysis, so the summary document and the
report's disclosure and presentation code run on it unchanged.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import disclosure, methods

__all__ = ["NetworkReportContent", "NetworkResult", "build_network_report", "clinic_answer", "combine_network", "network_release",
           "read_release", "release_from_outcomes", "run_network"]


def _json_ready(x):
    """Plain JSON values: numpy scalars as Python numbers, NaN and infinities as null."""
    if isinstance(x, dict):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_json_ready(v) for v in x.tolist()]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if x is pd.NA or x is None:
        return None
    return x


def network_release(data, *, clinic: str | None = None, horizon_days: int = 365, population: str = "candidates",
                    node: disclosure.NodeSettings | None = None) -> dict:
    """What one clinic would send to its network, after the node's disclosure check.

    Parameters
    ----------
    data : str or pathlib.Path, or Records
        The clinic's data folder (validated as for every command).
    clinic : str, optional, keyword-only
        The clinic code, when the folder holds several clinics.
    horizon_days, population : keyword-only
        As for the report (every clinic of a network must use the same).
    node : NodeSettings, optional, keyword-only
        The data steward's minimums.

    Returns
    -------
    dict
        The release (plain JSON): see :func:`analysis.methods.clinic_aggregates`
        and :func:`analysis.disclosure.protect_release`; ``labels`` gives the
        modalities' names.

    Raises
    ------
    analysis.disclosure.ReleaseRefused
        Below the node's minimum number of episodes.
    ValueError
        Several clinics in the folder and no *clinic* chosen, or an unknown *clinic*.

    Examples
    --------
    >>> from analysis.app import network_release
    >>> rel = network_release("data/sample", clinic="NTH")
    >>> rel["clinic"], rel["data"]["episodes"], rel["node"]["min_cell"]
    ('NTH', 700, 8)
    """
    from ..records import Records, load_records

    node = node or disclosure.NodeSettings()
    records = data if isinstance(data, Records) else load_records(data)
    clinics = sorted(records.episodes["clinic"].dropna().unique())
    if clinic is None and len(clinics) > 1:
        raise ValueError(f"these records hold {len(clinics)} clinics ({', '.join(clinics)}): a release is one "
                         "clinic's; choose it with --clinic")
    if clinic is not None:
        if clinic not in clinics:
            raise ValueError(f"no clinic {clinic} in these records (clinics: {', '.join(clinics)})")
        records = methods.filter_records(records, clinics=[clinic])
    settings = methods.OutcomeSettings(horizon_days=horizon_days, population=population)
    out = methods.derive_outcomes(records, settings=settings)
    return release_from_outcomes(out, settings=settings, node=node, labels=records.labels,
                                 visits=len(records.visits))


def release_from_outcomes(outcomes: pd.DataFrame, *, settings: methods.OutcomeSettings | None = None,
                          node: disclosure.NodeSettings | None = None, labels: dict | None = None,
                          visits: int | None = None) -> dict:
    """One clinic's release from its derived outcomes (what a federated node holds after extraction).

    The aggregates (:func:`analysis.methods.clinic_aggregates`) after the node's disclosure check
    (:func:`analysis.disclosure.protect_release`), as plain JSON, with the modalities' names.

    Examples
    --------
    >>> from analysis import derive_outcomes, load_records
    >>> from analysis.app import release_from_outcomes
    >>> out = derive_outcomes(load_records("data/sample"))
    >>> release_from_outcomes(out[out["clinic"] == "STH"])["data"]["episodes"]
    321
    """
    node = node or disclosure.NodeSettings()
    agg = methods.clinic_aggregates(outcomes, settings=settings, visits=visits, min_cell=node.min_cell)
    rel = disclosure.protect_release(agg, node=node)
    labels = labels or {}
    rel["labels"] = {m: labels.get(m, m) for m in rel["modalities"]}
    return _json_ready(rel)


def read_release(path) -> dict:
    """Read a release file written by ``physio-outcomes network release``, refusing anything else."""
    p = Path(path)
    try:
        rel = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p.name}: not a readable release file ({type(exc).__name__})") from None
    if not isinstance(rel, dict) or rel.get("format") != methods.NETWORK_FORMAT:
        raise ValueError(f"{p.name}: not a clinic release of this version (expected format "
                         f"'{methods.NETWORK_FORMAT}')")
    return rel


def clinic_answer(outcomes: pd.DataFrame, request: dict, *, settings: methods.OutcomeSettings | None = None,
                  node: disclosure.NodeSettings | None = None) -> dict:
    """A clinic's answer to one round of an adjusted model: its pieces, if the node's minimums allow them.

    *request* is ``{"design": ..., "beta": ..., "round": int, "clinics": int}``
    (``beta`` None for the linear model's one round).

    Raises
    ------
    analysis.disclosure.ReleaseRefused
        Fewer clinics than the node's minimum, too many rounds, or pieces that
        rest on too few episodes.
    """
    node = node or disclosure.NodeSettings()
    if int(request.get("clinics", 0)) < node.min_clinics:
        raise disclosure.ReleaseRefused(f"the analysis asks {request.get('clinics', 0)} clinic(s); the node takes "
                                        f"part only with at least {node.min_clinics}")
    design = request["design"]
    if int(design.get("min_cell", 0)) < node.min_cell:
        raise disclosure.ReleaseRefused(f"the design's smallest cell is {design.get('min_cell')}; the node's is "
                                        f"{node.min_cell}")
    parts = methods.model_parts(outcomes, design=design, beta=request.get("beta"), settings=settings)
    return _json_ready(disclosure.check_model_parts(parts, design=design, node=node,
                                                    round_no=int(request.get("round", 1))))


@dataclass
class NetworkResult:
    """A network's pooled results, in the shapes of the single-site analysis.

    Attributes
    ----------
    combined : dict
        :func:`analysis.methods.combine_releases` (crude table, curves, numbers
        at risk, log-rank test, withheld cells, clinics' grids).
    adjusted : dict or None
        :func:`analysis.methods.fit_network_models`, when the clinics answered
        model rounds.
    labels : dict
        Modality code -> name.
    node : dict
        The minimums the combine applied.
    """

    combined: dict
    adjusted: dict | None = None
    labels: dict = field(default_factory=dict)
    node: dict = field(default_factory=dict)

    @property
    def settings(self) -> methods.OutcomeSettings:
        s = self.combined["settings"]
        return methods.OutcomeSettings(horizon_days=int(s["horizon_days"]), population=s["population"],
                                       confidence=float(s["confidence"]))

    def summary(self) -> dict:
        """The ``summary --json`` document of the network (spec section 6, as far as the network computes it)."""
        return _json_ready(methods.network_summary(self.combined, self.adjusted, labels=self.labels))

    # ------------------------------------------------------------- to and from JSON (what a central step returns)

    def to_json(self) -> str:
        """The result as JSON text (tables as lists of rows; NaN as null)."""
        c = dict(self.combined)
        doc = {"format": "physio-outcomes network result 1", "labels": self.labels, "node": self.node,
               "combined": {**{k: v for k, v in c.items() if k not in ("crude", "curves", "at_risk")},
                            **{k: c[k].to_dict("records") for k in ("crude", "curves", "at_risk")}}}
        if self.adjusted is not None:
            a = self.adjusted
            doc["adjusted"] = {k: (v.to_dict("records") if isinstance(v, pd.DataFrame) else v)
                               for k, v in a.items() if k != "coefficients"}
        return json.dumps(_json_ready(doc))

    @classmethod
    def from_json(cls, text: str) -> NetworkResult:
        """Rebuild a result written by :meth:`to_json`."""
        doc = json.loads(text)
        if doc.get("format") != "physio-outcomes network result 1":
            raise ValueError("not a physio-outcomes network result")
        c = dict(doc["combined"])
        for k in ("crude", "curves", "at_risk"):
            c[k] = _frame(c[k])
        adjusted = None
        if doc.get("adjusted") is not None:
            adjusted = dict(doc["adjusted"])
            for key in ("leg_pain_change", "recovered", "surgery"):
                adjusted[key] = _frame(adjusted[key])
            adjusted["coefficients"] = {}
        return cls(c, adjusted, doc.get("labels", {}), doc.get("node", {}))


def _frame(rows: list) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows)
    for col in df.columns:
        if df[col].dtype == object and df[col].map(lambda v: v is None or isinstance(v, (int, float))).all() \
                and df[col].notna().any() and col not in ("note", "reason", "status", "surgery_free_note"):
            df[col] = pd.to_numeric(df[col])
    return df


def combine_network(releases, *, node: disclosure.NodeSettings | None = None, adjusted: dict | None = None
                    ) -> NetworkResult:
    """Combine clinics' releases (one round) into a :class:`NetworkResult`.

    Examples
    --------
    >>> from analysis.app import combine_network, network_release
    >>> res = combine_network([network_release("data/sample", clinic=c) for c in ("CEN", "NTH", "STH")])
    >>> int(res.combined["crude"]["episodes"].iloc[0])
    1500
    """
    node = node or disclosure.NodeSettings()
    releases = list(releases)
    combined = methods.combine_releases(releases, min_clinics=node.min_clinics)
    labels = {}
    for r in releases:
        labels.update(r.get("labels") or {})
    combined["crude"]["label"] = combined["crude"]["group"].map(lambda g: labels.get(g, g))
    return NetworkResult(combined, adjusted, labels, {**disclosure.NodeSettings().__dict__, **node.__dict__})


def run_network(outcomes_by_clinic: dict, *, settings: methods.OutcomeSettings | None = None,
                node: disclosure.NodeSettings | None = None, labels: dict | None = None,
                reference: str | None = None) -> NetworkResult:
    """Every step of the network analysis with the clinics reachable from this process (no engine).

    Each clinic's outcomes stay behind :func:`clinic_answer` and its release:
    only what they return (as JSON, through a round trip) reaches the combine,
    exactly as on a federated engine.

    Parameters
    ----------
    outcomes_by_clinic : dict
        Clinic code -> that clinic's :func:`analysis.derive_outcomes`.

    Examples
    --------
    >>> from analysis import derive_outcomes, load_records
    >>> from analysis.app import run_network
    >>> o = derive_outcomes(load_records("data/sample"))
    >>> res = run_network({c: d for c, d in o.groupby("clinic")})
    >>> res.adjusted["rounds"]["leg_pain_change"]
    1
    """
    s = settings or methods.OutcomeSettings()
    node = node or disclosure.NodeSettings()
    clinics = sorted(outcomes_by_clinic)
    trip = lambda x: json.loads(json.dumps(_json_ready(x)))  # noqa: E731 (what crosses the wire is JSON)
    releases = []
    for c in clinics:
        agg = methods.clinic_aggregates(outcomes_by_clinic[c], settings=s, min_cell=node.min_cell)
        rel = disclosure.protect_release(agg, node=node)
        rel["labels"] = {m: (labels or {}).get(m, m) for m in rel["modalities"]}
        releases.append(trip(rel))
    result = combine_network(releases, node=node)

    def ask(request):
        req = trip(request)
        return [trip(clinic_answer(outcomes_by_clinic[c], req, settings=s, node=node)) for c in clinics]

    result.adjusted = methods.fit_network_models(ask, releases, settings=s, min_cell=node.min_cell,
                                                 max_rounds=node.max_rounds, reference=reference)
    return result


# ----------------------------------------------------------------- the report


def build_network_report(result: NetworkResult, out, *, title: str = "Sciatica outcomes across the clinic network",
                         disclosure_rule: str = "internal", progress=None, timeout: int = 600) -> Path:
    """Write the network's clinic-meeting report (the network report notebook, executed and exported).

    Parameters
    ----------
    result : NetworkResult
    out : str or pathlib.Path
        HTML file to write (atomically).
    disclosure_rule : {"internal", "public", "none"}, keyword-only
    """
    from ._report import _execute_and_export
    from ._resources import NETWORK_REPORT_NOTEBOOK

    disclosure.disclosure_rule(disclosure_rule)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="physio-network-") as tmp:
        path = Path(tmp) / "result.json"
        path.write_text(result.to_json(), encoding="utf-8")
        params = {"RESULT_FILE": str(path), "TITLE": title, "DISCLOSURE": disclosure_rule}
        return _execute_and_export(NETWORK_REPORT_NOTEBOOK, params, Path(out).resolve(), title=title,
                                   progress=progress, timeout=timeout, min_images=0, t0=t0)


class NetworkReportContent:
    """The network report's sections (HTML), each table and figure disclosed once under *rule*.

    Parameters
    ----------
    result : NetworkResult
    rule : DisclosureRule, keyword-only

    Examples
    --------
    >>> from analysis import derive_outcomes, load_records
    >>> from analysis.app import NetworkReportContent, run_network
    >>> from analysis.disclosure import disclosure_rule
    >>> o = derive_outcomes(load_records("data/sample"))
    >>> c = NetworkReportContent(run_network({k: d for k, d in o.groupby("clinic")}), rule=disclosure_rule("internal"))
    >>> "report-headline" in str(c.headline())
    True
    """

    def __init__(self, result: NetworkResult, *, rule):
        from .. import present

        self.result = result
        self.rule = rule
        self.settings = result.settings
        self.crude = result.combined["crude"]
        self.labels = result.labels
        self.colors = present.modality_colors(list(result.combined["modalities"]))
        self.crude_disclosed = disclosure.disclose_crude(self.crude, rule=rule)
        self.adjusted_shown = (disclosure.apply_disclosure_to_adjusted(result.adjusted, rule=rule)
                               if result.adjusted else None)

    def header(self, *, title: str):
        from .. import present

        return present.network_header_html(self.result.combined["data"], title=title)

    def headline(self):
        from .. import present

        return present.headline_html(self.crude, settings=self.settings, rule=self.rule,
                                     disclosed=self.crude_disclosed)

    def outcome_table(self):
        from .. import present

        return present.table_html(present.format_outcome_table(self.crude, horizon_days=self.settings.horizon_days,
                                                               rule=self.rule, disclosed=self.crude_disclosed))

    def withheld(self):
        from .. import present

        w = self.result.combined["withheld"]
        if not w:
            return present.note_html("No clinic withheld any figure.")
        return present.table_html(present.format_withheld_table(w, labels=self.labels),
                                  caption="Figures a clinic did not send because a count was 1-7 (or would have "
                                          "given one away); the network's figure for that modality is then not shown")

    def survival(self):
        from .. import present

        curves, at_risk = disclosure.disclose_survival(self.result.combined["curves"],
                                                       self.result.combined["at_risk"], self.crude_disclosed)
        if curves.empty:
            return present.note_html("No modality's surgery-free curve can be drawn across the network: at some "
                                     "clinic each had 1-7 surgeries or patients in the surgery population, so the "
                                     "clinics withheld them. The overall figure is in the headline.")
        title = ("Surgery-free among surgical candidates" if self.settings.population == "candidates"
                 else "Surgery-free, all episodes")
        fig = present.plot_survival(curves, at_risk, labels=self.labels, colors=self.colors,
                                    horizon=self.settings.horizon_days, count_format=self.rule.count, title=title)
        numbers = present.survival_numbers(curves, at_risk, labels=self.labels, count_format=self.rule.count,
                                           min_at_risk=self.rule.min_n)
        return present.figure_html(fig, present.alt_survival(self.crude, settings=self.settings, rule=self.rule,
                                                             disclosed=self.crude_disclosed), numbers=numbers)

    def logrank(self):
        from .. import present

        return present.logrank_html(self.result.combined["logrank"])

    def forest(self, key: str):
        from .. import present

        spec = methods.compared_outcome(key)
        shown = self.adjusted_shown[key]
        ref = self.labels.get(self.result.adjusted["reference"], self.result.adjusted["reference"])
        if shown[spec.estimate].notna().sum() == 0:
            return present.note_html(f"No {spec.label.lower() if hasattr(spec, 'label') else key} comparison "
                                     "could be shown for the network.")
        fig = present.plot_forest(shown, estimate=spec.estimate, labels=self.labels, colors=self.colors,
                                  reference_label=ref)
        return present.figure_html(fig, present.alt_forest(shown, estimate=spec.estimate, labels=self.labels,
                                                           reference_label=ref),
                                   numbers=present.forest_numbers(shown, estimate=spec.estimate, labels=self.labels))

    def adjusted_table(self):
        from .. import present

        return present.table_html(present.format_adjusted_table(self.adjusted_shown, labels=self.labels))

    def methods_text(self):
        from .. import present

        adj = self.result.adjusted
        ref = self.labels.get(adj["reference"], adj["reference"]) if adj else None
        merged = {k: d["merged"] for k, d in adj["designs"].items()} if adj else None
        return present.network_methods_html(settings=self.settings, rule=self.rule, node=self.result.node,
                                            method=adj["method"] if adj else None, reference_label=ref,
                                            merged=merged)
