"""Loading and validating a data folder: every rule, with pinned messages."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest
from conftest import write_folder

from analysis import DataProblemError, load_records, validate_folder


def messages(folder) -> list[str]:
    return [str(p) for p in validate_folder(folder)]


def edit_csv(folder, name, fn):
    path = folder / f"{name}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = fn(df)
    df.to_csv(path, index=False)


def test_sample_is_valid(sample_dir):
    assert validate_folder(sample_dir) == []


def test_load_types_follow_the_contract(sample_dir):
    rec = load_records(sample_dir)
    ep, vi = rec.episodes, rec.visits
    assert pd.api.types.is_string_dtype(ep["episode_id"].dtype)
    assert pd.api.types.is_datetime64_any_dtype(ep["start_date"].dtype)
    assert ep["surgery"].dtype == bool and ep["surgical_candidate"].dtype == bool
    assert ep["followup_day"].dtype == "int64"
    assert str(ep["global_change"].dtype) == "Int64"
    assert str(vi["leg_pain"].dtype) == "Int64"
    assert vi["odi"].dtype == "float64"
    assert rec.labels["mckenzie"] == "McKenzie (MDT)"
    assert rec.has_catalogue
    # visits sorted by episode then visit number
    pos = pd.Index(ep["episode_id"]).get_indexer(vi["episode_id"])
    assert np.all(np.diff(pos) >= 0)


def test_input_files_are_never_modified(sample_dir):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sample_dir.iterdir()}
    load_records(sample_dir)
    validate_folder(sample_dir)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sample_dir.iterdir()}
    assert before == after


def test_spec_example_message(small_folder):
    def fn(df):
        df.loc[12, "global_change"] = "9"
        return df
    edit_csv(small_folder, "episodes", fn)
    assert "episodes.csv row 14, column global_change: 9 is outside 1-7" in messages(small_folder)


def test_every_problem_reported_at_once(small_folder):
    def fn(df):
        df.loc[0, "sex"] = "f"
        df.loc[1, "symptom_weeks"] = "-3"
        df.loc[2, "symptom_weeks"] = "six"
        df.loc[3, "start_date"] = "03/04/2024"
        df.loc[4, "surgical_candidate"] = "maybe"
        df.loc[5, "clinic"] = ""
        df.loc[6, "global_change"] = "4.5"
        return df
    edit_csv(small_folder, "episodes", fn)
    msgs = messages(small_folder)
    assert "episodes.csv row 2, column sex: 'f' is not one of female, male, other, unknown" in msgs
    assert "episodes.csv row 3, column symptom_weeks: -3 is negative" in msgs
    assert "episodes.csv row 4, column symptom_weeks: 'six' is not a whole number" in msgs
    assert "episodes.csv row 5, column start_date: is not a date written YYYY-MM-DD (for example 2025-03-31)" in msgs
    assert "episodes.csv row 6, column surgical_candidate: 'maybe' is not yes or no (true/false, yes/no, y/n, 1/0)" in msgs
    assert "episodes.csv row 7, column clinic: is empty, but a value is required" in msgs
    assert "episodes.csv row 8, column global_change: 4.5 is not a whole number" in msgs
    with pytest.raises(DataProblemError, match=r"7 problems in the data"):
        load_records(small_folder)


def test_visit_rules(small_folder):
    def fn(df):
        df.loc[0, "leg_pain"] = "11"
        df.loc[1, "odi"] = "101"
        df.loc[2, "episode_id"] = "E999999"
        return df
    edit_csv(small_folder, "visits", fn)
    msgs = messages(small_folder)
    assert "visits.csv row 2, column leg_pain: 11 is outside 0-10" in msgs
    assert "visits.csv row 3, column odi: 101 is outside 0-100" in msgs
    assert "visits.csv row 4, column episode_id: does not match any episode in episodes.csv" in msgs


def test_visit_order_rules(small_folder):
    vi = pd.read_csv(small_folder / "visits.csv", dtype=str, keep_default_na=False)
    # pick an episode with at least 3 visits
    counts = vi.groupby("episode_id").size()
    eid = counts[counts >= 3].index[0]
    rows = vi.index[vi["episode_id"] == eid]
    vi.loc[rows[0], "day"] = "2"          # visit 1 not on day 0
    vi.loc[rows[2], "day"] = "1"          # goes back in time
    vi.loc[rows[1], "visit_no"] = "3"     # duplicate visit number
    vi.to_csv(small_folder / "visits.csv", index=False)
    msgs = messages(small_folder)
    r0, r1, r2 = (int(r) + 2 for r in rows[:3])
    assert f"visits.csv row {r0}, column day: visit 1 must be on day 0, not day 2" in msgs
    assert f"visits.csv row {r2}, column visit_no: this visit number already appears for the episode on row {r1}" in msgs
    assert any(re.fullmatch(rf"visits.csv row {r2}, column day: day 1 is before the previous visit's day \d+", m) for m in msgs)


def test_visit_after_discharge(small_folder):
    ep = pd.read_csv(small_folder / "episodes.csv", dtype=str, keep_default_na=False)
    vi = pd.read_csv(small_folder / "visits.csv", dtype=str, keep_default_na=False)
    i = ep.index[(ep["discharge_day"] != "") & (ep["discharge_day"].replace("", "0").astype(int) > 5)][0]
    eid = ep.loc[i, "episode_id"]
    last = vi.index[vi["episode_id"] == eid][-1]
    vi.loc[last, "day"] = str(int(ep.loc[i, "discharge_day"]) + 3)
    ep.loc[i, "followup_day"] = str(int(ep.loc[i, "discharge_day"]) + 400)
    vi.to_csv(small_folder / "visits.csv", index=False)
    ep.to_csv(small_folder / "episodes.csv", index=False)
    msgs = messages(small_folder)
    assert f"visits.csv row {last + 2}, column day: day {int(ep.loc[i, 'discharge_day']) + 3} is after the episode's discharge_day {ep.loc[i, 'discharge_day']}" in msgs


def test_episode_cross_rules(small_folder):
    def fn(df):
        df.loc[1, "episode_id"] = df.loc[0, "episode_id"]
        no = df.index[df["surgery"] == "False"]
        df.loc[no[0], "surgery_day"] = "30"
        df.loc[no[1], "surgery"] = "yes"
        df.loc[no[1], "surgery_day"] = ""
        d = df.index[(df["discharge_day"] != "")]
        df.loc[d[2], "followup_day"] = "0"
        df.loc[d[2], "discharge_day"] = "5"
        df.loc[d[3], "discharge_reason"] = "ongoing"
        df.loc[d[4], "modality"] = "cupping"
        return df
    edit_csv(small_folder, "episodes", fn)
    ep = pd.read_csv(small_folder / "episodes.csv", dtype=str, keep_default_na=False)
    msgs = messages(small_folder)
    no = ep.index[ep["surgery"].isin(["False"]) & (ep["surgery_day"] == "30")]
    d = ep.index[ep["discharge_day"] != ""]
    assert "episodes.csv row 3, column episode_id: the same episode_id as row 2; each episode needs its own id" in msgs
    assert f"episodes.csv row {no[0] + 2}, column surgery_day: is filled, but surgery is no" in msgs
    yes_row = ep.index[(ep["surgery"] == "yes")][0] + 2
    assert f"episodes.csv row {yes_row}, column surgery_day: is empty, but surgery is yes: give the day of surgery" in msgs
    assert f"episodes.csv row {d[2] + 2}, column followup_day: 0 is before discharge_day 5; follow-up lasts at least until discharge" in msgs
    assert f"episodes.csv row {d[3] + 2}, column discharge_day: is filled, but discharge_reason is ongoing; leave it empty while the episode is ongoing" in msgs
    assert f"episodes.csv row {d[4] + 2}, column modality: 'cupping' is not a code in modalities.csv" in msgs


def test_followup_before_surgery(small_folder):
    def fn(df):
        i = df.index[df["surgery"] == "True"][0]
        df.loc[i, "followup_day"] = str(int(df.loc[i, "surgery_day"]) - 1)
        df.loc[i, "discharge_day"] = ""
        df.loc[i, "discharge_reason"] = ""
        return df
    edit_csv(small_folder, "episodes", fn)
    assert any(m.endswith("; follow-up lasts at least until the surgery") for m in messages(small_folder))


def test_visit_modalities_checked_against_catalogue(small_folder):
    def fn(df):
        df.loc[4, "modalities"] = "mckenzie;cupping"
        return df
    edit_csv(small_folder, "visits", fn)
    assert "visits.csv row 6, column modalities: 'cupping' is not a code in modalities.csv" in messages(small_folder)


def test_without_catalogue_codes_are_labels(small_folder):
    (small_folder / "modalities.csv").unlink()
    rec = load_records(small_folder)
    assert not rec.has_catalogue
    assert rec.labels["mckenzie"] == "mckenzie"


def test_unknown_and_missing_columns(small_folder):
    def fn(df):
        df["favourite_colour"] = "blue"
        return df.drop(columns=["sex", "cause"])
    edit_csv(small_folder, "episodes", fn)
    msgs = messages(small_folder)
    assert ("episodes.csv row 1, column favourite_colour: is not a column of the records contract; remove it "
            "(unknown columns are refused because they are how identifiers leak in)") in msgs
    assert "episodes.csv row 1, column sex: is missing: this column is required" in msgs
    assert "episodes.csv row 1, column cause: is missing: this column is required" in msgs


def test_identifier_column_names_refused(small_folder):
    def fn(df):
        df["Date of Birth"] = "1970-01-01"
        df["email"] = ""
        return df
    edit_csv(small_folder, "episodes", fn)
    msgs = messages(small_folder)
    assert any(m.startswith("episodes.csv row 1, column Date of Birth: looks like an identifier column (a calendar date") for m in msgs)
    assert any(m.startswith("episodes.csv row 1, column email: looks like an identifier column (an e-mail address)") for m in msgs)
    assert not any("1970" in m for m in msgs)


def test_identifier_values_refused_without_echo(small_folder):
    secrets = {1: "jo.bloggs@example.org", 2: "020 7946 0018", 3: "S1234567D", 4: "943 476 5870", 5: "John Smith"}
    def fn(df):
        for i, v in secrets.items():
            df.loc[i, "therapist"] = v
        df.loc[6, "symptom_weeks"] = "+44 20 7946 0018"
        return df
    edit_csv(small_folder, "episodes", fn)
    msgs = messages(small_folder)
    joined = "\n".join(msgs)
    for v in list(secrets.values()) + ["7946"]:
        assert v not in joined
    assert "episodes.csv row 3, column therapist: looks like an e-mail address; identifiers are refused (value not shown)" in msgs
    assert "episodes.csv row 4, column therapist: looks like a phone number; identifiers are refused (value not shown)" in msgs
    assert "episodes.csv row 5, column therapist: looks like a Singapore NRIC/FIN number; identifiers are refused (value not shown)" in msgs
    assert "episodes.csv row 6, column therapist: looks like a UK NHS number; identifiers are refused (value not shown)" in msgs
    assert "episodes.csv row 7, column therapist: looks like a person's name; identifiers are refused (value not shown)" in msgs
    assert "episodes.csv row 8, column symptom_weeks: looks like a phone number; identifiers are refused (value not shown)" in msgs


def test_long_numbers_not_echoed_in_range_messages(small_folder):
    def fn(df):
        df.loc[0, "symptom_weeks"] = "9434765870.5"
        df.loc[1, "global_change"] = "9434765870"
        return df
    edit_csv(small_folder, "episodes", fn)
    joined = "\n".join(messages(small_folder))
    assert "9434765870" not in joined
    assert "the value (not shown, it may identify someone)" in joined


def test_empty_and_header_only_files(small_folder):
    (small_folder / "visits.csv").write_text("")
    header = (small_folder / "episodes.csv").read_text().splitlines()[0]
    (small_folder / "episodes.csv").write_text(header + "\n")
    msgs = messages(small_folder)
    assert "visits.csv: is empty: it has no header and no records" in msgs
    assert "episodes.csv: has a header but no records" in msgs


def test_missing_tables(tmp_path):
    (tmp_path / "d").mkdir()
    msgs = messages(tmp_path / "d")
    assert "d: has no episodes file: expected episodes.csv, episodes.parquet or episodes.xlsx" in msgs
    assert "d: has no visits file: expected visits.csv, visits.parquet or visits.xlsx" in msgs


def test_missing_folder_is_a_usage_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        validate_folder(tmp_path / "nope")


def test_ragged_csv_is_reported_not_raised(small_folder):
    with open(small_folder / "visits.csv", "a") as fh:
        fh.write("E000001,99,1,2,3,4,mckenzie,extra,cells\n")
    msgs = messages(small_folder)
    assert any("has a different number of cells from the header" in m for m in msgs)


def test_booleans_in_every_spelling(small_tables, tmp_path):
    ep, vi, cat = (t.copy() for t in small_tables)
    spellings = ["true", "FALSE", "Yes", "no", "Y", "n", "1", "0"]
    ep["surgical_candidate"] = [spellings[i % 8] for i in range(len(ep))]
    folder = write_folder(tmp_path / "b", ep, vi, cat)
    rec = load_records(folder)
    expected = [s.lower() in ("true", "yes", "y", "1") for s in ep["surgical_candidate"]]
    assert rec.episodes["surgical_candidate"].tolist() == expected


def test_utf8_bom_and_windows_1252(small_tables, tmp_path):
    ep, vi, cat = (t.copy() for t in small_tables)
    cat.loc[0, "label"] = "Aiguilles sèches – dry needling"
    folder = write_folder(tmp_path / "enc", ep, vi)
    (folder / "modalities.csv").write_bytes(cat.to_csv(index=False).encode("utf-8-sig"))
    assert load_records(folder).labels["dry_needling"] == "Aiguilles sèches – dry needling"
    (folder / "modalities.csv").write_bytes(cat.to_csv(index=False).encode("cp1252"))
    assert load_records(folder).labels["dry_needling"] == "Aiguilles sèches – dry needling"


def test_undecodable_file_refused_by_name(small_folder):
    raw = (small_folder / "modalities.csv").read_bytes()
    (small_folder / "modalities.csv").write_bytes(raw.replace(b"Dry", b"D\x81\x8d\x90y"))
    msgs = messages(small_folder)
    assert "modalities.csv: is not UTF-8 text (nor Windows-1252); save it from your spreadsheet as 'CSV UTF-8'" in msgs


def test_two_files_for_one_table(small_folder, small_tables):
    small_tables[0].to_parquet(small_folder / "episodes.parquet", index=False)
    msgs = messages(small_folder)
    assert "data: has more than one episodes file (episodes.csv, episodes.parquet); keep one" in msgs


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx"])
def test_round_trip_formats(small_tables, tmp_path, fmt):
    ep, vi, cat = small_tables
    folder = write_folder(tmp_path / fmt, ep, vi, cat, fmt=fmt)
    rec = load_records(folder)
    ref = load_records(write_folder(tmp_path / "ref", ep, vi, cat, fmt="csv"))
    pd.testing.assert_frame_equal(rec.episodes, ref.episodes)
    pd.testing.assert_frame_equal(rec.visits, ref.visits)


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_text_columns_with_empty_strings_read_as_the_csv(small_tables, tmp_path, fmt):
    """Exports often write every column as text, a missing value as "" or blanks: the numbers, dates and yes/no
    cells are parsed (per distinct value) and the empty cells are missing, exactly as from the CSV (a column
    with no value at all included); a cell that is not a number is still reported with its row."""
    ep, vi, cat = small_tables
    vi = vi.assign(back_pain=np.nan)  # recorded nowhere: every cell of the column empty
    ref = load_records(write_folder(tmp_path / "ref", ep, vi, cat, fmt="csv"))
    texts = {}
    for name, df in (("episodes", ep), ("visits", vi)):
        text = df.astype(object).where(df.notna(), "").astype(str)
        if name == "visits":
            text.loc[text.index[::7], "odi"] = text.loc[text.index[::7], "odi"].where(
                text.loc[text.index[::7], "odi"] != "", "  ")  # blanks are missing too
            text.loc[text.index[1::50], "leg_pain"] = " " + text.loc[text.index[1::50], "leg_pain"] + " "
        texts[name] = text
    folder = write_folder(tmp_path / "text", texts["episodes"], texts["visits"], cat, fmt=fmt)
    rec = load_records(folder)
    pd.testing.assert_frame_equal(rec.episodes, ref.episodes)
    pd.testing.assert_frame_equal(rec.visits, ref.visits)
    texts["visits"].loc[5, "leg_pain"] = "six"
    folder = write_folder(tmp_path / "bad", texts["episodes"], texts["visits"], cat, fmt=fmt)
    assert f"visits.{fmt} row 7, column leg_pain: 'six' is not a whole number" in messages(folder)


def test_leading_zeros_in_ids_are_kept(small_tables, tmp_path):
    ep, vi, cat = (t.copy() for t in small_tables)
    mapping = {e: f"{i:05d}" for i, e in enumerate(ep["episode_id"])}
    ep["episode_id"] = ep["episode_id"].map(mapping)
    vi["episode_id"] = vi["episode_id"].map(mapping)
    rec = load_records(write_folder(tmp_path / "z", ep, vi, cat))
    assert rec.episodes["episode_id"].iloc[0] == "00000"


def test_many_problems_are_capped_and_counted(small_folder):
    def fn(df):
        df["leg_pain"] = "12"
        return df
    edit_csv(small_folder, "visits", fn)
    problems = validate_folder(small_folder)
    listed = [p for p in problems if p.column == "leg_pain" and p.row is not None]
    assert len(listed) == 20
    summary = [p for p in problems if p.column == "leg_pain" and p.row is None]
    assert len(summary) == 1 and re.search(r"more rows with the same problem \(is outside 0-10\)", summary[0].problem)


def test_identifier_in_visit_episode_id_is_named_not_echoed(small_folder):
    def fn(df):
        df.loc[3, "episode_id"] = "jo@example.org"
        df.loc[4, "episode_id"] = "E999999"
        return df
    edit_csv(small_folder, "visits", fn)
    msgs = messages(small_folder)
    assert "visits.csv row 5, column episode_id: looks like an e-mail address; identifiers are refused (value not shown)" in msgs
    assert "visits.csv row 6, column episode_id: does not match any episode in episodes.csv" in msgs
    assert not any("example.org" in m for m in msgs)


def test_xlsx_with_real_excel_dates(small_tables, tmp_path):
    """A spreadsheet that stores start_date as an Excel date (not text) is read as that date."""
    ep, vi, cat = (t.copy() for t in small_tables)
    ref = load_records(write_folder(tmp_path / "ref", ep, vi, cat))
    ep["start_date"] = pd.to_datetime(ep["start_date"])
    folder = write_folder(tmp_path / "x", ep, vi, cat, fmt="xlsx")
    rec = load_records(folder)
    pd.testing.assert_series_equal(rec.episodes["start_date"], ref.episodes["start_date"])


def test_dates_and_yes_no_parsed_per_distinct_value_as_one_by_one():
    """Long columns are converted per distinct value (fast path); the result and the rows
    reported must be exactly those of converting every cell."""
    from analysis.records import schema
    from analysis.records._problems import _Log
    from analysis.records._rules import _bool_text, _coerce, _date_text

    specs = {s.name: s for s in schema.EPISODES}
    rng = np.random.default_rng(3)
    cases = {
        "start_date": ["2024-01-05", " 2024-01-06 ", "2024-01-07 00:00:00", "2024-02-30", "yesterday", None],
        "surgery": ["yes", " No ", "Y", "1.0", "0", "maybe", None],
    }
    for column, values in cases.items():
        s = pd.Series(rng.choice(np.array(values, dtype=object), size=2000), dtype="str")
        log, skip = _Log(), np.zeros(len(s), dtype=bool)
        fast = _coerce(s, specs[column], "episodes.csv", log, skip)
        if column == "start_date":
            slow = _date_text(s)
            expected_bad = s.notna() & slow.isna()
        else:
            text = _bool_text(s)
            slow = text.map(lambda v: True if v in {"yes", "y", "1", "true"} else False if v in {"no", "n", "0", "false"} else pd.NA)
            expected_bad = text.notna() & slow.isna()
        pd.testing.assert_series_equal(fast.astype(object), slow.astype(object), check_names=False)
        np.testing.assert_array_equal(skip, expected_bad.to_numpy(dtype=bool))
        assert int(expected_bad.sum()) > 0 and len(log.problems) > 0


@pytest.mark.parametrize("shape", ["grouped in order", "grouped out of order", "shuffled", "nulls and orphans",
                                   "repeated among"])
def test_first_position_equals_a_lookup_of_every_id(shape):
    """Visits' episode rows are looked up once per run of equal ids (and not at all when the runs are the
    episodes in order): the answer must be that of looking every id up, whatever the order."""
    from analysis.records._rules import _first_position

    rng = np.random.default_rng(11)
    among = pd.Series([f"{u:08x}-{i}" for i, u in enumerate(rng.integers(0, 2**31, 300))], dtype="str")
    counts = rng.integers(1, 9, len(among))
    ids = pd.Series(np.repeat(among.to_numpy(dtype=object), counts), dtype="str")
    distinct = True
    if shape == "grouped out of order":
        ids = pd.Series(np.repeat(among.to_numpy(dtype=object)[::-1], counts[::-1]), dtype="str")
    elif shape == "shuffled":
        ids = ids.sample(frac=1, random_state=2).reset_index(drop=True)
    elif shape == "nulls and orphans":
        ids = ids.copy()
        ids.iloc[[0, 1, 50, 51, 52]] = pd.NA
        ids.iloc[[100, 101, len(ids) - 1]] = "not-an-episode"
    elif shape == "repeated among":
        among = among.copy()
        among.iloc[10] = among.iloc[3]  # a repeated episode id: the first row is the answer
        distinct = False
    first_row = {}
    for i, v in enumerate(among):
        first_row.setdefault(v, i)
    expected = np.array([-1 if pd.isna(v) else first_row.get(v, -1) for v in ids], dtype="int64")
    got = _first_position(ids, among, among_distinct=distinct)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64


def test_two_tables_read_in_threads_report_like_one_after_the_other(small_folder, monkeypatch):
    """Each table is checked on a second thread while the next one is read; the problems come out
    exactly as when the tables are read and checked one after the other."""
    import analysis.records._load as io_mod

    def fn_ep(df):
        df.loc[3, "global_change"] = "9"
        df.loc[40, "sex"] = "x"
        return df

    def fn_vi(df):
        df.loc[5, "leg_pain"] = "11"
        df.loc[7, "day"] = "-1"
        return df

    edit_csv(small_folder, "episodes", fn_ep)
    edit_csv(small_folder, "visits", fn_vi)
    threaded = messages(small_folder)
    monkeypatch.setattr(io_mod.os, "cpu_count", lambda: 1)
    sequential = messages(small_folder)
    assert threaded == sequential
    assert any(m.startswith("episodes.csv row 5, column global_change") for m in threaded)
    assert any(m.startswith("visits.csv row 7, column leg_pain") for m in threaded)


@pytest.mark.parametrize("blank", ["", " ", "\t", "\u00a0", "\u2003", None])
def test_blank_cells_are_missing_whatever_the_column_holds(blank):
    """Parquet and workbook text cells that are empty or only whitespace are missing values; the quick scan that
    passes over columns of ids and numbers must never pass over one, in any chunk."""
    import pyarrow as pa

    from analysis.records._readers import _blank_is_null

    clean = ["12", "7", "3f2a-9c"]
    col = pa.chunked_array([pa.array(clean), pa.array(["5", blank, "8"]), pa.array(clean)])
    out = _blank_is_null(pa.table({"x": col, "y": pa.chunked_array([pa.array(clean * 3)])}))
    expected = clean + ["5", None, "8"] + clean
    assert out["x"].to_pylist() == expected
    assert out["y"].to_pylist() == clean * 3
    sliced = pa.array(["5", blank, "8", "9"]).slice(2)  # the blank lies outside the slice
    assert _blank_is_null(pa.table({"z": sliced}))["z"].to_pylist() == ["8", "9"]


def test_blank_check_copes_with_missing_cells_anywhere():
    """Missing cells have no bytes (the last one points past the text): the quick scan must not read there."""
    import pyarrow as pa

    from analysis.records._readers import _blank_is_null

    for values in (["1", "2", None], [None, "3", None], [None, None], ["4", None, " "]):
        for typ in (pa.string(), pa.large_string()):
            got = _blank_is_null(pa.table({"x": pa.array(values, type=typ)}))["x"].to_pylist()
            assert got == [None if v is None or not v.strip() else v for v in values]


@pytest.mark.parametrize("column", ["leg_pain", "day", "odi"])
def test_numbers_written_as_text_checked_per_distinct_value_as_cell_by_cell(column):
    """Numbers written as text (Parquet text columns, workbooks) are checked once per distinct value and spread by
    code: values, the cells refused and every message must be those of checking each cell."""
    from analysis.records import schema
    from analysis.records._problems import _Log
    from analysis.records._rules import _coerce

    spec = {s.name: s for s in schema.VISITS}[column]
    rng = np.random.default_rng(4)
    values = np.array(["6", " 7 ", "6.0", "6.5", "1e13", "inf", "abc", "3", None], dtype=object)
    cells = rng.choice(values, size=3000)
    results = []
    for dtype in ("str", object):  # Arrow-backed text takes the per-distinct path; object cells the other
        s = pd.Series(cells, dtype=dtype)
        log, skip = _Log(), np.zeros(len(s), dtype=bool)
        results.append((_coerce(s, spec, "visits.parquet", log, skip), skip, [str(p) for p in log.finish()]))
    (fast, skip_f, msg_f), (slow, skip_s, msg_s) = results
    pd.testing.assert_series_equal(fast, slow, check_names=False)
    np.testing.assert_array_equal(skip_f, skip_s)
    # and as each cell parsed on its own: a number, finite, whole (for a whole-number column) and below 1e12
    each = pd.to_numeric(pd.Series(cells, dtype=object).str.strip(), errors="coerce").to_numpy(dtype="float64")
    refused = ~np.isfinite(each) & pd.notna(cells)
    if spec.kind == "integer":
        with np.errstate(invalid="ignore"):
            refused |= np.isfinite(each) & ((np.floor(each) != each) | (np.abs(each) > 1e12))
    np.testing.assert_array_equal(skip_f, refused)
    expected = np.where(refused | pd.isna(cells), np.nan, each)
    np.testing.assert_array_equal(fast.to_numpy(dtype="float64", na_value=np.nan), expected)
    assert msg_f == msg_s and any("is not a" in m for m in msg_f)
    assert str(fast.dtype) == ("float64" if spec.kind == "number" else "Int64")


def test_number_columns_already_numeric_are_checked_cell_by_cell():
    """A typed Parquet or workbook number column: the same checks, each cell its own value, empty cells kept empty."""
    from analysis.records import schema
    from analysis.records._problems import _Log
    from analysis.records._rules import _coerce

    spec = {s.name: s for s in schema.VISITS}["leg_pain"]
    s = pd.Series([6.0, 6.5, np.inf, np.nan, 1e13, 3.0])
    log, skip = _Log(), np.zeros(len(s), dtype=bool)
    out = _coerce(s, spec, "visits.parquet", log, skip)
    assert out.astype(object).where(out.notna(), None).tolist() == [6, None, None, None, None, 3]
    assert skip.tolist() == [False, True, True, False, True, False]
    text = " ".join(str(p) for p in log.finish())
    assert "row 3, column leg_pain" in text and "not a whole number" in text and "far outside" in text
