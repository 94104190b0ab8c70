"""Seeded fixtures shared by the tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import derive_outcomes, load_records
from analysis.records import make_sample

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


def _network(seed: int, *, therapists: int = 16, per: int = 60, sd_u: float = 0.6, sd_v: float = 0.5,
             informative_missing: bool = True) -> pd.DataFrame:
    """An outcomes-shaped frame of a clinic network with therapist effects (for model tests)."""
    rng = np.random.default_rng(seed)
    t = np.repeat(np.arange(therapists), per)
    n = len(t)
    mods = np.array(["a", "b", "c"])
    fav = mods[np.arange(therapists) % 3]
    mod = np.where(rng.random(n) < 0.5, fav[t], mods[rng.integers(0, 3, n)])
    base = np.clip(rng.normal(6.3, 1.9, n), 0, 10)
    u, v = rng.normal(0, sd_u, therapists), rng.normal(0, sd_v, therapists)
    e = rng.normal(0, 1.8, n)
    final = base - 3 + 0.3 * (base - 6.3) + np.select([mod == "b", mod == "c"], [-0.5, 0.3], 0.0) + u[t] + e
    lin = -0.2 * (base - 6.3) + np.select([mod == "b"], [0.4], 0.0) + v[t] - 0.6 * e / 1.8
    rec = rng.random(n) < 1 / (1 + np.exp(-lin))
    change = final - base
    miss = rng.random(n) < (1 / (1 + np.exp(-(-1.1 + 0.5 * (change + 3)))) if informative_missing else 0.3)
    cand = rng.random(n) < 0.4
    hz = 0.002 * np.exp(1.2 * cand + np.select([mod == "b"], [-0.3], 0.0))
    st = rng.exponential(1 / hz)
    fu = rng.uniform(200, 700, n)
    return pd.DataFrame({
        "modality": mod, "therapist": np.array([f"T{i}" for i in range(therapists)])[t],
        "clinic": np.array(["N", "S"])[t % 2], "age_band": np.array(["30-39", "50-59", "70-79"])[rng.integers(0, 3, n)],
        "sex": np.where(rng.random(n) < 0.5, "female", "male"), "cause": "disc_herniation",
        "symptom_band": np.array(["<6", "6-12", ">12"])[rng.integers(0, 3, n)], "surgical_candidate": cand,
        "baseline_leg_pain": base, "final_leg_pain": final, "leg_pain_change": change,
        "recovered": pd.array(np.where(miss, pd.NA, rec), dtype="boolean"), "recovered_true": rec,
        "surgery_time": np.where(st <= fu, st, fu), "surgery_event": st <= fu, "in_population": cand,
        "days_to_discharge": np.full(n, 40.0), "discharge_reason": "goals_met", "sessions": rng.poisson(5, n) + 1,
    })


@pytest.fixture(scope="session")
def network() -> pd.DataFrame:
    """A seeded 960-episode clinic network (16 therapists, each favouring a modality; therapist
    effects on leg pain and recovery; ratings missing more often after a poor outcome)."""
    return _network(11)


def require_chromium() -> str:
    """The Chromium executable for browser tests. Missing on a developer's machine: the test is skipped
    with the reason. Missing in CI (CI=true, exported by .ci/run): the test fails, never a silent skip."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        msg = "Chromium is not installed (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{msg}, but it is missing in CI: the browser tests must run there")
        pytest.skip(msg)
    return path
