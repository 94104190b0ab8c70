"""The records contract's rules: typing each column, column rules (pandera) and cross-table rules.

Cells that cannot be typed, values outside their allowed set or bounds,
repeated ids, orphan visits, visits out of order or after discharge, surgery
without a day, follow-up before discharge or surgery, codes missing from the
catalogue: each is reported through the problem log (:mod:`analysis.problems`)
with file, row and column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import schema
from ._identifiers import find_identifiers
from ._problems import MAX_ROWS_PER_PROBLEM, _Log, _show
from ._readers import _text_bytes
from .schema import ColumnSpec

__all__: list[str] = []

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def _bad(log: _Log, file: str, column: str, s: pd.Series, mask: np.ndarray, expected: str, key: str) -> None:
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return
    shown = [f"{_show(v)} is not {expected}" for v in s.iloc[rows[:MAX_ROWS_PER_PROBLEM]]]
    log.add_rows(file, rows, column, shown, key=key)


def _per_distinct(s: pd.Series, convert) -> pd.Series:
    """``convert`` applied to the distinct values of a text column only, then spread back to every
    row: a million start dates or yes/no cells hold a few thousand distinct values at most."""
    coded = _arrow_codes(s)
    codes, uniques = coded if coded is not None else pd.factorize(s)
    if len(uniques) * 4 > len(s):
        return convert(s)
    done = convert(pd.Series(uniques, dtype=s.dtype))
    # positions taken from the converted values' array (no index taken along); a missing cell (-1) stays missing
    return pd.Series(done.array.take(codes, allow_fill=True), index=s.index, copy=False)


def _arrow_codes(s: pd.Series):
    """(codes, distinct values) of Arrow-backed text by Arrow's dictionary encoding (half the time of
    ``pandas.factorize`` on millions of cells); None for other columns, or chunks with different dictionaries."""
    if not pd.api.types.is_string_dtype(s.dtype) or getattr(s.dtype, "storage", None) != "pyarrow":
        return None
    enc = pc.dictionary_encode(pa.array(s))
    chunks = enc.chunks if isinstance(enc, pa.ChunkedArray) else [enc]
    if not chunks or not all(c.dictionary.equals(chunks[0].dictionary) for c in chunks[1:]):
        return None
    indices = pa.chunked_array([c.indices for c in chunks], type=chunks[0].indices.type)
    return pc.fill_null(indices, -1).to_numpy().astype("int64"), pd.array(chunks[0].dictionary, dtype=s.dtype)


def _bool_text(s: pd.Series) -> pd.Series:
    text = s.astype("str").where(s.notna()).str.strip().str.lower()
    return text.str.replace(r"\.0$", "", regex=True)


def _number_text(s: pd.Series) -> pd.Series:
    text = s.astype("str").where(s.notna()).str.strip()
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _date_text(s: pd.Series) -> pd.Series:
    text = s.astype("str").where(s.notna()).str.strip()
    text = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T]00:00:00$", r"\1", regex=True)
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").astype("datetime64[s]")


#: Longest cell of a text column, and of a label people read in tables and figures (characters).
MAX_CELL_CHARS = 500
MAX_LABEL_CHARS = 100
#: A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
# ("+65 9123 4567" or "-2" is a number or a phone, left to those checks; "-2+3+cmd|..." is a formula.)
_FORMULA = r"^[=@\t\r]|^[+-](?:[^0-9 (]|[0-9 ().-]*[^0-9 ().-])"
#: Control characters (NUL, escape sequences that drive a terminal, ...); tab and line breaks excepted.
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x9b]"


def _control_bytes_absent(values: pa.Array) -> bool:
    """Whether no value of *values* (Arrow text) can hold a control character: none of their bytes is one
    of ``_CONTROL``'s (bytes below 0x20, 0x7f, and 0x9b, the last byte of U+009B in UTF-8). One pass over
    the text's bytes, against a Unicode test of every value (a fifth of a second for a million UUIDs)."""
    raw = _text_bytes(values)
    if raw is None:
        return True
    return not (bool((raw < 0x20).any()) or bool((raw == 0x7F).any()) or bool((raw == 0x9B).any()))


def _narrowed(values: pa.Array, candidates: pa.Array, pattern: str) -> pa.Array:
    """Which of *values* match *pattern*, testing only the *candidates* (a boolean mask) with it."""
    idx = np.flatnonzero(pc.fill_null(candidates, False).to_numpy(zero_copy_only=False))
    hit = np.zeros(len(values), dtype=bool)
    if len(idx):
        sub = pc.take(values, pa.array(idx))
        hit[idx] = pc.fill_null(pc.match_substring_regex(sub, pattern), False).to_numpy(zero_copy_only=False)
    return pa.array(hit)


def _text_limits(raw: pd.DataFrame, specs, file: str, log: _Log, skip: dict[str, np.ndarray], *,
                 skip_columns=(), distinct: dict | None = None) -> pd.DataFrame:
    """Refuse over-long cells, cells a spreadsheet would run as a formula, and control characters.

    Linear in the size of the table: the checks run on each column's distinct
    values (Arrow kernels), and rows are looked up only for a value found.
    Returns *raw* with the refused cells emptied, so that the identifier guard
    never scans a 300,000-character cell (its patterns are not linear in a
    cell's length). Values are never shown: an over-long cell or a formula
    can be anything. *skip_columns* are checked elsewhere (a visit's
    episode_id is an episodes id, or an orphan reported as such). Each
    column passed unchanged gets its distinct values (nulls dropped) in
    *distinct*, for the checks after this one.
    """
    kinds = {s.name: s.kind for s in specs}
    out = {}
    for c in raw.columns:
        col = raw[c]
        if c in skip_columns or not pd.api.types.is_string_dtype(col.dtype):
            continue
        try:
            arr = pa.array(col, from_pandas=True)  # pandas' Arrow-backed text: no copy
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # a spreadsheet column mixing text with dates or numbers
            arr = pa.array(col.astype("str").where(col.notna()), from_pandas=True)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = arr.cast(pa.string())
        uniq = pc.unique(arr).drop_null()
        limit = MAX_LABEL_CHARS if c == "label" else MAX_CELL_CHARS
        long_u = pc.fill_null(pc.greater(pc.utf8_length(uniq), limit), False)
        # cheap kernels first (first character, printable), the patterns only on the few values they leave
        lead = pc.is_in(pc.utf8_slice_codeunits(uniq, 0, 1), value_set=pa.array(["=", "+", "-", "@", "\t", "\r"]))
        formula_u = (_narrowed(uniq, lead, _FORMULA) if kinds.get(c) in ("text", "codes")
                     else pa.array(np.zeros(len(uniq), dtype=bool)))
        control_u = (pa.array(np.zeros(len(uniq), dtype=bool)) if _control_bytes_absent(uniq)
                     else _narrowed(uniq, pc.invert(pc.fill_null(pc.utf8_is_printable(uniq), True)), _CONTROL))
        if not (pc.any(long_u).as_py() or pc.any(formula_u).as_py() or pc.any(control_u).as_py()):
            if distinct is not None:
                distinct[c] = uniq
            continue

        def rows_of(mask_u):
            values = pc.filter(uniq, mask_u)
            if len(values) == 0:
                return np.zeros(len(col), dtype=bool)
            return pc.fill_null(pc.is_in(arr, value_set=values), False).to_numpy(zero_copy_only=False)

        long_ = rows_of(long_u)
        formula = rows_of(formula_u) & ~long_
        control = rows_of(control_u) & ~long_ & ~formula
        for mask, msg, key in (
            (long_, f"is longer than {limit} characters (value not shown); shorten it", "too long"),
            (formula, "starts with =, +, -, @ or a tab, which a spreadsheet would run as a formula (value not "
                      "shown); remove that first character", "formula"),
            (control, "holds a control character (such as NUL or a terminal escape; value not shown); remove it",
             "control character"),
        ):
            rows = np.flatnonzero(mask)
            if len(rows):
                log.add_rows(file, rows, c, msg, key=key)
        bad = long_ | formula | control
        skip.setdefault(c, np.zeros(len(raw), dtype=bool))[bad] = True
        out[c] = col.where(~bad)
    return raw.assign(**out) if out else raw


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
        text = _per_distinct(s, _bool_text)
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
        out = _per_distinct(s, _date_text)
        bad = (s.notna() & out.isna()).to_numpy(dtype=bool) & ~skip
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
    if pd.api.types.is_numeric_dtype(s.dtype):  # each cell its own value; a missing cell has none
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        codes = np.where(np.isnan(values), -1, np.arange(len(values)))
        return _checked_number(s, codes, values, spec, file, log, skip)
    # numbers written as text (a Parquet export of text columns, a workbook): parsed per distinct value
    codes, uniques = _arrow_codes(s) or pd.factorize(s)
    values = _number_text(pd.Series(uniques, dtype=s.dtype)).to_numpy(dtype="float64")
    return _checked_number(s, np.asarray(codes, dtype="int64"), values, spec, file, log, skip)


def _checked_number(s: pd.Series, codes: np.ndarray, num_u: np.ndarray, spec: ColumnSpec, file: str, log: _Log,
                    skip: np.ndarray) -> pd.Series:
    """The number column of *s* from its values *num_u* (NaN: not a number) and each cell's position among them
    (*codes*, -1: an empty cell). Every check is made once per value and spread to the cells by code: a text column
    of millions of cells holds a few hundred distinct numbers; the messages show the cells as written."""
    name = spec.name

    def cells(flag_u: np.ndarray) -> np.ndarray:  # a distinct value's flag for each of its cells (missing: False)
        return np.append(flag_u, False)[codes]

    unparsed_u = ~np.isfinite(num_u)
    unparsed = cells(unparsed_u)
    what = "a whole number" if spec.kind == "integer" else "a number"
    _bad(log, file, name, s, unparsed & ~skip, what, f"not {what}")
    skip |= unparsed
    if spec.kind == "number":
        return pd.Series(np.append(np.where(unparsed_u, np.nan, num_u), np.nan)[codes], index=s.index)
    with np.errstate(invalid="ignore"):
        fractional_u = ~unparsed_u & (np.floor(num_u) != num_u)
        huge_u = ~unparsed_u & (np.abs(num_u) > 1e12) & ~fractional_u
    fractional, huge = cells(fractional_u), cells(huge_u)
    _bad(log, file, name, s, fractional & ~skip, "a whole number", "not a whole number")
    rows = np.flatnonzero(huge & ~skip)
    if len(rows):
        log.add_rows(file, rows, name, "is far outside any sensible range (value not shown)", key="huge number")
    skip |= fractional | huge
    ok_u = ~(unparsed_u | fractional_u | huge_u)
    data = np.append(np.where(ok_u, num_u, 0).astype("int64"), 0)[codes]
    return pd.Series(pd.arrays.IntegerArray(data, ~np.append(ok_u, False)[codes]), index=s.index)


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
    # uniqueness is checked (and reported with the row it repeats) by the cross-table rules
    import pandera.errors

    sch = schema.pandera_schema(table).select_columns(present)
    sch = sch.update_columns({c: {"unique": False} for c in present if specs[c].unique})
    try:
        sch.validate(df, lazy=True, inplace=True)  # checks only: nothing to copy or coerce
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


# ------------------------------------------------------------------ cross-table rules


def _text_array(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    return pa.array(values.astype("str"))  # pandas' Arrow-backed text as it is (joining its chunks costs half a second)


def _first_position(ids: pd.Series, among: pd.Series, *, among_distinct: bool = False) -> np.ndarray:
    """For each of *ids*, the first row of *among* holding the same value (-1: empty, or absent).

    Arrow's hash lookup (``index_in`` answers with a value's first position in
    the value set): millions of ids never become Python strings. Visits come
    grouped by episode, so the lookup is made once per run of equal ids (one
    visit in six or seven); when the runs are *among* itself in order (the usual
    export) and *among* is known to hold each value once (*among_distinct*), no
    lookup is needed at all.
    """
    arr, values = _text_array(ids), _text_array(among)
    n = len(arr)
    new_run = np.ones(n, dtype=bool)
    if n > 1:
        same = pc.fill_null(pc.equal(arr.slice(1), arr.slice(0, n - 1)), False)
        new_run[1:] = ~same.to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(new_run)
    if len(starts) > n // 2:  # not grouped: one lookup per id
        starts = np.arange(n)
    heads = arr.filter(pa.array(new_run)) if len(starts) < n else arr  # chunk by chunk (a take joins the chunks)
    if (among_distinct and len(heads) == len(values) and heads.null_count == 0 and values.null_count == 0
            and pc.all(pc.equal(heads, values)).as_py()):
        first = np.arange(len(values), dtype="int64")
    else:
        first = pc.fill_null(pc.index_in(heads, value_set=values, skip_nulls=True), -1).to_numpy().astype("int64")
    return first if len(starts) == n else np.repeat(first, np.diff(np.append(starts, n)))


def _repeats(ids: pd.Series, *, distinct=None) -> tuple[np.ndarray, np.ndarray]:
    """Rows that repeat an earlier row's value, and the first row with that value (*distinct*: the
    column's distinct values when known: as many as there are values means no repeats, no lookup)."""
    if distinct is not None and len(distinct) == int(ids.notna().sum()):
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    first = _first_position(ids, ids)
    rows = np.flatnonzero((first >= 0) & (first != np.arange(len(first))))
    return rows, first[rows]


def _cross_rules(ep: pd.DataFrame | None, vi: pd.DataFrame | None, cat: pd.DataFrame | None,
                 files: dict[str, str], log: _Log, cache: dict) -> None:
    ef, vf = files.get("episodes", "episodes"), files.get("visits", "visits")
    if cat is not None and "code" in cat.columns:
        rows, first = _repeats(cat["code"])
        log.add_rows("modalities.csv", rows, "code", [f"the same code as row {f + 2}" for f in first], key="code repeated")
    if ep is not None:
        if "episode_id" in ep.columns:
            rows, first = _repeats(ep["episode_id"], distinct=cache.get("distinct", {}).get("episodes", {}).get("episode_id"))
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
        uniq = pd.Series(vi["modalities"].unique()).dropna()  # the distinct values first (no copy of every cell)
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
    known = cache.get("distinct", {}).get("episodes", {}).get("episode_id")  # the episodes' distinct ids
    distinct = known is not None and len(known) == len(ep) and not ep["episode_id"].isna().any()
    pos = cache["pos"] = _first_position(vi["episode_id"], ep["episode_id"], among_distinct=distinct)
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
    # the usual file: every visit matched and in episode then visit order; then no row is copied or sorted
    all_ok = bool(ok.all())
    rows_ok = np.arange(len(ok)) if all_ok else np.flatnonzero(ok)
    e, v, d = (pos, vno, day) if all_ok else (pos[rows_ok], vno[rows_ok], day[rows_ok])
    de = np.diff(e)
    if len(e) > 1 and not (np.all(de >= 0) and np.all((de > 0) | (np.diff(v) >= 0))):
        order = np.lexsort((v, e))
    else:
        order = None  # already in order
    del de
    cache["order_ok"] = len(e) == len(vi) and (order is None or np.array_equal(order, np.arange(len(order))))
    at_row = (lambda i: rows_ok[i]) if order is None else (lambda i: rows_ok[order[i]])
    es, vs, ds = (e, v, d) if order is None else (e[order], v[order], d[order])
    same_ep = es[1:] == es[:-1]
    # repeated visit numbers: adjacent once sorted; the first of each run is the earlier row
    same_key = same_ep & (vs[1:] == vs[:-1])
    if same_key.any():
        run_start = np.maximum.accumulate(np.where(np.r_[True, ~same_key], np.arange(len(es)), 0))
        at = np.flatnonzero(same_key) + 1
        rows, first = at_row(at), at_row(run_start[at])
        srt = np.argsort(rows, kind="stable")
        log.add_rows(vf, rows[srt], "visit_no", [f"this visit number already appears for the episode on row {f + 2}" for f in first[srt][:MAX_ROWS_PER_PROBLEM]], key="visit_no repeated")
    first_visit = ok & (vno == 1) & ~np.isnan(day) & (day != 0)
    log.add_rows(vf, np.flatnonzero(first_visit), "day", [f"visit 1 must be on day 0, not day {int(x)}" for x in day[first_visit][:MAX_ROWS_PER_PROBLEM]], key="visit 1 not on day 0")
    # day never goes down as visit_no goes up, within an episode
    back = same_ep & (ds[1:] < ds[:-1])
    bad_rows = at_row(np.flatnonzero(back) + 1)
    prev_days, this_days = ds[:-1][back], ds[1:][back]
    srt = np.argsort(bad_rows, kind="stable")
    log.add_rows(vf, bad_rows[srt], "day", [f"day {int(a)} is before the previous visit's day {int(b)}" for a, b in zip(this_days[srt][:MAX_ROWS_PER_PROBLEM], prev_days[srt][:MAX_ROWS_PER_PROBLEM])], key="day goes down")
    del es, vs, ds, same_ep, same_key, e, v, d
    if "discharge_day" in ep.columns:
        dis = ep["discharge_day"].to_numpy(dtype="float64", na_value=np.nan)
        vd = dis[np.maximum(pos, 0)]
        vd[pos < 0] = np.nan
        late = ~np.isnan(vd) & ~np.isnan(day) & (day > vd)
        log.add_rows(vf, np.flatnonzero(late), "day", [f"day {int(a)} is after the episode's discharge_day {int(b)}" for a, b in zip(day[late][:MAX_ROWS_PER_PROBLEM], vd[late][:MAX_ROWS_PER_PROBLEM])], key="visit after discharge")
