"""Benchmark: ``physio-outcomes import`` of a practice-management export (issue 20: 100,000 cases and
about 700,000 appointments in under 60 s on 2 cores), for both example shapes.

Usage::

    .venv/bin/python benchmarks/import_export.py                    # 100,000 cases, both shapes
    .venv/bin/python benchmarks/import_export.py --cases 20000 --shape praxis

The exports are generated once into benchmarks/out/ (the English one as comma-separated UTF-8 with
dd/mm/yyyy dates and treatment labels in one column; the German one as ;-separated Windows-1252 with
date-times, decimal commas and one column per treatment) and imported with the shipped mapping files,
each in a fresh process so that its peak memory (resident set size) is its own.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out"
MAPPINGS = {"practice": ROOT / "data/examples/practice-export/mapping.toml",
            "praxis": ROOT / "data/examples/praxis-export/mapping.toml"}


def ensure_export(shape: str, n: int) -> Path:
    folder = OUT / f"export-{shape}-{n}"
    if (folder / ".complete").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t = time.perf_counter()
    if shape == "praxis":
        from analysis.records import write_praxis_export

        write_praxis_export(folder, n, seed=11)
    else:
        from analysis.records import make_practice_export

        cases, appts = make_practice_export(n, seed=7)
        cases.to_csv(folder / "cases.csv", index=False)
        appts.to_csv(folder / "appointments.csv", index=False)
    (folder / ".complete").touch()
    print(f"    (generated the {shape} export of {n:,} cases in {time.perf_counter() - t:.0f} s)")
    return folder


def _one(shape: str, folder: str, out: str) -> None:
    """Run in a child process: import, then print seconds and peak resident memory."""
    from analysis.records import import_export

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    res = import_export(folder, out, mapping=MAPPINGS[shape], key=b"b" * 32)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # kB -> GB
    if not res.written:
        print("    NOT WRITTEN:", *[str(p) for p in res.problems[:5]], sep="\n      ")
    print(f"{seconds:.1f} {peak:.2f} {res.result.counts['visits.csv'] if res.written else 0}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--shape", choices=["practice", "praxis", "both"], default="both")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _one(*args.child)
        return 0
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for shape in (["practice", "praxis"] if args.shape == "both" else [args.shape]):
        folder = ensure_export(shape, args.cases)
        sizes = sum(p.stat().st_size for p in folder.glob("*.csv")) / 1e6
        out = OUT / f"imported-{shape}-{args.cases}"
        run = subprocess.run([sys.executable, __file__, "--child", shape, str(folder), str(out)],
                             capture_output=True, text=True, check=True)
        *notes, last = run.stdout.strip().splitlines()
        seconds, peak, visits = last.split()
        print(*notes, sep="\n") if notes else None
        print(f"{shape:>9}: {args.cases:,} cases, {int(visits):,} appointments ({sizes:.0f} MB of CSV): "
              f"import {float(seconds):.1f} s, peak memory {float(peak):.2f} GB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
