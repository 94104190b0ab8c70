"""The layers of spec section 13, checked on every import (function-local ones too).

import-linter (contracts in pyproject.toml) builds its graph with grimp, which
reads every ``import`` statement of every module, wherever it sits. These tests
run it, check the rule it has no contract for (a ``_private`` module is used
only inside its own folder), check that grimp's graph really holds every
import an AST walk finds, and show that an upward import hidden inside a
function breaks the contract.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "analysis"
LINT = Path(sys.executable).with_name("lint-imports")
FOLDERS = ("records", "stats", "methods", "disclosure", "present", "app")


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=cwd,
                          capture_output=True, text=True, env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"},
                          timeout=300)


def test_import_contracts_are_kept():
    res = _lint(ROOT, PKG.parent)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


def test_a_function_local_upward_import_breaks_the_contract(tmp_path):
    """The contract is not blind: stats importing the presentation layer inside a function fails it."""
    copy = tmp_path / "src"
    shutil.copytree(PKG, copy / "analysis", ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "analysis" / "stats" / "_intervals.py"
    target.write_text(target.read_text() + "\n\ndef _sneaky():\n    from ..present import table_html\n"
                      "    return table_html\n")
    res = _lint(tmp_path, copy)
    assert res.returncode != 0
    assert "analysis.stats._intervals -> analysis.present" in res.stdout


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _ast_imports() -> set[tuple[str, str]]:
    """(importer, imported module) for every import of an ``analysis`` module, anywhere in a file."""
    found = set()
    for path in PKG.rglob("*.py"):
        importer = _module_name(path)
        package = importer if path.name == "__init__.py" else importer.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if not mod.startswith("analysis"):
                    continue
                for alias in node.names:  # "from . import schema" imports a module
                    sub = f"{mod}.{alias.name}"
                    as_path = PKG.parent / sub.replace(".", "/")
                    found.add((importer, sub if as_path.with_suffix(".py").exists() or as_path.is_dir() else mod))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("analysis"):
                        found.add((importer, alias.name))
    return {(a, b) for a, b in found if a != b}


@pytest.fixture(scope="module")
def graph():
    sys.path.insert(0, str(PKG.parent))
    return grimp.build_graph("analysis", cache_dir=None)


def test_the_graph_sees_every_import(graph):
    """Every import an AST walk finds (function-local ones included) is an edge of the checked graph."""
    wanted = _ast_imports()
    assert len(wanted) > 90
    missing = sorted((a, b) for a, b in wanted if not graph.direct_import_exists(importer=a, imported=b))
    assert not missing, missing[:10]
    local = [(a, b) for a, b in wanted if a.startswith("analysis.app.cli")]
    assert len(local) >= 5  # the command line imports most of what it runs inside its functions


def test_private_modules_are_used_only_inside_their_folder(graph):
    bad = []
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            parts = imported.split(".")
            if len(parts) == 3 and parts[2].startswith("_") and parts[1] in FOLDERS:
                if not importer.startswith(f"analysis.{parts[1]}"):
                    bad.append(f"{importer} -> {imported}")
    assert not bad, bad


def test_every_folder_has_a_public_face():
    import importlib

    for folder in FOLDERS:
        mod = importlib.import_module(f"analysis.{folder}")
        assert mod.__doc__ and "Rule:" in mod.__doc__, folder
        for name in getattr(mod, "__all__", []):
            assert hasattr(mod, name) and not name.startswith("_"), (folder, name)


def test_results_carry_nothing_in_dataframe_attrs():
    """Results travel as columns and typed objects, never in ``DataFrame.attrs`` (issue 18).

    ``attrs`` is dropped or copied unpredictably by pandas operations, and a
    view reading it can show what the disclosure decision never saw.
    """
    found = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "attrs":
                found.append(f"{path.relative_to(PKG)}:{node.lineno}")
    assert found == []


def test_results_of_the_methods_have_empty_attrs(data):
    from analysis.methods import (baseline_table, benchmark_units, derive_outcomes, recovery_missing_adjusted)

    out = derive_outcomes(data[0])
    for result in (out, baseline_table(out), benchmark_units(out), recovery_missing_adjusted(out, imputations=2)):
        assert result.attrs == {}
