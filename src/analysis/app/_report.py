"""The clinic-meeting HTML report (spec section 7).

:func:`build_report` validates the data, executes the parameterised report
notebook (``notebooks/report.ipynb``) with papermill, exports it with nbconvert
(inputs hidden, through a template with nothing fetched from a network) and
writes one self-contained HTML file atomically. The helpers below are what the
report notebook calls, so the notebook holds only parameters and calls.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from ..methods import OutcomeSettings
from ._compose import save_checked_records
from ._resources import REPORT_NOTEBOOK, TEMPLATES

__all__ = ["build_report"]



# ----------------------------------------------------------------- building the file


def _progress(msg: str, stream) -> None:
    if stream is not None:
        print(msg, file=stream, flush=True)


def build_report(data, out, *, title: str = "Sciatica outcomes by treatment modality", clinics=None,
                 start_from=None, start_to=None, horizon_days: int = 365, population: str = "candidates",
                 reference: str | None = None, disclosure: str = "internal", template=None,
                 progress="stderr", timeout: int = 600, checked=None, cluster: str | None = None,
                 where: dict | None = None, fixed_days=(42, 84)) -> Path:
    """Build the self-contained clinic-meeting HTML report.

    Parameters
    ----------
    data : str or pathlib.Path
        Data folder; validated first (a :class:`~analysis.DataProblemError`
        lists every problem and nothing is written).
    out : str or pathlib.Path
        HTML file to write (atomically: written beside it, then renamed).
    title, clinics, start_from, start_to, horizon_days, population, reference, disclosure, cluster, fixed_days : keyword-only
        Report parameters (see the report notebook's parameters cell).
    where : dict, optional, keyword-only
        Subgroups (see :func:`analysis.methods.filter_records`), e.g. from the explorer.
    template : path, optional, keyword-only
        Report notebook; default :data:`REPORT_NOTEBOOK`.
    progress : file or None, keyword-only
        Where progress messages go (``"stderr"``, the default: standard error
        at the time of the call; None: nowhere).
    checked : Records, optional, keyword-only
        The already validated and filtered records of *data* (the command line
        has them): skips reading the folder a second time before the notebook
        reads it.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import tempfile, os
    >>> from analysis.app import build_report
    >>> path = build_report("data/sample", os.path.join(tempfile.mkdtemp(), "r.html"), progress=None)
    >>> path.stat().st_size > 100_000
    True
    """

    from ..disclosure import disclosure_rule
    from ..methods import filter_records
    from ..records import load_records

    t0 = time.perf_counter()
    if isinstance(progress, str):  # the stream of the moment (a default bound at import would go stale)
        progress = sys.stderr
    disclosure_rule(disclosure)  # refuse an unknown rule before doing any work
    OutcomeSettings(horizon_days=horizon_days, population=population, fixed_days=tuple(fixed_days))
    data = Path(data).resolve()
    out = Path(out).resolve()
    template = Path(template) if template else REPORT_NOTEBOOK
    if not template.exists():
        raise FileNotFoundError(f"report notebook not found: {template}")
    if checked is None:
        _progress(f"[1/3] Checking {data} ...", progress)
        records = filter_records(load_records(data), clinics=clinics, start_from=start_from, start_to=start_to,
                                 where=where)
    else:
        records = checked
    if len(records.episodes) == 0:
        raise ValueError("no episodes match the filters (clinic and start-date period); no report written")
    if reference and reference not in set(records.episodes["modality"].unique()):
        raise ValueError(f"reference modality '{reference}' is not in the data")
    params = {
        "DATA_FOLDER": str(data), "CLINICS": list(clinics) if clinics else None,
        "START_FROM": start_from, "START_TO": start_to, "TITLE": title, "HORIZON_DAYS": int(horizon_days),
        "POPULATION": population, "REFERENCE": reference, "DISCLOSURE": disclosure, "CLUSTER": cluster,
        "WHERE": {k: list(v) for k, v in (where or {}).items() if v}, "FIXED_DAYS": [int(d) for d in fixed_days],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="physio-report-") as tmp:
        # the kernel reads the records checked here, not the folder again
        params["RECORDS_FILE"] = str(save_checked_records(records, Path(tmp) / "records.pickle"))
        return _execute_and_export(template, params, out, title=title, progress=progress, timeout=timeout,
                                   min_images=4, t0=t0)


def _execute_and_export(template: Path, params: dict, out: Path, *, title: str, progress, timeout: int,
                        min_images: int, t0: float, must_contain: str = "report-headline") -> Path:
    """Execute a report notebook with papermill, export it with the clinic template, write *out* atomically."""
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="physio-report-") as tmp:
        executed = Path(tmp) / "report.ipynb"
        _progress("[2/3] Running the analysis notebook ...", progress)
        pm.execute_notebook(str(template), str(executed), parameters=params, kernel_name="python3",
                            cwd=str(template.parent), log_output=False,
                            progress_bar=False if progress is None else {
                                "file": progress, "desc": "[2/3] Running the analysis notebook", "ascii": True,
                                "ncols": 78, "mininterval": 0.5},
                            execution_timeout=timeout, extra_arguments=["--IPKernelApp.log_level=ERROR"])
        nb = nbformat.read(executed, as_version=4)
        for cell in nb.cells:  # warnings on stderr are for the log, not the clinic meeting
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        images = sum(str(o.get("data", {}).get("text/html", "")).count("<img") for c in nb.cells
                     if c.cell_type == "code" for o in c.outputs)
        if images < min_images or must_contain not in "".join(
                str(o.get("data", {}).get("text/html", "")) for c in nb.cells if c.cell_type == "code"
                for o in c.outputs):
            raise RuntimeError(f"the report came out nearly empty ({images} figures); not written")
        nb.metadata["title"] = title
        _progress("[3/3] Exporting HTML ...", progress)
        exporter = HTMLExporter(template_name="clinic_report", extra_template_basedirs=[str(TEMPLATES)])
        exporter.exclude_input = True
        exporter.exclude_input_prompt = True
        exporter.exclude_output_prompt = True
        body, _ = exporter.from_notebook_node(nb)
        fd, tmp_out = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
            os.replace(tmp_out, out)
        except BaseException:
            Path(tmp_out).unlink(missing_ok=True)
            raise
    _progress(f"Report written to {out} ({time.perf_counter() - t0:.1f} s)", progress)
    return out


# ----------------------------------------------------------------- alternative text for figures


