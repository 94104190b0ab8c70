"""The ``physio-outcomes`` command line.

Exit codes: 0 success, 1 data problem (every problem listed), 2 usage error
(bad option, missing folder). Data problems never show a Python traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import __version__
from .io import Problem, validate_folder
from .synth import write_sample

__all__ = ["main"]

DEFAULT_DATA = "data/sample"


class _UsageError(Exception):
    pass


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _print_problems(problems: list[Problem], stream=None) -> None:
    stream = stream or sys.stdout
    n = len(problems)
    print(f"{n} problem{'s' if n != 1 else ''} found:", file=stream)
    for p in problems:
        print(f"  - {p}", file=stream)


def _data_folder(arg: str) -> Path:
    path = Path(arg)
    if not path.exists():
        raise _UsageError(f"data folder not found: {arg}")
    if not path.is_dir():
        raise _UsageError(f"not a folder: {arg} (give the folder that holds episodes and visits)")
    return path


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


def _cmd_sample(args) -> int:
    if args.episodes < 1:
        raise _UsageError("--episodes must be at least 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise _UsageError(f"{out} exists and is not a folder")
    _progress(f"Generating {args.episodes:,} synthetic episodes (seed {args.seed}) ...")
    counts = write_sample(out, args.episodes, seed=args.seed, fmt=args.format)
    print(f"Wrote {counts['episodes']:,} episodes and {counts['visits']:,} visits to {out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="physio-outcomes",
        description="Outcomes of sciatica physiotherapy by treatment modality, from anonymised records.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("validate", help="check a data folder and list every problem")
    p.add_argument("data", nargs="?", default=DEFAULT_DATA, help="data folder (default: data/sample)")
    p.add_argument("--json", action="store_true", help="print problems as JSON objects with keys file, row, column, problem")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("sample", help="write a synthetic data folder")
    p.add_argument("-o", "--out", required=True, help="folder to write")
    p.add_argument("--episodes", type=int, default=1500, help="number of episodes (default 1500)")
    p.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format of episodes and visits")
    p.set_defaults(func=_cmd_sample)
    return parser


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
