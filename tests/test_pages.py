"""The report as a clinician sees it: Chromium at 1366 x 768, and printed to A4 by Chromium (issue 19).

Screenshots and the PDF of each run are kept in reports/test-artifacts/ (kept on failure too).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from analysis.app import build_report

ARTIFACTS = Path(__file__).resolve().parents[1] / "reports" / "test-artifacts"
LAPTOP = {"width": 1366, "height": 768}

# every element that would be cut off: its right edge beyond the page, or clipped by a scrolling box
_OVERFLOW_JS = """() => {
  const W = document.documentElement.clientWidth;
  const out = [];
  for (const e of document.querySelectorAll('img, table, th, td, figure, details, .report-headline, p, h1, h2')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.right > W + 1) out.push(e.tagName + ' right ' + Math.round(r.right) + ' > ' + W);
    for (let a = e.parentElement; a; a = a.parentElement) {
      if (a.scrollWidth > a.clientWidth + 1 && getComputedStyle(a).overflowX !== 'visible') {
        out.push(e.tagName + ' in a box scrolling sideways (' + a.scrollWidth + ' > ' + a.clientWidth + ')');
        break;
      }
    }
  }
  return [...new Set(out)].slice(0, 20);
}"""


@pytest.fixture(scope="module")
def browser():
    from conftest import require_chromium

    chromium = require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory, sample_dir) -> Path:
    return build_report(sample_dir, tmp_path_factory.mktemp("pages") / "sample.html", progress=None)


def _open(browser, path: Path, **kw):
    page = browser.new_page(viewport=LAPTOP, **kw)
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page


def test_report_at_laptop_width_has_nothing_off_screen(browser, report_file):
    """At 1366 px no table, figure or legend runs past the page or hides in a sideways-scrolling box."""
    page = _open(browser, report_file)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-1366-top.png"))
    page.screenshot(path=str(ARTIFACTS / "report-1366.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    assert page.evaluate(_OVERFLOW_JS) == []
    # every figure is drawn whole: shown at its natural size or scaled down, never cropped
    imgs = page.evaluate("[...document.images].map(i => [i.naturalWidth, i.clientWidth, i.naturalHeight,"
                         " i.clientHeight])")
    assert len(imgs) >= 6
    for nw, cw, nh, ch in imgs:
        assert cw <= nw and abs(nw / nh - cw / ch) < 0.02, (nw, cw, nh, ch)
    page.close()


def _pdf_text(path: Path) -> str:
    import pypdf

    return "\n".join(p.extract_text() for p in pypdf.PdfReader(str(path)).pages)


def _squeeze(s: str) -> str:
    """Without spaces or line breaks, ligatures (the PDF's "fi") spelled out."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


def test_report_printed_to_a4_keeps_every_column(browser, report_file, sample_dir):
    """Printed by Chromium to A4, every table keeps its last column and every modality is named in it."""
    from analysis import load_records

    page = _open(browser, report_file)
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 703, "height": 1000})  # A4 less the 12 mm margins, at 96 px per inch
    clipped = page.evaluate(_OVERFLOW_JS)
    tables = page.evaluate("""[...document.querySelectorAll('table')].map(t => ({
        head: [...t.querySelectorAll('thead th')].map(th => th.textContent.trim()),
        last: [...t.querySelectorAll('tbody tr')].map(tr => tr.lastElementChild ? tr.lastElementChild.textContent.trim() : ''),
        text: t.textContent}))""")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / "report-a4.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    page.close()
    assert clipped == []
    text = _squeeze(_pdf_text(pdf))
    missing = [cell for t in tables for cell in t["last"] if cell and _squeeze(cell) not in text]
    assert missing == [], f"{len(missing)} last-column cells not printed, e.g. {missing[:5]}"
    # every modality of the sample is printed in the baseline table and in the outcome table
    labels = load_records(sample_dir).labels
    for t in tables:
        named = [lab for lab in labels.values() if lab in t["text"]]
        for lab in named:
            assert all(_squeeze(w) in text for w in lab.split()), lab
    baseline_heads = {h for t in tables if t["head"] and t["head"][0] == "Characteristic" for h in t["head"]}
    assert set(labels.values()) <= baseline_heads


def test_figure_numbers_are_printed_and_reach_the_horizon(browser, report_file):
    """The Kaplan-Meier figure's numbers table (printed, open) gives day 365 for curves with >= 8 at risk there."""
    page = _open(browser, report_file)
    rows = page.evaluate("""[...document.querySelectorAll('details.figure-numbers table')]
        .filter(t => t.textContent.includes('at risk'))
        .map(t => [...t.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(td => td.textContent)))""")
    heads = page.evaluate("""[...document.querySelectorAll('details.figure-numbers table')]
        .filter(t => t.textContent.includes('at risk')).map(t => [...t.querySelectorAll('th')].map(h => h.textContent))""")
    page.emulate_media(media="print")
    shown_in_print = page.evaluate("""[...document.querySelectorAll('details.figure-numbers table')]
        .every(t => t.getBoundingClientRect().height > 0)""")
    n_numbers = page.evaluate("document.querySelectorAll('details.figure-numbers').length")
    page.close()
    assert n_numbers >= 5 and shown_in_print
    assert len(rows) == 1 and heads[0][-1] == "Day 365"
    reach = []
    for r in rows[0]:
        m = re.search(r"; ([\d,]+) at risk$", r[-1])
        reach.append(m is not None)
        if m:
            assert int(m.group(1).replace(",", "")) >= 8
    assert sum(reach) >= 7, rows[0]  # the sample's curves with 8-29 at risk at day 365


def test_printed_report_leaves_no_heading_alone_at_a_page_foot(browser, report_file):
    """No printed page ends with a section heading or a figure's "Numbers behind this figure" line, and
    no page holds nothing but such a line (issue 19: "Avoiding surgery" sat alone at a page foot)."""
    import pypdf

    page = _open(browser, report_file)
    page.emulate_media(media="print")
    heads = [h.replace("\u00b6", "").strip() for h in
             page.evaluate("[...document.querySelectorAll('h1, h2, h3')].map(h => h.textContent)")]
    pdf = ARTIFACTS / "report-a4-pages.pdf"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(pdf), format="A4", print_background=True)
    page.close()
    lonely = {_squeeze(h) for h in heads if h} | {_squeeze("Numbers behind this figure")}
    bad = []
    for i, p in enumerate(pypdf.PdfReader(str(pdf)).pages):
        lines = [ln for ln in (p.extract_text() or "").splitlines() if ln.strip()]
        if lines and _squeeze(lines[-1]) in lonely:
            bad.append((i + 1, lines[-1]))
    assert bad == [], f"pages ending with a heading: {bad}"
