"""Secondary (complementary) suppression: no hidden count can be worked back from a table.

Primary suppression hides small counts (1-7). But a table also shows totals,
and a hidden cell that is the only hidden one in its row (or column, or
block) beside an exact total is simply the total minus the shown cells. This
module hides further cells until no hidden cell is determined by what the
table shows (spec section 9):

1. **Greedy pass** (the usual simple approach, as in tau-ARGUS' "hypercube"
   spirit): while an additive relation (a row, a column block, a margin) has
   exactly one hidden cell, hide the smallest other non-zero shown cell of
   that relation. Totals are hidden only when no other cell can be.
2. **Audit**: for every hidden cell, the smallest and largest values that
   are consistent with everything shown are found by linear programming
   (scipy's HiGHS): what an attacker knows is each shown cell (exactly, or
   within +-2 when rounded to 5 under the public rule), that a cell shown as
   1-7 lies in 1-7, that a complementary-suppressed cell is at least 8, and
   every additive relation of the table. A hidden cell whose range is a
   single value gets another complementary suppression in one of its
   relations, and the audit runs again.

Tables are described by their cells (a flat array of true counts) and their
relations (lists of cell indices with +1/-1 coefficients summing to zero).
:func:`grid_relations` builds them for the usual table with a total column
and/or a total row.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CellState", "grid_relations", "protect", "value_ranges"]


class CellState:
    """What a reader sees of a cell."""

    SHOWN = 0        #: the count is shown (exactly, or rounded under the public rule)
    PRIMARY = 1      #: hidden because it is 1-7 (the reader knows it is 1-7)
    SECONDARY = 2    #: hidden so that a small count cannot be worked out (the reader knows it is 8 or more)
    UNSHOWN = 3      #: not in the table at all (e.g. the "no" row of a yes/no item): any count >= 0


_BIG = 1e9


def grid_relations(n_rows: int, n_cols: int, *, total_col: bool = True, total_row: bool = True,
                   offset: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Additive relations of a grid laid out row-major, totals last.

    The grid has ``n_rows`` (+1 if ``total_row``) rows and ``n_cols`` (+1 if
    ``total_col``) columns; cell (i, j) is index ``offset + i * width + j``.

    Examples
    --------
    >>> from analysis.disclosure import grid_relations
    >>> rel = grid_relations(2, 2)   # a 2 x 2 table with row and column totals: 3 x 3 cells
    >>> [r[0].tolist() for r in rel]
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8]]
    """
    width = n_cols + int(total_col)
    height = n_rows + int(total_row)
    idx = offset + np.arange(height * width).reshape(height, width)
    rel = []
    if total_col:
        for i in range(height):
            rel.append((idx[i], np.r_[np.ones(n_cols), -1.0]))
    if total_row:
        for j in range(width):
            rel.append((idx[:, j], np.r_[np.ones(n_rows), -1.0]))
    return rel


def _bounds(values: np.ndarray, state: np.ndarray, rounding: int) -> list[tuple[float, float]]:
    out = []
    half = rounding // 2 if rounding > 1 else 0
    for v, s in zip(values, state):
        if s == CellState.SHOWN:
            if v == 0 or half == 0:
                out.append((float(v), float(v)))
            else:
                r = rounding * np.floor(v / rounding + 0.5)
                out.append((max(0.0, r - half), r + half))
        elif s == CellState.PRIMARY:
            out.append((1.0, 7.0))
        elif s == CellState.SECONDARY:
            out.append((8.0, _BIG))
        else:
            out.append((0.0, _BIG))
    return out


def value_ranges(values, state, relations, *, rounding: int = 1, cells=None) -> dict[int, tuple[float, float]]:
    """Smallest and largest value of each hidden cell consistent with what is shown.

    Parameters
    ----------
    values : array-like of int
        True counts of every cell.
    state : array-like of int
        :class:`CellState` of every cell.
    relations : list of (indices, coefficients)
        Additive relations (sum of coefficient x cell = 0).
    rounding : int, keyword-only
        Shown counts are rounded to this (5 under the public rule); 1 = exact.
    cells : iterable of int, optional, keyword-only
        Which cells to range (default every PRIMARY or SECONDARY cell).

    Examples
    --------
    >>> from analysis.disclosure import CellState, grid_relations, value_ranges
    >>> # 1 x 2 row with a total: 3 (hidden) + 20 = 23: the hidden 3 is determined
    >>> value_ranges([3, 20, 23], [CellState.PRIMARY, 0, 0], grid_relations(1, 2, total_row=False))
    {0: (3.0, 3.0)}
    """
    from scipy.optimize import linprog

    v = np.asarray(values, dtype="float64")
    st = np.asarray(state)
    n = len(v)
    bounds = _bounds(v, st, rounding)
    A = np.zeros((len(relations), n))
    for r, (idx, coef) in enumerate(relations):
        A[r, np.asarray(idx)] = coef
    b = np.zeros(len(relations))
    cells = [int(i) for i in (cells if cells is not None else np.flatnonzero((st == CellState.PRIMARY) |
                                                                          (st == CellState.SECONDARY)))]
    out = {}
    for i in cells:
        c = np.zeros(n)
        c[i] = 1.0
        lo = linprog(c, A_eq=A, b_eq=b, bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=A, b_eq=b, bounds=bounds, method="highs")
        if lo.status != 0 or hi.status != 0:  # infeasible only through rounding slack: treat as protected
            out[i] = (bounds[i][0], bounds[i][1])
            continue
        out[i] = (float(lo.fun), float(-hi.fun))
    return out


def protect(values, primary, relations, *, rounding: int = 1, unshown=None, max_rounds: int = 200) -> np.ndarray:
    """Cell states after complementary suppression.

    Parameters
    ----------
    values : array-like of int
        True counts of every cell (cells and totals).
    primary : array-like of bool
        Cells hidden by the count rule (1-7).
    relations : list of (indices, coefficients)
        Additive relations of the table (see :func:`grid_relations`).
    rounding : int, keyword-only
        5 under the public rule (shown counts rounded to 5), else 1.
    unshown : array-like of bool, optional, keyword-only
        Cells that are part of a relation but never shown (e.g. "no" of a yes/no item).

    Returns
    -------
    numpy.ndarray
        :class:`CellState` per cell: no PRIMARY or SECONDARY cell is determined
        by the shown cells and relations.

    Examples
    --------
    >>> import numpy as np
    >>> from analysis.disclosure import grid_relations, protect
    >>> # counts 3, 20, 40 with their total 63: hiding the 3 alone would be undone by subtraction
    >>> protect([3, 20, 40, 63], [True, False, False, False], grid_relations(1, 3, total_row=False)).tolist()
    [1, 2, 0, 0]
    """
    v = np.asarray(values, dtype="int64")
    state = np.where(np.asarray(primary, dtype=bool), CellState.PRIMARY, CellState.SHOWN).astype("int64")
    if unshown is not None:
        state[np.asarray(unshown, dtype=bool)] = CellState.UNSHOWN
    totals = set()
    for idx, coef in relations:
        totals.update(int(i) for i, c in zip(idx, coef) if c < 0)

    def complement(idx) -> bool:
        """Hide the smallest non-zero shown cell of a relation (totals last); False if none is left."""
        cand = [int(i) for i in idx if state[i] == CellState.SHOWN and v[i] > 0]
        if not cand:
            return False
        cand.sort(key=lambda i: (i in totals, v[i], i))
        state[cand[0]] = CellState.SECONDARY
        return True

    if not (state == CellState.PRIMARY).any():
        return state
    for _ in range(max_rounds):
        # 1. greedy: no relation may have exactly one hidden cell
        changed = True
        while changed:
            changed = False
            for idx, _ in relations:
                hid = [i for i in idx if state[i] != CellState.SHOWN]
                # a lone hidden count beside exact cells is a subtraction away (a lone unshown cell is no secret)
                if len(hid) == 1 and state[hid[0]] != CellState.UNSHOWN and complement(idx):
                    changed = True
        # 2. audit by linear programming
        ranges = value_ranges(v, state, relations, rounding=rounding)
        exposed = [i for i, (lo, hi) in ranges.items() if hi - lo < 0.5]
        if not exposed:
            return state
        i = exposed[0]
        rels = [idx for idx, _ in relations if i in set(int(j) for j in idx)]
        if not any(complement(idx) for idx in sorted(rels, key=len)):
            # nothing left to hide beside it in any relation: hide any shown non-zero cell of the table
            rest = [int(j) for j in np.flatnonzero((state == CellState.SHOWN) & (v > 0))]
            if not rest:
                return state
            state[min(rest, key=lambda j: (j in totals, v[j]))] = CellState.SECONDARY
    return state
