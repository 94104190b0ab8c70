"""Disclosure control: the one place that decides what may be shown (spec section 9).

Rules, secondary suppression, and the ``disclose_*`` functions that take a result and a rule and
return what may be shown, with each cell's state. Rule: may import ``methods``, ``stats``, ``records``.
"""

from __future__ import annotations

from ._apply import apply_disclosure_to_adjusted, apply_disclosure_to_confounding, apply_disclosure_to_fixed_day, apply_disclosure_to_imputed_comparisons, apply_disclosure_to_secondary, apply_disclosure_to_benchmark, baseline_states, column_states, group_column_states, hidden_sentence
from ._decide import CRUDE_KEYS, Cell, CrudeDisclosure, crude_cell, disclose_crude, disclose_survival, recovery_mi_cell
from ._network import NodeSettings, ReleaseRefused, check_model_parts, protect_release
from ._rules import DISCLOSURE_RULES, DisclosureRule, disclosure_rule, hes_round
from ._suppression import CellState, grid_relations, protect, value_ranges

__all__ = ['NodeSettings', 'ReleaseRefused', 'check_model_parts', 'protect_release', 'CRUDE_KEYS', 'Cell', 'CellState', 'CrudeDisclosure', 'DISCLOSURE_RULES', 'DisclosureRule', 'apply_disclosure_to_adjusted', 'apply_disclosure_to_confounding', 'apply_disclosure_to_fixed_day', 'apply_disclosure_to_imputed_comparisons', 'apply_disclosure_to_secondary', 'apply_disclosure_to_benchmark', 'baseline_states', 'column_states', 'crude_cell', 'disclose_crude', 'disclose_survival', 'disclosure_rule', 'grid_relations', 'group_column_states', 'hes_round', 'hidden_sentence', 'protect', 'recovery_mi_cell', 'value_ranges']
