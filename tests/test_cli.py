"""The command line: exit codes 0 / 1 / 2, JSON problems, no traceback for data problems."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.app.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *args], capture_output=True, text=True)


def test_validate_sample_exits_0(sample_dir, capsys):
    assert main(["validate", str(sample_dir)]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_default_folder_is_sample(monkeypatch, sample_dir, capsys):
    monkeypatch.chdir(sample_dir.parents[1])
    assert main(["validate"]) == 0


def test_validate_corrupted_exits_1_and_lists_all(small_folder, capsys):
    ep = pd.read_csv(small_folder / "episodes.csv", dtype=str, keep_default_na=False)
    ep.loc[0, "global_change"] = "9"
    ep.loc[1, "sex"] = "f"
    ep.to_csv(small_folder / "episodes.csv", index=False)
    assert main(["validate", str(small_folder)]) == 1
    out = capsys.readouterr().out
    assert "2 problems found:" in out
    assert "episodes.csv row 2, column global_change: 9 is outside 1-7" in out
    assert "episodes.csv row 3, column sex: 'f' is not one of female, male, other, unknown" in out


def test_validate_json(small_folder, capsys):
    ep = pd.read_csv(small_folder / "episodes.csv", dtype=str, keep_default_na=False)
    ep.loc[0, "global_change"] = "9"
    ep.to_csv(small_folder / "episodes.csv", index=False)
    assert main(["validate", str(small_folder), "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)
    assert problems == [{"file": "episodes.csv", "row": 2, "column": "global_change", "problem": "9 is outside 1-7"}]


def test_validate_json_valid_is_empty_list(sample_dir, capsys):
    assert main(["validate", str(sample_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_missing_folder_exits_2(tmp_path):
    r = run("validate", str(tmp_path / "nope"))
    assert r.returncode == 2
    assert "data folder not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_option_exits_2():
    r = run("validate", "--frobnicate")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_no_command_exits_2():
    assert run().returncode == 2


def test_data_problem_has_no_traceback(small_folder):
    (small_folder / "visits.csv").write_bytes(b"\x00\x01garbage,\n\xff\xfe")
    r = run("validate", str(small_folder))
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr


def test_sample_command_writes_a_valid_folder(tmp_path):
    out = tmp_path / "s"
    r = run("sample", "-o", str(out), "--episodes", "50", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert "Wrote 50 episodes" in r.stdout
    assert run("validate", str(out)).returncode == 0


def test_sample_bad_episodes_is_usage_error(tmp_path):
    assert main(["sample", "-o", str(tmp_path / "x"), "--episodes", "0"]) == 2


def test_console_script_matches_module(sample_dir):
    script = Path(sys.executable).with_name("physio-outcomes")
    exe = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    mod = run("--version")
    assert exe.returncode == 0 and exe.stdout == mod.stdout


# ----------------------------------------------------------------- options that change numbers


def _summary(capsys, *args):
    assert main(["summary", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_horizon_days_gives_kaplan_meier_at_that_day(sample_dir, capsys, data):
    from analysis.stats import survival_at

    _, out = data
    doc = _summary(capsys, str(sample_dir), "--horizon-days", "180")
    pop = out[out["in_population"]]
    km = survival_at(pop["surgery_time"], pop["surgery_event"], 180)
    assert doc["overall"]["surgery_free"]["rate"] == pytest.approx(km["rate"])
    assert doc["overall"]["surgery_free"]["events"] == int((pop["surgery_event"] & (pop["surgery_time"] <= 180)).sum())
    assert doc["overall"]["surgery_free"]["rate"] > _summary(capsys, str(sample_dir))["overall"]["surgery_free"]["rate"]


def test_reference_changes_the_adjusted_comparisons(sample_dir, capsys):
    default = _summary(capsys, str(sample_dir))
    other = _summary(capsys, str(sample_dir), "--reference", "mckenzie")
    assert other["adjusted"]["reference"] == "mckenzie"
    d = {r["modality"]: r["difference"] for r in default["adjusted"]["leg_pain_change"]}
    o = {r["modality"]: r["difference"] for r in other["adjusted"]["leg_pain_change"]}
    ref = default["adjusted"]["reference"]
    assert "mckenzie" not in o and ref in o
    # differences against a new reference are the old ones shifted by the new reference's old difference
    assert o[ref] == pytest.approx(-d["mckenzie"], abs=0.05)
    assert o["traction"] == pytest.approx(d["traction"] - d["mckenzie"], abs=0.05)


def test_population_all_changes_the_surgery_population(sample_dir, capsys, data):
    rec, _ = data
    cand = _summary(capsys, str(sample_dir))
    everyone = _summary(capsys, str(sample_dir), "--population", "all")
    assert cand["overall"]["surgery_free"]["n"] == int(rec.episodes["surgical_candidate"].sum())
    assert everyone["overall"]["surgery_free"]["n"] == len(rec.episodes)
    assert everyone["overall"]["surgery_free"]["rate"] > cand["overall"]["surgery_free"]["rate"]


def test_clinic_repeated_or_comma_separated(sample_dir, capsys, data):
    rec, _ = data
    a = _summary(capsys, str(sample_dir), "--clinic", "NTH", "--clinic", "STH")
    b = _summary(capsys, str(sample_dir), "--clinic", "NTH,STH")
    assert a["data"] == b["data"] and a["data"]["clinics"] == ["NTH", "STH"]
    assert a["data"]["episodes"] == int(rec.episodes["clinic"].isin(["NTH", "STH"]).sum())
    assert a["overall"] == b["overall"]


def test_from_and_to_include_their_boundary_days(sample_dir, capsys, data):
    rec, _ = data
    days = rec.episodes["start_date"].dt.strftime("%Y-%m-%d")
    first, last = sorted(days.unique())[10], sorted(days.unique())[40]
    doc = _summary(capsys, str(sample_dir), "--from", first, "--to", last)
    assert doc["data"]["first_start"] == first and doc["data"]["last_start"] == last
    assert doc["data"]["episodes"] == int(((days >= first) & (days <= last)).sum())


def test_cluster_option(sample_dir, capsys):
    none = _summary(capsys, str(sample_dir), "--cluster", "none")
    ther = _summary(capsys, str(sample_dir))
    assert none["adjusted"]["cluster"] == "none" and ther["adjusted"]["cluster"] == "therapist"
    assert "Mancl-DeRouen" in ther["adjusted"]["method"]["recovered"]
    wn = [r["ci_high"] - r["ci_low"] for r in none["adjusted"]["recovered"]]
    wt = [r["ci_high"] - r["ci_low"] for r in ther["adjusted"]["recovered"]]
    assert wn != wt


def test_cluster_without_codes_is_a_usage_error(small_folder, capsys):
    ep = pd.read_csv(small_folder / "episodes.csv", dtype=str, keep_default_na=False)
    ep["therapist"] = ""
    ep.to_csv(small_folder / "episodes.csv", index=False)
    assert main(["summary", str(small_folder), "--cluster", "therapist"]) == 2
    assert "the records have no therapist codes; use --cluster none" in capsys.readouterr().err
    assert main(["summary", str(small_folder), "--json"]) == 0  # default falls back to none
    assert json.loads(capsys.readouterr().out)["adjusted"]["cluster"] == "none"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc allocator tuning is Linux-only")
def test_program_keeps_freed_memory_but_library_calls_do_not(monkeypatch):
    """The program tunes glibc's allocator for its own process (the 1M-episode benchmark lost a
    quarter of its time to the kernel zeroing re-mapped memory); calling main() from Python,
    as a notebook or these tests do, leaves the allocator alone."""
    import analysis.app.cli as cli

    calls = []
    monkeypatch.setattr(cli, "_keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(cli, "main", lambda argv=None: 0)
    assert cli.run() == 0 and calls == [1]
    r = subprocess.run([sys.executable, "-c", "from analysis.app.cli import _keep_freed_memory as k; print(k())"],
                       capture_output=True, text=True)
    assert r.stdout.strip() == "True", r.stderr
