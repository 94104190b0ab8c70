"""HTML pieces of the report and the explorer, from disclosed results."""

from __future__ import annotations

import base64
import datetime
import html
import io

import pandas as pd

from ..disclosure import CrudeDisclosure, DisclosureRule, disclose_crude, recovery_mi_cell
from ..methods import OutcomeSettings, Reason, Status, compared_outcome
from ..records.schema import code_label


class _HTML:
    """Minimal rich-display object (text/html), so this module needs no IPython import."""

    def __init__(self, data: str):
        self.data = data

    def _repr_html_(self) -> str:
        return self.data

    def __str__(self) -> str:
        return self.data


def figure_html(fig, alt: str, *, caption: str | None = None, dpi: int = 110,
                numbers: pd.DataFrame | None = None, fmt: str = "svg", numbers_columns: int | None = None) -> _HTML:
    """Embed a matplotlib figure as an ``<img>`` (SVG by default, or PNG) with alternative text, and close it.

    SVG keeps figures sharp on paper and at any zoom, draws faster than a
    PNG, and its text is drawn as shapes, so it looks the same in every
    browser whatever fonts it has.

    *numbers* (the figure's figures as a table, e.g. from
    :func:`survival_numbers`) follow the image in a collapsed "Numbers behind
    this figure" element, which the report's print style opens on paper;
    *numbers_columns* cuts a wide one into parts (:func:`table_html`).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import pandas as pd
    >>> from analysis.present import figure_html
    >>> fig, ax = plt.subplots()
    >>> out = str(figure_html(fig, "An empty plot"))
    >>> out.startswith('<figure><img src="data:image/svg+xml;base64,') and 'alt="An empty plot"' in out
    True
    >>> fig, ax = plt.subplots()
    >>> "<details" in str(figure_html(fig, "Empty", numbers=pd.DataFrame({"Modality": ["a"]})))
    True
    """
    import matplotlib.pyplot as plt

    if fmt not in ("svg", "png"):
        raise ValueError("fmt must be 'svg' or 'png'")
    buf = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "physio-outcomes"}):
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    table = (f'<details class="figure-numbers"><summary>Numbers behind this figure</summary>'
             f'{table_html(numbers, max_columns=numbers_columns)}</details>'
             if numbers is not None and len(numbers) else "")
    return _HTML(f'<figure><img src="data:{mime};base64,{data}" alt="{html.escape(alt, quote=True)}">{cap}'
                 f'{table}</figure>')


def table_html(df: pd.DataFrame, *, caption: str | None = None, max_columns: int | None = None) -> _HTML:
    """A DataFrame as a plain HTML table (no index), escaped.

    Parameters
    ----------
    df : pandas.DataFrame
    caption : str, optional, keyword-only
    max_columns : int, optional, keyword-only
        A wider table is cut into several tables of at most this many
        columns, each repeating the first column, so that every column
        fits a laptop screen and an A4 page (nothing scrolls out of sight
        or is cut off in print).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.present import table_html
    >>> "<table" in str(table_html(pd.DataFrame({"a": [1]})))
    True
    >>> wide = pd.DataFrame({"Characteristic": ["Age"], **{f"M{i}": [i] for i in range(8)}})
    >>> str(table_html(wide, max_columns=5)).count("<table")
    2
    """
    if max_columns is not None and max_columns < 2:
        raise ValueError("max_columns must be at least 2 (the first column and one more)")
    if max_columns is None or df.shape[1] <= max_columns:
        parts = [df]
    else:
        rest = list(df.columns[1:])
        per = max_columns - 1
        n_parts = -(-len(rest) // per)
        per = -(-len(rest) // n_parts)  # parts of even width
        parts = [df[[df.columns[0], *rest[i:i + per]]] for i in range(0, len(rest), per)]
    out = []
    for k, part in enumerate(parts, start=1):
        text = caption if len(parts) == 1 else f"{caption + ' ' if caption else ''}(part {k} of {len(parts)})"
        cap = f"<caption>{html.escape(text)}</caption>" if text else ""
        body = part.to_html(index=False, escape=True, border=0, na_rep="")
        out.append(body.replace('<table class="dataframe">', f'<table class="dataframe">{cap}', 1))
    return _HTML("\n".join(out))


#: The report's look for its parts shown inside JupyterLab (the explorer): cards, notes, figures, tables.
_EXPLORER_CSS = """
.physio-explorer { max-width: 100%; box-sizing: border-box; }
.physio-explorer .report-headline { display: flex; flex-wrap: wrap; gap: 10px; margin: 0.4rem 0; }
.physio-explorer .report-headline > div { flex: 1 1 170px; border: 1px solid #d0d7de; border-radius: 6px;
  padding: 8px 12px; background: #fff; line-height: 1.35; }
.physio-explorer .report-headline .value { display: block; font-size: 1.6em; font-weight: 600; color: #332288;
  margin: 2px 0; }
.physio-explorer .report-headline small { display: block; color: #444; }
.physio-explorer .report-note { border-left: 4px solid #CC6677; padding: 6px 12px; background: #fbf3f5; }
.physio-explorer figure { margin: 0.4rem 0; max-width: 100%; }
.physio-explorer figure img { max-width: 100%; height: auto; display: block; }
.physio-explorer details.figure-numbers summary { cursor: pointer; color: #332288; }
.physio-explorer details.figure-numbers table { border-collapse: collapse; font-size: 12px; }
.physio-explorer details.figure-numbers td, .physio-explorer details.figure-numbers th { padding: 2px 8px;
  text-align: left; }
.physio-explorer .widget-html-content { white-space: normal; line-height: 1.4; }
.physio-explorer .physio-marks { color: #444; font-size: 0.92em; }
.physio-explorer .physio-label { font-weight: 600; margin: 2px 0; }
"""


def explorer_style_html() -> _HTML:
    """The stylesheet the explorer puts on its page, so its cards and figures look as in the report.

    Examples
    --------
    >>> from analysis.present import explorer_style_html
    >>> str(explorer_style_html()).startswith("<style>")
    True
    """
    return _HTML(f"<style>{_EXPLORER_CSS}</style>")


def note_html(text: str) -> _HTML:
    """A highlighted note (e.g. association, not causation)."""
    return _HTML(f'<p class="report-note">{html.escape(text)}</p>')


def header_html(records, *, title: str, clinics=None, start_from=None, start_to=None, where=None) -> _HTML:
    """Title, period, clinics, subgroups and dates of the report."""
    ep = records.episodes
    first = ep["start_date"].min().strftime("%d %B %Y") if len(ep) else "-"
    last = ep["start_date"].max().strftime("%d %B %Y") if len(ep) else "-"
    sites = ", ".join(sorted(ep["clinic"].unique()))
    period = f"Episodes starting {first} to {last}"
    if start_from or start_to:
        period += f" (period asked for: {start_from or 'start'} to {start_to or 'end'})"
    today = datetime.date.today().strftime("%d %B %Y")
    names = {"modality": records.labels}
    sub = "; ".join(f"{k.replace('_', ' ')} {', '.join(names.get(k, {}).get(x, code_label(k, x)) for x in v)}"
                    for k, v in (where or {}).items() if v)
    return _HTML(
        f"<h1>{html.escape(title)}</h1>"
        f"<p><strong>{html.escape(period)}</strong><br>Clinics: {html.escape(sites)}"
        f"{' (selected)' if clinics else ''}<br>"
        + (f"Only episodes with {html.escape(sub)}<br>" if sub else "")
        + f"Report produced {today} by physio-outcomes from anonymised records.</p>"
    )


def headline_html(crude: pd.DataFrame, *, settings: OutcomeSettings, rule: DisclosureRule,
                  missing_adjusted: pd.DataFrame | None = None, disclosed: CrudeDisclosure | None = None) -> _HTML:
    """Four headline boxes: episodes, leg pain change, recovered, surgery-free (overall).

    With *missing_adjusted* (from :func:`analysis.methods.recovery_missing_adjusted`)
    the recovery box shows the rate with missing ratings imputed (spec section 3)
    and the complete-case rate beside it. What is shown follows the decisions of
    :func:`analysis.disclosure.disclose_crude` (*disclosed*, the same object the
    outcome table renders) and :func:`analysis.disclosure.recovery_mi_cell` (the
    same decision as the recovery table's).

    Examples
    --------
    >>> import pandas as pd
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.methods import OutcomeSettings
    >>> from analysis.present import headline_html
    >>> crude = pd.DataFrame([{"group": "Overall", "label": "Overall", "episodes": 60,
    ...     "leg_pain_change_n": 50, "leg_pain_change_mean": -2.0, "leg_pain_change_ci_low": -2.5,
    ...     "leg_pain_change_ci_high": -1.5, "recovered_n": 40, "recovered_events": 5, "recovered_rate": .125,
    ...     "recovered_ci_low": .05, "recovered_ci_high": .26, "surgery_free_n": 30, "surgery_free_events": 9,
    ...     "surgery_free_rate": .7, "surgery_free_ci_low": .5, "surgery_free_ci_high": .8,
    ...     "responder_n": 50, "responder_events": 20, "responder_rate": .4}])
    >>> mi = pd.DataFrame([{"group": "Overall", "n": 60, "missing": 20, "rate": .15, "ci_low": .07,
    ...                     "ci_high": .28, "complete_case_rate": .125}])
    >>> "15%" in str(headline_html(crude, settings=OutcomeSettings(), rule=disclosure_rule("public"),
    ...                             missing_adjusted=mi))
    False
    """
    from ._tables import format_estimate

    decided = disclose_crude(crude, rule=rule) if disclosed is None else disclosed
    o = crude.iloc[0]

    def box(key, unit):
        value, ci = format_estimate(o, key, rule=rule, cell=decided.cell(o["group"], key))
        return value, (f"95% CI {ci}{unit}; " if ci else "")

    lp, lp_ci = box("leg_pain_change", "")
    rec, rec_ci = box("recovered", "%")
    rec_title, rec_note = "Recovered at discharge", f"{rec_ci}rated 6-7 of 7"
    if missing_adjusted is not None and len(missing_adjusted):
        m = missing_adjusted.iloc[0]
        if recovery_mi_cell(m, rule=rule).shown:
            cc = rec
            rec = f"{100 * m['rate']:.0f}%"
            rec_title = "Recovered at discharge (missing ratings imputed)"
            rec_note = (f"95% CI {100 * m['ci_low']:.0f} to {100 * m['ci_high']:.0f}%; rated 6-7 of 7; "
                        f"{cc} of those who gave a rating")
    sf, sf_ci = box("surgery_free", "%")
    pop = "surgical candidates" if settings.population == "candidates" else "all episodes"
    boxes = [
        ("Episodes of care", rule.count_in(o["episodes"], decided.count_states["episodes"][0]),
         f"{len(crude) - 1} modalities"),
        ("Average change in leg pain", lp, f"{lp_ci}points on the 0-10 scale"),
        (rec_title, rec, rec_note),
        (f"Surgery-free at {settings.horizon_days} days", sf, f"{sf_ci}{pop}"),
    ]
    inner = "".join(f"<div>{html.escape(a)}<span class='value'>{html.escape(str(b))}</span>"
                    f"<small>{html.escape(c)}</small></div>" for a, b, c in boxes)
    return _HTML(f'<div class="report-headline">{inner}</div>')


def tipping_point_html(tp: dict, *, rule: DisclosureRule) -> _HTML:
    """One plain sentence on the missing ratings and how different they would have to be to matter.

    Parameters
    ----------
    tp : dict
        From :func:`analysis.methods.recovery_tipping_point`.

    Examples
    --------
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.present import tipping_point_html
    >>> tp = {"rate": .49, "ci_low": .46, "ci_high": .52, "missing": 441, "n": 1491, "expected_unrated": .49,
    ...       "odds_ratio_low": .59, "unrated_rate_low": .39, "odds_ratio_high": 1.83, "unrated_rate_high": .6}
    >>> "39%" in str(tipping_point_html(tp, rule=disclosure_rule("internal")))
    True
    """
    if not tp.get("missing") or tp.get("rate") is None or not rule.allows(tp.get("n")):
        return _HTML("")
    text = f"{rule.count(tp['missing'])} of {rule.count(tp['n'])} discharged episodes have no recovery rating. "
    if not rule.allows(tp["missing"]):  # rates among so few unrated patients are not shown
        return _HTML(f'<p class="report-note">{html.escape(text)}</p>')
    text += (f"The headline rate assumes they recovered as often as rated patients with the same pain scores and "
             f"case mix (about {100 * tp['expected_unrated']:.0f}% of them). ")
    if tp.get("unrated_rate_low") is not None:
        text += (f"The rate would drop to the lower end of its 95% interval ({100 * tp['ci_low']:.0f}%) only if no "
                 f"more than {100 * tp['unrated_rate_low']:.0f}% of the unrated patients had in fact recovered "
                 f"(odds {tp['odds_ratio_low']:.2f} times those of similar rated patients)")
        if tp.get("unrated_rate_high") is not None:
            text += (f", and rise to the upper end ({100 * tp['ci_high']:.0f}%) only if at least "
                     f"{100 * tp['unrated_rate_high']:.0f}% had")
        text += "."
    else:
        text += "Even very different recovery among the unrated patients would keep the rate within its interval."
    return _HTML(f'<p class="report-note">{html.escape(text)}</p>')


def evalue_html(adjusted: dict) -> _HTML:
    """What the E-values mean, and the events-per-parameter cautions of the models, in plain words.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes, adjusted_comparisons
    >>> from analysis.present import evalue_html
    >>> out = str(evalue_html(adjusted_comparisons(derive_outcomes(load_records("data/sample")))))
    >>> "E-value" in out, "Caution" in out
    (True, True)
    """
    text = ("E-value: how strongly an unmeasured factor (for example severity not captured by the case mix) "
            "would have to be linked, as a risk ratio, to both the choice of modality and the outcome to explain "
            "a difference away. Values near 1 mean a weak hidden factor could do it; the E-value of the interval "
            "is 1 whenever the interval already includes no difference.")
    parts = [f"<p>{html.escape(text)}</p>"]
    what = {"recovered": ("recovery", "recoveries or non-recoveries, whichever is fewer"),
            "surgery": ("surgery", "surgeries")}
    for key, (name, events) in what.items():
        epv = adjusted.get("events_per_parameter", {}).get(key)
        if epv is not None and epv < 10:
            msg = (f"Caution (marked !): the {name} model rests on only {epv:.1f} {events} per estimated parameter "
                   "(fewer than 10 is too few for stable estimates); read its ratios as rough.")
            parts.append(f'<p class="report-note">{html.escape(msg)}</p>')
    return _HTML("".join(parts))


def methods_html(*, settings: OutcomeSettings, reference_label: str, covariates: list[str],
                 rule: DisclosureRule, cluster: str = "none", method: dict | None = None,
                 imputations: int = 20) -> _HTML:
    """Plain-language methods and definitions, and the disclosure rule applied."""
    from ..methods import COVARIATE_LABELS

    adj = ", ".join(COVARIATE_LABELS.get(c, c) for c in covariates) or "nothing (too little variation)"
    pop = "surgical candidates" if settings.population == "candidates" else "all episodes"
    items = [
        ("Leg pain change", "last leg pain rating of the episode (at a later visit than the first) minus the "
         "rating at the first visit, on the 0-10 scale; negative means less pain."),
        ("Leg pain on fixed days", "leg pain on days " + " and ".join(str(d) for d in settings.fixed_days)
         + " after the first visit, from every recorded visit: a model of each modality's pain over time (a smooth "
         "curve in days, with each patient's own starting level and rate of change), adjusted for age, sex, "
         "symptom duration, cause and clinic. The difference between modalities is for patients with the same "
         "leg pain at the first visit. It is given only where at least 8 of a modality's patients had a visit "
         "within 14 days of the day, and never extended beyond the data. Unlike the last-value change it does "
         "not depend on how long each modality's courses lasted, and it keeps patients seen only once."),
        ("Responder", f"leg pain improved by at least {settings.responder_points:g} points and at least "
         f"{100 * settings.responder_fraction:.0f}% of the first rating (Ostelo et al. 2008)."),
        ("Recovered", "global change at discharge rated 6 (much improved) or 7 (completely recovered) on the "
         "7-point scale. The headline figure counts every discharged episode: a missing rating is filled in "
         f"{imputations} times at random from what was recorded (leg pain change, case mix, modality, discharge "
         "reason and number of visits) and the results are combined by Rubin's rules (multiple imputation). "
         "The table by modality shows the rate among those who gave a rating."),
        ("Surgery-free", f"Kaplan-Meier probability of no spinal surgery by {settings.horizon_days} days among "
         f"{pop}, counting each patient for as long as their surgery status is known."),
        ("Intervals", "95% confidence intervals: Wilson for percentages, t for means, log(-log) for "
         "Kaplan-Meier, Wald for model estimates."),
        ("Adjusted comparisons", f"each modality against {reference_label} (the modality with most episodes "
         f"unless chosen otherwise), adjusted for {adj}. Models: " + "; ".join(
             f"{k.replace('_', ' ')}: {v}" for k, v in (method or {}).items()) + ". "
         + ("Patients of one " + cluster + " tend to do alike, so the intervals and p values allow for "
            "episodes being grouped by " + cluster + ". " if cluster != "none" else
            "Episodes are treated as independent. ")
         + "p values are Holm-adjusted within each outcome, because several modalities are compared at once. "
         "A model with fewer than 10 events per estimated parameter is marked with a caution: its estimates "
         "may be unstable."),
        ("E-value", "for each comparison, the minimum strength of association (as a risk ratio) that an "
         "unmeasured confounder would need with both the modality and the outcome to explain the association "
         "away (VanderWeele and Ding 2017); odds and hazard ratios of common outcomes are converted first."),
        ("Confounding by indication", "a multinomial logistic model of which modality each patient received, "
         f"given the same case mix ({adj}), gives each patient's propensity for each modality. For each "
         f"modality against {reference_label}: the overlap figure; weights of 1 / propensity, each group's "
         "(the modality's patients and the reference's) truncated at its own 1st and 99th percentiles; the "
         "effective number of episodes after weighting (Kish); the "
         "standardised differences of the case mix before and after weighting (under 0.1 counts as balanced); "
         "and a doubly robust estimate (augmented inverse probability weighting with the adjusted comparison's "
         "model as outcome model; Bang and Robins 2005), its interval allowing for "
         + (f"episodes grouped by {cluster}" if cluster != "none" else "independent episodes")
         + ". For recovery it is an odds ratio averaged over the patients of the two modalities, beside the "
         "regression's odds ratio for a patient of given case mix. A comparison rests on model assumptions "
         "when the doubly robust interval does not contain the regression model's own estimate for the same "
         "patients, or weighting leaves under "
         "half of a modality's episodes. There is no doubly robust estimate of surgery (time to event with "
         "censoring)."),
        ("Log-rank test", "tests whether the surgery-free curves of the modalities differ over the whole "
         "follow-up."),
        ("Benchmarking", "each therapist's (or clinic's) patients compared with what their case mix predicts: the "
         "expected outcome comes from a model of baseline leg pain, age band, sex, symptom duration and cause that "
         "knows neither the therapist nor the modality. The difference is observed minus expected, with a 95% "
         "interval that allows for the usual spread between therapists, as the funnel's 99.8% limits do "
         "(Spiegelhalter 2005; that spread is estimated with the most extreme tenth at each end pulled in, so "
         "that an outlier cannot hide itself); the figure allowing for caseload size pulls small caseloads "
         "towards the average and has its own 95% interval. A point outside the limits is worth a "
         "conversation, not a verdict, and the choice of modality is part of what is being compared. "
         "Therapists with fewer than 40 episodes are listed without figures."),
    ]
    body = "".join(f"<li><strong>{html.escape(a)}</strong>: {html.escape(b)}</li>" for a, b in items)
    return _HTML(f"<ul>{body}</ul><p><strong>{html.escape(rule.statement)}</strong></p>"
                 "<p>No patient- or episode-level data and no identifiers appear in this report.</p>")


def missing_estimate_text(row, estimate: str) -> str:
    """What a figure or table says where an estimate is missing, from its status and reason code.

    Examples
    --------
    >>> from analysis.present import missing_estimate_text
    >>> missing_estimate_text({"status": "hidden", "reason": "few_events"}, "hazard_ratio")
    'not shown (too few surgeries)'
    >>> missing_estimate_text({"status": "hidden", "reason": "few_episodes"}, "odds_ratio")
    'not shown (too few episodes)'
    >>> missing_estimate_text({"status": "not_estimable", "reason": "model"}, "difference")
    'not estimable'
    """
    if row.get("status") != Status.HIDDEN:
        return "not estimable"
    if row.get("reason") == Reason.FEW_EVENTS:
        return f"not shown (too few {compared_outcome(estimate).events or 'events'})"
    return "not shown (too few episodes)"


def logrank_html(test: dict) -> _HTML:
    """The log-rank test result in a sentence."""
    if test.get("chi2") is None or pd.isna(test["chi2"]):
        return _HTML("<p>The log-rank test could not be computed (it needs two modalities and at least one surgery).</p>")
    p = "p < 0.001" if test["p"] < 0.001 else f"p = {test['p']:.3f}"
    verdict = ("Yes: the modalities' surgery-free curves differ more than chance alone would explain"
               if test["p"] < 0.05 else "No clear evidence that the modalities' surgery-free curves differ")
    strat = {"surgical_candidate": ", stratified by surgical candidacy as the hazard ratios are",
             "clinic": ", stratified by clinic (each clinic its own baseline, as the network's hazard ratios)"
             }.get(test.get("stratified_by") or "", "")
    return _HTML(f"<p>{verdict} (log-rank test over the whole follow-up{strat}, not adjusted for case mix: "
                 f"chi-squared {test['chi2']:.2f} on {test['df']} degrees of freedom, {p}).</p>")


