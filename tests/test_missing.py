"""Recovery with missing ratings: multiple imputation (Rubin's rules) and the tipping point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import _network

from analysis.methods import recovery_missing_adjusted, recovery_tipping_point
from analysis.methods._missing import _rubin_logit


def test_rubin_rules_by_hand():
    """Rubin (1987): T = W + (1 + 1/m) B, df = (m-1)(1 + W / ((1+1/m) B))^2, on the logit scale."""
    est = np.array([0.1, 0.2, 0.3, 0.0])
    var = np.array([0.01, 0.012, 0.011, 0.009])
    m, qbar, w, b = 4, 0.15, 0.0105, float(np.var(est, ddof=1))
    t = w + (1 + 1 / m) * b
    nu = (m - 1) * (1 + w / ((1 + 1 / m) * b)) ** 2
    from scipy import stats

    half = stats.t.ppf(0.975, nu) * np.sqrt(t)
    expit = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    rate, lo, hi = _rubin_logit(est, var, 0.95)
    assert (rate, lo, hi) == pytest.approx((expit(qbar), expit(qbar - half), expit(qbar + half)))


def test_nothing_missing_gives_the_complete_case_rate(network):
    d = network.assign(recovered=pd.array(network["recovered_true"], dtype="boolean"))
    t = recovery_missing_adjusted(d).set_index("group")
    assert (t["missing"] == 0).all()
    np.testing.assert_allclose(t["rate"], t["complete_case_rate"])
    row = t.loc["Overall"]  # logit-Wald interval of the observed rate
    p, n = row["rate"], row["n"]
    se = 1 / np.sqrt(n * p * (1 - p))
    assert row["ci_low"] == pytest.approx(1 / (1 + np.exp(-(np.log(p / (1 - p)) - 1.959963984540054 * se))))


def test_imputation_removes_most_of_the_complete_case_bias():
    """Ratings missing more often after a poor outcome: the complete-case rate runs high; the
    imputed rate is closer to the rate with every rating known (10 seeded networks)."""
    cc_err, mi_err = [], []
    for seed in range(10):
        d = _network(100 + seed, therapists=20, per=100)
        truth = d["recovered_true"].mean()
        t = recovery_missing_adjusted(d, seed=seed).set_index("group").loc["Overall"]
        cc_err.append(t["complete_case_rate"] - truth)
        mi_err.append(t["rate"] - truth)
    assert np.mean(cc_err) > 0.02
    assert abs(np.mean(mi_err)) < 0.01
    assert abs(np.mean(mi_err)) < np.mean(cc_err) / 3


def test_same_seed_same_result_and_twenty_imputations(network):
    a = recovery_missing_adjusted(network, seed=3)
    b = recovery_missing_adjusted(network, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert (a["imputations"] == 20).all()
    assert a["group"].tolist() == ["Overall", "a", "b", "c"]
    assert a["n"].iloc[0] == len(network)


def test_too_few_imputations_refused(network):
    with pytest.raises(ValueError, match="imputations must be at least 2"):
        recovery_missing_adjusted(network, imputations=1)


def test_no_ratings_at_all_is_not_estimable_not_an_error(network):
    d = network.assign(recovered=pd.array([pd.NA] * len(network), dtype="boolean"))
    t = recovery_missing_adjusted(d)
    assert t["rate"].isna().all() and t["note"].str.contains("not estimable").all()


def test_tipping_point_moves_the_rate_to_its_interval_limits(network):
    tp = recovery_tipping_point(network)
    assert tp["odds_ratio_low"] < 1 < tp["odds_ratio_high"]
    assert tp["unrated_rate_low"] < tp["expected_unrated"] < tp["unrated_rate_high"]
    # imputing with that shift brings the overall rate to the lower limit (up to imputation noise)
    shifted = recovery_missing_adjusted(network, delta=np.log(tp["odds_ratio_low"]), imputations=100)
    assert shifted["rate"].iloc[0] == pytest.approx(tp["ci_low"], abs=0.01)


def test_tipping_point_reuses_the_imputation_table(network):
    """Given the table already computed, the tipping point fits nothing again and agrees with a fresh run."""
    table = recovery_missing_adjusted(network)
    again = recovery_tipping_point(network, missing_adjusted=table)
    fresh = recovery_tipping_point(network)
    assert again == pytest.approx(fresh)
    assert again["rate"] == pytest.approx(table["rate"].iloc[0])


def test_tipping_sentence_states_the_computed_figures(network):
    """The sentence a clinician reads carries the tipping point's own numbers; with 1-7 unrated it shows no rate."""
    from analysis.disclosure import disclosure_rule
    from analysis.present import tipping_point_html

    tp = recovery_tipping_point(network)
    text = str(tipping_point_html(tp, rule=disclosure_rule("none")))
    assert f"{tp['missing']:,} of {tp['n']:,} discharged episodes have no recovery rating" in text
    assert f"lower end of its 95% interval ({100 * tp['ci_low']:.0f}%)" in text
    assert f"no more than {100 * tp['unrated_rate_low']:.0f}% of the unrated" in text
    assert f"odds {tp['odds_ratio_low']:.2f} times" in text
    assert f"at least {100 * tp['unrated_rate_high']:.0f}% had" in text
    few = {**tp, "missing": 5}
    small = str(tipping_point_html(few, rule=disclosure_rule("internal")))
    assert "1-7 of" in small and "%" not in small
