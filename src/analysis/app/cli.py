"""The ``physio-outcomes`` command line.

Exit codes: 0 success, 1 data problem (every problem listed), 2 usage error
(bad option, missing folder). Data problems never show a Python traceback.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

from .. import __version__
from ..records import DataProblemError, load_records, validate_folder
from ._cli_common import DEFAULT_DATA, _data_folder, _print_problems, _progress, _UsageError
from ._cli_network import add_network_parser
from ._cli_records import _cmd_anonymise, _cmd_import, _cmd_sample
from ._memory import keep_freed_memory as _keep_freed_memory

__all__ = ["main"]


def _cmd_validate(args) -> int:
    folder = _data_folder(args.data)
    t0 = time.perf_counter()
    if not args.json:
        _progress(f"Checking {folder} ...")
    problems = validate_folder(folder)
    if args.json:
        print(json.dumps([p.to_dict() for p in problems], indent=2, ensure_ascii=False))
    elif problems:
        _print_problems(problems)
    else:
        print(f"{folder}: valid ({time.perf_counter() - t0:.1f} s)")
    return 1 if problems else 0


def _date(text: str) -> str:
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date written YYYY-MM-DD") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of days") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1 day")
    return value


def _clinics(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def _load_filtered(args, *, json_mode: bool, step: str = ""):
    """Validate, load and filter; returns (records, exit code or None)."""
    folder = _data_folder(args.data)
    _progress(f"{step}Reading and checking {folder} ...")
    try:
        records = load_records(folder)
    except DataProblemError as exc:
        if json_mode:
            print(json.dumps({"problems": [p.to_dict() for p in exc.problems]}, indent=2, ensure_ascii=False))
        else:
            _print_problems(exc.problems)
        return None, 1
    clinics = _clinics(args.clinic)
    if clinics:
        known = sorted(records.episodes["clinic"].unique())
        unknown = [c for c in clinics if c not in known]
        if unknown:
            raise _UsageError(f"clinic {', '.join(unknown)} is not in the data (clinics: {', '.join(known)})")
    if args.start_from and args.start_to and args.start_from > args.start_to:
        raise _UsageError("--from is after --to")
    from ..methods import filter_records

    records = filter_records(records, clinics=clinics, start_from=args.start_from, start_to=args.start_to)
    if len(records.episodes) == 0:
        msg = "no episodes match the filters (clinic and start-date period); nothing to analyse"
        print(json.dumps({"problems": [{"file": None, "row": None, "column": None, "problem": msg}]})
              if json_mode else f"1 problem found:\n  - {msg}")
        return None, 1
    cluster = getattr(args, "cluster", None)
    if cluster in ("therapist", "clinic") and records.episodes[cluster].isna().all():
        raise _UsageError(f"--cluster {cluster}: the records have no {cluster} codes; use --cluster none")
    if cluster == "clinic":
        from ..methods import MIN_CLINICS, few_clinics_message

        n_clinics = int(records.episodes["clinic"].nunique())
        if n_clinics < MIN_CLINICS:
            raise _UsageError(f"--cluster clinic: {few_clinics_message(n_clinics)}")
    if args.reference and args.reference not in set(records.episodes["modality"].unique()):
        known = ", ".join(sorted(records.episodes["modality"].unique()))
        raise _UsageError(f"reference modality '{args.reference}' is not in the data (modalities: {known})")
    return records, None


def _import_in_background(*modules: str) -> None:
    """Import the statistics modules (statsmodels, scipy: about half a second) in a thread while
    the main thread reads the data, which runs mostly outside Python's interpreter lock.
    A later ``import`` of the same module simply waits for this one to finish."""
    import importlib
    import threading

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the main thread's own import reports any failure
                return

    thread = threading.Thread(target=run, name="physio-outcomes-imports", daemon=True)
    thread.start()
    _BACKGROUND.append(thread)


#: Threads started by _import_in_background; the program waits for them before it exits (an import
#: cut short by interpreter shutdown can crash in a compiled extension).
_BACKGROUND: list = []


def _cmd_summary(args) -> int:
    _import_in_background("analysis.methods")  # statistics load while the main thread reads the data
    records, code = _load_filtered(args, json_mode=args.json)
    if records is None:
        return code
    from ..methods import OutcomeSettings, derive_outcomes

    settings = OutcomeSettings(horizon_days=args.horizon_days, population=args.population,
                               fixed_days=tuple(args.fixed_days))
    _progress(f"Deriving outcomes for {len(records.episodes):,} episodes ...")
    outcomes = derive_outcomes(records, settings=settings)
    _progress("Estimating intervals and fitting the adjusted models ...")
    from ..methods import summarise

    doc = summarise(records, settings=settings, reference=args.reference, outcomes=outcomes, cluster=args.cluster)
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        from ..present import format_summary  # the presentation layer (matplotlib with it: half a second) only for text

        print(format_summary(doc, labels=records.labels))
    return 0


def _cmd_benchmark(args) -> int:
    import math

    from ..methods import derive_outcomes

    if args.min_episodes < 1:
        raise _UsageError("--min-episodes must be at least 1")
    _import_in_background("analysis.methods")
    records, code = _load_filtered(args, json_mode=args.json)
    if records is None:
        return code
    if records.episodes[args.by].isna().all():
        raise _UsageError(f"the records have no {args.by} codes to benchmark")
    from ..methods import benchmark_document, benchmark_units

    out = derive_outcomes(records)
    _progress(f"Comparing each {args.by} with what its case mix predicts ...")
    tables = {k: benchmark_units(out, by=args.by, outcome=k, min_episodes=args.min_episodes,
                                 adjust_clinic=args.adjust_clinic) for k in ("leg_pain_change", "recovered")}
    doc = benchmark_document(tables, by=args.by, min_episodes=args.min_episodes)
    if args.json:
        print(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))
        return 0
    print(f"Each {args.by} against what its patients' case mix predicts (baseline leg pain, age band, sex, "
          f"symptom duration, cause{', clinic' if args.adjust_clinic else ''}).")
    for k, t in tables.items():
        what = "Final leg pain, points (lower is better)" if k == "leg_pain_change" else \
            "Recovered, % (higher is better)"
        fmt = ".2f" if k == "leg_pain_change" else ".1f"
        print(f"\n{what}")
        print(f"{args.by.title():<14}{'n':>6}{'observed':>10}{'expected':>10}{'difference (95% CI)':>28}{'shrunken':>10}  flag")
        for r in t.to_dict("records"):
            if r["difference"] is None or (isinstance(r["difference"], float) and math.isnan(r["difference"])):
                print(f"{str(r['unit']):<14}{r['n']:>6}  {r['note']}")
                continue
            ci = f"{r['difference']:+{fmt}} ({r['ci_low']:+{fmt}} to {r['ci_high']:+{fmt}})"
            print(f"{str(r['unit']):<14}{r['n']:>6}{r['observed']:>10{fmt}}{r['expected']:>10{fmt}}{ci:>28}"
                  f"{r['shrunken']:>+10{fmt}}  {r['flag'] or ''}")
    print("\nA flag marks a difference outside the 99.8% limits, which allow for the usual spread between "
          f"{args.by}s: worth a conversation, not a verdict. Modality choice is part of what is compared.")
    return 0


def _cmd_report(args) -> int:
    from ._report import build_report

    folder = _data_folder(args.data)
    out = Path(args.out)
    if out.resolve().is_relative_to(folder.resolve()):
        raise _UsageError("the report must not be written inside the data folder; choose another -o")
    if out.suffix.lower() not in (".html", ".htm"):
        raise _UsageError("the report file name must end in .html")
    _check_writable_file(out)
    records, code = _load_filtered(args, json_mode=False, step="[1/3] ")
    if records is None:
        return code
    path = build_report(folder, out, title=args.title, clinics=_clinics(args.clinic), start_from=args.start_from,
                        start_to=args.start_to, horizon_days=args.horizon_days, population=args.population,
                        reference=args.reference, disclosure=args.disclosure, cluster=args.cluster,
                        fixed_days=args.fixed_days, checked=records)
    print(f"Report: {path}")
    return 0


def _check_writable_file(out: Path) -> None:
    """Before any work: the report can be written at *out* (not a folder, in a folder that takes new files)."""
    import tempfile

    if out.is_dir():
        raise _UsageError(f"{out} is a folder; give the report's file name, e.g. {out / 'report.html'}")
    parent = out.resolve().parent
    if not parent.is_dir():
        return  # created when the report is written
    try:
        fd, probe = tempfile.mkstemp(prefix=".physio-outcomes-probe-", dir=parent)
    except OSError as exc:
        raise _UsageError(f"cannot write in {parent} ({exc.strerror or 'not allowed'}); choose another -o") from None
    os.close(fd)
    os.unlink(probe)


def _day_list(text: str) -> list[int]:
    try:
        days = [int(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        days = []
    if not days or any(d < 1 or d > 3650 for d in days):
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of days after the first visit such as 42,84")
    return sorted(set(days))


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="?", default=DEFAULT_DATA, help="data folder (default: data/sample, or the sample shipped with the package)")
    p.add_argument("--clinic", action="append", metavar="CODE",
                   help="only these clinics (repeat, or separate with commas)")
    p.add_argument("--from", dest="start_from", type=_date, metavar="YYYY-MM-DD",
                   help="only episodes starting on or after this date")
    p.add_argument("--to", dest="start_to", type=_date, metavar="YYYY-MM-DD",
                   help="only episodes starting on or before this date")
    p.add_argument("--horizon-days", type=_positive_int, default=365,
                   help="horizon for surgery-free survival, in days (default 365)")
    p.add_argument("--fixed-days", type=_day_list, default=[42, 84], metavar="DAYS",
                   help="days after the first visit at which leg pain is compared from all visits, separated by "
                        "commas (default 42,84: 6 and 12 weeks)")
    p.add_argument("--reference", metavar="CODE",
                   help="reference modality for adjusted comparisons (default: the one with most episodes)")
    p.add_argument("--population", choices=("candidates", "all"), default="candidates",
                   help="surgery-free population: surgical candidates (default) or all episodes")
    p.add_argument("--cluster", choices=("therapist", "clinic", "none"), default=None,
                   help="allow for episodes clustered within therapists or clinics in the adjusted models "
                        "(default: therapist when the records have therapist codes, else none)")


def lab_command(*, root: Path | None = None, port: int | None = None, no_browser: bool = False) -> tuple[list, dict]:
    """The JupyterLab command line and environment that open the explorer (no shell; any platform).

    *root* (default: the current folder) is JupyterLab's root folder. The explorer
    is ``notebooks/00-explore.ipynb`` under it: a checkout has it; anywhere else
    the notebook shipped in the package is copied there first (an existing file
    is never overwritten). Settings come from the package (no news prompt).
    """
    from ._lab_paths import ROOT_ENV
    from ._resources import EXPLORER_NOTEBOOK, LAB_SETTINGS

    root = Path(root or Path.cwd()).resolve()
    notebook = root / "notebooks" / "00-explore.ipynb"
    if not notebook.is_file():
        if not root.is_dir():
            raise _UsageError(f"no folder {root} to open JupyterLab in")
        notebook.parent.mkdir(exist_ok=True)
        notebook.write_bytes(EXPLORER_NOTEBOOK.read_bytes())
    env = dict(os.environ)
    env["JUPYTERLAB_SETTINGS_DIR"] = str(LAB_SETTINGS)  # no news prompt, kernel starts at once
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(root / ".jupyter-workspaces")
    env[ROOT_ENV] = str(root)  # the explorer links its reports below this folder
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}",
           "--LabApp.default_url=/lab/tree/notebooks/00-explore.ipynb"]
    if port:
        cmd.append(f"--port={port}")
    if no_browser:
        cmd.append("--no-browser")
    if getattr(os, "geteuid", lambda: 1)() == 0:  # a container's root user (POSIX only)
        cmd.append("--allow-root")
    return cmd, env


def _cmd_lab(args) -> int:
    import subprocess

    cmd, env = lab_command(root=args.root, port=args.port, no_browser=args.no_browser)
    _progress("Opening JupyterLab on the explorer (notebooks/00-explore.ipynb); stop it with Ctrl+C.")
    return subprocess.call(cmd, env=env)


def _add_deidentify_options(p: argparse.ArgumentParser) -> None:
    """Key, dates and --force: the options anonymise and import share."""
    p.add_argument("--key-file", metavar="KEY", help="secret key for the pseudonyms (keep it out of the data)")
    p.add_argument("--new-key", metavar="FILE", help="write a fresh random key to FILE (mode 600) and use it")
    p.add_argument("--dates", choices=("month", "shift", "keep"), default="month",
                   help="start_date: truncate to the month (default), shift per patient, or keep")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists and is not empty")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="physio-outcomes",
        description="Outcomes of sciatica physiotherapy by treatment modality, from anonymised records.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="check a data folder and list every problem")
    p.add_argument("data", nargs="?", default=DEFAULT_DATA, help="data folder (default: data/sample, or the sample shipped with the package)")
    p.add_argument("--json", action="store_true", help="print problems as JSON objects with keys file, row, column, problem")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("summary", help="outcome comparison by modality")
    _add_filters(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON (spec section 6)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("benchmark", help="each therapist or clinic against what its case mix predicts")
    _add_filters(p)
    p.add_argument("--by", choices=("therapist", "clinic"), default="therapist", help="unit compared (default therapist)")
    p.add_argument("--min-episodes", type=int, default=40,
                   help="units with fewer episodes are listed without figures (default 40)")
    p.add_argument("--adjust-clinic", action="store_true",
                   help="add clinic to the case mix (therapists compared within their clinic)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=_cmd_benchmark)

    p = sub.add_parser("report", help="the clinic-meeting HTML report")
    _add_filters(p)
    p.add_argument("-o", "--out", default="reports/clinic-report.html", metavar="FILE.html",
                   help="HTML file to write (default reports/clinic-report.html)")
    p.add_argument("--title", default="Sciatica outcomes by treatment modality", help="report title")
    p.add_argument("--disclosure", choices=("internal", "public", "none"), default="internal",
                   help="disclosure control of small numbers (default internal)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("anonymise", help="de-identify a clinic's raw export into a data folder")
    p.add_argument("raw", nargs="?", help="folder with the raw export (only read)")
    p.add_argument("-o", "--out", help="data folder to create")
    _add_deidentify_options(p)
    p.set_defaults(func=_cmd_anonymise)

    p = sub.add_parser("import", help="turn a practice-management export into a de-identified data folder, "
                                      "with a mapping file")
    p.add_argument("raw", help="folder with the export (only read)")
    p.add_argument("-o", "--out", required=True, help="data folder to create")
    p.add_argument("--mapping", required=True, metavar="MAP.toml",
                   help="which export column is which records column, and label -> code tables")
    _add_deidentify_options(p)
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("lab", help="open JupyterLab on the point-and-click explorer")
    p.add_argument("--port", type=int, help="port for JupyterLab (default: its own choice)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    p.add_argument("--root", metavar="FOLDER", help="JupyterLab's root folder (default: the current folder); "
                   "the explorer notebook is copied to FOLDER/notebooks/ when it is not there yet")
    p.set_defaults(func=_cmd_lab)

    add_network_parser(sub)

    p = sub.add_parser("sample", help="write a synthetic data folder")
    p.add_argument("-o", "--out", required=True, help="folder to write")
    p.add_argument("--episodes", type=int, default=1500, help="number of episodes (default 1500)")
    p.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format of episodes and visits")
    p.add_argument("--force", action="store_true",
                   help="replace OUT if it is a folder sample wrote before (never any other folder)")
    p.set_defaults(func=_cmd_sample)
    return parser


def run() -> int:
    """The ``physio-outcomes`` program (console script and ``python -m analysis``): the allocator
    is tuned for this process only, then :func:`main` runs."""
    _keep_freed_memory()
    code = main()
    for thread in _BACKGROUND:  # e.g. the data were refused before the statistics were needed
        thread.join(timeout=30)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _UsageError as exc:
        print(f"physio-outcomes: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("physio-outcomes: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a data problem: no traceback for clinicians
        if os.environ.get("PHYSIO_DEBUG"):
            raise
        print(
            f"physio-outcomes: internal error ({type(exc).__name__}). This is a bug in "
            "physio-outcomes, not in your data; please report it. Set PHYSIO_DEBUG=1 to see details.",
            file=sys.stderr,
        )
        return 3
