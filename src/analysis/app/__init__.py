"""Applications: the report, the explorer, the command line and JupyterLab.

Rule: may import every lower layer; nothing imports ``app``.
"""

from __future__ import annotations

from ._explore import Explorer, OUTCOMES, Selection, apply_selection, selection_note
from ._report import build_report
from ._resources import EXPLORER_NOTEBOOK, LAB_SETTINGS, REPORT_NOTEBOOK, TEMPLATES, resource_path

__all__ = ['EXPLORER_NOTEBOOK', 'Explorer', 'LAB_SETTINGS', 'OUTCOMES', 'REPORT_NOTEBOOK', 'Selection', 'TEMPLATES', 'apply_selection', 'build_report', 'resource_path', 'selection_note']
