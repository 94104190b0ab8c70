"""Leg pain on fixed days: our growth-curve fit beside statsmodels ``MixedLM`` on the same model and data.

Usage::

    .venv/bin/python benchmarks/mixedlm_compare.py --sizes 1000 5000 20000 --limit 600

For each size (episodes of the generated sample), fits the fixed-day model with
:func:`analysis.stats.growth_curve_model` and with statsmodels ``MixedLM`` (REML, random
intercept and slope per episode, the same design: case mix, modality and a spline per modality),
prints seconds, the largest difference of the fixed effects and both fits' REML log-likelihood by
statsmodels' own ``loglike`` (where they differ, the higher one is the better fit: on the generated
samples MixedLM's L-BFGS, with time in days, stops at a much lower likelihood). MixedLM is skipped at the next
size once one of its fits took more than ``--limit`` / 4 seconds (its time grows faster than the
size), and run in a child process killed after ``--limit`` seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def design(folder: Path):
    from analysis import derive_outcomes, load_records
    from analysis.methods import FIXED_DAY_COVARIATES, SPLINE_QUANTILES
    from analysis.methods._compare import _design
    from analysis.stats import natural_spline_basis

    rec = load_records(folder)
    out = derive_outcomes(rec)
    pos = rec.visit_positions()
    leg = rec.visits["leg_pain"].to_numpy(dtype="float64", na_value=np.nan)
    day = rec.visits["day"].to_numpy(dtype="float64", na_value=np.nan)
    ok = (pos >= 0) & ~np.isnan(leg)
    mods = sorted(out["modality"].unique())
    X, names, _ = _design(out.assign(modality=out["modality"].astype("str")), modalities=mods[1:],
                          covariates=list(FIXED_DAY_COVARIATES), y_events=None, both_ends=False, constant=True)
    by = np.searchsorted(mods, out["modality"].to_numpy(dtype=object))
    knots = np.unique(np.quantile(day[ok], SPLINE_QUANTILES))
    return leg[ok], pos[ok], day[ok], natural_spline_basis(day[ok], knots), X, by


def _mixedlm(args, ours, q):
    import statsmodels.api as sm
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    y, unit, t, B, X, by = args
    g = by[unit]
    k = B.shape[1]
    Xfull = np.column_stack([X[unit]] + [B * (g == m)[:, None] for m in range(by.max() + 1)])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.MixedLM(y, Xfull, groups=unit, exog_re=np.column_stack([np.ones(len(t)), t])).fit(
            reml=True, method=["lbfgs"])
    secs = time.perf_counter() - t0
    beta, re_cov, sigma2 = ours
    # both fits judged by statsmodels' own REML log-likelihood (cov_re is given relative to the scale)
    at_ours = res.model.loglike(MixedLMParams.from_components(fe_params=beta, cov_re=re_cov / sigma2), profile_fe=False)
    q.put((secs, np.asarray(res.fe_params), k, float(res.llf), float(at_ours)))


def main() -> None:
    sys.path.insert(0, str(HERE.parent / "src"))
    from analysis.stats import growth_curve_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[1000, 5000, 20000])
    ap.add_argument("--limit", type=float, default=600.0)
    a = ap.parse_args()
    print(f"{'episodes':>9} {'visits':>9} {'ours s':>8} {'MixedLM s':>10} {'max |diff| beta':>16} "
          f"{'REML loglik MixedLM':>20} {'at ours':>12}")
    skip = False
    for n in a.sizes:
        folder = HERE / "out" / f"csv-{n}"
        if not (folder / "visits.csv").exists():
            subprocess.run([sys.executable, "-m", "analysis", "sample", "-o", str(folder), "--episodes", str(n),
                            "--seed", "1"], check=True, capture_output=True)
        args = design(folder)
        t0 = time.perf_counter()
        fit = growth_curve_model(*args)
        ours = time.perf_counter() - t0
        if skip:
            print(f"{n:>9,} {len(args[0]):>9,} {ours:>8.2f} {'skipped':>10} {'':>16}")
            continue
        q = mp.Queue()
        p = mp.Process(target=_mixedlm, args=(args, (fit.beta, fit.re_cov, fit.sigma2), q))
        p.start()
        p.join(a.limit)
        if p.is_alive():
            p.terminate()
            print(f"{n:>9,} {len(args[0]):>9,} {ours:>8.2f} {'>' + str(int(a.limit)):>10} {'':>16}")
            skip = True
            continue
        secs, beta, _, ll_sm, ll_ours = q.get()
        print(f"{n:>9,} {len(args[0]):>9,} {ours:>8.2f} {secs:>10.1f} {np.max(np.abs(beta - fit.beta)):>16.2e} "
              f"{ll_sm:>20.2f} {ll_ours:>12.2f}", flush=True)
        skip = secs > a.limit / 4


if __name__ == "__main__":
    main()
