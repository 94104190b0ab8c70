"""Benchmark: the explorer's update after a control change (spec section 11: < 1 s at 100k, < 3 s at 1M).

Usage::

    .venv/bin/python benchmarks/explorer.py                  # 100k and 1M episodes
    .venv/bin/python benchmarks/explorer.py --sizes 100000

Times what the kernel does between a control change and the update sent
(selection note, headline, sortable table; the figure too below
analysis.app.BACKGROUND_EPISODES selected episodes), and until the figure is
shown (drawn by a background thread for larger selections): the browser test
(tests/test_explore.py) measures the same in Chromium, round trip included,
at 100,000 episodes. Data folders are generated once into benchmarks/out/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ensure_data  # noqa: E402

CHANGES = [("clinics", ("NTH",)), ("clinics", ("CEN", "STH")), ("outcome", "responder"), ("outcome", "recovered"),
           ("outcome", "surgery_free"), ("outcome", "leg_pain_at_day"), ("outcome", "confounding"),
           ("outcome", "odi_change"), ("outcome", "leg_pain_change"), ("disclosure", "public"), ("clinics", ())]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = ap.parse_args(argv)
    from analysis.app import Explorer

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for n in args.sizes:
        folder = ensure_data(n, "csv")
        t = time.perf_counter()
        # as in the notebook's Jupyter kernel, where the explorer tunes the allocator (keep_freed_memory)
        ex = Explorer(folder, reports_dir=Path(folder).parent / "explorer-reports", keep_freed_memory=True)
        print(f"{n:>9,} episodes: open {time.perf_counter() - t:.1f} s")
        ex.wait_for_figure()
        seconds, figures = [], []
        for name, value in CHANGES:
            ex.controls[name].value = value
            ex.wait_for_figure()
            seconds.append(ex.state.last_seconds)
            figures.append(ex.state.figure_seconds)
            print(f"    {name} = {value!r}: update {ex.state.last_seconds:.2f} s, figure {ex.state.figure_seconds:.2f} s")
        print(f"    update: median {statistics.median(seconds):.2f} s, worst {max(seconds):.2f} s; "
              f"figure: median {statistics.median(figures):.2f} s, worst {max(figures):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
