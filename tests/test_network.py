"""Clinic networks without pooling records (spec section 14): release, combine and models against pooled records.

The sample is split into its three clinics (CEN, NTH, STH). Every pooled figure is checked against the same
analysis of the pooled records: exactly (1e-10) where the arithmetic is exact, within the stated tolerance where
it is not (surgery-free survival from merged grids), and against an independently built design for the models.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import survdiff

from analysis import derive_outcomes, load_records
from analysis.app import NetworkResult, clinic_answer, combine_network, network_release, run_network
from analysis.app.cli import main
from analysis.disclosure import NodeSettings, ReleaseRefused, check_model_parts, protect_release
from analysis.methods import (
    OutcomeSettings,
    adjusted_comparisons,
    clinic_aggregates,
    combine_releases,
    outcome_table,
    surgery_logrank,
)
from analysis.stats import (
    cox_model,
    grid_survival,
    kaplan_meier,
    linear_model,
    logistic_model,
    logrank_combine,
    logrank_parts,
    logrank_test,
    merge_intervals,
)

CLINICS = ("CEN", "NTH", "STH")
OPEN = NodeSettings(min_episodes=1, min_cell=1)  # a node that withholds nothing: the arithmetic alone


@pytest.fixture(scope="module")
def sample():
    rec = load_records("data/sample")
    return rec, derive_outcomes(rec)


@pytest.fixture(scope="module")
def by_clinic(sample):
    return {c: d for c, d in sample[1].groupby("clinic")}


def _releases(by_clinic, node, settings=None):
    s = settings or OutcomeSettings()
    out = []
    for c, d in by_clinic.items():
        rel = protect_release(clinic_aggregates(d, settings=s, min_cell=node.min_cell), node=node)
        out.append(json.loads(json.dumps(rel)))  # what crosses the wire is JSON
    return out


@pytest.fixture(scope="module")
def network(sample, by_clinic):
    return run_network(by_clinic, labels=sample[0].labels)


@pytest.fixture(scope="module")
def open_network(sample, by_clinic):
    return run_network(by_clinic, labels=sample[0].labels, node=OPEN)


# ----------------------------------------------------------------- the pooling arithmetic (stats kernel)


def test_logrank_pieces_add_up_to_the_stratified_test():
    rng = np.random.default_rng(7)
    t = rng.integers(1, 60, 300).astype(float)
    e = rng.random(300) < 0.6
    g = rng.integers(0, 3, 300)
    site = rng.integers(0, 4, 300)
    parts = [logrank_parts(t[site == s], e[site == s], g[site == s], 3) for s in range(4)]
    chi2, p = survdiff(t, e.astype(float), g, strata=site)
    got = logrank_combine(parts)
    assert got["chi2"] == pytest.approx(chi2, abs=1e-10) and got["p"] == pytest.approx(p, abs=1e-12)
    assert got["df"] == 2


def test_grid_survival_on_daily_counts_is_kaplan_meier():
    rng = np.random.default_rng(3)
    sites = []
    times, events = [], []
    for _ in range(3):
        t = rng.integers(1, 120, 150).astype(float)
        e = rng.random(150) < 0.3
        grid = list(range(1, 101))
        ev = [int(((t == d) & e).sum()) for d in grid]
        ce = [int(((t == d) & ~e).sum()) if d < 100 else 0 for d in grid]
        sites.append({"n": 150, "grid": grid, "events": ev, "censored": ce})
        times.append(t)
        events.append(e)
    gs = grid_survival(sites, horizon=100)
    km = kaplan_meier(np.concatenate(times), np.concatenate(events))
    expected = km[km["time"] <= 100].iloc[-1]
    assert gs["survival"].iloc[-1] == pytest.approx(expected["survival"], abs=1e-12)
    assert gs["ci_low"].iloc[-1] == pytest.approx(expected["ci_low"], abs=1e-12)


def test_merged_intervals_leave_no_small_cell():
    rng = np.random.default_rng(11)
    for _ in range(200):
        ev = rng.poisson(rng.uniform(0.2, 6), (4, 12))
        ce = rng.poisson(rng.uniform(0.2, 6), (4, 12))
        ends = merge_intervals(ev, ce, min_cell=8)
        assert ends[-1] == 11
        bounds = np.r_[0, np.asarray(ends) + 1]
        for a, b in zip(bounds[:-1], bounds[1:]):
            block = np.r_[ev[:, a:b].sum(axis=1), ce[:, a:b].sum(axis=1)]
            if len(ends) > 1:  # a single interval is what remains when nothing finer is safe
                assert np.all((block == 0) | (block >= 8))


# ----------------------------------------------------------------- one round: crude table, survival, log-rank


CRUDE_EXACT = ["episodes", "leg_pain_change_n", "leg_pain_change_mean", "leg_pain_change_sd",
               "leg_pain_change_ci_low", "leg_pain_change_ci_high", "responder_n", "responder_events",
               "responder_rate", "responder_ci_low", "responder_ci_high", "recovered_n", "recovered_events",
               "recovered_rate", "recovered_ci_low", "recovered_ci_high", "surgery_free_n", "surgery_free_events"]


def test_crude_table_equals_pooled_records_exactly_when_nothing_is_withheld(sample, by_clinic):
    pooled = outcome_table(sample[1])
    net = combine_releases(_releases(by_clinic, OPEN))["crude"]
    assert net["group"].tolist() == pooled["group"].tolist()
    for col in CRUDE_EXACT:
        np.testing.assert_allclose(net[col].to_numpy(float), pooled[col].to_numpy(float), rtol=0, atol=1e-10,
                                   err_msg=col)


def test_withheld_rows_are_missing_and_the_rest_exact(sample, by_clinic):
    pooled = outcome_table(sample[1]).set_index("group")
    releases = _releases(by_clinic, NodeSettings())
    net = combine_releases(releases)
    crude = net["crude"].set_index("group")
    withheld = {(w["group"], w["outcome"]) for w in net["withheld"]}
    assert withheld, "the sample has small clinic x modality cells"
    for g in crude.index:
        for key in ("leg_pain_change", "responder", "recovered"):
            if (g, key) in withheld or (g, "all") in withheld:
                assert math.isnan(crude.loc[g, f"{key}_rate" if key != "leg_pain_change" else f"{key}_mean"])
                continue
            for col in [c for c in CRUDE_EXACT if c.startswith(key)]:
                assert crude.loc[g, col] == pytest.approx(pooled.loc[g, col], abs=1e-10), (g, col)
    assert crude.loc["Overall", "episodes"] == 1500


def test_surgery_free_from_merged_grids_is_within_the_stated_tolerance(sample, by_clinic):
    """Methods say: within 0.001 of the exact Kaplan-Meier figure at 365 days on the sample split by clinic."""
    pooled = outcome_table(sample[1]).iloc[0]
    net = combine_releases(_releases(by_clinic, NodeSettings()))["crude"].iloc[0]
    assert abs(net["surgery_free_rate"] - pooled["surgery_free_rate"]) < 0.001
    assert abs(net["surgery_free_ci_low"] - pooled["surgery_free_ci_low"]) < 0.001
    assert abs(net["surgery_free_ci_high"] - pooled["surgery_free_ci_high"]) < 0.001


def test_logrank_is_the_clinic_stratified_test_of_pooled_records(sample, by_clinic):
    o = sample[1]
    pop = o[o["in_population"]]
    expected = logrank_test(pop["surgery_time"], pop["surgery_event"], pop["modality"], strata=pop["clinic"])
    got = combine_releases(_releases(by_clinic, NodeSettings()))["logrank"]
    assert got["chi2"] == pytest.approx(expected["chi2"], abs=1e-10) and got["df"] == expected["df"]
    assert got["stratified_by"] == "clinic"
    # not the unstratified single-site test, which a network cannot compute
    assert surgery_logrank(o)["chi2"] != pytest.approx(got["chi2"], abs=1e-6)


# ----------------------------------------------------------------- what leaves a clinic


def _counts(rel):
    """Every count a release holds, with where it is."""
    for g, cell in rel["groups"].items():
        if cell["episodes"] is not None:
            yield (g, "episodes"), cell["episodes"]
        for key in ("leg_pain_change", "responder", "recovered", "surgery_free"):
            c = cell[key]
            if c is None:
                continue
            yield (g, key, "n"), c["n"]
            if "events" in c:
                yield (g, key, "events"), c["events"]
                yield (g, key, "non-events"), c["n"] - c["events"]
            if key == "surgery_free":
                for i, (e, z) in enumerate(zip(c["grid_events"], c["grid_censored"])):
                    yield (g, "grid", i, "events"), e
                    yield (g, "grid", i, "censored"), z


@pytest.mark.parametrize("clinic", CLINICS)
def test_every_released_count_is_zero_or_at_least_eight(by_clinic, clinic):
    node = NodeSettings()
    rel = protect_release(clinic_aggregates(by_clinic[clinic], min_cell=8), node=node)
    small = [(where, v) for where, v in _counts(rel) if 0 < v < 8]
    assert not small
    for des in rel["design"].values():
        assert all(c["n"] is None or c["n"] == 0 or c["n"] >= 8 for c in des["columns"].values())
    # withheld blocks cannot be worked out from the clinic's total: what is left over is 0 or >= 8
    agg = clinic_aggregates(by_clinic[clinic], min_cell=8)
    for key in ("leg_pain_change", "responder", "recovered"):
        shown = [m for m in rel["modalities"] if rel["groups"][m][key] is not None]
        if rel["groups"]["Overall"][key] is None:
            continue
        rest = agg["groups"]["Overall"][key]["n"] - sum(agg["groups"][m][key]["n"] for m in shown)
        assert rest == 0 or rest >= 8, key
    # the survival grids: the withheld modalities' surgeries per interval are 0 or >= 8 too
    gone = [m for m in rel["modalities"] if rel["groups"][m]["surgery_free"] is None]
    shown = [m for m in rel["modalities"] if rel["groups"][m]["surgery_free"] is not None]
    if gone and shown:
        full_grid = agg["grid"]
        bounds = [0] + [full_grid.index(e) + 1 for e in rel["grid"]]
        for a, b in zip(bounds[:-1], bounds[1:]):
            s = sum(sum(agg["groups"][m]["surgery_free"]["grid_events"][a:b]) for m in gone)
            assert s == 0 or s >= 8


def test_a_release_holds_no_identifier_and_no_row(by_clinic, sample):
    ids = set(sample[1]["episode_id"].astype(str)) | set(sample[1]["patient_id"].astype(str)) | \
        set(sample[1]["therapist"].dropna().astype(str))
    text = json.dumps(network_release("data/sample", clinic="CEN"))
    assert not [i for i in ids if f'"{i}"' in text]
    assert len(text) < 20_000


def test_refusals_below_the_minimums(by_clinic):
    sth = by_clinic["STH"]
    with pytest.raises(ReleaseRefused, match=r"clinic STH has 321 episodes in this selection; the node releases "
                                             r"nothing below 400"):
        protect_release(clinic_aggregates(sth), node=NodeSettings(min_episodes=400))
    with pytest.raises(ReleaseRefused, match="compute them with min_cell=10"):
        protect_release(clinic_aggregates(sth, min_cell=8), node=NodeSettings(min_cell=10))
    with pytest.raises(ValueError, match="min_clinics must be at least 3"):
        NodeSettings(min_clinics=2)
    releases = _releases(by_clinic, NodeSettings())
    with pytest.raises(ValueError, match=r"2 clinic release\(s\): a network analysis needs at least 3 clinics"):
        combine_releases(releases[:2])
    with pytest.raises(ValueError, match="clinic CEN sent two releases"):
        combine_releases([releases[0], *releases])
    with pytest.raises(ValueError, match="not a clinic release of this version"):
        combine_releases([{**r, "format": "other"} for r in releases])
    with pytest.raises(ValueError, match="a release holds one clinic's episodes"):
        clinic_aggregates(pd.concat(list(by_clinic.values())))
    design = {"key": "leg_pain_change", "reference": "electrotherapy", "modalities": ["pilates"],
              "columns": ["const", "modality:pilates"], "merged": [], "left_out": {}, "not_estimable": {},
              "min_cell": 8}
    with pytest.raises(ReleaseRefused, match="the node takes part only with at least 3"):
        clinic_answer(sth, {"design": design, "beta": None, "round": 1, "clinics": 2})
    with pytest.raises(ReleaseRefused, match="round 31 of this model: the node answers at most 30 rounds"):
        clinic_answer(sth, {"design": {**design, "key": "recovered"}, "beta": [0.0, 0.0], "round": 31,
                            "clinics": 3})
    with pytest.raises(ReleaseRefused, match="the design's smallest cell is 2"):
        clinic_answer(sth, {"design": {**design, "min_cell": 2}, "beta": None, "round": 1, "clinics": 3})
    parts = {"n": 100, "column_counts": {"modality:pilates": 5}}
    with pytest.raises(ReleaseRefused, match=r"design column\(s\) .* with 1-7 episodes here"):
        check_model_parts(parts, design=design)
    with pytest.raises(ReleaseRefused, match="one parameter per three episodes"):
        check_model_parts({"n": 60, "column_counts": {}}, design={"columns": ["c"] * 21})


def test_json_round_trip_and_order_do_not_change_anything(by_clinic, network):
    releases = _releases(by_clinic, NodeSettings())
    a = combine_network(releases).summary()
    b = combine_network(list(reversed(releases))).summary()
    assert a == b
    again = NetworkResult.from_json(network.to_json())
    assert again.summary() == network.summary()
    reordered = run_network(dict(reversed(list(by_clinic.items()))), labels=network.labels)
    assert reordered.summary() == network.summary()


# ----------------------------------------------------------------- the adjusted models


def _rows(adj, key, est):
    return adj[key].set_index("modality")[[est, "ci_low", "ci_high", "p"]]


def test_models_equal_the_pooled_records_models_when_nothing_is_withheld(sample, open_network):
    o = sample[1]
    single = adjusted_comparisons(o, cluster="none", models=("leg_pain_change", "recovered"))
    net = open_network.adjusted
    assert net["reference"] == single["reference"]
    assert not any(d["merged"] or d["left_out"] for d in net["designs"].values())
    pd.testing.assert_frame_equal(_rows(net, "leg_pain_change", "difference"),
                                  _rows(single, "leg_pain_change", "difference"), rtol=0, atol=1e-9)
    # Newton to 1e-10 on both sides
    pd.testing.assert_frame_equal(_rows(net, "recovered", "odds_ratio"), _rows(single, "recovered", "odds_ratio"),
                                  rtol=1e-7, atol=1e-8)
    assert net["rounds"]["leg_pain_change"] == 1 and net["rounds"]["recovered"] <= 10


def _independent_design(d: pd.DataFrame, columns: list[str]) -> np.ndarray:
    cols = []
    for name in columns:
        if name == "const":
            cols.append(np.ones(len(d)))
        elif ":" in name:
            var, level = name.split(":", 1)
            cols.append((d[var].astype(str) == level).to_numpy(float))
        else:
            cols.append(d[name].to_numpy(float))
    return np.column_stack(cols)


def _model_rows(d, key, design):
    """The pooled records' episodes of a model under the network's design (clinics' left-out cells removed)."""
    d = d[d["baseline_leg_pain"].notna() & d[["age_band", "sex", "symptom_band", "cause", "clinic"]].notna().all(axis=1)]
    d = d[d["final_leg_pain"].notna()] if key == "leg_pain_change" else (
        d[d["recovered"].notna()] if key == "recovered" else d[d["in_population"]])
    keep = d["modality"].isin([design["reference"], *design["modalities"]])
    for clinic, mods in design["left_out"].items():
        keep &= ~((d["clinic"] == clinic) & d["modality"].isin(mods))
    return d[keep]


def test_models_with_the_nodes_minimums_equal_the_pooled_records_on_that_design(sample, network):
    o = sample[1]
    for key, est in (("leg_pain_change", "difference"), ("recovered", "odds_ratio"), ("surgery", "hazard_ratio")):
        design = network.adjusted["designs"][key]
        d = _model_rows(o, key, design)
        X = _independent_design(d, design["columns"])
        names = design["columns"]
        if key == "leg_pain_change":
            fit = linear_model(d["final_leg_pain"], X, names=names)
        elif key == "recovered":
            fit = logistic_model(d["recovered"].astype(float), X, names=names)
        else:
            fit = cox_model(d["surgery_time"], d["surgery_event"], X, names=names, strata=d["clinic"])
        tab = fit.table.set_index("term")
        got = network.adjusted[key].set_index("modality")
        for m in design["modalities"]:
            coef = tab.loc[f"modality:{m}", "coef"]
            value = coef if key == "leg_pain_change" else math.exp(coef)
            assert got.loc[m, est] == pytest.approx(value, rel=1e-7, abs=1e-9), (key, m)
            assert got.loc[m, "p"] == pytest.approx(tab.loc[f"modality:{m}", "p"], rel=1e-6, abs=1e-9), (key, m)
    assert network.adjusted["rounds"]["surgery"] <= NodeSettings().max_rounds


def test_network_summary_has_the_section_6_keys(network):
    doc = network.summary()
    assert {"data", "settings", "overall", "modalities", "tests", "adjusted", "network"} <= set(doc)
    assert doc["tests"]["surgery_logrank"]["stratified_by"] == "clinic"
    others = {m["modality"] for m in doc["modalities"]} - {doc["adjusted"]["reference"]}
    for key in ("leg_pain_change", "recovered", "surgery"):
        assert {r["modality"] for r in doc["adjusted"][key]} == others
    assert isinstance(doc["overall"]["recovered"]["n"], int)
    json.dumps(doc, allow_nan=False)


# ----------------------------------------------------------------- the command line


def test_cli_release_and_combine(tmp_path, capsys, sample):
    paths = []
    for c in CLINICS:
        out = tmp_path / f"{c}.json"
        assert main(["network", "release", "data/sample", "--clinic", c, "-o", str(out)]) == 0
        paths.append(str(out))
    text = capsys.readouterr().out
    assert "Release of clinic STH: 321 episodes" in text and "Education and advice" in text
    assert main(["network", "combine", *paths, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    pooled = outcome_table(sample[1]).iloc[0]
    assert doc["overall"]["leg_pain_change"]["mean"] == pytest.approx(pooled["leg_pain_change_mean"], abs=1e-12)
    assert doc["data"]["visits"] == len(sample[0].visits)
    assert main(["network", "combine", *paths[:2]]) == 2
    assert "needs at least 3 clinics" in capsys.readouterr().err
    assert main(["network", "release", "data/sample", "-o", str(tmp_path / "x.json")]) == 2
    assert "choose it with --clinic" in capsys.readouterr().err
    assert main(["network", "release", "data/sample", "--clinic", "CEN", "-o", "data/sample/r.json"]) == 2
    assert main(["network", "release", "data/sample", "--clinic", "STH", "--min-episodes", "400",
                 "-o", str(tmp_path / "sth.json")]) == 1
    assert "Nothing released: clinic STH has 321 episodes" in capsys.readouterr().out
    assert not (tmp_path / "sth.json").exists()


# ----------------------------------------------------------------- the report


def _boxes(html: str) -> list[tuple[str, str, str]]:
    import re

    return re.findall(r"<div>([^<]+)<span class='value'>([^<]*)</span><small>([^<]*)</small></div>", html)


def test_network_headline_shows_the_single_site_figures(sample, network):
    """The network report's headline: the single-site report's figures on the pooled sample."""
    from analysis.app import NetworkReportContent, ReportContent
    from analysis.disclosure import disclosure_rule

    rule = disclosure_rule("internal")
    single = _boxes(str(ReportContent(sample[0], settings=OutcomeSettings(), rule=rule).headline()))
    net = _boxes(str(NetworkReportContent(network, rule=rule).headline()))
    assert [b[1] for b in net[:2]] == [b[1] for b in single[:2]]  # episodes, leg pain change
    assert net[3][1:] == single[3][1:]  # surgery-free at 365 days, with its interval
    # recovery: the network's rate among those rated is the single-site card's complete-case figure
    assert f"{net[2][1]} of those who gave a rating" in single[2][2]
    assert single[2][0] == "Recovered at discharge (missing ratings imputed)" and net[2][0] == "Recovered at discharge"


def test_cli_writes_the_network_report(tmp_path, capsys):
    paths = []
    for c in CLINICS:
        paths.append(str(tmp_path / f"{c}.json"))
        assert main(["network", "release", "data/sample", "--clinic", c, "-o", paths[-1]]) == 0
    out = tmp_path / "network.html"
    assert main(["network", "combine", *paths, "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "3 clinics (CEN, NTH, STH), 1,500 episodes" in html
    assert "each clinic sends its surgeries and censorings per interval" in html  # the survival method, stated
    assert "stratified by clinic" in html
    import re

    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", html, flags=re.I)  # fetches nothing


def test_cli_report_reads_the_central_steps_output(tmp_path, capsys, network):
    """``network report``: the summary (and report) from vantage6's central result, adjusted rows included."""
    out = tmp_path / "central.json"
    out.write_text(json.dumps({"summary": network.summary(), "result": network.to_json()}), encoding="utf-8")
    assert main(["network", "report", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(json.dumps(network.summary()))
    assert doc["adjusted"]["recovered"] and doc["adjusted"]["reference"] == network.adjusted["reference"]
    refused = tmp_path / "refused.json"
    refused.write_text(json.dumps({"refused": "organisation 3 refused partial_release: clinic STH has 321 episodes"}))
    assert main(["network", "report", str(refused)]) == 2
    assert "the network analysis was refused (organisation 3 refused" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else"}))
    assert main(["network", "report", str(other)]) == 2
    assert "is not a physio-outcomes network result" in capsys.readouterr().err
