"""The clinic-meeting report: self-contained, no code, no ids, alt text, disclosure, real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import DataProblemError
from analysis.app import build_report
from analysis.app.cli import main

ARTIFACTS = Path(__file__).resolve().parents[1] / "reports" / "test-artifacts"


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory, sample_dir):
    out = tmp_path_factory.mktemp("report") / "sample.html"
    build_report(sample_dir, out, progress=None)
    return out.read_text(encoding="utf-8")


def _without_data_uris(html: str) -> str:
    return re.sub(r"data:[a-z/+.-]+;base64,[A-Za-z0-9+/=]+", "data:", html)


def test_no_external_references(sample_report):
    text = _without_data_uris(sample_report)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", text, flags=re.I)
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, flags=re.I)
    assert not re.search(r"<link\b", text, flags=re.I)
    assert "@import" not in text
    urls = re.findall(r"url\(\s*['\"]?([^)'\"]*)", text)
    assert all(u.startswith(("data:", "#")) for u in urls), urls


def test_no_code_is_shown(sample_report):
    for code in ("import analysis", "DATA_FOLDER", "an.prepare(", "display(", "class=\"jp-CodeMirrorEditor",
                 "class=\"highlight"):
        assert code not in sample_report


def test_no_ids_from_the_data(sample_report, sample_dir):
    ep = pd.read_csv(sample_dir / "episodes.csv", dtype=str)
    ids = set(ep["episode_id"]) | set(ep["patient_id"])
    tokens = set(re.findall(r"[A-Za-z0-9_-]+", _without_data_uris(sample_report)))
    assert not (tokens & ids)


def test_every_image_has_alt_text(sample_report):
    imgs = re.findall(r"<img\b[^>]*>", sample_report)
    assert len(imgs) >= 6
    for img in imgs:
        alt = re.search(r'alt="([^"]*)"', img)
        assert alt and len(alt.group(1)) > 20, img[:80]


def test_contents_in_meeting_order(sample_report):
    order = ["Headline figures", "Outcomes by modality", "Adjusted comparisons", "Leg pain over the course",
             "Avoiding surgery", "Therapists compared", "Who was treated", "Data completeness", "Methods and definitions"]
    positions = [sample_report.find(h) for h in order]
    assert all(p > 0 for p in positions) and positions == sorted(positions)
    assert "Disclosure control (internal)" in sample_report
    assert "do not prove that a modality causes" in sample_report
    assert "McKenzie (MDT)" in sample_report  # labels from the catalogue, not codes
    assert "Numbers at risk" in sample_report or "numbers at risk" in sample_report


def test_print_stylesheet(sample_report):
    assert "@media print" in sample_report and "size: A4" in sample_report


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, sample_dir):
    """The sample with 3 episodes moved to a new, tiny modality."""
    folder = tmp_path_factory.mktemp("tiny") / "data"
    shutil.copytree(sample_dir, folder)
    ep = pd.read_csv(folder / "episodes.csv", dtype=str, keep_default_na=False)
    ep.loc[:2, "modality"] = "cupping"
    ep.to_csv(folder / "episodes.csv", index=False)
    cat = pd.read_csv(folder / "modalities.csv", dtype=str, keep_default_na=False)
    cat = pd.concat([cat, pd.DataFrame([{"code": "cupping", "label": "Cupping therapy", "description": ""}])])
    cat.to_csv(folder / "modalities.csv", index=False)
    return folder


def _row(html: str, label: str) -> str:
    m = re.search(rf"<tr>\s*<td>{re.escape(label)}</td>(.*?)</tr>", html, flags=re.S)
    assert m, label
    return m.group(1)


def test_internal_rule_suppresses_small_modality(tiny_folder, tmp_path):
    out = build_report(tiny_folder, tmp_path / "r.html", progress=None)
    html = out.read_text()
    row = _row(html, "Cupping therapy")
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells[0] == "1-7"          # 3 episodes shown as 1-7
    assert set(cells[1:]) == {"-"}    # no rate or mean over fewer than 8 episodes
    assert "<small>10 modalities</small>" in html  # a count of modalities is not a count of people
    assert "Disclosure control (internal)" in html


def test_public_rule_rounds_and_suppresses(tiny_folder, tmp_path):
    out = build_report(tiny_folder, tmp_path / "p.html", disclosure="public", progress=None)
    html = out.read_text()
    cells = re.findall(r"<td>(.*?)</td>", _row(html, "Cupping therapy"))
    assert cells[0] == "*"
    overall = re.findall(r"<td>(.*?)</td>", _row(html, "Overall"))
    assert overall[0] == "1,500"  # 1,500 is already a multiple of 5
    episodes = [re.findall(r"<td>(.*?)</td>", _row(html, lab))[0] for lab in ("Dry needling", "Traction")]
    assert all(int(e.replace(",", "")) % 5 == 0 for e in episodes)
    assert "Disclosure control (public, NHS England HES rule)" in html


def test_none_rule_is_exact_and_says_so(sample_dir, tmp_path):
    out = build_report(sample_dir, tmp_path / "n.html", disclosure="none", progress=None)
    assert "No disclosure control" in out.read_text()


def test_invalid_data_writes_nothing(small_folder, tmp_path):
    ep = pd.read_csv(small_folder / "episodes.csv", dtype=str, keep_default_na=False)
    ep.loc[0, "sex"] = "f"
    ep.to_csv(small_folder / "episodes.csv", index=False)
    out = tmp_path / "bad.html"
    with pytest.raises(DataProblemError):
        build_report(small_folder, out, progress=None)
    assert not out.exists()


def test_failed_build_leaves_no_file(sample_dir, tmp_path):
    broken = tmp_path / "broken.ipynb"
    nb = json.loads(Path(__file__).resolve().parents[1].joinpath("notebooks", "report.ipynb").read_text())
    nb["cells"].insert(2, {"cell_type": "code", "id": "boom", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": "raise RuntimeError('boom')"})
    broken.write_text(json.dumps(nb))
    out = tmp_path / "out" / "r.html"
    with pytest.raises(Exception, match="boom"):  # papermill's execution error carries the cell's error
        build_report(sample_dir, out, template=broken, progress=None)
    assert not out.exists()
    assert not list((tmp_path / "out").glob("*"))


def test_cli_report_exit_codes(sample_dir, small_folder, tmp_path, capsys):
    assert main(["report", str(sample_dir), "-o", str(sample_dir / "x.html")]) == 2
    assert "must not be written inside the data folder" in capsys.readouterr().err
    assert main(["report", str(sample_dir), "-o", str(tmp_path / "x.pdf")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["report", str(sample_dir), "--disclosure", "secret"])
    assert exc.value.code == 2
    ep = pd.read_csv(small_folder / "episodes.csv", dtype=str, keep_default_na=False)
    ep.loc[0, "global_change"] = "9"
    ep.to_csv(small_folder / "episodes.csv", index=False)
    assert main(["report", str(small_folder), "-o", str(tmp_path / "bad.html")]) == 1
    assert not (tmp_path / "bad.html").exists()


def test_cli_report_with_filters(sample_dir, tmp_path):
    out = tmp_path / "nth.html"
    r = subprocess.run([sys.executable, "-m", "analysis", "report", str(sample_dir), "-o", str(out), "--clinic", "NTH",
                        "--title", "North clinic, 2025", "--from", "2025-01-01"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "[2/3]" in r.stderr and "Traceback" not in r.stderr
    html = out.read_text()
    assert "North clinic, 2025" in html and "Clinics: NTH (selected)" in html
    assert "therapists, observed minus expected" in html  # one clinic: the funnel plot compares therapists


def test_report_in_headless_chromium_offline(sample_dir, tmp_path):
    """Load the report with every network request blocked: no failed request, no console error."""
    from conftest import require_chromium

    chromium = require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    out = build_report(sample_dir, tmp_path / "browser.html", progress=None)
    failed, errors, external = [], [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def route(r):
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                external.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.goto(out.as_uri())
        page.wait_for_load_state("load")
        n_img = page.locator("img").count()
        loaded = page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert external == [] and failed == [] and errors == []
    assert n_img >= 6 and loaded
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_headline_numbers_match_the_summary(sample_report, sample_dir):
    from analysis import load_records
    from analysis.methods import summarise

    o = summarise(load_records(sample_dir))["overall"]
    heads = dict(re.findall(r"<div>([^<]+)<span class=[\"']value[\"']>([^<]+)</span>", sample_report))
    assert heads["Episodes of care"] == f"{o['episodes']:,}"
    assert heads["Average change in leg pain"] == f"{o['leg_pain_change']['mean']:+.1f}"
    mi = o["recovered_missing_adjusted"]
    assert heads["Recovered at discharge (missing ratings imputed)"] == f"{100 * mi['rate']:.0f}%"
    # the complete-case rate stands beside it
    assert f"{100 * o['recovered']['rate']:.0f}% of those who gave a rating" in sample_report
    assert heads["Surgery-free at 365 days"] == f"{100 * o['surgery_free']['rate']:.0f}%"
