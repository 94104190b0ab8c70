"""Folders shipped inside the wheel beside the code: the sample data and the notebooks."""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path

__all__ = ["packaged_folder", "sample_folder"]


def packaged_folder(name: str) -> Path:
    """The shipped folder *name* (``sample_data`` or ``notebooks``) as a path on disk.

    In a wheel these are the package data folders ``analysis/sample_data`` and
    ``analysis/notebooks`` (``pyproject.toml`` maps the repository's
    ``data/sample`` and ``notebooks`` there). An editable install of a checkout
    has no such subpackages, so the checkout's own folders are used.

    Examples
    --------
    >>> from analysis.records import packaged_folder
    >>> (packaged_folder("notebooks") / "report.ipynb").is_file()
    True
    """
    if name not in ("sample_data", "notebooks"):
        raise ValueError(f"no shipped folder called '{name}'")
    try:  # a data-only folder is a namespace package: its location, not importlib's multiplexed path
        spec = importlib.util.find_spec(f"analysis.{name}")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    checkout = Path(str(files("analysis"))).parents[1]  # editable install: the checkout's folders
    return checkout / ("data/sample" if name == "sample_data" else name)


def sample_folder() -> Path:
    """The sample data folder shipped with the package (1,500 synthetic episodes, seed 2024).

    Examples
    --------
    >>> from analysis.records import load_records, sample_folder
    >>> len(load_records(sample_folder()).episodes)
    1500
    """
    return packaged_folder("sample_data")
