"""Practice-management exports as they really come (issue 20): a workbook with a sheet per table, a
;-separated Windows-1252 CSV with decimal commas, date-times, one column per treatment. Each shipped
example export is imported and compared field by field with the records it was made from."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import load_records, validate_folder
from analysis.records import (
    MappingError,
    dropped_kinds,
    import_export,
    make_practice_export,
    make_praxis_export,
    make_sample,
    pseudonym,
    read_mapping,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "examples"
PRACTICE, PRAXIS = EXAMPLES / "practice-export", EXAMPLES / "praxis-export"
KEY = b"k" * 32
EPISODE_FIELDS = ["clinic", "start_date", "age_band", "sex", "side", "cause", "symptom_weeks", "surgical_candidate",
                  "modality", "discharge_day", "discharge_reason", "global_change", "surgery", "surgery_day",
                  "followup_day"]


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def _messages(res) -> list[str]:
    return [str(p) for p in res.problems]


def _same(got: pd.Series, want: pd.Series, what: str) -> None:
    g = got.astype(object).where(got.notna(), None).tolist()
    w = want.astype(object).where(want.notna(), None).tolist()
    bad = [i for i, (a, b) in enumerate(zip(g, w)) if not (a == b or (a is None and b is None))]
    assert not bad, f"{what}: {len(bad)} rows differ, first at {bad[0]}: got {g[bad[0]]!r}, want {w[bad[0]]!r}"


def _field_by_field(out: Path, truth_ep, truth_vi, case_ids, patient_ids) -> None:
    """The imported records equal the records the export was made from, field by field."""
    assert validate_folder(out) == []
    rec = load_records(out)
    ep = rec.episodes.set_index("episode_id")
    pseud = [pseudonym(c, KEY, kind="episode") for c in case_ids]
    assert set(ep.index) == set(pseud)
    got = ep.loc[pseud].reset_index()
    truth = truth_ep.reset_index(drop=True)
    got["start_date"] = got["start_date"].dt.strftime("%Y-%m-%d")
    for col in EPISODE_FIELDS:
        _same(got[col], truth[col], col)
    _same(got["patient_id"], pd.Series([pseudonym(p, KEY, kind="patient") for p in patient_ids]), "patient_id")
    # the same therapist gets the same pseudonym, different therapists different ones
    pairs = pd.DataFrame({"t": truth["therapist"], "g": got["therapist"]}).dropna()
    assert (pairs.groupby("t")["g"].nunique() == 1).all() and (pairs.groupby("g")["t"].nunique() == 1).all()
    assert truth["therapist"].isna().equals(got["therapist"].isna())
    # visits: day, visit number, scores, treatments
    ep_of = dict(zip(truth_ep["episode_id"], pseud))
    want = truth_vi.assign(episode_id=truth_vi["episode_id"].map(ep_of)).sort_values(["episode_id", "visit_no"])
    have = rec.visits.sort_values(["episode_id", "visit_no"])
    assert len(have) == len(want)
    want, have = want.reset_index(drop=True), have.reset_index(drop=True)
    for col in ("episode_id", "visit_no", "day", "leg_pain", "back_pain", "odi"):
        _same(have[col], want[col], col)
    sets = [frozenset(str(v).split(";")) if isinstance(v, str) else frozenset() for v in have["modalities"]]
    sets_want = [frozenset(str(v).split(";")) if isinstance(v, str) else frozenset() for v in want["modalities"]]
    assert sets == sets_want


def test_praxis_example_is_reproducible_from_the_generator():
    faelle, termine = make_praxis_export(240, seed=11)
    read = {n: pd.read_csv(PRAXIS / n, sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
            for n in ("Faelle.csv", "Termine.csv")}
    pd.testing.assert_frame_equal(read["Faelle.csv"], faelle)
    pd.testing.assert_frame_equal(read["Termine.csv"], termine)
    assert b"\r\n" in (PRAXIS / "Faelle.csv").read_bytes()[:2000]
    assert "Ä".encode("cp1252") in (PRAXIS / "Faelle.csv").read_bytes() or b"\xfc" in (PRAXIS / "Faelle.csv").read_bytes()


def test_praxis_export_imports_field_by_field(tmp_path):
    """;-separated Windows-1252, numeric patient numbers, dd.mm.yyyy dates and appointment date-times listed newest
    first, German labels, k.A., ja/nein with an empty cell meaning no, ODI with a decimal comma, one column per
    treatment ticked x: every field as the records it was made from. The export is unchanged afterwards."""
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in PRAXIS.iterdir()}
    res = import_export(PRAXIS, tmp_path / "out", mapping=PRAXIS / "mapping.toml", key=KEY, dates="keep")
    assert res.written, _messages(res)[:5]
    ep, vi, _ = make_sample(240, seed=11)
    faelle, _ = make_praxis_export(240, seed=11)
    _field_by_field(tmp_path / "out", ep, vi, faelle["Fall-Nr"], faelle["Patienten-Nr"])
    assert load_records(tmp_path / "out").labels["manual_therapy"] == "Manuelle Therapie"
    text = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir())
    for secret in ("4711000", "Müller", "Jürgen", "Rückruf", "2024100"):
        assert secret not in text
    assert sorted(res.unmapped["Faelle.csv"]) == ["Bemerkung", "Name", "Vorname"]
    # what was left out is named by kind in German headers too
    assert dropped_kinds(res.unmapped["Faelle.csv"]) == ["Name (name)", "Vorname (name)", "Bemerkung (free text)"]
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in PRAXIS.iterdir()}


def test_practice_export_imports_field_by_field(tmp_path):
    res = import_export(PRACTICE, tmp_path / "out", mapping=PRACTICE / "mapping.toml", key=KEY, dates="keep")
    assert res.written, _messages(res)[:5]
    ep, vi, _ = make_sample(300, seed=7)
    cases, _ = make_practice_export(300, seed=7)
    ep = ep.assign(discharge_reason=ep["discharge_reason"].where(ep["discharge_reason"] != "ongoing"))
    _field_by_field(tmp_path / "out", ep, vi, cases["Case ID"], cases["Patient MRN"])


def test_separator_and_encoding_are_found_without_the_keys(tmp_path):
    """Left out, the separator comes from the header line and Windows-1252 is recognised: the same records."""
    export = _copy(PRAXIS, tmp_path)
    mapping = export / "mapping.toml"
    lines = [ln for ln in mapping.read_text(encoding="utf-8").splitlines()
             if not ln.startswith(("separator", "encoding"))]
    mapping.write_text("\n".join(lines), encoding="utf-8")
    a = import_export(PRAXIS, tmp_path / "a", mapping=PRAXIS / "mapping.toml", key=KEY)
    b = import_export(export, tmp_path / "b", mapping=mapping, key=KEY)
    assert a.written and b.written, _messages(b)[:5]
    for name in ("episodes.csv", "visits.csv", "modalities.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_excel_unicode_text_is_read(tmp_path):
    """Excel's 'Unicode text' (UTF-16 with a byte-order mark, tab-separated) imports without any key."""
    export = _copy(PRAXIS, tmp_path)
    for name in ("Faelle.csv", "Termine.csv"):
        df = pd.read_csv(PRAXIS / name, sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
        df.to_csv(export / name, sep="\t", index=False, encoding="utf-16")
    mapping = export / "mapping.toml"
    lines = [ln for ln in mapping.read_text(encoding="utf-8").splitlines()
             if not ln.startswith(("separator", "encoding"))]
    mapping.write_text("\n".join(lines), encoding="utf-8")
    res = import_export(export, tmp_path / "out", mapping=mapping, key=KEY)
    assert res.written, _messages(res)[:5]
    assert len(load_records(tmp_path / "out").episodes) == 240


def test_a_wrong_separator_is_one_message_naming_it(tmp_path):
    export = _copy(PRAXIS, tmp_path)
    mapping = export / "mapping.toml"
    mapping.write_text(mapping.read_text(encoding="utf-8").replace('separator = ";"', 'separator = ","', 1),
                       encoding="utf-8")
    res = import_export(export, tmp_path / "out", mapping=mapping, key=KEY)
    assert not res.written
    assert _messages(res) == ['Faelle.csv row 1: has its columns separated by semicolons, not by commas (separator '
                              'in [episodes] of mapping.toml): write separator = ";", or leave the key out']


def test_a_wrong_encoding_is_named(tmp_path):
    export = _copy(PRAXIS, tmp_path)
    mapping = export / "mapping.toml"
    mapping.write_text(mapping.read_text(encoding="utf-8").replace('encoding = "windows-1252"', 'encoding = "utf-8"', 1),
                       encoding="utf-8")
    res = import_export(export, tmp_path / "out", mapping=mapping, key=KEY)
    assert not res.written
    assert any("Faelle.csv: is not utf-8 text throughout" in m for m in _messages(res)), _messages(res)


def test_a_decimal_comma_without_the_key_says_which_key(tmp_path):
    export = _copy(PRAXIS, tmp_path)
    mapping = export / "mapping.toml"
    mapping.write_text(mapping.read_text(encoding="utf-8").replace('decimal = ","', ''), encoding="utf-8")
    res = import_export(export, tmp_path / "out", mapping=mapping, key=KEY)
    msgs = _messages(res)
    odi = [m for m in msgs if "column ODI (%)" in m]
    assert len(odi) == 1, msgs[:5]
    assert "numbers written with a decimal comma (like 48,5): add decimal = \",\" under [visits] in mapping.toml" in odi[0]


def test_ticks_other_than_the_mapping_says_are_listed(tmp_path):
    export = _copy(PRAXIS, tmp_path)
    termine = pd.read_csv(export / "Termine.csv", sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
    termine.loc[[3, 8], "Behandlung: Traktion"] = "?"
    termine.loc[5, "Behandlung: Traktion"] = "nein"       # an unticked word is not a problem
    termine.to_csv(export / "Termine.csv", sep=";", index=False, encoding="cp1252")
    res = import_export(export, tmp_path / "out", mapping=export / "mapping.toml", key=KEY)
    assert _messages(res) == [
        f"Termine.csv row {r}, column Behandlung: Traktion: '?' is neither a tick (x) nor blank: add it to "
        "treatment_ticks under [visits] in mapping.toml, or clear the cell" for r in (5, 10)]


def _workbook(tmp_path: Path, *, date_cells: bool = True) -> Path:
    """The English example as one workbook: sheets Cases and Appointments, dates as real date cells."""
    export = tmp_path / "workbook"
    export.mkdir()
    cases = pd.read_csv(PRACTICE / "cases.csv", dtype=str, keep_default_na=False)
    appts = pd.read_csv(PRACTICE / "appointments.csv", dtype=str, keep_default_na=False)
    if date_cells:
        for col in ("Date of birth", "First appointment", "Discharge date", "Surgery date", "Last contact"):
            cases[col] = pd.to_datetime(cases[col], format="%d/%m/%Y", errors="coerce")
        appts["Appointment date"] = pd.to_datetime(appts["Appointment date"], format="%d/%m/%Y")
    with pd.ExcelWriter(export / "export.xlsx", engine="openpyxl") as w:
        cases.to_excel(w, sheet_name="Cases", index=False)
        appts.to_excel(w, sheet_name="Appointments", index=False)
    text = (PRACTICE / "mapping.toml").read_text(encoding="utf-8")
    text = text.replace('file = "cases.csv"', 'file = "export.xlsx"\nsheet = "Cases"')
    text = text.replace('file = "appointments.csv"', 'file = "export.xlsx"\nsheet = "Appointments"')
    (export / "mapping.toml").write_text(text, encoding="utf-8")
    return export


def test_a_workbook_with_a_sheet_per_table_imports_as_the_csv_files_do(tmp_path):
    """Cases and appointments on two sheets of one workbook, dates as real date cells: the same data folder as
    from the CSV files."""
    export = _workbook(tmp_path)
    assert import_export(PRACTICE, tmp_path / "a", mapping=PRACTICE / "mapping.toml", key=KEY).written
    b = import_export(export, tmp_path / "b", mapping=export / "mapping.toml", key=KEY)
    assert b.written, _messages(b)[:5]
    for name in ("episodes.csv", "visits.csv", "modalities.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert "export.xlsx, sheet Cases" in b.unmapped


def test_workbook_sheet_messages(tmp_path):
    export = _workbook(tmp_path, date_cells=False)
    mapping = export / "mapping.toml"
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(text.replace('sheet = "Cases"\n', ''), encoding="utf-8")
    res = import_export(export, tmp_path / "o1", mapping=mapping, key=KEY)
    assert _messages(res) == ['export.xlsx: has 2 sheets (Cases, Appointments): say which holds the episodes with '
                              'sheet = "..." under [episodes] in mapping.toml']
    mapping.write_text(text.replace('sheet = "Cases"', 'sheet = "Fälle"'), encoding="utf-8")
    res = import_export(export, tmp_path / "o2", mapping=mapping, key=KEY)
    assert _messages(res) == ['export.xlsx: has no sheet called Fälle (sheet in [episodes] of mapping.toml); its '
                              'sheets: Cases, Appointments']
    # a column on the other sheet is named as such
    mapping.write_text(text.replace('leg_pain = "Leg pain (0-10)"', 'leg_pain = "Diagnosis"'), encoding="utf-8")
    res = import_export(export, tmp_path / "o3", mapping=mapping, key=KEY)
    assert any(m.startswith("export.xlsx, sheet Appointments row 1, column Diagnosis: is named in mapping.toml "
                            "([visits] leg_pain) but is not a column of this sheet; it is a column of export.xlsx, "
                            "sheet Cases") for m in _messages(res)), _messages(res)


@pytest.mark.parametrize("key, value, match", [
    ("sheet", '"Cases"', r"cases.csv: is a CSV file, which has no sheets: remove sheet = \"Cases\" from \[episodes\]"),
])
def test_keys_that_do_not_fit_the_file(tmp_path, key, value, match):
    export = _copy(PRACTICE, tmp_path)
    mapping = export / "mapping.toml"
    mapping.write_text(mapping.read_text().replace('file = "cases.csv"', f'file = "cases.csv"\n{key} = {value}'))
    res = import_export(export, tmp_path / "out", mapping=mapping, key=KEY)
    assert not res.written
    assert any(__import__("re").search(match, m) for m in _messages(res)), _messages(res)


def test_separator_on_a_workbook_is_refused(tmp_path):
    export = _workbook(tmp_path, date_cells=False)
    mapping = export / "mapping.toml"
    mapping.write_text(mapping.read_text().replace('sheet = "Cases"', 'sheet = "Cases"\nseparator = ";"'))
    res = import_export(export, tmp_path / "out", mapping=mapping, key=KEY)
    assert _messages(res) == ["export.xlsx: is a workbook: separator applies only to CSV files; remove it from "
                              "[episodes] in mapping.toml"]


def test_a_missing_column_and_label_problems_are_listed_in_one_run(tmp_path):
    export = _copy(PRACTICE, tmp_path)
    mapping = export / "mapping.toml"
    mapping.write_text(mapping.read_text().replace('side = "Affected side"', 'side = "Side"'))
    cases = pd.read_csv(export / "cases.csv", dtype=str, keep_default_na=False)
    cases.loc[4, "Diagnosis"] = "Slipped disc"
    cases.to_csv(export / "cases.csv", index=False)
    msgs = _messages(import_export(export, tmp_path / "out", mapping=mapping, key=KEY))
    assert any(m.startswith("cases.csv row 1, column Side: is named in mapping.toml ([episodes] side)") for m in msgs)
    assert any(m.startswith("cases.csv row 6, column Diagnosis: 'Slipped disc' is not mapped to a cause code")
               for m in msgs), msgs


@pytest.mark.parametrize("edit, match", [
    (('decimal = ","', 'decimal = ";"'), r'\[visits\] decimal must be "\." or ","'),
    (('separator = ";"', 'separator = "::"'), r'\[episodes\] separator must be one of'),
    (('encoding = "windows-1252"', 'encoding = "klingon"'), r"\[episodes\] encoding must name a text encoding"),
    (('"Behandlung: Traktion" = "traction"', '"Behandlung: Traktion" = "tractor"'),
     r'tractor is not one of the modality codes of \[values.modality\]'),
    (('treatment_ticks = ["x"]', 'treatment_ticks = []'), r"treatment_ticks must list what a ticked cell holds"),
    (('date_format = "%d.%m.%Y"', 'date_format = 31'), r"\[episodes\] date_format must be text"),
    (('odi = "ODI (%)"', 'odi = "ODI (%)"\nlanguage = "de"'), r"\[visits\] language is not a column of the records nor "
                                                               r"a key of the mapping"),
])
def test_mapping_keys_are_checked(tmp_path, edit, match):
    text = (PRAXIS / "mapping.toml").read_text(encoding="utf-8")
    assert edit[0] in text
    p = tmp_path / "mapping.toml"
    p.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(MappingError, match=match):
        read_mapping(p)


def test_ticks_without_treatment_columns_are_refused(tmp_path):
    text = (PRACTICE / "mapping.toml").read_text()
    p = tmp_path / "mapping.toml"
    p.write_text(text.replace('modalities_separator = ","', 'modalities_separator = ","\ntreatment_ticks = ["x"]'))
    with pytest.raises(MappingError, match=r"treatment_ticks is given but there is no \[visits.treatment_columns\]"):
        read_mapping(p)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_validate_reads_semicolon_and_tab_separated_folders(tmp_path, sep):
    """validate on a ;- or tab-separated data folder gave 39 unrelated problems (issue 20)."""
    ep, vi, cat = make_sample(60, seed=5)
    folder = tmp_path / "d"
    folder.mkdir()
    ep.to_csv(folder / "episodes.csv", sep=sep, index=False)
    vi.to_csv(folder / "visits.csv", sep=sep, index=False)
    assert validate_folder(folder) == []
    rec = load_records(folder)
    assert len(rec.episodes) == len(ep) and len(rec.visits) == len(vi)
    # a broken line names the separator
    lines = (folder / "visits.csv").read_text().splitlines()
    lines[3] += f"{sep}extra{sep}cells"
    (folder / "visits.csv").write_text("\n".join(lines) + "\n")
    word = "semicolons" if sep == ";" else "tabs"
    assert any(f"cells separated by {word}" in str(p) for p in validate_folder(folder))


@pytest.mark.parametrize("first, later, days", [
    ("14.03.2025 09:30", "18.03.2025 08:00", 4),     # an earlier time of day four days later: 4 days, not 3
    ("29.03.2025 23:59", "30.03.2025 00:01", 1),     # across midnight (and the night the clocks go forward)
    ("25.10.2025 08:00", "26.10.2025 18:00", 1),     # the night the clocks go back
    ("14.03.2025 17:30", "14.03.2025 08:00", 0),     # same day, listed out of order: still day 0
])
def test_appointment_days_are_calendar_days(tmp_path, first, later, days):
    export = _copy(PRAXIS, tmp_path)
    faelle = pd.read_csv(export / "Faelle.csv", sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
    termine = pd.read_csv(export / "Termine.csv", sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
    case = faelle.loc[0, "Fall-Nr"]
    mine = termine.index[termine["Fall-Nr"] == case]
    termine = termine.drop(mine[2:])
    termine.loc[mine[0], "Termin"], termine.loc[mine[1], "Termin"] = first, later
    d = pd.to_datetime(later, format="%d.%m.%Y %H:%M")
    faelle.loc[0, "Entlassdatum"] = d.strftime("%d.%m.%Y")             # discharged on the day of the last visit
    faelle.loc[0, "Letzter Kontakt"] = (d + pd.Timedelta(days=30)).strftime("%d.%m.%Y")
    faelle.loc[0, ["Operation", "OP-Datum"]] = ["nein", ""]
    faelle.to_csv(export / "Faelle.csv", sep=";", index=False, encoding="cp1252")
    termine.to_csv(export / "Termine.csv", sep=";", index=False, encoding="cp1252")
    res = import_export(export, tmp_path / "out", mapping=export / "mapping.toml", key=KEY)
    assert res.written, _messages(res)[:5]
    rec = load_records(tmp_path / "out")
    e = pseudonym(case, KEY, kind="episode")
    vi = rec.visits[rec.visits["episode_id"] == e].sort_values("visit_no")
    ep = rec.episodes.set_index("episode_id").loc[e]
    assert vi["day"].tolist() == [0, days]
    assert int(ep["discharge_day"]) == days and int(ep["followup_day"]) == days + 30
    assert np.all(np.diff(vi["day"].to_numpy()) >= 0)
