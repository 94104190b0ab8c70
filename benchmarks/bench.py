"""Benchmark: seconds and peak memory per stage at registry scale (spec section 11).

Usage::

    .venv/bin/python benchmarks/bench.py                 # 10k, 100k and 1M episodes
    .venv/bin/python benchmarks/bench.py --sizes 10000   # just one size
    .venv/bin/python benchmarks/bench.py --format parquet

Each stage runs in a fresh Python process so that its peak resident memory
(ru_maxrss) is its own. Generated folders are cached in benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

STAGES = {
    "validate": "from analysis import validate_folder\nassert validate_folder(FOLDER) == []",
    "load": "from analysis import load_records\nrec = load_records(FOLDER)",
    # what `physio-outcomes summary --json` does: validate + load, outcomes, intervals, log-rank, 3 adjusted models
    "summary": ("import json\nfrom analysis import load_records\nfrom analysis.summary import summarise\n"
                "json.dumps(summarise(load_records(FOLDER)))"),
    # what `physio-outcomes report` does: validate, run the report notebook (papermill), export HTML (nbconvert)
    "report": ("import tempfile, os\nfrom analysis.report import build_report\n"
               "build_report(FOLDER, os.path.join(tempfile.mkdtemp(), 'r.html'), progress=None)"),
}
#: Stages run at the default sizes; the report is measured at --report-sizes (spec: 50,000 episodes).
DEFAULT_STAGES = ["validate", "load", "summary"]

CHILD = r'''
import json, resource, sys, time
FOLDER = sys.argv[1]
t0 = time.perf_counter()
{code}
elapsed = time.perf_counter() - t0
print(json.dumps({{"seconds": elapsed, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
'''


def ensure_data(n: int, fmt: str) -> Path:
    folder = OUT / f"{fmt}-{n}"
    if not (folder / f"visits.{fmt}").exists():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "analysis", "sample", "-o", str(folder), "--episodes", str(n),
                        "--seed", "1", "--format", fmt], check=True, capture_output=True)
        print(f"  generated {n:,} episodes ({fmt}) in {time.perf_counter() - t:.1f} s", flush=True)
    return folder


def run_stage(name: str, folder: Path) -> dict:
    code = CHILD.format(code=STAGES[name])
    r = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ap.add_argument("--stages", nargs="+", default=DEFAULT_STAGES, choices=list(STAGES))
    ap.add_argument("--report-sizes", type=int, nargs="*", default=[1_500, 50_000],
                    help="sizes at which the full HTML report is timed (none: skip)")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}  python: {sys.version.split()[0]}  format: {args.format}")
    print(f"{'episodes':>10} {'visits':>10} {'stage':>10} {'seconds':>8} {'peak MB':>8}")
    for n in args.sizes:
        folder = ensure_data(n, args.format)
        visits = sum(1 for _ in open(folder / "visits.csv")) - 1 if args.format == "csv" else None
        if visits is None:
            import pyarrow.parquet as pq
            visits = pq.ParquetFile(folder / "visits.parquet").metadata.num_rows
        for stage in args.stages:
            res = run_stage(stage, folder)
            print(f"{n:>10,} {visits:>10,} {stage:>10} {res['seconds']:>8.2f} {res['peak_mb']:>8.0f}", flush=True)
    for n in args.report_sizes:
        folder = ensure_data(n, "csv")
        visits = sum(1 for _ in open(folder / "visits.csv")) - 1
        res = run_stage("report", folder)
        # peak_mb is the parent process; the notebook kernel runs in a child process
        print(f"{n:>10,} {visits:>10,} {'report':>10} {res['seconds']:>8.2f} {res['peak_mb']:>8.0f}*", flush=True)
    if args.report_sizes:
        print("* report peak memory is that of the calling process; the notebook kernel is a separate process")


if __name__ == "__main__":
    main()
