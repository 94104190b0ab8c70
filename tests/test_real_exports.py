"""Real exports: ids of every shape, empty cells in every format, identifiers in number columns,
damaged files, in CSV, Parquet and Excel alike."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from conftest import write_folder
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import load_records, validate_folder
from analysis.records import SAFE_CODE, classify_value, find_identifiers

FORMATS = ["csv", "parquet", "xlsx"]


def messages(folder) -> list[str]:
    return [str(p) for p in validate_folder(folder)]


@settings(max_examples=300, deadline=None)
@given(st.uuids(version=4))
def test_no_uuid_is_ever_an_identifier(u):
    """Random UUIDs hit the old date pattern about once in 10,000 ('...04-feb177b3d6ec')."""
    df = pd.DataFrame({"patient_id": [str(u), str(u).upper()]}, dtype="str")
    assert find_identifiers(df, name_columns={"patient_id"}) == []


@pytest.mark.parametrize("value", [
    "5f0c4e1a-8b04-feb1-77b3-d6ecd6ec0a11", "c0a8-0125-dec2-6fd6-9d08", "9b2e7c25-dec2-4fd6-9d08-5a1f3c2b7e10",
    "MRN1234567", "H003-0000000", "P100714", "NTH-T12", "3fa85f6404", "a1b2c3d4e5f6",
])
def test_well_formed_codes_are_not_dates_phones_or_postcodes(value):
    df = pd.DataFrame({"episode_id": [value]}, dtype="str")
    assert find_identifiers(df, name_columns={"episode_id"}) == []


def test_the_issue_uuid_fragments_are_not_dates():
    assert classify_value("…04-feb177b3d6ec") is None
    assert classify_value("25-dec26fd69d08") is None
    assert classify_value("25-dec-1980") == "date"  # a real date still is one


@pytest.mark.parametrize("value,kind", [
    ("9434765870", "nhs_number"), ("943 476 5870", "nhs_number"), ("02079460018", "phone"),
    ("jo@example.org", "email"), ("S1234567D", "nric"), ("SW1A 1AA", "postcode"),
])
def test_real_identifiers_still_found_among_a_million_style_ids(value, kind):
    ids = [str(uuid.UUID(int=i)) for i in range(2000)] + [value]
    found = find_identifiers(pd.DataFrame({"patient_id": ids}, dtype="str"), name_columns={"patient_id"})
    assert [(f.kind, f.rows.tolist()) for f in found] == [(kind, [2000])]


def test_long_numeric_ids_with_invalid_checksums_pass():
    ids = pd.Series([f"{i:010d}" for i in range(9_000_000_000, 9_000_020_000)], dtype="str")
    found = find_identifiers(pd.DataFrame({"patient_id": ids}), name_columns={"patient_id"})
    # the vectorised modulus-11 check finds exactly the valid NHS numbers in the range, nothing else
    from analysis.records import is_valid_nhs_number

    expected = [i for i, v in enumerate(ids) if is_valid_nhs_number(v)]
    assert [(f.kind, f.rows.tolist()) for f in found] == ([("nhs_number", expected)] if expected else [])


def test_safe_code_pattern_does_not_swallow_identifiers():
    import re

    for v in ("S1234567D", "EC1A1BB", "SW1A 1AA", "jo@example.org", "John Smith", "020 7946 0018"):
        assert not re.search(SAFE_CODE, v), v
    # pure digit runs match the hexadecimal branch, but take the digit checks first
    found = find_identifiers(pd.DataFrame({"patient_id": ["9434765870", "12345678"]}, dtype="str"))
    assert [(f.kind, f.rows.tolist()) for f in found] == [("nhs_number", [0])]


# ----------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_empty_strings_are_missing_in_every_format(small_tables, tmp_path, fmt):
    """A spreadsheet-to-Parquet conversion writes '' for missing: it means missing, not ''."""
    ep, vi, cat = small_tables
    ep_s = ep.astype("str").where(ep.notna(), "")   # every column text, missing as ''
    vi_s = vi.astype("str").where(vi.notna(), "")
    folder = write_folder(tmp_path / fmt, ep_s, vi_s, cat, fmt=fmt)
    assert messages(folder) == []
    rec = load_records(folder)
    assert rec.episodes["discharge_day"].isna().sum() == ep["discharge_day"].isna().sum()
    assert rec.visits["leg_pain"].isna().sum() == vi["leg_pain"].isna().sum()


@pytest.mark.parametrize("fmt", FORMATS)
def test_identifiers_refused_and_rows_named_in_every_format(small_tables, tmp_path, fmt):
    ep, vi, cat = small_tables
    ep = ep.astype({"therapist": "str"})
    ep.loc[3, "therapist"] = "jo.bloggs@example.org"
    folder = write_folder(tmp_path / fmt, ep, vi, cat, fmt=fmt)
    msgs = messages(folder)
    assert f"episodes.{fmt} row 5, column therapist: looks like an e-mail address; identifiers are refused " \
           "(value not shown)" in msgs
    assert "jo.bloggs" not in "\n".join(msgs)


@pytest.mark.parametrize("fmt", FORMATS)
def test_nhs_and_phone_numbers_in_number_columns_are_refused(small_tables, tmp_path, fmt):
    """An NHS number typed into symptom_weeks, a phone number stored as an integer."""
    ep, vi, cat = small_tables
    ep = ep.copy()
    ep["symptom_weeks"] = ep["symptom_weeks"].astype("int64")
    ep.loc[2, "symptom_weeks"] = 9434765870
    ep.loc[4, "symptom_weeks"] = 442079460018  # +44 20 7946 0018
    folder = write_folder(tmp_path / fmt, ep, vi, cat, fmt=fmt)
    msgs = messages(folder)
    joined = "\n".join(msgs)
    assert f"episodes.{fmt} row 4, column symptom_weeks: looks like a UK NHS number; identifiers are refused " \
           "(value not shown)" in msgs
    assert f"episodes.{fmt} row 6, column symptom_weeks: looks like a phone number; identifiers are refused " \
           "(value not shown)" in msgs
    assert "9434765870" not in joined and "79460018" not in joined


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_damaged_files_are_named_not_raised(small_folder, fmt):
    (small_folder / "episodes.csv").unlink()
    (small_folder / f"episodes.{fmt}").write_bytes(b"PK\x03\x04 this is not really a file")
    kind = "a Parquet" if fmt == "parquet" else "an Excel (.xlsx)"
    assert f"episodes.{fmt}: could not be read as {kind} file; is it damaged or another format?" in messages(small_folder)


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_bad_cells_name_row_and_column_in_every_format(small_tables, tmp_path, fmt):
    ep, vi, cat = small_tables
    ep = ep.astype({"global_change": "str"})
    ep.loc[12, "global_change"] = "9"
    folder = write_folder(tmp_path / fmt, ep, vi, cat, fmt=fmt)
    assert f"episodes.{fmt} row 14, column global_change: 9 is outside 1-7" in messages(folder)


def test_input_files_unchanged_after_validation(small_tables, tmp_path):
    import hashlib

    ep, vi, cat = small_tables
    folder = write_folder(tmp_path / "p", ep.astype("str").where(ep.notna(), ""), vi, cat, fmt="parquet")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    validate_folder(folder)
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert np.all([p.name for p in folder.iterdir()])


def test_the_same_number_written_with_and_without_spaces_is_found_in_every_row():
    df = pd.DataFrame({"patient_id": ["P1", "9434765870", " 9434765870", "9434765870 ", "P2"]}, dtype="str")
    found = find_identifiers(df, name_columns={"patient_id"})
    assert [(f.kind, f.rows.tolist()) for f in found] == [("nhs_number", [1, 2, 3])]
