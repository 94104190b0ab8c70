"""The records: contract (schema), reading, validation, identifiers, de-identification, import, sample data.

Rule: imports nothing else from ``analysis``.
"""

from __future__ import annotations

from ._anonymise import AnonymiseResult, KeyFileError, QUASI_IDENTIFIERS, TOKEN_HEX, age_band_at, anonymise, anonymise_tables, dropped_kinds, k_anonymity, new_key, pseudonym, read_key, shift_days
from ._identifiers import IdentifierFinding, SAFE_CODE, classify_value, find_identifiers, identifier_column_kind, is_valid_nhs_number, is_valid_nric, looks_like_ssn, nhs_checksum_valid
from ._load import Records, load_records, validate_folder
from ._mapping import ImportResult, Mapping, MappingError, import_export, read_mapping
from ._packaged import packaged_folder, sample_folder
from ._problems import DataProblemError, MAX_ROWS_PER_PROBLEM, Problem
from ._sample import SampleParameters, make_practice_export, make_sample, write_sample
from . import schema

__all__ = ['AnonymiseResult', 'DataProblemError', 'IdentifierFinding', 'ImportResult', 'KeyFileError', 'MAX_ROWS_PER_PROBLEM', 'Mapping', 'MappingError', 'Problem', 'QUASI_IDENTIFIERS', 'Records', 'SAFE_CODE', 'SampleParameters', 'TOKEN_HEX', 'age_band_at', 'anonymise', 'anonymise_tables', 'classify_value', 'dropped_kinds', 'find_identifiers', 'identifier_column_kind', 'import_export', 'is_valid_nhs_number', 'is_valid_nric', 'k_anonymity', 'load_records', 'looks_like_ssn', 'make_practice_export', 'make_sample', 'new_key', 'nhs_checksum_valid', 'packaged_folder', 'pseudonym', 'read_key', 'read_mapping', 'sample_folder', 'schema', 'shift_days', 'validate_folder', 'write_sample']
