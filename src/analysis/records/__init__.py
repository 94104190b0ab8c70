"""The records: contract (schema), reading, validation, identifiers, de-identification, import, sample data.

Rule: imports nothing else from ``analysis``.
"""

from __future__ import annotations

from ._anonymise import AnonymiseResult, KeyFileError, TOKEN_HEX, anonymise, anonymise_tables, dropped_kinds, new_key, pseudonym, read_key, shift_days
from ._quasi import QUASI_IDENTIFIERS, age_band_at, k_anonymity
from ._identifier_values import SAFE_CODE, classify_value, is_valid_nhs_number, is_valid_nric, looks_like_ssn, nhs_checksum_valid
from ._identifiers import IDENTIFIER_KINDS, IdentifierFinding, find_identifiers, identifier_column_kind
from ._load import Records, load_records, validate_folder
from ._import import ImportResult, import_export
from ._mapping import Mapping, MappingError, Source, read_mapping
from ._packaged import packaged_folder, sample_folder
from ._practice_export import PRAXIS_LABELS, make_practice_export, make_praxis_export, write_praxis_export
from ._problems import DataProblemError, MAX_ROWS_PER_PROBLEM, Problem
from ._output import MARKER, OutputFolderError, check_output_folder
from ._sample import MODALITY_CATALOGUE, SampleParameters, make_sample, write_sample
from . import schema

__all__ = ['AnonymiseResult', 'DataProblemError', 'IDENTIFIER_KINDS', 'IdentifierFinding', 'ImportResult', 'KeyFileError', 'MARKER', 'MAX_ROWS_PER_PROBLEM', 'MODALITY_CATALOGUE', 'Mapping', 'MappingError', 'OutputFolderError', 'PRAXIS_LABELS', 'Problem', 'QUASI_IDENTIFIERS', 'Records', 'SAFE_CODE', 'SampleParameters', 'Source', 'TOKEN_HEX', 'age_band_at', 'anonymise', 'anonymise_tables', 'check_output_folder', 'classify_value', 'dropped_kinds', 'find_identifiers', 'identifier_column_kind', 'import_export', 'is_valid_nhs_number', 'is_valid_nric', 'k_anonymity', 'load_records', 'looks_like_ssn', 'make_practice_export', 'make_praxis_export', 'make_sample', 'new_key', 'nhs_checksum_valid', 'packaged_folder', 'pseudonym', 'read_key', 'read_mapping', 'sample_folder', 'schema', 'shift_days', 'validate_folder', 'write_praxis_export', 'write_sample']
