"""What may be shown, decided once per table or figure (spec section 9).

Every estimate a person can see gets a :class:`Cell`: a :class:`Status`
(estimated, caution, not estimable, hidden) and a machine-readable
:class:`Reason`. The decision is made here, from the numbers and the rule;
tables, headline cards, figures, alternative text, the explorer and terminal
text render the decision and never make it again. A modality whose rate is
hidden has no curve, point or bar from which it could be read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import pandas as pd

from ..methods import Reason, Status
from ._apply import group_column_states
from ._rules import DisclosureRule

__all__ = ["CRUDE_KEYS", "Cell", "CrudeDisclosure", "crude_cell", "disclose_crude", "disclose_survival", "recovery_mi_cell"]

#: The crude estimates of an outcome table row that carry a disclosure decision.
CRUDE_KEYS = ("leg_pain_change", "responder", "recovered", "surgery_free")


@dataclass(frozen=True)
class Cell:
    """The decision about one estimate.

    Examples
    --------
    >>> from analysis.disclosure import Cell
    >>> from analysis.methods import Reason, Status
    >>> Cell(Status.HIDDEN, Reason.FEW_EVENTS).shown, Cell(Status.CAUTION, Reason.FEW_EVENTS_PER_PARAMETER).shown
    (False, True)
    """

    status: Status
    reason: Reason | None = None

    @property
    def shown(self) -> bool:
        """Whether the estimate (and its interval) may be shown."""
        return self.status in (Status.ESTIMATED, Status.CAUTION)


_SHOWN = Cell(Status.ESTIMATED)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (not isinstance(v, str) and pd.isna(v))


def crude_cell(row: Mapping, key: str, *, rule: DisclosureRule) -> Cell:
    """The decision for one crude estimate of an outcome table row.

    Parameters
    ----------
    row : mapping
        A row of :func:`analysis.methods.outcome_table`.
    key : {"leg_pain_change", "responder", "recovered", "surgery_free"}
    rule : DisclosureRule, keyword-only

    Examples
    --------
    >>> from analysis.disclosure import crude_cell, disclosure_rule
    >>> row = {"recovered_n": 40, "recovered_events": 5, "recovered_rate": 0.125}
    >>> crude_cell(row, "recovered", rule=disclosure_rule("internal")).status.value
    'estimated'
    >>> c = crude_cell(row, "recovered", rule=disclosure_rule("public"))
    >>> c.status.value, c.reason.value
    ('hidden', 'few_events')
    """
    n = row.get(f"{key}_n")
    estimate = row.get(f"{key}_mean" if key == "leg_pain_change" else f"{key}_rate")
    if _missing(n) or not n or _missing(estimate):
        return Cell(Status.NOT_ESTIMABLE, Reason.NO_DATA)
    if not rule.allows(n):
        return Cell(Status.HIDDEN, Reason.FEW_EPISODES)
    events = row.get(f"{key}_events")
    if key != "leg_pain_change" and not _missing(events) and not rule.allows_events(events):
        return Cell(Status.HIDDEN, Reason.FEW_EVENTS)
    return _SHOWN


@dataclass(frozen=True)
class CrudeDisclosure:
    """The decisions for a whole crude outcome table: one :class:`Cell` per group and estimate.

    Attributes
    ----------
    rule : DisclosureRule
    table : pandas.DataFrame
        The outcome table the decisions are about (numbers, unchanged).
    cells : mapping
        ``(group, key) -> Cell`` for every group and every key of :data:`CRUDE_KEYS`.
    count_states : mapping
        ``key -> tuple of CellState`` for each estimate's denominator column
        (``"episodes"`` for the episode counts), after secondary suppression.
    """

    rule: DisclosureRule
    table: pd.DataFrame
    cells: Mapping = field(repr=False)
    count_states: Mapping = field(repr=False)

    def cell(self, group: str, key: str) -> Cell:
        """The decision for *key* in the row of *group*."""
        return self.cells[(group, key)]

    def shown_groups(self, key: str) -> list[str]:
        """Groups (modalities, ``Overall`` excepted) whose *key* estimate may be shown."""
        return [g for g in self.table["group"] if g != "Overall" and self.cells[(g, key)].shown]


def disclose_crude(crude: pd.DataFrame, *, rule: DisclosureRule) -> CrudeDisclosure:
    """Decide, once, what of a crude outcome table may be shown.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, outcome_table
    >>> from analysis.disclosure import disclose_crude, disclosure_rule
    >>> from analysis.records import sample_folder
    >>> d = disclose_crude(outcome_table(derive_outcomes(load_records(sample_folder()))),
    ...                    rule=disclosure_rule("public"))
    >>> d.cell("Overall", "recovered").shown
    True
    """
    recs = crude.to_dict("records")
    def states(col):
        return tuple(group_column_states(recs, col, rule))

    counts = {k: states(f"{k}_n") for k in CRUDE_KEYS}
    counts["episodes"] = states("episodes")
    cells = {(r["group"], k): crude_cell(r, k, rule=rule) for r in recs for k in CRUDE_KEYS}
    return CrudeDisclosure(rule, crude, MappingProxyType(cells), MappingProxyType(counts))


def recovery_mi_cell(row: Mapping, *, rule: DisclosureRule) -> Cell:
    """The decision for a recovery rate with missing ratings imputed (headline card and its table alike).

    The imputed rate rests on the rated episodes' recoveries as much as on the
    discharged episodes: it is shown only when the rate among those rated may
    be shown too (enough rated episodes; under ``public`` no 1-7 recoveries).

    Parameters
    ----------
    row : mapping
        A row of :func:`analysis.methods.recovery_missing_adjusted` (``n``,
        ``missing``, ``rate``, ``complete_case_rate``).

    Examples
    --------
    >>> from analysis.disclosure import disclosure_rule, recovery_mi_cell
    >>> row = {"n": 60, "missing": 20, "rate": 0.15, "complete_case_rate": 5 / 40}
    >>> recovery_mi_cell(row, rule=disclosure_rule("public")).reason.value
    'few_events'
    >>> recovery_mi_cell(row, rule=disclosure_rule("none")).shown
    True
    """
    n, missing, rate = row.get("n"), row.get("missing"), row.get("rate")
    if _missing(rate) or _missing(n) or not n:
        return Cell(Status.NOT_ESTIMABLE, Reason.NO_DATA)
    rated = int(n) - int(missing or 0)
    if not rule.allows(n) or (rule.name != "none" and not rule.allows(rated)):
        return Cell(Status.HIDDEN, Reason.FEW_EPISODES)
    cc = row.get("complete_case_rate")
    events = round(cc * rated) if not _missing(cc) and rated else 0
    if not rule.allows_events(events):
        return Cell(Status.HIDDEN, Reason.FEW_EVENTS)
    return _SHOWN


def disclose_survival(curves: pd.DataFrame, at_risk: pd.DataFrame, crude: CrudeDisclosure
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The surgery-free curves and numbers at risk that may be drawn, given the crude table's decision.

    A modality whose surgery-free rate is hidden in the table has no curve and
    no numbers at risk, so its rate cannot be read off the figure.

    Parameters
    ----------
    curves, at_risk : pandas.DataFrame
        From :func:`analysis.methods.survival_curves` (with a ``group`` column of modality codes).
    crude : CrudeDisclosure
        From :func:`disclose_crude` on the same selection.
    """
    keep = set(crude.shown_groups("surgery_free"))
    c = curves[curves["group"].isin(keep)].reset_index(drop=True) if "group" in curves else curves
    r = at_risk[at_risk["group"].isin(keep)].reset_index(drop=True) if "group" in at_risk else at_risk
    return c, r
