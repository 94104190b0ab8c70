"""Hostile and unlucky inputs: nothing leaked, nothing crashes, limits with clear messages (issue 21)."""

from __future__ import annotations

import time

import pytest
from conftest import write_folder

from analysis import validate_folder
from analysis.app.cli import main
from analysis.records import anonymise

KEY = b"k" * 32


def _problems(folder):
    return [str(p) for p in validate_folder(folder)]


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\",\"x\")", "+A1*2", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)",
                                  "\tT3"])
def test_formula_cells_are_refused_in_text_columns(tmp_path, small_tables, cell):
    """A cell a spreadsheet runs as a formula was accepted and written as-is into CSV (issue 21, 5)."""
    ep, vi, cat = (t.copy() for t in small_tables)
    ep.loc[3, "therapist"] = cell
    probs = _problems(write_folder(tmp_path / "d", ep, vi, cat))
    assert any("episodes.csv row 5, column therapist: starts with =, +, -, @ or a tab" in p for p in probs), probs
    assert not any(cell.strip() in p for p in probs)


def test_numbers_and_phones_are_not_mistaken_for_formulas(tmp_path, small_tables):
    ep, vi, cat = (t.copy() for t in small_tables)
    ep.loc[3, "therapist"] = "+65 9123 4567"
    probs = _problems(write_folder(tmp_path / "d", ep, vi, cat))
    assert any("looks like a phone number" in p for p in probs) and not any("formula" in p for p in probs)


def test_a_300000_character_cell_is_refused_in_linear_time(tmp_path, small_tables):
    """One 300,000-character cell took the identifier scan 104 s (issue 21, 6)."""
    ep, vi, cat = (t.copy() for t in small_tables)
    ep.loc[0, "clinic"] = "ab1 " * 75_000
    cat.loc[0, "label"] = "Manual therapy " * 10
    folder = write_folder(tmp_path / "d", ep, vi, cat)
    t0 = time.perf_counter()
    probs = _problems(folder)
    assert time.perf_counter() - t0 < 10
    assert "episodes.csv row 2, column clinic: is longer than 500 characters (value not shown); shorten it" in probs
    assert "modalities.csv row 2, column label: is longer than 100 characters (value not shown); shorten it" in probs


def test_control_characters_are_refused_and_never_printed(tmp_path, small_tables):
    ep, vi, cat = (t.copy() for t in small_tables)
    ep.loc[1, "therapist"] = "T1\x1b[31m"
    ep.loc[2, "therapist"] = "T2\x00"
    probs = _problems(write_folder(tmp_path / "d", ep, vi, cat))
    assert sum("holds a control character" in p for p in probs) == 2
    assert not any("\x1b" in p or "\x00" in p for p in probs)


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\u009b", "\x0b"])
@pytest.mark.parametrize("kind", ["string", "large_string", "sliced"])
def test_the_byte_scan_never_passes_a_control_character(char, kind):
    """The control-character check first scans the text's bytes; it may only skip the Unicode test
    when no value can hold a control character, whatever the Arrow layout (offsets, slices)."""
    import pyarrow as pa

    from analysis.records._rules import _control_bytes_absent

    clean = ["T1", "", None, "é€ ä"]
    typ = pa.large_string() if kind == "large_string" else pa.string()
    arr = pa.array(["x" + char] + clean + ["y" + char], type=typ)
    if kind == "sliced":
        assert _control_bytes_absent(arr.slice(1, 4)) is True  # both control characters are outside the slice
        assert _control_bytes_absent(arr.slice(0, 2)) is False
        assert _control_bytes_absent(arr.slice(4, 2)) is False
    else:
        assert _control_bytes_absent(arr) is False
        assert _control_bytes_absent(pa.array(clean, type=typ)) is True
    assert _control_bytes_absent(pa.array([None, None], type=typ)) is True


def test_phone_or_address_inside_a_list_cell_is_caught(tmp_path, small_tables):
    """anonymise wrote a 'de-identified' folder with a phone inside visits.modalities (issue 21, 4)."""
    ep, vi, _ = (t.copy() for t in small_tables)
    vi.loc[0, "modalities"] = "manual_therapy;07700 900123"
    vi.loc[1, "modalities"] = "education;12 High Street"
    raw = write_folder(tmp_path / "raw", ep, vi)  # no catalogue
    res = anonymise(raw, tmp_path / "out", key=KEY)
    assert not res.written and not (tmp_path / "out").exists()
    text = " ".join(map(str, res.problems))
    assert "column modalities: looks like a phone number" in text and "looks like a street address" in text
    assert "07700" not in text and "High Street" not in text


def test_identifier_headers_and_names_are_never_printed(tmp_path, small_tables, capsys):
    """validate printed 'column jo@example.org: ...'; names were quoted in allowed-value errors (issue 21, 3)."""
    ep, vi, cat = (t.copy() for t in small_tables)
    ep["jo@example.org"] = "x"
    ep.loc[4, "sex"] = "MORGAN, Alex"
    folder = write_folder(tmp_path / "d", ep, vi, cat)
    assert main(["validate", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "jo@example.org" not in out and "MORGAN" not in out
    assert "(a header that looks like a value, not shown)" in out


def test_report_output_problems_are_usage_errors_before_any_work(tmp_path, sample_dir, capsys):
    """report -o EXISTING_DIR.html failed with an internal error after a 40 s run; -o /proc/x.html too."""
    d = tmp_path / "old.html"
    d.mkdir()
    t0 = time.perf_counter()
    assert main(["report", str(sample_dir), "-o", str(d)]) == 2
    assert time.perf_counter() - t0 < 5
    assert "is a folder; give the report's file name" in capsys.readouterr().err
    assert main(["report", str(sample_dir), "-o", "/proc/x.html"]) == 2
    assert "cannot write in /proc" in capsys.readouterr().err


def test_a_workbook_that_would_inflate_to_gigabytes_is_refused_unopened(tmp_path, small_tables):
    """A 10 MB .xlsx inflating to 2 GB of XML kept validate running past 2 minutes (issue 21, 6)."""
    import zipfile

    ep, vi, cat = (t.copy() for t in small_tables)
    folder = write_folder(tmp_path / "d", ep, vi, cat)
    (folder / "episodes.csv").unlink()
    with zipfile.ZipFile(folder / "episodes.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", "<row/>" * 3_000_000)  # 18 MB of XML in about 50 KB
    t0 = time.perf_counter()
    probs = _problems(folder)
    assert time.perf_counter() - t0 < 10
    assert any(p.startswith("episodes.xlsx: would inflate to 18 MB") for p in probs), probs


def test_junk_xlsx_in_anonymise_is_a_usage_error(tmp_path, small_tables, capsys):
    ep, vi, _ = (t.copy() for t in small_tables)
    raw = write_folder(tmp_path / "raw", ep, vi)
    (raw / "episodes.csv").unlink()
    (raw / "episodes.xlsx").write_bytes(b"not a workbook at all")
    key = tmp_path / "k.key"
    assert main(["anonymise", str(raw), "-o", str(tmp_path / "out"), "--new-key", str(key)]) == 2
    err = capsys.readouterr().err
    assert "episodes.xlsx could not be read as an Excel (.xlsx) file" in err
    assert "internal error" not in err


@pytest.mark.parametrize("bad,message", [
    ('file = "../other.csv"', "must be the name of a file in the export folder"),
    ('file = "/etc/passwd"', "must be the name of a file in the export folder"),
])
def test_mapping_reads_only_inside_the_export_folder(tmp_path, bad, message):
    """file = "../other.csv" or an absolute path read outside the export and printed that file's header."""
    from analysis.records import MappingError, read_mapping

    m = tmp_path / "m.toml"
    m.write_text(f'[episodes]\n{bad}\nepisode_id = "a"\npatient_id = "b"\n[visits]\nfile = "v.csv"\n'
                 'episode_id = "a"\ndate = "d"\n')
    with pytest.raises(MappingError, match=message):
        read_mapping(m)


def test_deeply_nested_or_mistyped_mapping_is_a_mapping_error(tmp_path):
    from analysis.records import MappingError, read_mapping

    m = tmp_path / "m.toml"
    m.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(MappingError):
        read_mapping(m)
    m.write_text('date_format = 5\n[episodes]\nfile = "c.csv"\nepisode_id = "a"\npatient_id = "b"\n[visits]\n'
                 'file = "v.csv"\nepisode_id = "a"\ndate = "d"\n')
    with pytest.raises(MappingError, match="date_format must be text"):
        read_mapping(m)


def test_new_key_into_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["anonymise", "--new-key", str(tmp_path / "no" / "such" / "k.key")]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and "k.key" in err


def test_utf16_and_binary_files_are_named_as_such(tmp_path, small_tables):
    """A UTF-16 or binary file got 'a comma inside a value that is not in quotes?' (issue 21, 8)."""
    ep, vi, cat = (t.copy() for t in small_tables)
    folder = write_folder(tmp_path / "d", ep, vi, cat)
    (folder / "episodes.csv").write_bytes(ep.to_csv(index=False).encode("utf-16"))
    (folder / "visits.csv").write_bytes(bytes(range(256)) * 40)
    probs = _problems(folder)
    assert "episodes.csv: is UTF-16 text (Excel's 'Unicode text'), not CSV; save it from your spreadsheet as " \
           "'CSV UTF-8'" in probs
    assert "visits.csv: is not a text file (it holds binary data), not CSV; save it from your spreadsheet as " \
           "'CSV UTF-8'" in probs


def test_workbook_hidden_sheets_comments_and_properties_are_checked(tmp_path, small_tables):
    """XLSX hidden sheets, cell comments and document properties were never scanned (issue 21, 8)."""
    import openpyxl
    from openpyxl.comments import Comment

    ep, vi, cat = (t.copy() for t in small_tables)
    folder = write_folder(tmp_path / "d", ep, vi, cat)
    (folder / "episodes.csv").unlink()
    ep.to_excel(folder / "episodes.xlsx", index=False)
    wb = openpyxl.load_workbook(folder / "episodes.xlsx")
    wb.create_sheet("Contacts").sheet_state = "hidden"
    wb.active["B2"].comment = Comment("rang her on 07700 900123", "Alex Morgan")
    wb.properties.creator = "Alex Morgan"
    wb.save(folder / "episodes.xlsx")
    probs = _problems(folder)
    assert "episodes.xlsx: has 1 hidden sheet: hidden sheets are not read and may hold identifiers; delete it " \
           "(or unhide and check it)" in probs
    assert "episodes.xlsx: holds cell comments: they are not read and may hold identifiers; delete them" in probs
    assert any(p.startswith("episodes.xlsx: has a document property (creator)") for p in probs)
    assert not any("Morgan" in p or "07700" in p for p in probs)


def test_parquet_metadata_is_checked(tmp_path, small_tables):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ep, vi, cat = (t.copy() for t in small_tables)
    folder = write_folder(tmp_path / "d", ep, vi, cat)
    (folder / "episodes.csv").unlink()
    table = pa.Table.from_pandas(ep, preserve_index=False)
    table = table.replace_schema_metadata({**table.schema.metadata, b"exported_by": b"Alex Morgan"})
    pq.write_table(table, folder / "episodes.parquet")
    probs = _problems(folder)
    assert "episodes.parquet: has file metadata that looks like an identifier (not shown); write the file again " \
           "without custom metadata" in probs


def test_date_of_birth_format_is_not_guessed_from_the_first_value():
    """pandas took the first value's format for the whole column: 23/04/1961 after 1961-04-23 was lost, and
    03/04/1961 read month first after 04/23/1961 only by luck (issue 21, 8)."""
    from analysis.records import age_band_at

    bands = age_band_at(["1961-04-23", "23/04/1961", "03.04.1961", "1990-01-01 00:00:00"],
                        ["2025-04-22", "2025-04-22", "2025-04-02", "2025-06-01"]).tolist()
    assert bands == ["60-69", "60-69", "60-69", "30-39"]
    # both orders in one column: nothing is guessed
    assert age_band_at(["23/04/1961", "04/23/1961"], ["2025-06-01", "2025-06-01"]).isna().all()


def test_nested_or_repeated_parquet_columns_are_named_not_called_damaged(tmp_path, small_tables):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ep, vi, cat = (t.copy() for t in small_tables)
    folder = write_folder(tmp_path / "d", ep, vi, cat)
    (folder / "episodes.csv").unlink()
    table = pa.Table.from_pandas(ep, preserve_index=False)
    table = table.append_column("extra", pa.array([[1, 2]] * len(ep)))
    pq.write_table(table, folder / "episodes.parquet")
    probs = _problems(folder)
    assert "episodes.parquet row 1: has 1 nested column (lists or structures inside a cell); write each value in " \
           "a plain column of its own" in probs
    dup = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["clinic", "clinic"])
    pq.write_table(dup, folder / "episodes.parquet")
    assert "episodes.parquet row 1: has the same column name twice" in _problems(folder)


def test_a_sheet_named_after_a_patient_is_refused_without_its_name(tmp_path, small_tables):
    """The sheet-name check never ran (its pattern looked for 'sheet' inside the attributes)."""
    import openpyxl

    ep, vi, cat = (t.copy() for t in small_tables)
    folder = write_folder(tmp_path / "d", ep, vi, cat)
    (folder / "episodes.csv").unlink()
    ep.to_excel(folder / "episodes.xlsx", index=False)
    wb = openpyxl.load_workbook(folder / "episodes.xlsx")
    wb.active.title = "MORGAN, Alex"
    wb.save(folder / "episodes.xlsx")
    probs = _problems(folder)
    assert "episodes.xlsx: has a sheet whose name looks like an identifier (not shown); rename the sheet" in probs
    assert not any("MORGAN" in p for p in probs)


def test_an_empty_value_is_not_called_an_identifier():
    from analysis.records._problems import _show

    assert _show("") == "''" and _show("=A1").startswith("the value (not shown")
