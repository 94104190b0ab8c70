"""Outcome derivation: one row per episode, exactly as spec section 3 defines.

Every definition is a named parameter of :class:`OutcomeSettings`:

- **Baseline leg pain**: ``leg_pain`` at the episode's first visit.
- **Final leg pain**: ``leg_pain`` at the last visit that has one, when that is
  a later visit than the first; otherwise missing.
- **Leg pain change**: final - baseline (negative is better).
- **Responder** (clinically important improvement; Ostelo et al. 2008, *Spine*
  33:90-94): improvement of at least ``responder_points`` (2) *and* at least
  ``responder_fraction`` (30 %) of baseline.
- **Recovered**: ``global_change`` in ``recovered_levels`` (6 much improved,
  7 completely recovered; Haugen 2011). Episodes without a rating are left out
  of the denominator and counted as missing.
- **Surgery**: time = ``surgery_day`` for those with surgery, else
  ``followup_day`` (censored). The *surgery-free population* is surgical
  candidates by default (``population="all"`` for everyone).
- **Sessions** (number of visits) and **days to discharge**.
- The same change / responder for **ODI** where recorded (minimal important
  change 10 points and 30 %).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from ..records import Records

__all__ = ["OutcomeSettings", "SYMPTOM_BANDS", "WHERE_COLUMNS", "derive_outcomes", "filter_records", "prepare", "selection_mask",
           "subset_records", "symptom_band"]

#: Symptom duration bands used in adjustment: under 6 weeks, 6-12, over 12.
SYMPTOM_BANDS = ("<6", "6-12", ">12")


@dataclass(frozen=True)
class OutcomeSettings:
    """Outcome definitions (defaults from spec section 3).

    Attributes
    ----------
    horizon_days : int
        Horizon for surgery-free survival (365).
    population : {"candidates", "all"}
        Who is in the surgery-free analysis.
    responder_points, responder_fraction : float
        Leg-pain responder: improvement >= 2 points and >= 30 % of baseline.
    odi_points, odi_fraction : float
        ODI responder: improvement >= 10 points and >= 30 % of baseline.
    recovered_levels : tuple of int
        Global change ratings that count as recovered (6, 7).
    confidence : float
        Two-sided confidence level (0.95).
    fixed_days : tuple of int
        Days at which leg pain is compared from all visits (42 and 84: 6 and 12 weeks).

    Examples
    --------
    >>> from analysis import OutcomeSettings
    >>> OutcomeSettings(horizon_days=180).with_(population="all").population
    'all'
    """

    horizon_days: int = 365
    population: str = "candidates"
    responder_points: float = 2.0
    responder_fraction: float = 0.30
    odi_points: float = 10.0
    odi_fraction: float = 0.30
    recovered_levels: tuple[int, ...] = (6, 7)
    confidence: float = 0.95
    fixed_days: tuple[int, ...] = (42, 84)

    def __post_init__(self):
        if self.population not in ("candidates", "all"):
            raise ValueError("population must be 'candidates' or 'all'")
        if self.horizon_days <= 0:
            raise ValueError("horizon_days must be a positive number of days")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1, e.g. 0.95")
        if not self.fixed_days or any(int(d) != d or d < 1 for d in self.fixed_days):
            raise ValueError("fixed_days must be one or more whole numbers of days after the first visit, e.g. 42, 84")

    def with_(self, **changes) -> "OutcomeSettings":
        """A copy with some settings changed."""
        return replace(self, **changes)


def symptom_band(weeks) -> pd.Series:
    """Symptom duration in weeks -> ``<6``, ``6-12`` or ``>12``.

    Examples
    --------
    >>> from analysis.methods import symptom_band
    >>> symptom_band([0, 5, 6, 12, 13]).tolist()
    ['<6', '<6', '6-12', '6-12', '>12']
    """
    w = np.asarray(weeks, dtype="float64")
    idx = np.where(np.isnan(w), -1, np.where(w < 6, 0, np.where(w <= 12, 1, 2)))
    # the three labels taken by code in Arrow (no million Python strings): the same text column, missing where
    # weeks are
    labels = pa.array(list(SYMPTOM_BANDS), type=pa.large_string()).take(pa.array(idx, mask=idx < 0))
    return pd.Series(pd.array(labels, dtype="str"))


#: Episode columns (and the derived symptom band) that :func:`filter_records` can select on with ``where``.
WHERE_COLUMNS = ("modality", "age_band", "sex", "cause", "surgical_candidate", "symptom_band", "therapist", "side")


def filter_records(records: Records, *, clinics=None, start_from=None, start_to=None, where=None) -> Records:
    """Keep the episodes (and their visits) of some clinics, a start-date period and subgroups.

    Parameters
    ----------
    records : Records
    clinics : list of str, optional, keyword-only
        Clinic codes to keep; all when None.
    start_from, start_to : str or date, optional, keyword-only
        Inclusive limits on ``start_date`` (``YYYY-MM-DD``).
    where : dict, optional, keyword-only
        Column -> values to keep, for columns in :data:`WHERE_COLUMNS`
        (``symptom_band`` is derived from ``symptom_weeks``), e.g.
        ``{"age_band": ["60-69", "70-79"], "modality": ["mckenzie"]}``. An
        empty or None list keeps everything.

    Returns
    -------
    Records

    Examples
    --------
    >>> from analysis import load_records
    >>> from analysis.methods import filter_records
    >>> rec = filter_records(load_records("data/sample"), clinics=["NTH"], start_from="2025-01-01")
    >>> sorted(rec.episodes["clinic"].unique()), str(rec.episodes["start_date"].min().date()) >= "2025-01-01"
    (['NTH'], True)
    """
    keep = selection_mask(records, clinics=clinics, start_from=start_from, start_to=start_to, where=where)
    return subset_records(records, keep)


def selection_mask(records: Records, *, clinics=None, start_from=None, start_to=None, where=None) -> np.ndarray:
    """Which episodes :func:`filter_records` keeps, as a boolean array in episode order.

    Examples
    --------
    >>> from analysis import load_records
    >>> from analysis.methods import selection_mask
    >>> rec = load_records("data/sample")
    >>> int(selection_mask(rec, clinics=["NTH"]).sum()) == int((rec.episodes["clinic"] == "NTH").sum())
    True
    """
    ep = records.episodes
    keep = np.ones(len(ep), dtype=bool)
    if clinics:
        keep &= ep["clinic"].isin(list(clinics)).to_numpy(dtype=bool)
    if start_from is not None:
        keep &= (ep["start_date"] >= pd.Timestamp(start_from)).to_numpy(dtype=bool)
    if start_to is not None:
        keep &= (ep["start_date"] <= pd.Timestamp(start_to)).to_numpy(dtype=bool)
    for col, values in (where or {}).items():
        if values is None or (not isinstance(values, (str, bool)) and len(values) == 0):
            continue
        if col not in WHERE_COLUMNS:
            raise ValueError(f"cannot select on {col}; choose from {', '.join(WHERE_COLUMNS)}")
        vals = [values] if isinstance(values, (str, bool)) else list(values)
        column = symptom_band(ep["symptom_weeks"].to_numpy()) if col == "symptom_band" else ep[col]
        keep &= pd.Series(column).isin(vals).to_numpy(dtype=bool)
    return keep


def subset_records(records: Records, keep: np.ndarray) -> Records:
    """The episodes where *keep* is true, with their visits (the records themselves when all are kept)."""
    ep = records.episodes
    if keep.all():
        return records
    pos = records.visit_positions()
    vkeep = (pos >= 0) & keep[np.maximum(pos, 0)]
    new_row = np.cumsum(keep) - 1  # old episode row -> new row
    # rows taken by position (a boolean mask is turned into positions again for every column)
    return Records(episodes=ep.take(np.flatnonzero(keep)).reset_index(drop=True),
                   visits=records.visits.take(np.flatnonzero(vkeep)).reset_index(drop=True),
                   modalities=records.modalities, folder=records.folder, files=records.files,
                   _visit_pos=new_row[pos[vkeep]])


def _first_rows(pos: np.ndarray, n: int) -> np.ndarray:
    """For visits sorted by episode: each episode's first visit's row (-1: none)."""
    first_row = np.full(n, -1, dtype="int64")
    if len(pos):
        starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        first_row[pos[starts]] = starts
    return first_row


def _first_last(pos: np.ndarray, values: np.ndarray, n: int, *,
                first_row: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For visits sorted by episode: value at each episode's first visit, and the
    last non-missing value when it is at a later visit than the first (*first_row*: :func:`_first_rows`,
    when known)."""
    if first_row is None:
        first_row = _first_rows(pos, n)
    baseline = np.full(n, np.nan)
    has_first = first_row >= 0
    baseline[has_first] = values[first_row[has_first]]
    final = np.full(n, np.nan)
    idx = np.flatnonzero(~np.isnan(values))
    if len(idx):
        p = pos[idx]
        last = np.r_[p[1:] != p[:-1], True]
        li, lp = idx[last], p[last]
        later = li > first_row[lp]
        final[lp[later]] = values[li[later]]
    return baseline, final, first_row


def derive_outcomes(records: Records, *, settings: OutcomeSettings | None = None) -> pd.DataFrame:
    """Derive every outcome for every episode.

    Parameters
    ----------
    records : Records
        Validated records (:func:`analysis.load_records`).
    settings : OutcomeSettings, optional, keyword-only

    Returns
    -------
    pandas.DataFrame
        One row per episode: the case-mix columns (``clinic``, ``therapist``,
        ``modality``, ``age_band``, ``sex``, ``cause``, ``symptom_weeks``,
        ``symptom_band``, ``surgical_candidate``, ``start_date``) and
        ``baseline_leg_pain``, ``final_leg_pain``, ``leg_pain_change``,
        ``responder``, ``baseline_back_pain``, ``final_back_pain``,
        ``back_pain_change``, ``global_change``,
        ``recovered``, ``surgery_time``, ``surgery_event``, ``in_population``,
        ``surgery_by_horizon``, ``followup_day``, ``sessions``,
        ``days_to_discharge``, ``discharge_reason``, ``baseline_odi``,
        ``final_odi``, ``odi_change``, ``odi_responder``. Missing is NaN (numbers)
        or <NA> (yes/no outcomes).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> out = derive_outcomes(load_records("data/sample"))
    >>> round(float(out["baseline_leg_pain"].mean()), 1), bool(out["recovered"].notna().mean() > 0.6)
    (6.3, True)
    """
    s = settings or OutcomeSettings()
    ep, vi = records.episodes, records.visits
    n = len(ep)
    pos = records.visit_positions()
    order_ok = len(pos) < 2 or bool(np.all(np.diff(pos) >= 0))
    if not order_ok:  # load_records sorts visits; accept hand-made frames too
        o = np.lexsort((vi["visit_no"].to_numpy(), pos))
        vi, pos = vi.iloc[o].reset_index(drop=True), pos[o]

    leg = vi["leg_pain"].to_numpy(dtype="float64", na_value=np.nan)
    back = vi["back_pain"].to_numpy(dtype="float64", na_value=np.nan)
    odi = vi["odi"].to_numpy(dtype="float64", na_value=np.nan)
    first_row = _first_rows(pos, n)  # once for the three ratings
    leg0, leg1, _ = _first_last(pos, leg, n, first_row=first_row)
    back0, back1, _ = _first_last(pos, back, n, first_row=first_row)
    odi0, odi1, _ = _first_last(pos, odi, n, first_row=first_row)

    def responder(b, f, points, frac):
        ok = ~np.isnan(b) & ~np.isnan(f)
        improvement = np.where(ok, b - f, 0.0)
        val = (improvement >= points - 1e-9) & (improvement >= frac * np.nan_to_num(b) - 1e-9)
        return pd.arrays.BooleanArray(val & ok, ~ok)

    gc = ep["global_change"].to_numpy(dtype="float64", na_value=np.nan)
    recovered = pd.arrays.BooleanArray(np.isin(gc, s.recovered_levels), np.isnan(gc))
    surgery = ep["surgery"].to_numpy(dtype=bool)
    surgery_day = ep["surgery_day"].to_numpy(dtype="float64", na_value=np.nan)
    followup = ep["followup_day"].to_numpy(dtype="float64")
    time = np.where(surgery, surgery_day, followup)
    candidate = ep["surgical_candidate"].to_numpy(dtype=bool)
    in_pop = candidate if s.population == "candidates" else np.ones(n, dtype=bool)
    sessions = np.bincount(pos[pos >= 0], minlength=n)

    out = pd.DataFrame({
        "episode_id": ep["episode_id"],
        "patient_id": ep["patient_id"],
        "clinic": ep["clinic"],
        "therapist": ep["therapist"],
        "modality": ep["modality"],
        "start_date": ep["start_date"],
        "age_band": ep["age_band"],
        "sex": ep["sex"],
        "side": ep["side"],
        "cause": ep["cause"],
        "symptom_weeks": ep["symptom_weeks"],
        "symptom_band": symptom_band(ep["symptom_weeks"].to_numpy()).to_numpy(),
        "surgical_candidate": candidate,
        "baseline_leg_pain": leg0,
        "final_leg_pain": leg1,
        "leg_pain_change": leg1 - leg0,
        "responder": responder(leg0, leg1, s.responder_points, s.responder_fraction),
        "baseline_back_pain": back0,
        "final_back_pain": back1,
        "back_pain_change": back1 - back0,
        "global_change": gc,
        "recovered": recovered,
        "surgery_time": time,
        "surgery_event": surgery,
        "in_population": in_pop,
        "surgery_by_horizon": surgery & (time <= s.horizon_days),
        "followup_day": followup,
        "sessions": sessions,
        "days_to_discharge": ep["discharge_day"].to_numpy(dtype="float64", na_value=np.nan),
        "discharge_reason": ep["discharge_reason"],
        "baseline_odi": odi0,
        "final_odi": odi1,
        "odi_change": odi1 - odi0,
        "odi_responder": responder(odi0, odi1, s.odi_points, s.odi_fraction),
    }, copy=False)  # each column as computed (copy-on-write keeps the records' own columns safe)
    return out


def prepare(folder, *, clinics=None, start_from=None, start_to=None, where=None,
            settings: OutcomeSettings | None = None) -> tuple[Records, pd.DataFrame]:
    """Load, validate and filter a data folder, then derive the outcomes: the
    first step of every notebook and of the report.

    Parameters
    ----------
    folder : str or pathlib.Path
    clinics : list of str, optional, keyword-only
    start_from, start_to : str, optional, keyword-only
        ``YYYY-MM-DD`` limits on start_date.
    where : dict, optional, keyword-only
        Subgroups to keep (see :func:`filter_records`).
    settings : OutcomeSettings, optional, keyword-only

    Returns
    -------
    records : Records
        The filtered records.
    outcomes : pandas.DataFrame
        :func:`derive_outcomes` of them.

    Raises
    ------
    analysis.DataProblemError
        When the folder breaks the records contract (every problem listed).

    Examples
    --------
    >>> from analysis.methods import prepare
    >>> records, outcomes = prepare("data/sample", clinics=["NTH"])
    >>> len(records.episodes) == len(outcomes)
    True
    """
    from ..records import load_records

    records = filter_records(load_records(folder), clinics=clinics, start_from=start_from, start_to=start_to,
                             where=where)
    return records, derive_outcomes(records, settings=settings)
