"""Figures: seaborn/matplotlib, readable on a projector, one colour per modality.

Every function draws a table made by :mod:`analysis.methods` or
:mod:`analysis.methods` (so the numbers in a figure can be read and tested as
data) and returns the matplotlib Figure. Colours come from Paul Tol's
colour-blind-safe "muted" scheme, assigned once per modality in catalogue code
order (:func:`modality_colors`), so a modality has the same colour in every
figure, whatever the filters.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from ..methods import COMPLETENESS_ITEMS, compared_outcome, funnel_limits
from ._html import missing_estimate_text

__all__ = ["PALETTE", "modality_colors", "plot_adjusted_funnel", "plot_completeness", "plot_forest", "plot_funnel", "plot_survival", "plot_trajectories"]

#: Paul Tol's "muted" qualitative scheme (colour-blind safe), then his "light" scheme for a tenth+ modality.
PALETTE = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499",
           "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#BBCC33", "#AAAA00", "#DDDDDD")

_RC = {
    "font.size": 13,
    "axes.titlesize": 15,
    "axes.labelsize": 14,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 110,
    # labels are clinic text, never math: "$40_$60" is drawn as typed instead of failing as TeX
    "text.parse_math": False,
}

#: Longest label drawn in a figure; longer ones end in an ellipsis there (the tables carry the full text).
FIGURE_LABEL_CHARS = 32


def _short(text, limit: int = FIGURE_LABEL_CHARS) -> str:
    """A label cut to *limit* characters for a figure (legend, axis, annotation)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


@contextmanager
def _style():
    with sns.axes_style("whitegrid"), plt.rc_context(_RC):
        yield


def modality_colors(codes) -> dict[str, str]:
    """A fixed colour per modality code, in code order.

    Pass the whole catalogue (``records.modalities["code"]``), not a filtered
    subset, so colours do not move when filters change.

    Examples
    --------
    >>> from analysis.present import modality_colors
    >>> modality_colors(["traction", "mckenzie"])
    {'mckenzie': '#332288', 'traction': '#88CCEE'}
    """
    ordered = sorted(dict.fromkeys(str(c) for c in codes))
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(ordered)}


def _new_ax(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)  # no layout engine: the saved tight box takes in every label
    return fig, ax


def plot_trajectories(traj: pd.DataFrame, *, labels: dict | None = None, colors: dict | None = None, ax=None,
                      min_n: int = 1, ylabel: str = "Leg pain (0-10), mean and 95% CI"):
    """Mean pain by visit number, one line per group, with 95% confidence bands.

    Parameters
    ----------
    traj : pandas.DataFrame
        From :func:`analysis.methods.pain_trajectories`.
    labels, colors : dict, optional, keyword-only
        Group code -> label / colour.
    ax : matplotlib Axes, optional, keyword-only
    min_n : int, keyword-only
        Points based on fewer episodes are not drawn (disclosure control).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from analysis import load_records
    >>> from analysis.methods import pain_trajectories
    >>> from analysis.present import plot_trajectories
    >>> fig = plot_trajectories(pain_trajectories(load_records("data/sample")))
    >>> len(fig.axes[0].lines)
    9
    """
    labels = labels or {}
    colors = colors or modality_colors(traj["group"].unique())
    with _style():
        fig, ax = _new_ax(ax, (10, 6))
        for g, d in sorted(traj.groupby("group", sort=False), key=lambda kv: str(kv[0])):
            d = d[d["n"] >= min_n].sort_values("visit_no")
            if d.empty:
                continue
            c = colors.get(g, "#444444")
            ax.plot(d["visit_no"], d["mean"], marker="o", color=c, lw=2.2, label=_short(labels.get(g, g)))
            ax.fill_between(d["visit_no"], d["ci_low"], d["ci_high"], color=c, alpha=0.12, lw=0)
        ax.set_xlabel("Visit number")
        ax.set_ylabel(ylabel)
        ax.set_xticks(sorted(traj["visit_no"].unique()))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, title="Modality")
    return fig


def plot_survival(curves: pd.DataFrame, at_risk: pd.DataFrame, *, labels: dict | None = None,
                  colors: dict | None = None, horizon: float | None = None, ci: bool | None = None,
                  count_format: Callable[[int], str] | None = None,
                  title: str = "Surgery-free among surgical candidates"):
    """Kaplan-Meier surgery-free curves with CI bands and the numbers at risk as a table underneath.

    Parameters
    ----------
    curves, at_risk : pandas.DataFrame
        From :func:`analysis.methods.survival_curves`.
    labels, colors : dict, optional, keyword-only
    horizon : float, optional, keyword-only
        Draws a dotted line at the horizon and limits the x axis to it.
    ci : bool, optional, keyword-only
        Draw the pointwise (log-log) confidence bands; by default only when
        there are at most three curves (more bands hide each other).
    count_format : callable, optional, keyword-only
        Formats each at-risk count (disclosure control hooks in here).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the curves, and the at-risk table below (its texts are the
        ``at_risk`` numbers).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import survival_curves
    >>> from analysis.present import plot_survival
    >>> curves, risk = survival_curves(derive_outcomes(load_records("data/sample")))
    >>> fig = plot_survival(curves, risk, horizon=365)
    >>> len(fig.axes), len(fig.axes[1].texts) == len(risk)
    (2, True)
    """
    labels = labels or {}
    groups = sorted(curves["group"].unique(), key=str)
    colors = colors or modality_colors(groups)
    fmt = count_format or (lambda n: f"{int(n):,}")
    times = sorted(at_risk["time"].unique())
    if ci is None:
        ci = len(groups) <= 3
    with _style():
        # no layout engine: the saved figure's tight box takes in the legend and the labels (and draws a
        # third faster than constrained layout, which measures every number at risk on each pass)
        fig = plt.figure(figsize=(11, 6.5 + 0.32 * len(groups)))
        gs = fig.add_gridspec(2, 1, height_ratios=[6, 0.42 * max(len(groups), 1) + 0.4], hspace=0.22)
        ax = fig.add_subplot(gs[0])
        tab = fig.add_subplot(gs[1], sharex=ax)
        for g in groups:
            d = curves[curves["group"] == g].sort_values("time", kind="stable")
            stopped = bool(d["stopped"].iloc[-1]) if "stopped" in d.columns else False
            # a curve cut for disclosure ends where it was cut; before that it stays flat between events
            end = float(d["time"].iloc[-1]) if stopped else np.inf
            if horizon is not None:
                d = d[d["time"] <= horizon]
                last = d.iloc[-1]
                reach = min(float(horizon), end)
                if float(last["time"]) < reach:
                    d = pd.concat([d, last.to_frame().T.assign(time=reach)], ignore_index=True)
            c = colors.get(g, "#444444")
            ax.step(d["time"].astype(float), d["survival"].astype(float), where="post", color=c, lw=2.2,
                    label=_short(labels.get(g, g)))
            if ci:
                ax.fill_between(d["time"].astype(float), d["ci_low"].astype(float), d["ci_high"].astype(float),
                                step="post", color=c, alpha=0.10, lw=0)
        span = horizon if horizon is not None else max(times) if times else 1
        if horizon is not None:
            ax.axvline(horizon, color="#555555", ls=":", lw=1.5)
        ax.set_xlim(-0.06 * span, span * 1.04)
        ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_ylabel("Surgery-free (Kaplan-Meier)")
        ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, title="Modality")
        plt.setp(ax.get_xticklabels(), visible=False)
        # the at-risk table: one row per group, numbers at the x positions of the time points
        tab.set_ylim(-0.5, len(groups) - 0.5)
        tab.invert_yaxis()
        tab.set_yticks(range(len(groups)))
        tab.set_yticklabels([_short(labels.get(g, g)) for g in groups])
        for i, g in enumerate(groups):
            for t in times:
                row = at_risk[(at_risk["group"] == g) & (at_risk["time"] == t)]
                n = int(row["at_risk"].iloc[0]) if len(row) else 0
                # dark and as large as the tick labels: pale palette colours vanish on paper
                tab.text(t, i, fmt(n), ha="center", va="center", fontsize=12, color="#222222")
        tab.set_xticks(times)
        tab.set_xlabel("Days since start of treatment")
        tab.set_title("Numbers at risk", fontsize=13, loc="left")
        tab.grid(False)
        for side in ("left", "top", "right"):
            tab.spines[side].set_visible(False)
        tab.tick_params(axis="y", length=0)
    return fig


def plot_forest(adjusted: pd.DataFrame, *, estimate: str, labels: dict | None = None, colors: dict | None = None,
                reference_label: str | None = None, ax=None, xlabel: str | None = None):
    """Forest plot of adjusted comparisons against the reference modality.

    Parameters
    ----------
    adjusted : pandas.DataFrame
        One of the tables of :func:`analysis.methods.adjusted_comparisons`.
    estimate : {"difference", "odds_ratio", "hazard_ratio"}, keyword-only
        Ratios are drawn on a log scale around 1; differences around 0.

    Returns
    -------
    matplotlib.figure.Figure
        One point (and interval line) per estimable modality; the others are
        labelled "not estimable", or "not shown" where a disclosure rule hid the
        estimate (:func:`analysis.disclosure.apply_disclosure_to_adjusted`).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, adjusted_comparisons
    >>> from analysis.present import plot_forest
    >>> adj = adjusted_comparisons(derive_outcomes(load_records("data/sample")))
    >>> fig = plot_forest(adj["recovered"], estimate="odds_ratio")
    >>> len(fig.axes[0].collections[1].get_offsets())  # the points; collections[0] holds the intervals
    8
    """
    labels = labels or {}
    colors = colors or modality_colors(adjusted["modality"])
    ratio = estimate != "difference"
    # the table's order, first row at the top
    d = adjusted.iloc[::-1].reset_index(drop=True)
    ok = d[estimate].notna()
    with _style():
        fig, ax = _new_ax(ax, (9, 0.55 * len(d) + 1.8))
        y = np.arange(len(d))
        ax.hlines(y[ok], d.loc[ok, "ci_low"], d.loc[ok, "ci_high"], color=[colors.get(m, "#444") for m in d.loc[ok, "modality"]], lw=2.5)
        ax.scatter(d.loc[ok, estimate], y[ok], s=70, zorder=3, c=[colors.get(m, "#444") for m in d.loc[ok, "modality"]],
                   edgecolor="black", linewidth=0.6)
        null = 1.0 if ratio else 0.0
        ax.axvline(null, color="#555555", lw=1.2, ls="--")
        if ratio:
            ax.set_xscale("log")
            lo = np.nanmin(d.loc[ok, "ci_low"]) if ok.any() else 0.5
            hi = np.nanmax(d.loc[ok, "ci_high"]) if ok.any() else 2
            ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if lo / 1.5 <= t <= hi * 1.5]
            ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks or [1]))
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        for yi in y[~ok]:
            ax.text(null, yi, missing_estimate_text(d.iloc[yi], estimate), ha="center",
                    va="center", fontsize=11, color="#555555", style="italic")
        ax.set_yticks(y)
        ax.set_yticklabels([_short(labels.get(m, m)) for m in d["modality"]])
        ax.set_ylim(-0.7, len(d) - 0.3)
        spec = compared_outcome(estimate)
        ref = _short(reference_label) if reference_label else "the reference"
        ax.set_xlabel(f"{xlabel or spec.axis}\n\u2190 {spec.lower_means} {ref}      "
                      f"{spec.higher_means} {ref} \u2192")
        if reference_label:
            ax.set_title(f"{spec.label}: compared with {ref}, adjusted for case mix", fontsize=13,
                         loc="left")
        ax.grid(axis="y", visible=False)
    return fig


def plot_funnel(funnel: pd.DataFrame, *, unit_label: str = "Clinic", outcome_label: str = "Recovered", ax=None):
    """Funnel plot: each unit's rate against its number of episodes, with 95% and 99.8% limits.

    Parameters
    ----------
    funnel : pandas.DataFrame
        From :func:`analysis.methods.funnel_data`.

    Returns
    -------
    matplotlib.figure.Figure
        One point per unit, the overall rate as a horizontal line, and the
        limit curves (two per level).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import funnel_data
    >>> from analysis.present import plot_funnel
    >>> fig = plot_funnel(funnel_data(derive_outcomes(load_records("data/sample"))))
    >>> len(fig.axes[0].collections[0].get_offsets()), len(fig.axes[0].lines)
    (3, 5)
    """
    p0 = float(funnel["overall"].iloc[0]) if len(funnel) else np.nan
    n_max = max(int(funnel["n"].max()) if len(funnel) else 10, 10)
    grid = np.unique(np.round(np.geomspace(max(2, int(funnel["n"].min() * 0.5) if len(funnel) else 2), n_max * 1.3, 200)))
    lim = funnel_limits(p0, grid)
    with _style():
        fig, ax = _new_ax(ax, (9, 6))
        ax.scatter(funnel["n"], funnel["rate"], s=80, color="#332288", edgecolor="black", zorder=3)
        for _, r in funnel.iterrows():
            ax.annotate(_short(r["unit"]), (r["n"], r["rate"]), textcoords="offset points", xytext=(7, 5), fontsize=12)
        ax.axhline(p0, color="#555555", lw=1.5)
        ax.plot(grid, lim["low_95"], color="#CC6677", ls="--", lw=1.5, label="95% limits")
        ax.plot(grid, lim["high_95"], color="#CC6677", ls="--", lw=1.5)
        ax.plot(grid, lim["low_99.8"], color="#882255", ls=":", lw=1.8, label="99.8% limits")
        ax.plot(grid, lim["high_99.8"], color="#882255", ls=":", lw=1.8)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel(f"Episodes with the outcome recorded, per {unit_label.lower()}")
        ax.set_ylabel(f"{outcome_label} (%)")
        ax.set_ylim(max(0, min(lim["low_99.8"].min(), funnel["rate"].min() if len(funnel) else 0) - 0.05),
                    min(1, max(lim["high_99.8"].max(), funnel["rate"].max() if len(funnel) else 1) + 0.05))
        ax.legend(frameon=False, loc="lower right")
    return fig


def plot_adjusted_funnel(bench: pd.DataFrame, *, unit_label: str = "Therapist",
                         outcome_label: str = "Recovered, percentage points", ax=None):
    """Risk-adjusted funnel plot: each unit's observed-minus-expected difference against its episodes.

    Parameters
    ----------
    bench : pandas.DataFrame
        From :func:`analysis.methods.benchmark_units` (its ``attrs`` carry the
        within- and between-unit variances for the limits). Units without a
        figure (under the minimum size) are not drawn.

    Returns
    -------
    matplotlib.figure.Figure
        One labelled point per unit, a line at 0 (as expected for the case
        mix), and the 95 % and 99.8 % limits allowing for overdispersion.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import benchmark_units
    >>> from analysis.present import plot_adjusted_funnel
    >>> b = benchmark_units(derive_outcomes(load_records("data/sample")), outcome="recovered")
    >>> fig = plot_adjusted_funnel(b)
    >>> len(fig.axes[0].collections[0].get_offsets()), len(fig.axes[0].lines)
    (12, 5)
    """
    from ..methods import funnel_limits_adjusted

    shown = bench[bench["difference"].notna()]
    n_max = max(int(shown["n"].max()) if len(shown) else 10, 10)
    n_min = max(2, int(shown["n"].min() * 0.6) if len(shown) else 2)
    grid = np.unique(np.round(np.geomspace(n_min, n_max * 1.3, 200)))
    sigma2, tau2 = (float(bench["sigma2"].iloc[0]), float(bench["tau2"].iloc[0])) if len(bench) else (np.nan, 0.0)
    lim = funnel_limits_adjusted(grid, sigma2=sigma2, tau2=tau2)
    with _style():
        fig, ax = _new_ax(ax, (9, 6))
        ax.scatter(shown["n"], shown["difference"], s=80, color="#332288", edgecolor="black", zorder=3)
        for _, r in shown.iterrows():
            ax.annotate(_short(r["unit"]), (r["n"], r["difference"]), textcoords="offset points", xytext=(7, 5),
                        fontsize=11)
        ax.axhline(0, color="#555555", lw=1.5)
        ax.plot(grid, lim["low_95"], color="#CC6677", ls="--", lw=1.5, label="95% limits")
        ax.plot(grid, lim["high_95"], color="#CC6677", ls="--", lw=1.5)
        ax.plot(grid, lim["low_99.8"], color="#882255", ls=":", lw=1.8, label="99.8% limits")
        ax.plot(grid, lim["high_99.8"], color="#882255", ls=":", lw=1.8)
        ax.set_xlabel(f"Episodes per {unit_label.lower()}")
        ax.set_ylabel(f"Observed minus expected: {outcome_label}")
        ax.legend(frameon=False, loc="lower right")
    return fig


def plot_completeness(table: pd.DataFrame, *, labels: dict | None = None, ax=None):
    """Heat map of the share of episodes with each outcome recorded, by group.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`analysis.methods.completeness_table`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import completeness_table
    >>> from analysis.present import plot_completeness
    >>> fig = plot_completeness(completeness_table(derive_outcomes(load_records("data/sample"))))
    >>> len(fig.axes[0].texts)
    60
    """
    labels = labels or {}
    cols = {f"{k}_pct": v for k, v in COMPLETENESS_ITEMS.items()}
    data = table.set_index(table["group"].map(lambda g: _short(labels.get(g, g))))[list(cols)].rename(columns=cols)
    with _style():
        fig, ax = _new_ax(ax, (11, 0.5 * len(data) + 2.5))
        sns.heatmap(data, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100, cbar_kws={"label": "% of episodes"},
                    ax=ax, linewidths=0.5)
        ax.set_ylabel("")
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=20)
    return fig
