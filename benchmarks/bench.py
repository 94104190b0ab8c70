"""Benchmark: seconds and peak memory per stage at registry scale (spec section 11).

Usage::

    .venv/bin/python benchmarks/bench.py                 # 10k, 100k and 1M episodes
    .venv/bin/python benchmarks/bench.py --sizes 10000   # just one size
    .venv/bin/python benchmarks/bench.py --format parquet
    .venv/bin/python benchmarks/bench.py --id-shapes --sizes 1000000   # one table over id shapes

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
    "summary": ("import json\nfrom analysis import load_records\nfrom analysis.methods import summarise\n"
                "json.dumps(summarise(load_records(FOLDER)))"),
    # what `physio-outcomes benchmark` does: validate + load, outcomes, both case-mix models by therapist
    "benchmark": ("from analysis import load_records, derive_outcomes\nfrom analysis.methods import benchmark_units\n"
                  "o = derive_outcomes(load_records(FOLDER))\n"
                  "[benchmark_units(o, by='therapist', outcome=k) for k in ('leg_pain_change', 'recovered')]"),
    # the confounding diagnostics alone (propensity model, overlap, balance, doubly robust), given the adjusted
    # models the summary has already fitted: its own seconds go to stderr as "confounding-only"
    "confounding": ("import sys, time\nfrom analysis import load_records, derive_outcomes\n"
                    "from analysis.methods import adjusted_comparisons, confounding_diagnostics\n"
                    "o = derive_outcomes(load_records(FOLDER))\n"
                    "a = adjusted_comparisons(o, models=('leg_pain_change', 'recovered'))\n"
                    "t1 = time.perf_counter()\nconfounding_diagnostics(o, adjusted=a)\n"
                    "print(f'confounding-only {time.perf_counter() - t1:.1f} s', file=sys.stderr)"),
    # leg pain at fixed days alone (growth-curve mixed model of every visit), after loading and deriving outcomes:
    # its own seconds go to stderr as "fixed-day-only"
    "fixed_day": ("import sys, time\nfrom analysis import load_records, derive_outcomes\n"
                  "from analysis.methods import leg_pain_at_days\n"
                  "r = load_records(FOLDER)\no = derive_outcomes(r)\n"
                  "t1 = time.perf_counter()\nleg_pain_at_days(r, o)\n"
                  "print(f'fixed-day-only {time.perf_counter() - t1:.1f} s', file=sys.stderr)"),
    # what `physio-outcomes report` does: validate, run the report notebook (papermill), export HTML (nbconvert)
    "report": ("import tempfile, os\nfrom analysis.app import build_report\n"
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


#: Id shapes seen in real exports (spec section 11): episode and patient ids are rewritten in each. The last is
#: the UUID folder written otherwise: Parquet whose every column is text, a missing value written as "" (how some
#: exports write Parquet: numbers, dates and yes/no as text).
ID_SHAPES = ("short", "H003-0000000", "uuid", "MRN1234567", "numeric-invalid-check", "uuid-parquet-text")


def _ids(shape: str, n: int, prefix: str, seed: int):
    import uuid

    import numpy as np

    i = np.arange(n)
    if shape == "H003-0000000":
        return np.char.add(np.char.add(f"{prefix}", np.char.zfill((i % 997).astype(str), 3)),
                           np.char.add("-", np.char.zfill(i.astype(str), 7)))
    if shape == "uuid":
        rng = np.random.default_rng(seed)
        raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
        return np.array([str(uuid.UUID(int=(int(a) << 64) | int(b), version=4)) for a, b in raw])
    if shape == "MRN1234567":
        return np.char.add("MRN" if prefix == "P" else "EP", np.char.zfill((i + 1_000_000).astype(str), 7))
    if shape == "numeric-invalid-check":  # 10 digits whose NHS check digit is wrong
        base = 100_000_000 + i * 7 + (0 if prefix == "P" else 3)
        digits = (base[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        check = (11 - (digits @ np.arange(10, 1, -1)) % 11) % 11
        bad = np.where(check >= 9, 0, check + 1)  # never the right one (10 = never issued anyway)
        return np.char.add(base.astype(str), bad.astype(str))
    raise ValueError(shape)


def ensure_text_parquet(n: int) -> Path:
    """The n-episode folder with UUID ids as Parquet files of text columns, missing values as "" (cached)."""
    import shutil

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    base = ensure_shape(n, "uuid")
    folder = OUT / f"parquet-text-{n}-uuid"
    if (folder / "visits.parquet").exists():
        return folder
    t = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("episodes", "visits"):
        table = pacsv.read_csv(base / f"{name}.csv", convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
        text = {f.name: pc.fill_null(table.column(f.name).cast(pa.string()), "") for f in table.schema}
        pq.write_table(pa.table(text), folder / f"{name}.parquet")
    if (base / "modalities.csv").exists():
        shutil.copy(base / "modalities.csv", folder / "modalities.csv")
    print(f"  wrote every column as text in Parquet in {time.perf_counter() - t:.1f} s", flush=True)
    return folder


def ensure_shape(n: int, shape: str) -> Path:
    """The n-episode folder with its ids rewritten in another shape (cached): CSV, or Parquet for
    ``uuid-parquet-text``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    base = ensure_data(n, "csv")
    if shape == "short":
        return base
    if shape == "uuid-parquet-text":
        return ensure_text_parquet(n)
    folder = OUT / f"csv-{n}-{shape}"
    if (folder / "visits.csv").exists():
        return folder
    t = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    text = pacsv.ConvertOptions(column_types={"episode_id": pa.string(), "patient_id": pa.string()})
    ep = pacsv.read_csv(base / "episodes.csv", convert_options=text)
    vi = pacsv.read_csv(base / "visits.csv", convert_options=text)
    old_ep = ep.column("episode_id").to_pylist()
    new_ep = _ids(shape, len(old_ep), "E", 1)
    pats = ep.column("patient_id").to_pylist()
    uniq = {p: k for k, p in enumerate(dict.fromkeys(pats))}
    new_pat = _ids(shape, len(uniq), "P", 2)
    lookup = dict(zip(old_ep, new_ep))
    ep = ep.set_column(0, "episode_id", pa.array(new_ep.tolist()))
    ep = ep.set_column(1, "patient_id", pa.array([new_pat[uniq[p]] for p in pats]))
    vi = vi.set_column(0, "episode_id", pa.array([lookup[e] for e in vi.column("episode_id").to_pylist()]))
    pacsv.write_csv(ep, folder / "episodes.csv")
    pacsv.write_csv(vi, folder / "visits.csv")
    if (base / "modalities.csv").exists():
        (folder / "modalities.csv").write_bytes((base / "modalities.csv").read_bytes())
    print(f"  rewrote ids as {shape} in {time.perf_counter() - t:.1f} s", flush=True)
    return folder


def run_cli(args: list[str]) -> dict:
    """Run ``physio-outcomes ARGS`` as a user would (a fresh process, output discarded): wall seconds
    including start-up and imports, and the process's own peak resident memory (wait4)."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "analysis", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"physio-outcomes {' '.join(args)} failed:\n{err}")
    return {"seconds": elapsed, "peak_mb": usage.ru_maxrss / 1024}


def _compile_package() -> None:
    """Byte-compile the package first, as ``pip install`` does: where PYTHONDONTWRITEBYTECODE is set (as on the
    CI machines) an editable install would otherwise compile its 80 modules again in every timed run (0.2 s)."""
    import compileall

    import analysis

    compileall.compile_dir(Path(analysis.__file__).parent, quiet=1)


def _median_run(fn, repeat: int) -> dict:
    runs = sorted((fn() for _ in range(repeat)), key=lambda r: r["seconds"])
    return runs[len(runs) // 2] | {"all": [round(r["seconds"], 2) for r in runs]}


def run_stage(name: str, folder: Path) -> dict:
    code = CHILD.format(code=STAGES[name])
    r = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"stage {name} failed:\n{r.stderr}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    inner = [ln for ln in r.stderr.splitlines() if ln.startswith(("confounding-only ", "fixed-day-only "))]
    if inner:
        res["note"] = inner[-1]
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ap.add_argument("--stages", nargs="+", default=DEFAULT_STAGES, choices=list(STAGES))
    ap.add_argument("--report-sizes", type=int, nargs="*", default=[1_500, 50_000],
                    help="sizes at which the full HTML report is timed (none: skip)")
    ap.add_argument("--id-shapes", action="store_true",
                    help="time the validate and summary commands for each id shape at --sizes (one table)")
    ap.add_argument("--shapes", nargs="+", default=list(ID_SHAPES), choices=ID_SHAPES,
                    help="with --id-shapes: which id shapes (default all)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="with --id-shapes: runs per command; the median is shown (default 3)")
    args = ap.parse_args()
    _compile_package()
    if args.id_shapes:
        print(f"cores: {os.cpu_count()}  python: {sys.version.split()[0]}  format: csv (uuid-parquet-text: Parquet)  "
              f"median of {args.repeat} runs of each command")
        print(f"{'episodes':>10} {'id shape':>22} {'summary s':>10} {'peak MB':>8} {'validate s':>10} "
              f"{'both s':>7}")
        for n in args.sizes:
            for shape in args.shapes:
                folder = ensure_shape(n, shape)
                sm = _median_run(lambda: run_cli(["summary", str(folder), "--json"]), args.repeat)
                v = _median_run(lambda: run_cli(["validate", str(folder)]), args.repeat)
                print(f"{n:>10,} {shape:>22} {sm['seconds']:>10.2f} {sm['peak_mb']:>8.0f} {v['seconds']:>10.2f} "
                      f"{v['seconds'] + sm['seconds']:>7.2f}   (runs: {sm['all']} / {v['all']})", flush=True)
        print("Each figure is the whole command as a user runs it, start-up included: `physio-outcomes summary "
              "FOLDER --json` validates the folder (every rule, as validate does) and summarises it (section 11's "
              "validate + summary); `physio-outcomes validate FOLDER` alone, and both commands run one after "
              "the other, beside it.")
        return
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
            print(f"{n:>10,} {visits:>10,} {stage:>10} {res['seconds']:>8.2f} {res['peak_mb']:>8.0f}"
                  f"{'   (' + res['note'] + ')' if 'note' in res else ''}", flush=True)
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
