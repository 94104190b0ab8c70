"""Seeded fixtures shared by the tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import derive_outcomes, load_records
from analysis.synth import make_sample

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The committed synthetic sample folder (read-only: never write into it)."""
    return SAMPLE


@pytest.fixture(scope="session")
def data(sample_dir):
    """The sample's records and derived outcomes (read-only: copy before changing)."""
    rec = load_records(sample_dir)
    return rec, derive_outcomes(rec)


@pytest.fixture(scope="session")
def small_tables():
    """A seeded 200-episode synthetic sample as DataFrames (episodes, visits, catalogue)."""
    return make_sample(200, seed=7)


def write_folder(folder: Path, episodes: pd.DataFrame, visits: pd.DataFrame,
                 catalogue: pd.DataFrame | None = None, fmt: str = "csv") -> Path:
    """Write tables as a data folder in the given format."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in (("episodes", episodes), ("visits", visits)):
        if fmt == "csv":
            df.to_csv(folder / f"{name}.csv", index=False)
        elif fmt == "parquet":
            df.to_parquet(folder / f"{name}.parquet", index=False)
        elif fmt == "xlsx":
            df.to_excel(folder / f"{name}.xlsx", index=False)
    if catalogue is not None:
        catalogue.to_csv(folder / "modalities.csv", index=False)
    return folder


@pytest.fixture
def small_folder(tmp_path, small_tables) -> Path:
    """A valid 200-episode data folder in a fresh temporary directory."""
    ep, vi, cat = small_tables
    return write_folder(tmp_path / "data", ep, vi, cat)


@pytest.fixture
def sample_copy(tmp_path, sample_dir) -> Path:
    """A writable copy of the sample folder."""
    dest = tmp_path / "sample"
    shutil.copytree(sample_dir, dest)
    return dest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20241124)
