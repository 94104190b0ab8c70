"""Applications: the report, the explorer, the command line and JupyterLab.

Rule: may import every lower layer; nothing imports ``app``.
"""

from __future__ import annotations

from ._cli_common import DEFAULT_DATA
from ._compose import ASSOCIATION_WARNING, ReportContent, load_checked_records, save_checked_records
from ._explore import OUTCOMES, Explorer, Selection, apply_selection, selection_note
from ._report import build_report
from ._resources import EXPLORER_NOTEBOOK, LAB_SETTINGS, REPORT_NOTEBOOK, TEMPLATES, resource_path

__all__ = ['ASSOCIATION_WARNING', 'DEFAULT_DATA', 'EXPLORER_NOTEBOOK', 'Explorer', 'LAB_SETTINGS', 'OUTCOMES', 'REPORT_NOTEBOOK', 'ReportContent', 'Selection', 'TEMPLATES', 'apply_selection', 'build_report', 'load_checked_records', 'resource_path', 'save_checked_records', 'selection_note']
