"""De-identification (spec section 8): pseudonyms, ages, dates, refusal, atomic output, k-anonymity."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

import numpy as np
import pandas as pd
import pytest

from analysis import load_records, validate_folder
from analysis.app.cli import main
from analysis.records import MARKER, OutputFolderError
from analysis.methods import summarise
from analysis.records import (
    KeyFileError,
    age_band_at,
    anonymise,
    k_anonymity,
    new_key,
    pseudonym,
    read_key,
    shift_days,
)

KEY = b"0123456789abcdef0123456789abcdef"
OTHER = b"fedcba9876543210fedcba9876543210"


def _dob_for(band: str, start: str, rng) -> str:
    low = 90 if band == "90+" else int(band.split("-")[0])
    high = 95 if band == "90+" else int(band.split("-")[1])
    age = int(rng.integers(low, high + 1))
    s = pd.Timestamp(start)
    return (s - pd.DateOffset(years=age) - pd.Timedelta(days=int(rng.integers(1, 300)))).strftime("%Y-%m-%d")


@pytest.fixture
def raw(tmp_path, small_tables):
    """A raw export: the contract plus names, DOB, NRIC/NHS numbers, phone, e-mail, address, notes, MRNs."""
    ep, vi, cat = (t.copy() for t in small_tables)
    rng = np.random.default_rng(3)
    mrn = {p: f"MRN-{i:07d}" for i, p in enumerate(ep["patient_id"].unique())}
    eid = {e: f"EPI {i:05d}" for i, e in enumerate(ep["episode_id"])}
    ep["patient_id"] = ep["patient_id"].map(mrn)
    ep["episode_id"] = ep["episode_id"].map(eid)
    vi["episode_id"] = vi["episode_id"].map(eid)
    n = len(ep)
    ep["name"] = [f"Patient Number{i}" for i in range(n)]
    ep["date_of_birth"] = [_dob_for(b, s, rng) for b, s in zip(ep["age_band"], ep["start_date"])]
    ep = ep.drop(columns=["age_band"])
    ep["nric"] = "S1234567D"
    ep["nhs_number"] = "943 476 5870"
    ep["phone"] = "020 7946 0018"
    ep["email"] = "someone@example.org"
    ep["address"] = "12 Baker Street"
    ep["postcode"] = "SW1A 1AA"
    ep["notes"] = "Lives with daughter; call before visiting"
    folder = tmp_path / "raw"
    folder.mkdir()
    ep.to_csv(folder / "episodes.csv", index=False)
    vi.to_csv(folder / "visits.csv", index=False)
    cat.to_csv(folder / "modalities.csv", index=False)
    return folder


def _hashes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_round_trip_raw_to_summary(raw, tmp_path, small_tables):
    before = _hashes(raw)
    res = anonymise(raw, tmp_path / "out", key=KEY)
    assert res.written, res.problems
    assert _hashes(raw) == before  # RAW never touched
    assert validate_folder(tmp_path / "out") == []
    rec = load_records(tmp_path / "out")
    assert len(rec.episodes) == len(small_tables[0]) and len(rec.visits) == len(small_tables[1])
    doc = summarise(rec)
    assert doc["data"]["episodes"] == len(small_tables[0])
    text = "".join(p.read_text() for p in (tmp_path / "out").iterdir())
    for secret in ("MRN-", "EPI ", "S1234567D", "943 476 5870", "7946", "example.org", "Baker", "SW1A", "daughter",
                   "Patient Number"):
        assert secret not in text
    assert set(res.dropped["episodes.csv"]) == {"name", "date_of_birth", "nric", "nhs_number", "phone", "email",
                                                "address", "postcode", "notes"}


def test_pseudonyms_are_keyed_hmac_stable_and_key_sensitive(raw, tmp_path):
    anonymise(raw, tmp_path / "a", key=KEY)
    anonymise(raw, tmp_path / "b", key=KEY)
    anonymise(raw, tmp_path / "c", key=OTHER)
    a = pd.read_csv(tmp_path / "a" / "episodes.csv")
    b = pd.read_csv(tmp_path / "b" / "episodes.csv")
    c = pd.read_csv(tmp_path / "c" / "episodes.csv")
    assert a["patient_id"].tolist() == b["patient_id"].tolist()
    assert not set(a["patient_id"]) & set(c["patient_id"])
    expected = "P-" + hmac.new(KEY, b"patient:MRN0000000", hashlib.sha256).hexdigest()[:16]
    assert a["patient_id"].iloc[0] == expected
    # the visit -> episode link survives
    vis = pd.read_csv(tmp_path / "a" / "visits.csv")
    assert set(vis["episode_id"]) <= set(a["episode_id"])
    # a patient with several episodes keeps one pseudonym
    raw_ep = pd.read_csv(raw / "episodes.csv", dtype=str)
    assert raw_ep["patient_id"].nunique() == a["patient_id"].nunique()


def test_pseudonym_normalises_and_hides_the_id():
    t = pseudonym("mrn-001 234", KEY, kind="patient")
    assert t == pseudonym("MRN001234", KEY, kind="patient")
    assert "001234" not in t and len(t) == 18
    assert pseudonym("MRN001234", KEY, kind="episode") != t  # kinds are separated


@pytest.mark.parametrize("dob,start,band", [
    ("1935-06-02", "2025-06-01", "80-89"),   # 89, one day before turning 90
    ("1935-06-01", "2025-06-01", "90+"),     # birthday on the start date: 90
    ("1920-01-01", "2025-06-01", "90+"),     # 105
    ("1996-03-10", "2025-03-10", "18-29"),   # 29 on the day
    ("1995-03-10", "2025-03-10", "30-39"),   # 30 on the day
    ("2004-02-29", "2022-02-28", None),      # 17: the 29 February birthday is not reached on 28 February
    ("2004-02-29", "2022-03-01", "18-29"),   # 18 on 1 March
    ("2004-02-29", "2024-02-29", "18-29"),   # 20 on a real 29 February
])
def test_age_band_edges(dob, start, band):
    got = age_band_at([dob], [start]).iloc[0]
    assert (pd.isna(got) and band is None) or got == band


def test_under_18_is_refused_without_writing(raw, tmp_path):
    ep = pd.read_csv(raw / "episodes.csv", dtype=str)
    ep.loc[4, "date_of_birth"] = (pd.Timestamp(ep.loc[4, "start_date"]) - pd.DateOffset(years=16)).strftime("%Y-%m-%d")
    ep.to_csv(raw / "episodes.csv", index=False)
    res = anonymise(raw, tmp_path / "out", key=KEY)
    assert not res.written and not (tmp_path / "out").exists()
    assert str(res.problems[0]) == ("episodes.csv row 6, column date_of_birth: gives an age under 18 or an "
                                    "impossible date (value not shown)")


def test_dates_month_shift_keep(raw, tmp_path):
    raw_ep = pd.read_csv(raw / "episodes.csv", dtype=str)
    anonymise(raw, tmp_path / "m", key=KEY)
    m = pd.read_csv(tmp_path / "m" / "episodes.csv", dtype=str)
    assert (m["start_date"].str[8:] == "01").all()
    assert (m["start_date"].str[:7] == raw_ep["start_date"].str[:7]).all()
    anonymise(raw, tmp_path / "k", key=KEY, dates="keep")
    assert pd.read_csv(tmp_path / "k" / "episodes.csv", dtype=str)["start_date"].tolist() == raw_ep["start_date"].tolist()
    anonymise(raw, tmp_path / "s", key=KEY, dates="shift")
    s = pd.read_csv(tmp_path / "s" / "episodes.csv", dtype=str)
    offset = (pd.to_datetime(raw_ep["start_date"]) - pd.to_datetime(s["start_date"])).dt.days
    assert offset.between(0, 364).all()
    # one offset per patient: every within-patient interval is kept
    per_patient = offset.groupby(raw_ep["patient_id"]).nunique()
    assert (per_patient == 1).all()
    assert offset.nunique() > 10
    assert (offset == raw_ep["patient_id"].map(lambda p: shift_days(p, KEY))).all()


def test_identifier_left_in_a_kept_column_refuses_everything(raw, tmp_path):
    ep = pd.read_csv(raw / "episodes.csv", dtype=str)
    ep.loc[7, "therapist"] = "jo.bloggs@example.org"
    ep.to_csv(raw / "episodes.csv", index=False)
    out = tmp_path / "out"
    res = anonymise(raw, out, key=KEY)
    assert not res.written
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    msgs = [str(p) for p in res.problems]
    assert "episodes.csv row 9, column therapist: looks like an e-mail address; identifiers are refused (value not shown)" in msgs
    assert not any("bloggs" in m for m in msgs)


def test_cli_anonymise_refusal_exit_1_names_kind(raw, tmp_path, capsys):
    ep = pd.read_csv(raw / "episodes.csv", dtype=str)
    ep.loc[2, "therapist"] = "+44 20 7946 0018"
    ep.to_csv(raw / "episodes.csv", index=False)
    key = new_key(tmp_path / "k.key")
    assert main(["anonymise", str(raw), "-o", str(tmp_path / "out"), "--key-file", str(key)]) == 1
    out = capsys.readouterr().out
    assert "episodes.csv row 4, column therapist: looks like a phone number" in out and "7946" not in out
    assert "Nothing was written" in out and not (tmp_path / "out").exists()


def test_out_must_be_empty_unless_force(raw, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        anonymise(raw, out, key=KEY)
    # --force never replaces a folder the tool did not write (issue 21: it used to delete old.txt)
    with pytest.raises(OutputFolderError, match="replaces only a folder that physio-outcomes anonymise wrote"):
        anonymise(raw, out, key=KEY, force=True)
    assert (out / "old.txt").read_text() == "x"
    again = tmp_path / "again"
    assert anonymise(raw, again, key=KEY).written
    res = anonymise(raw, again, key=KEY, force=True)  # its own earlier output: replaced
    assert res.written and (again / "episodes.csv").exists() and (again / MARKER).exists()


def test_force_never_deletes_the_raw_export_or_anything_beside_it(raw, tmp_path):
    """anonymise RAW -o PARENT_OF_RAW --force deleted the raw export and a thesis beside it (issue 21, 1)."""
    parent = raw.parent
    (parent / "thesis.docx").write_bytes(b"years of work")
    before = sorted(p.name for p in raw.iterdir())
    with pytest.raises(OutputFolderError, match="must not contain raw"):
        anonymise(raw, parent, key=KEY, force=True)
    assert (parent / "thesis.docx").read_bytes() == b"years of work"
    assert sorted(p.name for p in raw.iterdir()) == before


def test_force_never_deletes_the_key_file(raw, tmp_path, capsys):
    """--new-key OUT/clinic.key then --force would delete the key: pseudonym linkage lost for good."""
    out = tmp_path / "anon"
    assert main(["anonymise", str(raw), "-o", str(out), "--new-key", str(tmp_path / "k1.key")]) == 0
    assert main(["anonymise", str(raw), "-o", str(out), "--new-key", str(out / "clinic.key"), "--force"]) == 2
    err = capsys.readouterr().err
    assert "must not contain clinic.key" in err and "Traceback" not in err
    assert (out / "clinic.key").exists()


def test_sample_refuses_a_data_folder_without_force(tmp_path, sample_dir, capsys):
    """sample -o EXISTING_DATA_FOLDER silently overwrote it (issue 21, 1)."""
    import shutil

    data = tmp_path / "clinic-data"
    shutil.copytree(sample_dir, data)
    (data / MARKER).unlink(missing_ok=True)
    before = (data / "episodes.csv").read_bytes()
    assert main(["sample", "-o", str(data), "--episodes", "20"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert main(["sample", "-o", str(data), "--episodes", "20", "--force"]) == 2
    assert "replaces only a folder that physio-outcomes sample wrote" in capsys.readouterr().err
    assert (data / "episodes.csv").read_bytes() == before
    mine = tmp_path / "mine"
    assert main(["sample", "-o", str(mine), "--episodes", "20"]) == 0
    (mine / "notes.md").write_text("kept")
    assert main(["sample", "-o", str(mine), "--episodes", "30", "--force"]) == 0
    assert (mine / "notes.md").read_text() == "kept"


def test_key_files(tmp_path):
    with pytest.raises(KeyFileError, match="key file not found"):
        read_key(tmp_path / "missing.key")
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    os.chmod(empty, 0o600)
    with pytest.raises(KeyFileError, match="is empty"):
        read_key(empty)
    loose = tmp_path / "loose.key"
    loose.write_text("a" * 64)
    os.chmod(loose, 0o644)
    with pytest.raises(KeyFileError, match="can be read or changed by other users, not only by you; restrict it first: chmod 600"):
        read_key(loose)
    os.chmod(loose, 0o640)  # group-readable: the README says 600, so it is refused too
    with pytest.raises(KeyFileError, match=r"can be read or changed by its group, not only by you; restrict it first: chmod 600 .*loose\.key"):
        read_key(loose)
    os.chmod(loose, 0o600)
    assert len(read_key(loose)) == 64
    k = new_key(tmp_path / "new.key")
    assert stat.S_IMODE(k.stat().st_mode) == 0o600 and len(read_key(k)) == 64
    with pytest.raises(KeyFileError, match="already exists"):
        new_key(k)
    assert read_key(new_key(tmp_path / "n2.key")) != read_key(k)


def test_cli_key_errors_exit_2(raw, tmp_path, capsys):
    assert main(["anonymise", str(raw), "-o", str(tmp_path / "o"), "--key-file", str(tmp_path / "nokey")]) == 2
    assert "key file not found" in capsys.readouterr().err
    assert main(["anonymise", str(raw), "-o", str(tmp_path / "o")]) == 2
    assert main(["anonymise", "--new-key", str(tmp_path / "fresh.key")]) == 0
    assert (tmp_path / "fresh.key").exists() and not (tmp_path / "o").exists()


def test_cli_anonymise_success_prints_k_anonymity(raw, tmp_path, capsys):
    code = main(["anonymise", str(raw), "-o", str(tmp_path / "out"), "--new-key", str(tmp_path / "k.key"),
                 "--dates", "shift"])
    assert code == 0
    out = capsys.readouterr().out
    assert "k-anonymity over age band, sex, clinic, cause and start month: k = " in out
    assert "Dropped from episodes.csv: name (name), date_of_birth (date)" in out
    assert "Warning: Some combinations" in out  # 200 episodes: small groups are unavoidable


def test_k_anonymity_counts():
    df = pd.DataFrame({"age_band": ["40-49"] * 6 + ["50-59"] * 2, "sex": "female", "clinic": "A", "cause": "other",
                       "start_date": ["2025-01-05"] * 8})
    k = k_anonymity(df)
    assert k == {"k": 2, "groups": 2, "episodes_below_5": 2, "warning": k["warning"]}
    assert "fewer than 5 episodes (the smallest by 2)" in k["warning"]
    assert k_anonymity(df.iloc[:6])["warning"] is None


def test_pseudonyms_never_look_like_identifiers():
    """Hexadecimal pseudonyms contain digit runs; none may trip the guard (found on the sample)."""
    from analysis.records import find_identifiers
    ids = pd.DataFrame({"episode_id": [pseudonym(f"EP{i}", KEY, kind="episode") for i in range(50_000)],
                        "patient_id": [pseudonym(f"MRN{i}", KEY, kind="patient") for i in range(50_000)]}).astype("str")
    assert find_identifiers(ids, name_columns={"episode_id", "patient_id"}) == []


def test_anonymised_sample_is_valid(sample_dir, tmp_path):
    res = anonymise(sample_dir, tmp_path / "anon", key=KEY)
    assert res.written, [str(p) for p in res.problems[:3]]
