"""The identifier guard, on the test vectors of ../shared/reference/disclosure-and-identifiers.md section 4."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from analysis.records import (
    classify_value,
    find_identifiers,
    identifier_column_kind,
    is_valid_nhs_number,
    is_valid_nric,
    looks_like_ssn,
)

# NHS numbers: python-stdnum doctests, codonPython tests, presidio tests (reference section 4.1).
NHS_VALID = ["9434765870", "943-476-5870", "9598980006", "8429141456", "2625792787", "8235363119",
             "6597925149", "401-023-2137", "221 395 1837", "0032698674"]
NHS_INVALID = ["9434765871", "9598980007", "401-023-2138", "1000000010", "1000000018", "0000000000"]

# NRIC/FIN: FormSG spec, npm nric README, melvinzhang note (reference section 4.2).
NRIC_VALID = ["S1234567D", "S9470855I", "T7123769E", "G2943157X", "M1234567K", "S2740116C", "F2346401L",
              "M4332674T", "S9108268C", "T7572225C"]
NRIC_BAD_CHECK = ["S1234567A", "M1234567L", "M1234567I", "T1234567Z", "G1122144L"]


@pytest.mark.parametrize("value", NHS_VALID)
def test_nhs_valid(value):
    assert is_valid_nhs_number(value)
    assert classify_value(value) == "nhs_number"


@pytest.mark.parametrize("value", NHS_INVALID)
def test_nhs_invalid(value):
    assert not is_valid_nhs_number(value)


@pytest.mark.parametrize("value", NRIC_VALID)
def test_nric_valid(value):
    assert is_valid_nric(value)
    assert classify_value(value) == "nric"


@pytest.mark.parametrize("value", NRIC_BAD_CHECK)
def test_nric_bad_check_letter_still_refused(value):
    """Look-alikes whose check letter fails are most often typos: still refused (reference 4.2)."""
    assert not is_valid_nric(value)
    assert classify_value(value) == "nric"


@pytest.mark.parametrize("value,expected", [
    ("536-90-4399", True),    # valid-format example, python-stdnum
    ("078-05-1123", True),    # presidio: found
    ("078-05-0000", False),   # serial 0000 never issued
    ("078-00-1123", False),   # group 00
    ("000-12-3456", False),   # area 000
    ("666-12-3456", False),   # area 666
    ("912-34-5678", False),   # area 9xx
    ("536904399", False),     # bare nine digits: not taken for an SSN
])
def test_ssn(value, expected):
    assert looks_like_ssn(value) is expected
    assert (classify_value(value) == "ssn") is expected


@pytest.mark.parametrize("value,kind", [
    ("info@presidio.site", "email"),
    ("Jo.Bloggs+clinic@nhs.net", "email"),
    ("020 7946 0018", "phone"),          # UK national format: needs region GB, not "UK" (presidio pitfall)
    ("+44 20 7946 0018", "phone"),
    ("+65 6123 4567", "phone"),
    ("9123 4567", "phone"),               # Singapore mobile
    ("(212) 555-0100", "phone"),
    ("https://example.org/patient/12", "url"),
    ("www.example.com", "url"),
    ("192.168.10.4", "ip"),
    ("2001:db8::ff00:42:8329", "ip"),
    ("SW1A 1AA", "postcode"),
    ("EC1A1BB", "postcode"),
    ("Singapore 238823", "postcode"),
    ("12 Baker Street", "address"),
    ("Blk 123 Ang Mo Kio Ave 3", "address"),
    ("1980-02-29", "date"),
    ("29/02/1980", "date"),
    ("3 March 1975", "date"),
    ("John Smith", "name"),
    ("Smith, John", "name"),
    ("Mrs Patel", "name"),
    ("NHS no: 943 476 5870", "nhs_number"),
    ("seen by SSN 536-90-4399", "ssn"),
])
def test_identifier_kinds(value, kind):
    assert classify_value(value, names=True) == kind


@pytest.mark.parametrize("value", [
    "E000123", "P100042", "NTH-T3", "CEN", "mckenzie;education", "disc_herniation", "18-29", "90+",
    "info@presidio.", "S123456D", "A1234567B", "10:30", "North Clinic", "Clinical Pilates",
    "666-12-3456", "123-00-4567", "12345678", "2024", "4.5", "goals_met", "Traction",
    "E-3a9434765870bfcd",  # a hexadecimal pseudonym with a mod-11-valid digit run inside
])
def test_look_alikes_pass(value):
    """Codes and values that resemble identifiers but are not: must not be refused."""
    assert classify_value(value, names=True) is None


def test_names_only_looked_for_where_asked():
    assert classify_value("John Smith", names=False) is None
    assert classify_value("2024-05-01", dates=False) is None


@pytest.mark.parametrize("name,kind", [
    ("name", "name"), ("Patient Name", "name"), ("surname", "name"), ("DOB", "date"), ("date_of_birth", "date"),
    ("E-mail", "email"), ("mobile", "phone"), ("phone_number", "phone"), ("home address", "address"),
    ("postcode", "postcode"), ("NRIC", "nric"), ("nhs_number", "nhs_number"), ("SSN", "ssn"),
    ("notes", "free_text"), ("MRN", "record_number"), ("ip_address", "ip"),
])
def test_identifier_column_names(name, kind):
    assert identifier_column_kind(name) == kind


@pytest.mark.parametrize("name", ["episode_id", "patient_id", "clinic", "therapist", "leg_pain", "odi",
                                  "modality", "start_date", "followup_day", "discharge_reason"])
def test_contract_column_names_are_not_identifiers(name):
    assert identifier_column_kind(name) is None


def test_find_identifiers_names_rows_not_values():
    df = pd.DataFrame({"therapist": ["T1", "a@b.org", "T2", "a@b.org", None],
                       "clinic": ["CEN", "CEN", "Jane Doe", "NTH", "NTH"]}).astype("str")
    found = {(f.column, f.kind): f.rows.tolist() for f in find_identifiers(df, name_columns={"clinic"})}
    assert found == {("therapist", "email"): [1, 3], ("clinic", "name"): [2]}


def test_scan_is_fast_on_a_million_distinct_codes():
    """Distinct values, one RE2 pass for candidates: a million pseudonymous ids in well under 2 s."""
    ids = pd.Series(np.char.add("E", np.arange(1_000_000).astype(str)), dtype="str")
    t = time.perf_counter()
    assert find_identifiers(pd.DataFrame({"episode_id": ids}), name_columns={"episode_id"}) == []
    assert time.perf_counter() - t < 5
