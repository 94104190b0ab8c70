"""The synthetic sample: reproducible byte for byte, realistic per spec section 10."""

from __future__ import annotations

import time

from analysis import load_records, write_sample
from analysis.records import make_sample


def test_committed_sample_reproduces_byte_for_byte(tmp_path, sample_dir):
    """data/sample/README.md promises: `physio-outcomes sample -o data/sample --episodes 1500 --seed 2024`."""
    write_sample(tmp_path, 1500, seed=2024)
    for name in ("episodes.csv", "visits.csv", "modalities.csv"):
        assert (tmp_path / name).read_bytes() == (sample_dir / name).read_bytes(), name


def test_same_seed_same_data_other_seed_other_data():
    a, _, _ = make_sample(300, seed=1)
    b, _, _ = make_sample(300, seed=1)
    c, _, _ = make_sample(300, seed=2)
    assert a.equals(b)
    assert not a.equals(c)


def test_sample_is_realistic(sample_dir):
    """Spec section 10 targets."""
    rec = load_records(sample_dir)
    ep, vi = rec.episodes, rec.visits
    assert 1400 <= len(ep) <= 1600
    assert ep["clinic"].nunique() == 3 and ep["modality"].nunique() == 9
    span = (ep["start_date"].max() - ep["start_date"].min()).days
    assert 700 <= span <= 731
    base = vi[vi["visit_no"] == 1]["leg_pain"].astype("float64")
    assert 6.0 <= base.mean() <= 6.5 and 1.6 <= base.std() <= 2.2
    assert 5 <= vi.groupby("episode_id").size().median() <= 7
    discharged = ep[ep["discharge_reason"] != "ongoing"]
    assert 0.25 <= discharged["global_change"].isna().mean() <= 0.38
    assert 0.20 <= ep["surgical_candidate"].mean() <= 0.30
    cand = ep[ep["surgical_candidate"]]
    within_year = (cand["surgery"] & (cand["surgery_day"].astype("float64") <= 365)).mean()
    assert 0.10 <= within_year <= 0.35


def test_confounding_by_indication_is_built_in():
    """Severer cases go to traction/electrotherapy; milder to McKenzie/education."""
    ep, vi, _ = make_sample(20000, seed=11)
    base = vi[vi["visit_no"] == 1].set_index("episode_id")["leg_pain"].astype("float64")
    b = ep.set_index("episode_id").join(base.rename("base"))
    by = b.groupby("modality")["base"].mean()
    assert by["traction"] - by["mckenzie"] > 0.5
    cand = b.groupby("modality")["surgical_candidate"].mean()
    assert cand["traction"] > cand["mckenzie"] + 0.08


def test_a_million_episodes_is_fast(tmp_path):
    t = time.perf_counter()
    ep, vi, _ = make_sample(1_000_000, seed=5)
    elapsed = time.perf_counter() - t
    assert len(ep) == 1_000_000 and 5_000_000 <= len(vi) <= 9_000_000
    assert elapsed < 45


def test_sample_disability_is_as_the_data_card_says(data):
    """data/sample/README.md: intake ODI about 40 (SD 15); two ODI values for about 61 % of episodes, few at STH."""
    _, out = data
    assert 37 <= out["baseline_odi"].mean() <= 43 and 13 <= out["baseline_odi"].std() <= 17
    assert 0.55 <= out["odi_change"].notna().mean() <= 0.67
    by_clinic = out.groupby("clinic")["odi_change"].apply(lambda s: s.notna().mean())
    assert by_clinic["STH"] < 0.25 < 0.65 < min(by_clinic["CEN"], by_clinic["NTH"])
