"""The command line: exit codes 0 / 1 / 2, JSON problems, no traceback for data problems."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from analysis.cli import main


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
