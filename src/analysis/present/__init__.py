"""Presentation: tables, figures, text and HTML as pure functions of disclosed results.

Never estimates and never re-decides disclosure. Rule: may import ``disclosure`` and lower layers.
"""

from __future__ import annotations

from ._alt import alt_adjusted_funnel, alt_forest, alt_funnel, alt_survival, alt_trajectories
from ._html import explorer_style_html, evalue_html, figure_html, header_html, headline_html, logrank_html, methods_html, missing_estimate_text, note_html, table_html, tipping_point_html
from ._network import format_withheld_table, network_header_html, network_methods_html
from ._numbers import forest_numbers, survival_numbers, trajectory_numbers
from ._plots import PALETTE, modality_colors, plot_adjusted_funnel, plot_completeness, plot_forest, plot_funnel, plot_survival, plot_trajectories
from ._rates import alt_rates, plot_rates, rates_numbers
from ._confounding import alt_love, alt_overlap, confounding_sentence, format_doubly_robust_table, love_numbers, overlap_numbers, plot_love, plot_overlap, term_label
from ._quality_tables import format_benchmark_table, format_completeness_table, format_exclusions
from ._fixed_day import alt_fixed_day, fixed_day_numbers, fixed_day_sentence, format_fixed_day_table, plot_fixed_day
from ._secondary import SECONDARY_HEADS, alt_secondary, format_secondary_table, plot_secondary, secondary_numbers
from ._tables import display_table, format_adjusted_table, format_baseline_table, format_estimate, format_outcome_table, format_recovery_comparisons_imputed, format_recovery_missing_table
from ._text import format_summary

__all__ = ['format_withheld_table', 'network_header_html', 'network_methods_html', 'PALETTE', 'SECONDARY_HEADS', 'alt_adjusted_funnel', 'alt_fixed_day', 'fixed_day_numbers', 'fixed_day_sentence', 'format_fixed_day_table', 'plot_fixed_day', 'alt_forest', 'alt_funnel', 'alt_love', 'alt_overlap', 'alt_rates', 'alt_secondary', 'alt_survival', 'alt_trajectories', 'confounding_sentence', 'display_table', 'evalue_html', 'explorer_style_html', 'figure_html', 'forest_numbers', 'format_adjusted_table', 'format_baseline_table', 'format_benchmark_table', 'format_completeness_table', 'format_doubly_robust_table', 'format_estimate', 'format_exclusions', 'format_outcome_table', 'format_recovery_comparisons_imputed', 'format_recovery_missing_table', 'format_secondary_table', 'format_summary', 'header_html', 'headline_html', 'logrank_html', 'love_numbers', 'methods_html', 'missing_estimate_text', 'modality_colors', 'note_html', 'overlap_numbers', 'plot_adjusted_funnel', 'plot_completeness', 'plot_forest', 'plot_funnel', 'plot_love', 'plot_overlap', 'plot_rates', 'plot_secondary', 'plot_survival', 'plot_trajectories', 'rates_numbers', 'secondary_numbers', 'survival_numbers', 'table_html', 'term_label', 'tipping_point_html', 'trajectory_numbers']
