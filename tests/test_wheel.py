"""A real package: the wheel, installed into a fresh virtual environment, works from any folder (spec section 12).

The wheel is built from this checkout and installed with ``--no-deps`` into a
new virtual environment; the third-party dependencies are borrowed from the
test environment through a ``.pth`` line (installing JupyterLab and friends
afresh would take minutes and a network), with their data files (nbconvert's
base templates) through ``JUPYTER_PATH``, so ``analysis`` itself, its
notebooks, templates, JupyterLab settings and sample data come from the wheel
only. Every command runs from a temporary folder outside the checkout.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    wheel = next(dist.glob("physio_outcomes-*.whl"))
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "borrowed-dependencies.pth").write_text("\n".join(deps) + "\n")
    res = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    work = base / "elsewhere"
    work.mkdir()
    return {"wheel": wheel, "bin": env_dir / "bin", "py": py, "work": work}


def _run(installed, *args, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{installed['bin']}{os.pathsep}{env.get('PATH', '')}"
    # the borrowed dependencies' data files (nbconvert's base templates) live under the test environment's prefix
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    return subprocess.run([str(installed["bin"] / "physio-outcomes"), *args], cwd=installed["work"], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_wheel_holds_notebooks_templates_settings_and_sample(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for wanted in ("analysis/notebooks/report.ipynb", "analysis/notebooks/00-explore.ipynb",
                   "analysis/app/resources/templates/clinic_report/index.html.j2",
                   "analysis/app/resources/jupyter/lab/user-settings/@jupyterlab/apputils-extension/"
                   "notification.jupyterlab-settings",
                   "analysis/sample_data/episodes.csv", "analysis/sample_data/visits.csv", "analysis/py.typed"):
        assert wanted in names, wanted
    where = subprocess.run([str(installed["py"]), "-c", "import analysis; print(analysis.__file__)"],
                           cwd=installed["work"], capture_output=True, text=True, check=True).stdout
    assert str(installed["py"].parents[1]) in where and str(ROOT) not in where


def test_commands_run_from_another_folder(installed):
    work = installed["work"]
    res = _run(installed, "sample", "-o", "mine", "--episodes", "300", "--seed", "3")
    assert res.returncode == 0, res.stderr[-2000:]
    res = _run(installed, "validate", "mine")
    assert res.returncode == 0 and "mine: valid" in res.stdout, res.stdout + res.stderr
    res = _run(installed, "validate")  # no data/sample here: the sample shipped in the wheel
    assert res.returncode == 0 and "sample_data: valid" in res.stdout, res.stdout + res.stderr
    res = _run(installed, "report", "mine", "-o", "out/report.html", "--disclosure", "public")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    html = (work / "out" / "report.html").read_text()
    assert "Surgery-free" in html and html.count("<img") >= 4
    res = _run(installed, "lab", "--help")
    assert res.returncode == 0 and "--root" in res.stdout
    assert sorted(p.name for p in work.iterdir()) == ["mine", "out"]  # nothing else written
