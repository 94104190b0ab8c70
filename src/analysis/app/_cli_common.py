"""What every command of the command line shares: the default data folder, usage errors, progress, problem lists."""

from __future__ import annotations

import sys
from pathlib import Path

from ..records import Problem

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
    if arg == DEFAULT_DATA and not path.exists():  # outside a checkout: the sample shipped in the package
        from ..records import sample_folder

        path = sample_folder()
    if not path.exists():
        raise _UsageError(f"data folder not found: {arg}")
    if not path.is_dir():
        raise _UsageError(f"not a folder: {arg} (give the folder that holds episodes and visits)")
    return path


