"""Privacy: the identifier guard.

Records given to the package must be anonymised. This module recognises
columns and values that look like direct identifiers so that they are
refused, never analysed, and never repeated in a message:

- column names such as ``name``, ``date_of_birth``, ``email``, ``phone``,
  ``address``, ``postcode``, ``nric``, ``nhs_number``, ``ssn``, ``mrn``;
- values that look like a person's name, a date (possibly a date of birth),
  an e-mail address, a phone number (python-phonenumbers, regions GB, SG, US,
  IE, AU, IN and more), a street address, a UK postcode, a Singapore NRIC/FIN
  (with the check letter; look-alikes whose letter fails are flagged too,
  because they are most often typos), a UK NHS number (modulus-11 check), a US
  social security number (format plus the SSA's never-issued ranges), a web
  address or an IP address.

Speed: only *distinct* values are scanned, and a single combined regular
expression (run by Arrow's RE2 engine) picks the few candidates that need
a closer look, so a million pseudonymous ids cost well under a second.

Known limits (documented, tested): a bare run of digits without a leading
``0`` or ``+`` and without separators is not taken for a phone number, since
pseudonymous record codes are often plain numbers; a person's name is only
recognised in the shape "Given Surname", "Surname, Given" or after a title
(Mr, Mrs, Dr...), and only in code columns (ids, therapist, clinic) and
unknown columns, where such a shape has no business being.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._identifier_values import (
    _CANDIDATE,
    _DIGITS,
    _NATIONAL_PHONE_DIGITS,
    SAFE_CODE,
    _is_phone,
    classify_value,
    is_valid_nhs_number,
    nhs_checksum_valid,
)

__all__ = ["IDENTIFIER_KINDS", "IdentifierFinding", "find_identifiers", "identifier_column_kind"]

#: Kind code -> plain-language description used in messages.
IDENTIFIER_KINDS: dict[str, str] = {
    "name": "a person's name",
    "date": "a calendar date (possibly a date of birth)",
    "email": "an e-mail address",
    "phone": "a phone number",
    "address": "a street address",
    "postcode": "a postcode",
    "nric": "a Singapore NRIC/FIN number",
    "nhs_number": "a UK NHS number",
    "ssn": "a US social security number",
    "url": "a web address (URL)",
    "ip": "an IP address",
    "free_text": "free-text notes",
    "record_number": "a medical record number",
}

# ---------------------------------------------------------------- column names

_COLUMN_NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"(first|last|given|family|full|middle|maiden|patient|sur)_?name|^names?$|^surname$", "name"),
    # the same in German, French and Dutch exports (accents are dropped before matching: prénom -> prenom)
    (r"^(vor|nach|familien|ruf)_?name$|^nom$|^prenoms?$|^nom_de_famille$|^(voor|achter)_?naam$|^naam$", "name"),
    (r"birth|^dob$|^d_o_b$|birthday|geburts|naissance|geboorte", "date"),
    (r"e_?mail", "email"),
    (r"phone|mobile|^tel(ephone)?$|^cell$|^fax$|contact_?number|telefon|^handy$|^telefoon", "phone"),
    (r"^ip(_?address)?$", "ip"),
    (r"address|street|^addr|^city$|^town$|^suburb$|adresse|strasse|strae|^wohnort$|^ort$|^ville$|^adres$|^straat", "address"),
    (r"post_?code|^zip(_?code)?$|^postal|^plz$|postleitzahl|^code_postal$", "postcode"),
    (r"nric|^fin$|^uin$", "nric"),
    (r"^nhs(_?(no|num|number))?$", "nhs_number"),
    (r"^ssn$|social_?security", "ssn"),
    (r"^url$|website|homepage", "url"),
    (r"^notes?$|comment|free_?text|remarks?$|narrative|bemerkung|^notiz(en)?$|kommentar|anmerkung|opmerking|"
     r"^remarques?$", "free_text"),
    (r"^mrn$|medical_?record|^hospital_?(no|number|id)$|^record_?(no|number)$|^chi(_?number)?$", "record_number"),
)


def identifier_column_kind(name: str) -> str | None:
    """Return the identifier kind a column *name* suggests, or ``None``.

    Parameters
    ----------
    name : str
        A column header.

    Returns
    -------
    str or None
        A key of :data:`IDENTIFIER_KINDS`.

    Examples
    --------
    >>> from analysis.records import identifier_column_kind
    >>> identifier_column_kind("Date of Birth"), identifier_column_kind("leg_pain")
    ('date', None)
    """
    plain = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    norm = re.sub(r"[^a-z0-9]+", "_", plain.strip().lower()).strip("_")
    for pattern, kind in _COLUMN_NAME_RULES:
        if re.search(pattern, norm):
            return kind
    return None


# ---------------------------------------------------------------- check digits


# ---------------------------------------------------------------- value patterns


@dataclass(frozen=True)
class IdentifierFinding:
    """Rows of one column whose values look like one kind of identifier.

    Attributes
    ----------
    column : str
    kind : str
        A key of :data:`IDENTIFIER_KINDS`.
    rows : numpy.ndarray
        Positional row indexes (0-based) in the table.
    """

    column: str
    kind: str
    rows: np.ndarray

    @property
    def description(self) -> str:
        """Plain-language kind, e.g. ``"an e-mail address"``."""
        return IDENTIFIER_KINDS[self.kind]


def _digit_kinds(values: pa.Array) -> dict[str, np.ndarray]:
    """For pure digit runs: kind -> boolean mask over *values* (NHS numbers by the vectorised
    modulus-11 check; national phone numbers, the few that start like one, by phonenumbers)."""
    n = len(values)
    out: dict[str, np.ndarray] = {}
    ten = np.flatnonzero(pc.utf8_length(values).to_numpy(zero_copy_only=False) == 10)
    nhs = np.zeros(n, dtype=bool)
    if len(ten):
        text = "".join(pc.take(values, pa.array(ten)).to_pylist())
        nhs[ten] = nhs_checksum_valid(np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(-1, 10) - 48)
    if nhs.any():
        out["nhs_number"] = nhs
    phone = np.zeros(n, dtype=bool)
    maybe = pc.match_substring_regex(values, _NATIONAL_PHONE_DIGITS).to_numpy(zero_copy_only=False) & ~nhs
    for i in np.flatnonzero(maybe):
        phone[i] = _is_phone(values[int(i)].as_py())
    if phone.any():
        out["phone"] = phone
    return out


def _classify_distinct(uniques: pa.Array, *, names: bool, dates: bool) -> dict[str, list[str]]:
    """Identifier kind -> distinct values of that kind, for a column's distinct non-empty values.

    Well-formed codes (:data:`SAFE_CODE`) are set aside with one vectorised
    match, pure digit runs get the vectorised NHS check (and the phone check
    when they start like a national number), and only what is left passes
    the candidate pattern and :func:`classify_value` one value at a time.
    """
    trimmed = pc.utf8_trim_whitespace(uniques)
    digits = pc.match_substring_regex(trimmed, _DIGITS)
    kinds: dict[str, list[str]] = {}
    if pc.any(digits).as_py():
        originals = pc.filter(uniques, digits)  # the values as written, spaces and all, for finding their rows
        for kind, mask in _digit_kinds(pc.filter(trimmed, digits)).items():
            kinds[kind] = pc.filter(originals, pa.array(mask)).to_pylist()
    other = pc.and_(pc.invert(pc.or_(digits, pc.match_substring_regex(trimmed, SAFE_CODE))),
                    pc.not_equal(trimmed, ""))
    rest = pc.filter(uniques, other)
    for v in pc.filter(rest, pc.match_substring_regex(rest, _CANDIDATE)).to_pylist():
        kind = classify_value(v, names=names, dates=dates)
        if kind:
            kinds.setdefault(kind, []).append(v)
    return kinds


def _numeric_findings(column: pd.Series) -> dict[str, list]:
    """Identifier kinds among the large whole numbers of a numeric column (phones and NHS numbers
    typed into a number column lose nothing but a leading zero)."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        top = column.max(skipna=True)  # one pass, no copy: most number columns hold small values
        if not (pd.notna(top) and float(top) >= 1e6):
            return {}
    vals = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    vals = vals[np.isfinite(vals)]
    big = np.unique(vals[(vals >= 1e6) & (vals < 1e16) & (np.floor(vals) == vals)])
    out: dict[str, list] = {}
    for v in big:
        text = str(int(v))
        kind = None
        if len(text) == 10 and is_valid_nhs_number(text):
            kind = "nhs_number"
        elif _is_phone("+" + text) or _is_phone("0" + text) or _is_phone(text):
            kind = "phone"
        if kind:
            out.setdefault(kind, []).append(v)
    return out


def find_identifiers(
    frame: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    name_columns: frozenset[str] | set[str] = frozenset(),
    date_columns: frozenset[str] | set[str] = frozenset(),
    number_columns: frozenset[str] | set[str] = frozenset(),
    list_columns: frozenset[str] | set[str] = frozenset(),
    distinct: dict | None = None,
) -> list[IdentifierFinding]:
    """Scan the columns of *frame* for identifier-looking values.

    Text columns: distinct values only; well-formed codes (UUIDs, hexadecimal
    pseudonyms, MRN-style and ``H003-0000000``-style codes) are set aside by
    one vectorised pattern and pure digit runs get a vectorised NHS check, so
    the cost barely depends on what the ids look like. Number columns: whole
    numbers of 7 or more digits are checked as NHS and phone numbers.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table as read (text columns as strings).
    columns : list of str, optional, keyword-only
        Columns to scan; default every column (text and number columns).
    name_columns : set of str, keyword-only
        Columns in which a person's name shape is an identifier.
    date_columns : set of str, keyword-only
        Columns where calendar dates are expected (not flagged as dates).
    number_columns : set of str, keyword-only
        Columns that hold numbers even when read as text (a spreadsheet):
        they get the number-column checks as well.
    list_columns : set of str, keyword-only
        Columns of ``;``-separated lists (a visit's modalities): each part is
        checked on its own, so ``manual_therapy;07700 900123`` is a phone.
    distinct : dict, optional, keyword-only
        Column -> its distinct non-empty values (an Arrow string array), where the caller has them
        already (the loader's earlier checks): not computed again.

    Returns
    -------
    list of IdentifierFinding
        One per (column, kind) found; values are never included.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.records import find_identifiers
    >>> df = pd.DataFrame({"therapist": ["T01", "jo@example.org", "T02"]})
    >>> [(f.column, f.kind, f.rows.tolist()) for f in find_identifiers(df)]
    [('therapist', 'email', [1])]
    """
    findings: list[IdentifierFinding] = []
    cols = columns if columns is not None else list(frame.columns)
    for col in cols:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            for kind, values in _numeric_findings(s).items():
                num = s.to_numpy(dtype="float64", na_value=np.nan)
                rows = np.flatnonzero(np.isin(num, np.asarray(values, dtype="float64")))
                findings.append(IdentifierFinding(col, kind, rows))
            continue
        if not pd.api.types.is_string_dtype(s.dtype):
            continue
        arr = pa.array(s)
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = arr.cast(pa.string())
        uniques = distinct[col] if distinct is not None and col in distinct else pc.unique(arr.drop_null())
        kinds = _classify_distinct(uniques, names=col in name_columns, dates=col not in date_columns)
        if col in list_columns:
            _list_parts(uniques, kinds, names=col in name_columns)
        if col in number_columns:  # numbers typed as text (a spreadsheet): the number checks too
            text = pd.Series(uniques.to_pylist(), dtype="str")
            parsed = pd.to_numeric(text, errors="coerce")
            for kind, nums in _numeric_findings(parsed).items():
                found = kinds.setdefault(kind, [])
                seen = set(found)
                found.extend(v for v in text[parsed.isin(nums).to_numpy(dtype=bool)] if v not in seen)
        for kind, values in kinds.items():
            hit = pc.fill_null(pc.is_in(arr, value_set=pa.array(values, type=pa.string())), False)
            rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
            findings.append(IdentifierFinding(col, kind, rows))
    return findings


def _list_parts(uniques: pa.Array, kinds: dict, *, names: bool) -> None:
    """Add to *kinds* each distinct list value one of whose ``;``-separated parts is an identifier."""
    values = [v for v in uniques.to_pylist() if ";" in v]
    if not values:
        return
    parts = sorted({p.strip() for v in values for p in v.split(";") if p.strip()})
    found = _classify_distinct(pa.array(parts, type=pa.string()), names=names, dates=True)
    kind_of = {p: k for k, ps in found.items() for p in ps}
    for v in values:
        for part in v.split(";"):
            kind = kind_of.get(part.strip())
            if kind:
                listed = kinds.setdefault(kind, [])
                if v not in listed:
                    listed.append(v)
                break
