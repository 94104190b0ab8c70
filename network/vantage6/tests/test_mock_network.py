"""The algorithm on vantage6's own mock network: three clinics built from the sample, no server.

Pooled results must equal the pooled-records analysis (physio-outcomes' engine-free run of the same steps,
itself tested against the pooled records in the main test suite), and a clinic below the node's minimums
must refuse.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from vantage6.algorithm.mock import MockNetwork

from analysis import app, derive_outcomes, load_records, records

CLINICS = ("CEN", "NTH", "STH")


@pytest.fixture(scope="module")
def clinic_folders(tmp_path_factory):
    """The sample split into one records folder per clinic (what each node's database would be)."""
    root = tmp_path_factory.mktemp("clinics")
    sample = Path(records.sample_folder())
    episodes = pd.read_csv(sample / "episodes.csv", dtype=str, keep_default_na=False)
    visits = pd.read_csv(sample / "visits.csv", dtype=str, keep_default_na=False)
    folders = []
    for c in CLINICS:
        f = root / c
        f.mkdir()
        ep = episodes[episodes["clinic"] == c]
        ep.to_csv(f / "episodes.csv", index=False)
        visits[visits["episode_id"].isin(ep["episode_id"])].to_csv(f / "visits.csv", index=False)
        if (sample / "modalities.csv").exists():
            shutil.copy(sample / "modalities.csv", f / "modalities.csv")
        folders.append(f)
    return folders


def _network(folders):
    net = MockNetwork(module_name="physio_outcomes_v6",
                      datasets=[{"records": {"database": str(f), "db_type": "folder"}} for f in folders])
    df = net.user_client.dataframe.create(label="records", method="extract", arguments={}, name="records")
    return net, [{"dataframe_id": df["id"]}]


def _run(net, databases, **arguments):
    client = net.user_client
    task = client.task.create(method="network_analysis", organizations=[1], arguments=arguments,
                              databases=databases)
    (result,) = client.result.from_task(task["id"])
    return result


@pytest.fixture(scope="module")
def pooled():
    rec = load_records(records.sample_folder())
    out = derive_outcomes(rec)
    return app.run_network({c: d for c, d in out.groupby("clinic")}, labels=rec.labels)


def test_no_identifier_leaves_data_extraction(clinic_folders):
    net, _ = _network(clinic_folders)
    for node in net.nodes:
        df = node.dataframes["records"]
        assert not {"episode_id", "patient_id", "therapist"} & set(df.columns)
        assert len(df) > 0


def test_mock_network_equals_the_pooled_records_analysis(clinic_folders, pooled):
    net, dbs = _network(clinic_folders)
    result = _run(net, dbs)
    assert "refused" not in result, result.get("refused")
    doc = result["summary"]
    expected = json.loads(json.dumps(pooled.summary()))
    assert doc["data"]["episodes"] == 1500 and doc["data"]["clinics"] == list(CLINICS)
    assert doc["overall"] == expected["overall"]
    assert doc["modalities"] == expected["modalities"]
    assert doc["tests"] == expected["tests"]
    for key in ("leg_pain_change", "recovered", "surgery"):
        got, want = doc["adjusted"][key], expected["adjusted"][key]
        assert [r["modality"] for r in got] == [r["modality"] for r in want]
        for a, b in zip(got, want):
            for k in ("difference", "odds_ratio", "hazard_ratio", "ci_low", "ci_high", "p"):
                if k in a:
                    assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12), (key, a["modality"], k)
    again = app.NetworkResult.from_json(result["result"])
    assert again.summary()["overall"] == doc["overall"]


def test_a_clinic_below_the_minimums_refuses(clinic_folders, monkeypatch):
    net, dbs = _network(clinic_folders)
    monkeypatch.setenv("PHYSIO_MIN_EPISODES", "400")  # STH has 321 episodes
    result = _run(net, dbs)
    assert result["refused"].startswith("organisation 3 refused partial_release: clinic STH has 321 episodes")


def test_fewer_than_three_clinics_refused(clinic_folders):
    net, dbs = _network(clinic_folders[:2])
    result = _run(net, dbs)
    assert result == {"refused": "2 organisation(s): a network analysis needs at least 3 clinics"}
