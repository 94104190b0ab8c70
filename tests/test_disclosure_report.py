"""Nothing hidden can be worked back from a report built on small data with many small cells.

A 400-episode data set (plus a 'cupping' modality with only three episodes) is reported under the
internal and public rules. The attacks tried are the ones a reader can do with a pencil: a hidden
count that is the only hidden one in its row or column beside an exact total is that total minus
the shown counts.
"""

from __future__ import annotations

import html as htmlmod
import re

import pandas as pd
import pytest
from conftest import write_folder

from analysis import derive_outcomes, load_records, outcome_table
from analysis.app import build_report
from analysis.disclosure import disclosure_rule
from analysis.methods import baseline_table, completeness_table, exclusions_table
from analysis.present import (
    format_baseline_table,
    format_completeness_table,
    format_exclusions,
    format_outcome_table,
)

HIDDEN = {"1-7", "-", "*"}


@pytest.fixture(scope="module")
def small_many_cells(tmp_path_factory):
    from analysis.records import make_sample

    ep, vi, cat = make_sample(400, seed=31)
    ep = ep.copy()
    ep.loc[ep.index[:3], "modality"] = "cupping"
    cat = pd.concat([cat, pd.DataFrame({"code": ["cupping"], "label": ["Cupping"],
                                        "description": ["Suction cups on the skin."]})], ignore_index=True)
    vi = vi.copy()
    cupping_ids = set(ep.loc[ep.index[:3], "episode_id"])
    vi.loc[vi["episode_id"].isin(cupping_ids), "modalities"] = "cupping"
    return write_folder(tmp_path_factory.mktemp("small") / "data", ep, vi, cat)


@pytest.fixture(scope="module")
def outcomes(small_many_cells):
    return derive_outcomes(load_records(small_many_cells))


def _count(cell: str):
    """The count a cell shows (None if hidden or not a count)."""
    cell = str(cell).strip()
    if cell in HIDDEN or cell == "":
        return None
    m = re.match(r"^([\d,]+)( \(|$)", cell)
    return int(m.group(1).replace(",", "")) if m else None


def _lone_hidden(cells: list[str], total_shown: bool) -> bool:
    hidden = [c for c in cells if str(c).strip() in HIDDEN]
    return total_shown and len(hidden) == 1


@pytest.mark.parametrize("rule_name", ["internal", "public"])
def test_baseline_table_resists_subtraction(outcomes, rule_name):
    rule = disclosure_rule(rule_name)
    wide = format_baseline_table(baseline_table(outcomes), rule=rule)
    groups = [c for c in wide.columns if c not in ("Characteristic", "Overall")]
    episodes = wide.iloc[0]
    assert any(str(wide[g].iloc[i]).strip() in HIDDEN for g in groups for i in range(len(wide)))  # many small cells
    # rows: a level's cells add up to its Overall
    blocks, current = [], []
    for i, ch in enumerate(wide["Characteristic"]):
        if not ch.startswith("    "):
            if current:
                blocks.append(current)
            current = [i] if ch.endswith(", n (%)") and ch.count(",") == 1 else []
            if current and wide.iloc[i][groups].astype(str).str.strip().ne("").any():
                current = []  # a yes/no item: one row only, no column block
        elif current and not ch.strip().startswith("SMD"):
            current.append(i)
    if current:
        blocks.append(current)
    checked = 0
    for i in range(len(wide)):
        ch = wide["Characteristic"].iloc[i].strip()
        if ch.startswith("SMD") or ch in ("mean (SD)", "median [IQR]"):
            continue
        row = wide.iloc[i]
        cells = [row[g] for g in groups] + [row["Overall"]]
        if all(str(c).strip() == "" for c in cells):
            continue
        assert not _lone_hidden(cells, total_shown=True), f"row {ch!r} under {rule_name}: {cells}"
        checked += 1
    # columns of a categorical block add up to the group's episodes
    for block in blocks:
        rows = block[1:]
        for g in groups + ["Overall"]:
            cells = [wide[g].iloc[i] for i in rows]
            total_shown = _count(episodes[g]) is not None
            assert not _lone_hidden(cells, total_shown), f"{wide['Characteristic'].iloc[block[0]]} / {g}: {cells}"
    assert checked > 20 and blocks


@pytest.mark.parametrize("rule_name", ["internal", "public"])
def test_outcome_and_completeness_tables_resist_subtraction(outcomes, rule_name):
    rule = disclosure_rule(rule_name)
    ot = format_outcome_table(outcome_table(outcomes), rule=rule)
    assert not _lone_hidden(list(ot["Episodes"].iloc[1:]), _count(ot["Episodes"].iloc[0]) is not None)
    for col in ot.columns[2:]:
        ns = [re.search(r"n = ([\d,]+|not shown)", str(c)) for c in ot[col]]
        shown = ["-" if m is None or m.group(1) == "not shown" else m.group(1) for m in ns]
        assert not _lone_hidden(shown[1:], shown[0] != "-"), (col, shown)
    ct = format_completeness_table(completeness_table(outcomes), rule=rule)
    for col in ct.columns[1:]:
        assert not _lone_hidden(list(ct[col].iloc[1:]), _count(ct[col].iloc[0]) is not None), (col, list(ct[col]))
    ex = format_exclusions(exclusions_table(outcomes), rule=rule)
    for _, rows in ex.groupby("Analysis"):
        cells = [rows["Episodes included"].iloc[0], *rows["Left out"]]
        assert not _lone_hidden(cells, True), cells


def _table_cells(html: str) -> list[str]:
    return [htmlmod.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)]


@pytest.fixture(scope="module")
def reports(small_many_cells, tmp_path_factory):
    out = {}
    for rule in ("internal", "public"):
        path = tmp_path_factory.mktemp(rule) / f"{rule}.html"
        build_report(small_many_cells, path, disclosure=rule, progress=None)
        out[rule] = path.read_text(encoding="utf-8")
    return out


def test_public_report_counts_are_multiples_of_five(reports):
    cells = _table_cells(reports["public"])
    counts = []
    for c in cells:
        m = re.match(r"^([\d,]+)(?: \(|$)", c)
        if m:
            counts.append(int(m.group(1).replace(",", "")))
        counts += [int(x.replace(",", "")) for x in re.findall(r"n = ([\d,]+)", c)]
    assert len(counts) > 50
    assert all(n % 5 == 0 for n in counts), sorted({n for n in counts if n % 5})


@pytest.mark.parametrize("rule", ["internal", "public"])
def test_nothing_rests_on_three_episodes_anywhere(reports, rule):
    """The issue's example: alt text read 'cupping -1.29 (-2.95 to 0.37)' on three episodes."""
    page = reports[rule]
    alts = re.findall(r'alt="([^"]*)"', page)
    cupping = [a for a in alts if "Cupping" in a]
    assert cupping, "the forest plots' alt text should still name the modality"
    for a in alts:
        for m in re.finditer(r"Cupping ([^;.]*)", a):
            assert m.group(1).startswith(("not shown", "not estimable")), m.group(0)
            assert not re.search(r"\d", m.group(1)), m.group(0)
    assert any("Cupping not shown" in a for a in alts)  # the leg pain model does estimate it: hidden by the rule
    text = htmlmod.unescape(re.sub(r"<[^>]+>", " ", re.sub(r'data:[^"]+', "", page)))
    for m in re.finditer(r"Cupping\s+(\S+)", text):
        assert m.group(1) in HIDDEN | {"not", "0"} or not re.match(r"^[\d.+-]", m.group(1)), m.group(0)


def test_public_report_shows_no_rate_on_one_to_seven_events(outcomes, reports):
    """Surgery-free rates resting on a handful of surgeries are not shown under the public rule."""
    tab = outcome_table(outcomes, labels=load_records_labels(outcomes))
    few = tab[(tab["surgery_free_events"] >= 1) & (tab["surgery_free_events"] <= 7)]
    assert len(few), "the small data set should have modalities with 1-7 surgeries"
    ot = format_outcome_table(tab, rule=disclosure_rule("public"))
    col = [c for c in ot.columns if c.startswith("Surgery-free")][0]
    for label in few["label"]:
        assert ot.loc[ot["Modality"] == label, col].iloc[0] == "*"


def load_records_labels(outcomes):
    return {m: m for m in outcomes["modality"].unique()}


def test_survival_curves_stop_where_fewer_than_eight_remain(outcomes):
    from analysis.methods import survival_curves

    curves, _ = survival_curves(outcomes, min_n=8, min_at_risk=8)
    assert (curves["n_risk"] >= 8).all()
    assert curves.groupby("group")["stopped"].any().any()


def test_disclosure_paragraph_explains_secondary_suppression(reports):
    for page in reports.values():
        assert "some counts of 8 or more are hidden too" in page or "some larger counts are suppressed too" in page
        assert "fewer than 8 patients remain at risk" in page
