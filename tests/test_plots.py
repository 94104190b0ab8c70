"""Figures draw what the tables say: lines, points and at-risk numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis import adjusted_comparisons  # noqa: E402
from analysis.disclosure import disclosure_rule
from analysis.methods import (
    completeness_table,
    funnel_data,
    pain_trajectories,
    survival_curves,
)
from analysis.present import (
    PALETTE,
    modality_colors,
    plot_completeness,
    plot_forest,
    plot_funnel,
    plot_survival,
    plot_trajectories,
)


@pytest.fixture(autouse=True)
def close_figs():
    yield
    plt.close("all")


def test_palette_is_fixed_per_code_whatever_the_subset():
    full = modality_colors(["a", "b", "c", "d"])
    assert full == {"a": PALETTE[0], "b": PALETTE[1], "c": PALETTE[2], "d": PALETTE[3]}
    assert len(set(modality_colors([f"m{i}" for i in range(9)]).values())) == 9


def test_trajectories_one_line_per_modality_with_right_points(data):
    rec, _ = data
    traj = pain_trajectories(rec)
    fig = plot_trajectories(traj, labels=rec.labels)
    ax = fig.axes[0]
    assert len(ax.lines) == traj["group"].nunique()
    mck = next(line for line in ax.lines if line.get_label() == "McKenzie (MDT)")
    expected = traj[traj["group"] == "mckenzie"].sort_values("visit_no")["mean"].to_numpy()
    np.testing.assert_allclose(mck.get_ydata(), expected)


def test_trajectories_hide_small_points(data):
    rec, _ = data
    traj = pain_trajectories(rec)
    fig = plot_trajectories(traj, min_n=60)
    drawn = sum(len(line.get_xdata()) for line in fig.axes[0].lines)
    assert drawn == int((traj["n"] >= 60).sum())


def test_survival_at_risk_table_matches_statistics(data):
    rec, out = data
    curves, risk = survival_curves(out)
    fig = plot_survival(curves, risk, labels=rec.labels, horizon=365)
    table_ax = fig.axes[1]
    shown = sorted((round(t.get_position()[0]), t.get_text()) for t in table_ax.texts)
    expected = sorted((round(r["time"]), f"{r['at_risk']:,}") for r in risk.to_dict("records"))
    assert shown == expected
    assert len(fig.axes[0].lines) == curves["group"].nunique() + 1  # curves + horizon line


def test_survival_at_risk_counts_use_disclosure(data):
    rec, out = data
    curves, risk = survival_curves(out)
    rule = disclosure_rule("public")
    fig = plot_survival(curves, risk, count_format=rule.count)
    assert {t.get_text() for t in fig.axes[1].texts} <= {rule.count(n) for n in risk["at_risk"]}
    assert all(t.get_text() == "*" or int(t.get_text().replace(",", "")) % 5 == 0 for t in fig.axes[1].texts)


def test_forest_points_are_the_estimates(data):
    rec, out = data
    adj = adjusted_comparisons(out)
    fig = plot_forest(adj["surgery"], estimate="hazard_ratio", labels=rec.labels)
    pts = fig.axes[0].collections[1].get_offsets()
    assert sorted(np.round(pts[:, 0], 10)) == sorted(np.round(adj["surgery"]["hazard_ratio"].dropna(), 10))
    assert fig.axes[0].get_xscale() == "log"


def test_forest_marks_non_estimable(data):
    rec, out = data
    adj = adjusted_comparisons(out)["recovered"].copy()
    adj.loc[0, ["odds_ratio", "ci_low", "ci_high"]] = np.nan
    fig = plot_forest(adj, estimate="odds_ratio")
    assert [t.get_text() for t in fig.axes[0].texts] == ["not estimable"]
    assert len(fig.axes[0].collections[1].get_offsets()) == len(adj) - 1


def test_funnel_one_point_per_clinic_and_limits(data):
    _, out = data
    fd = funnel_data(out)
    fig = plot_funnel(fd)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], fd["rate"])
    assert len(ax.lines) == 5  # overall + 2 x 95% + 2 x 99.8%


def test_completeness_heatmap_annotations(data):
    rec, out = data
    c = completeness_table(out)
    fig = plot_completeness(c, labels=rec.labels)
    assert len(fig.axes[0].texts) == len(c) * 6


def test_survival_curves_leave_out_tiny_groups(data):
    _, out = data
    small = out.copy()
    small.loc[small.index[small["in_population"]][:3], "modality"] = "zz_tiny"
    curves, risk = survival_curves(small, min_n=8)
    assert "zz_tiny" not in set(curves["group"]) and "zz_tiny" not in set(risk["group"])
    curves_all, _ = survival_curves(small)
    assert "zz_tiny" in set(curves_all["group"])


def test_survival_curves_reach_the_horizon_while_eight_remain_at_risk():
    """A curve stays flat between events up to the horizon; only 'fewer than 8 at risk' stops it earlier.

    On the sample every modality still has 8 or more at risk at day 365 (its curve is cut for
    disclosure after the horizon, if at all), so every line must reach day 365. The old drawing cut
    a curve whose disclosure stop lay beyond the horizon back to its last event (day 185 for one).
    """
    from analysis import derive_outcomes, load_records
    from analysis.methods import survival_curves
    from analysis.present import plot_survival

    out = derive_outcomes(load_records("data/sample"))
    curves, risk = survival_curves(out, min_n=8, min_at_risk=8)
    pop = out[out["in_population"]]
    assert ((pop["surgery_time"] >= 365).groupby(pop["modality"]).sum() >= 8).all()
    fig = plot_survival(curves, risk, horizon=365)
    ends = [max(line.get_xdata()) for line in fig.axes[0].lines if len(set(line.get_xdata())) > 1]  # not the horizon line
    assert len(ends) == curves["group"].nunique()
    assert ends == pytest.approx([365.0] * len(ends))
    # a curve cut before the horizon still ends where it was cut
    cut = curves[curves["group"] == curves["group"].iloc[0]].copy()
    cut = cut[cut["time"] <= 100]
    cut = pd.concat([cut, cut.iloc[[-1]].assign(time=120.0, stopped=True)], ignore_index=True)
    fig = plot_survival(cut, risk[risk["group"] == cut["group"].iloc[0]], horizon=365)
    assert max(fig.axes[0].lines[0].get_xdata()) == pytest.approx(120.0)


def test_forest_plot_names_the_outcome_and_which_side_favours_what():
    from analysis import adjusted_comparisons, derive_outcomes, load_records
    from analysis.present import plot_forest

    adj = adjusted_comparisons(derive_outcomes(load_records("data/sample")))
    fig = plot_forest(adj["surgery"], estimate="hazard_ratio", reference_label="McKenzie")
    ax = fig.axes[0]
    assert ax.get_title(loc="left").startswith("Surgery: compared with McKenzie")
    assert "\u2190 surgery less often than McKenzie" in ax.get_xlabel()
    assert "surgery more often than McKenzie \u2192" in ax.get_xlabel()
    fig = plot_forest(adj["leg_pain_change"], estimate="difference", reference_label="McKenzie")
    assert "less leg pain than McKenzie" in fig.axes[0].get_xlabel()


def test_forest_rows_follow_the_table_order_top_down(data):
    """Rows as in the adjusted table (code order), first at the top: not alphabetical by label (issue 19)."""
    rec, out = data
    adj = adjusted_comparisons(out)["recovered"]
    labels = {**rec.labels, adj["modality"].iloc[0]: "Zz last alphabetically"}
    fig = plot_forest(adj, estimate="odds_ratio", labels=labels)
    ax = fig.axes[0]
    top_down = [t.get_text() for t in sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])]
    assert top_down == [labels.get(m, m) for m in adj["modality"]]


def test_forest_ratio_ticks_do_not_crowd():
    """0.2 and 0.25 (or 4 and 5) side by side on a log axis overlap ("0.2.25")."""
    adj = pd.DataFrame({"modality": ["a", "b"], "odds_ratio": [0.3, 1.5], "ci_low": [0.15, 0.9],
                        "ci_high": [0.6, 2.5], "note": [None, None]})
    ticks = plot_forest(adj, estimate="odds_ratio").axes[0].get_xticks()
    ratios = np.exp(np.diff(np.log(sorted(ticks))))
    assert (ratios >= 1.99).all(), ticks


def test_labels_are_text_not_math_and_long_ones_are_cut_in_figures(data, tmp_path):
    """'$40_$60' is drawn as typed (it crashed as math text); a 20,000-character label gives a normal image."""
    import io

    rec, out = data
    curves, risk = survival_curves(out, min_n=8, min_at_risk=8)
    first = sorted(curves["group"].unique())[0]
    second = sorted(curves["group"].unique())[1]
    labels = {first: "Pilates $40_$60 package", second: "x" * 20_000}
    fig = plot_survival(curves, risk, labels=labels, horizon=365)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    width, height = fig.get_size_inches() * fig.dpi
    img = plt.imread(io.BytesIO(buf.getvalue()))
    assert img.shape[1] < 2 * width, img.shape  # the legend does not grow with the label
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Pilates $40_$60 package" in legend
    assert max(len(t) for t in legend) <= 32 and any(t.endswith("\u2026") for t in legend)
    plt.close("all")


def test_numbers_at_risk_are_dark_and_readable(data):
    """Pale palette colours (#DDCC77, #88CCEE) vanished on paper: numbers at risk are near-black, 12 pt."""
    rec, out = data
    curves, risk = survival_curves(out)
    fig = plot_survival(curves, risk, horizon=365)
    texts = fig.axes[1].texts
    assert texts and all(matplotlib.colors.to_hex(t.get_color()) == "#222222" for t in texts)
    assert min(t.get_fontsize() for t in texts) >= 12
    plt.close("all")
