"""Loading and validating a data folder: the orchestration.

:func:`load_records` reads ``episodes`` and ``visits`` (CSV, Parquet or XLSX)
and the optional ``modalities.csv``, checks every rule of the records
contract (:mod:`analysis.records.schema`) and returns typed tables. Problems are
collected, not raised one at a time: :func:`validate_folder` returns all of
them, each naming the file, the spreadsheet row (header = row 1), the column
and what is wrong in plain words. Values that look like identifiers are never
repeated in a message. Input files are only ever opened for reading.

Reading files lives in :mod:`analysis.readers`, the contract's rules in
:mod:`analysis.rules`, problem wording in :mod:`analysis.problems`; the
identifier guard in :mod:`analysis.records`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from ._identifiers import IDENTIFIER_KINDS, find_identifiers, identifier_column_kind
from ._problems import DataProblemError, Problem, _Log
from ._readers import _find_files, _read_table
from ._rules import _coerce, _column_rules, _cross_rules, _first_position, _text_limits
from .schema import ColumnSpec

__all__ = ["Records", "load_records", "validate_folder"]

_NAME_COLUMNS = frozenset({"episode_id", "patient_id", "therapist", "clinic"})


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
            self._visit_pos = _first_position(self.visits["episode_id"], self.episodes["episode_id"])
        return self._visit_pos

    @property
    def has_catalogue(self) -> bool:
        """Whether the folder had a ``modalities.csv``."""
        return "modalities" in self.files

    @property
    def labels(self) -> dict[str, str]:
        """Modality code -> label shown to people."""
        return dict(zip(self.modalities["code"], self.modalities["label"]))


# ------------------------------------------------------------------ one table


def _read_and_type(path: Path, table: str, log: _Log, distinct: dict | None = None) -> pd.DataFrame | None:
    return _type_table(_read_table(path, schema.TABLES[table], log), path, table, log, distinct)


def _type_table(raw: pd.DataFrame | None, path: Path, table: str, log: _Log,
                distinct: dict | None = None) -> pd.DataFrame | None:
    """The checks and types of one table as read (*raw*, None when it could not be read)."""
    specs = schema.TABLES[table]
    file = path.name
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
    distinct = {} if distinct is None else distinct  # each text column's distinct values, computed once
    raw = _text_limits(raw, specs, file, log, skip, skip_columns={"episode_id"} if table == "visits" else (),
                       distinct=distinct)
    findings = find_identifiers(
        raw,
        columns=text_cols + num_cols,
        name_columns=_NAME_COLUMNS | set(unknown),
        date_columns={"start_date"},
        number_columns={s.name for s in specs if s.kind in ("integer", "number")},
        list_columns={s.name for s in specs if s.kind == "codes"},
        distinct=distinct,
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
    df = pd.DataFrame(typed, index=raw.index, copy=False)  # the typed columns as they are (no copy of each)
    _column_rules(df, table, file, log, skip)
    return df


# ------------------------------------------------------------------ public API


def _check_folder(folder) -> Path:
    path = Path(folder)
    if not path.exists():
        raise FileNotFoundError(f"data folder not found: {path}")
    if not path.is_dir():
        raise NotADirectoryError(f"not a folder: {path} (give the folder that holds episodes and visits)")
    return path


def _read_all(paths: dict[str, Path], log: _Log, distinct: dict | None = None) -> dict[str, pd.DataFrame | None]:
    """Read and type each table: one table read while the one before it is checked and typed.

    The files are read one after the other on the calling thread: Arrow's CSV and Parquet
    readers already use every core, and two of them at once take twice as long as one after the
    other (measured on 1,000,000 episodes: 2.8-3.2 s against 1.4 s). Each table's checks and
    types (mostly numpy and Arrow kernels, which let the reading thread run) go to a second
    thread meanwhile. Each table has its own problem log, merged in table order, so messages come
    out in the same order as when done one after the other.
    """
    from concurrent.futures import ThreadPoolExecutor

    logs = {t: _Log() for t in paths}
    seen = {t: {} for t in paths}  # each table's distinct text values (for the cross-table checks)
    if len(paths) > 1 and (os.cpu_count() or 1) > 1:
        with ThreadPoolExecutor(max_workers=1) as pool:
            futures = {}
            for t, p in paths.items():
                raw = _read_table(p, schema.TABLES[t], logs[t])
                futures[t] = pool.submit(_type_table, raw, p, t, logs[t], seen[t])
                del raw  # the typing thread holds the only reference: freed column by column there
            frames = {t: f.result() for t, f in futures.items()}
    else:
        frames = {t: _read_and_type(p, t, logs[t], seen[t]) for t, p in paths.items()}
    for t in paths:
        log.extend(logs[t])
    if distinct is not None:
        distinct.update(seen)
    return frames


def _load(folder, *, finish: bool = True) -> tuple[Records | None, list[Problem]]:
    path = _check_folder(folder)
    log = _Log()
    paths = _find_files(path, log)
    files = {t: p.name for t, p in paths.items()}
    cache: dict = {"distinct": {}}
    frames = _read_all(paths, log, cache["distinct"])
    ep, vi, cat = frames.get("episodes"), frames.get("visits"), frames.get("modalities")
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
