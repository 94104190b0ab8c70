"""Distinct values of long key arrays, by hashing instead of sorting."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["first_rows", "unique_keys"]


def first_rows(codes) -> np.ndarray:
    """Row of each code's first appearance, for codes numbered in order of appearance (0, 1, 2, ...: what
    ``pandas.factorize`` gives): one pass where ``np.unique(codes, return_index=True)`` sorts.

    Examples
    --------
    >>> first_rows(np.array([0, 1, 0, 2, 1])).tolist()
    [0, 1, 3]
    """
    c = np.asarray(codes)
    if len(c) == 0:
        return np.zeros(0, dtype="int64")
    seen = np.maximum.accumulate(c)
    new = np.empty(len(c), dtype=bool)
    new[0] = True
    np.greater(c[1:], seen[:-1], out=new[1:])
    first = np.flatnonzero(new)
    if not np.array_equal(c[first], np.arange(len(first))) or int(seen[-1]) != len(first) - 1:
        raise ValueError("codes must be numbered 0, 1, 2, ... in order of first appearance")
    return first


def unique_keys(keys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(keys, return_index=True, return_inverse=True)`` of a 1-D array, by hashing.

    The same three arrays (sorted distinct values, each one's first row, each row's position among
    them) for a fraction of the time on a million rows with many distinct values: numpy sorts all the
    rows (stably, for the first rows), this sorts only the distinct values.

    Examples
    --------
    >>> values, first, inverse = unique_keys(np.array([7, 3, 7, 5]))
    >>> values.tolist(), first.tolist(), inverse.tolist()
    ([3, 5, 7], [1, 3, 0], [2, 0, 2, 1])
    """
    k = np.asarray(keys)
    if k.ndim != 1:
        raise ValueError("keys must be one-dimensional")
    if len(k) == 0:
        return k.copy(), np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    codes, values = pd.factorize(k, sort=False, use_na_sentinel=False)
    codes = codes.astype("int64", copy=False)
    first = first_rows(codes)
    values = np.asarray(values, dtype=k.dtype)
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(len(order))
    return values[order], first[order], rank[codes]
