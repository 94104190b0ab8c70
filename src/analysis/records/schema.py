"""The records contract: which tables and columns a data folder holds, and their rules.

This module is the single source of truth for the input contract of
``../shared/spec/PRODUCT.md`` section 2. The loader (:mod:`analysis.records`), the
pandera schemas, the baseline table (which summarises each column by its
declared type, never a guessed one) and the data dictionary in
``docs/data-dictionary.md`` are all built from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandera.pandas

__all__ = [
    "AGE_BANDS",
    "CAUSES",
    "CODE_LABELS",
    "ColumnSpec",
    "DISCHARGE_REASONS",
    "EPISODES",
    "MODALITIES",
    "SEXES",
    "SIDES",
    "TABLES",
    "code_label",
    "VISITS",
    "data_dictionary_markdown",
    "pandera_schema",
]

Kind = Literal["text", "integer", "number", "boolean", "date", "codes"]

AGE_BANDS = ("18-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+")
SEXES = ("female", "male", "other", "unknown")
SIDES = ("left", "right", "bilateral")
CAUSES = (
    "disc_herniation",
    "foraminal_stenosis",
    "central_stenosis",
    "spondylolisthesis",
    "piriformis",
    "trauma",
    "other",
    "unknown",
)
DISCHARGE_REASONS = ("goals_met", "plateau", "referred", "self_discharged", "ongoing")

#: What people read for each coded value (the codes stay in files, JSON and filters).
CODE_LABELS: dict[str, dict[str, str]] = {
    "cause": {"disc_herniation": "Disc herniation", "foraminal_stenosis": "Foraminal stenosis",
              "central_stenosis": "Central canal stenosis", "spondylolisthesis": "Spondylolisthesis",
              "piriformis": "Piriformis syndrome", "trauma": "Trauma", "other": "Other cause",
              "unknown": "Cause not recorded"},
    "sex": {"female": "Female", "male": "Male", "other": "Other", "unknown": "Not stated"},
    "side": {"left": "Left", "right": "Right", "bilateral": "Both legs"},
    "discharge_reason": {"goals_met": "Goals met", "plateau": "Plateaued", "referred": "Referred on",
                         "self_discharged": "Stopped coming", "ongoing": "Still in treatment"},
}


def code_label(column: str, code) -> str:
    """The clinical label of a coded value, or the value itself when it has none.

    Examples
    --------
    >>> from analysis.records.schema import code_label
    >>> code_label("cause", "disc_herniation"), code_label("age_band", "60-69"), code_label("surgical_candidate", True)
    ('Disc herniation', '60-69', 'yes')
    """
    if isinstance(code, bool):
        return "yes" if code else "no"
    return CODE_LABELS.get(column, {}).get(code, str(code))


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the records contract.

    Attributes
    ----------
    name : str
        Column name as it must appear in the file header.
    kind : {"text", "integer", "number", "boolean", "date", "codes"}
        Declared type. ``codes`` is a ``;``-separated list of modality codes.
    required : str
        ``"yes"`` (column must be present and every cell filled), ``"no"``
        (column optional, cells may be empty) or ``"if surgery"`` (column
        optional, but a cell is required on rows where ``surgery`` is yes).
    allowed : tuple of str, optional
        The only values accepted (text columns).
    minimum, maximum : float, optional
        Inclusive bounds (numeric columns).
    unique : bool
        Whether values must be unique within the table.
    description : str
        What the column means, in words a clinician understands.
    """

    name: str
    kind: Kind
    required: str
    description: str
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    unique: bool = False

    @property
    def must_be_present(self) -> bool:
        """Whether a file without this column is refused."""
        return self.required == "yes"

    @property
    def nullable(self) -> bool:
        """Whether an empty cell is acceptable by the column rule alone."""
        return self.required != "yes"

    def rule_text(self) -> str:
        """The column's rule in plain words, for the data dictionary."""
        parts = []
        if self.allowed:
            parts.append("one of " + ", ".join(f"`{a}`" for a in self.allowed))
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{_fmt(self.minimum)} to {_fmt(self.maximum)}")
        elif self.minimum is not None:
            parts.append(f"at least {_fmt(self.minimum)}")
        if self.unique:
            parts.append("unique")
        return "; ".join(parts)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


EPISODES: tuple[ColumnSpec, ...] = (
    ColumnSpec("episode_id", "text", "yes", "Pseudonymous episode code.", unique=True),
    ColumnSpec(
        "patient_id",
        "text",
        "yes",
        "Pseudonymous patient code; one patient may have several episodes.",
    ),
    ColumnSpec("clinic", "text", "yes", "Site code of the clinic."),
    ColumnSpec("therapist", "text", "no", "Pseudonymous code of the treating therapist."),
    ColumnSpec(
        "start_date",
        "date",
        "yes",
        "Date of the first visit, `YYYY-MM-DD`; the only calendar date in the records.",
    ),
    ColumnSpec("age_band", "text", "yes", "Age band at start.", allowed=AGE_BANDS),
    ColumnSpec("sex", "text", "yes", "Sex as recorded.", allowed=SEXES),
    ColumnSpec("side", "text", "yes", "Side of the leg symptoms.", allowed=SIDES),
    ColumnSpec("cause", "text", "yes", "Presumed cause of the sciatica.", allowed=CAUSES),
    ColumnSpec(
        "symptom_weeks",
        "integer",
        "yes",
        "Duration of leg symptoms at intake, in weeks.",
        minimum=0,
    ),
    ColumnSpec(
        "surgical_candidate",
        "boolean",
        "yes",
        "A specialist had recommended or offered spinal surgery at intake.",
    ),
    ColumnSpec(
        "modality",
        "text",
        "yes",
        "Primary treatment modality (a code from `modalities.csv` when it is present).",
    ),
    ColumnSpec(
        "discharge_day",
        "integer",
        "no",
        "Days from start_date to discharge; empty while the episode is ongoing.",
        minimum=0,
    ),
    ColumnSpec(
        "discharge_reason",
        "text",
        "no",
        "Why the episode ended.",
        allowed=DISCHARGE_REASONS,
    ),
    ColumnSpec(
        "global_change",
        "integer",
        "no",
        "Patient's global perceived change at discharge: 7 completely recovered, "
        "6 much improved, 5 slightly improved, 4 no change, 3 slightly worse, "
        "2 much worse, 1 worse than ever.",
        minimum=1,
        maximum=7,
    ),
    ColumnSpec(
        "surgery",
        "boolean",
        "yes",
        "Had spinal surgery for this condition during follow-up.",
    ),
    ColumnSpec(
        "surgery_day",
        "integer",
        "if surgery",
        "Days from start_date to surgery.",
        minimum=0,
    ),
    ColumnSpec(
        "followup_day",
        "integer",
        "yes",
        "Last day on which surgery status is known; not before discharge_day, "
        "and not before surgery_day when there was surgery.",
        minimum=0,
    ),
)

VISITS: tuple[ColumnSpec, ...] = (
    ColumnSpec("episode_id", "text", "yes", "Episode the visit belongs to; must exist in episodes."),
    ColumnSpec(
        "visit_no", "integer", "yes", "Visit number, unique within the episode.", minimum=1
    ),
    ColumnSpec(
        "day",
        "integer",
        "yes",
        "Days from start_date; visit 1 is day 0; never goes down as visit_no goes up; "
        "not after discharge_day.",
        minimum=0,
    ),
    ColumnSpec("leg_pain", "integer", "no", "Leg pain, numeric rating scale.", minimum=0, maximum=10),
    ColumnSpec("back_pain", "integer", "no", "Back pain, numeric rating scale.", minimum=0, maximum=10),
    ColumnSpec("odi", "number", "no", "Oswestry Disability Index.", minimum=0, maximum=100),
    ColumnSpec(
        "modalities",
        "codes",
        "no",
        "`;`-separated modality codes delivered in this session.",
    ),
)

MODALITIES: tuple[ColumnSpec, ...] = (
    ColumnSpec("code", "text", "yes", "Modality code used in episodes and visits.", unique=True),
    ColumnSpec("label", "text", "yes", "Name shown in tables, figures and reports."),
    ColumnSpec("description", "text", "no", "Optional longer description."),
)

#: Table name -> column specs. ``modalities`` is the optional catalogue.
TABLES: dict[str, tuple[ColumnSpec, ...]] = {
    "episodes": EPISODES,
    "visits": VISITS,
    "modalities": MODALITIES,
}


def _allowed_or_empty(allowed: tuple[str, ...]):
    values = list(allowed)
    return lambda s: s.isin(values) | s.isna()


def _at_least_or_empty(bound: float):
    return lambda s: (s >= bound).fillna(True) | s.isna()


def _at_most_or_empty(bound: float):
    return lambda s: (s <= bound).fillna(True) | s.isna()


def pandera_schema(table: str) -> pandera.pandas.DataFrameSchema:
    """Build the pandera schema for the column rules of one table.

    The schema checks the *typed* frame produced by :func:`analysis.records` after
    type coercion: required cells filled, allowed values, bounds and
    uniqueness. Cross-table rules (visits pointing at real episodes, day
    order, surgery/follow-up consistency) live in :mod:`analysis.records`.

    Parameters
    ----------
    table : {"episodes", "visits", "modalities"}

    Returns
    -------
    pandera.pandas.DataFrameSchema

    Examples
    --------
    >>> from analysis.records.schema import pandera_schema
    >>> sorted(pandera_schema("modalities").columns)
    ['code', 'description', 'label']
    """
    import pandera.pandas as pa  # here, not at import: the program starts reading the files a fifth of a second sooner

    columns = {}
    for spec in TABLES[table]:
        checks = []
        # Each check passes empty cells itself (ignore_na=False): pandera would otherwise copy
        # every column without its empty cells before each check, which at a million rows
        # cost more than the checks (the not-nullable rule still catches required empties).
        if spec.allowed:
            checks.append(pa.Check(_allowed_or_empty(spec.allowed), ignore_na=False, name="allowed",
                                   error=f"isin({list(spec.allowed)})"))
        if spec.minimum is not None:
            checks.append(pa.Check(_at_least_or_empty(spec.minimum), ignore_na=False, name="minimum",
                                   error=f"greater_than_or_equal_to({spec.minimum})"))
        if spec.maximum is not None:
            checks.append(pa.Check(_at_most_or_empty(spec.maximum), ignore_na=False, name="maximum",
                                   error=f"less_than_or_equal_to({spec.maximum})"))
        columns[spec.name] = pa.Column(
            checks=checks,
            nullable=spec.nullable,
            required=spec.must_be_present,
            unique=spec.unique,
            coerce=False,
        )
    return pa.DataFrameSchema(columns, strict=False, name=table)


def data_dictionary_markdown() -> str:
    """Render the contract as the Markdown data dictionary in ``docs/``.

    A test keeps ``docs/data-dictionary.md`` identical to this output, so the
    document cannot drift from the code.

    Examples
    --------
    >>> from analysis.records.schema import data_dictionary_markdown
    >>> data_dictionary_markdown().splitlines()[0]
    '# Data dictionary'
    """
    kinds = {
        "text": "text",
        "integer": "whole number",
        "number": "number",
        "boolean": "yes/no",
        "date": "date `YYYY-MM-DD`",
        "codes": "`;`-separated codes",
    }
    out = [
        "# Data dictionary",
        "",
        "<!-- Generated from src/analysis/records/schema.py by "
        "analysis.records.schema.data_dictionary_markdown(); a test keeps them identical. -->",
        "",
        "A *data folder* holds an `episodes` table and a `visits` table, each as "
        "`.csv`, `.parquet` or `.xlsx` (for example `episodes.csv` and `visits.csv`), "
        "and optionally a `modalities.csv` catalogue.",
        "",
        "- CSV files are UTF-8, with or without a byte-order mark. A Windows-1252 "
        "file (the usual 'CSV' save of a spreadsheet on Windows) is read and "
        "converted; any other encoding is refused with a message naming the file.",
        "- An empty cell means *missing*. Yes/no columns accept `true/false`, "
        "`yes/no`, `y/n` and `1/0` in any mix of upper and lower case.",
        "- Rows are counted as in a spreadsheet: the header is row 1 and the first "
        "record is row 2. Every problem found is reported at once, naming file, "
        "row, column and what is wrong.",
        "- Columns not listed here are refused, because that is how identifiers "
        "leak in. Names, dates of birth, e-mail addresses, phone numbers, street "
        "addresses, postcodes, national ID numbers (Singapore NRIC/FIN, UK NHS "
        "number, US SSN), web addresses and IP addresses are refused wherever they "
        "appear (each part of a `;` list too); the message never repeats the value.",
        "- A text cell may not start with `=`, `+`, `-`, `@` or a tab (a spreadsheet "
        "would run it as a formula), hold a control character, or be longer than 500 "
        "characters (a modality `label`: 100).",
        "",
    ]
    titles = {
        "episodes": "## episodes: one row per episode of care",
        "visits": "## visits: one row per attended treatment session",
        "modalities": "## modalities.csv: the optional modality catalogue",
    }
    for table, specs in TABLES.items():
        out += [titles[table], "", "| column | type | required | rule | meaning |", "|---|---|---|---|---|"]
        for s in specs:
            out.append(
                f"| `{s.name}` | {kinds[s.kind]} | {s.required} | {s.rule_text()} | {s.description} |"
            )
        out.append("")
    out += [
        "## Rules across columns and tables",
        "",
        "- `episode_id` is unique in episodes; every visit's `episode_id` exists in episodes.",
        "- `visit_no` is unique within an episode; visit 1 is on day 0; `day` never "
        "goes down as `visit_no` goes up; no visit is after `discharge_day`.",
        "- When `surgery` is yes, `surgery_day` is filled; when it is no, `surgery_day` is empty.",
        "- `followup_day` is not before `discharge_day`, nor before `surgery_day`.",
        "- An episode with `discharge_reason` `ongoing` has no `discharge_day`.",
        "- When `modalities.csv` is present, every `modality` and every code in a "
        "visit's `modalities` is one of its codes; reports then show labels.",
        "",
    ]
    return "\n".join(out)
