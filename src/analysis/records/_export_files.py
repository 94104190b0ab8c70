"""Reading one table of a practice-management export as the mapping describes it (every cell as text).

CSV with the mapping's separator (or the one its header line shows), encoding (or UTF-8, else
Windows-1252; UTF-16 with its byte-order mark, as Excel's "Unicode text" is written) and a
workbook's named sheet. What does not fit the file is a problem in the export's terms, never a
traceback: a separator that is not the file's, a sheet that is not there, a key that does not apply
to this kind of file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ._mapping import Source
from ._problems import Problem, safe_header
from ._readers import SEPARATORS, sniff_separator, workbook_too_big

__all__ = ["read_export_table"]


def _decode_head(path: Path, encoding: str | None) -> tuple[str, str | None]:
    """The first 64 KB as text, and the encoding to read the file with (None: not text in any we try)."""
    with open(path, "rb") as fh:
        raw = fh.read(1 << 16)
    if encoding:
        return raw.decode(encoding, errors="replace"), encoding
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace"), "utf-16"
    for enc in ("utf-8-sig", "cp1252"):
        try:
            raw.decode(enc)  # a multi-byte character cut at 64 KB is the only failure allowed at the end
            return raw.decode(enc), enc
        except UnicodeDecodeError as exc:
            if enc == "utf-8-sig" and exc.start >= len(raw) - 3:
                return raw.decode(enc, errors="ignore"), enc
    return "", None


def read_export_table(folder: Path, src: Source, mapping_name: str, problems: list) -> pd.DataFrame | None:
    """One table of the export, every column as text, or None with the reasons added to *problems*."""
    path = folder / src.file
    section = f"[{src.table}]"
    if not path.is_file():
        problems.append(Problem(folder.name, None, None, f"has no {src.file} (named as the {src.table} file in "
                                                          f"{mapping_name})"))
        return None
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".tsv", ".xlsx", ".parquet"):
        problems.append(Problem(src.file, None, None, "is not a CSV, Excel (.xlsx) or Parquet file: export the "
                                                      "table in one of these"))
        return None
    if suffix in (".csv", ".txt", ".tsv"):
        if src.sheet:
            problems.append(Problem(src.file, None, None, f"is a CSV file, which has no sheets: remove sheet = "
                                                          f"\"{src.sheet}\" from {section} in {mapping_name}"))
            return None
        return _read_csv(path, src, mapping_name, problems)
    for key, value in (("separator", src.separator), ("encoding", src.encoding)):
        if value is not None:
            kind = "a workbook" if suffix == ".xlsx" else "a Parquet file"
            problems.append(Problem(src.file, None, None, f"is {kind}: {key} applies only to CSV files; remove it "
                                                          f"from {section} in {mapping_name}"))
    if suffix == ".parquet":
        if src.sheet:
            problems.append(Problem(src.file, None, None, f"is a Parquet file, which has no sheets: remove sheet = "
                                                          f"\"{src.sheet}\" from {section} in {mapping_name}"))
        if any(p.file == src.file for p in problems):
            return None
        try:
            df = pd.read_parquet(path)
            return df.astype("str").where(df.notna())
        except Exception:  # noqa: BLE001 - any reader failure is a problem with the file
            problems.append(Problem(src.file, None, None, "could not be read as a Parquet file; is it damaged?"))
            return None
    why = workbook_too_big(path)
    if why:
        problems.append(Problem(src.file, None, None, why))
        return None
    if any(p.file == src.file for p in problems):
        return None
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception:  # noqa: BLE001
        problems.append(Problem(src.file, None, None, "could not be read as an Excel (.xlsx) file; is it damaged or "
                                                      "another format?"))
        return None
    with book:
        sheets = [str(s) for s in book.sheet_names]
        shown = ", ".join(safe_header(s) for s in sheets)
        if src.sheet is None and len(sheets) > 1:
            problems.append(Problem(src.file, None, None, f"has {len(sheets)} sheets ({shown}): say which holds the "
                                                          f"{src.table} with sheet = \"...\" under {section} in "
                                                          f"{mapping_name}"))
            return None
        sheet = src.sheet if src.sheet is not None else sheets[0]
        if sheet not in sheets:
            folded = {s.strip().casefold(): s for s in sheets}
            if sheet.strip().casefold() in folded:
                sheet = folded[sheet.strip().casefold()]
            else:
                problems.append(Problem(src.file, None, None, f"has no sheet called {safe_header(src.sheet)} "
                                                              f"(sheet in {section} of {mapping_name}); its sheets: "
                                                              f"{shown}"))
                return None
        try:
            return pd.read_excel(book, sheet_name=sheet, dtype=str, keep_default_na=False, na_values=[""])
        except Exception:  # noqa: BLE001
            problems.append(Problem(src.where, None, None, "could not be read; is the workbook damaged?"))
            return None


def _read_csv(path: Path, src: Source, mapping_name: str, problems: list) -> pd.DataFrame | None:
    section = f"[{src.table}]"
    head, encoding = _decode_head(path, src.encoding)
    if encoding is None:
        problems.append(Problem(src.file, None, None, "is not UTF-8 text (nor Windows-1252): say which encoding it "
                                                      f"is written in with encoding = \"...\" under {section} in "
                                                      f"{mapping_name}, or save it as 'CSV UTF-8'"))
        return None
    if "\x00" in head and encoding != "utf-16":
        problems.append(Problem(src.file, None, None, "is not a text file (it holds binary data)"))
        return None
    found = sniff_separator(head)
    sep = src.separator or found
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], encoding=encoding,
                         encoding_errors="strict", engine="c")
    except UnicodeDecodeError:
        problems.append(Problem(src.file, None, None, f"is not {encoding} text throughout (encoding in {section} "
                                                      f"of {mapping_name}, or UTF-8 when not given); say which "
                                                      "encoding it is written in with encoding = \"...\""))
        return None
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f" near row {m.group(1)}" if m else ""
        problems.append(Problem(src.file, None, None, f"could not be read: a line{where} has more cells than the "
                                                      f"header (separated by {SEPARATORS[sep]}); is a value holding "
                                                      "the separator not in quotes?"))
        return None
    except (pd.errors.EmptyDataError, ValueError):
        problems.append(Problem(src.file, None, None, "is empty: it has no header and no records"))
        return None
    if src.separator and found != src.separator and len(df.columns) == 1:
        problems.append(Problem(src.file, 1, None, f"has its columns separated by {SEPARATORS[found]}, not by "
                                                   f"{SEPARATORS[src.separator]} (separator in {section} of "
                                                   f"{mapping_name}): write separator = {_toml_sep(found)}, or "
                                                   "leave the key out"))
        return None
    return df


def _toml_sep(sep: str) -> str:
    return '"\\t"' if sep == "\t" else f'"{sep}"'
