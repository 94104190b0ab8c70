"""physio-outcomes: outcome analysis of sciatica physiotherapy records.

The public surface is listed in ``__all__``; modules are layered
``schema`` -> ``io`` / ``privacy`` -> ``outcomes`` -> ``stats`` -> ``tables`` ->
``cli``, and ``synth`` makes sample data. Lower layers never import higher ones.
"""

from .io import DataProblemError, Problem, Records, load_records, validate_folder
from .privacy import classify_value, find_identifiers, is_valid_nhs_number, is_valid_nric, looks_like_ssn
from .synth import make_sample, write_sample

__version__ = "0.1.0"

__all__ = [
    # records contract and loading
    "DataProblemError",
    "Problem",
    "Records",
    "load_records",
    "validate_folder",
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
