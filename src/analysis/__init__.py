"""physio-outcomes: outcome analysis of sciatica physiotherapy records.

The public surface is listed in ``__all__``; modules are layered
``schema`` -> ``privacy`` -> ``io`` -> ``outcomes`` -> ``stats`` -> ``clustered``,
``sensitivity`` -> ``compare`` -> ``missing`` ->
``tables`` -> ``summary`` -> ``cli``, and ``synth`` makes sample data. Lower
layers never import higher ones.

Names are imported on first use (PEP 562), so ``physio-outcomes validate``
does not pay for loading scipy and statsmodels.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    # records contract and loading
    "DataProblemError": "io",
    "Problem": "io",
    "Records": "io",
    "load_records": "io",
    "validate_folder": "io",
    # outcomes
    "OutcomeSettings": "outcomes",
    "derive_outcomes": "outcomes",
    "filter_records": "outcomes",
    "prepare": "outcomes",
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
    "clustered_cox_model": "clustered",
    "clustered_logistic_model": "clustered",
    "random_intercept_model": "clustered",
    "e_value": "sensitivity",
    "recovery_missing_adjusted": "missing",
    "recovery_tipping_point": "missing",
    # comparisons, tables, summary
    "adjusted_comparisons": "compare",
    "choose_reference": "compare",
    "outcome_table": "compare",
    "baseline_table": "tables",
    "format_baseline_table": "tables",
    "format_summary": "summary",
    "summarise": "summary",
    # privacy
    "classify_value": "privacy",
    "find_identifiers": "privacy",
    "is_valid_nhs_number": "privacy",
    "is_valid_nric": "privacy",
    "looks_like_ssn": "privacy",
    # sample data
    "make_sample": "synth",
    "write_sample": "synth",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'analysis' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
