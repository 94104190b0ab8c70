"""Applications: the report, the explorer, the command line and JupyterLab.

Rule: may import every lower layer; nothing imports ``app``.

Names are imported on first use (PEP 562), so that ``physio-outcomes validate``
(which imports :mod:`analysis.app.cli`) does not pay for loading the report's
figures and statistics (matplotlib, seaborn, scipy, statsmodels: seconds).
"""

from __future__ import annotations

from .._lazy import lazy_exports
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same names, for readers and type checkers
    from ._cli_common import DEFAULT_DATA  # noqa: F401
    from ._compose import ASSOCIATION_WARNING, ReportContent, load_checked_records, save_checked_records  # noqa: F401
    from ._explore import BACKGROUND_EPISODES, Explorer  # noqa: F401
    from ._selection import OUTCOMES, Selection, apply_selection, selection_note  # noqa: F401
    from ._report import build_report  # noqa: F401
    from ._network import (NetworkReportContent, NetworkResult, build_network_report, clinic_answer,  # noqa: F401
                           combine_network, network_release, read_release, release_from_outcomes, run_network)
    from ._resources import NETWORK_REPORT_NOTEBOOK  # noqa: F401
    from ._resources import EXPLORER_NOTEBOOK, LAB_SETTINGS, REPORT_NOTEBOOK, TEMPLATES, resource_path  # noqa: F401

#: Public name -> private module defining it.
_EXPORTS = {
    "DEFAULT_DATA": "_cli_common",
    "ASSOCIATION_WARNING": "_compose", "ReportContent": "_compose", "load_checked_records": "_compose",
    "save_checked_records": "_compose",
    "BACKGROUND_EPISODES": "_explore", "Explorer": "_explore",
    "OUTCOMES": "_selection", "Selection": "_selection", "apply_selection": "_selection",
    "selection_note": "_selection",
    "build_report": "_report",
    "NetworkReportContent": "_network", "NetworkResult": "_network", "build_network_report": "_network",
    "clinic_answer": "_network", "combine_network": "_network", "network_release": "_network",
    "read_release": "_network", "release_from_outcomes": "_network", "run_network": "_network",
    "NETWORK_REPORT_NOTEBOOK": "_resources",
    "EXPLORER_NOTEBOOK": "_resources", "LAB_SETTINGS": "_resources", "REPORT_NOTEBOOK": "_resources",
    "TEMPLATES": "_resources", "resource_path": "_resources",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
