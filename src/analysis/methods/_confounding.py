"""Confounding by indication, diagnosed (spec section 4).

Therapists choose a modality for a patient's presentation, so modalities
differ in whom they treat. The adjusted comparisons rest on an outcome
regression being right about how case mix relates to the outcome. This module
shows how far that matters:

- a propensity model, multinomial logistic regression of modality on the
  adjustment set (Imbens 2000; McCaffrey et al. 2013), fitted on the distinct
  case-mix patterns with their counts, so it takes a second on a million
  episodes;
- per modality against the reference, among the patients of the two: the
  probability of the modality given the case mix (its *propensity*), binned
  for the overlap figure; the weights 1/e (modality) and 1/(1-e) (reference),
  each group's truncated at its own 1st and 99th percentiles (Cole & Hernan
  2008) for the balance and the estimates; Kish's effective sample size of
  the modality's weights (before truncation, which would hide the few huge
  weights that poor overlap makes); standardised mean
  differences of every case-mix term before and after weighting (the love
  plot; |SMD| < 0.1 counts as balanced, R cobalt's convention);
- beside the regression estimate of leg pain and of recovery, a doubly robust
  estimate: augmented inverse probability weighting with the adjusted
  comparison's own fitted model as outcome model (Bang & Robins 2005), its
  interval from the influence function summed within therapists (or clinics).
  It is right if either the propensity model or the outcome model is.

A comparison *rests on model assumptions* when the doubly robust interval
does not contain the regression's standardised estimate, or when the
modality's effective sample size is under half its episodes: the report says
so in a sentence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import aipw_means, cluster_codes, first_rows, kish_ess, multinomial_logit, truncate_weights, weighted_smd
from ._compare import ADJUSTMENT_SET, MIN_CLUSTERS, _design, adjusted_comparisons, choose_reference, default_cluster
from ._outcomes import OutcomeSettings
from ._status import Reason, Status

__all__ = ["DR_OUTCOMES", "ESS_SHARE", "OVERLAP_BINS", "TRUNCATION", "confounding_diagnostics"]

#: Weights are truncated at these percentiles (said in the report's methods).
TRUNCATION = (1.0, 99.0)
#: An effective sample size under this share of a modality's episodes means poor overlap.
ESS_SHARE = 0.5
#: Edges of the propensity bins of the overlap figure.
OVERLAP_BINS = np.linspace(0.0, 1.0, 11)
#: Outcomes with a doubly robust estimate: key -> (outcome column, scale, name of the estimate).
DR_OUTCOMES = {"leg_pain_change": ("final_leg_pain", "difference", "difference"),
               "recovered": ("recovered", "odds_ratio", "odds_ratio")}
#: A propensity model penalty (times the episodes) that keeps estimates finite where a modality is never given.
_RIDGE = 1e-7


def _pattern_codes(d: pd.DataFrame, covariates: list[str]) -> np.ndarray:
    """One integer per distinct combination of the covariates' values."""
    key = np.zeros(len(d), dtype="int64")
    for c in covariates:
        codes, levels = pd.factorize(d[c], sort=True)
        key = key * (len(levels) + 1) + (codes + 1)
        key = pd.factorize(key)[0].astype("int64")  # keep the key small
    return key


def _linear_part(d: pd.DataFrame, coef: pd.Series) -> np.ndarray:
    """The outcome model's linear predictor without its modality terms, for every row of *d*."""
    out = np.zeros(len(d))
    for name, b in coef.items():
        if name.startswith("modality:") or not np.isfinite(b):
            continue
        if name == "const":
            out += b
        elif name == "baseline_leg_pain":
            out += b * d[name].to_numpy(dtype="float64")
        else:
            cov, level = name.split(":", 1)
            col = d[cov]
            if isinstance(col.dtype, pd.CategoricalDtype):
                hit = col.astype(object).to_numpy() == level
            else:
                hit = col.astype(str).to_numpy(dtype=object) == level
            out += b * hit
    return out


def _cluster_values(d: pd.DataFrame, cluster: str):
    if cluster == "none":
        return None
    col = d[cluster]
    return col.cat.codes.to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) else \
        col.to_numpy(dtype=object, na_value=None)


def _cluster_recorded(values) -> np.ndarray:
    """Which episodes have a cluster code, from :func:`_cluster_values` (a category's codes: -1 is none)."""
    arr = np.asarray(values)
    return arr >= 0 if np.issubdtype(arr.dtype, np.integer) else pd.notna(pd.Series(values)).to_numpy()


def confounding_diagnostics(outcomes: pd.DataFrame, *, reference: str | None = None, covariates=ADJUSTMENT_SET,
                            settings: OutcomeSettings | None = None, cluster: str | None = None,
                            adjusted: dict | None = None, truncation=TRUNCATION) -> dict:
    """Overlap, balance and doubly robust estimates of each modality against the reference.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes`.
    reference, covariates, settings, cluster : optional, keyword-only
        As for :func:`analysis.methods.adjusted_comparisons`.
    adjusted : dict, optional, keyword-only
        Its result for the same arguments, when the caller has it (its fitted
        leg-pain and recovery models are the outcome models); fitted here
        otherwise.

    Returns
    -------
    dict
        ``reference``, ``covariates`` (the propensity model's terms),
        ``converged`` (the propensity model), ``truncation`` (percentiles),
        ``overlap`` (one row per non-reference modality: ``modality``, ``n``,
        ``effective_n``, ``ess_share``, ``max_smd``, ``max_weighted_smd``,
        ``truncated``, ``status``, ``reason``, ``note``), ``balance`` (one
        row per modality and case-mix term: ``smd`` and ``weighted_smd``),
        ``bins`` (per modality, for its own patients (``group`` =
        ``"modality"``) and the reference's: episodes with a propensity in
        each tenth) and ``doubly_robust`` (outcome -> one row per modality:
        ``estimate``, ``ci_low``, ``ci_high``, ``p``, ``regression`` (the
        outcome model's standardised estimate on the same scale),
        ``effective_n``, ``n``, ``clusters``, ``assumptions`` (True when the
        comparison rests on model assumptions), ``status``, ``reason``,
        ``note``).

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import confounding_diagnostics
    >>> diag = confounding_diagnostics(derive_outcomes(load_records("data/sample")))
    >>> diag["reference"], list(diag["doubly_robust"]), bool((diag["overlap"]["effective_n"] > 0).all())
    ('electrotherapy', ['leg_pain_change', 'recovered'], True)
    """
    s = settings or OutcomeSettings()
    ref = reference or choose_reference(outcomes)
    cluster = cluster or default_cluster(outcomes)
    covs = [c for c in covariates if c in outcomes.columns]
    if adjusted is None:
        adjusted = adjusted_comparisons(outcomes, reference=ref, covariates=covs, settings=s, cluster=cluster,
                                        models=("leg_pain_change", "recovered"))
    cols = ["modality", *covs, "final_leg_pain", "recovered"] + ([cluster] if cluster != "none" else [])
    d = outcomes[list(dict.fromkeys(c for c in cols if c in outcomes.columns))]
    ok = d[covs].notna().all(axis=1).to_numpy(dtype=bool) if covs else np.ones(len(d), dtype=bool)
    if not ok.all():
        d = d[ok]
    d = d.copy()
    for c in covs:
        if c != "baseline_leg_pain" and pd.api.types.is_string_dtype(d[c].dtype):
            d[c] = d[c].astype("category")
    mods = sorted(d["modality"].unique())
    others = [m for m in mods if m != ref]
    classes = [ref, *others]  # the reference is the multinomial model's base class
    y_class = pd.Categorical(d["modality"], categories=classes).codes.astype("int64")
    # everything but the doubly robust sums is a function of the case-mix pattern: computed once per pattern
    pattern = _pattern_codes(d, covs)
    n_pat = int(pattern.max()) + 1 if len(pattern) else 0
    first = first_rows(pattern)  # the patterns are numbered in order of appearance
    dp = d.iloc[first]
    X, names, used = _design(dp, modalities=[], covariates=covs, y_events=None, both_ends=False, constant=True)
    K = len(classes)
    C = np.bincount(pattern * K + y_class, minlength=n_pat * K).reshape(n_pat, K).astype("float64")
    converged = False
    P_pat = np.full((n_pat, K), 1.0 / max(K, 1))
    if len(d) and K > 1:
        beta, _, converged = multinomial_logit(X, counts=C, ridge=_RIDGE)  # one row per pattern, its counts
        full = np.column_stack([np.zeros(n_pat), X @ beta])
        full -= full.max(axis=1, keepdims=True)
        P_pat = np.exp(full)
        P_pat /= P_pat.sum(axis=1, keepdims=True)
    # balance is shown for every level of a covariate, its model reference level too (1 - the others)
    terms, cols = [], []
    for cov in used:
        idx = [i for i, n in enumerate(names) if n == cov or n.startswith(f"{cov}:")]
        terms += [names[i] for i in idx]
        cols += [X[:, i] for i in idx]
        if cov != "baseline_leg_pain":
            levels = pd.Series(dp[cov].astype(object).unique()).dropna().astype(str)
            rest = sorted(set(levels) - {names[i].split(":", 1)[1] for i in idx})
            if len(rest) == 1:
                terms.append(f"{cov}:{rest[0]}")
                cols.append(1.0 - X[:, idx].sum(axis=1) if idx else np.ones(n_pat))
    Xc = np.column_stack(cols) if cols else np.zeros((n_pat, 0))
    groups_all = _cluster_values(d, cluster)
    cl_codes = cluster_codes(groups_all) if groups_all is not None else None
    recorded = _cluster_recorded(groups_all) if groups_all is not None else None
    coefs = adjusted.get("coefficients") or {}
    linear = {k: (_linear_part(dp, coefs[k]) if coefs.get(k) is not None else None) for k in DR_OUTCOMES}
    outcome_values = {k: d[col].to_numpy(dtype="float64", na_value=np.nan) for k, (col, _, _) in DR_OUTCOMES.items()}
    overlap, balance, bins, dr = [], [], [], {k: [] for k in DR_OUTCOMES}
    for j, m in enumerate(others, start=1):
        pair = (y_class == j) | (y_class == 0)
        is_m = y_class[pair] == j
        n_m, n_r = int(C[:, j].sum()), int(C[:, 0].sum())
        # where a modality (or the reference) is never given its propensity tends to 0: held off 0 and 1 so that
        # the weights stay finite (and huge, which the effective sample size then shows)
        e_p = np.clip(P_pat[:, j] / (P_pat[:, j] + P_pat[:, 0]), 1e-6, 1 - 1e-6)
        in_pair = (C[:, j] + C[:, 0]) > 0
        w_all = np.r_[1 / e_p[in_pair], 1 / (1 - e_p[in_pair])]
        n_all = np.r_[C[in_pair, j], C[in_pair, 0]]
        k_in = int(in_pair.sum())
        w_t, truncated = truncate_weights(w_all, percentiles=truncation, counts=n_all,
                                          groups=np.r_[np.ones(k_in, bool), np.zeros(k_in, bool)])
        w_m, w_r = np.zeros(n_pat), np.zeros(n_pat)
        w_m[in_pair], w_r[in_pair] = w_t[:k_in], w_t[k_in:]
        ess = kish_ess(1 / e_p, counts=C[:, j])  # the overlap diagnostic: before truncation hides huge weights
        Xs = np.r_[Xc, Xc]
        grp = np.r_[np.ones(n_pat, bool), np.zeros(n_pat, bool)]
        cnt = np.r_[C[:, j], C[:, 0]]
        smd = weighted_smd(Xs, grp, counts=cnt)
        wsmd = weighted_smd(Xs, grp, weights=np.r_[w_m, w_r], counts=cnt)
        for t, a, b in zip(terms, smd, wsmd):
            cov, _, level = t.partition(":")
            balance.append({"modality": m, "term": t, "covariate": cov, "level": level or None,
                            "smd": float(a), "weighted_smd": float(b)})
        for group, col in (("modality", j), ("reference", 0)):
            hist = np.histogram(e_p, bins=OVERLAP_BINS, weights=C[:, col])[0]
            for b, c in enumerate(hist):
                bins.append({"modality": m, "group": group, "low": float(OVERLAP_BINS[b]),
                             "high": float(OVERLAP_BINS[b + 1]), "count": int(round(c))})
        pat_pair = pattern[pair]
        e = e_p[pat_pair]
        share = ess / n_m if n_m else np.nan
        poor = bool(share < ESS_SHARE)
        overlap.append({"modality": m, "n": n_m, "reference_n": n_r, "effective_n": ess, "ess_share": share,
                        "max_smd": float(np.max(np.abs(smd))) if len(smd) else np.nan,
                        "max_weighted_smd": float(np.max(np.abs(wsmd))) if len(wsmd) else np.nan,
                        "truncated": truncated, "poor_overlap": poor})
        # therapists (or clinics) giving the modality, counted as the adjusted comparison counts them
        k_m = ((int(len(np.unique(cl_codes[pair][is_m & recorded[pair]]))) or n_m) if cl_codes is not None
               else None)
        for key, (col, scale, _) in DR_OUTCOMES.items():
            row = {"modality": m, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan,
                   "regression": np.nan, "effective_n": np.nan, "n": 0, "clusters": k_m, "assumptions": False,
                   "note": None, "reason": None}
            yy = outcome_values[key][pair]
            has = np.isfinite(yy)
            row["n"] = int((has & is_m).sum())
            coef = adjusted.get("coefficients", {}).get(key)
            term = f"modality:{m}"
            why = None
            if k_m is not None and k_m < MIN_CLUSTERS:
                why, reason = (f"given by one {cluster} only: not separable from that {cluster}'s own results",
                               Reason.ONE_CLUSTER.value)
            elif coef is None or linear[key] is None:
                why, reason = "the outcome model could not be fitted", Reason.MODEL.value
            elif term not in coef.index:
                why, reason = "not separable from the case mix in the outcome model", Reason.MODEL.value
            elif row["n"] < 2 or int((has & ~is_m).sum()) < 2:
                why, reason = "too few episodes with the outcome recorded", Reason.NO_DATA.value
            if why:
                row["note"], row["reason"] = f"{why}: not estimable", reason
                dr[key].append(row)
                continue
            lin = linear[key][pat_pair[has]]
            b_m = float(coef[term])
            if scale == "difference":
                mu1, mu0 = lin + b_m, lin
            else:
                mu1, mu0 = 1 / (1 + np.exp(-(lin + b_m))), 1 / (1 + np.exp(-lin))
            g = cl_codes[pair][has] if cl_codes is not None else None
            res = aipw_means(yy[has], is_m[has], e[has], mu1, mu0, groups=g, confidence=s.confidence,
                             truncate=truncation, scale=scale)
            row.update({k: res[k] for k in ("estimate", "ci_low", "ci_high", "p", "regression")})
            row["effective_n"] = kish_ess(1 / e[has & is_m])
            disagree = bool(np.isfinite(res["ci_low"]) and not (res["ci_low"] <= res["regression"] <= res["ci_high"]))
            reasons = []
            if disagree:
                reasons.append("the doubly robust interval does not include the regression's estimate")
            if poor:
                reasons.append(f"weighting leaves an effective {ess:.0f} of its {n_m} episodes (under half): "
                               "its patients differ from the reference's")
            if reasons:
                row["assumptions"] = True
                row["note"] = "rests on model assumptions: " + "; ".join(reasons)
            dr[key].append(row)
    ov = pd.DataFrame(overlap, columns=["modality", "n", "reference_n", "effective_n", "ess_share", "max_smd",
                                        "max_weighted_smd", "truncated", "poor_overlap"])
    ov["status"] = pd.Series([Status.CAUTION.value if p else Status.ESTIMATED.value for p in ov["poor_overlap"]],
                             dtype=object)
    ov["reason"] = pd.Series([Reason.POOR_OVERLAP.value if p else None for p in ov["poor_overlap"]], dtype=object)
    dr_out = {}
    for key, rows in dr.items():
        t = pd.DataFrame(rows, columns=["modality", "estimate", "ci_low", "ci_high", "p", "regression", "effective_n",
                                        "n", "clusters", "assumptions", "note", "reason"])
        est = t["estimate"].notna().to_numpy()
        t["status"] = pd.Series(np.where(~est, Status.NOT_ESTIMABLE.value,
                                         np.where(t["assumptions"].to_numpy(dtype=bool), Status.CAUTION.value,
                                                  Status.ESTIMATED.value)), dtype=object)
        t["reason"] = pd.Series([r if r else (Reason.MODEL_ASSUMPTIONS.value if a else None)
                                 for r, a in zip(t["reason"], t["assumptions"])], dtype=object)
        t["note"] = pd.Series([n if isinstance(n, str) else None for n in t["note"]], dtype=object)
        t["clusters"] = t["clusters"].astype("Int64")
        dr_out[key] = t
    return {"reference": ref, "covariates": used, "converged": bool(converged), "truncation": truncation,
            "cluster": cluster, "overlap": ov,
            "balance": pd.DataFrame(balance, columns=["modality", "term", "covariate", "level", "smd",
                                                      "weighted_smd"]),
            "bins": pd.DataFrame(bins, columns=["modality", "group", "low", "high", "count"]),
            "doubly_robust": dr_out}
