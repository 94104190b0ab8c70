"""What a clinician reads: codes as clinical labels, jargon replaced or read out in plain words (issue 19)."""

from __future__ import annotations

import pandas as pd

from analysis.disclosure import disclosure_rule
from analysis.methods import baseline_table
from analysis.present import format_adjusted_table, format_baseline_table, format_benchmark_table, header_html, logrank_html


def test_causes_read_as_clinical_labels_in_the_baseline_table(data):
    _, out = data
    wide = format_baseline_table(baseline_table(out))
    rows = [c.strip() for c in wide["Characteristic"]]
    assert "Disc herniation" in rows and "disc_herniation" not in rows
    assert "Female" in rows and "Cause not recorded" in rows


def test_report_header_names_subgroups_in_words(data):
    rec, _ = data
    text = str(header_html(rec, title="t", where={"cause": ["disc_herniation"], "surgical_candidate": [True]}))
    assert "cause Disc herniation" in text and "surgical candidate yes" in text


def test_adjusted_table_says_caution_and_holm_in_words():
    row = {"modality": "a", "difference": 0.5, "ci_low": -0.1, "ci_high": 1.1, "p_holm": 1.0, "e_value": 1.64,
           "status": "caution", "reason": "few_events"}
    frame = pd.DataFrame([row])
    adj = {"leg_pain_change": frame, "recovered": frame.rename(columns={"difference": "odds_ratio"}),
           "surgery": frame.rename(columns={"difference": "hazard_ratio"})}
    cell = format_adjusted_table(adj).iloc[0, 1]
    assert cell == "+0.50 (-0.10 to +1.10), Holm p > 0.99, E-value 1.64 (caution: few events for the model)"
    assert " !" not in cell


def test_benchmark_cells_have_no_minus_zero_and_no_jargon():
    b = pd.DataFrame({"unit": ["T1"], "n": [50], "observed": [3.0], "expected": [3.0], "difference": [-0.01],
                      "ci_low": [-0.5], "ci_high": [0.5], "shrunken": [-0.004], "flag": [None], "note": [None]})
    rc = b.assign(observed=40.0, expected=40.0)
    cell = format_benchmark_table(b, rc, rule=disclosure_rule("internal")).iloc[0, 2]
    assert "-0.0" not in cell and "shrunken" not in cell and "allowing for caseload size 0.0" in cell


def test_smd_and_logrank_read_in_plain_words(data):
    _, out = data
    wide = format_baseline_table(baseline_table(out))
    smd = wide[wide["Characteristic"].str.strip().str.startswith("SMD")]
    assert not smd.apply(lambda c: c.str.contains(">0.1", regex=False)).any().any()
    text = str(logrank_html({"chi2": 2.9, "df": 8, "p": 0.94}))
    assert text.startswith("<p>No clear evidence that the modalities' surgery-free curves differ")


def test_benchmarking_says_why_its_counts_are_lower(data):
    """1,366 with leg pain and 998 rated against 1,428 / 1,050 elsewhere, with the reason in words."""
    from analysis.app._compose import ReportContent
    from analysis.methods import OutcomeSettings

    rec, _ = data
    note = str(ReportContent(rec, settings=OutcomeSettings(), rule=disclosure_rule("internal")).benchmarking()[-1])
    assert "count 1,366 episodes with leg pain and 998 with a rating" in note, note
    assert "every case-mix item recorded" in note and "The outcome table counts 1,428 and 1,050" in note


def test_report_parameters_are_all_read_by_papermill():
    """Every parameter the report command passes is one papermill finds in the notebook (no 'unknown parameter')."""
    import inspect
    import re

    import papermill as pm

    from analysis.app import _report
    from analysis.app._resources import REPORT_NOTEBOOK

    found = set(pm.inspect_notebook(str(REPORT_NOTEBOOK)))
    passed = set(re.findall(r'"([A-Z_]+)":', inspect.getsource(_report.build_report))) | {"RECORDS_FILE"}
    assert passed <= found, passed - found
