"""The identifier corpus (tests/data/identifier-corpus.csv): every identifier shape caught in the column kinds
where it was found, no realistic clinical code or label refused (issue 21, 2 and 4).

Each value is put in a one-row data folder column and read as a data folder would be: the guard that runs is the
one the loader runs (names looked for in code columns: ids, clinic, therapist; each part of a ``;`` list).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.records import find_identifiers

CORPUS = Path(__file__).parent / "data" / "identifier-corpus.csv"
NAME_COLUMNS = {"episode_id", "patient_id", "therapist", "clinic"}
LIST_COLUMNS = {"modalities"}


def _found(column: str, value: str) -> str | None:
    frame = pd.DataFrame({column: pd.Series([value], dtype="str")})
    hits = find_identifiers(frame, name_columns=NAME_COLUMNS & {column}, list_columns=LIST_COLUMNS & {column},
                            date_columns={"start_date"})
    return hits[0].kind if hits else None


def test_every_identifier_shape_is_caught_and_no_clinical_code_is_refused():
    corpus = pd.read_csv(CORPUS, dtype="str", keep_default_na=False)
    corpus["found"] = [_found(c, v) for c, v in zip(corpus["column"], corpus["value"])]
    ids = corpus[corpus["expect"] == "identifier"]
    missed = ids[ids["found"].isna()]
    refused = corpus[(corpus["expect"] == "none") & corpus["found"].notna()]
    print(f"identifier corpus: caught {len(ids) - len(missed)} of {len(ids)}; "
          f"refused {len(refused)} of {int((corpus['expect'] == 'none').sum())} clinical codes and labels")
    assert missed.empty, missed[["kind", "column"]].to_string()  # values not printed: they are identifiers
    assert refused.empty, refused[["column", "value", "found"]].to_string()
