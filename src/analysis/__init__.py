"""physio-outcomes: outcome analysis of sciatica physiotherapy records.

The public surface is listed in ``__all__``; modules are layered
``schema`` -> ``privacy`` -> ``io`` -> ``outcomes`` -> ``stats`` -> ``compare`` ->
``tables`` -> ``summary`` -> ``cli``, and ``synth`` makes sample data. Lower layers never import higher ones.
"""

from .compare import adjusted_comparisons, choose_reference, outcome_table
from .io import DataProblemError, Problem, Records, load_records, validate_folder
from .outcomes import OutcomeSettings, derive_outcomes, filter_records
from .privacy import classify_value, find_identifiers, is_valid_nhs_number, is_valid_nric, looks_like_ssn
from .stats import (
    at_risk_table,
    cox_model,
    holm,
    kaplan_meier,
    linear_model,
    logistic_model,
    logrank_test,
    mean_ci,
    newcombe_difference,
    survival_at,
    wilson_interval,
)
from .summary import format_summary, summarise
from .synth import make_sample, write_sample
from .tables import baseline_table, format_baseline_table

__version__ = "0.1.0"

__all__ = [
    # records contract and loading
    "DataProblemError",
    "Problem",
    "Records",
    "load_records",
    "validate_folder",
    # outcomes
    "OutcomeSettings",
    "derive_outcomes",
    "filter_records",
    # statistics
    "at_risk_table",
    "cox_model",
    "holm",
    "kaplan_meier",
    "linear_model",
    "logistic_model",
    "logrank_test",
    "mean_ci",
    "newcombe_difference",
    "survival_at",
    "wilson_interval",
    # comparisons and tables
    "adjusted_comparisons",
    "baseline_table",
    "choose_reference",
    "format_baseline_table",
    "format_summary",
    "outcome_table",
    "summarise",
    # privacy
    "classify_value",
    "find_identifiers",
    "is_valid_nhs_number",
    "is_valid_nric",
    "looks_like_ssn",
    # sample data
    "make_sample",
    "write_sample",
]
