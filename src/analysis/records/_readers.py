"""Reading the files of a data folder: formats, encodings and empty cells.

CSV (UTF-8 with or without a byte-order mark; Windows-1252 read and converted;
anything else refused by name), Parquet and Excel (.xlsx). Text columns of the
contract are read as text, so leading zeros survive; an empty (or blank) text
cell is a missing value in every format (spec section 2). A file that cannot be
read is a problem with its name, never a traceback.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ._problems import _Log
from .schema import ColumnSpec

__all__: list[str] = []

_EXTENSIONS = (".csv", ".parquet", ".xlsx")
#: The CSV separators understood, with the words messages use for them.
SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}
_SINGULAR = {",": "a comma", ";": "a semicolon", "\t": "a tab", "|": "a vertical bar"}


def sniff_separator(head: str) -> str:
    """The separator of a CSV text: the one of ``, ; tab |`` its header line holds most often (outside quotes).

    Examples
    --------
    >>> from analysis.records._readers import sniff_separator
    >>> sniff_separator('Fall-Nr;Geschlecht;"Dauer; Wochen"\\r\\n1;w;4'), sniff_separator("a,b\\tc,d")
    (';', ',')
    >>> sniff_separator("only one column\\n")
    ','
    """
    line = next((ln for ln in head.lstrip("\ufeff").splitlines() if ln.strip()), "")
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda s: (counts[s], s == ","))
    return best if counts[best] else ","


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
    control = sum(head.count(bytes([b])) for b in (*range(0, 9), 11, 12, *range(14, 32)))
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[1:400:2].count(b"\x00") > 150
    if utf16 or head.count(b"\x00") > 8 or control > 0.05 * len(head):
        what = "UTF-16 text (Excel's 'Unicode text')" if utf16 else "not a text file (it holds binary data)"
        log.add(path.name, None, None, f"is {what}, not CSV; save it from your spreadsheet as 'CSV UTF-8'")
        return None
    table = None
    # a spreadsheet saved in a German, French, Dutch or Italian locale separates cells with ";" (spec section 2)
    sep = sniff_separator(head.decode("utf-8", errors="replace"))
    for encoding in ("utf8", "cp1252"):
        try:
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 22),  # 4 MB: both cores busy
                parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
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
                log.add(path.name, None, None, f"could not be read: a line{where} has a different number of cells from the header "
                        f"(cells separated by {SEPARATORS[sep]}; {_SINGULAR[sep]} inside a value that is not in quotes?)")
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
    # column by column, each Arrow column let go once converted (the table is not held twice)
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get, self_destruct=True, split_blocks=True)


def _text_offsets(values: pa.Array) -> np.ndarray:
    """Where each value of an Arrow text array starts in its data buffer, and where the last ends (no copy)."""
    large = pa.types.is_large_string(values.type)
    return np.frombuffer(values.buffers()[1], dtype=np.int64 if large else np.int32,
                         count=len(values) + 1, offset=values.offset * (8 if large else 4))


def _text_bytes(values: pa.Array) -> np.ndarray | None:
    """The bytes of an Arrow text array's values (its slice of the data buffer, no copy); None when it holds none."""
    if len(values) == 0 or values.null_count == len(values):
        return None
    offsets = _text_offsets(values)
    data = values.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return None
    return np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]]


def _may_be_blank(col: pa.ChunkedArray | pa.Array) -> bool:
    """Whether a text column can hold an empty or blank cell: not when every cell has a character and no cell's
    first byte is whitespace (tab to carriage return, space) or outside ASCII (where the Unicode spaces are): a
    blank cell starts with a space. A column of ids or numbers is then passed over in two cheap scans instead of
    the Unicode test of every cell."""
    if pc.min(pc.utf8_length(col)).as_py() in (0, None):
        return True
    for chunk in (col.chunks if isinstance(col, pa.ChunkedArray) else [col]):
        if len(chunk) == 0 or chunk.null_count == len(chunk):
            continue
        offsets = _text_offsets(chunk)
        starts = offsets[:-1][np.diff(offsets) > 0]  # each cell with a character (a missing cell has none)
        if not len(starts):
            continue
        first = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[starts]  # each cell's first byte
        if bool(((first >= 0x09) & (first <= 0x0D)).any()) or bool((first == 0x20).any()) or bool((first >= 0x80).any()):
            return True
    return False


def _blank_is_null(table: pa.Table) -> pa.Table:
    """An empty (or blank) text cell is a missing value, in every format (spec section 2): the Arrow table with
    every such cell made missing, found by two kernels (empty, or only whitespace) with no per-cell pass in
    pandas; a column without one is kept as it is."""
    columns = []
    for field, col in zip(table.schema, table.columns):
        if (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)) and _may_be_blank(col):
            blank = pc.or_(pc.equal(pc.utf8_length(col), 0), pc.utf8_is_space(col))
            if pc.any(blank).as_py():
                col = pc.if_else(blank, pa.scalar(None, field.type), col)
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=table.schema)


def _decodes(path: Path, encoding: str) -> bool:
    try:
        path.read_bytes().decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


#: A workbook is refused before it is opened when its sheets would inflate past this size or this ratio
#: (a 10 MB file holding 2 GB of XML: a "zip bomb"). Real exports compress 5-20 times.
MAX_WORKBOOK_BYTES = 1_500_000_000
MAX_WORKBOOK_RATIO = 100


def workbook_too_big(path: Path) -> str | None:
    """Why an .xlsx file is refused unopened (it would inflate too far), or None. Reads only the zip directory.

    Examples
    --------
    >>> import tempfile, zipfile
    >>> from pathlib import Path
    >>> from analysis.records._readers import workbook_too_big
    >>> p = Path(tempfile.mkdtemp()) / "bomb.xlsx"
    >>> with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
    ...     z.writestr("xl/worksheets/sheet1.xml", "<c/>" * 2_000_000)
    >>> workbook_too_big(p).startswith("would inflate")
    True
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # not a workbook at all: the reader says so
    inflated = sum(i.file_size for i in infos)
    packed = max(sum(i.compress_size for i in infos), 1)
    if inflated > MAX_WORKBOOK_BYTES or inflated / packed > MAX_WORKBOOK_RATIO:
        return (f"would inflate to {inflated / 1e6:,.0f} MB ({inflated / packed:,.0f} times its size), more than "
                "a real export does; it was not opened. Save the sheet again from the spreadsheet program, or "
                "export it as CSV")
    return None


_CORE_FIELDS = ("creator", "lastModifiedBy", "title", "subject", "description", "keywords", "category")


def hidden_content(path: Path) -> list[str]:
    """What a workbook or Parquet file holds beside its table that may identify someone, in plain words.

    The table is all that is read, so hidden sheets, cell comments and document
    properties (author, title ...) of a workbook, or a Parquet file's own
    metadata, would travel with the file unseen. Values are never repeated.

    Examples
    --------
    >>> import tempfile, zipfile
    >>> from pathlib import Path
    >>> from analysis.records._readers import hidden_content
    >>> p = Path(tempfile.mkdtemp()) / "w.xlsx"
    >>> with zipfile.ZipFile(p, "w") as z:
    ...     z.writestr("xl/workbook.xml", '<workbook><sheets><sheet name="Cases"/>'
    ...                '<sheet name="Old" state="hidden"/></sheets></workbook>')
    ...     z.writestr("xl/comments1.xml", "<comments/>")
    >>> hidden_content(p)[0]
    'has 1 hidden sheet: hidden sheets are not read and may hold identifiers; delete it (or unhide and check it)'
    """
    import zipfile

    from ._identifier_values import classify_value

    found: list[str] = []
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            meta = pq.read_metadata(path).metadata or {}
        except Exception:  # noqa: BLE001 - the reader reports a damaged file
            return []
        for k, v in meta.items():
            if k in (b"pandas", b"ARROW:schema"):
                continue
            text = v.decode("utf-8", "replace")[:10_000]
            if any(classify_value(part, names=True) for part in re.split(r"[\"{},:\n]+", text) if part.strip()):
                found.append("has file metadata that looks like an identifier (not shown); write the file again "
                             "without custom metadata")
                break
        return found
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            book = z.read("xl/workbook.xml").decode("utf-8", "replace") if "xl/workbook.xml" in names else ""
            core = z.read("docProps/core.xml").decode("utf-8", "replace") if "docProps/core.xml" in names else ""
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return []
    sheets = re.findall(r"<(?:\w+:)?sheet\b([^>]*)>", book)
    hidden = sum(1 for s in sheets if re.search(r'state="(hidden|veryHidden)"', s))
    if hidden:
        found.append(f"has {hidden} hidden sheet{'s' if hidden > 1 else ''}: hidden sheets are not read and may hold "
                     f"identifiers; delete {'them' if hidden > 1 else 'it'} (or unhide and check {'them' if hidden > 1 else 'it'})")
    sheet_names = [html.unescape(m.group(1)) for s in sheets if (m := re.search(r'name="([^"]*)"', s))]
    if any(classify_value(name, names=True) for name in sheet_names):
        found.append("has a sheet whose name looks like an identifier (not shown); rename the sheet")
    if any(n.startswith(("xl/comments", "xl/threadedComments")) for n in names):
        found.append("holds cell comments: they are not read and may hold identifiers; delete them")
    for field in _CORE_FIELDS:
        m = re.search(rf"<(?:\w+:)?{field}>([^<]*)</", core)
        if m and m.group(1).strip() and classify_value(html.unescape(m.group(1)).strip(), names=True):
            found.append(f"has a document property ({field}) that looks like an identifier (not shown); remove "
                         "it (in Excel: File > Info > Check for Issues > Inspect Document)")
    return found


def _parquet_shape(path: Path) -> str | None:
    """Why a readable Parquet file is not a table of plain columns (repeated or nested columns), or None."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception:  # noqa: BLE001 - a damaged file: the reader says so
        return None
    names = schema.names
    if len(set(names)) != len(names):
        return "has the same column name twice"
    nested = sum(1 for f in schema if pa.types.is_nested(f.type))
    if nested:
        return (f"has {nested} nested column{'s' if nested > 1 else ''} (lists or structures inside a cell); write "
                "each value in a plain column of its own")
    return None


def _read_table(path: Path, specs: tuple[ColumnSpec, ...], log: _Log) -> pd.DataFrame | None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, specs, log)
    if suffix == ".xlsx":
        why = workbook_too_big(path)
        if why:
            log.add(path.name, None, None, why)
            return None
    for why in hidden_content(path):
        log.add(path.name, None, None, why)
    if suffix == ".parquet":
        why = _parquet_shape(path)
        if why:
            log.add(path.name, 1, None, why)
            return None
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            # what pandas.read_parquet gives (pyarrow's own conversion), with blank text cells made missing in
            # Arrow first: a third faster than reading through pandas and then blanking there. Text is read as
            # pandas keeps it (large_string), converted by the reader's threads, not afterwards on one
            stored = pq.read_schema(path)
            wide = pa.schema([f.with_type(pa.large_string()) if pa.types.is_string(f.type) else f for f in stored],
                             metadata=stored.metadata)
            return _blank_is_null(pq.read_table(path, schema=wide)).to_pandas()
        df = pd.read_excel(path, dtype=str, keep_default_na=False, na_values=[""], engine="openpyxl")
        table = pa.Table.from_pandas(df.astype({c: "str" for c in df.columns}), preserve_index=False)
        return _blank_is_null(table).to_pandas()
    except Exception:  # any reader failure is a data problem, never a traceback
        kind = "a Parquet" if suffix == ".parquet" else "an Excel (.xlsx)"
        log.add(path.name, None, None, f"could not be read as {kind} file; is it damaged or another format?")
        return None
