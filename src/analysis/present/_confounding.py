"""Confounding diagnostics as a clinician reads them: overlap figure, love plot, doubly robust table, one sentence.

Pure functions of disclosed results (:func:`analysis.disclosure.apply_disclosure_to_confounding`):
a bar or point the rule hides in a table is not drawn either.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..methods import COVARIATE_LABELS, ESS_SHARE, Status
from ..records.schema import code_label
from ._html import missing_estimate_text
from ._plots import _short, _style, modality_colors

__all__ = ["alt_love", "alt_overlap", "confounding_sentence", "format_doubly_robust_table", "love_numbers",
           "overlap_numbers", "plot_love", "plot_overlap", "term_label"]

#: |SMD| under this counts as balanced (R cobalt's convention).
BALANCED = 0.1


def _name(labels, m):
    return (labels or {}).get(m, m)


def term_label(term: str) -> str:
    """A case-mix term in clinical words.

    Examples
    --------
    >>> from analysis.present import term_label
    >>> term_label("cause:disc_herniation"), term_label("baseline_leg_pain"), term_label("clinic:CEN")
    ('Cause: Disc herniation', 'Leg pain at first visit', 'Clinic: CEN')
    """
    cov, _, level = term.partition(":")
    name = COVARIATE_LABELS.get(cov, cov.replace("_", " "))
    if not level:
        return name[0].upper() + name[1:]
    name = name.split(" (")[0]
    return f"{name[0].upper() + name[1:]}: {code_label(cov, level)}"


def plot_overlap(bins: pd.DataFrame, *, labels: dict | None = None, colors: dict | None = None,
                 reference_label: str = "the reference"):
    """Propensity overlap: for each modality, its patients (up) and the reference's (down) by propensity.

    The propensity is the probability, given the case mix, of receiving the
    modality rather than the reference. Where the two histograms do not
    overlap, no patient of one group resembles a patient of the other and a
    comparison there rests on the model alone. Bars hidden by the
    disclosure rule (``drawn`` NaN) are not drawn.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import plot_overlap
    >>> b = pd.DataFrame({"modality": ["a"] * 4, "group": ["modality", "modality", "reference", "reference"],
    ...                   "low": [0.0, 0.5] * 2, "high": [0.5, 1.0] * 2, "drawn": [10.0, 20.0, 30.0, float("nan")]})
    >>> fig = plot_overlap(b)
    >>> len(fig.axes[0].patches)  # three bars: the hidden one is not drawn
    3
    """
    mods = list(dict.fromkeys(bins["modality"]))
    colors = colors or modality_colors(mods)
    ncol = 4 if len(mods) > 6 else max(1, min(len(mods), 3))
    nrow = int(np.ceil(len(mods) / ncol)) if mods else 1
    ref = _short(reference_label, 24)
    with _style():
        fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol + 0.6, 2.3 * nrow + 0.9), squeeze=False,
                                 sharex=True)
        for ax in axes.ravel()[len(mods):]:
            ax.set_visible(False)
        for ax, m in zip(axes.ravel(), mods):
            b = bins[bins["modality"] == m]
            up = b[(b["group"] == "modality") & b["drawn"].notna()]
            down = b[(b["group"] == "reference") & b["drawn"].notna()]
            ax.bar(up["low"], up["drawn"], width=up["high"] - up["low"], align="edge",
                   color=colors.get(m, "#4c72b0"), edgecolor="white", linewidth=0.5)
            ax.bar(down["low"], -down["drawn"], width=down["high"] - down["low"], align="edge",
                   color="#9a9a9a", edgecolor="white", linewidth=0.5)
            ax.axhline(0, color="#333333", lw=0.8)
            top = max(float(np.nanmax(b["drawn"])) if b["drawn"].notna().any() else 1.0, 1.0)
            ax.set_ylim(-top * 1.1, top * 1.1)
            ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{abs(v):g}"))
            ax.set_xlim(0, 1)
            ax.set_title(_short(_name(labels, m), 26), fontsize=10)
            ax.tick_params(labelsize=8)
        fig.supxlabel(f"Propensity: chance of this modality rather than {ref}, given the case mix", fontsize=10)
        fig.supylabel(f"Episodes (up: the modality's; down: {ref}'s)", fontsize=10)
        fig.suptitle(f"Whom each modality treated, compared with {ref}", fontsize=12)
        fig.tight_layout()
    return fig


def alt_overlap(overlap: pd.DataFrame, *, labels: dict | None = None) -> str:
    """Alternative text for the overlap figure: the effective sample sizes in words."""
    parts = []
    for r in overlap.to_dict("records"):
        if pd.isna(r["effective_n"]):
            continue
        parts.append(f"{_name(labels, r['modality'])} {100 * r['ess_share']:.0f} %")
    return ("Histograms of the propensity of each modality against the reference. Effective share of episodes "
            "after weighting: " + ("; ".join(parts) if parts else "none shown") + ".")


def _count(n) -> str:
    return f"{int(n):,}"


def overlap_numbers(bins: pd.DataFrame, overlap: pd.DataFrame, *, labels: dict | None = None,
                    count_format=_count) -> pd.DataFrame:
    """The overlap figure's bars as a table: a row per propensity band, a column per modality.

    Each cell reads "episodes of the modality / episodes of the reference"
    (counts as the disclosure rule shows them); the last row gives the
    modality's effective number of episodes after weighting.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import overlap_numbers
    >>> b = pd.DataFrame({"modality": ["a"] * 2, "group": ["modality", "reference"], "low": [0.0, 0.0],
    ...                   "high": [1.0, 1.0], "count_text": ["12", "1-7"]})
    >>> o = pd.DataFrame({"modality": ["a"], "n": [12], "effective_n": [9.4]})
    >>> overlap_numbers(b, o).values.tolist()
    [['0.0-1.0', '12 / 1-7'], ['Effective episodes after weighting', '9 of 12']]
    """
    eff = overlap.set_index("modality")
    hidden = set(eff.index[eff["status"] == Status.HIDDEN]) if "status" in eff.columns else set()
    mods = list(dict.fromkeys(bins["modality"]))
    bands = bins[["low", "high"]].drop_duplicates().sort_values("low")
    table = {"Propensity (episodes of the modality / of the reference)":
             [f"{lo:.1f}-{hi:.1f}" for lo, hi in zip(bands["low"], bands["high"])]
             + ["Effective episodes after weighting"]}
    for m in mods:
        b = bins[bins["modality"] == m]
        col = []
        for lo in bands["low"]:
            cell = {r["group"]: r["count_text"] for r in b[b["low"] == lo].to_dict("records")}
            col.append(f"{cell.get('modality', '')} / {cell.get('reference', '')}")
        e = eff.loc[m, "effective_n"] if m in eff.index else np.nan
        col.append("not shown (too few episodes)" if m in hidden or pd.isna(e) else
                   f"{e:.0f} of {count_format(eff.loc[m, 'n'])}")
        table[_name(labels, m)] = col
    return pd.DataFrame(table)


def _love_frame(balance: pd.DataFrame) -> pd.DataFrame:
    b = balance.dropna(subset=["smd", "weighted_smd"])
    if b.empty:
        return pd.DataFrame(columns=["term", "before", "after", "modality"])
    b = b.assign(before=b["smd"].abs(), after=b["weighted_smd"].abs())
    worst = b.loc[b.groupby("term", sort=False)["after"].idxmax(), ["term", "modality", "after"]]
    out = b.groupby("term", sort=False).agg(before=("before", "max")).reset_index().merge(worst, on="term")
    return out[["term", "before", "after", "modality"]]


def plot_love(balance: pd.DataFrame):
    """Love plot: each case-mix item's largest imbalance across modalities, before and after weighting.

    Imbalance is the absolute standardised mean difference against the
    reference; under 0.1 (the dashed line) counts as balanced.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import plot_love
    >>> b = pd.DataFrame({"modality": ["a", "b"], "term": ["baseline_leg_pain"] * 2, "smd": [0.4, -0.2],
    ...                   "weighted_smd": [0.05, 0.02]})
    >>> fig = plot_love(b)
    >>> [c.get_offsets().tolist() for c in fig.axes[0].collections]
    [[[0.4, 0.0]], [[0.05, 0.0]]]
    """
    f = _love_frame(balance).iloc[::-1].reset_index(drop=True)
    with _style():
        fig, ax = plt.subplots(figsize=(8.5, 0.28 * len(f) + 1.6))
        y = np.arange(len(f))
        ax.scatter(f["before"], y, facecolors="white", edgecolors="#c44e52", s=40, label="before weighting", zorder=3)
        ax.scatter(f["after"], y, color="#4c72b0", s=40, label="after weighting", zorder=3)
        ax.axvline(BALANCED, color="#555555", ls="--", lw=1)
        ax.set_yticks(y)
        ax.set_yticklabels([_short(term_label(t), 40) for t in f["term"]], fontsize=8)
        ax.set_xlabel("Largest difference from the reference across modalities (absolute standardised mean "
                      "difference)\nleft of the dashed line (0.1): balanced", fontsize=9)
        ax.set_xlim(left=0)
        ax.set_title("Case mix before and after weighting", fontsize=12)
        ax.legend(loc="lower right", fontsize=8, frameon=True)
        fig.tight_layout()
    return fig


def alt_love(balance: pd.DataFrame) -> str:
    """Alternative text for the love plot."""
    f = _love_frame(balance)
    if f.empty:
        return "Case-mix balance: nothing to show."
    off_before = int((f["before"] >= BALANCED).sum())
    off_after = int((f["after"] >= BALANCED).sum())
    return (f"Case-mix balance against the reference: {off_before} of {len(f)} items differ noticeably (0.1 or "
            f"more) in at least one modality before weighting, {off_after} after weighting.")


def love_numbers(balance: pd.DataFrame, *, labels: dict | None = None) -> pd.DataFrame:
    """The love plot's points as a table.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import love_numbers
    >>> b = pd.DataFrame({"modality": ["a"], "term": ["sex:male"], "smd": [0.3], "weighted_smd": [-0.04]})
    >>> love_numbers(b).values.tolist()
    [['Sex: Male', '0.30', '0.04', 'a']]
    """
    f = _love_frame(balance)
    return pd.DataFrame({"Case-mix item": [term_label(t) for t in f["term"]],
                         "Largest difference before weighting": [f"{v:.2f}" for v in f["before"]],
                         "after weighting": [f"{v:.2f}" for v in f["after"]],
                         "Modality with the largest difference after": [_name(labels, m) for m in f["modality"]]})


def format_doubly_robust_table(doubly_robust: dict, adjusted: dict, overlap: pd.DataFrame, *,
                               labels: dict | None = None, count_format=_count) -> pd.DataFrame:
    """The regression estimate and the doubly robust estimate side by side, per modality.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, adjusted_comparisons
    >>> from analysis.methods import confounding_diagnostics
    >>> from analysis.present import format_doubly_robust_table
    >>> out = derive_outcomes(load_records("data/sample"))
    >>> adj = adjusted_comparisons(out); diag = confounding_diagnostics(out, adjusted=adj)
    >>> t = format_doubly_robust_table(diag["doubly_robust"], adj, diag["overlap"])
    >>> list(t.columns)[:3]
    ['Modality', 'Leg pain difference, points: regression', 'doubly robust']
    """
    heads = {"leg_pain_change": ("Leg pain difference, points: regression", "doubly robust", "difference", "+.2f"),
             "recovered": ("Recovered, odds ratio: regression", "doubly robust ", "odds_ratio", ".2f")}
    ov = overlap.set_index("modality")
    rows = []
    first = next(iter(doubly_robust.values()))
    for m in first["modality"]:
        row = {"Modality": _name(labels, m)}
        for key, (h_reg, h_dr, est, fmt) in heads.items():
            a = adjusted[key].set_index("modality").loc[m]
            d = doubly_robust[key].set_index("modality").loc[m]
            row[h_reg] = (missing_estimate_text(a, est) if pd.isna(a[est]) else
                          f"{a[est]:{fmt}} ({a['ci_low']:{fmt}} to {a['ci_high']:{fmt}})")
            if pd.isna(d["estimate"]):
                row[h_dr] = missing_estimate_text(d.rename({"estimate": est}), est)
            else:
                flag = " (rests on model assumptions)" if d["status"] == Status.CAUTION else ""
                row[h_dr] = f"{d['estimate']:{fmt}} ({d['ci_low']:{fmt}} to {d['ci_high']:{fmt}}){flag}"
        e = ov.loc[m, "effective_n"] if m in ov.index else np.nan
        row["Effective episodes after weighting"] = "" if pd.isna(e) else f"{e:.0f} of {count_format(ov.loc[m, 'n'])}"
        rows.append(row)
    return pd.DataFrame(rows)


def confounding_sentence(doubly_robust: dict, overlap: pd.DataFrame, *, labels: dict | None = None,
                         truncation=(1.0, 99.0), count_format=_count) -> str:
    """One plain paragraph: whether the comparisons rest on the regression's assumptions, and where.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import confounding_sentence
    >>> ov = pd.DataFrame({"modality": ["a"], "n": [100], "effective_n": [30.0], "ess_share": [0.3]})
    >>> dr = {"leg_pain_change": pd.DataFrame({"modality": ["a"], "status": ["caution"], "estimate": [0.1],
    ...       "ci_low": [-0.2], "ci_high": [0.4], "regression": [0.6]})}
    >>> confounding_sentence(dr, ov)[:57]
    'For a the comparison rests on model assumptions: its doub'
    """
    poor = [r for r in overlap.to_dict("records") if not pd.isna(r["effective_n"]) and r["ess_share"] < ESS_SHARE]
    disagree = {}
    for key, t in doubly_robust.items():
        for r in t.to_dict("records"):
            if pd.isna(r["estimate"]) or pd.isna(r["regression"]):
                continue
            if not (r["ci_low"] <= r["regression"] <= r["ci_high"]):
                disagree.setdefault(r["modality"], []).append("leg pain" if key == "leg_pain_change" else "recovery")
    flagged = list(dict.fromkeys([r["modality"] for r in poor] + list(disagree)))
    words = []
    for m in flagged:
        why = []
        if m in disagree:
            why.append(f"its doubly robust estimate for {' and '.join(disagree[m])} differs from the regression's "
                       "beyond its interval")
        p = next((r for r in poor if r["modality"] == m), None)
        if p is not None:
            why.append(f"after weighting its {count_format(p['n'])} episodes count as only {p['effective_n']:.0f}, because "
                       "many of its patients have no counterpart among the reference's")
        words.append(f"For {_name(labels, m)} the comparison rests on model assumptions: {' and '.join(why)}.")
    lo, hi = truncation if truncation else (None, None)
    trunc = (f" The weights of each group (the modality's patients and the reference's) were truncated at their "
             f"own {lo:g}st and {hi:g}th percentiles." if truncation else "")
    how = ("The doubly robust estimate weights each patient by how unusual their treatment was for their case mix "
           "and corrects the regression with the weighted residuals; it is right if either the model of who gets "
           f"which modality or the outcome regression is right.{trunc}")
    if not flagged:
        return ("For every modality the doubly robust estimate agrees with the regression and weighting keeps at "
                "least half of each modality's episodes: the comparisons do not hinge on the regression's form. "
                + how)
    return " ".join(words) + " " + how
