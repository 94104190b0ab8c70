"""What the explorer's controls select, as plain data and functions (tested without a browser)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..disclosure import disclosure_rule
from ..methods import OutcomeSettings, derive_outcomes, selection_mask, subset_records
from ..records import Records
from ..records.schema import code_label

__all__ = ["OUTCOMES", "Selection", "apply_selection", "selection_note"]

#: Outcome choices: key -> label.
OUTCOMES = {
    "leg_pain_change": "Leg pain change",
    "leg_pain_at_day": "Leg pain on fixed days",
    "responder": "Responders (leg pain)",
    "recovered": "Recovered at discharge",
    "surgery_free": "Surgery-free",
    "odi_change": "Disability (ODI) change",
    "back_pain_change": "Back pain change",
    "sessions": "Sessions per episode",
    "days_to_discharge": "Days to discharge",
    "confounding": "Whom each modality treated",
}
_SUBGROUPS = {"age_band": "age", "sex": "sex", "cause": "cause", "symptom_band": "symptom weeks",
              "surgical_candidate": "surgical candidate"}


@dataclass(frozen=True)
class Selection:
    """What the explorer's controls say. Empty tuples mean "all".

    Examples
    --------
    >>> from analysis.app import Selection
    >>> Selection(clinics=("NTH",)).where()
    {}
    >>> Selection(age_bands=("60-69",), modalities=("mckenzie",)).where()
    {'modality': ['mckenzie'], 'age_band': ['60-69']}
    """

    clinics: tuple = ()
    start_from: str | None = None
    start_to: str | None = None
    modalities: tuple = ()
    reference: str | None = None
    population: str = "candidates"
    horizon_days: int = 365
    age_bands: tuple = ()
    sexes: tuple = ()
    causes: tuple = ()
    candidate: str = "all"            # "all", "yes", "no"
    symptom_bands: tuple = ()
    outcome: str = "leg_pain_change"
    disclosure: str = "internal"

    def where(self) -> dict:
        """The subgroup filters as :func:`analysis.methods.filter_records` takes them."""
        w = {"modality": list(self.modalities), "age_band": list(self.age_bands), "sex": list(self.sexes),
             "cause": list(self.causes), "symptom_band": list(self.symptom_bands)}
        if self.candidate in ("yes", "no"):
            w["surgical_candidate"] = [self.candidate == "yes"]
        return {k: v for k, v in w.items() if v}

    def settings(self) -> OutcomeSettings:
        return OutcomeSettings(horizon_days=int(self.horizon_days), population=self.population)


class _SelectedRecords:
    """A selection's records, taken from all records on first use of their episodes or visits.

    Stands in for :class:`~analysis.records.Records` (the same attributes): the explorer's update
    (note, headline, table) needs only the selection's outcomes and the catalogue, and taking a
    registry's 6.7 million visits row by row is most of a second; the figures, drawn after it,
    take them when they need them. Safe to use from two threads.
    """

    def __init__(self, records: Records, keep: np.ndarray):
        import threading

        self._all, self._keep, self._lock, self._taken = records, keep, threading.Lock(), None
        self.modalities, self.folder, self.files = records.modalities, records.folder, records.files

    def _records(self) -> Records:
        with self._lock:
            if self._taken is None:
                self._taken = subset_records(self._all, self._keep)
            return self._taken

    @property
    def episodes(self) -> pd.DataFrame:
        return self._records().episodes

    @property
    def visits(self) -> pd.DataFrame:
        return self._records().visits

    def visit_positions(self) -> np.ndarray:
        return self._records().visit_positions()

    @property
    def has_catalogue(self) -> bool:
        return self._all.has_catalogue

    @property
    def labels(self) -> dict[str, str]:
        return self._all.labels


def apply_selection(records: Records, selection: Selection, *, outcomes: pd.DataFrame | None = None,
                    lazy: bool = False) -> tuple[Records, pd.DataFrame]:
    """Filter the records to a selection and derive the outcomes.

    *outcomes*: :func:`analysis.methods.derive_outcomes` of all of *records*
    with the selection's settings, when the caller keeps it (the explorer):
    an episode's outcomes depend on that episode alone, so the selection's
    are its rows, without deriving them again. *lazy* (with *outcomes*): the
    records returned take their episodes and visits on first use (the
    explorer's update does not need them; its figures do).

    Examples
    --------
    >>> from analysis import load_records
    >>> from analysis.app import Selection, apply_selection
    >>> rec, out = apply_selection(load_records("data/sample"), Selection(clinics=("NTH",), sexes=("male",)))
    >>> sorted(out["clinic"].unique()), sorted(out["sex"].unique())
    (['NTH'], ['male'])
    """
    keep = selection_mask(records, clinics=list(selection.clinics) or None, start_from=selection.start_from,
                          start_to=selection.start_to, where=selection.where())
    if outcomes is not None and len(outcomes) == len(keep):
        if keep.all():
            return records, outcomes
        rec = _SelectedRecords(records, keep) if lazy else subset_records(records, keep)
        return rec, outcomes.take(np.flatnonzero(keep)).reset_index(drop=True)
    rec = subset_records(records, keep)
    return rec, derive_outcomes(rec, settings=selection.settings())


def selection_note(selection: Selection, n_episodes: int, *, labels: dict | None = None, rule=None) -> str:
    """One line: what is filtered and how many episodes remain (count under the disclosure rule).

    Examples
    --------
    >>> from analysis.app import Selection, selection_note
    >>> selection_note(Selection(clinics=("NTH",), age_bands=("60-69", "70-79")), 123)
    'Clinics NTH; age 60-69, 70-79: 123 episodes.'
    """
    labels = labels or {}
    rule = rule or disclosure_rule(selection.disclosure)
    parts = []
    if selection.clinics:
        parts.append("Clinics " + ", ".join(selection.clinics))
    if selection.start_from or selection.start_to:
        parts.append(f"starting {selection.start_from or 'any time'} to {selection.start_to or 'now'}")
    if selection.modalities:
        parts.append(" vs ".join(labels.get(m, m) for m in selection.modalities))
    for key, name in _SUBGROUPS.items():
        values = selection.where().get(key)
        if values:
            shown = [code_label(key, v) for v in values]
            parts.append(f"{name} {', '.join(shown)}")
    what = "; ".join(parts) if parts else "All episodes"
    return f"{what}: {rule.count(n_episodes)} episodes."
