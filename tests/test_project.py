"""Project hygiene: environment.yml in step with pyproject, docs generated from the schema, public API."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import analysis
from analysis.records.schema import data_dictionary_markdown

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> tuple[str, str]:
    req = req.strip()
    m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", req)
    return m.group(1).lower().replace("_", "-"), m.group(3).replace(" ", "")


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in py["dependencies"] + py["optional-dependencies"]["dev"]}
    conda = set()
    text = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    for line in text.splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z][^\s#]*)\s*$", line)
        if m and not line.strip().startswith("- -e") and not m.group(1).startswith(("python", "pip")):
            conda.add(_name(m.group(1)))
    assert conda == wanted


def test_data_dictionary_is_generated_from_the_schema():
    """docs/data-dictionary.md must equal analysis.records.schema.data_dictionary_markdown(); regenerate it if not."""
    assert (ROOT / "docs" / "data-dictionary.md").read_text() == data_dictionary_markdown()


def test_public_api_is_curated():
    for name in analysis.__all__:
        assert hasattr(analysis, name), name
        assert not name.startswith("_")


def test_notebooks_are_committed_without_outputs():
    """No patient-derived number ever lands in git: notebooks carry no outputs."""
    for nb in ROOT.glob("notebooks/**/*.ipynb"):
        if ".ipynb_checkpoints" in nb.parts:
            continue
        data = json.loads(nb.read_text())
        for cell in data["cells"]:
            assert not cell.get("outputs"), f"{nb.name} has outputs; strip them (nbstripout)"
            assert cell.get("execution_count") is None, f"{nb.name} has execution counts"


def test_every_notebook_figure_is_shown():
    """Each cell that draws a figure shows it (nbval runs the notebooks but cannot see a missing figure)."""
    import nbclient
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbclient.NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                                extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
        for cell in nb.cells:
            if cell.cell_type != "code" or "plots.plot_" not in cell.source:
                continue
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert images, f"{path.name}: a figure was drawn but not shown:\n{cell.source[:120]}"


def test_clustering_study_runs(tmp_path):
    """The simulation study script still runs end to end (2 replicates; the real run is 200)."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, str(ROOT / "studies" / "clustering_study.py"), "--replicates", "2"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "| leg pain difference | clustered by therapist (the product) | 8 |" in res.stdout
    assert "| recovery rate | multiple imputation (20, Rubin) | 12 |" in res.stdout


def test_ci_script_runs_make_test_with_ci_true():
    """CI must run the README's test command, and tell the tests it is CI (a missing browser fails)."""
    text = (ROOT / ".ci" / "run").read_text()
    assert "export CI=true" in text and text.strip().endswith("make test")
    assert "apt-get install" in text and "chromium" in text
