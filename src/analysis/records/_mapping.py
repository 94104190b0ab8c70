"""The mapping file of ``physio-outcomes import``: which export column is which of ours, and how the
export is written.

A small TOML file (see ``data/examples/*/mapping.toml`` and the README) says, for ``[episodes]`` and
``[visits]``:

- where the table is: ``file`` (a file of the export folder), and for a workbook the ``sheet``;
- how a CSV file is written: ``separator`` (``","``, ``";"``, ``"\\t"`` or ``"|"``; sniffed from the
  header when left out), ``encoding`` (UTF-8, else Windows-1252, when left out) and ``decimal``
  (``","`` for a decimal comma);
- how dates are written: ``date_format`` (one format or a list; per table or for the whole file);
- which export column is which of ours (``episode_id = "Case ID"``), per-visit treatments as one
  column of labels (``modalities``, with ``modalities_separator``) or as one column per treatment
  (``[visits.treatment_columns]``, with ``treatment_ticks``);

and ``[values.<column>]`` tables translate the export's labels into our codes (``"" = "no"`` says
what an empty cell means). Every key is checked here, so that an accepted key is always applied.
"""

from __future__ import annotations

import codecs
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import schema
from ._readers import SEPARATORS

__all__ = ["Mapping", "MappingError", "Source", "read_mapping"]

#: Our columns a mapping may name, beyond the records contract (dates that become day numbers, and DOB).
_EPISODE_EXTRAS = {"date_of_birth", "discharge_date", "surgery_date", "followup_date"}
_VISIT_EXTRAS = {"date"}
#: Keys of [episodes] / [visits] that describe the file rather than name a column.
_FILE_KEYS = {"file", "sheet", "separator", "encoding", "decimal", "date_format"}
_VISIT_KEYS = {"modalities_separator", "treatment_columns", "treatment_ticks"}
_SEPARATOR_WORDS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
#: What a ticked treatment cell holds unless the mapping says (treatment_ticks); case does not matter.
DEFAULT_TICKS = ("x", "1", "yes", "y", "true", "ja", "oui", "si", "sí", "✓", "✔")
#: What an unticked one may hold besides an empty cell.
UNTICKED = ("0", "no", "n", "false", "nein", "non", "-")


class MappingError(Exception):
    """The mapping file itself is wrong (a usage error, not a data problem)."""


@dataclass(frozen=True)
class Source:
    """Where one table of the export is and how it is written.

    Attributes
    ----------
    table : {"episodes", "visits"}
    file : str
        File name in the export folder.
    sheet : str or None
        Sheet of a workbook.
    separator : str or None
        CSV separator; None: sniffed from the header line.
    encoding : str or None
        CSV encoding; None: UTF-8 (with or without a byte-order mark), else Windows-1252.
    decimal : str
        ``"."`` or ``","``: the decimal mark of numbers written as text.
    date_formats : tuple of str
        ``strftime`` formats tried in turn for each date.
    """

    table: str
    file: str
    sheet: str | None = None
    separator: str | None = None
    encoding: str | None = None
    decimal: str = "."
    date_formats: tuple = ("%Y-%m-%d",)

    @property
    def where(self) -> str:
        """The table's place in messages: ``cases.csv`` or ``export.xlsx, sheet Cases``."""
        return f"{self.file}, sheet {self.sheet}" if self.sheet else self.file


@dataclass
class Mapping:
    """A parsed mapping file."""

    path: Path
    episodes: dict          # our column -> their column
    visits: dict
    sources: dict           # "episodes"/"visits" -> Source
    separator: str = ";"    # between treatment labels in one cell (modalities_separator)
    values: dict = field(default_factory=dict)   # our column -> {folded label: code}
    labels: dict = field(default_factory=dict)   # our column -> {code: label as written}
    treatment_columns: dict = field(default_factory=dict)  # their column -> our modality code
    ticks: tuple = DEFAULT_TICKS

    @property
    def episodes_file(self) -> str:
        return self.sources["episodes"].file

    @property
    def visits_file(self) -> str:
        return self.sources["visits"].file


def _fold(v) -> str:
    return re.sub(r"\s+", " ", str(v)).strip().casefold()


def _formats(value, where: str, name: str) -> tuple:
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    if isinstance(value, list) and value and all(isinstance(f, str) and f.strip() for f in value):
        return tuple(f.strip() for f in value)
    raise MappingError(f"{name}: {where}date_format must be text, for example date_format = \"%d/%m/%Y\", or a "
                       "list of them, e.g. date_format = [\"%d/%m/%Y\", \"%d/%m/%Y %H:%M\"]")


def _source(table: str, section: dict, default_formats: tuple, name: str) -> Source:
    where = f"[{table}] "
    file = section.get("file")
    if not isinstance(file, str):
        raise MappingError(f"{name}: [{table}] needs file = \"...\" (the export's {table} file)")
    if not file.strip() or Path(file).name != file or file in (".", "..") or "\\" in file:
        raise MappingError(f"{name}: [{table}] file must be the name of a file in the export folder, "
                           "without a folder (no / or \\ or ..): the export is read from that folder only")
    sheet = section.get("sheet")
    if sheet is not None and (not isinstance(sheet, str) or not sheet.strip()):
        raise MappingError(f"{name}: {where}sheet must be the name of a sheet of the workbook, as text "
                           "(sheet = \"Cases\")")
    sep = section.get("separator")
    if sep is not None:
        sep = _SEPARATOR_WORDS.get(sep.strip().lower(), sep) if isinstance(sep, str) else sep
        if sep not in SEPARATORS:
            raise MappingError(f"{name}: {where}separator must be one of \",\", \";\", \"\\t\" (tab) or \"|\" "
                               "(or leave it out: it is read from the header line)")
    enc = section.get("encoding")
    if enc is not None:
        try:
            if not isinstance(enc, str):
                raise LookupError
            enc = codecs.lookup(enc.strip()).name
        except LookupError:
            raise MappingError(f"{name}: {where}encoding must name a text encoding, for example "
                               "encoding = \"windows-1252\" or \"utf-8\"") from None
    dec = section.get("decimal", ".")
    if dec not in (".", ","):
        raise MappingError(f"{name}: {where}decimal must be \".\" or \",\" (decimal = \",\" when numbers are "
                           "written 48,5)")
    fmts = _formats(section["date_format"], where, name) if "date_format" in section else default_formats
    return Source(table, file, sheet.strip() if sheet else None, sep, enc, dec, fmts)


def read_mapping(path) -> Mapping:
    """Read and check a mapping file.

    Raises
    ------
    MappingError
        Unreadable TOML, a missing section or file name, or a key that is not
        one of ours; the message names the file and the key.

    Examples
    --------
    >>> from analysis.records import read_mapping
    >>> m = read_mapping("data/examples/practice-export/mapping.toml")
    >>> m.episodes["episode_id"], m.values["sex"]["f"], m.sources["visits"].date_formats
    ('Case ID', 'female', ('%d/%m/%Y',))
    >>> m = read_mapping("data/examples/praxis-export/mapping.toml")
    >>> m.sources["episodes"].separator, m.sources["episodes"].encoding, m.sources["visits"].decimal
    (';', 'cp1252', ',')
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise MappingError(f"mapping file not found: {path}")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"{name} is not a valid TOML file: {exc}") from None
    except RecursionError:  # tables nested thousands deep
        raise MappingError(f"{name} is not a mapping file: its tables are nested far too deep") from None
    except OSError as exc:
        raise MappingError(f"{name} could not be read ({exc.strerror or 'not allowed'})") from None
    unknown = set(doc) - {"date_format", "episodes", "visits", "values"}
    if unknown:
        raise MappingError(f"{name}: unknown section or key {', '.join(sorted(unknown))} "
                           "(expected date_format, [episodes], [visits], [values.<column>])")
    for section in ("episodes", "visits"):
        if not isinstance(doc.get(section), dict):
            raise MappingError(f"{name}: the [{section}] section is missing")
    formats = _formats(doc["date_format"], "", name) if "date_format" in doc else ("%Y-%m-%d",)
    sources = {t: _source(t, doc[t], formats, name) for t in ("episodes", "visits")}
    ep = {k: v for k, v in doc["episodes"].items() if k not in _FILE_KEYS}
    vi = {k: v for k, v in doc["visits"].items() if k not in _FILE_KEYS | _VISIT_KEYS}
    known_ep = {s.name for s in schema.EPISODES} | _EPISODE_EXTRAS
    known_vi = ({s.name for s in schema.VISITS} | _VISIT_EXTRAS) - {"day", "visit_no"}
    file_keys = ", ".join(sorted(_FILE_KEYS))
    for section, d, known in (("episodes", ep, known_ep), ("visits", vi, known_vi)):
        for k, v in d.items():
            if k not in known:
                extra = f", {', '.join(sorted(_VISIT_KEYS))}" if section == "visits" else ""
                raise MappingError(f"{name}: [{section}] {k} is not a column of the records nor a key of the "
                                   f"mapping (columns: {', '.join(sorted(known))}; keys: {file_keys}{extra})")
            if not isinstance(v, str) or not v.strip():
                raise MappingError(f"{name}: [{section}] {k} must name a column of the export, as text")
    for need in ("episode_id", "patient_id"):
        if need not in ep:
            raise MappingError(f"{name}: [episodes] must map {need}")
    if "episode_id" not in vi:
        raise MappingError(f"{name}: [visits] must map episode_id (the column linking appointments to cases)")
    if "date" not in vi:
        raise MappingError(f"{name}: [visits] must map date (the appointment date)")
    values, labels = {}, {}
    for col, table in (doc.get("values") or {}).items():
        if col not in known_ep | known_vi or not isinstance(table, dict):
            raise MappingError(f"{name}: [values.{col}] is not a column of the records")
        for k, v in table.items():
            if not isinstance(v, (str, int, bool)) or isinstance(v, float):
                raise MappingError(f"{name}: [values.{col}] {k} must be a code, as text or a whole number")
        values[col] = {_fold(k): (v if not isinstance(v, bool) else str(v).lower()) for k, v in table.items()}
        labels[col] = {}
        for k, v in table.items():
            labels[col].setdefault(str(v), str(k))
    sep = doc["visits"].get("modalities_separator", ";")
    if not isinstance(sep, str) or not sep:
        raise MappingError(f"{name}: [visits] modalities_separator must be text, e.g. modalities_separator = \",\"")
    treatments = doc["visits"].get("treatment_columns", {})
    if not isinstance(treatments, dict) or any(not isinstance(v, str) or not v.strip() for v in treatments.values()):
        raise MappingError(f"{name}: [visits.treatment_columns] must say, for each export column of one treatment, "
                           "its modality code: \"Treatment: Manual therapy\" = \"manual_therapy\"")
    codes = set(labels.get("modality", {}))
    for col, code in treatments.items():
        if codes and code not in codes:
            raise MappingError(f"{name}: [visits.treatment_columns] \"{col}\" = \"{code}\": {code} is not one of the "
                               f"modality codes of [values.modality] ({', '.join(sorted(codes))})")
        if col in vi.values():
            raise MappingError(f"{name}: [visits.treatment_columns] \"{col}\" is already mapped in [visits]")
    ticks = doc["visits"].get("treatment_ticks", list(DEFAULT_TICKS))
    if isinstance(ticks, str):
        ticks = [ticks]
    if not isinstance(ticks, list) or not ticks or not all(isinstance(t, (str, int)) and str(t).strip() for t in ticks):
        raise MappingError(f"{name}: [visits] treatment_ticks must list what a ticked cell holds, "
                           "e.g. treatment_ticks = [\"x\", \"1\"]")
    if "treatment_ticks" in doc["visits"] and not treatments:
        raise MappingError(f"{name}: [visits] treatment_ticks is given but there is no [visits.treatment_columns] "
                           "table for it to apply to")
    return Mapping(path, ep, vi, sources, sep, values, labels, {str(k).strip(): v.strip() for k, v in treatments.items()},
                   tuple(_fold(t) for t in ticks))
