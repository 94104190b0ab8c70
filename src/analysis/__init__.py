"""physio-outcomes: outcome analysis of sciatica physiotherapy records.

The package is layered in folders (spec section 13), each importing only
the ones before it:

- ``records``: the records contract, reading, validation, identifiers,
  de-identification, import from practice systems, sample data;
- ``stats``: the domain-free statistics kernel;
- ``methods``: clinical methods, results as numbers with a status and reason;
- ``disclosure``: the one place deciding what may be shown;
- ``present``: tables, figures, text and HTML from disclosed results;
- ``app``: the report, the explorer, the command line and JupyterLab.

The names below are the most used ones; each folder's ``__init__`` lists its
own public names.

Names are imported on first use (PEP 562), so ``physio-outcomes validate``
does not pay for loading scipy and statsmodels.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    # records contract and loading
    "DataProblemError": "records",
    "Problem": "records",
    "Records": "records",
    "load_records": "records",
    "validate_folder": "records",
    # outcomes
    "OutcomeSettings": "methods",
    "derive_outcomes": "methods",
    "filter_records": "methods",
    "prepare": "methods",
    # statistics
    "at_risk_table": "stats",
    "cox_model": "stats",
    "holm": "stats",
    "kaplan_meier": "stats",
    "linear_model": "stats",
    "logistic_model": "stats",
    "logrank_test": "stats",
    "mean_ci": "stats",
    "newcombe_difference": "stats",
    "survival_at": "stats",
    "wilson_interval": "stats",
    # clustered models, sensitivity, missing ratings
    "clustered_cox_model": "stats",
    "clustered_logistic_model": "stats",
    "random_intercept_model": "stats",
    "e_value": "stats",
    "recovery_missing_adjusted": "methods",
    "recovery_tipping_point": "methods",
    # comparisons, tables, summary
    "adjusted_comparisons": "methods",
    "choose_reference": "methods",
    "outcome_table": "methods",
    "baseline_table": "methods",
    "format_baseline_table": "present",
    "format_summary": "present",
    "summarise": "methods",
    # privacy
    "classify_value": "records",
    "find_identifiers": "records",
    "is_valid_nhs_number": "records",
    "is_valid_nric": "records",
    "looks_like_ssn": "records",
    # sample data
    "make_sample": "records",
    "write_sample": "records",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
