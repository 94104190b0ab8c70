"""Comparing modalities: crude outcome estimates and case-mix-adjusted models.

Crude estimates per modality (and overall) use the interval methods of
:mod:`analysis.stats`. Adjusted comparisons (spec section 4) are against a
reference modality, adjusting for baseline leg pain (linear), age band, sex,
symptom duration band (<6, 6-12, >12 weeks), cause and clinic:

- leg pain: linear model of final leg pain on modality + baseline + case mix;
  the modality coefficient is a difference in NRS points (t-based interval);
- recovered: logistic regression, odds ratio (Wald interval);
- surgery: Cox model (Efron ties) in the surgery-free population, hazard ratio.

Design matrices are built directly with numpy (no formula parsing), so the
three models on a million episodes take seconds. A covariate with one value
in the data is left out; levels of a covariate with no events (or, for the
logistic model, only events) are merged into its reference level so that
they cannot separate the model; columns that are exact combinations of
earlier ones are dropped. A modality whose comparison cannot be estimated
(no episodes, no events, only events, a model that does not converge) gets
``NaN`` with a reason in ``note``; the others are still estimated.

These are associations in observational data with case mix adjusted, not
proof that a modality causes a difference: patients were not randomised and
unmeasured severity can remain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import (
    COMMON_OUTCOME,
    cluster_codes,
    clustered_cox_model,
    clustered_logistic_model,
    cox_model,
    dummy_levels,
    e_value,
    holm,
    independent_columns,
    linear_model,
    logistic_model,
    one_hot,
    random_intercept_model,
)
from ._outcomes import OutcomeSettings
from ._status import Reason, Status

__all__ = ["ADJUSTMENT_SET", "CLUSTER_CHOICES", "FEW_CLUSTERS", "MIN_CLINICS", "MIN_CLUSTERS", "MIN_EVENTS_PER_PARAMETER", "adjusted_comparisons", "choose_reference", "default_cluster", "few_clinics_message", "model_methods"]

#: ``--cluster`` choices.
CLUSTER_CHOICES = ("therapist", "clinic", "none")
#: Fewer events per estimated parameter than this earns a caution in ``note``.
MIN_EVENTS_PER_PARAMETER = 10
#: A comparison needs the modality (and the reference) given by at least this many therapists (or clinics) ...
MIN_CLUSTERS = 2
#: ... and is cautioned when given by at most this many.
FEW_CLUSTERS = 4
#: Clustering by clinic needs at least this many clinics: cluster-robust intervals from fewer are erratic.
MIN_CLINICS = 10


def _one_cluster_note(cluster: str) -> str:
    """Why a modality given by one therapist (or clinic) gets no comparison."""
    return f"given by one {cluster} only: not separable from that {cluster}'s own results; not estimable"


def _few_clusters_note(k: int, cluster: str) -> str:
    """The caution on a comparison resting on the patients of 2-4 therapists (or clinics)."""
    return (f"caution: given by only {k} {cluster}s, so this comparison rests on their patients; "
            "the interval allows for so few and is wide")


def few_clinics_message(n_clinics: int) -> str:
    """Why ``cluster="clinic"`` is refused for a network of *n_clinics* clinics, in plain words.

    Examples
    --------
    >>> from analysis.methods import few_clinics_message
    >>> few_clinics_message(4)[:60]
    'with 4 clinics, intervals clustered by clinic are not trustw'
    """
    return (f"with {n_clinics} clinic{'s' if n_clinics != 1 else ''}, intervals clustered by clinic are not "
            f"trustworthy (cluster-robust intervals need at least {MIN_CLINICS} clusters; with fewer they can come "
            "out narrower than treating every episode as independent). Each clinic is already adjusted for as "
            "a fixed effect: cluster by therapist (the default when therapists are recorded), or use none")

#: Default case-mix adjustment set (spec section 4), in model order after the modality terms.
ADJUSTMENT_SET = ("baseline_leg_pain", "age_band", "sex", "symptom_band", "cause", "clinic")
_CATEGORICAL = ("age_band", "sex", "symptom_band", "cause", "clinic")
#: Covariates entered as numbers (linear); the others are categories.
_NUMERIC = ("baseline_leg_pain", "baseline_odi")
#: A log-scale standard error above this means the estimate is not usable (separation, too few events).
_MAX_LOG_SE = 8.0


def choose_reference(outcomes: pd.DataFrame, *, by: str = "modality") -> str:
    """The default reference group: the one with most episodes, ties broken by code order.

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.methods import choose_reference
    >>> choose_reference(pd.DataFrame({"modality": ["b", "a", "b", "a", "c"]}))
    'a'
    """
    counts = outcomes[by].value_counts()
    top = counts.max()
    return sorted(counts[counts == top].index)[0]


# ----------------------------------------------------------------- design matrices


def _sparse_levels(codes: np.ndarray, levels, y: np.ndarray | None, *, both_ends: bool) -> set:
    """Levels with no events (or, if both_ends, only events): merged into the reference level."""
    if y is None:
        return set()
    n = np.bincount(codes, minlength=len(levels))
    ev = np.bincount(codes, weights=y, minlength=len(levels))
    bad = (ev == 0) | (both_ends & (ev == n))
    return {levels[i] for i in np.flatnonzero(bad)}


def _design(df: pd.DataFrame, *, modalities: list[str], covariates: list[str],
            y_events: np.ndarray | None, both_ends: bool, constant: bool, drop_levels: dict | None = None):
    """Build (X, names, covariates used) for one model (*drop_levels*: covariate -> levels merged into its
    reference level, besides those without events)."""
    n = len(df)
    mcodes, mlevels = pd.factorize(df["modality"])
    lookup = {m: i for i, m in enumerate(mlevels)}
    names = (["const"] if constant else []) + [f"modality:{m}" for m in modalities]
    # each covariate's columns first, then one zero-filled design written in place (no per-block copies)
    blocks, used = [], []
    for cov in covariates:
        if cov in _NUMERIC:
            vals = df[cov].to_numpy(dtype="float64")
            if np.nanstd(vals) > 0:
                blocks.append((vals, None, None, None))
                names.append(cov)
                used.append(cov)
            continue
        codes, levels = pd.factorize(df[cov], sort=True)
        if len(levels) < 2:
            continue  # one value in the data (e.g. one clinic): left out
        drop = _sparse_levels(codes, levels, y_events, both_ends=both_ends) | set((drop_levels or {}).get(cov, ()))
        kept = dummy_levels(codes, levels, drop=drop)
        if len(kept):
            blocks.append((codes, levels, drop, len(kept)))
            names += [f"{cov}:{levels[i]}" for i in kept]
            used.append(cov)
    X = np.zeros((n, len(names)))
    j = 0
    if constant:
        X[:, 0] = 1.0
        j = 1
    mcol = np.full(len(mlevels) + 1, -1, dtype="int64")
    for i, m in enumerate(modalities):
        if m in lookup:
            mcol[lookup[m]] = j + i
    rows = np.flatnonzero(mcol[mcodes] >= 0)
    X[rows, mcol[mcodes][rows]] = 1.0
    j += len(modalities)
    for vals, levels, drop, width in blocks:
        if levels is None:
            X[:, j] = vals
            j += 1
        else:
            one_hot(vals, levels, drop=drop, out=X[:, j:j + width])
            j += width
    keep = independent_columns(X)
    if len(keep) == X.shape[1]:
        return X, names, used  # the usual case: no copy of the whole design
    return X[:, keep], [names[i] for i in keep], used


_PHRASES = {
    "linear": {"none": "fewer than 2 episodes with leg pain recorded at two visits"},
    "logistic": {"none": "no episodes with a global change rating",
                 "zero": "none of the {n} rated episodes recovered",
                 "all": "all {n} rated episodes recovered"},
    "cox": {"none": "no episodes in the surgery-free population",
            "zero": "no surgeries among the {n} episodes in the surgery-free population"},
}


def _screen(n: int, events: int, kind: str) -> str | None:
    """Why a modality's comparison cannot be estimated, or None."""
    words = _PHRASES[kind]
    if kind == "linear":
        return words["none"] if n < 2 else None
    if n == 0:
        return words["none"]
    if events == 0:
        return words["zero"].format(n=n)
    if kind == "logistic" and events == n:
        return words["all"].format(n=n)
    return None


def default_cluster(outcomes: pd.DataFrame) -> str:
    """``therapist`` when therapist codes are recorded, else ``none`` (spec section 4).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.methods import default_cluster
    >>> default_cluster(pd.DataFrame({"therapist": ["T1", None]})), default_cluster(pd.DataFrame({"x": [1]}))
    ('therapist', 'none')
    """
    if "therapist" in outcomes.columns and outcomes["therapist"].notna().any():
        return "therapist"
    return "none"


def model_methods(cluster: str, *, population: str = "candidates") -> dict:
    """Plain names of the model and interval method used for each outcome.

    Examples
    --------
    >>> from analysis.methods import model_methods
    >>> model_methods("none")["recovered"]
    'logistic regression, Wald intervals'
    """
    strat = "; stratified by surgical candidacy" if population == "all" else ""
    if cluster == "none":
        return {
            "leg_pain_change": "linear regression, t intervals (episodes independent)",
            "odi_change": "linear regression of final ODI on ODI at the first visit and the case mix, t intervals "
                          "(episodes independent)",
            "recovered": "logistic regression, Wald intervals",
            "surgery": f"Cox proportional hazards (Efron ties), Wald intervals{strat}",
        }
    return {
        "leg_pain_change": f"linear mixed model with a random intercept per {cluster} (REML) and a bias-reduced "
                           f"cluster-robust covariance (it holds when {cluster}s differ in how well they deliver a "
                           f"modality), t intervals with the effective number of {cluster}s as degrees of freedom",
        "odi_change": f"as leg pain, for final ODI with ODI at the first visit added to the case mix: linear mixed "
                      f"model with a random intercept per {cluster} and a bias-reduced cluster-robust covariance",
        "recovered": f"logistic regression with Mancl-DeRouen bias-reduced standard errors clustered by {cluster}, "
                     f"t intervals with the effective number of {cluster}s as degrees of freedom",
        "surgery": f"Cox proportional hazards (Efron ties) with bias-reduced robust standard errors clustered by "
                   f"{cluster}, t intervals with the effective number of {cluster}s as degrees of freedom{strat}",
    }


def _epv_note(kind: str, events: int, n: int, params: int) -> str | None:
    if kind == "linear" or params == 0:
        return None
    limiting = min(events, n - events) if kind == "logistic" else events
    epv = limiting / params
    if epv >= MIN_EVENTS_PER_PARAMETER:
        return None
    what = "recoveries (or non-recoveries, whichever is fewer)" if kind == "logistic" else "surgeries"
    return (f"caution: only {epv:.1f} {what} per estimated model parameter (fewer than "
            f"{MIN_EVENTS_PER_PARAMETER}); the estimate may be unstable")


def _fit(kind: str, df: pd.DataFrame, *, reference: str, covariates: list[str], outcome: str,
         s: OutcomeSettings, ratio_name: str, cluster: str = "none",
         strata: str | None = None, all_modalities=()) -> tuple[pd.DataFrame, list[str], dict]:
    present = sorted(df["modality"].unique())
    y = None
    if kind == "logistic":
        y = df[outcome].to_numpy(dtype="float64")
    elif kind == "cox":
        y = df["surgery_event"].to_numpy(dtype="float64")
    others = [m for m in sorted(set(present) | set(all_modalities)) if m != reference]
    n_by = df.groupby("modality").size()
    ev_by = pd.Series(y, index=df.index).groupby(df["modality"]).sum() if y is not None else n_by * 0
    count = lambda m: (int(n_by.get(m, 0)), int(ev_by.get(m, 0)))  # noqa: E731
    notes = {m: _screen(*count(m), kind) for m in others}
    notes = {m: (f"{v}: not estimable" if v else None) for m, v in notes.items()}
    reasons: dict = {}
    ref_note = _screen(*count(reference), kind)
    # how many therapists (or clinics) gave each modality: a comparison resting on one cannot be told apart
    # from that therapist, one resting on 2-4 is cautioned (and its t test has about that many df)
    k_by = pd.Series(dtype="int64")
    if cluster != "none" and len(df):
        col = df[cluster]
        raw = col.cat.codes.to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) else \
            col.to_numpy(dtype=object, na_value=None)
        recorded = pd.Series(cluster_codes(raw)).where(pd.notna(pd.Series(raw)).to_numpy() & (pd.Series(raw) != -1))
        # episodes with no therapist recorded may all be one unknown therapist: they add no cluster, unless no
        # episode of the modality has one (then each is its own, as in the model)
        mod = df["modality"]
        if isinstance(mod.dtype, pd.CategoricalDtype):  # by the codes: a million modality names never made
            mcodes = mod.cat.codes.to_numpy()
            k_by = recorded[mcodes >= 0].groupby(mcodes[mcodes >= 0]).nunique()
            k_by.index = mod.cat.categories[k_by.index.to_numpy()]
        else:
            k_by = recorded.groupby(mod.to_numpy()).nunique()
        k_by = k_by.where(k_by > 0, n_by.reindex(k_by.index).fillna(0).astype("int64"))
    n_clusters = lambda m: int(k_by.get(m, 0)) if len(k_by) else None  # noqa: E731
    for m in others:
        if notes[m] is None and (n_clusters(m) or MIN_CLUSTERS) < MIN_CLUSTERS:
            notes[m] = _one_cluster_note(cluster)
            reasons[m] = Reason.ONE_CLUSTER.value
    ref_one = ref_note is None and (n_clusters(reference) or MIN_CLUSTERS) < MIN_CLUSTERS
    if ref_one:
        ref_note = f"only one {cluster} giving it, so no comparison can be separated from that {cluster}"
    rows = []
    used: list[str] = []
    info = {"clusters": None, "epv": None, "coef": None}
    estimable = [m for m in others if notes[m] is None]
    if ref_note is None and estimable:
        keep = df["modality"].isin(estimable + [reference]).to_numpy(dtype=bool)
        d = df if keep.all() else df[keep]
        yk = y[keep] if y is not None else None
        X, names, used = _design(d, modalities=estimable, covariates=covariates,
                                 y_events=yk, both_ends=kind == "logistic", constant=kind != "cox")
        if cluster == "none":
            groups = None
        elif isinstance(d[cluster].dtype, pd.CategoricalDtype):
            groups = d[cluster].cat.codes.to_numpy()
        else:
            groups = d[cluster].to_numpy(dtype=object, na_value=None)
        st = d[strata].to_numpy() if strata else None
        try:
            if kind == "linear":
                yy = d[outcome].to_numpy(dtype="float64")
                res = (linear_model(yy, X, names=names, confidence=s.confidence) if groups is None else
                       random_intercept_model(yy, X, groups, names=names, confidence=s.confidence, robust=True))
            elif kind == "logistic":
                res = (logistic_model(yk, X, names=names, confidence=s.confidence) if groups is None else
                       clustered_logistic_model(yk, X, groups, names=names, confidence=s.confidence))
            else:
                tt = d["surgery_time"].to_numpy(dtype="float64")
                res = (cox_model(tt, yk, X, names=names, strata=st, confidence=s.confidence) if groups is None else
                       clustered_cox_model(tt, yk, X, groups, names=names, strata=st, confidence=s.confidence))
            tab = res.table.set_index("term")
            ok_fit = res.converged
            info["clusters"] = res.extra.get("clusters")
            if ok_fit:
                info["coef"] = tab["coef"]  # the outcome model, for the doubly robust estimates
        except (np.linalg.LinAlgError, ValueError, ArithmeticError):  # e.g. as many parameters as episodes
            tab, ok_fit = None, False
        params = X.shape[1] - (1 if kind != "cox" else 0)
        caution = _epv_note(kind, int(np.nansum(yk)) if yk is not None else 0, len(d), params)
        if kind != "linear" and params:
            ev = int(np.nansum(yk))
            info["epv"] = (min(ev, len(d) - ev) if kind == "logistic" else ev) / params
        for m in estimable:
            term = f"modality:{m}"
            if tab is None or not ok_fit:
                notes[m] = "the model did not converge (too few episodes or events): not estimable"
                continue
            if term not in tab.index:
                notes[m] = "not separable from the case mix (e.g. only offered at one clinic): not estimable"
                continue
            r = tab.loc[term]
            if not np.isfinite(r["se"]) or (kind != "linear" and r["se"] > _MAX_LOG_SE):
                notes[m] = "too few events for a stable estimate: not estimable"
                continue
            est, lo, hi = r["coef"], r["ci_low"], r["ci_high"]
            if kind != "linear":
                with np.errstate(over="ignore"):
                    est, lo, hi = np.exp(est), np.exp(lo), np.exp(hi)
            note = caution
            k = n_clusters(m)
            if k is not None and k <= FEW_CLUSTERS:
                few = _few_clusters_note(k, cluster)
                note = f"{few}; {note}" if note else few
                reasons[m] = Reason.FEW_CLUSTERS.value
            rows.append({"modality": m, ratio_name: est, "ci_low": lo, "ci_high": hi, "p": r["p"], "note": note})
    elif ref_note is not None:
        for m in others:
            if notes[m] is None and ref_one:
                reasons[m] = Reason.ONE_CLUSTER.value
            notes[m] = notes[m] or f"not estimable: the reference modality ({reference}) has {ref_note}"
    got = {r["modality"] for r in rows}
    for m in others:
        if m not in got:
            rows.append({"modality": m, ratio_name: np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan,
                         "note": notes[m] or "not estimable"})
    out = pd.DataFrame(rows, columns=["modality", ratio_name, "ci_low", "ci_high", "p", "note"])
    out = out.sort_values("modality").reset_index(drop=True)
    out["note"] = pd.Series([n if isinstance(n, str) else None for n in out["note"]], dtype=object)
    estimated = out[ratio_name].notna().to_numpy()
    caution = out["note"].notna().to_numpy() & estimated  # the only note an estimate carries is a caution
    out["status"] = pd.Series(np.where(~estimated, Status.NOT_ESTIMABLE.value,
                                       np.where(caution, Status.CAUTION.value, Status.ESTIMATED.value)), dtype=object)
    default = np.where(~estimated, Reason.MODEL.value, np.where(caution, Reason.FEW_EVENTS_PER_PARAMETER.value, None))
    out["reason"] = pd.Series([reasons.get(m, d) for m, d in zip(out["modality"], default)], dtype=object)
    out["p_holm"] = holm(out["p"].to_numpy())
    # E-values (VanderWeele & Ding 2017), converted to the risk-ratio scale first
    if kind == "linear":
        sd = float(np.nanstd(df[outcome].to_numpy(dtype="float64"), ddof=1)) if len(df) > 1 else np.nan
        ev, ev_ci = e_value(out[ratio_name], out["ci_low"], out["ci_high"], scale="difference", sd=sd)
    else:
        freq = float(np.nanmean(y)) if y is not None and len(y) else 0.0
        ev, ev_ci = e_value(out[ratio_name], out["ci_low"], out["ci_high"], scale=ratio_name,
                            common=freq > COMMON_OUTCOME)
    out["e_value"], out["e_value_ci"] = ev, ev_ci
    out["n"] = out["modality"].map(n_by).fillna(0).astype("int64")
    out["clusters"] = pd.Series([n_clusters(m) for m in out["modality"]], dtype="Int64")
    if y is not None:
        out["events"] = out["modality"].map(ev_by).fillna(0).astype("int64")
    return out, used, info


def _check_cluster(outcomes: pd.DataFrame, cluster: str | None) -> str:
    """The clustering to use (default :func:`default_cluster`), or the ValueError of a choice that cannot be."""
    cluster = cluster or default_cluster(outcomes)
    if cluster not in CLUSTER_CHOICES:
        raise ValueError(f"cluster must be one of {', '.join(CLUSTER_CHOICES)}, not '{cluster}'")
    if cluster != "none" and (cluster not in outcomes.columns or outcomes[cluster].isna().all()):
        raise ValueError(f"cannot cluster by {cluster}: the records have no {cluster} codes (use cluster='none')")
    if cluster == "clinic" and outcomes["clinic"].nunique() < MIN_CLINICS:
        raise ValueError(few_clinics_message(int(outcomes["clinic"].nunique())))
    return cluster


def adjusted_comparisons(outcomes: pd.DataFrame, *, reference: str | None = None,
                         covariates=ADJUSTMENT_SET, settings: OutcomeSettings | None = None,
                         cluster: str | None = None,
                         models=("leg_pain_change", "recovered", "surgery")) -> dict:
    """Case-mix-adjusted comparisons of each modality against a reference.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        From :func:`analysis.derive_outcomes`.
    reference : str, optional, keyword-only
        Reference modality; default :func:`choose_reference`.
    covariates : sequence of str, keyword-only
        Adjustment set (default :data:`ADJUSTMENT_SET`). Episodes with a
        missing value in any of them are left out of the models and counted
        in ``missing_covariates``.
    settings : OutcomeSettings, optional, keyword-only
    cluster : {"therapist", "clinic", "none"}, optional, keyword-only
        Allow for episodes clustered within therapists or clinics (see
        :mod:`analysis.stats`); ``"none"`` treats episodes as independent
        (ordinary linear, logistic and Cox models). Default
        :func:`default_cluster`.
    models : sequence of str, keyword-only
        Which of ``leg_pain_change``, ``recovered``, ``surgery`` to fit (all by
        default; the explorer fits only the one it draws); ``odi_change`` adds
        the disability comparison (final ODI on modality, ODI at the first
        visit and the case mix; a ``difference`` in ODI points).

    Returns
    -------
    dict
        ``reference`` (str), ``covariates`` (list of the covariates used in at
        least one model), ``cluster``, ``method`` (outcome -> plain name of the
        model), ``clusters`` (outcome -> number of clusters or None),
        ``events_per_parameter`` (outcome -> float or None),
        ``coefficients`` (outcome -> the fitted model's coefficients by term
        name, a Series, or None: the outcome models of the doubly robust
        estimates),
        ``missing_covariates`` (episodes left out for a missing covariate),
        and three DataFrames, one row per non-reference modality in code
        order: ``leg_pain_change`` (``difference``), ``recovered``
        (``odds_ratio``), ``surgery`` (``hazard_ratio``), each with
        ``ci_low``, ``ci_high``, ``p``, ``p_holm`` (Holm within the outcome),
        ``e_value``, ``e_value_ci``, ``note``, ``n`` and (binary and survival
        outcomes) ``events``. With ``population="all"`` the Cox model is
        stratified by ``surgical_candidate``.

    Raises
    ------
    ValueError
        If *cluster* is not a known choice or names a column with no codes.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import adjusted_comparisons
    >>> adj = adjusted_comparisons(derive_outcomes(load_records("data/sample")))
    >>> adj["reference"], adj["cluster"], list(adj["recovered"].columns[:3])
    ('electrotherapy', 'therapist', ['modality', 'odds_ratio', 'ci_low'])
    """
    s = settings or OutcomeSettings()
    ref = reference or choose_reference(outcomes)
    covs = list(covariates)
    cluster = _check_cluster(outcomes, cluster)
    all_mods = sorted(outcomes["modality"].unique())
    # a light frame: only what the models use, text covariates as categories (factorised once, not per model)
    needed = ["modality", "baseline_leg_pain", "final_leg_pain", "recovered", "in_population", "surgery_time",
              "surgery_event", "surgical_candidate", *covs] + ([cluster] if cluster != "none" else [])
    if "odi_change" in models:
        needed += ["baseline_odi", "final_odi"]
    light = {}
    for c in dict.fromkeys(needed):
        if c not in outcomes.columns:
            continue
        col = outcomes[c]
        if (c in covs or c == cluster) and c not in _NUMERIC and pd.api.types.is_string_dtype(col.dtype):
            col = col.astype("category")
        light[c] = col
    outcomes = pd.DataFrame(light, index=outcomes.index)
    base_ok = outcomes["baseline_leg_pain"].notna()
    cov_cols = [c for c in covs if c in outcomes.columns]
    cov_ok = outcomes[cov_cols].notna().all(axis=1) if cov_cols else pd.Series(True, index=outcomes.index)
    missing_cov = int((~cov_ok & base_ok).sum())
    ok = base_ok & cov_ok

    def subset(mask):
        return outcomes[mask.to_numpy(dtype=bool) if hasattr(mask, "to_numpy") else mask]

    kw = dict(reference=ref, covariates=covs, s=s, cluster=cluster, all_modalities=all_mods)
    skipped = (pd.DataFrame(columns=["modality", "ci_low", "ci_high", "p", "note", "p_holm", "e_value", "e_value_ci",
                                     "n"]), [], {"clusters": None, "epv": None, "coef": None})
    lp, u1, i1 = _fit("linear", subset(ok & outcomes["final_leg_pain"].notna()), outcome="final_leg_pain",
                      ratio_name="difference", **kw) if "leg_pain_change" in models else skipped
    rc, u2, i2 = _fit("logistic", subset(ok & outcomes["recovered"].notna()), outcome="recovered",
                      ratio_name="odds_ratio", **kw) if "recovered" in models else skipped
    sg, u3, i3 = _fit("cox", subset(ok & outcomes["in_population"]), outcome="surgery_event",
                      ratio_name="hazard_ratio", strata="surgical_candidate" if s.population == "all" else None,
                      **kw) if "surgery" in models else skipped
    used = [c for c in covs if c in set(u1) | set(u2) | set(u3)]
    infos = {"leg_pain_change": i1, "recovered": i2, "surgery": i3}
    extra = {}
    if "odi_change" in models:
        # disability: final ODI on modality + ODI at the first visit + the same case mix (as leg pain is modelled)
        has = ok & outcomes["baseline_odi"].notna() & outcomes["final_odi"].notna()
        od, _, i4 = _fit("linear", subset(has), outcome="final_odi", ratio_name="difference",
                         **{**kw, "covariates": ["baseline_odi", *covs]})
        extra["odi_change"] = od
        infos["odi_change"] = i4
    return {"reference": ref, "covariates": used, "cluster": cluster,
            "method": model_methods(cluster, population=s.population),
            "clusters": {k: v["clusters"] for k, v in infos.items()},
            "events_per_parameter": {k: v["epv"] for k, v in infos.items()},
            "coefficients": {k: v["coef"] for k, v in infos.items()},
            "missing_covariates": missing_cov,
            "leg_pain_change": lp, "recovered": rc, "surgery": sg, **extra}
