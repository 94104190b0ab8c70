"""A synthetic practice-management export (not in our records shape), for the import tests and example."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._sample import _EXPORT_LABELS, _FAMILY, _GIVEN, _SITES, make_sample


def make_practice_export(n_episodes: int = 300, *, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic export in a practice-management system's shape (not ours).

    Built from :func:`make_sample` and reshaped as a clinic's system would
    export it: a case file with "Case ID", "Patient MRN", names, dates of birth,
    phone numbers, notes, calendar dates written dd/mm/yyyy, labels instead of
    codes, "Yes"/"No"; and an appointment-level file with appointment dates and
    comma-separated treatment labels. Every person in it is invented.

    Returns
    -------
    cases, appointments : pandas.DataFrame
        All columns as text.

    Examples
    --------
    >>> from analysis.records import make_practice_export
    >>> cases, appts = make_practice_export(20, seed=1)
    >>> list(cases.columns[:3]), list(appts.columns[:2])
    (['Case ID', 'Patient MRN', 'Patient name'], ['Case ID', 'Appointment date'])
    """
    ep, vi, cat = make_sample(n_episodes, seed=seed)
    rng = np.random.default_rng(seed + 1)
    n = len(ep)
    start = pd.to_datetime(ep["start_date"])
    labels = dict(zip(cat["code"], cat["label"]))
    fmt = "%d/%m/%Y"

    def day_to_date(days):
        d = pd.to_numeric(days, errors="coerce")
        out = start + pd.to_timedelta(d.fillna(0).astype("int64"), unit="D")
        return out.dt.strftime(fmt).where(d.notna().to_numpy(), "")

    low = np.array([int(b.split("-")[0].rstrip("+")) for b in ep["age_band"]])
    age = low + rng.integers(0, 10, n)
    dob = start - pd.to_timedelta(age * 365.25 + rng.integers(1, 300, n), unit="D")
    patients = {p: i for i, p in enumerate(dict.fromkeys(ep["patient_id"]))}
    pidx = ep["patient_id"].map(patients).to_numpy()
    names = np.array([f"{_GIVEN[i % len(_GIVEN)]} {_FAMILY[(i * 7) % len(_FAMILY)]}" for i in range(len(patients))])
    therapists = {t: f"{_GIVEN[(k * 5 + 3) % len(_GIVEN)]} {_FAMILY[(k * 3 + 1) % len(_FAMILY)]}"
                  for k, t in enumerate(sorted(ep["therapist"].dropna().unique()))}
    gc = ep["global_change"]
    cases = pd.DataFrame({
        "Case ID": [f"C{2024000 + i:07d}" for i in range(n)],
        "Patient MRN": [f"MRN{3000000 + k:07d}" for k in pidx],
        "Patient name": names[pidx],
        "Date of birth": dob.dt.strftime(fmt),
        "Phone": [f"020 7946 {i % 1000:04d}" for i in pidx],
        "Sex": ep["sex"].map(_EXPORT_LABELS["sex"]),
        "Site": ep["clinic"].map(_SITES),
        "Practitioner": ep["therapist"].map(therapists).fillna(""),
        "First appointment": start.dt.strftime(fmt),
        "Affected side": ep["side"].map(_EXPORT_LABELS["side"]),
        "Diagnosis": ep["cause"].map(_EXPORT_LABELS["cause"]),
        "Symptom duration (weeks)": ep["symptom_weeks"].astype(str),
        "Surgical candidate": np.where(ep["surgical_candidate"], "Yes", "No"),
        "Primary treatment": ep["modality"].map(labels),
        "Discharge date": day_to_date(ep["discharge_day"]),
        "Discharge reason": ep["discharge_reason"].fillna("ongoing").map(_EXPORT_LABELS["discharge_reason"]),
        "Global change at discharge": [_EXPORT_LABELS["global_change"][int(v)] if pd.notna(v) else "" for v in gc],
        "Spinal surgery": np.where(ep["surgery"], "Yes", "No"),
        "Surgery date": day_to_date(ep["surgery_day"]),
        "Last contact": day_to_date(ep["followup_day"]),
        "Notes": np.where(rng.random(n) < 0.3, "Called to rebook; prefers mornings", ""),
    })
    case_of = dict(zip(ep["episode_id"], cases["Case ID"]))
    start_of = dict(zip(ep["episode_id"], start))
    vstart = vi["episode_id"].map(start_of)
    appts = pd.DataFrame({
        "Case ID": vi["episode_id"].map(case_of),
        "Appointment date": (vstart + pd.to_timedelta(vi["day"].astype("int64"), unit="D")).dt.strftime(fmt),
        "Leg pain (0-10)": vi["leg_pain"].astype("string").fillna(""),
        "Back pain (0-10)": vi["back_pain"].astype("string").fillna(""),
        "ODI (%)": vi["odi"].astype("string").fillna(""),
        "Treatments": [", ".join(labels[c] for c in str(m).split(";")) if isinstance(m, str) and m else ""
                       for m in vi["modalities"]],
        "Clinician note": "",
    })
    return cases.astype("str"), appts.astype("str")


