"""Identifier checks on single values: NRIC, NHS number, SSN, phone, e-mail, address, date, name; IP addresses."""

from __future__ import annotations

import ipaddress
import re

import numpy as np
import phonenumbers

_NRIC_RE = re.compile(r"^([STFGM])(\d{7})([A-Z])$")


_NRIC_WEIGHTS = (2, 7, 6, 5, 4, 3, 2)


def is_valid_nric(value: str) -> bool:
    """Whether *value* is a Singapore NRIC/FIN whose check letter is right.

    Community algorithm as used by Singapore GovTech's FormSG (weights
    2,7,6,5,4,3,2; offset 4 for T/G, 3 for M; letter tables ``JZIHGFEDCBA``,
    ``XWUTRQPNMLK`` and, for M, ``KLJNPQRTUWX`` read from the end).

    Examples
    --------
    >>> from analysis.records import is_valid_nric
    >>> is_valid_nric("S1234567D"), is_valid_nric("S1234567A")
    (True, False)
    """
    m = _NRIC_RE.match(str(value).strip().upper())
    if not m:
        return False
    prefix, digits, letter = m.groups()
    total = sum(int(d) * w for d, w in zip(digits, _NRIC_WEIGHTS))
    total += {"T": 4, "G": 4, "M": 3}.get(prefix, 0)
    r = total % 11
    if prefix in "ST":
        expected = "JZIHGFEDCBA"[r]
    elif prefix in "FG":
        expected = "XWUTRQPNMLK"[r]
    else:
        expected = "KLJNPQRTUWX"[10 - r]
    return letter == expected


_NHS_RE = re.compile(r"^(\d{3})[- ]?(\d{3})[- ]?(\d{4})$")


def is_valid_nhs_number(value: str) -> bool:
    """Whether *value* is a UK NHS number passing the modulus-11 check.

    Ten digits, optionally grouped 3-3-4 with spaces or hyphens. A check
    value of 10 means the number is never issued; a run of one repeated digit
    (``0000000000``) passes the arithmetic but is not a real number.

    Examples
    --------
    >>> from analysis.records import is_valid_nhs_number
    >>> is_valid_nhs_number("943 476 5870"), is_valid_nhs_number("9434765871")
    (True, False)
    """
    m = _NHS_RE.match(str(value).strip())
    if not m:
        return False
    digits = "".join(m.groups())
    return bool(nhs_checksum_valid(np.array([[int(d) for d in digits]]))[0])


_SSN_RE = re.compile(r"^(\d{3})([- ])(\d{2})\2(\d{4})$")


def looks_like_ssn(value: str) -> bool:
    """Whether *value* has the shape of an assignable US social security number.

    ``ddd-dd-dddd`` (or with spaces), area not 000, 666 or 900-999, group not
    00, serial not 0000 (SSA randomisation rules). A bare nine-digit number is
    not taken for an SSN.

    Examples
    --------
    >>> from analysis.records import looks_like_ssn
    >>> looks_like_ssn("536-90-4399"), looks_like_ssn("666-12-3456")
    (True, False)
    """
    m = _SSN_RE.match(str(value).strip())
    if not m:
        return False
    area, _, group, serial = m.groups()
    if area in ("000", "666") or area.startswith("9"):
        return False
    return group != "00" and serial != "0000"


_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


_URL = re.compile(r"(?i)\b(https?|ftp)://\S+|\bwww\.[a-z0-9-]+\.[a-z]{2,}")


_NRIC_ANY = re.compile(r"(?i)(?<![A-Z0-9])[STFGM]\d{7}[A-Z](?![A-Z0-9])")


# digit runs glued to letters or digits (inside a code such as a hexadecimal pseudonym) are not numbers
_NHS_ANY = re.compile(r"(?<![0-9A-Za-z])\d{3}[- ]?\d{3}[- ]?\d{4}(?![0-9A-Za-z])")


_SSN_ANY = re.compile(r"(?<![0-9A-Za-z])\d{3}([- ])\d{2}\1\d{4}(?![0-9A-Za-z])")


_PHONE_CANDIDATE = re.compile(r"^\+?[\d\s().-]{7,22}$")


_POSTCODE_UK = re.compile(r"(?i)(?<![A-Z0-9])(GIR ?0AA|[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})(?![A-Z0-9])")


_POSTCODE_OTHER = re.compile(r"(?i)\b(singapore|s\()\s*\d{6}\)?|(?<![\d-])\d{5}-\d{4}(?![\d-])")


_MONTHS = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"


# glued to letters or digits on either side (a hex group such as "04-feb177b3" in a UUID) it is no date
_DATE = re.compile(
    r"(?i)(?<![\dA-Za-z])(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    rf"|\d{{1,2}}(st|nd|rd|th)?[ -]{_MONTHS}[ ,.-]*\d{{2,4}}|{_MONTHS} \d{{1,2}},? \d{{4}})(?![\dA-Za-z])"
)


_STREET_WORDS = (
    "street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|crescent|cres|court|ct|place|pl|"
    "terrace|boulevard|blvd|square|sq|grove|gardens|gdns|row|walk|mews|parade|highway|hwy|jalan"
)


_ADDRESS = re.compile(
    rf"(?i)(^|[\s,])\d{{1,5}}[a-z]?,?\s+([a-z'.-]+\s+){{0,4}}({_STREET_WORDS})\b\.?"
    r"|\b(blk|block)\s*\d+|\bflat\s+\d+|\bapt\.?\s*\d+|\bp\.?o\.? box\s*\d+"
)


_TITLE_NAME = re.compile(r"(?i)^(mr|mrs|ms|miss|mx|dr|prof|sir|dame)\.?\s+[a-z][a-z'-]+")


_CAP_WORD = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"


_PLAIN_NAME = re.compile(rf"^{_CAP_WORD},?(\s+[A-Z]\.?)?(\s+{_CAP_WORD}){{1,2}}$")


# A word of a name: letters in any script (José, Siobhan, Nguyễn), with apostrophes, hyphens or a full stop
# inside or after it (O'Neill, McDonald, Smith-Jones, J.).
_NAME_WORD = r"[^\W\d_]+(?:['\u2019.-][^\W\d_]*)*"
# Two to five such words, in any case, "Surname, Given" included: MORGAN, Alex; alex morgan; van der Berg;
# Siti binti Ahmad. In a code column (ids, clinic, therapist) a value of several words is never a code.
_ANY_CASE_NAME = re.compile(rf"^{_NAME_WORD}(?:\s*,\s*|\s+)(?:{_NAME_WORD}\s+){{0,3}}{_NAME_WORD}$")
# Chinese, Japanese or Korean names: two to four characters of those scripts, nothing else.
_CJK_NAME = re.compile(r"^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\s]{2,6}$")


_NOT_A_NAME = re.compile(
    r"(?i)\b(clinic|hospital|centre|center|practice|physio\w*|health|medical|spine|spinal|"
    r"site|branch|north|south|east|west|central|main|city|county|therapy|therapist|team|"
    r"unit|service|services|group|street|road|campus|pilates|mckenzie|traction|education|"
    r"needling|exercise|exercises|mobilisation|mobilization|manual|neural|motor|control|advice|massage|"
    r"acupuncture|rehab|rehabilitation|sports?|clinical|dry|electrotherapy|tens|class|classes|hub|"
    r"wing|ward|annex|annexe|floor|office|outpatients?|disc|slipped|stenosis|prolapse|herniation|pain|back|"
    r"leg|nerve|sciatica|syndrome|injury|fracture|surgery|spondylolisthesis|piriformis|trauma|cause|"
    r"unknown|other|not|recorded|stated|yes|no|left|right|both|female|male)\b"
)


# One cheap pass picks candidates; only those get the checks above.
_CANDIDATE = (
    r"@|://|www\.|(^|[^A-Za-z0-9])\+?\(?\d[\s().+-]*\d[\s().+-]*\d[\s().+-]*\d[\s().+-]*\d[\s().+-]*\d[\s().+-]*\d"
    r"|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-fA-F]{0,4}:[0-9a-fA-F]{0,4}:"
    r"|[STFGMstfgm]\d{7}[A-Za-z]|[A-Za-z]{1,2}\d[A-Za-z0-9]? ?\d[A-Za-z]{2}"
    r"|\d{1,4}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}(st|nd|rd|th)?[ -]?[A-Za-z]{3}|[A-Za-z]{3}[a-z]*\.? \d"
    r"|\d+[a-zA-Z]?,? +[A-Za-z]|[Bb][Ll][Kk]|[Ff]lat |[Aa]pt|[Bb]ox"
    r"|^[A-Z][a-z]+,? +[A-Z]|^(?i:mr|mrs|ms|miss|mx|dr|prof|sir|dame)\.? "
    r"|^\pL[\pL'\x{2019}.-]*(\s*,\s*|\s+)\pL|^[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]{2}"
    r"|[Ss]ingapore"
)


_PHONE_REGIONS = ("GB", "SG", "US", "IE", "AU", "NZ", "IN", "CA", "MY", "HK")


#: Well-formed codes, matched whole (RE2, vectorised): never an identifier of a person. UUIDs,
#: hexadecimal pseudonyms, letter-prefixed record codes (MRN1234567, P100714, H003-0000000,
#: NTH-T12) and short codes. Pure digit runs match the hexadecimal branch but are routed to the
#: digit checks (NHS modulus 11, national phone numbers) before this pattern is consulted.
SAFE_CODE = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    r"|^[0-9a-fA-F]{8,64}$"
    r"|^[A-Za-z]{1,8}[-_]?[0-9]{1,15}$"
    r"|^[A-Za-z]{1,4}[0-9]{1,6}[-_/][0-9]{1,12}$"
    r"|^[A-Za-z]{1,10}[-_][A-Za-z]{0,3}[0-9]{1,10}$"
    r"|^[A-Za-z0-9]{1,4}$"
)


_DIGITS = r"^[0-9]+$"


_NATIONAL_PHONE_DIGITS = r"^0[1-9][0-9]{8,9}$"


def _is_phone(value: str) -> bool:
    v = value.strip()
    if not _PHONE_CANDIDATE.match(v):
        return False
    digits = re.sub(r"\D", "", v)
    if len(digits) < 7 or len(digits) > 15:
        return False
    separated = bool(re.search(r"[\s().-]", v))
    if not (v.startswith("+") or v.startswith("0") or v.startswith("(") or separated):
        return False
    for region in _PHONE_REGIONS:
        try:
            num = phonenumbers.parse(v, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return True
        # "+<country code> ..." is a phone number in any cell, even in a range not (yet) issued
        # (the UK's 07700 900xxx numbers for drama, for example)
        if v.startswith("+") and phonenumbers.is_possible_number(num):
            return True
    return False


def _is_ipv6(value: str) -> bool:
    for m in _IPV6_TOKEN.finditer(value):
        token = m.group(0)
        if token.count(":") >= 2:
            try:
                ipaddress.IPv6Address(token)
                return True
            except ValueError:
                continue
    return False


def _plausible_date(text: str) -> bool:
    nums = [int(n) for n in re.findall(r"\d+", text)]
    if len(nums) < 3:  # a month name carries the month
        return len(nums) == 2 and 1 <= min(nums) <= 31
    if nums[0] > 31:  # year first
        year, a, b = nums[0], nums[1], nums[2]
    else:
        a, b, year = nums[0], nums[1], nums[2]
    if not (year < 100 or 1880 <= year <= 2100):
        return False
    return (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)


def classify_value(value: str, *, names: bool = True, dates: bool = True) -> str | None:
    """Return the identifier kind *value* looks like, or ``None``.

    Parameters
    ----------
    value : str
        One cell's text.
    names : bool, keyword-only
        Whether to look for a person's name (code columns only).
    dates : bool, keyword-only
        Whether a calendar date counts (not in ``start_date``).

    Returns
    -------
    str or None
        A key of :data:`IDENTIFIER_KINDS`.

    Examples
    --------
    >>> from analysis.records import classify_value
    >>> classify_value("jo@example.org"), classify_value("T07")
    ('email', None)
    """
    v = str(value).strip()
    if not v:
        return None
    if _EMAIL.search(v):
        return "email"
    if _URL.search(v):
        return "url"
    if _IPV4.search(v) or _is_ipv6(v):
        return "ip"
    if _NRIC_ANY.search(v):
        return "nric"
    for m in _SSN_ANY.finditer(v):
        if looks_like_ssn(m.group(0)):
            return "ssn"
    if _SSN_RE.match(v):
        return None  # SSN-shaped but in a never-issued range: a code, not a phone
    for m in _NHS_ANY.finditer(v):
        if is_valid_nhs_number(m.group(0)):
            return "nhs_number"
    is_date = any(_plausible_date(m.group(0)) for m in _DATE.finditer(v))
    if is_date:
        return "date" if dates else None
    if _is_phone(v):
        return "phone"
    if _POSTCODE_UK.search(v) or _POSTCODE_OTHER.search(v):
        return "postcode"
    if _ADDRESS.search(v):
        return "address"
    if names and (_TITLE_NAME.search(v) or ((_PLAIN_NAME.match(v) or _ANY_CASE_NAME.match(v)
                                               or _CJK_NAME.match(v)) and not _NOT_A_NAME.search(v))):
        return "name"
    return None


_IPV4 = re.compile(r"(?<![\d.])((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])")


_IPV6_TOKEN = re.compile(r"(?i)(?<![0-9a-z:])[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}(?![0-9a-z:])")


def nhs_checksum_valid(digits: np.ndarray) -> np.ndarray:
    """Vectorised NHS modulus-11 check for an (n, 10) array of digits.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.records import nhs_checksum_valid
    >>> nhs_checksum_valid(np.array([[9, 4, 3, 4, 7, 6, 5, 8, 7, 0], [9, 4, 3, 4, 7, 6, 5, 8, 7, 1]])).tolist()
    [True, False]
    """
    d = np.asarray(digits, dtype="int64")
    total = d[:, :9] @ np.arange(10, 1, -1)
    check = 11 - total % 11
    check = np.where(check == 11, 0, check)
    same = (d == d[:, :1]).all(axis=1)
    return (check != 10) & (check == d[:, 9]) & ~same


