"""Secondary suppression: no hidden count can be worked back from the shown cells and totals.

The property tests check each protected table with an *integer* program (scipy ``milp``), a
different solver mode from the linear-programming audit inside :func:`analysis.disclosure.protect`:
for every hidden cell, is there another whole-number table, consistent with everything shown,
in which that cell has a different value?
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from analysis.disclosure import CellState, grid_relations, protect

COUNTS = st.sampled_from([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 23, 40, 101])


def _grid(cells: np.ndarray) -> np.ndarray:
    R, C = cells.shape
    full = np.zeros((R + 1, C + 1), dtype=int)
    full[:R, :C] = cells
    full[:R, C] = cells.sum(1)
    full[R, :C] = cells.sum(0)
    full[R, C] = cells.sum()
    return full


def _attacker_bounds(v, state, rounding):
    lo, hi = np.zeros(len(v)), np.zeros(len(v))
    for i, (x, s) in enumerate(zip(v, state)):
        if s == CellState.SHOWN:
            if rounding == 1 or x == 0:
                lo[i] = hi[i] = x
            else:
                r = 5 * np.floor(x / 5 + 0.5)
                lo[i], hi[i] = max(0, r - 2), r + 2
        elif s == CellState.PRIMARY:
            lo[i], hi[i] = 1, 7
        elif s == CellState.SECONDARY:
            lo[i], hi[i] = 8, 10_000
        else:
            lo[i], hi[i] = 0, 10_000
    return lo, hi


def determined_cells(v, state, relations, rounding=1) -> list[int]:
    """Hidden cells whose value is the same in every whole-number table consistent with what is shown."""
    n = len(v)
    A = np.zeros((len(relations), n))
    for r, (idx, coef) in enumerate(relations):
        A[r, idx] = coef
    lo, hi = _attacker_bounds(v, state, rounding)
    cons = LinearConstraint(A, 0, 0)
    out = []
    for i in np.flatnonzero((state == CellState.PRIMARY) | (state == CellState.SECONDARY)):
        c = np.zeros(n)
        c[i] = 1
        a = milp(c, constraints=cons, bounds=Bounds(lo, hi), integrality=np.ones(n))
        b = milp(-c, constraints=cons, bounds=Bounds(lo, hi), integrality=np.ones(n))
        assert a.status == 0 and b.status == 0  # the true table is always a solution
        if round(a.fun) == round(-b.fun):
            out.append(int(i))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 4), st.integers(2, 5), st.data(), st.sampled_from([1, 5]))
def test_no_hidden_cell_is_determined(rows, cols, data, rounding):
    """Random small tables with row and column totals, exact (internal) or rounded to 5 (public)."""
    cells = np.array(data.draw(st.lists(COUNTS, min_size=rows * cols, max_size=rows * cols))).reshape(rows, cols)
    v = _grid(cells).ravel()
    rel = grid_relations(rows, cols)
    state = protect(v, (v >= 1) & (v <= 7), rel, rounding=rounding)
    assert ((state != CellState.SHOWN) | ~((v >= 1) & (v <= 7))).all()  # every small count is hidden
    assert determined_cells(v, state, rel, rounding) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 8), st.data())
def test_one_dimensional_margin(n, data):
    """A column of groups with an exact Overall (the outcome and completeness tables)."""
    cells = np.array(data.draw(st.lists(COUNTS, min_size=n, max_size=n)))
    v = np.r_[cells, cells.sum()]
    rel = grid_relations(n, 1, total_col=False)
    state = protect(v, (v >= 1) & (v <= 7), rel)
    assert determined_cells(v, state, rel) == []


def test_the_issue_example_is_protected():
    """Dry needling, age 80-89 = 214 minus the other bands: a lone hidden cell beside an exact total."""
    bands = np.array([[30, 40], [50, 60], [133, 70], [1, 9]])  # rows: age bands; columns: two modalities
    v = _grid(bands).ravel()
    rel = grid_relations(4, 2)
    naive = np.where((v >= 1) & (v <= 7), CellState.PRIMARY, CellState.SHOWN)
    assert determined_cells(v, naive, rel) != []  # primary suppression alone leaks
    state = protect(v, (v >= 1) & (v <= 7), rel)
    assert determined_cells(v, state, rel) == []
    assert (state == CellState.SECONDARY).sum() >= 2
    assert state.reshape(5, 3)[4, 2] == CellState.SHOWN  # the grand total stays exact


def test_unshown_cells_count_as_unknown():
    """A yes/no item shows only 'yes': its 'no' row is unknown, so a missing count beside it is safe
    in the column, but not along its row."""
    # rows: yes, no (unshown), missing; columns: a, b, total
    g = _grid(np.array([[20, 30], [40, 50], [3, 10]]))
    v = g.ravel()
    unshown = np.zeros(v.shape, bool)
    unshown[3:6] = True
    rel = grid_relations(3, 2)
    state = protect(v, (v >= 1) & (v <= 7) & ~unshown, rel, unshown=unshown)
    assert determined_cells(v, state, rel) == []
    assert state[7] == CellState.SECONDARY  # the other missing count in that row


@pytest.mark.parametrize("rounding", [1, 5])
def test_nothing_small_nothing_hidden(rounding):
    v = _grid(np.array([[10, 20], [30, 40]])).ravel()
    assert (protect(v, np.zeros(len(v), bool), grid_relations(2, 2), rounding=rounding) == CellState.SHOWN).all()
