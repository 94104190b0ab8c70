"""From a practice-management export to a data folder: ``physio-outcomes import``.

A clinic's system never exports our column names, codes or day numbers. A
small TOML mapping file (:mod:`._mapping`) says which of its columns is which
of ours, how its labels translate to our codes, and how its files and dates
are written; this module then

1. reads the export (CSV with its separator and encoding, a workbook's sheet,
   or Parquet; every cell as text),
2. renames the mapped columns and translates their values
   (``[values.<column>]`` tables, matched without regard to case or spaces;
   a decimal comma where the mapping says so),
3. turns calendar dates into whole calendar days from the episode's start
   date (``discharge_date``, ``surgery_date``, ``followup_date``; visits'
   ``date`` gives ``day`` and ``visit_no`` in date order), and takes the start
   date from the first appointment when the case file has none,
4. gathers each appointment's treatments from one column of labels or from
   one column per treatment (ticked cells), and builds ``modalities.csv``
   from the ``[values.modality]`` labels, and
5. de-identifies exactly as ``physio-outcomes anonymise`` does
   (:func:`analysis.records.anonymise_tables`): keyed pseudonyms for
   patients, episodes and therapists, date of birth to age band, every
   unmapped column dropped, the result checked by the full validator and
   refused, with nothing written, if anything identifying would remain.

Every problem is reported at once with the export's own file (and sheet),
row (header = row 1) and column name, and what to add to the mapping. The
export is only read. See ``data/examples/`` for two worked examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from ._anonymise import AnonymiseResult, anonymise_tables
from ._export_files import read_export_table
from ._mapping import UNTICKED, Mapping, Source, read_mapping
from ._output import check_output_folder
from ._problems import MAX_ROWS_PER_PROBLEM, Problem, _show, safe_header

__all__ = ["ImportResult", "import_export"]

_DAY_FROM_DATE = {"discharge_date": "discharge_day", "surgery_date": "surgery_day", "followup_date": "followup_day"}
_NUMERIC = {s.name for s in (*schema.EPISODES, *schema.VISITS) if s.kind in ("integer", "number")}
#: How a spreadsheet's own date cells arrive when read as text (a date, or a date and time).
_CELL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")


@dataclass
class ImportResult:
    """What :func:`import_export` did: see :class:`analysis.records.AnonymiseResult`, plus the
    export's columns that were not mapped (and so not copied)."""

    written: bool
    problems: list[Problem]
    unmapped: dict = field(default_factory=dict)
    result: AnonymiseResult | None = None


def _text(raw: pd.Series) -> pd.Series:
    text = raw.astype("str").where(raw.notna()).str.strip()
    return text.where(text != "")


def _folded(text: pd.Series) -> pd.Series:
    return text.str.replace(r"\s+", " ", regex=True).str.casefold()


def _rows(mask) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask, dtype=bool))


def _more(problems: list, where: str, column: str, n: int, what: str) -> None:
    extra = n - MAX_ROWS_PER_PROBLEM
    if extra > 0:
        problems.append(Problem(where, None, column, f"... and {extra} more rows {what}"))


def _allowed(col: str, m: Mapping) -> set | None:
    spec = next((s for s in schema.EPISODES if s.name == col), None)
    if spec is not None and spec.allowed:
        return set(spec.allowed)
    if col in ("modality", "clinic") and col in m.values:
        return {str(v) for v in m.values[col].values()}
    return None


def _translate(raw: pd.Series, ours: str, theirs: str, src: Source, m: Mapping, problems: list) -> pd.Series:
    text = _text(raw)
    out = text
    if ours in m.values:
        table = {k: str(v) for k, v in m.values[ours].items()}
        mapped = _folded(text).map(table)
        out = mapped.where(mapped.notna(), text).astype("str").where(text.notna())
        if "" in table:  # '"" = "no"': what an empty cell means in this export, applied to every empty cell
            out = out.where(text.notna(), table[""])
    if ours in _NUMERIC:
        comma = out.str.fullmatch(r"[+-]?\d*,\d+").fillna(False).astype(bool)
        if src.decimal == ",":
            out = out.where(~comma, out.str.replace(",", ".", regex=False))
        elif comma.any():
            first = int(_rows(comma)[0]) + 2
            problems.append(Problem(src.where, first, theirs, f"holds {int(comma.sum()):,} numbers written with a "
                                    f"decimal comma (like 48,5): add decimal = \",\" under [{src.table}] in "
                                    f"{m.path.name}"))
            return out
    allowed = _allowed(ours, m)
    if allowed is not None:
        bad = out.notna() & ~out.isin(sorted(allowed))
        idx = _rows(bad)
        for i in idx[:MAX_ROWS_PER_PROBLEM]:
            problems.append(Problem(src.where, int(i) + 2, theirs,
                                    f"{_show(text.iloc[i])} is not mapped to a {ours} code: add it under "
                                    f"[values.{ours}] in {m.path.name} (codes: {', '.join(sorted(allowed))})"))
        _more(problems, src.where, theirs, len(idx), f"with values not mapped to {ours}")
    return out


def _dates(raw: pd.Series, theirs: str, src: Source, m: Mapping, problems: list) -> pd.Series:
    """Dates (with any time of day) from the mapping's format or formats, tried in turn for each value, then
    the forms in which a spreadsheet's real date cells arrive ("2025-12-31 00:00:00")."""
    text = _text(raw)
    formats = list(src.date_formats)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    for fmt in [*formats, *(f for f in _CELL_FORMATS if f not in formats)]:
        todo = out.isna() & text.notna()
        if not todo.any():
            break
        out = out.where(~todo, pd.to_datetime(text.where(todo), format=fmt, errors="coerce"))
    bad = _rows(text.notna() & out.isna())
    example = " or ".join(pd.Timestamp("2025-12-31 09:30").strftime(f) for f in formats)
    shown = formats[0] if len(formats) == 1 else formats
    for i in bad[:MAX_ROWS_PER_PROBLEM]:
        problems.append(Problem(src.where, int(i) + 2, theirs, f"is not a date written like {example} "
                                f"(date_format = {_toml(shown)} in {m.path.name})"))
    _more(problems, src.where, theirs, len(bad), "with dates not written that way")
    return out


def _toml(v) -> str:
    return f'"{v}"' if isinstance(v, str) else "[" + ", ".join(f'"{x}"' for x in v) + "]"


def _calendar_days(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Whole calendar days from *earlier* to *later*, whatever their times of day (09:30 on day 0 to 08:00
    four days later is day 4, not 3; a same-day discharge is day 0; a change of clock makes no difference,
    as the dates carry no time zone).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.records._import import _calendar_days
    >>> a = pd.Series(pd.to_datetime(["2025-03-14 09:30", "2025-03-29 23:59", "2025-03-29 12:00"]))
    >>> b = pd.Series(pd.to_datetime(["2025-03-18 08:00", "2025-03-30 00:01", "2025-03-29 08:00"]))
    >>> _calendar_days(b, a).tolist()
    [4, 1, 0]
    """
    return (later.dt.normalize() - earlier.dt.normalize()).dt.days


def _labels_to_codes(raw: pd.Series, theirs: str, src: Source, m: Mapping, problems: list) -> pd.Series:
    """One column of treatment labels ("Manual therapy, Education and advice") as ``;``-joined codes.
    Each distinct cell is translated once (an export repeats a few combinations many times)."""
    table = m.values.get("modality")
    text = _text(raw)
    codes_of, bad_parts = {}, {}
    for cell in text.dropna().unique():
        codes, bad = [], []
        for part in str(cell).split(m.separator):
            part = part.strip()
            if not part:
                continue
            code = table.get(" ".join(part.split()).casefold()) if table else part
            (codes if code is not None else bad).append(str(code) if code is not None else part)
        codes_of[cell] = ";".join(codes) if codes else None
        if bad:
            bad_parts[cell] = bad[0]
    if bad_parts:
        idx = _rows(text.isin(list(bad_parts)))
        for i in idx[:MAX_ROWS_PER_PROBLEM]:
            problems.append(Problem(src.where, int(i) + 2, theirs, f"{_show(bad_parts[text.iloc[i]])} is not mapped "
                                    f"to a modality code: add it under [values.modality] in {m.path.name}"))
        _more(problems, src.where, theirs, len(idx), "with treatments not mapped to a modality code")
    return text.map(codes_of).astype("str").where(text.notna())


def _ticked(appts: pd.DataFrame, columns: dict, src: Source, m: Mapping, problems: list) -> pd.Series:
    """One column per treatment (a tick such as ``x`` where it was given) as ``;``-joined codes."""
    joined = pd.Series("", index=appts.index, dtype="str")
    ticks = list(m.ticks)
    for theirs, code in columns.items():
        text = _text(appts[theirs])
        folded = _folded(text)
        ticked = folded.isin(ticks).to_numpy(dtype=bool)
        blank = (text.isna() | folded.isin([t for t in UNTICKED if t not in ticks])).to_numpy(dtype=bool)
        idx = _rows(~ticked & ~blank)
        for i in idx[:MAX_ROWS_PER_PROBLEM]:
            problems.append(Problem(src.where, int(i) + 2, theirs, f"{_show(text.iloc[i])} is neither a tick "
                                    f"({', '.join(ticks[:5])}) nor blank: add it to treatment_ticks under [visits] "
                                    f"in {m.path.name}, or clear the cell"))
        _more(problems, src.where, theirs, len(idx), "neither ticked nor blank")
        joined = joined + np.where(ticked, code + ";", "")
    joined = joined.str.rstrip(";")
    return joined.where(joined != "")


def _merge_codes(a: pd.Series | None, b: pd.Series | None) -> pd.Series:
    if a is None or b is None:
        return a if b is None else b
    both = (a.fillna("") + ";" + b.fillna("")).str.strip(";")
    both = both.map(lambda s: ";".join(dict.fromkeys(s.split(";"))) if s else None)
    return both.astype("str").where(both.notna())


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
        ``written`` False with every problem (file, sheet, row, column in the
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
    for table in ("episodes", "visits"):
        df = read_export_table(raw, m.sources[table], m.path.name, problems)
        if df is not None:
            df.columns = [str(c).strip() for c in df.columns]
            frames[table] = df
    if len(frames) < 2:
        return ImportResult(False, problems)
    cols = {"episodes": dict(m.episodes), "visits": dict(m.visits)}
    treatments = dict(m.treatment_columns)
    for table, df in frames.items():
        src, other = m.sources[table], m.sources["visits" if table == "episodes" else "episodes"]
        named = [(ours, theirs) for ours, theirs in cols[table].items()]
        if table == "visits":
            named += [("treatment_columns", theirs) for theirs in treatments]
        for ours, theirs in named:
            if theirs in df.columns:
                continue
            elsewhere = f"; it is a column of {other.where}" if theirs in frames[other.table].columns else ""
            key_name = f"[visits.treatment_columns] \"{theirs}\"" if ours == "treatment_columns" else f"[{table}] {ours}"
            problems.append(Problem(src.where, 1, theirs, f"is named in {m.path.name} ({key_name}) but is not a "
                                    f"column of this {'sheet' if src.sheet else 'file'}{elsewhere} (its columns: "
                                    f"{', '.join(safe_header(c) for c in df.columns)})"))
            if ours == "treatment_columns":
                del treatments[theirs]
            else:
                del cols[table][ours]
    if not {"episode_id", "patient_id"} <= set(cols["episodes"]) or not {"episode_id", "date"} <= set(cols["visits"]):
        return ImportResult(False, problems)  # nothing can be linked; every other column has been checked above
    cases, appts = frames["episodes"], frames["visits"]
    cs, vs = m.sources["episodes"], m.sources["visits"]
    ecols, vcols = cols["episodes"], cols["visits"]

    # episodes
    ep = {}
    for ours, theirs in ecols.items():
        if ours in _DAY_FROM_DATE or ours in ("start_date", "date_of_birth"):
            continue
        ep[ours] = _translate(cases[theirs], ours, theirs, cs, m, problems)
    ep = pd.DataFrame(ep, index=cases.index)
    ids = ep["episode_id"]
    # visits
    vdate = _dates(appts[vcols["date"]], vcols["date"], vs, m, problems)
    link = _text(appts[vcols["episode_id"]])
    orphan = ~link.isin(set(ids.dropna())).to_numpy(dtype=bool)
    idx = _rows(orphan)
    for i in idx[:MAX_ROWS_PER_PROBLEM]:
        problems.append(Problem(vs.where, int(i) + 2, vcols["episode_id"], f"matches no case in {cs.where} "
                                                                          "(value not shown)"))
    _more(problems, vs.where, vcols["episode_id"], len(idx), "matching no case")
    # start date: mapped, or the first appointment
    first = vdate.groupby(link).min()
    if "start_date" in ecols:
        start = _dates(cases[ecols["start_date"]], ecols["start_date"], cs, m, problems)
        start = start.where(_text(cases[ecols["start_date"]]).notna(), ids.map(first))
    else:
        start = ids.map(first)
        idx = _rows(start.isna())
        for i in idx[:MAX_ROWS_PER_PROBLEM]:
            problems.append(Problem(cs.where, int(i) + 2, ecols["episode_id"],
                                    "has no appointment with a date, so its start date is unknown"))
        _more(problems, cs.where, ecols["episode_id"], len(idx), "without a dated appointment")
    ep["start_date"] = start.dt.strftime("%Y-%m-%d")
    for ours, target in _DAY_FROM_DATE.items():
        if ours in ecols:
            theirs = ecols[ours]
            days = _calendar_days(_dates(cases[theirs], theirs, cs, m, problems), start)
            idx = _rows(days < 0)
            for i in idx[:MAX_ROWS_PER_PROBLEM]:
                problems.append(Problem(cs.where, int(i) + 2, theirs, "is before the episode's start date"))
            _more(problems, cs.where, theirs, len(idx), "before the start date")
            ep[target] = days.astype("Int64").astype("str").where(days.notna())
    if "date_of_birth" in ecols:
        dob = _dates(cases[ecols["date_of_birth"]], ecols["date_of_birth"], cs, m, problems)
        ep["date_of_birth"] = dob.dt.strftime("%Y-%m-%d")

    vi = pd.DataFrame({"episode_id": link.where(~orphan)}, index=appts.index)
    day = _calendar_days(vdate, link.map(dict(zip(ids, start))))
    idx = _rows(day < 0)
    for i in idx[:MAX_ROWS_PER_PROBLEM]:
        problems.append(Problem(vs.where, int(i) + 2, vcols["date"], "is before the episode's start date"))
    _more(problems, vs.where, vcols["date"], len(idx), "before the start date")
    vi["day"] = day.astype("Int64").astype("str").where(day.notna())
    order = pd.DataFrame({"e": link, "d": vdate, "r": np.arange(len(appts))}).sort_values(["e", "d", "r"])
    vi["visit_no"] = (order.groupby("e").cumcount() + 1).reindex(appts.index).astype("str")
    labelled = None
    for ours, theirs in vcols.items():
        if ours in ("episode_id", "date"):
            continue
        if ours == "modalities":
            labelled = _labels_to_codes(appts[theirs], theirs, vs, m, problems)
        else:
            vi[ours] = _translate(appts[theirs], ours, theirs, vs, m, problems)
    if treatments or labelled is not None:
        vi["modalities"] = _merge_codes(labelled, _ticked(appts, treatments, vs, m, problems) if treatments else None)
    if problems:
        return ImportResult(False, problems)
    catalogue = None
    if "modality" in m.labels:
        catalogue = pd.DataFrame({"code": list(m.labels["modality"]), "label": list(m.labels["modality"].values())})
    used = {"episodes": set(m.episodes.values()), "visits": set(m.visits.values()) | set(m.treatment_columns)}
    unmapped = {cs.where: [c for c in cases.columns if c not in used["episodes"]],
                vs.where: [c for c in appts.columns if c not in used["visits"]]}
    res = anonymise_tables(ep, vi, out, key=key, dates=dates, force=force, catalogue=catalogue,
                           file_names={"episodes": cs.where, "visits": vs.where}, pseudonymise=("therapist",),
                           protect=protect, command="import")
    if not res.written:
        return ImportResult(False, [_in_their_terms(p, m) for p in res.problems], unmapped, res)
    return ImportResult(True, [], {k: v for k, v in unmapped.items() if v}, res)


def _in_their_terms(p: Problem, m: Mapping) -> Problem:
    """A validator problem about the converted tables, named by the export's file and column."""
    table = "episodes" if str(p.file).startswith("episodes") else "visits" if str(p.file).startswith("visits") else None
    if table is None:
        return p
    cols = m.episodes if table == "episodes" else m.visits
    back = dict(cols)
    back.update({target: cols[src] for src, target in _DAY_FROM_DATE.items() if src in cols})
    if table == "visits":
        back.update({"day": cols["date"], "visit_no": cols["date"]})
        if "modalities" not in cols and m.treatment_columns:
            back["modalities"] = "treatment columns"
    return Problem(m.sources[table].where, p.row, back.get(p.column, p.column), p.problem)
