"""Statistics kernel: intervals, survival, regression, clustered and growth-curve models, sensitivity.

Domain-free (no clinical column names). Rule: imports nothing else from ``analysis``.
"""

from __future__ import annotations

from ._clustered import cluster_codes, clustered_cox_model, clustered_logistic_model, effective_df, random_intercept_model
from ._cox import cox_model
from ._federated import cox_parts, federated_newton, grid_survival, linear_from_moments, logistic_parts, logrank_combine, logrank_parts, merge_intervals, span_columns
from ._growth import GrowthModel, growth_curve_model, natural_spline_basis
from ._keys import first_rows, unique_keys
from ._intervals import holm, mean_ci, newcombe_difference, wilson_interval, z_value
from ._propensity import aipw_means, kish_ess, multinomial_logit, truncate_weights, weighted_smd
from ._regression import ModelResult, dummy_levels, independent_columns, linear_model, logistic_counts, logistic_model, one_hot
from ._sensitivity import COMMON_OUTCOME, e_value, to_risk_ratio
from ._survival import at_risk_table, kaplan_meier, logrank_test, survival_at

__all__ = ['COMMON_OUTCOME', 'cox_parts', 'federated_newton', 'grid_survival', 'linear_from_moments', 'logistic_parts', 'logrank_combine', 'logrank_parts', 'merge_intervals', 'span_columns', 'GrowthModel', 'ModelResult', 'aipw_means', 'at_risk_table', 'cluster_codes', 'clustered_cox_model', 'clustered_logistic_model', 'cox_model', 'dummy_levels', 'e_value', 'effective_df', 'first_rows', 'unique_keys', 'growth_curve_model', 'holm', 'independent_columns', 'kaplan_meier', 'kish_ess', 'linear_model', 'logistic_counts', 'logistic_model', 'logrank_test', 'mean_ci', 'multinomial_logit', 'natural_spline_basis', 'newcombe_difference', 'one_hot', 'random_intercept_model', 'survival_at', 'to_risk_ratio', 'truncate_weights', 'weighted_smd', 'wilson_interval', 'z_value']
