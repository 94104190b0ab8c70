"""De-identification of a clinic's raw export (spec section 8).

``physio-outcomes anonymise RAW -o OUT --key-file KEY`` turns a practice-system
export (the records contract plus names, dates of birth, phone numbers,
NRIC/NHS numbers, e-mail and street addresses, postcodes, free-text notes and
raw record numbers) into a data folder that passes ``validate``:

- ``patient_id`` and ``episode_id`` become keyed pseudonyms:
  ``HMAC-SHA-256(key, kind + ":" + id)`` over the id with spaces and hyphens
  removed and letters upper-cased, shown as ``P-`` / ``E-`` and the first 16
  hexadecimal characters (64 bits: about 3 in 100 million chance of any
  collision among a million patients). The same key gives the same pseudonyms
  in every export, so episodes link over time; another key gives others. The
  key never leaves the data steward: it is not written to the output, and an
  unkeyed hash is never used (NHS numbers could be enumerated).
- ``date_of_birth`` becomes ``age_band`` at ``start_date`` (90 and over =
  ``90+``). Ages count completed years; someone born on 29 February turns a
  year older on 1 March in non-leap years.
- Identifying and free-text columns, and any column outside the records
  contract, are dropped (and listed).
- ``start_date`` is truncated to the first of its month (default), shifted back
  by a keyed per-patient offset of 0-364 days (all of a patient's dates move
  together, so intervals between episodes are kept), or kept.
- The result is checked with the full validator, identifier guard included.
  If anything identifying remains (say an e-mail typed into the therapist
  column) nothing is written and every problem is listed without its value.
- Everything is written to a temporary folder beside OUT and renamed at the
  end; RAW is only read.
- A k-anonymity summary over the quasi-identifiers (age band, sex, clinic,
  cause, start month) is returned, with a warning when k < 5.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema
from ._output import check_output_folder, mark_output_folder
from ._identifiers import identifier_column_kind
from ._load import Problem, validate_folder
from ._problems import safe_header
from ._quasi import QUASI_IDENTIFIERS, age_band_at, k_anonymity
from ._readers import sniff_separator, workbook_too_big

__all__ = ["AnonymiseResult", "KeyFileError", "QUASI_IDENTIFIERS", "TOKEN_HEX", "age_band_at", "anonymise", "anonymise_tables", "dropped_kinds", "k_anonymity", "new_key", "pseudonym", "read_key", "shift_days"]

#: Hexadecimal characters kept from the HMAC (64 bits).
TOKEN_HEX = 16
_EXTENSIONS = (".csv", ".parquet", ".xlsx")


class KeyFileError(Exception):
    """The key file is missing, empty, too short or readable by other users."""


def new_key(path) -> Path:
    """Write a fresh random key (32 bytes, hexadecimal) readable only by its owner (mode 600).

    Refuses to overwrite an existing file.

    Examples
    --------
    >>> import tempfile, os, stat
    >>> from analysis.records import new_key
    >>> p = new_key(os.path.join(tempfile.mkdtemp(), "clinic.key"))
    >>> oct(stat.S_IMODE(p.stat().st_mode))
    '0o600'
    """
    path = Path(path)
    if path.exists():
        raise KeyFileError(f"{path} already exists; a key is never overwritten (move it away first)")
    if not path.parent.is_dir():
        raise KeyFileError(f"cannot write the key {path}: the folder {path.parent} does not exist (create it first)")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise KeyFileError(f"cannot write the key {path} ({exc.strerror or 'not allowed'})") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return path


def read_key(path) -> bytes:
    """Read a key file; refuse a missing, empty or short one, or one that anyone but its owner can read.

    Examples
    --------
    >>> import tempfile, os
    >>> from analysis.records import new_key, read_key
    >>> len(read_key(new_key(os.path.join(tempfile.mkdtemp(), "k"))))
    64
    """
    path = Path(path)
    if not path.is_file():
        raise KeyFileError(f"key file not found: {path} (create one with --new-key {path})")
    mode = stat.S_IMODE(path.stat().st_mode)
    # anyone but the owner (group or others) able to read or write it: refused (Windows has no such bits)
    if os.name != "nt" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        who = "other users" if mode & stat.S_IRWXO else "its group"
        raise KeyFileError(f"key file {path} can be read or changed by {who}, not only by you; restrict it "
                           f"first: chmod 600 {path}")
    key = path.read_bytes().strip()
    if not key:
        raise KeyFileError(f"key file {path} is empty")
    if len(key) < 32:
        raise KeyFileError(f"key file {path} is too short (at least 32 characters; use --new-key)")
    return key


def _normalise(value: str) -> str:
    return re.sub(r"[\s-]+", "", str(value)).upper()


def pseudonym(value: str, key: bytes, *, kind: str) -> str:
    """Keyed pseudonym of one id: ``HMAC-SHA-256(key, kind:normalised id)``, truncated.

    Examples
    --------
    >>> from analysis.records import pseudonym
    >>> key = b"k" * 32
    >>> pseudonym("mrn 0012-345", key, kind="patient") == pseudonym("MRN0012345", key, kind="patient")
    True
    >>> pseudonym("MRN0012345", key, kind="patient")[:2]
    'P-'
    """
    digest = hmac.new(key, f"{kind}:{_normalise(value)}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{kind[0].upper()}-{digest[:TOKEN_HEX]}"


def shift_days(patient: str, key: bytes) -> int:
    """Keyed per-patient date offset, 0-364 days (the same for all of a patient's episodes).

    Examples
    --------
    >>> from analysis.records import shift_days
    >>> 0 <= shift_days("MRN1", b"k" * 32) <= 364
    True
    """
    digest = hmac.new(key, f"date-shift:{_normalise(patient)}".encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % 365


@dataclass
class AnonymiseResult:
    """What :func:`anonymise` did.

    Attributes
    ----------
    written : bool
        False when something identifying or invalid remained (see ``problems``).
    problems : list of Problem
    dropped : dict
        File -> columns dropped.
    k_anonymity : dict or None
    counts : dict
        Rows written per file.
    """

    written: bool
    problems: list[Problem] = field(default_factory=list)
    dropped: dict[str, list[str]] = field(default_factory=dict)
    k_anonymity: dict | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _read_raw(path: Path) -> pd.DataFrame:
    """Every column as text (leading zeros and formats kept)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, "rb") as fh:
            sep = sniff_separator(fh.read(1 << 16).decode("utf-8", errors="replace"))
        for enc in ("utf-8-sig", "cp1252"):
            try:
                return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""], encoding=enc)
            except UnicodeDecodeError:
                continue
        raise ValueError(f"{path.name} is not UTF-8 text (nor Windows-1252)")
    why = workbook_too_big(path) if suffix == ".xlsx" else None
    if why:
        raise ValueError(f"{path.name} {why}")
    try:
        if suffix == ".parquet":
            df = pd.read_parquet(path)
            return df.astype("str").where(df.notna())
        return pd.read_excel(path, dtype=str, keep_default_na=False, na_values=[""], engine="openpyxl")
    except Exception:  # noqa: BLE001 - any reader failure is a problem with the file, never a traceback
        kind = "a Parquet" if suffix == ".parquet" else "an Excel (.xlsx)"
        raise ValueError(f"{path.name} could not be read as {kind} file; is it damaged or another format?") from None


def _find(folder: Path, table: str) -> Path | None:
    hits = [folder / f"{table}{e}" for e in _EXTENSIONS if (folder / f"{table}{e}").is_file()]
    return hits[0] if hits else None


def anonymise(raw, out, *, key: bytes, dates: str = "month", force: bool = False, protect=()) -> AnonymiseResult:
    """De-identify a raw export into a data folder (see the module docstring).

    Parameters
    ----------
    raw : str or pathlib.Path
        Folder with the export's episodes and visits (CSV, Parquet or XLSX) and
        optionally modalities.csv. Only read.
    out : str or pathlib.Path
        Folder to create. Refused if it exists and is not empty, unless *force*.
    key : bytes, keyword-only
        From :func:`read_key`.
    dates : {"month", "shift", "keep"}, keyword-only
    force : bool, keyword-only
        Replace a non-empty OUT.

    Returns
    -------
    AnonymiseResult

    Examples
    --------
    >>> import tempfile, os
    >>> from analysis.records import anonymise
    >>> out = os.path.join(tempfile.mkdtemp(), "anon")
    >>> res = anonymise("data/sample", out, key=b"k" * 32)
    >>> res.written, sorted(os.listdir(out))
    (True, ['.physio-outcomes-output', 'episodes.csv', 'modalities.csv', 'visits.csv'])
    """
    raw, out = Path(raw).resolve(), Path(out).resolve()
    if dates not in ("month", "shift", "keep"):
        raise ValueError("dates must be 'month', 'shift' or 'keep'")
    if not raw.is_dir():
        raise FileNotFoundError(f"raw export folder not found: {raw}")
    if out == raw or out.is_relative_to(raw):
        raise ValueError("OUT must be outside the raw export folder")
    protect = (raw, *protect)
    check_output_folder(out, command="anonymise", protect=protect, force=force)
    ep_path, vi_path = _find(raw, "episodes"), _find(raw, "visits")
    if ep_path is None or vi_path is None:
        missing = " and ".join(t for t, p in (("episodes", ep_path), ("visits", vi_path)) if p is None)
        return AnonymiseResult(False, [Problem(raw.name, None, None, f"has no {missing} file")])
    ep, vi = _read_raw(ep_path), _read_raw(vi_path)
    catalogue = _read_raw(raw / "modalities.csv") if (raw / "modalities.csv").is_file() else None
    return anonymise_tables(ep, vi, out, key=key, dates=dates, force=force, catalogue=catalogue,
                            file_names={"episodes": ep_path.name, "visits": vi_path.name}, protect=protect)


def anonymise_tables(ep: pd.DataFrame, vi: pd.DataFrame, out, *, key: bytes, dates: str = "month",
                     force: bool = False, catalogue: pd.DataFrame | None = None,
                     file_names: dict | None = None, pseudonymise: tuple[str, ...] = (), protect=(),
                     command: str = "anonymise") -> AnonymiseResult:
    """De-identify export tables already in memory (the shape of the records contract plus
    identifying columns) into a data folder: the part of :func:`anonymise` after reading.

    Parameters
    ----------
    ep, vi : pandas.DataFrame
        Episodes and visits, every column as text.
    out : str or pathlib.Path
    key : bytes, keyword-only
    dates : {"month", "shift", "keep"}, keyword-only
    force : bool, keyword-only
    catalogue : pandas.DataFrame, optional, keyword-only
        ``code``, ``label`` (and ``description``) of the modalities.
    file_names : dict, optional, keyword-only
        Table -> the export's file name, for messages.
    pseudonymise : tuple of str, keyword-only
        Further code columns to replace with keyed pseudonyms (e.g. ``therapist``).
    protect : iterable of path, keyword-only
        The input folder, key file and mapping file: *out* may not be or hold
        any of them (see :func:`check_output_folder`).
    command : str, keyword-only
        The command writing *out*, recorded in it: ``--force`` later replaces
        only a folder the same command wrote.

    Returns
    -------
    AnonymiseResult
    """
    if dates not in ("month", "shift", "keep"):
        raise ValueError("dates must be 'month', 'shift' or 'keep'")
    out = check_output_folder(out, command=command, protect=protect, force=force)
    names = {"episodes": "episodes.csv", "visits": "visits.csv", **(file_names or {})}
    ep, vi = ep.copy(), vi.copy()
    ep.columns = [str(c).strip() for c in ep.columns]
    vi.columns = [str(c).strip() for c in vi.columns]
    problems: list[Problem] = []
    for name, df, need in (("episodes", ep, ("episode_id", "patient_id", "start_date")),
                           ("visits", vi, ("episode_id",))):
        for col in need:
            if col not in df.columns:
                problems.append(Problem(names[name], 1, col, "is missing: this column is required"))
    if problems:
        return AnonymiseResult(False, problems)

    # ages from dates of birth, before the dates change
    if "date_of_birth" in ep.columns:
        bands = age_band_at(ep["date_of_birth"], ep["start_date"])
        no_band = bands.isna() & ep["date_of_birth"].notna()
        for i in np.flatnonzero(no_band.to_numpy()):
            problems.append(Problem(names["episodes"], int(i) + 2, "date_of_birth",
                                    "gives an age under 18 or an impossible date (value not shown)"))
        if "age_band" in ep.columns:
            ep["age_band"] = bands.where(bands.notna(), ep["age_band"]).to_numpy()
        else:
            ep["age_band"] = bands.to_numpy()
    if problems:
        return AnonymiseResult(False, problems)

    # dates
    raw_patient = ep["patient_id"].fillna("")
    start = pd.to_datetime(ep["start_date"], format="%Y-%m-%d", errors="coerce")
    if dates == "month":
        new_start = start.dt.to_period("M").dt.to_timestamp()
    elif dates == "shift":
        offsets = raw_patient.map(lambda p: shift_days(p, key)).astype("int64")
        new_start = start - pd.to_timedelta(offsets, unit="D")
    else:
        new_start = start
    ep["start_date"] = new_start.dt.strftime("%Y-%m-%d").where(start.notna(), ep["start_date"])

    # pseudonyms (visits use the same episode mapping, so the link survives)
    ep_map = {v: pseudonym(v, key, kind="episode") for v in pd.unique(pd.concat([ep["episode_id"], vi["episode_id"]]).dropna())}
    ep["episode_id"] = ep["episode_id"].map(ep_map)
    vi["episode_id"] = vi["episode_id"].map(ep_map)
    ep["patient_id"] = ep["patient_id"].map(lambda v: pseudonym(v, key, kind="patient") if isinstance(v, str) else v)
    for col in pseudonymise:
        if col in ep.columns:
            ep[col] = ep[col].map(lambda v: pseudonym(v, key, kind=col) if isinstance(v, str) and v.strip() else None)

    # drop everything outside the contract (identifiers, free text, extra columns)
    dropped = {}
    frames = {"episodes": ep, "visits": vi}
    for table, df in frames.items():
        known = [s.name for s in schema.TABLES[table]]
        extra = [c for c in df.columns if c not in known]
        dropped[f"{table}.csv"] = extra
        frames[table] = df[[c for c in known if c in df.columns]]

    # write to a temporary folder beside OUT, check it, then rename
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for table, df in frames.items():
            df.to_csv(tmp / f"{table}.csv", index=False)
        if catalogue is not None:
            cat = catalogue
            keep = [c for c in ("code", "label", "description") if c in cat.columns]
            dropped["modalities.csv"] = [c for c in cat.columns if c not in keep]
            cat[keep].to_csv(tmp / "modalities.csv", index=False)
        problems = validate_folder(tmp)
        if problems:
            shutil.rmtree(tmp, ignore_errors=True)
            return AnonymiseResult(False, problems, dropped)
        kanon = k_anonymity(frames["episodes"])
        mark_output_folder(tmp, command=command)
        if out.exists():  # checked above: a folder this command wrote, holding only its own files
            check_output_folder(out, command=command, protect=protect, force=force)
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    counts = {f"{t}.csv": len(df) for t, df in frames.items()}
    return AnonymiseResult(True, [], {k: v for k, v in dropped.items() if v}, kanon, counts)


def dropped_kinds(columns: list[str]) -> list[str]:
    """Each dropped column with the identifier kind its name suggests, for the summary."""
    out = []
    for c in columns:
        kind = identifier_column_kind(c)
        out.append(f"{c} ({kind.replace('_', ' ')})" if kind else safe_header(c))
    return out
