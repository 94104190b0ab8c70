"""Synthetic sciatica records for the sample folder, tests and benchmarks.

Nothing here describes a real patient. The generator is vectorised (numpy):
a million episodes and their six to eight million visits take seconds.
Every parameter below carries its source; ``[E]`` marks our own estimate where
the literature gave none (see ``../shared/reference/clinical-facts.md``).

Built-in structure, so that the analyses have something true to find:

- **Modest modality effects** on leg pain at 6-12 weeks (``LEG_PAIN_EFFECT``,
  negative = better, versus motor control exercise), literature-sized: within
  about one NRS point [E, clinical-facts section 8; Dove 2023].
- **Confounding by indication**: severer and more chronic patients and surgical
  candidates are steered to passive modalities (traction, electrotherapy,
  manual therapy, dry needling); milder patients and "centralisers" to
  McKenzie and education [E, clinical-facts section 7]. Severity also worsens
  prognosis, so crude comparisons flatter McKenzie and penalise traction;
  case-mix adjustment removes most of that.
- **Surgery** in about a fifth of surgical candidates within a year and
  1-2 % of the rest [clinical-facts section 4: 30-48 % in hospital-recruited
  candidates is an upper bound; 3-8 % of an unselected caseload]; modality
  hazard ratios 0.9-1.1 [E].
- **Missing discharge global change** in about 30 % [clinical-facts section 5,
  E], more for self-discharged and younger patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ._output import OUTPUT_FILES, check_output_folder, mark_output_folder
from .schema import AGE_BANDS, CAUSES

__all__ = ["MODALITY_CATALOGUE", "SampleParameters", "make_sample", "write_sample"]


@dataclass(frozen=True)
class _Modality:
    code: str
    label: str
    description: str
    leg_pain_effect: float  # NRS points at 6-12 weeks vs motor control; negative = better
    surgery_hr: float
    severity_pull: float  # how strongly severe cases are steered here (confounding)


#: The nine modalities, their leg-pain effects and surgery hazard ratios [E, clinical-facts section 8].
MODALITY_CATALOGUE: tuple[_Modality, ...] = (
    _Modality("dry_needling", "Dry needling", "Intramuscular needling of myofascial trigger points.", -0.2, 1.0, 0.5),
    _Modality("education", "Education and advice", "Explanation, reassurance and advice to stay active.", 0.5, 1.1, -0.6),
    _Modality("electrotherapy", "Electrotherapy (TENS)", "TENS, interferential or other electrical stimulation.", 0.2, 1.05, 0.8),
    _Modality("manual_therapy", "Manual therapy", "Mobilisation or manipulation within an exercise package.", -0.3, 0.95, 0.6),
    _Modality("mckenzie", "McKenzie (MDT)", "Mechanical diagnosis and therapy; directional-preference exercise.", -0.4, 0.9, -0.7),
    _Modality("motor_control", "Motor control exercise", "Graded trunk motor control and general exercise.", 0.0, 1.0, 0.0),
    _Modality("neural_mobilisation", "Neural mobilisation", "Neurodynamic sliders and tensioners.", -0.3, 0.95, 0.2),
    _Modality("pilates", "Clinical Pilates", "Therapist-led Pilates-based exercise.", 0.0, 1.0, -0.3),
    _Modality("traction", "Traction", "Mechanical lumbar traction.", 0.1, 1.1, 1.0),
)


@dataclass(frozen=True)
class SampleParameters:
    """Knobs of the generator, with their sources.

    Attributes
    ----------
    first_start, last_start : str
        Period of start dates (two years).
    data_date : str
        Day the extract was taken; follow-up cannot pass it.
    clinics : tuple of str
        Site codes, with ``clinic_weights``.
    baseline_leg_pain_mean, baseline_leg_pain_sd : float
        Intake leg NRS 6.0-6.5, SD 1.8-2.0 [E, clinical-facts section 8; ATLAS 5.2 (2.4)].
    natural_improvement : float
        Shared fall by 12 weeks before prognosis penalties (which average about
        -0.8), giving the about 3 NRS points of clinical-facts section 8 [E; Vroomen 1999].
    missing_global_change : float
        Share of discharged episodes without a global change, about 0.30
        [E, section 5 loss to follow-up 15-40 %].
    candidate_surgery_year : float
        Approximate one-year surgery risk of surgical candidates (0.10-0.35
        per the product spec; hospital cohorts 30-48 % are an upper bound,
        Peul 2007, Weinstein 2006).
    lost_to_followup : float
        Share whose surgery status is last known before the data date.
    """

    first_start: str = "2024-01-01"
    last_start: str = "2025-12-31"
    data_date: str = "2026-03-31"
    clinics: tuple[str, ...] = ("CEN", "NTH", "STH")
    clinic_weights: tuple[float, ...] = (0.35, 0.45, 0.20)
    baseline_leg_pain_mean: float = 6.3
    baseline_leg_pain_sd: float = 1.9
    natural_improvement: float = 3.8
    missing_global_change: float = 0.30
    candidate_surgery_year: float = 0.20
    lost_to_followup: float = 0.10


def _age_band(age: np.ndarray) -> np.ndarray:
    idx = np.clip((age.astype(int) - 20) // 10, 0, 7)  # 18-29 -> 0, 30-39 -> 1, ..., 90+ -> 7
    return np.asarray(AGE_BANDS, dtype=object)[idx]


def _choice(rng: np.random.Generator, options, p, size) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=size, p=np.asarray(p) / np.sum(p))]


def _categorical_rows(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One category per row from row-wise logits (Gumbel-max trick)."""
    g = rng.gumbel(size=logits.shape)
    return np.argmax(logits + g, axis=1)


def make_sample(n_episodes: int = 1500, *, seed: int = 2024, params: SampleParameters | None = None):
    """Generate synthetic episodes, visits and the modality catalogue.

    Parameters
    ----------
    n_episodes : int
        Number of episodes.
    seed : int, keyword-only
        Seed of numpy's PCG64 generator; the same seed gives the same data.
    params : SampleParameters, optional, keyword-only

    Returns
    -------
    episodes, visits, modalities : pandas.DataFrame
        Tables in the shape of the records contract.

    Examples
    --------
    >>> from analysis.records import make_sample
    >>> ep, vi, cat = make_sample(200, seed=1)
    >>> len(ep), len(cat), bool(vi.groupby("episode_id").size().median() >= 4)
    (200, 9, True)
    """
    p = params or SampleParameters()
    rng = np.random.default_rng(seed)
    n = int(n_episodes)
    mods = MODALITY_CATALOGUE
    k = len(mods)

    # --- who the patients are
    first = np.datetime64(p.first_start)
    span = int((np.datetime64(p.last_start) - first).astype(int)) + 1
    start = np.sort(first + rng.integers(0, span, size=n).astype("timedelta64[D]"))
    data_date = np.datetime64(p.data_date)
    clinic_idx = rng.choice(len(p.clinics), size=n, p=np.asarray(p.clinic_weights) / sum(p.clinic_weights))
    age = np.clip(rng.normal(50.0, 14.0, n), 18, 97)  # ATLAS 50.2 (13.9) [S]
    sex = _choice(rng, ("female", "male", "other", "unknown"), (0.58, 0.40, 0.005, 0.015), n)  # ATLAS 62.6 % female [S]
    side = _choice(rng, ("left", "right", "bilateral"), (0.46, 0.46, 0.08), n)
    cause_p = (0.55, 0.12, 0.08, 0.06, 0.05, 0.03, 0.06, 0.05)
    cause = _choice(rng, CAUSES, cause_p, n)
    symptom_weeks = np.clip(np.round(rng.lognormal(np.log(8.0), 0.9, n)), 0, 520).astype(int)
    chronic = symptom_weeks > 12
    severity = rng.normal(0.0, 1.0, n)  # latent severity
    leg0 = np.clip(np.round(p.baseline_leg_pain_mean + 0.75 * p.baseline_leg_pain_sd * severity
                            + rng.normal(0, 0.66 * p.baseline_leg_pain_sd, n)), 0, 10)
    back0 = np.clip(np.round(4.8 + 0.8 * severity + rng.normal(0, 1.9, n)), 0, 10)
    odi0 = np.clip(np.round((40 + 8 * severity + rng.normal(0, 13, n)) / 2) * 2, 0, 100)
    stenosis = np.isin(cause, ("foraminal_stenosis", "central_stenosis", "spondylolisthesis"))
    cand_lp = -1.45 + 0.85 * severity + 0.45 * chronic + 0.4 * stenosis - 1.5 * (cause == "piriformis")
    candidate = rng.random(n) < 1 / (1 + np.exp(-cand_lp))

    # --- which modality (confounding by indication, clinic preferences)
    pull = np.array([m.severity_pull for m in mods])
    clinic_pref = rng.normal(0, 0.35, size=(len(p.clinics), k))
    clinic_pref[:, [mods.index(m) for m in mods if m.code == "traction"]] -= 0.3
    logits = (clinic_pref[clinic_idx]
              + np.outer(severity, pull) * 0.9
              + np.outer(chronic, np.where(pull > 0, 0.4, -0.2))
              + np.outer(candidate, np.where(pull > 0.4, 0.5, 0.0)))
    modality_idx = _categorical_rows(rng, logits)
    effect = np.array([m.leg_pain_effect for m in mods])[modality_idx]
    surgery_hr = np.array([m.surgery_hr for m in mods])[modality_idx]

    # --- visits: median about 6, IQR 4-9, range 1-20 [S: Swinkels 2005, Jette 1994; E]
    mean_visits = 6.4 + 1.2 * chronic + 0.5 * np.clip(severity, -1, 2)
    nb_r = 4.0
    planned = 1 + rng.negative_binomial(nb_r, nb_r / (nb_r + mean_visits - 1), n)
    planned = np.clip(planned, 1, 20)
    gaps_scale = rng.uniform(4.0, 10.0, n)  # days between sessions vary by patient

    # --- recovery trajectory
    prognosis = -0.4 * (age > 40) - 0.6 * chronic - 0.5 * (back0 >= 7) - 0.3 * stenosis
    amount = (0.45 * leg0 + (p.natural_improvement - 0.45 * p.baseline_leg_pain_mean)
              + prognosis - effect + rng.normal(0, 1.2, n))
    tau = 28.0  # days; most change within 6-12 weeks [E]

    # --- surgery (Weibull, shape 0.8), candidates about p.candidate_surgery_year by 1 year
    shape = 0.8
    base_rate = np.where(candidate, -np.log(1 - p.candidate_surgery_year), -np.log(1 - 0.015))
    lp = np.log(surgery_hr) + 0.25 * severity + 0.3 * (cause == "central_stenosis") - 0.1 * (amount - 3)
    u = rng.random(n)
    surg_time = 365.0 * (-np.log(u) / (base_rate * np.exp(lp))) ** (1 / shape)
    surg_time = np.maximum(np.round(surg_time), 7)

    # visits per episode, truncated at surgery and at the data date
    total = int(planned.sum())
    ep_of = np.repeat(np.arange(n), planned)
    starts = np.cumsum(planned) - planned
    visit_no = np.arange(total) - np.repeat(starts, planned) + 1
    gaps = np.round(rng.gamma(2.0, 1.0, total) * np.repeat(gaps_scale, planned) / 2.0 + 2.0)
    gaps[visit_no == 1] = 0
    cum = np.cumsum(gaps)
    day = (cum - np.repeat(cum[starts], planned)).astype(int)
    days_available = (data_date - start).astype(int)
    keep = (day < surg_time[ep_of]) & (day <= days_available[ep_of])
    keep |= visit_no == 1
    ep_of, visit_no, day = ep_of[keep], visit_no[keep], day[keep]
    n_vis = np.bincount(ep_of, minlength=n)
    last_day = np.zeros(n, dtype=int)
    np.maximum.at(last_day, ep_of, day)

    # trajectories (visit 1 = intake values)
    frac = 1 - np.exp(-day / tau)
    noise = rng.normal(0, 0.8, len(day))
    leg = np.clip(np.round(leg0[ep_of] - amount[ep_of] * frac + noise * (visit_no > 1)), 0, 10)
    back = np.clip(np.round(back0[ep_of] - 0.35 * back0[ep_of] * frac * (amount[ep_of] / 3).clip(0, 2)
                            + rng.normal(0, 0.8, len(day)) * (visit_no > 1)), 0, 10)
    odi = np.clip(np.round((odi0[ep_of] - 4.5 * amount[ep_of] * frac + rng.normal(0, 4, len(day)) * (visit_no > 1)) / 2) * 2, 0, 100)
    last_visit = np.r_[ep_of[1:] != ep_of[:-1], True]
    records_odi = rng.random(n) < np.array([0.8, 0.75, 0.15])[clinic_idx]  # some clinics rarely use ODI [E]
    odi_this = records_odi[ep_of] & ((visit_no == 1) | last_visit | (visit_no % 3 == 0))
    leg_missing = rng.random(len(day)) < np.where(visit_no == 1, 0.01, 0.05)
    back_missing = rng.random(len(day)) < 0.08

    # --- discharge, global change, follow-up
    max_fu = np.minimum(days_available, 730)
    surgery_in_fu = surg_time <= max_fu
    stopped_by_surgery = surgery_in_fu & (n_vis < planned) & (surg_time <= last_day + 60)
    recent = (days_available - last_day) < 21
    ongoing = recent & (n_vis < planned) & ~stopped_by_surgery
    final_leg = leg0 - amount * (1 - np.exp(-last_day / tau))
    improvement = (leg0 - final_leg) / np.maximum(leg0, 1)
    reason = np.where(improvement > 0.35, "goals_met", "plateau").astype(object)
    self_dis = rng.random(n) < 0.14
    reason[self_dis] = "self_discharged"
    reason[stopped_by_surgery] = "referred"
    reason[ongoing] = "ongoing"
    reason[rng.random(n) < 0.03] = None  # reason not recorded
    discharge_day = np.where(ongoing, -1, last_day)
    gc_latent = 4 + 4.2 * improvement + rng.normal(0, 0.9, n)
    global_change = np.clip(np.round(gc_latent), 1, 7).astype(int)
    p_missing = p.missing_global_change + 0.25 * self_dis + 0.08 * (age < 40) - 0.06
    gc_missing = (rng.random(n) < p_missing) | ongoing
    lost = rng.random(n) < p.lost_to_followup
    followup = max_fu.copy()
    lost_fu = discharge_day + np.round(rng.random(n) * (max_fu - np.maximum(discharge_day, 0)))
    followup = np.where(lost & ~ongoing, lost_fu, followup).astype(int)
    followup = np.maximum(followup, last_day)
    surgery = surg_time <= followup
    surgery_day = np.where(surgery, surg_time, -1).astype(int)

    # --- ids, therapists
    order = rng.permutation(n)
    patient_num = 100000 + order
    repeat = rng.random(n) < 0.08
    earlier = np.maximum(np.arange(n) - rng.integers(1, 200, n), 0)
    patient_num = np.where(repeat & (np.arange(n) > 0), patient_num[earlier], patient_num)
    sex = np.where(repeat & (np.arange(n) > 0), sex[earlier], sex)
    therapist_no = rng.integers(1, 5, n)
    therapist = np.char.add(np.char.add(np.asarray(p.clinics)[clinic_idx].astype(str), "-T"), therapist_no.astype(str))
    therapist = np.where(rng.random(n) < 0.04, None, therapist.astype(object))

    ep_ids = np.char.add("E", np.char.zfill(np.arange(1, n + 1).astype(str), 6)).astype(object)
    codes = np.array([m.code for m in mods], dtype=object)

    def intcol(values, missing_mask):
        return pd.Series(values, dtype="Int64").mask(missing_mask)

    episodes = pd.DataFrame({
        "episode_id": ep_ids,
        "patient_id": np.char.add("P", patient_num.astype(str)).astype(object),
        "clinic": np.asarray(p.clinics, dtype=object)[clinic_idx],
        "therapist": therapist,
        "start_date": pd.Series(start.astype("datetime64[s]")).dt.strftime("%Y-%m-%d"),
        "age_band": _age_band(age),
        "sex": sex,
        "side": side,
        "cause": cause,
        "symptom_weeks": symptom_weeks,
        "surgical_candidate": candidate,
        "modality": codes[modality_idx],
        "discharge_day": intcol(discharge_day, discharge_day < 0),
        "discharge_reason": reason,
        "global_change": intcol(global_change, gc_missing),
        "surgery": surgery,
        "surgery_day": intcol(surgery_day, surgery_day < 0),
        "followup_day": followup,
    })
    for col in ("episode_id", "patient_id", "clinic", "therapist", "age_band", "sex", "side", "cause", "modality", "discharge_reason"):
        episodes[col] = episodes[col].astype("str")

    # session modality lists: the primary code, sometimes with education or exercise added
    extras = np.array(["", ";education", ";motor_control"], dtype=object)
    extra_idx = rng.choice(3, size=len(day), p=(0.8, 0.12, 0.08))
    primary = codes[modality_idx][ep_of]
    same = (primary == "education") & (extra_idx == 1) | (primary == "motor_control") & (extra_idx == 2)
    extra_idx[same] = 0
    combos = pd.Series(modality_idx[ep_of] * 3 + extra_idx)
    combo_text = pd.Series([c + e for c in codes for e in extras], dtype="str")
    session_mods = combo_text.reindex(combos.to_numpy()).reset_index(drop=True)
    session_mods[rng.random(len(day)) < 0.02] = None

    visits = pd.DataFrame({
        "episode_id": pd.Series(ep_ids[ep_of], dtype="str"),
        "visit_no": visit_no.astype(int),
        "day": day.astype(int),
        "leg_pain": intcol(leg.astype(int), leg_missing),
        "back_pain": intcol(back.astype(int), back_missing),
        "odi": intcol(odi.astype(int), ~odi_this),
        "modalities": session_mods,
    })
    catalogue = pd.DataFrame({
        "code": [m.code for m in mods],
        "label": [m.label for m in mods],
        "description": [m.description for m in mods],
    }).astype("str")
    return episodes, visits, catalogue


def write_sample(out, n_episodes: int = 1500, *, seed: int = 2024, fmt: str = "csv",
                 force: bool = False) -> dict[str, int]:
    """Generate a sample and write it as a data folder.

    Parameters
    ----------
    out : str or pathlib.Path
        Folder to write (created if needed).
    n_episodes : int
    seed : int, keyword-only
    fmt : {"csv", "parquet"}, keyword-only
        Format of ``episodes`` and ``visits``; the catalogue is always CSV.
    force : bool, keyword-only
        Replace a folder that is not empty: only one ``sample`` wrote before,
        holding nothing else (an existing data folder is never overwritten).

    Returns
    -------
    dict
        Row counts written per table.

    Examples
    --------
    >>> import tempfile
    >>> from analysis.records import write_sample
    >>> write_sample(tempfile.mkdtemp(), 100, seed=3)["episodes"]
    100
    """
    out = check_output_folder(out, command="sample", force=force, in_place=True)
    episodes, visits, catalogue = make_sample(n_episodes, seed=seed)
    if out.exists():  # a folder sample wrote before: its own tables go, anything else (a data card) stays
        for old in out.iterdir():
            if old.name in OUTPUT_FILES and old.is_file():
                old.unlink()
    out.mkdir(parents=True, exist_ok=True)
    mark_output_folder(out, command="sample")
    for name, df in (("episodes", episodes), ("visits", visits), ("modalities", catalogue)):
        table = pa.Table.from_pandas(df, preserve_index=False)
        if fmt == "parquet" and name != "modalities":
            pq.write_table(table, out / f"{name}.parquet")
        else:
            pacsv.write_csv(table, out / f"{name}.csv", write_options=pacsv.WriteOptions(quoting_style="needed"))
    return {"episodes": len(episodes), "visits": len(visits), "modalities": len(catalogue)}


# ----------------------------------------------------------------- a practice-management export

_GIVEN = ("Alex", "Sam", "Jordan", "Priya", "Wei", "Aisha", "Tom", "Maria", "Liam", "Chloe", "Ravi", "Mei")
_FAMILY = ("Morgan", "Patel", "Tan", "Okafor", "Smith", "Nguyen", "Kowalski", "Hughes", "Lim", "Byrne")
_SITES = {"CEN": "Central Clinic", "NTH": "North Clinic", "STH": "South Clinic"}
_EXPORT_LABELS = {
    "sex": {"female": "F", "male": "M", "other": "Other", "unknown": "Not stated"},
    "side": {"left": "Left", "right": "Right", "bilateral": "Both legs"},
    "cause": {"disc_herniation": "Disc prolapse", "foraminal_stenosis": "Foraminal stenosis",
              "central_stenosis": "Central canal stenosis", "spondylolisthesis": "Spondylolisthesis",
              "piriformis": "Piriformis syndrome", "trauma": "Trauma", "other": "Other", "unknown": "Not recorded"},
    "discharge_reason": {"goals_met": "Goals achieved", "plateau": "Plateaued", "referred": "Referred on",
                         "self_discharged": "Did not return", "ongoing": ""},
    "global_change": {7: "Completely recovered", 6: "Much improved", 5: "Slightly improved", 4: "No change",
                      3: "Slightly worse", 2: "Much worse", 1: "Worse than ever"},
}


