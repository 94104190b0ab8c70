"""Disclosure rules (spec section 9), with NHS Digital codonPython's own test vectors."""

from __future__ import annotations

import pytest

from analysis.disclosure import disclosure_rule, hes_round


# codonPython tests/suppression_test.py (NHSDigital/codonPython, commit 7e8d35d), via
# ../shared/reference/disclosure-and-identifiers.md section 3.1
@pytest.mark.parametrize("value,expected", [(0, "0"), (2, "*"), (5, "*"), (8, "10"), (16, "15"), (57, "55"),
                                            (10023, "10025")])
def test_hes_round_codonpython_vectors(value, expected):
    assert hes_round(value) == expected


@pytest.mark.parametrize("bad", [-1, 4.2])
def test_hes_round_rejects_like_codonpython(bad):
    with pytest.raises(ValueError):
        hes_round(bad)


def test_internal_rule():
    r = disclosure_rule("internal")
    assert [r.count(n) for n in (0, 1, 7, 8, 1500)] == ["0", "1-7", "1-7", "8", "1,500"]
    assert not r.allows(7) and r.allows(8)
    assert r.percent(3, 7) == "-" and r.percent(4, 8) == "50%"
    assert "1-7" in r.statement and "fewer than 8" in r.statement


def test_public_rule_percentages_from_rounded_figures():
    """R8 examples: 30/200 -> 15 %; 12/47 -> 10/45 -> 22 %; numerator or denominator 1-7 suppressed."""
    r = disclosure_rule("public")
    assert r.percent(30, 200) == "15%"
    assert r.percent(12, 47) == "22%"
    assert r.percent(5, 200) == "*" and r.percent(3, 6) == "*"
    assert [r.count(n) for n in (0, 3, 8, 57)] == ["0", "*", "10", "55"]
    assert "nearest 5" in r.statement


def test_none_rule():
    r = disclosure_rule("none")
    assert r.count(3) == "3" and r.allows(1) and r.percent(1, 3) == "33%"


def test_unknown_rule():
    with pytest.raises(ValueError, match="disclosure must be one of internal, public, none"):
        disclosure_rule("secret")
