"""Disclosure control: the one place that decides what may be shown (spec section 9).

Rules, secondary suppression, and the ``disclose_*`` functions that take a result and a rule and
return what may be shown, with each cell's state. Rule: may import ``methods``, ``stats``, ``records``.
"""

from __future__ import annotations

from ._apply import apply_disclosure_to_adjusted, apply_disclosure_to_benchmark, baseline_states, column_states
from ._rules import DISCLOSURE_RULES, DisclosureRule, disclosure_rule, hes_round
from ._suppression import CellState, grid_relations, protect, value_ranges

__all__ = ['CellState', 'DISCLOSURE_RULES', 'DisclosureRule', 'apply_disclosure_to_adjusted', 'apply_disclosure_to_benchmark', 'baseline_states', 'column_states', 'disclosure_rule', 'grid_relations', 'hes_round', 'protect', 'value_ranges']
