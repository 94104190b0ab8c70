"""Clinical methods: outcomes, crude and adjusted comparisons, missing ratings, benchmarking, baseline table.

Results are numbers (tables and typed result objects with a status and a reason code), never formatted
text. Rule: may import ``records`` and ``stats``.
"""

from __future__ import annotations

from ._baseline import baseline_table, largest_differences
from ._benchmark import BENCHMARK_CASE_MIX, MIN_EPISODES, WINSOR, benchmark_document, benchmark_units, funnel_limits_adjusted, robust_tau2
from ._compare import ADJUSTMENT_SET, CLUSTER_CHOICES, FEW_CLUSTERS, MIN_CLINICS, MIN_CLUSTERS, MIN_EVENTS_PER_PARAMETER, adjusted_comparisons, choose_reference, default_cluster, few_clinics_message, model_methods
from ._confounding import DR_OUTCOMES, ESS_SHARE, OVERLAP_BINS, TRUNCATION, confounding_diagnostics
from ._crude import outcome_table
from ._fixed_day import FIXED_DAY_COVARIATES, MIN_REACH, REACH_DAYS, SPLINE_QUANTILES, leg_pain_at_days
from ._describe import COMPLETENESS_ITEMS, completeness_table, data_overview, exclusions_table, funnel_data, funnel_limits, pain_trajectories, survival_curves
from ._missing import MAX_MODEL_ROWS, RatingImputations, impute_ratings, recovery_missing_adjusted, recovery_tipping_point
from ._missing_compare import MAX_TIPPING_SHIFT, recovery_comparisons_imputed
from ._network import GRID_DAYS, NETWORK_FORMAT, SURVIVAL_METHOD, network_summary, clinic_aggregates, combine_releases, fit_network_models, model_design, model_parts, network_methods
from ._outcomes import OutcomeSettings, SYMPTOM_BANDS, WHERE_COLUMNS, derive_outcomes, filter_records, prepare, selection_mask, subset_records, symptom_band
from ._registry import COMPARED_OUTCOMES, ComparedOutcome, compared_outcome
from ._status import Reason, Status
from ._secondary import SECONDARY_COUNTS, SECONDARY_MEANS, SECONDARY_RATES, secondary_outcome_table
from ._summary import ASSOCIATION_NOTE, COVARIATE_LABELS, summarise, surgery_logrank

__all__ = ['GRID_DAYS', 'NETWORK_FORMAT', 'SURVIVAL_METHOD', 'network_summary', 'clinic_aggregates', 'combine_releases', 'fit_network_models', 'model_design', 'model_parts', 'network_methods', 'ADJUSTMENT_SET', 'ASSOCIATION_NOTE', 'BENCHMARK_CASE_MIX', 'CLUSTER_CHOICES', 'COMPARED_OUTCOMES', 'COMPLETENESS_ITEMS', 'COVARIATE_LABELS', 'DR_OUTCOMES', 'ESS_SHARE', 'ComparedOutcome', 'FEW_CLUSTERS', 'FIXED_DAY_COVARIATES', 'MIN_REACH', 'REACH_DAYS', 'SPLINE_QUANTILES', 'MAX_MODEL_ROWS', 'MAX_TIPPING_SHIFT', 'MIN_CLINICS', 'MIN_CLUSTERS', 'MIN_EPISODES', 'MIN_EVENTS_PER_PARAMETER', 'OVERLAP_BINS', 'OutcomeSettings', 'RatingImputations', 'Reason', 'SECONDARY_COUNTS', 'SECONDARY_MEANS', 'SECONDARY_RATES', 'SYMPTOM_BANDS', 'Status', 'TRUNCATION', 'WHERE_COLUMNS', 'WINSOR', 'adjusted_comparisons', 'baseline_table', 'benchmark_document', 'benchmark_units', 'choose_reference', 'compared_outcome', 'completeness_table', 'confounding_diagnostics', 'data_overview', 'default_cluster', 'derive_outcomes', 'exclusions_table', 'few_clinics_message', 'filter_records', 'impute_ratings', 'funnel_data', 'funnel_limits', 'funnel_limits_adjusted', 'largest_differences', 'leg_pain_at_days', 'model_methods', 'outcome_table', 'pain_trajectories', 'prepare', 'recovery_comparisons_imputed', 'recovery_missing_adjusted', 'recovery_tipping_point', 'robust_tau2', 'secondary_outcome_table', 'selection_mask', 'summarise', 'surgery_logrank', 'subset_records', 'survival_curves', 'symptom_band']
