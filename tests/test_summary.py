"""`summary`: the JSON document (spec section 6), the terminal table, the command line."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from analysis import load_records
from analysis.app.cli import main
from analysis.methods import ASSOCIATION_NOTE, summarise
from analysis.present import format_summary

OUTCOME_KEYS = {"episodes", "leg_pain_change", "responder", "recovered", "surgery_free", "recovered_missing_adjusted",
                "odi_change", "odi_responder", "back_pain_change", "sessions", "days_to_discharge", "leg_pain_at_day"}


@pytest.fixture(scope="module")
def doc(sample_dir):
    return summarise(load_records(sample_dir))


def test_json_shape_matches_spec(doc):
    assert set(doc) == {"data", "settings", "overall", "modalities", "tests", "adjusted", "doubly_robust", "overlap"}
    for row in doc["overlap"]:
        assert set(row) == {"modality", "n", "effective_n", "max_weighted_smd", "max_smd", "truncated"}
    assert set(doc["doubly_robust"]) == {"leg_pain_change", "recovered"}
    for rows in doc["doubly_robust"].values():
        for row in rows:
            assert set(row) == {"modality", "estimate", "ci_low", "ci_high", "effective_n", "note", "p", "regression",
                                "n", "clusters", "rests_on_assumptions"}
    assert set(doc["data"]) == {"episodes", "visits", "clinics", "first_start", "last_start"}
    assert set(doc["settings"]) == {"horizon_days", "population", "confidence", "reference"}
    assert set(doc["overall"]) == OUTCOME_KEYS
    assert set(doc["overall"]["leg_pain_change"]) == {"n", "mean", "ci_low", "ci_high"}
    for key in ("responder", "recovered", "surgery_free"):
        assert set(doc["overall"][key]) == {"n", "events", "rate", "ci_low", "ci_high"}
    assert set(doc["tests"]["surgery_logrank"]) == {"chi2", "df", "p"}
    assert set(doc["overall"]["recovered_missing_adjusted"]) == {"n", "missing", "imputations", "rate", "ci_low",
                                                                 "ci_high"}
    assert set(doc["adjusted"]) == {"reference", "covariates", "cluster", "method", "leg_pain_change", "recovered",
                                    "surgery", "recovered_missing_adjusted", "odi_change", "leg_pain_at_day"}
    for row in doc["adjusted"]["recovered_missing_adjusted"]:
        assert set(row) == {"modality", "odds_ratio", "ci_low", "ci_high", "p", "p_holm", "e_value", "e_value_ci",
                            "note", "clusters", "tipping_odds"}
    assert doc["adjusted"]["cluster"] == "therapist"  # the sample records therapists: the default
    assert set(doc["adjusted"]["method"]) == {"leg_pain_change", "recovered", "surgery", "odi_change",
                                              "leg_pain_at_day"}
    for row in doc["overall"]["leg_pain_at_day"]:
        assert set(row) == {"day", "mean", "ci_low", "ci_high"}
    for row in doc["adjusted"]["leg_pain_at_day"]:
        assert set(row) == {"modality", "day", "difference", "ci_low", "ci_high", "p", "p_holm", "e_value",
                            "e_value_ci", "note", "clusters"}
    for key, est in (("leg_pain_change", "difference"), ("recovered", "odds_ratio"), ("surgery", "hazard_ratio"),
                     ("odi_change", "difference")):
        for row in doc["adjusted"][key]:
            assert set(row) == {"modality", est, "ci_low", "ci_high", "p", "p_holm", "e_value", "e_value_ci", "note",
                                "clusters"}
            assert isinstance(row["clusters"], int) and row["clusters"] >= 2  # therapists giving the modality


def test_json_values(doc, sample_dir):
    rec = load_records(sample_dir)
    assert doc["data"]["episodes"] == len(rec.episodes) and doc["data"]["visits"] == len(rec.visits)
    assert doc["data"]["clinics"] == ["CEN", "NTH", "STH"]
    assert doc["settings"] == {"horizon_days": 365, "population": "candidates", "confidence": 0.95,
                               "reference": doc["adjusted"]["reference"]}
    codes = [m["modality"] for m in doc["modalities"]]
    assert codes == sorted(codes) and len(codes) == 9
    counts = rec.episodes["modality"].value_counts()
    assert doc["settings"]["reference"] == sorted(counts[counts == counts.max()].index)[0]
    assert doc["settings"]["reference"] not in [r["modality"] for r in doc["adjusted"]["recovered"]]
    assert sum(m["episodes"] for m in doc["modalities"]) == doc["overall"]["episodes"]
    sf = doc["overall"]["surgery_free"]
    assert sf["n"] == int(rec.episodes["surgical_candidate"].sum())
    assert 0 < sf["ci_low"] < sf["rate"] < sf["ci_high"] < 1
    assert doc["tests"]["surgery_logrank"]["df"] == 8
    mck = next(m for m in doc["modalities"] if m["modality"] == "mckenzie")
    assert mck["label"] == "McKenzie (MDT)"


def test_numbers_are_unrounded(doc):
    rate = doc["overall"]["recovered"]["rate"]
    assert rate == doc["overall"]["recovered"]["events"] / doc["overall"]["recovered"]["n"]
    assert round(rate, 4) != rate


def test_terminal_table(doc):
    text = format_summary(doc)
    assert "McKenzie (MDT)" in text and "Overall" in text
    assert ASSOCIATION_NOTE in text
    assert "Surgery-free at 365 days among surgical candidates" in text


def test_cli_summary_json(sample_dir, capsys):
    assert main(["summary", str(sample_dir), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["horizon_days"] == 365


def test_cli_summary_options(sample_dir, capsys):
    args = ["summary", str(sample_dir), "--json", "--horizon-days", "180", "--reference", "mckenzie",
            "--population", "all", "--clinic", "CEN,NTH", "--from", "2024-06-01", "--to", "2025-05-31"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"] == {"horizon_days": 180, "population": "all", "confidence": 0.95, "reference": "mckenzie"}
    assert doc["data"]["clinics"] == ["CEN", "NTH"]
    assert doc["data"]["first_start"] >= "2024-06-01" and doc["data"]["last_start"] <= "2025-05-31"
    assert doc["overall"]["surgery_free"]["n"] == doc["overall"]["episodes"]


def test_cli_summary_text(sample_dir, capsys):
    assert main(["summary", str(sample_dir)]) == 0
    out = capsys.readouterr()
    assert "Adjusted comparisons against" in out.out
    assert "Fitting" in out.err or "fitting" in out.err  # progress on stderr


@pytest.mark.parametrize("args,message", [
    (["--reference", "cupping"], "reference modality 'cupping' is not in the data"),
    (["--clinic", "XYZ"], "clinic XYZ is not in the data (clinics: CEN, NTH, STH)"),
    (["--from", "2025-02-30"], "'2025-02-30' is not a date written YYYY-MM-DD"),
    (["--horizon-days", "0"], "must be at least 1 day"),
    (["--from", "2025-06-01", "--to", "2025-01-01"], "--from is after --to"),
])
def test_cli_summary_usage_errors_exit_2(sample_dir, capsys, args, message):
    try:
        code = main(["summary", str(sample_dir), *args])
    except SystemExit as exc:  # argparse rejects bad option values itself
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_summary_invalid_folder_exits_1(small_folder, capsys):
    ep = pd.read_csv(small_folder / "episodes.csv", dtype=str, keep_default_na=False)
    ep.loc[0, "global_change"] = "9"
    ep.to_csv(small_folder / "episodes.csv", index=False)
    assert main(["summary", str(small_folder)]) == 1
    assert "episodes.csv row 2, column global_change: 9 is outside 1-7" in capsys.readouterr().out
    assert main(["summary", str(small_folder), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"][0]["row"] == 2


def test_cli_summary_no_episodes_after_filter_exits_1(sample_dir, capsys):
    assert main(["summary", str(sample_dir), "--from", "2030-01-01"]) == 1
    assert "no episodes match the filters" in capsys.readouterr().out


def test_json_has_no_nan(sample_dir, capsys):
    main(["summary", str(sample_dir), "--json", "--clinic", "STH", "--from", "2025-10-01"])
    text = capsys.readouterr().out
    assert "NaN" not in text
    doc = json.loads(text)
    for row in doc["adjusted"]["surgery"]:
        assert row["hazard_ratio"] is None or math.isfinite(row["hazard_ratio"])
        if row["hazard_ratio"] is None:
            assert row["note"]


def test_population_all_stratifies_the_logrank_test_as_the_cox_model(sample_dir):
    """--population all: the Cox model was stratified by surgical candidacy but the log-rank test was not
    (chi-squared 17.2 against 27.7 stratified on one network; issue 22)."""
    from analysis import derive_outcomes
    from analysis.methods import OutcomeSettings
    from analysis.stats import logrank_test

    rec = load_records(sample_dir)
    s = OutcomeSettings(population="all")
    out = derive_outcomes(rec, settings=s)
    doc = summarise(rec, settings=s, outcomes=out)
    pop = out[out["in_population"]]
    strat = logrank_test(pop["surgery_time"], pop["surgery_event"], pop["modality"], strata=pop["surgical_candidate"])
    plain = logrank_test(pop["surgery_time"], pop["surgery_event"], pop["modality"])
    assert doc["tests"]["surgery_logrank"]["chi2"] == pytest.approx(strat["chi2"], rel=1e-12)
    assert abs(strat["chi2"] - plain["chi2"]) > 0.1
    # candidates only: one stratum, the plain test
    doc_c = summarise(rec)
    cand = derive_outcomes(rec)
    popc = cand[cand["in_population"]]
    assert doc_c["tests"]["surgery_logrank"]["chi2"] == pytest.approx(
        logrank_test(popc["surgery_time"], popc["surgery_event"], popc["modality"])["chi2"], rel=1e-12)


def test_fixed_day_model_runs_beside_the_others_and_its_errors_reach_the_caller(sample_dir, monkeypatch):
    """summarise fits its models on worker threads, two at a time (the model of all visits is a third of
    the time at registry size); a failure there is the caller's failure, not a missing key, and the
    caller's numpy error state holds there."""
    import threading

    import numpy as np

    import analysis.methods._summary as summary_mod
    from analysis import load_records
    from analysis.methods import summarise

    seen = {}

    def failing(*_a, **_k):
        seen["thread"], seen["err"] = threading.current_thread().name, np.geterr()["invalid"]
        raise ValueError("fixed-day model failed")

    monkeypatch.setattr(summary_mod, "leg_pain_at_days", failing)
    with np.errstate(invalid="ignore"), pytest.raises(ValueError, match="fixed-day model failed"):
        summarise(load_records(sample_dir))
    assert seen["thread"].startswith("physio-task") and seen["err"] == "ignore"


def test_summary_fitted_one_model_at_a_time_equals_one_call(sample_dir):
    """summarise fits the adjusted models as separate tasks and merges them: the same tables, covariates,
    clusters and coefficients as adjusted_comparisons fitting them in one call."""
    from analysis import derive_outcomes, load_records
    from analysis.methods import adjusted_comparisons
    from analysis.methods._summary import _merge_adjusted

    out = derive_outcomes(load_records(sample_dir))
    models = ("leg_pain_change", "recovered", "surgery", "odi_change")
    whole = adjusted_comparisons(out, models=models)
    merged = _merge_adjusted({m: adjusted_comparisons(out, models=(m,)) for m in models})
    assert sorted(merged) == sorted(whole)
    for key in ("reference", "covariates", "cluster", "method", "clusters", "events_per_parameter",
                "missing_covariates"):
        assert merged[key] == whole[key], key
    for m in models:
        pd.testing.assert_frame_equal(merged[m], whole[m])
        if whole["coefficients"][m] is not None:
            pd.testing.assert_series_equal(merged["coefficients"][m], whole["coefficients"][m])
    two = _merge_adjusted({m: adjusted_comparisons(out, models=(m,)) for m in ("leg_pain_change", "recovered")})
    assert two["surgery"].empty and two["clusters"].get("surgery") is None


def test_run_tasks_order_dependencies_errors():
    """run_tasks: each task sees the results it runs after; one worker runs them in list order on the
    caller's thread; a task after a later one, or a repeated name, is refused; the first failure in list
    order reaches the caller."""
    import threading
    import time

    from analysis.methods._parallel import Task, run_tasks

    order = []

    def slow(name, value, pause=0.0):
        def run(done):
            time.sleep(pause)
            order.append(name)
            return value
        return run

    tasks = [Task("a", slow("a", 2, 0.05)), Task("b", slow("b", 3)),
             Task("c", lambda done: done["a"] * done["b"], after=("a", "b"))]
    assert run_tasks(tasks, workers=2) == {"a": 2, "b": 3, "c": 6}
    assert order == ["b", "a"]  # b did not wait for a: two at a time
    order.clear()
    threads = set()
    seq = [Task(n, lambda done, n=n: threads.add(threading.current_thread().name) or order.append(n))
           for n in "xyz"]
    run_tasks(seq, workers=1)
    assert order == ["x", "y", "z"] and threads == {threading.current_thread().name}
    with pytest.raises(ValueError, match="task 'c' runs after d, which must come earlier in the list"):
        run_tasks([Task("c", lambda d: 1, after=("d",)), Task("d", lambda d: 2)])
    with pytest.raises(ValueError, match="two tasks are named 'a'"):
        run_tasks([Task("a", lambda d: 1), Task("a", lambda d: 2)])

    def boom(msg):
        def run(done):
            raise RuntimeError(msg)
        return run

    with pytest.raises(RuntimeError, match="first"):
        run_tasks([Task("ok", lambda d: 1), Task("f1", boom("first")), Task("f2", boom("second")),
                   Task("after", lambda d: d["f1"], after=("f1",))], workers=2)
