"""Files the applications need, found inside the installed package (importlib.resources).

Nothing here depends on a checkout: a wheel installed anywhere finds its report
notebook, nbconvert template, JupyterLab settings and explorer notebook the same way.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ..records import packaged_folder

__all__ = ["EXPLORER_NOTEBOOK", "LAB_SETTINGS", "NETWORK_REPORT_NOTEBOOK", "REPORT_NOTEBOOK", "TEMPLATES", "resource_path"]


def resource_path(*parts: str) -> Path:
    """A file or folder under ``analysis/app/resources`` as a real path on disk.

    Examples
    --------
    >>> from analysis.app import resource_path
    >>> resource_path("templates", "clinic_report", "conf.json").is_file()
    True
    """
    return Path(str(files("analysis.app").joinpath("resources", *parts)))


def _notebook(name: str) -> Path:
    return packaged_folder("notebooks") / name


#: The parameterised report notebook that ``build_report`` executes.
REPORT_NOTEBOOK = _notebook("report.ipynb")
#: The network report notebook that ``build_network_report`` executes.
NETWORK_REPORT_NOTEBOOK = _notebook("network_report.ipynb")
#: The nbconvert template folder (``clinic_report`` inside it).
TEMPLATES = resource_path("templates")
#: JupyterLab user settings for ``physio-outcomes lab`` (no news prompt, kernel autostart).
LAB_SETTINGS = resource_path("jupyter", "lab", "user-settings")
#: The explorer notebook copied into a working folder by ``physio-outcomes lab`` outside a checkout.
EXPLORER_NOTEBOOK = _notebook("00-explore.ipynb")
