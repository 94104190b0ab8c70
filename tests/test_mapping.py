"""physio-outcomes import: a practice-management export through a mapping file."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import load_records, validate_folder
from analysis.app.cli import main
from analysis.records import (
    MappingError,
    import_export,
    make_practice_export,
    read_mapping,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "practice-export"
KEY = b"k" * 32


@pytest.fixture
def export(tmp_path) -> Path:
    """A copy of the shipped example export (so tests can damage it)."""
    dst = tmp_path / "export"
    shutil.copytree(EXAMPLE, dst)
    return dst


def _edit(path: Path, fn):
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(df).to_csv(path, index=False)


def test_example_export_is_reproducible_from_the_generator():
    cases, appts = make_practice_export(300, seed=7)
    pd.testing.assert_frame_equal(pd.read_csv(EXAMPLE / "cases.csv", dtype=str, keep_default_na=False), cases)
    pd.testing.assert_frame_equal(pd.read_csv(EXAMPLE / "appointments.csv", dtype=str, keep_default_na=False), appts)


def test_example_imports_into_a_valid_data_folder(tmp_path):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in EXAMPLE.iterdir()}
    res = import_export(EXAMPLE, tmp_path / "out", mapping=EXAMPLE / "mapping.toml", key=KEY)
    assert res.written and res.problems == []
    assert validate_folder(tmp_path / "out") == []
    rec = load_records(tmp_path / "out")
    cases = pd.read_csv(EXAMPLE / "cases.csv", dtype=str, keep_default_na=False)
    assert len(rec.episodes) == len(cases)
    assert set(rec.episodes["clinic"]) == {"CEN", "NTH", "STH"}
    assert rec.episodes["therapist"].dropna().str.startswith("T-").all()       # practitioner names pseudonymised
    assert rec.episodes["episode_id"].str.startswith("E-").all()
    assert rec.labels["manual_therapy"] == "Manual therapy"                     # catalogue from the mapping labels
    # days from dates: the first appointment is day 0, visit numbers follow the dates
    assert (rec.visits.groupby("episode_id")["day"].min() == 0).all()
    # nothing identifying is left anywhere in the output
    text = "\n".join(p.read_text() for p in (tmp_path / "out").iterdir())
    for secret in ("MRN3000000", "Alex Morgan", "020 7946", "C2024000", "rebook"):
        assert secret not in text
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in EXAMPLE.iterdir()}


def test_global_change_labels_become_numbers(tmp_path):
    res = import_export(EXAMPLE, tmp_path / "out", mapping=EXAMPLE / "mapping.toml", key=KEY)
    assert res.written
    rec = load_records(tmp_path / "out")
    cases = pd.read_csv(EXAMPLE / "cases.csv", dtype=str, keep_default_na=False)
    n_much = int((cases["Global change at discharge"] == "Much improved").sum())
    assert int((rec.episodes["global_change"] == 6).sum()) == n_much


def test_mapping_names_a_missing_column(export, tmp_path):
    _edit(export / "cases.csv", lambda df: df.rename(columns={"Diagnosis": "Dx"}))
    res = import_export(export, tmp_path / "out", mapping=export / "mapping.toml", key=KEY)
    assert not res.written and not (tmp_path / "out").exists()
    msg = [str(p) for p in res.problems]
    assert any(m.startswith("cases.csv row 1, column Diagnosis: is named in mapping.toml ([episodes] cause) "
                            "but is not a column of this file (its columns: ") for m in msg), msg


def test_unmapped_value_says_what_to_add(export, tmp_path):
    _edit(export / "cases.csv", lambda df: df.assign(**{"Diagnosis": df["Diagnosis"].where(df.index != 4, "Slipped disc")}))
    res = import_export(export, tmp_path / "out", mapping=export / "mapping.toml", key=KEY)
    assert not res.written and not (tmp_path / "out").exists()
    assert [str(p) for p in res.problems] == [
        "cases.csv row 6, column Diagnosis: 'Slipped disc' is not mapped to a cause code: add it under "
        "[values.cause] in mapping.toml (codes: central_stenosis, disc_herniation, foraminal_stenosis, other, "
        "piriformis, spondylolisthesis, trauma, unknown)"]


def test_unmapped_treatment_and_bad_date_and_orphan_appointment(export, tmp_path):
    def appts(df):
        df.loc[2, "Treatments"] = "Manual therapy, Cupping"
        df.loc[3, "Appointment date"] = "2024-13-45"
        df.loc[5, "Case ID"] = "C9999999"
        return df
    _edit(export / "appointments.csv", appts)
    res = import_export(export, tmp_path / "out", mapping=export / "mapping.toml", key=KEY)
    msgs = [str(p) for p in res.problems]
    assert not res.written
    assert "appointments.csv row 4, column Treatments: 'Cupping' is not mapped to a modality code: add it under " \
           "[values.modality] in mapping.toml" in msgs
    assert "appointments.csv row 5, column Appointment date: is not a date written like 31/12/2025 " \
           "(date_format = \"%d/%m/%Y\" in mapping.toml)" in msgs
    assert "appointments.csv row 7, column Case ID: matches no case in cases.csv (value not shown)" in msgs
    assert "C9999999" not in "\n".join(msgs)


def test_identifier_left_in_a_mapped_column_is_refused_in_export_terms(export, tmp_path):
    _edit(export / "cases.csv", lambda df: df.assign(**{"Symptom duration (weeks)": df["Symptom duration (weeks)"].where(
        df.index != 7, "jo@example.org")}))
    res = import_export(export, tmp_path / "out", mapping=export / "mapping.toml", key=KEY)
    assert not res.written and not (tmp_path / "out").exists()
    msgs = [str(p) for p in res.problems]
    assert "cases.csv row 9, column Symptom duration (weeks): looks like an e-mail address; identifiers are " \
           "refused (value not shown)" in msgs, msgs
    assert "jo@example" not in "\n".join(msgs)


@pytest.mark.parametrize("text,match", [
    ("[episodes]\nfile = 'cases.csv'\nepisode_id = 'Case ID'\npatient_id = 'MRN'\n", r"the \[visits\] section is missing"),
    ("[episodes]\nfile = 'c.csv'\nepisode_id = 'a'\npatient_id = 'b'\nfavourite = 'x'\n[visits]\nfile = 'a.csv'\n"
     "episode_id = 'a'\ndate = 'd'\n", r"\[episodes\] favourite is not a column of the records"),
    ("[episodes\n", "is not a valid TOML file"),
    ("[episodes]\nfile = 'c.csv'\npatient_id = 'b'\n[visits]\nfile = 'a.csv'\nepisode_id = 'a'\ndate = 'd'\n",
     r"\[episodes\] must map episode_id"),
])
def test_bad_mapping_files(tmp_path, text, match):
    p = tmp_path / "map.toml"
    p.write_text(text)
    with pytest.raises(MappingError, match=match):
        read_mapping(p)


def test_cli_import_and_summary_as_a_new_user_would(tmp_path, capsys):
    out, key = tmp_path / "my-data", tmp_path / "my.key"
    assert main(["import", str(EXAMPLE), "-o", str(out), "--mapping", str(EXAMPLE / "mapping.toml"),
                 "--new-key", str(key)]) == 0
    printed = capsys.readouterr().out
    assert "Not copied from cases.csv: Patient name (name), Phone (phone), Notes (free text)" in printed
    assert main(["summary", str(out)]) == 0
    assert "Sciatica outcomes by treatment modality" in capsys.readouterr().out


def test_cli_import_errors(tmp_path, export, capsys):
    key = tmp_path / "k.key"
    assert main(["import", str(export), "-o", str(tmp_path / "o"), "--mapping", str(tmp_path / "nope.toml"),
                 "--new-key", str(key)]) == 2
    assert "mapping file not found" in capsys.readouterr().err
    _edit(export / "cases.csv", lambda df: df.assign(Site=df["Site"].where(df.index != 0, "East Clinic")))
    assert main(["import", str(export), "-o", str(tmp_path / "o"), "--mapping", str(export / "mapping.toml"),
                 "--key-file", str(key)]) == 1
    out = capsys.readouterr().out
    assert "cases.csv row 2, column Site: 'East Clinic' is not mapped to a clinic code: add it under " \
           "[values.clinic] in mapping.toml (codes: CEN, NTH, STH)" in out
    assert "Nothing was written" in out and not (tmp_path / "o").exists()


def test_export_without_its_header_row_prints_none_of_the_first_patient(export, tmp_path, capsys):
    """The first record became the header: its record number, name, date of birth and phone were printed in
    18 messages ("its columns: ...") (issue 21, 3)."""
    from analysis.app.cli import main

    lines = (export / "cases.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (export / "cases.csv").write_text("".join(lines[1:]), encoding="utf-8")
    first = lines[1].split(",")
    key = tmp_path / "k.key"
    code = main(["import", str(export), "-o", str(tmp_path / "o"), "--mapping", str(export / "mapping.toml"),
                 "--new-key", str(key)])
    out, err = capsys.readouterr()
    assert code in (1, 2) and "Traceback" not in err
    for cell in (first[1], first[2], first[3], first[4]):  # MRN, name, date of birth, phone
        assert cell not in out + err, cell
    assert "(a header that looks like a value, not shown)" in out + err


def test_times_of_day_never_change_day_counts(export, tmp_path):
    """(d - start).dt.days on date-times counted 24-hour periods: 09:30 on day 0 to 08:00 four days later was
    day 3, a same-day discharge was refused as before the start (issue 20: wrong numbers, no message).
    Also across the 2024-03-31 change to summer time, and with real date cells read as text."""
    from analysis import load_records
    from analysis.records import import_export

    mapping = export / "mapping.toml"
    mapping.write_text(mapping.read_text().replace('date_format = "%d/%m/%Y"',
                                                   'date_format = ["%d/%m/%Y", "%d/%m/%Y %H:%M"]'))
    cases = pd.read_csv(export / "cases.csv", dtype=str, keep_default_na=False)
    appts = pd.read_csv(export / "appointments.csv", dtype=str, keep_default_na=False)
    case = cases.loc[0, "Case ID"]
    mine = appts.index[appts["Case ID"] == case]
    # first appointment 09:30 on 29/03/2024 (the Friday before the clocks go forward), then 08:00 four days later
    dates = ["29/03/2024 09:30", "02/04/2024 08:00"] + ["2024-04-09 00:00:00"] * (len(mine) - 2)
    appts.loc[mine, "Appointment date"] = dates[:len(mine)]
    cases.loc[0, "First appointment"] = "29/03/2024 09:30"
    cases.loc[0, "Discharge date"] = "2024-04-09 00:00:00"  # a spreadsheet's real date cell, read as text
    cases.loc[0, "Last contact"] = "09/04/2024 07:15"
    cases.loc[0, "Spinal surgery"], cases.loc[0, "Surgery date"] = "No", ""
    cases.to_csv(export / "cases.csv", index=False)
    appts.to_csv(export / "appointments.csv", index=False)
    res = import_export(export, tmp_path / "out", mapping=mapping, key=KEY)
    assert res.written, [str(p) for p in res.problems][:5]
    rec = load_records(tmp_path / "out")
    ep = rec.episodes.iloc[0]
    vi = rec.visits[rec.visits["episode_id"] == ep["episode_id"]].sort_values("visit_no")
    assert vi["day"].tolist()[:2] == [0, 4]
    assert int(ep["discharge_day"]) == 11 and int(ep["followup_day"]) == 11


def test_a_blank_meaning_in_the_mapping_is_applied(export, tmp_path):
    """'"" = "no"' under [values.surgery] was accepted and never applied (issue 20)."""
    from analysis import load_records
    from analysis.records import import_export

    mapping = export / "mapping.toml"
    text = mapping.read_text()
    text += '\n[values.surgery]\n"" = "no"\n"Yes" = "yes"\n"No" = "no"\n'
    mapping.write_text(text)
    cases = pd.read_csv(export / "cases.csv", dtype=str, keep_default_na=False)
    blank = cases.index[(cases["Spinal surgery"] == "No")][:5]
    cases.loc[blank, "Spinal surgery"] = ""
    cases.to_csv(export / "cases.csv", index=False)
    res = import_export(export, tmp_path / "out", mapping=mapping, key=KEY)
    assert res.written, [str(p) for p in res.problems][:5]
    ep = load_records(tmp_path / "out").episodes
    assert ep["surgery"].notna().all() and int((~ep["surgery"].astype(bool)).sum()) >= 5
