"""Reading and validating a data folder.

:func:`load_records` reads ``episodes`` and ``visits`` (CSV, Parquet or XLSX)
and the optional ``modalities.csv``, checks every rule of the records
contract (:mod:`analysis.schema`) and returns typed tables. Problems are
collected, not raised one at a time: :func:`validate_folder` returns all of
them, each naming the file, the spreadsheet row (header = row 1), the column
and what is wrong in plain words. Values that look like identifiers are never
repeated in a message. Input files are only ever opened for reading.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from . import schema
from .privacy import IDENTIFIER_KINDS, classify_value, find_identifiers, identifier_column_kind
from .schema import ColumnSpec

__all__ = [
    "DataProblemError",
    "Problem",
    "Records",
    "load_records",
    "validate_folder",
]

_EXTENSIONS = (".csv", ".parquet", ".xlsx")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
#: At most this many rows are listed for one (file, column, problem); the rest are counted.
MAX_ROWS_PER_PROBLEM = 20
_NAME_COLUMNS = frozenset({"episode_id", "patient_id", "therapist", "clinic"})


@dataclass(frozen=True)
class Problem:
    """One problem found in a data folder.

    Attributes
    ----------
    file : str
        File name within the folder (``episodes.csv``), or the folder itself.
    row : int or None
        Spreadsheet row: header is row 1, the first record row 2.
    column : str or None
    problem : str
        What is wrong, in plain words. Never contains an identifier.

    Examples
    --------
    >>> from analysis import Problem
    >>> str(Problem("episodes.csv", 14, "global_change", "9 is outside 1-7"))
    'episodes.csv row 14, column global_change: 9 is outside 1-7'
    """

    file: str
    row: int | None
    column: str | None
    problem: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f"{',' if self.row is not None else ''} column {self.column}"
        return f"{where}: {self.problem}"

    def to_dict(self) -> dict:
        """The problem as a JSON-ready mapping with keys file, row, column, problem."""
        return {"file": self.file, "row": self.row, "column": self.column, "problem": self.problem}


class DataProblemError(Exception):
    """Raised when a data folder breaks the records contract.

    Attributes
    ----------
    problems : list of Problem
        Every problem found.

    Examples
    --------
    >>> from analysis import DataProblemError, Problem
    >>> str(DataProblemError([Problem("visits.csv", 2, "day", "is negative")])).splitlines()[0]
    '1 problem in the data:'
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        n = len(self.problems)
        head = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = f"\n  ... and {n - 50} more" if n > 50 else ""
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in the data:\n{head}{more}")


@dataclass
class Records:
    """A validated data folder.

    Attributes
    ----------
    episodes : pandas.DataFrame
        One row per episode, columns typed per the contract.
    visits : pandas.DataFrame
        One row per visit, sorted by episode and visit number.
    modalities : pandas.DataFrame
        The catalogue (``code``, ``label``, ``description``); built from the
        codes in use, with the code as its own label, when the folder has no
        ``modalities.csv``.
    folder : pathlib.Path
    files : dict
        Table name -> file name read.

    Examples
    --------
    >>> from analysis import load_records
    >>> rec = load_records("data/sample")
    >>> rec.files["episodes"], rec.has_catalogue
    ('episodes.csv', True)
    """

    episodes: pd.DataFrame
    visits: pd.DataFrame
    modalities: pd.DataFrame
    folder: Path
    files: dict[str, str] = field(default_factory=dict)
    _visit_pos: np.ndarray | None = field(default=None, repr=False, compare=False)

    def visit_positions(self) -> np.ndarray:
        """Row in ``episodes`` of each visit's episode (-1 for none), computed once.

        Examples
        --------
        >>> from analysis import load_records
        >>> rec = load_records("data/sample")
        >>> pos = rec.visit_positions()
        >>> bool((rec.episodes["episode_id"].to_numpy()[pos] == rec.visits["episode_id"].to_numpy()).all())
        True
        """
        if self._visit_pos is None or len(self._visit_pos) != len(self.visits):
            self._visit_pos = _episode_positions(self.episodes["episode_id"], self.visits["episode_id"])
        return self._visit_pos

    @property
    def has_catalogue(self) -> bool:
        """Whether the folder had a ``modalities.csv``."""
        return "modalities" in self.files

    @property
    def labels(self) -> dict[str, str]:
        """Modality code -> label shown to people."""
        return dict(zip(self.modalities["code"], self.modalities["label"]))


# ------------------------------------------------------------------ problem log


class _Log:
    """Collects problems, listing at most MAX_ROWS_PER_PROBLEM rows per kind."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self._counts: dict[tuple, int] = defaultdict(int)
        self._first: dict[tuple, int] = {}

    def add(self, file: str, row: int | None, column: str | None, problem: str, key: str | None = None) -> None:
        k = (file, column, key or problem)
        self._counts[k] += 1
        if self._counts[k] <= MAX_ROWS_PER_PROBLEM:
            self.problems.append(Problem(file, row, column, problem))

    def add_rows(self, file: str, rows, column: str | None, problems, key: str) -> None:
        """Add one problem per row (0-based positions).

        *problems* is one string for every row, or the messages of the first rows
        (at least MAX_ROWS_PER_PROBLEM of them): only those rows are listed, the
        rest are counted, so callers never build millions of messages.
        """
        rows = np.asarray(rows)
        k = (file, column, key)
        take = max(0, MAX_ROWS_PER_PROBLEM - self._counts[k])
        msgs = [problems] * min(take, len(rows)) if isinstance(problems, str) else list(problems)[:take]
        for r, p in zip(rows[:take], msgs, strict=True):
            self.problems.append(Problem(file, int(r) + 2, column, p))
        self._counts[k] += len(rows)

    def finish(self) -> list[Problem]:
        out = sorted(self.problems, key=lambda p: (p.file, p.row or 0))
        for (file, column, key), n in self._counts.items():
            if n > MAX_ROWS_PER_PROBLEM:
                out.append(
                    Problem(
                        file,
                        None,
                        column,
                        f"{n - MAX_ROWS_PER_PROBLEM:,} more rows with the same problem "
                        f"({key}); {n:,} in all",
                    )
                )
        return out


def _show(value) -> str:
    """A value as it may appear in a message: never an identifier, never long."""
    text = str(value).strip()
    if isinstance(value, float) and float(value).is_integer():
        text = str(int(value))
    digits = sum(ch.isdigit() for ch in text)
    if len(text) > 24 or digits >= 7 or classify_value(text, names=True) is not None:
        return "the value (not shown, it may identify someone)"
    return f"'{text}'" if not re.fullmatch(r"-?\d+(\.\d+)?", text) else text


# ------------------------------------------------------------------ reading


def _find_files(folder: Path, log: _Log) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for table in ("episodes", "visits", "modalities"):
        exts = (".csv",) if table == "modalities" else _EXTENSIONS
        hits = [folder / f"{table}{ext}" for ext in exts if (folder / f"{table}{ext}").is_file()]
        if len(hits) > 1:
            log.add(folder.name, None, None, f"has more than one {table} file ({', '.join(h.name for h in hits)}); keep one")
        elif hits:
            found[table] = hits[0]
        elif table != "modalities":
            others = sorted(p.name for p in folder.iterdir() if p.stem.lower() == table)
            hint = f" (found {', '.join(others)}: use .csv, .parquet or .xlsx)" if others else ""
            log.add(folder.name or str(folder), None, None, f"has no {table} file: expected {table}.csv, {table}.parquet or {table}.xlsx{hint}")
    return found


def _read_csv(path: Path, specs: tuple[ColumnSpec, ...], log: _Log) -> pd.DataFrame | None:
    text_cols = {s.name: pa.string() for s in specs if s.kind in ("text", "date", "codes", "boolean")}
    convert = pacsv.ConvertOptions(column_types=text_cols, null_values=[""], strings_can_be_null=True,
                                   true_values=[], false_values=[])
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if not head.strip(b"\xef\xbb\xbf \r\n\t"):
        log.add(path.name, None, None, "is empty: it has no header and no records")
        return None
    table = None
    for encoding in ("utf8", "cp1252"):
        try:
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 26),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=convert,
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
            msg = "UTF8" if isinstance(exc, UnicodeDecodeError) else str(exc)
            if "UTF8" in msg or "UTF-8" in msg or "decode" in msg.lower():
                if encoding == "utf8" and _decodes(path, "cp1252"):
                    continue
                break
            m = re.search(r"[Rr]ow #(\d+)", msg)
            where = f" near row {int(m.group(1))}" if m else ""
            if "Expected" in msg and "columns" in msg:
                log.add(path.name, None, None, f"could not be read: a line{where} has a different number of cells from the header (a comma inside a value that is not in quotes?)")
            elif "uplicate" in msg:
                log.add(path.name, 1, None, "has the same column name twice in its header")
            else:
                log.add(path.name, None, None, f"could not be read as CSV{where}")
            return None
        try:
            _ = table.column_names  # a header that is not valid text fails here
            bad_bytes = any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types)
        except UnicodeDecodeError:
            bad_bytes = True
        if bad_bytes:
            table = None  # bytes that are not UTF-8 text
            if encoding == "utf8" and _decodes(path, "cp1252"):
                continue
        break
    if table is None:
        log.add(path.name, None, None, "is not UTF-8 text (nor Windows-1252); save it from your spreadsheet as 'CSV UTF-8'")
        return None
    names = table.column_names
    if len(set(names)) != len(names):
        log.add(path.name, 1, None, "has the same column name twice in its header")
        return None
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)


def _empty_is_missing(df: pd.DataFrame) -> pd.DataFrame:
    """An empty (or blank) text cell is a missing value, in every format (spec section 2)."""
    out = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_string_dtype(s.dtype):
            text = s.astype("str").where(s.notna())
            out[c] = text.where(text.str.strip() != "")
        else:
            out[c] = s
    return pd.DataFrame(out, index=df.index)


def _decodes(path: Path, encoding: str) -> bool:
    try:
        path.read_bytes().decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _read_table(path: Path, specs: tuple[ColumnSpec, ...], log: _Log) -> pd.DataFrame | None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, specs, log)
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_excel(path, dtype=str, keep_default_na=False, na_values=[""], engine="openpyxl")
            df = df.astype({c: "str" for c in df.columns})
        return _empty_is_missing(df)
    except Exception:  # any reader failure is a data problem, never a traceback
        kind = "Parquet" if suffix == ".parquet" else "Excel (.xlsx)"
        log.add(path.name, None, None, f"could not be read as a {kind} file; is it damaged or another format?")
        return None


# ------------------------------------------------------------------ typing columns


def _bad(log: _Log, file: str, column: str, s: pd.Series, mask: np.ndarray, expected: str, key: str) -> None:
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return
    shown = [f"{_show(v)} is not {expected}" for v in s.iloc[rows[:MAX_ROWS_PER_PROBLEM]]]
    log.add_rows(file, rows, column, shown, key=key)


def _coerce(s: pd.Series, spec: ColumnSpec, file: str, log: _Log, skip: np.ndarray) -> pd.Series:
    """Convert one column to its declared type; report cells that cannot be converted."""
    name = spec.name
    if spec.kind in ("text", "codes"):
        if not pd.api.types.is_string_dtype(s.dtype):
            s = s.astype("str").where(s.notna())
        return s.str.strip().replace("", None) if spec.allowed else s
    if spec.kind == "boolean":
        if pd.api.types.is_bool_dtype(s.dtype):
            return s.astype("boolean")
        text = s.astype("str").where(s.notna()).str.strip().str.lower()
        text = text.str.replace(r"\.0$", "", regex=True)
        out = pd.Series(pd.NA, index=s.index, dtype="boolean")
        out[text.isin(_TRUE).to_numpy(dtype=bool)] = True
        out[text.isin(_FALSE).to_numpy(dtype=bool)] = False
        bad = (text.notna() & out.isna()).to_numpy(dtype=bool) & ~skip
        _bad(log, file, name, s, bad, "yes or no (true/false, yes/no, y/n, 1/0)", "not yes or no")
        skip |= bad
        return out
    if spec.kind == "date":
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            return s.astype("datetime64[s]")
        text = s.astype("str").where(s.notna()).str.strip()
        text = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00$", r"\1", regex=True)
        out = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        bad = (text.notna() & out.isna()).to_numpy(dtype=bool) & ~skip
        rows = np.flatnonzero(bad)
        if len(rows):
            log.add_rows(file, rows, name, "is not a date written YYYY-MM-DD (for example 2025-03-31)", key="not a date")
        skip |= bad
        return out.astype("datetime64[s]")
    # integer / number
    if pd.api.types.is_integer_dtype(s.dtype):  # fast path: nothing to parse
        return s.astype("Int64") if spec.kind == "integer" else s.astype("float64")
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype("float64")
    if pd.api.types.is_numeric_dtype(s.dtype):
        num = s.astype("float64")
        unparsed = np.zeros(len(s), dtype=bool)
    else:
        text = s.astype("str").where(s.notna()).str.strip()
        num = pd.to_numeric(text, errors="coerce").astype("float64")
        unparsed = (text.notna() & num.isna()).to_numpy(dtype=bool)
    values = num.to_numpy()
    unparsed = unparsed | np.isinf(values)
    what = "a whole number" if spec.kind == "integer" else "a number"
    _bad(log, file, name, s, unparsed & ~skip, what, f"not {what}")
    skip |= unparsed
    if spec.kind == "number":
        return num.where(~unparsed)
    with np.errstate(invalid="ignore"):
        fractional = np.isfinite(values) & (np.floor(values) != values)
        huge = np.isfinite(values) & (np.abs(values) > 1e12) & ~fractional
    _bad(log, file, name, s, fractional & ~skip, "a whole number", "not a whole number")
    rows = np.flatnonzero(huge & ~skip)
    if len(rows):
        log.add_rows(file, rows, name, "is far outside any sensible range (value not shown)", key="huge number")
    skip |= fractional | huge
    clean = num.where(~(unparsed | fractional | huge))
    return clean.astype("Int64")


# ------------------------------------------------------------------ column rules via pandera


def _bounds_text(spec: ColumnSpec) -> str:
    lo, hi = spec.minimum, spec.maximum
    f = schema._fmt
    if lo is not None and hi is not None:
        return f"is outside {f(lo)}-{f(hi)}"
    if lo is not None:
        return f"is below {f(lo)}" if lo != 0 else "is negative"
    return f"is above {f(hi)}"


def _column_rules(df: pd.DataFrame, table: str, file: str, log: _Log, skip: dict[str, np.ndarray]) -> None:
    specs = {s.name: s for s in schema.TABLES[table]}
    present = [c for c in df.columns if c in specs]
    sch = schema.pandera_schema(table)
    sch = sch.select_columns(present) if hasattr(sch, "select_columns") else sch
    try:
        sch.validate(df[present], lazy=True)
        return
    except pandera.errors.SchemaErrors as err:
        fc = err.failure_cases
    fc = fc[fc["index"].notna() & fc["column"].isin(present)]
    for (column, check), grp in fc.groupby(["column", "check"], sort=False):
        spec = specs[column]
        idx = grp["index"].astype("int64").to_numpy()
        keep = ~skip.get(column, np.zeros(len(df), dtype=bool))[idx]
        idx, values = idx[keep], grp["failure_case"].to_numpy()[keep]
        order = np.argsort(idx, kind="stable")
        idx, values = idx[order], values[order]
        if check == "not_nullable":
            msg = "is empty, but a value is required"
            log.add_rows(file, idx, column, msg, key=msg)
        elif check.startswith("allowed") or check.startswith("isin"):
            allowed = ", ".join(spec.allowed or ())
            msgs = [f"{_show(v)} is not one of {allowed}" for v in values[:MAX_ROWS_PER_PROBLEM]]
            log.add_rows(file, idx, column, msgs, key="not an allowed value")
        elif check.startswith("minimum") or check.startswith("maximum") or "greater" in check or "less" in check:
            msgs = [f"{_show(v)} {_bounds_text(spec)}" for v in values[:MAX_ROWS_PER_PROBLEM]]
            log.add_rows(file, idx, column, msgs, key=_bounds_text(spec))
        elif check == "field_uniqueness":
            pass  # reported with the row it repeats by the cross-table rules
        else:  # pragma: no cover - a check we did not declare
            log.add_rows(file, idx, column, f"fails the rule '{check}'", key=check)


# ------------------------------------------------------------------ one table


def _read_and_type(path: Path, table: str, log: _Log) -> pd.DataFrame | None:
    specs = schema.TABLES[table]
    file = path.name
    raw = _read_table(path, specs, log)
    if raw is None:
        return None
    if raw.columns.size == 0 or (len(raw) == 0):
        log.add(file, None, None, "has a header but no records" if raw.columns.size else "is empty")
        return None
    raw.columns = [str(c).strip() for c in raw.columns]
    known = {s.name for s in specs}
    unknown = [c for c in raw.columns if c not in known]
    for c in unknown:
        kind = identifier_column_kind(c)
        if kind:
            log.add(file, 1, c, f"looks like an identifier column ({IDENTIFIER_KINDS[kind]}); identifiers are refused: remove the column (or run 'physio-outcomes anonymise' on the export)")
        else:
            log.add(file, 1, c, "is not a column of the records contract; remove it (unknown columns are refused because they are how identifiers leak in)")
    for s in specs:
        if s.must_be_present and s.name not in raw.columns:
            log.add(file, 1, s.name, "is missing: this column is required")
    # identifier guard on every text cell (distinct values only)
    text_cols = [c for c in raw.columns if pd.api.types.is_string_dtype(raw[c].dtype)]
    if table == "visits":
        # a visit's episode_id is either one of the episodes' ids (scanned there) or an
        # orphan, scanned with the cross-table rules: saves hashing millions of ids twice
        text_cols = [c for c in text_cols if c != "episode_id"]
    # ...and on number columns too: an NHS or phone number typed into a number column is still one
    num_cols = [c for c in raw.columns if pd.api.types.is_numeric_dtype(raw[c].dtype)
                and not pd.api.types.is_bool_dtype(raw[c].dtype)]
    skip: dict[str, np.ndarray] = {}
    findings = find_identifiers(
        raw,
        columns=text_cols + num_cols,
        name_columns=_NAME_COLUMNS | set(unknown),
        date_columns={"start_date"},
        number_columns={s.name for s in specs if s.kind in ("integer", "number")},
    )
    for f in findings:
        log.add_rows(
            file,
            f.rows,
            f.column,
            f"looks like {f.description}; identifiers are refused (value not shown)",
            key=f"looks like {f.description}",
        )
        mask = skip.setdefault(f.column, np.zeros(len(raw), dtype=bool))
        mask[f.rows] = True
    typed = {}
    for s in specs:
        if s.name in raw.columns:
            mask = skip.setdefault(s.name, np.zeros(len(raw), dtype=bool))
            typed[s.name] = _coerce(raw[s.name], s, file, log, mask)  # marks unreadable cells in mask
    df = pd.DataFrame(typed, index=raw.index)
    _column_rules(df, table, file, log, skip)
    return df


# ------------------------------------------------------------------ cross-table rules


def _episode_positions(ep_ids: pd.Series, visit_ids: pd.Series) -> np.ndarray:
    """Row in episodes of each visit's episode (its first row), -1 when there is none.

    Arrow's hash join (``index_in``) avoids turning millions of ids into Python strings.
    """
    codes, uniques = pd.factorize(ep_ids)
    if len(uniques) == 0:
        return np.full(len(visit_ids), -1, dtype="int64")
    first = np.full(len(uniques), -1, dtype="int64")
    rows = np.flatnonzero(codes >= 0)[::-1]
    first[codes[rows]] = rows  # the earliest row is written last
    idx = pc.fill_null(pc.index_in(pa.array(visit_ids.astype("str")).cast(pa.string()),
                                   value_set=pa.array(uniques.astype("str")).cast(pa.string())), -1)
    idx = idx.to_numpy().astype("int64")
    return np.where(idx >= 0, first[np.maximum(idx, 0)], -1)


def _duplicates(keys: pd.DataFrame | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Rows that repeat an earlier row's key, and the first row with that key."""
    if isinstance(keys, pd.Series) and pd.api.types.is_string_dtype(keys.dtype):
        if pc.count_distinct(pa.array(keys), mode="only_valid").as_py() == len(keys) - keys.isna().sum():
            return np.array([], dtype=int), np.array([], dtype=int)
    dup = keys.duplicated(keep="first").to_numpy()
    rows = np.flatnonzero(dup)
    if len(rows) == 0:
        return rows, rows
    if isinstance(keys, pd.Series):
        first_pos = pd.Series(np.arange(len(keys)), index=keys.index).groupby(keys.to_numpy(), sort=False).transform("min")
    else:
        first_pos = pd.Series(np.arange(len(keys))).groupby([keys[c].to_numpy() for c in keys.columns], sort=False).transform("min")
    return rows, first_pos.to_numpy()[rows]


def _cross_rules(ep: pd.DataFrame | None, vi: pd.DataFrame | None, cat: pd.DataFrame | None,
                 files: dict[str, str], log: _Log, cache: dict) -> None:
    ef, vf = files.get("episodes", "episodes"), files.get("visits", "visits")
    if cat is not None and "code" in cat.columns:
        rows, first = _duplicates(cat["code"])
        log.add_rows("modalities.csv", rows, "code", [f"the same code as row {f + 2}" for f in first], key="code repeated")
    if ep is not None:
        if "episode_id" in ep.columns:
            rows, first = _duplicates(ep["episode_id"])
            log.add_rows(ef, rows, "episode_id", [f"the same episode_id as row {f + 2}; each episode needs its own id" for f in first], key="episode_id repeated")
        if {"surgery", "surgery_day"} <= set(ep.columns):
            surg = ep["surgery"].fillna(False).to_numpy(dtype=bool)
            has_day = ep["surgery_day"].notna().to_numpy()
            log.add_rows(ef, np.flatnonzero(surg & ~has_day), "surgery_day", "is empty, but surgery is yes: give the day of surgery", key="surgery without day")
            no_surg = (ep["surgery"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
            log.add_rows(ef, np.flatnonzero(no_surg & has_day), "surgery_day", "is filled, but surgery is no", key="day without surgery")
        elif "surgery" in ep.columns:
            surg = ep["surgery"].fillna(False).to_numpy(dtype=bool)
            log.add_rows(ef, np.flatnonzero(surg), "surgery_day", "is empty (the column is missing), but surgery is yes: give the day of surgery", key="surgery without day")
        if {"followup_day", "discharge_day"} <= set(ep.columns):
            fu, dd = ep["followup_day"], ep["discharge_day"]
            bad = (fu < dd).fillna(False).to_numpy(dtype=bool)
            msgs = [f"{a} is before discharge_day {b}; follow-up lasts at least until discharge" for a, b in zip(fu[bad], dd[bad])]
            log.add_rows(ef, np.flatnonzero(bad), "followup_day", msgs, key="follow-up before discharge")
        if {"followup_day", "surgery_day"} <= set(ep.columns):
            fu, sd = ep["followup_day"], ep["surgery_day"]
            bad = (fu < sd).fillna(False).to_numpy(dtype=bool)
            msgs = [f"{a} is before surgery_day {b}; follow-up lasts at least until the surgery" for a, b in zip(fu[bad], sd[bad])]
            log.add_rows(ef, np.flatnonzero(bad), "followup_day", msgs, key="follow-up before surgery")
        if {"discharge_reason", "discharge_day"} <= set(ep.columns):
            bad = ((ep["discharge_reason"] == "ongoing").fillna(False) & ep["discharge_day"].notna()).to_numpy(dtype=bool)
            log.add_rows(ef, np.flatnonzero(bad), "discharge_day", "is filled, but discharge_reason is ongoing; leave it empty while the episode is ongoing", key="ongoing with discharge day")
        if cat is not None and "modality" in ep.columns and "code" in cat.columns:
            codes = set(cat["code"].dropna())
            m = ep["modality"]
            bad = (m.notna() & ~m.isin(codes)).to_numpy(dtype=bool)
            msgs = [f"{_show(v)} is not a code in modalities.csv" for v in m[bad].iloc[:MAX_ROWS_PER_PROBLEM]]
            log.add_rows(ef, np.flatnonzero(bad), "modality", msgs, key="modality not in catalogue")
    if vi is None:
        return
    if cat is not None and "modalities" in vi.columns and "code" in cat.columns:
        codes = set(cat["code"].dropna())
        uniq = pd.Series(vi["modalities"].dropna().unique())
        bad_vals = {}
        for u in uniq:
            unknown = [c.strip() for c in str(u).split(";") if c.strip() and c.strip() not in codes]
            if unknown:
                bad_vals[u] = unknown[0]
        if bad_vals:
            col = vi["modalities"]
            bad = col.isin(list(bad_vals)).to_numpy(dtype=bool)
            msgs = [f"{_show(bad_vals[v])} is not a code in modalities.csv" for v in col[bad].iloc[:MAX_ROWS_PER_PROBLEM]]
            log.add_rows(vf, np.flatnonzero(bad), "modalities", msgs, key="code not in catalogue")
    if ep is None or "episode_id" not in vi.columns or "episode_id" not in ep.columns:
        return
    pos = _episode_positions(ep["episode_id"], vi["episode_id"])
    cache["pos"] = pos
    orphan = (pos < 0) & vi["episode_id"].notna().to_numpy()
    if orphan.any():
        orphan_rows = np.flatnonzero(orphan)
        ids = vi[["episode_id"]].iloc[orphan_rows].reset_index(drop=True)
        for f in find_identifiers(ids, name_columns={"episode_id"}):
            rows = orphan_rows[f.rows]
            log.add_rows(vf, rows, "episode_id", f"looks like {f.description}; identifiers are refused (value not shown)",
                         key=f"looks like {f.description}")
            orphan[rows] = False
    log.add_rows(vf, np.flatnonzero(orphan), "episode_id", f"does not match any episode in {ef}", key="unknown episode")
    if not {"visit_no", "day"} <= set(vi.columns):
        return
    vno = vi["visit_no"].to_numpy(dtype="float64", na_value=np.nan)
    day = vi["day"].to_numpy(dtype="float64", na_value=np.nan)
    ok = (pos >= 0) & ~np.isnan(vno)
    rows_ok = np.flatnonzero(ok)
    e, v, d = pos[rows_ok], vno[rows_ok], day[rows_ok]
    if len(e) > 1 and not (np.all(np.diff(e) >= 0) and np.all((np.diff(e) > 0) | (np.diff(v) >= 0))):
        order = np.lexsort((v, e))
    else:
        order = np.arange(len(e))
    cache["order_ok"] = len(e) == len(vi) and np.array_equal(order, np.arange(len(order)))
    es, vs, ds = e[order], v[order], d[order]
    same_ep = es[1:] == es[:-1]
    # repeated visit numbers: adjacent once sorted; the first of each run is the earlier row
    same_key = same_ep & (vs[1:] == vs[:-1])
    if same_key.any():
        run_start = np.maximum.accumulate(np.where(np.r_[True, ~same_key], np.arange(len(es)), 0))
        at = np.flatnonzero(same_key) + 1
        rows, first = rows_ok[order[at]], rows_ok[order[run_start[at]]]
        srt = np.argsort(rows, kind="stable")
        log.add_rows(vf, rows[srt], "visit_no", [f"this visit number already appears for the episode on row {f + 2}" for f in first[srt][:MAX_ROWS_PER_PROBLEM]], key="visit_no repeated")
    first_visit = ok & (vno == 1) & ~np.isnan(day) & (day != 0)
    log.add_rows(vf, np.flatnonzero(first_visit), "day", [f"visit 1 must be on day 0, not day {int(x)}" for x in day[first_visit][:MAX_ROWS_PER_PROBLEM]], key="visit 1 not on day 0")
    # day never goes down as visit_no goes up, within an episode
    back = same_ep & (ds[1:] < ds[:-1])
    bad_rows = rows_ok[order[1:][back]]
    prev_days, this_days = ds[:-1][back], ds[1:][back]
    srt = np.argsort(bad_rows, kind="stable")
    log.add_rows(vf, bad_rows[srt], "day", [f"day {int(a)} is before the previous visit's day {int(b)}" for a, b in zip(this_days[srt][:MAX_ROWS_PER_PROBLEM], prev_days[srt][:MAX_ROWS_PER_PROBLEM])], key="day goes down")
    if "discharge_day" in ep.columns:
        dis = ep["discharge_day"].to_numpy(dtype="float64", na_value=np.nan)
        vd = np.full(len(vi), np.nan)
        vd[pos >= 0] = dis[pos[pos >= 0]]
        late = ~np.isnan(vd) & ~np.isnan(day) & (day > vd)
        log.add_rows(vf, np.flatnonzero(late), "day", [f"day {int(a)} is after the episode's discharge_day {int(b)}" for a, b in zip(day[late][:MAX_ROWS_PER_PROBLEM], vd[late][:MAX_ROWS_PER_PROBLEM])], key="visit after discharge")


# ------------------------------------------------------------------ public API


def _check_folder(folder) -> Path:
    path = Path(folder)
    if not path.exists():
        raise FileNotFoundError(f"data folder not found: {path}")
    if not path.is_dir():
        raise NotADirectoryError(f"not a folder: {path} (give the folder that holds episodes and visits)")
    return path


def _load(folder, *, finish: bool = True) -> tuple[Records | None, list[Problem]]:
    path = _check_folder(folder)
    log = _Log()
    paths = _find_files(path, log)
    files = {t: p.name for t, p in paths.items()}
    frames = {t: _read_and_type(p, t, log) for t, p in paths.items()}
    ep, vi, cat = frames.get("episodes"), frames.get("visits"), frames.get("modalities")
    cache: dict = {}
    _cross_rules(ep, vi, cat, files, log, cache)
    problems = log.finish()
    if problems or ep is None or vi is None or not finish:
        return None, problems
    return _finish(ep, vi, cat, path, files, cache), []


def _finish(ep: pd.DataFrame, vi: pd.DataFrame, cat: pd.DataFrame | None, folder: Path, files: dict,
            cache: dict) -> Records:
    """Final dtypes once the data are known to be valid."""
    for spec in schema.EPISODES:
        if spec.name not in ep.columns:
            ep[spec.name] = pd.Series(index=ep.index, dtype=_empty_dtype(spec))
        elif spec.kind == "boolean" and spec.must_be_present:
            ep[spec.name] = ep[spec.name].astype(bool)
        elif spec.kind == "integer" and spec.must_be_present:
            ep[spec.name] = ep[spec.name].astype("int64")
    for spec in schema.VISITS:
        if spec.name not in vi.columns:
            vi[spec.name] = pd.Series(index=vi.index, dtype=_empty_dtype(spec))
        elif spec.kind == "integer" and spec.must_be_present:
            vi[spec.name] = vi[spec.name].astype("int64")
    ep = ep[[s.name for s in schema.EPISODES]]
    vi = vi[[s.name for s in schema.VISITS]]
    pos = cache["pos"]
    if not cache.get("order_ok"):
        order = np.lexsort((vi["visit_no"].to_numpy(), pos))
        vi, pos = vi.iloc[order].reset_index(drop=True), pos[order]
    if cat is None:
        codes = sorted(set(ep["modality"].dropna()))
        cat = pd.DataFrame({"code": codes, "label": codes, "description": pd.Series([pd.NA] * len(codes), dtype="str")})
    else:
        if "description" not in cat.columns:
            cat["description"] = pd.Series(pd.NA, index=cat.index, dtype="str")
        cat = cat[["code", "label", "description"]].sort_values("code").reset_index(drop=True)
    return Records(episodes=ep, visits=vi, modalities=cat, folder=folder, files=files, _visit_pos=pos)


def _empty_dtype(spec: ColumnSpec) -> str:
    return {"integer": "Int64", "number": "float64", "boolean": "boolean", "date": "datetime64[s]"}.get(spec.kind, "str")


def validate_folder(folder) -> list[Problem]:
    """Check a data folder against the records contract.

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder holding ``episodes`` and ``visits`` (CSV, Parquet or XLSX) and
        optionally ``modalities.csv``.

    Returns
    -------
    list of Problem
        Every problem found; empty when the folder is valid.

    Raises
    ------
    FileNotFoundError, NotADirectoryError
        When *folder* does not exist or is not a folder (a usage error, not
        a data problem).

    Examples
    --------
    >>> from analysis import validate_folder
    >>> validate_folder("data/sample")
    []
    """
    return _load(folder, finish=False)[1]


def load_records(folder) -> Records:
    """Read and validate a data folder.

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder holding ``episodes`` and ``visits`` and optionally
        ``modalities.csv``.

    Returns
    -------
    Records
        Typed, validated tables. Visits are sorted by episode and visit number.

    Raises
    ------
    DataProblemError
        With every problem found, when the folder breaks the contract.
    FileNotFoundError, NotADirectoryError
        When *folder* does not exist or is not a folder.

    Examples
    --------
    >>> from analysis import load_records
    >>> rec = load_records("data/sample")
    >>> len(rec.episodes) > 1000, rec.labels["mckenzie"]
    (True, 'McKenzie (MDT)')
    """
    records, problems = _load(folder)
    if problems:
        raise DataProblemError(problems)
    assert records is not None
    return records
