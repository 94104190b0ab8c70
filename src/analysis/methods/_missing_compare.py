"""The adjusted recovery comparison with missing ratings imputed, and a tipping point per comparison.

The adjusted recovery odds ratio (:func:`analysis.methods.adjusted_comparisons`)
uses the rated episodes only. Spec section 4 asks for it also from the
multiply imputed data (``recovered_missing_adjusted`` rows in ``adjusted``):

1. The imputations are those of :func:`analysis.methods.recovery_missing_adjusted`
   (same imputation model, seed and draws): every discharged episode gets a
   completed rating in each of the m data sets.
2. In each completed data set the comparison's logistic model (modality + the
   adjustment set, episodes with every covariate recorded) is fitted on the
   distinct design rows with their counts (:func:`analysis.stats.logistic_counts`,
   the same estimate as one row per episode), with a cluster-robust sandwich
   covariance (episodes grouped by therapist or clinic, factor G/(G-1)).
3. Rubin's rules combine the m log odds ratios: total variance W + (1 + 1/m) B,
   t reference with the Barnard-Rubin (1999) degrees of freedom, the
   complete-data degrees of freedom being the number of clusters giving the
   modality minus one (the model's episodes minus its parameters without
   clustering).

Tipping point per comparison (``tipping_odds``): the unrated patients of that
modality are made more (or less) likely to have recovered than their recorded
pain and case mix predict, by an odds multiplier on their predicted recovery;
``tipping_odds`` is the multiplier closest to 1 at which the comparison's
conclusion changes (its 95 % interval starts or stops including 1). For the
search the unrated episodes carry their expected recovery (a fractional
outcome) rather than random draws, and the interval's width is held at the
imputed analysis' own; 1 means the conclusion is fragile, a multiplier far
from 1 (e.g. 0.2 or 5) that it does not hinge on the unrated patients.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, sparse
from scipy import stats as sps

from ..stats import COMMON_OUTCOME, cluster_codes, e_value, first_rows, holm, logistic_counts, unique_keys
from ._compare import ADJUSTMENT_SET, MIN_CLUSTERS, _design, choose_reference, default_cluster
from ._confounding import _cluster_recorded, _cluster_values, _pattern_codes
from ._missing import RatingImputations, _eligible, impute_ratings
from ._outcomes import OutcomeSettings
from ._status import Reason, Status

__all__ = ["MAX_TIPPING_SHIFT", "recovery_comparisons_imputed"]

#: The tipping search looks for odds multipliers between exp(-this) and exp(this) (about 1/400 to 400).
MAX_TIPPING_SHIFT = 6.0

_COLUMNS = ["modality", "odds_ratio", "ci_low", "ci_high", "p", "p_holm", "e_value", "e_value_ci", "tipping_odds",
            "note", "n", "missing", "clusters", "imputations", "status", "reason"]


def _empty(mods, note, imputations, reason=Reason.MODEL.value) -> pd.DataFrame:
    return pd.DataFrame([{"modality": m, "odds_ratio": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan,
                          "p_holm": np.nan, "e_value": np.nan, "e_value_ci": np.nan, "tipping_odds": np.nan,
                          "note": note, "n": 0, "missing": 0, "clusters": None, "imputations": imputations,
                          "status": Status.NOT_ESTIMABLE.value, "reason": reason} for m in mods], columns=_COLUMNS)


#: Clusters x design rows up to which the clusters' scores are summed in a dense matrix (16 MB).
_DENSE_SCORES = 2_000_000


def _robust_cov(Xc, info, resid_c2, cell_of_c2, clus_of_c2, G):
    """Sandwich covariance from residual sums per (design row, cluster) combination."""
    inv = np.linalg.pinv(info)
    if G is None:
        return inv
    # each cluster's score: its residual sums per design row (a cluster x rows matrix) times the rows;
    # dense when it is small (a few therapists), sparse otherwise
    if G * len(Xc) <= _DENSE_SCORES:
        U = np.bincount(clus_of_c2 * len(Xc) + cell_of_c2, weights=resid_c2, minlength=G * len(Xc)).reshape(
            G, len(Xc)) @ Xc
    else:
        U = sparse.csr_matrix((resid_c2, (clus_of_c2, cell_of_c2)), shape=(G, len(Xc))) @ Xc
    return inv @ (U.T @ U) @ inv * (G / (G - 1) if G > 1 else np.nan)


def recovery_comparisons_imputed(outcomes: pd.DataFrame, *, reference: str | None = None, covariates=ADJUSTMENT_SET,
                                 settings: OutcomeSettings | None = None, cluster: str | None = None,
                                 imputations: int = 20, seed: int = 2024,
                                 imputed: RatingImputations | None = None) -> pd.DataFrame:
    """Adjusted recovery odds ratios from the multiply imputed ratings, with a tipping point per comparison.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes`.
    reference, covariates, settings, cluster : optional, keyword-only
        As for :func:`analysis.methods.adjusted_comparisons`.
    imputations, seed : int, keyword-only
        As for :func:`analysis.methods.recovery_missing_adjusted` (the same draws).
    imputed : RatingImputations, optional, keyword-only
        :func:`analysis.methods.impute_ratings` of these outcomes, when the caller has it.

    Returns
    -------
    pandas.DataFrame
        One row per non-reference modality in code order: ``odds_ratio``,
        ``ci_low``, ``ci_high``, ``p``, ``p_holm``, ``e_value``, ``e_value_ci``,
        ``tipping_odds``, ``note``, ``n`` (discharged episodes in the model),
        ``missing`` (of them unrated), ``clusters``, ``imputations``,
        ``status``, ``reason``.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import recovery_comparisons_imputed
    >>> t = recovery_comparisons_imputed(derive_outcomes(load_records("data/sample")))
    >>> int(t["imputations"].iloc[0]), bool((t["missing"] > 0).all()), bool(t["tipping_odds"].notna().all())
    (20, True, True)
    """
    s = settings or OutcomeSettings()
    ref = reference or choose_reference(outcomes)
    cluster = cluster or default_cluster(outcomes)
    covs = [c for c in covariates if c in outcomes.columns]
    others = [m for m in sorted(outcomes["modality"].unique()) if m != ref]
    if imputed is None or imputed.seed != seed or imputed.imputations != imputations:
        imputed = impute_ratings(outcomes, imputations=imputations, seed=seed)
    if imputed is None:
        return _empty(others, "the imputation model could not be fitted: not estimable", imputations)
    d, rated, y0, Xm, beta_i = imputed.d, imputed.rated, imputed.y0, imputed.Xm, imputed.beta
    expected = 1 / (1 + np.exp(-np.clip(Xm @ beta_i, -35, 35)))
    elig = _eligible(outcomes)
    cols = list(dict.fromkeys(["modality", "baseline_leg_pain", *covs] + ([cluster] if cluster != "none" else [])))
    e = outcomes.loc[elig, cols].reset_index(drop=True)  # only what the model needs: the frame is wide
    miss_rows = np.flatnonzero(~rated)
    frac = y0.copy()
    frac[miss_rows] = expected
    eta_unrated = np.zeros(len(d))
    eta_unrated[miss_rows] = np.clip(Xm @ beta_i, -35, 35)
    ok = e["baseline_leg_pain"].notna().to_numpy(dtype=bool).copy()
    for c in covs:
        ok &= e[c].notna().to_numpy(dtype=bool)
    # modalities as numbers: 0 the reference, then the others in code order (-1: none)
    levels = [ref, *others]
    mod = pd.Categorical(e["modality"], categories=levels).codes.astype("int64")
    code_of = {m: i for i, m in enumerate(levels)}
    if cluster != "none":
        raw = _cluster_values(e, cluster)
        codes_all = cluster_codes(raw)
        recorded = _cluster_recorded(raw)
    counts = np.bincount(mod[ok & (mod >= 0)], minlength=len(levels))
    n_by = {m: int(counts[i]) for i, m in enumerate(levels) if counts[i]}
    notes, reasons = {}, {}
    k_by = {}
    for m in levels:
        sel = ok & (mod == code_of[m])
        k_by[m] = (int(len(np.unique(codes_all[sel & recorded]))) or int(sel.sum())) if cluster != "none" else None
    estimable = []
    for m in others:
        if int(n_by.get(m, 0)) == 0:
            notes[m], reasons[m] = "no discharged episodes with the case mix recorded: not estimable", Reason.NO_DATA.value
        elif k_by[m] is not None and k_by[m] < MIN_CLUSTERS:
            notes[m] = f"given by one {cluster} only: not separable from that {cluster}'s own results; not estimable"
            reasons[m] = Reason.ONE_CLUSTER.value
        else:
            estimable.append(m)
    if int(n_by.get(ref, 0)) == 0 or (k_by[ref] is not None and k_by[ref] < MIN_CLUSTERS) or not estimable:
        out = _empty(others, f"not estimable: the reference modality ({ref}) has too few episodes or {cluster}s",
                     imputations)
        for m in others:
            if m in notes:
                out.loc[out["modality"] == m, ["note", "reason"]] = [notes[m], reasons[m]]
        return out
    keep = ok & np.isin(mod, [code_of[m] for m in [*estimable, ref]])
    ef = e[keep].reset_index(drop=True)
    for c in covs:
        if c != "baseline_leg_pain" and pd.api.types.is_string_dtype(ef[c].dtype):
            ef[c] = ef[c].astype("category")
    # the completed ratings, kept as the recorded ones plus each imputation's draws for the unrated
    frac_k, eta_k, mod_k = frac[keep], eta_unrated[keep], mod[keep]
    unrated_k = ~rated[keep]
    obs_k = np.where(unrated_k, 0.0, y0[keep])
    pos_in_keep = np.cumsum(keep) - 1
    miss_keep = keep[miss_rows]
    miss_pos = pos_in_keep[miss_rows[miss_keep]]          # the unrated episodes' rows in the model
    draws = imputed.imputed[:, miss_keep]                  # (imputations, unrated in the model)
    cell = _pattern_codes(ef, [*covs, "modality"])
    first = first_rows(cell)  # the patterns are numbered in order of appearance
    n_cell = np.bincount(cell).astype("float64")
    P, m_ = len(n_cell), len(draws)
    obs_cell = np.bincount(cell, weights=obs_k, minlength=P)
    cell_miss = cell[miss_pos]
    # recoveries per design row in each completed data set (imputations x rows), in one pass over the draws
    ev_cells = obs_cell[None, :] + np.bincount((np.arange(m_)[:, None] * P + cell_miss[None, :]).ravel(),
                                               weights=draws.ravel(), minlength=m_ * P).reshape(m_, P)
    # a level with no recoveries, or only recoveries, in any completed data set would separate that fit:
    # merged into its covariate's reference level, as the complete-case model merges them
    drop = {}
    for c in covs:
        if c == "baseline_leg_pain":
            continue
        codes, levels = pd.factorize(ef[c].iloc[first], sort=True)   # each design row has one level
        n_l = np.bincount(codes, weights=n_cell, minlength=len(levels))
        ev_l = np.stack([np.bincount(codes, weights=ev_cells[i], minlength=len(levels)) for i in range(m_)])
        drop[c] = {levels[k] for k in np.flatnonzero((ev_l.min(axis=0) == 0) | (ev_l.max(axis=0) == n_l))}
    X, names, _ = _design(ef.iloc[first], modalities=estimable, covariates=covs, y_events=None, both_ends=False,
                          constant=True, drop_levels=drop)
    if cluster != "none":
        cl = unique_keys(codes_all[keep])[2]
        G = int(cl.max()) + 1
        c2, _, c2_inv = unique_keys(cell.astype("int64") * G + cl)
        cell_of_c2, clus_of_c2 = c2 // G, c2 % G
        n_c2 = np.bincount(c2_inv).astype("float64")
    else:
        G = None
    terms = {m: names.index(f"modality:{m}") for m in estimable if f"modality:{m}" in names}
    est = np.full((imputations, len(names)), np.nan)
    var = np.full((imputations, len(names)), np.nan)
    beta = None
    converged = True
    chord = None
    if G is not None:
        obs_c2 = np.bincount(c2_inv, weights=obs_k, minlength=len(c2))
        c2_miss = c2_inv[miss_pos]
    for i in range(imputations):
        ev_cell = ev_cells[i]
        # the first completed data set by Newton; the others, close to it, by chord steps with its information
        beta, info, conv = logistic_counts(X, n_cell, ev_cell, start=beta, chord=chord)
        if chord is None and conv:
            chord = np.linalg.pinv(info)
        converged &= conv
        p_cell = 1 / (1 + np.exp(-np.clip(X @ beta, -35, 35)))
        if G is not None:
            ev_c2 = obs_c2 + np.bincount(c2_miss, weights=draws[i], minlength=len(c2))
            cov = _robust_cov(X, info, ev_c2 - n_c2 * p_cell[cell_of_c2], cell_of_c2, clus_of_c2, G)
        else:
            cov = np.linalg.pinv(info)
        est[i], var[i] = beta, np.diag(cov)
    # the fractional fit (unrated episodes carry their expected recovery), the start of each tipping search
    frac_beta, frac_info, _ = logistic_counts(X, n_cell, np.bincount(cell, weights=frac_k, minlength=len(n_cell)),
                                              start=beta)
    frac_inv = np.linalg.pinv(frac_info)
    frac_solve = lambda r: frac_inv @ r  # noqa: E731
    m_ = imputations
    qbar, W = est.mean(axis=0), var.mean(axis=0)
    B = est.var(axis=0, ddof=1)
    T = W + (1 + 1 / m_) * B
    freq = float((obs_k.sum() + draws.sum(axis=1).mean()) / len(obs_k))
    rows = []
    for m in others:
        n_m = int(n_by.get(m, 0))
        miss_m = int(((mod == code_of[m]) & ok & ~rated).sum())
        row = {"modality": m, "n": n_m, "missing": miss_m, "clusters": k_by[m], "imputations": imputations,
               "tipping_odds": np.nan}
        j = terms.get(m)
        if m not in estimable or j is None or not converged or not np.isfinite(T[j]) or np.sqrt(T[j]) > 8:
            why = notes.get(m) or ("not separable from the case mix: not estimable" if j is None and m in estimable
                                   else "the model did not converge (too few episodes or recoveries): not estimable")
            row.update(odds_ratio=np.nan, ci_low=np.nan, ci_high=np.nan, p=np.nan, note=why,
                       status=Status.NOT_ESTIMABLE.value, reason=reasons.get(m, Reason.MODEL.value))
            rows.append(row)
            continue
        nu_com = max((k_by[m] - 1) if k_by[m] is not None else int(n_cell.sum()) - len(names), 1)
        gamma = (1 + 1 / m_) * B[j] / T[j] if T[j] > 0 else 0.0
        nu_m = (m_ - 1) / gamma ** 2 if gamma > 0 else np.inf
        nu_obs = (nu_com + 1) / (nu_com + 3) * nu_com * (1 - gamma)
        nu = 1 / (1 / nu_m + 1 / nu_obs)
        q = sps.t.ppf(0.5 + s.confidence / 2, nu)
        se = float(np.sqrt(T[j]))
        lo, hi = qbar[j] - q * se, qbar[j] + q * se
        row.update(odds_ratio=float(np.exp(qbar[j])), ci_low=float(np.exp(lo)), ci_high=float(np.exp(hi)),
                   p=float(2 * sps.t.sf(abs(qbar[j]) / se, nu)), note=None, status=Status.ESTIMATED.value,
                   reason=None)
        if k_by[m] is not None and k_by[m] <= 4:
            row.update(note=f"caution: given by only {k_by[m]} {cluster}s, so this comparison rests on their patients",
                       status=Status.CAUTION.value, reason=Reason.FEW_CLUSTERS.value)
        # the tipping point: shift the unrated patients of this modality, see the module docstring
        mine = unrated_k & (mod_k == code_of[m])
        base_ev = np.bincount(cell, weights=np.where(mine, 0.0, frac_k), minlength=len(n_cell))
        idx_mine, eta_mine = cell[mine], eta_k[mine]

        last = {"b": frac_beta}

        def coef(delta, _j=j, _b=base_ev, _i=idx_mine, _e=eta_mine, _last=last):
            # chord iterations with the information at the fractional fit held fixed: only the unrated of one
            # modality move, so the estimate moves a little and each step costs one X'r; each search step
            # starts from the previous one's estimate
            ev = _b + np.bincount(_i, weights=1 / (1 + np.exp(-(_e + delta))), minlength=len(n_cell))
            b = _last["b"].copy()
            for _ in range(50):
                p_ = 1 / (1 + np.exp(-np.clip(X @ b, -35, 35)))
                step = frac_solve(X.T @ (ev - n_cell * p_))
                b += step
                if abs(step[_j]) < 1e-7:
                    break
            _last["b"] = b
            return b[_j]

        significant = lo > 0 or hi < 0
        # the lower end of the interval reaches 1 when the log odds ratio is q se (reached by more recoveries
        # among the unrated: delta > 0 when the interval is below it now), the upper end when it is -q se
        c0 = coef(0.0)
        targets = ([q * se] if qbar[j] > 0 else [-q * se]) if significant else [q * se, -q * se]
        # a cheap guide: the estimate's first-order response to the unrated's expected recoveries, an
        # inverse-information row times their design rows; the full fit then corrects it in a few steps
        g = X[idx_mine] @ frac_inv[j]
        p_mine0 = 1 / (1 + np.exp(-eta_mine))

        def guide(delta, _g=g, _p0=p_mine0, _e=eta_mine, _c0=c0):
            return _c0 + float(_g @ (1 / (1 + np.exp(-(_e + delta))) - _p0))

        found = []
        for shift in targets:
            offset = 0.0
            a, b = (0.0, MAX_TIPPING_SHIFT) if c0 < shift else (-MAX_TIPPING_SHIFT, 0.0)
            delta = None
            for _ in range(6):
                h = lambda x, _s=shift, _o=offset: guide(x) + _o - _s  # noqa: E731
                if np.sign(h(a)) == np.sign(h(b)):
                    delta = None
                    break
                delta = optimize.brentq(h, a, b, xtol=1e-6)
                err = coef(delta) - guide(delta)  # what the guide misses at its root
                if abs(guide(delta) + err - shift) < 1e-3 * max(se, 1e-9):
                    break
                offset = err
            if delta is not None and abs(coef(delta) - shift) < 0.05 * max(se, 1e-9):
                found.append(delta)
        if found:
            row["tipping_odds"] = float(np.exp(min(found, key=abs)))
        rows.append(row)
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"].to_numpy(dtype="float64"))
    ev, ev_ci = e_value(out["odds_ratio"], out["ci_low"], out["ci_high"], scale="odds_ratio",
                        common=freq > COMMON_OUTCOME)
    out["e_value"], out["e_value_ci"] = ev, ev_ci
    out["clusters"] = out["clusters"].astype("Int64")
    out["note"] = pd.Series([n if isinstance(n, str) else None for n in out["note"]], dtype=object)
    return out[_COLUMNS].sort_values("modality").reset_index(drop=True)
