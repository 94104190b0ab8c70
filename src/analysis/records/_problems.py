"""Problems found in a data folder, and how they are collected and worded.

Every problem names the file, the spreadsheet row (header = row 1), the column
and what is wrong in plain words; at most :data:`MAX_ROWS_PER_PROBLEM` rows are
listed for one kind of problem and the rest are counted. A value is repeated in a
message only when it cannot identify anyone (:func:`_show`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ._identifiers import classify_value, identifier_column_kind

__all__ = ["DataProblemError", "MAX_ROWS_PER_PROBLEM", "Problem"]

#: At most this many rows are listed for one (file, column, problem); the rest are counted.
MAX_ROWS_PER_PROBLEM = 20


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

    def __post_init__(self):
        # a header can be a value (an export saved without its header row): never print one that may identify
        if self.column is not None:
            object.__setattr__(self, "column", safe_header(self.column))

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

    def extend(self, other: _Log) -> None:
        """Append another log's problems and counts after this one's (logs of different files)."""
        self.problems.extend(other.problems)
        for k, n in other._counts.items():
            self._counts[k] += n

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


#: Words of column headers: a header holding one names what is in the column, it is not a person's name.
_HEADER_WORDS = re.compile(
    r"(?i)\b(date|time|id|code|number|no|nr|type|status|name|reason|day|days|visit|visits|case|cases|patient|"
    r"score|rating|first|last|start|end|discharge|appointment|treatment|treatments|therapist|modality|clinic|"
    r"site|sex|gender|age|birth|dob|phone|mobile|email|address|notes?|comments?|odi|nrs|vas|global|change|"
    r"outcome|referral|diagnosis|side|symptoms?|weeks|duration|candidate|follow|up|surgery|pain|leg|back|"
    r"session|sessions|episode|record|ref|reference|postcode|zip)\b")

#: What stands in a message for a header that looks like a value.
HIDDEN_HEADER = "(a header that looks like a value, not shown)"


def safe_header(name) -> str:
    """A column header as a message may show it: as written, unless it looks like an identifier value.

    Examples
    --------
    >>> from analysis.records._problems import safe_header
    >>> safe_header("Appointment date"), safe_header("Patient name"), safe_header("jo@example.org")
    ('Appointment date', 'Patient name', '(a header that looks like a value, not shown)')
    >>> safe_header("MORGAN, Alex"), safe_header("07700 900123")
    ('(a header that looks like a value, not shown)', '(a header that looks like a value, not shown)')
    """
    text = str(name)
    core = text.strip()
    if core == HIDDEN_HEADER or not core:
        return text
    if identifier_column_kind(core) or (_HEADER_WORDS.search(core) and classify_value(core, names=False) is None):
        return text
    if (len(core) > 60 or re.search(r"[\x00-\x1f\x7f-\x9f]", core) or sum(ch.isdigit() for ch in core) >= 7
            or classify_value(core, names=True) is not None):
        return HIDDEN_HEADER
    return text


def _show(value) -> str:
    """A value as it may appear in a message: never an identifier, never long."""
    text = str(value).strip()
    if isinstance(value, float) and float(value).is_integer():
        text = str(int(value))
    digits = sum(ch.isdigit() for ch in text)
    number = re.fullmatch(r"-?\d+(\.\d+)?", text) is not None
    # never a name in any case or script ("MORGAN, Alex", "alex morgan", "José García"), a phone, a date...;
    # a control character or a formula is not shown either
    if (len(text) > 24 or digits >= 7 or re.search(r"[\x00-\x1f\x7f-\x9f]", text) or (text and text[0] in "=+@")
            or classify_value(text, names=True) is not None):
        return "the value (not shown, it may identify someone)"
    return text if number else f"'{text}'"
