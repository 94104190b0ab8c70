"""A synthetic practice-management export (not in our records shape), for the import tests and example."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._sample import _EXPORT_LABELS, _FAMILY, _GIVEN, _SITES, make_sample


def _day_to_date(start: pd.Series, days, fmt: str) -> pd.Series:
    """A day number from the start date written as a calendar date in *fmt* ("" where there is none)."""
    d = pd.to_numeric(days, errors="coerce")
    out = start + pd.to_timedelta(d.fillna(0).astype("int64"), unit="D")
    return out.dt.strftime(fmt).where(d.notna().to_numpy(), "")


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
        return _day_to_date(start, days, fmt)

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




# ----------------------------------------------------------------- a German practice system's export

#: German labels as a German practice system might write them (all invented), with our codes.
PRAXIS_LABELS = {
    "sex": {"female": "w", "male": "m", "other": "d", "unknown": "k.A."},
    "side": {"left": "links", "right": "rechts", "bilateral": "beidseits"},
    "cause": {"disc_herniation": "Bandscheibenvorfall", "foraminal_stenosis": "Foramenstenose",
              "central_stenosis": "Spinalkanalstenose", "spondylolisthesis": "Spondylolisthese",
              "piriformis": "Piriformis-Syndrom", "trauma": "Trauma", "other": "Sonstige", "unknown": "k.A."},
    "discharge_reason": {"goals_met": "Ziel erreicht", "plateau": "Plateau", "referred": "Überweisung",
                         "self_discharged": "Nicht mehr erschienen", "ongoing": "laufend"},
    "global_change": {7: "Vollständig erholt", 6: "Deutlich besser", 5: "Etwas besser", 4: "Unverändert",
                      3: "Etwas schlechter", 2: "Deutlich schlechter", 1: "Schlechter als je zuvor"},
    "modality": {"dry_needling": "Dry Needling", "education": "Edukation und Beratung",
                 "electrotherapy": "Elektrotherapie (TENS)", "manual_therapy": "Manuelle Therapie",
                 "mckenzie": "McKenzie (MDT)", "motor_control": "Motorische Kontrolle",
                 "neural_mobilisation": "Neuromobilisation", "pilates": "Klinisches Pilates",
                 "traction": "Traktion"},
    "clinic": {"CEN": "Praxis Mitte", "NTH": "Praxis Nord", "STH": "Praxis Süd"},
}
_VORNAMEN = ("Anna", "Jürgen", "Lena", "Mehmet", "Sophie", "Lukas", "Zoë", "Hans", "Jana", "Ömer", "Greta", "Felix")
_NACHNAMEN = ("Müller", "Schäfer", "Weiß", "Yildiz", "Becker", "Groß", "Hoffmann", "Krüger", "Zimmermann", "Öztürk")


def make_praxis_export(n_episodes: int = 240, *, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic export of another shape: a German practice system's (every person invented).

    Built from :func:`make_sample` like :func:`make_practice_export`, but shaped as a German system
    writes it: ``Faelle`` (cases) with long numeric patient numbers, names with umlauts, dates
    written 31.12.2025, German labels ("k.A." for not recorded, ja/nein, an empty "Operation" cell
    meaning no) and no start-date column; ``Termine`` (appointments) newest first, with times of day
    ("14.03.2025 09:30"), "k.A." for a pain score not asked, ODI with a decimal comma ("26,0") and one
    column per treatment ("Behandlung: Manuelle Therapie") ticked ``x``. Written with
    :func:`write_praxis_export` as Excel writes CSV in a German locale: ``;``-separated Windows-1252.

    Returns
    -------
    faelle, termine : pandas.DataFrame
        All columns as text.

    Examples
    --------
    >>> from analysis.records import make_praxis_export
    >>> faelle, termine = make_praxis_export(20, seed=1)
    >>> list(faelle.columns[:2]), termine.columns[5]
    (['Fall-Nr', 'Patienten-Nr'], 'Behandlung: Dry Needling')
    """
    ep, vi, _ = make_sample(n_episodes, seed=seed)
    rng = np.random.default_rng(seed + 2)
    n = len(ep)
    start = pd.to_datetime(ep["start_date"])
    fmt = "%d.%m.%Y"
    lab = PRAXIS_LABELS

    def day_to_date(days):
        return _day_to_date(start, days, fmt)

    low = np.array([int(b.split("-")[0].rstrip("+")) for b in ep["age_band"]])
    dob = start - pd.to_timedelta((low + rng.integers(0, 10, n)) * 365.25 + rng.integers(1, 300, n), unit="D")
    patients = {p: i for i, p in enumerate(dict.fromkeys(ep["patient_id"]))}
    pidx = ep["patient_id"].map(patients).to_numpy()
    therapists = {t: f"{_VORNAMEN[(k * 5 + 1) % len(_VORNAMEN)]} {_NACHNAMEN[(k * 3 + 2) % len(_NACHNAMEN)]}"
                  for k, t in enumerate(sorted(ep["therapist"].dropna().unique()))}
    surgery = np.where(ep["surgery"], "ja", np.where(rng.random(n) < 0.3, "", "nein"))  # empty = no operation
    faelle = pd.DataFrame({
        "Fall-Nr": [f"{2024100 + 7 * i}" for i in range(n)],
        "Patienten-Nr": [f"{4711000000 + 37 * k}" for k in pidx],
        "Name": [_NACHNAMEN[(k * 7) % len(_NACHNAMEN)] for k in pidx],
        "Vorname": [_VORNAMEN[k % len(_VORNAMEN)] for k in pidx],
        "Geburtsdatum": dob.dt.strftime(fmt),
        "Geschlecht": ep["sex"].map(lab["sex"]),
        "Standort": ep["clinic"].map(lab["clinic"]),
        "Therapeut": ep["therapist"].map(therapists).fillna(""),
        "Seite": ep["side"].map(lab["side"]),
        "Diagnose": ep["cause"].map(lab["cause"]),
        "Beschwerdedauer (Wochen)": ep["symptom_weeks"].astype(str),
        "OP-Empfehlung": np.where(ep["surgical_candidate"], "ja", "nein"),
        "Hauptbehandlung": ep["modality"].map(lab["modality"]),
        "Entlassdatum": day_to_date(ep["discharge_day"]),
        "Entlassgrund": ep["discharge_reason"].map(lab["discharge_reason"]).fillna(""),
        "Globale Veränderung": [lab["global_change"][int(v)] if pd.notna(v) else "" for v in ep["global_change"]],
        "Operation": surgery,
        "OP-Datum": day_to_date(ep["surgery_day"]),
        "Letzter Kontakt": day_to_date(ep["followup_day"]),
        "Bemerkung": np.where(rng.random(n) < 0.25, "Rückruf erbeten; Termine nur vormittags", ""),
    })
    case_of = dict(zip(ep["episode_id"], faelle["Fall-Nr"]))
    vstart = vi["episode_id"].map(dict(zip(ep["episode_id"], start)))
    minutes = pd.to_timedelta(rng.integers(16, 37, len(vi)) * 30, unit="min")  # 08:00 to 18:00, half-hourly
    when = vstart + pd.to_timedelta(vi["day"].astype("int64"), unit="D") + minutes
    asked = rng.random(len(vi)) < 0.9

    def score(s):
        return np.where(s.notna() | ~asked, s.astype("string").fillna(""), "k.A.")

    termine = pd.DataFrame({
        "Fall-Nr": vi["episode_id"].map(case_of),
        "Termin": when.dt.strftime("%d.%m.%Y %H:%M"),
        "Beinschmerz (NRS)": score(vi["leg_pain"]),
        "Rückenschmerz (NRS)": score(vi["back_pain"]),
        "ODI (%)": [f"{v:.1f}".replace(".", ",") if pd.notna(v) else "" for v in vi["odi"]],
    })
    given = vi["modalities"].fillna("").str.split(";")
    for code, label in lab["modality"].items():
        termine[f"Behandlung: {label}"] = np.where(given.map(lambda c, code=code: code in c), "x", "")
    termine["Notiz"] = ""
    order = np.argsort(-when.to_numpy().astype("int64"), kind="stable")  # newest first, as the system lists them
    termine = termine.iloc[order].reset_index(drop=True)
    return faelle.astype("str"), termine.astype("str")


def write_praxis_export(folder, n_episodes: int = 240, *, seed: int = 11) -> None:
    """Write :func:`make_praxis_export` as ``Faelle.csv`` and ``Termine.csv``: ``;``-separated,
    Windows-1252, Windows line ends (what Excel's "CSV (Trennzeichen-getrennt)" writes)."""
    from pathlib import Path

    folder = Path(folder)
    faelle, termine = make_praxis_export(n_episodes, seed=seed)
    for name, df in (("Faelle.csv", faelle), ("Termine.csv", termine)):
        df.to_csv(folder / name, sep=";", index=False, encoding="cp1252", lineterminator="\r\n")
