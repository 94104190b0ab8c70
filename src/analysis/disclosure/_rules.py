"""Disclosure control for what people see (spec section 9).

Three rules:

- ``internal`` (default, for the clinic meeting): counts 1-7 are shown as
  ``1-7``; any rate, mean or percentage over fewer than 8 episodes is not shown.
- ``public`` (NHS England HES/ECDS rule, as coded in NHS Digital's codonPython
  ``suppression.py``): 0 stays 0, 1-7 are suppressed (``*``), other counts are
  rounded to the nearest 5; percentages are computed from the rounded
  numerator and denominator and are suppressed when either is 1-7 (our
  conservative reading); means over fewer than 8 episodes are suppressed.
  Confidence intervals and model estimates are exempt, as in the HES guidance
  ("complex calculations such as ... confidence intervals and regression
  models").
- ``none``: exact figures (for the analyst's own screen only).

Every report states the rule applied (:attr:`DisclosureRule.statement`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DISCLOSURE_RULES", "DisclosureRule", "disclosure_rule", "hes_round"]

DISCLOSURE_RULES = ("internal", "public", "none")


def hes_round(value) -> str:
    """The HES count rule: 0 -> "0", 1-7 -> "*", otherwise the nearest multiple of 5.

    Raises ValueError for negative or non-whole values (as codonPython does).

    Examples
    --------
    >>> from analysis.disclosure import hes_round
    >>> [hes_round(v) for v in (0, 2, 5, 8, 16, 57, 10023)]
    ['0', '*', '*', '10', '15', '55', '10025']
    """
    if isinstance(value, bool) or not float(value).is_integer() or value < 0:
        raise ValueError("HES rounding applies to whole, non-negative counts")
    v = int(value)
    if v == 0:
        return "0"
    if v <= 7:
        return "*"
    return str(5 * int(math.floor(v / 5 + 0.5)))  # half up (never a tie for whole numbers)


def _round5(v: int) -> int:
    return 5 * int(math.floor(v / 5 + 0.5))


@dataclass(frozen=True)
class DisclosureRule:
    """How counts, rates and means are shown under one rule.

    Attributes
    ----------
    name : {"internal", "public", "none"}
    min_n : int
        Smallest number of episodes a rate, mean or percentage may rest on.
    """

    name: str
    min_n: int = 8

    def count(self, n) -> str:
        """A count as shown.

        Examples
        --------
        >>> from analysis.disclosure import disclosure_rule
        >>> [disclosure_rule(r).count(5) for r in ("internal", "public", "none")]
        ['1-7', '*', '5']
        """
        if n is None or (isinstance(n, float) and math.isnan(n)):
            return ""
        n = int(n)
        if self.name == "none":
            return f"{n:,}"
        if self.name == "internal":
            return "1-7" if 1 <= n <= 7 else f"{n:,}"
        return f"{int(hes_round(n)):,}" if hes_round(n) != "*" else "*"

    @property
    def rounding(self) -> int:
        """What shown counts are rounded to: 5 under the public rule, else 1 (exact)."""
        return 5 if self.name == "public" else 1

    def small(self, n) -> bool:
        """Whether a count is hidden by the count rule itself (1-7; never under ``none``).

        Examples
        --------
        >>> from analysis.disclosure import disclosure_rule
        >>> disclosure_rule("internal").small(3), disclosure_rule("none").small(3), disclosure_rule("public").small(0)
        (True, False, False)
        """
        if self.name == "none" or n is None or (isinstance(n, float) and math.isnan(n)):
            return False
        return 1 <= int(n) <= 7

    def allows_events(self, events) -> bool:
        """Whether a rate resting on *events* may be shown: under ``public`` not on 1-7 events."""
        return not (self.name == "public" and events is not None and 1 <= int(events) <= 7)

    def count_in(self, n, state: int) -> str:
        """A count as shown, given its suppression state (:class:`analysis.disclosure.CellState`).

        Examples
        --------
        >>> from analysis.disclosure import disclosure_rule
        >>> r = disclosure_rule("internal")
        >>> r.count_in(3, 1), r.count_in(40, 2), r.count_in(40, 0)
        ('1-7', '-', '40')
        """
        if state == 2:
            return self.hidden
        return self.count(n)

    @property
    def hidden(self) -> str:
        """What stands in place of a figure that may not be shown: ``*`` (public) or ``-``."""
        return "*" if self.name == "public" else "-"

    def allows(self, n) -> bool:
        """Whether a rate, mean or percentage over *n* episodes may be shown."""
        if self.name == "none":
            return True
        return n is not None and int(n) >= self.min_n

    def percent(self, events, n, *, decimals: int = 0) -> str:
        """A percentage events/n as shown (public: from rounded figures).

        Examples
        --------
        >>> from analysis.disclosure import disclosure_rule
        >>> pub = disclosure_rule("public")
        >>> pub.percent(30, 200), pub.percent(12, 47), pub.percent(3, 200)
        ('15%', '22%', '*')
        """
        if not n:
            return ""
        if self.name == "public":
            if 1 <= events <= 7 or 1 <= n <= 7:
                return "*"
            e, d = _round5(int(events)), _round5(int(n))
            return f"{100 * e / d:.{decimals}f}%" if d else "*"
        if not self.allows(n):
            return "-"
        return f"{100 * events / n:.{decimals}f}%"

    def count_percent(self, n, denominator, *, decimals: int = 1) -> str:
        """``n (p%)`` as shown. When the count itself is hidden (1-7) its percentage is
        hidden too, since the percentage would give the count away.

        Examples
        --------
        >>> from analysis.disclosure import disclosure_rule
        >>> r = disclosure_rule("internal")
        >>> r.count_percent(2, 105), r.count_percent(20, 105), r.count_percent(20, 5)
        ('1-7', '20 (19.0%)', '20')
        """
        shown = self.count(n)
        if not denominator or self.small(n):
            return shown
        pct = self.percent(n, denominator, decimals=decimals)
        return f"{shown} ({pct})" if pct not in ("", "-", "*") else shown

    @property
    def marks(self) -> str:
        """One line saying what the marks in a table mean under this rule.

        Examples
        --------
        >>> from analysis.disclosure import disclosure_rule
        >>> disclosure_rule("internal").marks.startswith("1-7: a count from 1 to 7")
        True
        """
        if self.name == "internal":
            return (f"1-7: a count from 1 to 7, not given exactly. -: not shown, because it would rest on fewer "
                    f"than {self.min_n} episodes or let a small count be worked out.")
        if self.name == "public":
            return (f"*: suppressed (a count from 1 to 7, a figure resting on fewer than {self.min_n} episodes or "
                    "on 1 to 7 events, or one that would let a suppressed count be worked out). Other counts are "
                    "rounded to the nearest 5.")
        return "Exact counts, no disclosure control: not for sharing outside the clinical team."

    @property
    def statement(self) -> str:
        """The rule in plain words, for the report."""
        if self.name == "internal":
            return ("Disclosure control (internal): counts from 1 to 7 are shown as '1-7' (without the "
                    "percentage that would reveal them), and no rate, mean, percentage or model estimate is shown "
                    "when it rests on fewer than 8 episodes ('-'). So that a hidden count cannot be worked out by "
                    "subtracting the shown counts from a total, some counts of 8 or more are hidden too ('-'). "
                    "Survival curves stop where fewer than 8 patients remain at risk.")
        if self.name == "public":
            return ("Disclosure control (public, NHS England HES rule): counts of 1 to 7 are suppressed ('*'), "
                    "0 is shown as 0 and other counts, numbers at risk included, are rounded to the nearest 5; "
                    "percentages are calculated from the rounded figures and suppressed when either is 1 to 7; no "
                    "rate resting on 1 to 7 events (recoveries, surgeries) and no mean or model estimate resting on "
                    "fewer than 8 episodes is shown. So that a suppressed count cannot be worked out from the "
                    "totals, some larger counts are suppressed too ('*'). Survival curves stop where fewer than 8 "
                    "patients remain at risk. Confidence intervals and model estimates are not rounded.")
        return ("No disclosure control: exact counts are shown. Do not share this report outside the clinical "
                "team.")


def disclosure_rule(name: str = "internal") -> DisclosureRule:
    """The rule called *name* (``internal``, ``public`` or ``none``).

    Examples
    --------
    >>> from analysis.disclosure import disclosure_rule
    >>> disclosure_rule("public").count(57)
    '55'
    """
    if name not in DISCLOSURE_RULES:
        raise ValueError(f"disclosure must be one of {', '.join(DISCLOSURE_RULES)}, not '{name}'")
    return DisclosureRule(name)
