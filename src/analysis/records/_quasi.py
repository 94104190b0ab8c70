"""Quasi-identifiers: age bands from dates of birth (never a guessed date format), and k-anonymity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import schema

__all__ = ["QUASI_IDENTIFIERS", "age_band_at", "k_anonymity", "parse_dates_of_birth"]

#: The columns a re-identification would combine: k-anonymity is measured over them.
QUASI_IDENTIFIERS = ("age_band", "sex", "clinic", "cause", "start_month")

_NUMERIC_DATE = r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T].*)?$"


def parse_dates_of_birth(values: pd.Series) -> pd.Series:
    """Dates of birth, each value read on its own: ``YYYY-MM-DD`` (a time after it allowed), or day, month
    and year separated by ``/``, ``.`` or ``-``; never a format guessed from the first value.

    Day and month are told apart over the whole column: a value like 23/04/1961 shows day first, 04/23/1961
    month first. With no such value the column is read day first (as in the UK, Singapore and Europe); a
    column holding both orders cannot be read, and every value written with the day or month first becomes
    unreadable (``NaT``), so that no age is computed from a guess.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.records._quasi import parse_dates_of_birth
    >>> parse_dates_of_birth(pd.Series(["1961-04-23", "23/04/1961", "03.04.1961"])).dt.strftime("%Y-%m-%d").tolist()
    ['1961-04-23', '1961-04-23', '1961-04-03']
    >>> parse_dates_of_birth(pd.Series(["04/23/1961", "05/06/1970"])).dt.strftime("%Y-%m-%d").tolist()
    ['1961-04-23', '1970-05-06']
    """
    text = values.astype("str").where(values.notna()).str.strip()
    iso = pd.to_datetime(text.str.slice(0, 10), errors="coerce", format="%Y-%m-%d")
    parts = text.str.extract(_NUMERIC_DATE)
    a, b, y = (pd.to_numeric(parts[i], errors="coerce") for i in range(3))
    day_first_seen = bool((a > 12).any())
    month_first_seen = bool((b > 12).any())
    if day_first_seen and month_first_seen:  # both orders in one column: none of them can be trusted
        other = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    else:
        day, month = (b, a) if month_first_seen else (a, b)
        other = pd.to_datetime(pd.DataFrame({"year": y, "month": month, "day": day}), errors="coerce")
    return iso.where(iso.notna(), other)


def age_band_at(date_of_birth, start_date) -> pd.Series:
    """Age band at the start date from dates of birth (completed years; 90 and over = ``90+``).

    Under-18s and impossible ages get ``<NA>`` (the records contract starts at 18).

    Examples
    --------
    >>> from analysis.records import age_band_at
    >>> age_band_at(["1935-06-01", "1935-06-02", "2004-02-29", "2004-02-29"],
    ...             ["2025-06-01", "2025-06-01", "2022-02-28", "2022-03-01"]).tolist()
    ['90+', '80-89', nan, '18-29']
    """
    dob = parse_dates_of_birth(pd.Series(date_of_birth))
    start = pd.to_datetime(pd.Series(start_date), errors="coerce", format="%Y-%m-%d")
    years = start.dt.year - dob.dt.year
    before_birthday = (start.dt.month < dob.dt.month) | ((start.dt.month == dob.dt.month) & (start.dt.day < dob.dt.day))
    age = (years - before_birthday.astype("Int64")).astype("float64")
    idx = np.clip((age.fillna(-1).to_numpy() - 20) // 10, 0, 7).astype(int)
    bands = np.asarray(schema.AGE_BANDS, dtype=object)[idx]
    ok = (age >= 18) & (age < 130)
    return pd.Series(np.where(ok.to_numpy(dtype=bool, na_value=False), bands, None), dtype="str")


def k_anonymity(episodes: pd.DataFrame) -> dict:
    """k-anonymity over age band, sex, clinic, cause and start month.

    Returns
    -------
    dict
        ``k`` (smallest group), ``groups``, ``episodes_below_5`` (episodes in
        groups smaller than 5) and ``warning`` (plain words, or None).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.records import k_anonymity
    >>> df = pd.DataFrame({"age_band": ["40-49"] * 3, "sex": ["male"] * 3, "clinic": ["A"] * 3,
    ...                    "cause": ["trauma"] * 3, "start_date": ["2025-01-03", "2025-01-20", "2025-01-31"]})
    >>> k_anonymity(df)["k"]
    3
    """
    d = episodes.assign(start_month=pd.to_datetime(episodes["start_date"]).dt.strftime("%Y-%m"))
    sizes = d.groupby(list(QUASI_IDENTIFIERS), dropna=False).size()
    k = int(sizes.min()) if len(sizes) else 0
    below = int(sizes[sizes < 5].sum())
    warning = None
    if k < 5:
        warning = (f"Some combinations of age band, sex, clinic, cause and start month are shared by fewer than "
                   f"5 episodes (the smallest by {k}); {below:,} episodes are in such small groups. Someone who "
                   f"knows a patient's age, sex, clinic, condition and month of treatment could pick them out. "
                   f"Share this folder only within the clinical team, or coarsen it (e.g. --dates month, fewer "
                   f"causes) before sharing more widely.")
    return {"k": k, "groups": int(len(sizes)), "episodes_below_5": below, "warning": warning}
