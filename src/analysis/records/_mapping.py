"""From a practice-management export to a data folder: ``physio-outcomes import``.

A clinic's system never exports our column names, codes or day numbers. A
small TOML mapping file says which of its columns is which of ours, how its
labels translate to our codes, and how its dates are written; this module
then

1. reads the export (CSV, Parquet or Excel; every cell as text),
2. renames the mapped columns and translates their values
   (``[values.<column>]`` tables, matched without regard to case or spaces),
3. turns calendar dates into days from the episode's start date
   (``discharge_date``, ``surgery_date``, ``followup_date``; visits'
   ``date`` gives ``day`` and ``visit_no`` in date order), and takes the start
   date from the first appointment when the case file has none,
4. builds ``modalities.csv`` from the ``[values.modality]`` labels, and
5. de-identifies exactly as ``physio-outcomes anonymise`` does
   (:func:`analysis.records.anonymise_tables`): keyed pseudonyms for
   patients, episodes and therapists, date of birth to age band, every
   unmapped column dropped, the result checked by the full validator and
   refused, with nothing written, if anything identifying would remain.

Every problem is reported at once with the export's own file name, row
(header = row 1) and column name, and what to add to the mapping. The export
is only read. See ``data/examples/practice-export/`` for a worked example.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from ._output import check_output_folder
from ._anonymise import AnonymiseResult, _read_raw, anonymise_tables
from ._problems import Problem, _show, safe_header

__all__ = ["ImportResult", "Mapping", "MappingError", "import_export", "read_mapping"]

#: Our columns a mapping may name, beyond the records contract (dates that become day numbers, and DOB).
_EPISODE_EXTRAS = {"date_of_birth", "discharge_date", "surgery_date", "followup_date"}
_DAY_FROM_DATE = {"discharge_date": "discharge_day", "surgery_date": "surgery_day", "followup_date": "followup_day"}
_VISIT_EXTRAS = {"date", "modalities_separator"}


class MappingError(Exception):
    """The mapping file itself is wrong (a usage error, not a data problem)."""


@dataclass
class Mapping:
    """A parsed mapping file."""

    path: Path
    date_format: str | list
    episodes: dict          # our column -> their column ("file" removed)
    visits: dict
    episodes_file: str
    visits_file: str
    separator: str
    values: dict = field(default_factory=dict)   # our column -> {folded label: code}
    labels: dict = field(default_factory=dict)   # our column -> {code: label as written}


def _fold(v) -> str:
    return re.sub(r"\s+", " ", str(v)).strip().casefold()


def read_mapping(path) -> Mapping:
    """Read and check a mapping file.

    Raises
    ------
    MappingError
        Unreadable TOML, a missing section or file name, or a key that is not
        one of our columns; the message names the file and the key.

    Examples
    --------
    >>> from analysis.records import read_mapping
    >>> m = read_mapping("data/examples/practice-export/mapping.toml")
    >>> m.episodes["episode_id"], m.values["sex"]["f"]
    ('Case ID', 'female')
    """
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"mapping file not found: {path}")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path.name} is not a valid TOML file: {exc}") from None
    except RecursionError:  # tables nested thousands deep
        raise MappingError(f"{path.name} is not a mapping file: its tables are nested far too deep") from None
    except OSError as exc:
        raise MappingError(f"{path.name} could not be read ({exc.strerror or 'not allowed'})") from None
    for section in ("episodes", "visits"):
        if not isinstance(doc.get(section), dict):
            raise MappingError(f"{path.name}: the [{section}] section is missing")
        if not isinstance(doc[section].get("file"), str):
            raise MappingError(f"{path.name}: [{section}] needs file = \"...\" (the export's {section} file)")
        name = doc[section]["file"]
        if not name.strip() or Path(name).name != name or name in (".", "..") or "\\" in name:
            raise MappingError(f"{path.name}: [{section}] file must be the name of a file in the export folder, "
                               "without a folder (no / or \\ or ..): the export is read from that folder only")
    unknown = set(doc) - {"date_format", "episodes", "visits", "values"}
    if unknown:
        raise MappingError(f"{path.name}: unknown section or key {', '.join(sorted(unknown))} "
                           "(expected date_format, [episodes], [visits], [values.<column>])")
    ep = {k: v for k, v in doc["episodes"].items() if k != "file"}
    vi = {k: v for k, v in doc["visits"].items() if k != "file"}
    known_ep = {s.name for s in schema.EPISODES} | _EPISODE_EXTRAS
    known_vi = ({s.name for s in schema.VISITS} | _VISIT_EXTRAS) - {"day", "visit_no"}
    for section, d, known in (("episodes", ep, known_ep), ("visits", vi, known_vi)):
        for k, v in d.items():
            if k not in known:
                raise MappingError(f"{path.name}: [{section}] {k} is not a column of the records "
                                   f"(use one of {', '.join(sorted(known))})")
            if not isinstance(v, str) or not v.strip():
                raise MappingError(f"{path.name}: [{section}] {k} must name a column of the export, as text")
    for need in ("episode_id", "patient_id"):
        if need not in ep:
            raise MappingError(f"{path.name}: [episodes] must map {need}")
    if "episode_id" not in vi:
        raise MappingError(f"{path.name}: [visits] must map episode_id (the column linking appointments to cases)")
    if "date" not in vi and "day" not in vi:
        raise MappingError(f"{path.name}: [visits] must map date (the appointment date)")
    values, labels = {}, {}
    for col, table in (doc.get("values") or {}).items():
        if col not in known_ep | known_vi or not isinstance(table, dict):
            raise MappingError(f"{path.name}: [values.{col}] is not a column of the records")
        values[col] = {_fold(k): (v if not isinstance(v, bool) else str(v).lower()) for k, v in table.items()}
        labels[col] = {}
        for k, v in table.items():
            labels[col].setdefault(str(v), str(k))
    sep = vi.pop("modalities_separator", ";")
    fmt = doc.get("date_format", "%Y-%m-%d")
    if isinstance(fmt, list) and fmt and all(isinstance(f, str) and f.strip() for f in fmt):
        fmt = [f.strip() for f in fmt]
    elif not isinstance(fmt, str) or not fmt.strip():
        raise MappingError(f"{path.name}: date_format must be text, for example date_format = \"%d/%m/%Y\", or a "
                           "list of them, e.g. date_format = [\"%d/%m/%Y\", \"%d/%m/%Y %H:%M\"]")
    return Mapping(path, fmt, ep, vi, doc["episodes"]["file"], doc["visits"]["file"],
                   sep, values, labels)


def _allowed(col: str, m: Mapping) -> set | None:
    spec = next((s for s in schema.EPISODES if s.name == col), None)
    if spec is not None and spec.allowed:
        return set(spec.allowed)
    if col in ("modality", "clinic") and col in m.values:
        return {str(v) for v in m.values[col].values()}
    return None


@dataclass
class ImportResult:
    """What :func:`import_export` did: see :class:`analysis.records.AnonymiseResult`, plus the
    export's columns that were not mapped (and so not copied)."""

    written: bool
    problems: list[Problem]
    unmapped: dict = field(default_factory=dict)
    result: AnonymiseResult | None = None


def _translate(raw: pd.Series, ours: str, theirs: str, file: str, m: Mapping, problems: list) -> pd.Series:
    text = raw.astype("str").where(raw.notna()).str.strip()
    text = text.where(text != "")
    out = text
    if ours in m.values:
        table = m.values[ours]
        folded = text.map(lambda v: table.get(_fold(v), None) if isinstance(v, str) else None)
        out = folded.where(folded.notna(), text).astype("str").where(text.notna())
        if "" in table:  # '"" = "no"': what an empty cell means in this export, applied to every empty cell
            out = out.where(text.notna(), table[""])
    allowed = _allowed(ours, m)
    if allowed is not None:
        bad = out.notna() & ~out.isin(sorted(allowed))
        for i in np.flatnonzero(bad.to_numpy(dtype=bool))[:20]:
            problems.append(Problem(file, int(i) + 2, theirs,
                                    f"{_show(text.iloc[i])} is not mapped to a {ours} code: add it under "
                                    f"[values.{ours}] in {m.path.name} (codes: {', '.join(sorted(allowed))})"))
        extra = int(bad.sum()) - 20
        if extra > 0:
            problems.append(Problem(file, None, theirs, f"... and {extra} more rows with values not mapped to {ours}"))
    return out


#: How a spreadsheet's own date cells arrive when read as text (a date, or a date and time).
_CELL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


def _dates(raw: pd.Series, theirs: str, file: str, m: Mapping, problems: list) -> pd.Series:
    """Dates (with any time of day) from the mapping's format or formats, tried in turn for each value, then
    the forms in which a spreadsheet's real date cells arrive ("2025-12-31 00:00:00")."""
    text = raw.astype("str").where(raw.notna()).str.strip()
    text = text.where(text != "")
    formats = [m.date_format] if isinstance(m.date_format, str) else list(m.date_format)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    for fmt in [*formats, *(f for f in _CELL_FORMATS if f not in formats)]:
        todo = out.isna() & text.notna()
        if not todo.any():
            break
        out = out.where(~todo, pd.to_datetime(text.where(todo), format=fmt, errors="coerce"))
    bad = (text.notna() & out.isna()).to_numpy(dtype=bool)
    example = " or ".join(pd.Timestamp("2025-12-31 09:30").strftime(f) for f in formats)
    shown = formats[0] if len(formats) == 1 else formats
    for i in np.flatnonzero(bad)[:20]:
        problems.append(Problem(file, int(i) + 2, theirs, f"is not a date written like {example} "
                                f"(date_format = {_toml(shown)} in {m.path.name})"))
    return out


def _toml(v) -> str:
    return f'"{v}"' if isinstance(v, str) else "[" + ", ".join(f'"{x}"' for x in v) + "]"


def _calendar_days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Whole calendar days from *earlier* to *later*, whatever their times of day (09:30 on day 0 to 08:00
    four days later is day 4, not 3; a same-day discharge is day 0)."""
    return (later.dt.normalize() - earlier.dt.normalize()).dt.days


def import_export(raw, out, *, mapping, key: bytes, dates: str = "month", force: bool = False,
                  protect=()) -> ImportResult:
    """Turn a practice-management export into a de-identified data folder (see the module docstring).

    Parameters
    ----------
    raw : str or pathlib.Path
        Folder holding the export's files (only read).
    out : str or pathlib.Path
        Data folder to create (refused if not empty, unless *force*).
    mapping : str or pathlib.Path or Mapping, keyword-only
        The TOML mapping file.
    key : bytes, keyword-only
        From :func:`analysis.records.read_key`.
    dates : {"month", "shift", "keep"}, keyword-only
        What happens to start dates (as for ``anonymise``).
    force : bool, keyword-only
        Replace *out*: only a folder ``import`` wrote before, holding nothing else.
    protect : iterable of path, keyword-only
        Further files *out* must not hold (the key file); the export folder
        and the mapping file are always protected.

    Returns
    -------
    ImportResult
        ``written`` False with every problem (file, row, column in the
        export's own terms) when anything is wrong; nothing is written then.

    Examples
    --------
    >>> import tempfile, os
    >>> from analysis.records import import_export
    >>> ex = "data/examples/practice-export"
    >>> res = import_export(ex, os.path.join(tempfile.mkdtemp(), "d"), mapping=f"{ex}/mapping.toml", key=b"k" * 32)
    >>> res.written, sorted(res.unmapped["cases.csv"])
    (True, ['Notes', 'Patient name', 'Phone'])
    """
    m = mapping if isinstance(mapping, Mapping) else read_mapping(mapping)
    raw, out = Path(raw).resolve(), Path(out).resolve()
    if not raw.is_dir():
        raise FileNotFoundError(f"export folder not found: {raw}")
    if out == raw or out.is_relative_to(raw):
        raise ValueError("OUT must be outside the export folder")
    protect = (raw, m.path, *protect)
    check_output_folder(out, command="import", protect=protect, force=force)
    problems: list[Problem] = []
    frames = {}
    for table, fname in (("episodes", m.episodes_file), ("visits", m.visits_file)):
        path = raw / fname
        if not path.is_file():
            problems.append(Problem(raw.name, None, None, f"has no {fname} (named as the {table} file in "
                                                           f"{m.path.name})"))
            continue
        try:
            df = _read_raw(path)
        except Exception:  # noqa: BLE001 - any reader failure is a data problem
            problems.append(Problem(fname, None, None, "could not be read; is it damaged or another format?"))
            continue
        df.columns = [str(c).strip() for c in df.columns]
        frames[table] = df
        cols = m.episodes if table == "episodes" else m.visits
        for ours, theirs in cols.items():
            if theirs not in df.columns:
                problems.append(Problem(fname, 1, theirs, f"is named in {m.path.name} ([{table}] {ours}) but is "
                                        f"not a column of this file (its columns: {', '.join(safe_header(c) for c in df.columns)})"))
    if problems:
        return ImportResult(False, problems)
    cases, appts = frames["episodes"], frames["visits"]
    cf, af = m.episodes_file, m.visits_file

    # episodes
    ep = {}
    for ours, theirs in m.episodes.items():
        if ours in _DAY_FROM_DATE or ours in ("start_date", "date_of_birth"):
            continue
        ep[ours] = _translate(cases[theirs], ours, theirs, cf, m, problems)
    ep = pd.DataFrame(ep, index=cases.index)
    ids = ep["episode_id"]
    # visits
    vdate = _dates(appts[m.visits["date"]], m.visits["date"], af, m, problems)
    link = appts[m.visits["episode_id"]].astype("str").str.strip()
    known = set(ids.dropna())
    orphan = ~link.isin(known).to_numpy(dtype=bool)
    for i in np.flatnonzero(orphan)[:20]:
        problems.append(Problem(af, int(i) + 2, m.visits["episode_id"],
                                f"matches no case in {cf} (value not shown)"))
    # start date: mapped, or the first appointment
    if "start_date" in m.episodes:
        start = _dates(cases[m.episodes["start_date"]], m.episodes["start_date"], cf, m, problems)
        missing = start.isna() & cases[m.episodes["start_date"]].astype("str").str.strip().isin(["", "nan"])
        first = vdate.groupby(link).min()
        start = start.where(~missing, ids.map(first))
    else:
        start = ids.map(vdate.groupby(link).min())
        for i in np.flatnonzero(start.isna().to_numpy(dtype=bool))[:20]:
            problems.append(Problem(cf, int(i) + 2, m.episodes["episode_id"],
                                    "has no appointment with a date, so its start date is unknown"))
    ep["start_date"] = start.dt.strftime("%Y-%m-%d")
    for ours, target in _DAY_FROM_DATE.items():
        if ours in m.episodes:
            theirs = m.episodes[ours]
            d = _dates(cases[theirs], theirs, cf, m, problems)
            days = _calendar_days(d, start)
            for i in np.flatnonzero((days < 0).to_numpy(dtype=bool))[:20]:
                problems.append(Problem(cf, int(i) + 2, theirs, "is before the episode's start date"))
            ep[target] = days.astype("Int64").astype("str").where(days.notna())
    if "date_of_birth" in m.episodes:
        dob = _dates(cases[m.episodes["date_of_birth"]], m.episodes["date_of_birth"], cf, m, problems)
        ep["date_of_birth"] = dob.dt.strftime("%Y-%m-%d")

    vi = pd.DataFrame({"episode_id": link.where(~orphan)}, index=appts.index)
    vstart = link.map(dict(zip(ids, start)))
    day = _calendar_days(vdate, vstart)
    for i in np.flatnonzero((day < 0).to_numpy(dtype=bool))[:20]:
        problems.append(Problem(af, int(i) + 2, m.visits["date"], "is before the episode's start date"))
    vi["day"] = day.astype("Int64").astype("str").where(day.notna())
    order = pd.DataFrame({"e": link, "d": vdate, "r": np.arange(len(appts))}).sort_values(["e", "d", "r"])
    vi["visit_no"] = (order.groupby("e").cumcount() + 1).reindex(appts.index).astype("str")
    for ours, theirs in m.visits.items():
        if ours in ("episode_id", "date"):
            continue
        if ours == "modalities":
            vi[ours] = _modalities(appts[theirs], theirs, af, m, problems)
        else:
            vi[ours] = _translate(appts[theirs], ours, theirs, af, m, problems)
    if problems:
        return ImportResult(False, problems)
    catalogue = None
    if "modality" in m.labels:
        catalogue = pd.DataFrame({"code": list(m.labels["modality"]), "label": list(m.labels["modality"].values())})
    unmapped = {cf: [c for c in cases.columns if c not in set(m.episodes.values())],
                af: [c for c in appts.columns if c not in set(m.visits.values())]}
    res = anonymise_tables(ep, vi, out, key=key, dates=dates, force=force, catalogue=catalogue,
                           file_names={"episodes": cf, "visits": af}, pseudonymise=("therapist",),
                           protect=protect, command="import")
    if not res.written:
        return ImportResult(False, [_in_their_terms(p, m) for p in res.problems], unmapped, res)
    return ImportResult(True, [], {k: v for k, v in unmapped.items() if v}, res)


def _modalities(raw: pd.Series, theirs: str, file: str, m: Mapping, problems: list) -> pd.Series:
    table = m.values.get("modality")
    out = []
    bad_rows = []
    for i, cell in enumerate(raw.astype("str").where(raw.notna())):
        if not isinstance(cell, str) or not cell.strip():
            out.append(None)
            continue
        codes = []
        for part in cell.split(m.separator):
            part = part.strip()
            if not part:
                continue
            code = table.get(_fold(part)) if table else part
            if code is None:
                bad_rows.append((i, part))
                continue
            codes.append(str(code))
        out.append(";".join(codes) if codes else None)
    for i, part in bad_rows[:20]:
        problems.append(Problem(file, i + 2, theirs, f"{_show(part)} is not mapped to a modality code: add it "
                                                     f"under [values.modality] in {m.path.name}"))
    return pd.Series(out, index=raw.index, dtype="str")


def _in_their_terms(p: Problem, m: Mapping) -> Problem:
    """A validator problem about the converted tables, named by the export's file and column."""
    table = "episodes" if str(p.file).startswith("episodes") else "visits" if str(p.file).startswith("visits") else None
    if table is None:
        return p
    cols = m.episodes if table == "episodes" else m.visits
    back = {ours: theirs for ours, theirs in cols.items()}
    back.update({target: cols[src] for src, target in _DAY_FROM_DATE.items() if src in cols})
    if table == "visits" and "date" in cols:
        back.update({"day": cols["date"], "visit_no": cols["date"]})
    file = m.episodes_file if table == "episodes" else m.visits_file
    return Problem(file, p.row, back.get(p.column, p.column), p.problem)
