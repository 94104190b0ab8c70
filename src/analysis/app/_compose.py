"""The report's content, composed once: used by the report notebook and the explorer alike.

:class:`ReportContent` holds one selection of records and the report's
parameters. Each part (crude table, adjusted comparisons, imputed recovery,
curves ...) is computed the first time a view asks for it and kept, and each
table or figure is disclosed once (:mod:`analysis.disclosure`); the methods
below return the HTML of one report section each. The report notebook
displays them one after the other between its explanatory text; the explorer
displays the headline, the table and the figure of the chosen outcome.
"""

from __future__ import annotations

import pickle
from functools import cached_property
from pathlib import Path

import pandas as pd

from .. import disclosure, methods, present
from ..records import Records

__all__ = ["ASSOCIATION_WARNING", "ReportContent", "load_checked_records", "save_checked_records"]

#: The widest table that fits an A4 page (and a laptop screen) at the report's type size: wider ones are cut.
TABLE_COLUMNS = 7
#: The adjusted models the doubly robust estimates need (their outcome models); the surgery model is not one of them.
_DR_MODELS = tuple(methods.DR_OUTCOMES)

#: The note printed above the adjusted comparisons.
ASSOCIATION_WARNING = ("These comparisons are associations in routinely collected records, adjusted for case mix. "
                       "Patients were not randomised to modalities, so they do not prove that a modality causes a "
                       "better or worse outcome.")


def save_checked_records(records: Records, path) -> Path:
    """Write records the command line has validated, for the report kernel to read without checking again.

    The file is the tool's own temporary file (written and removed by
    :func:`analysis.app.build_report`), never a user's data.
    """
    path = Path(path)
    with path.open("wb") as fh:
        pickle.dump({"episodes": records.episodes, "visits": records.visits, "modalities": records.modalities,
                     "folder": str(records.folder), "files": dict(records.files)}, fh,
                    protocol=pickle.HIGHEST_PROTOCOL)
    return path


def load_checked_records(path) -> Records:
    """Read records written by :func:`save_checked_records` (already validated and filtered)."""
    with Path(path).open("rb") as fh:
        d = pickle.load(fh)  # noqa: S301 (our own temporary file, written by build_report)
    return Records(d["episodes"], d["visits"], d["modalities"], Path(d["folder"]), d["files"])


class ReportContent:
    """Everything the clinic-meeting report shows for one selection, each part computed once.

    Parameters
    ----------
    records : Records
        The selected (filtered) records.
    settings : OutcomeSettings, keyword-only
    rule : DisclosureRule, keyword-only
    reference, cluster : str, optional, keyword-only
        As for :func:`analysis.methods.adjusted_comparisons`.
    outcomes : pandas.DataFrame, optional, keyword-only
        :func:`analysis.methods.derive_outcomes` of *records*, when the caller has it.

    Examples
    --------
    >>> from analysis.app import ReportContent
    >>> from analysis.disclosure import disclosure_rule
    >>> from analysis.methods import OutcomeSettings
    >>> from analysis.records import load_records, sample_folder
    >>> c = ReportContent(load_records(sample_folder()), settings=OutcomeSettings(), rule=disclosure_rule("public"))
    >>> "report-headline" in str(c.headline())
    True
    """

    def __init__(self, records: Records, *, settings, rule, reference: str | None = None,
                 cluster: str | None = None, outcomes: pd.DataFrame | None = None):
        self.records = records
        self.settings = settings
        self.rule = rule
        self.reference = reference
        self.cluster = cluster
        if outcomes is not None:
            self.outcomes = outcomes
        self._adjusted_models: dict[tuple, dict] = {}

    # ------------------------------------------------------------------ numbers, each computed once

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        return methods.derive_outcomes(self.records, settings=self.settings)

    @cached_property
    def labels(self) -> dict:
        return self.records.labels

    @cached_property
    def colors(self) -> dict:
        codes = self.records.modalities["code"] if len(self.records.modalities) else self.outcomes["modality"]
        return present.modality_colors(codes)

    @cached_property
    def min_n(self) -> int:
        return self.rule.min_n if self.rule.name != "none" else 1

    @cached_property
    def crude(self) -> pd.DataFrame:
        return methods.outcome_table(self.outcomes, labels=self.labels, settings=self.settings)

    @cached_property
    def crude_disclosed(self):
        """The one disclosure decision behind the headline, the outcome table and the survival figure."""
        return disclosure.disclose_crude(self.crude, rule=self.rule)

    def adjusted(self, models: tuple[str, ...] = ("leg_pain_change", "recovered", "surgery")) -> dict:
        """The adjusted comparisons (only *models* fitted), disclosed; the full set when it has been fitted."""
        full = ("leg_pain_change", "recovered", "surgery")
        if full in self._adjusted_models:
            return self._adjusted_models[full]
        if models not in self._adjusted_models:
            ref = self.reference if self.reference in set(self.outcomes["modality"].unique()) else None
            raw = methods.adjusted_comparisons(self.outcomes, reference=ref, settings=self.settings,
                                               cluster=self.cluster, models=models)
            self._adjusted_models[models] = {"raw": raw,
                                             "shown": disclosure.apply_disclosure_to_adjusted(raw, rule=self.rule)}
        return self._adjusted_models[models]

    @cached_property
    def comparison_basis(self) -> tuple[str, str]:
        """The reference modality and the clustering the adjusted comparisons use, without fitting any model."""
        for fitted in self._adjusted_models.values():
            return fitted["raw"]["reference"], fitted["raw"]["cluster"]
        ref = self.reference if self.reference in set(self.outcomes["modality"].unique()) else None
        return (ref or methods.choose_reference(self.outcomes)), (self.cluster or methods.default_cluster(self.outcomes))

    @cached_property
    def secondary_disclosed(self) -> pd.DataFrame:
        """The secondary outcomes (ODI, back pain, sessions, days to discharge), disclosed once."""
        raw = methods.secondary_outcome_table(self.outcomes, labels=self.labels, settings=self.settings)
        return disclosure.apply_disclosure_to_secondary(raw, rule=self.rule)

    def secondary(self) -> list:
        """The disability figure (its numbers under it) and the secondary outcome table."""
        t = self.secondary_disclosed
        parts = []
        if bool(t["odi_change_shown"].iloc[1:].any()):
            fig = present.plot_secondary(t, labels=self.labels, colors=self.colors)
            parts.append(present.figure_html(fig, present.alt_secondary(t, labels=self.labels),
                                             numbers=present.secondary_numbers(t, rule=self.rule, labels=self.labels)))
        else:
            parts.append(present.note_html("Too few episodes with disability (ODI) recorded at two visits to draw "
                                           "it by modality."))
        parts.append(present.table_html(present.format_secondary_table(t, rule=self.rule, labels=self.labels),
                                        max_columns=TABLE_COLUMNS - 1))
        # disability compared with the reference, adjusted for ODI at the first visit and the case mix
        reference, cluster = self.comparison_basis
        raw = methods.adjusted_comparisons(self.outcomes, reference=reference, settings=self.settings,
                                           cluster=cluster, models=("odi_change",))
        shown = disclosure.apply_disclosure_to_adjusted(raw, rule=self.rule)["odi_change"]
        ref = self.labels.get(reference, reference)
        parts.append(present.table_html(present.forest_numbers(shown, estimate="difference", labels=self.labels),
                                        caption=f"Disability (ODI points) compared with {ref}, adjusted for ODI at "
                                                "the first visit and case mix; negative: less disability"))
        return parts

    @cached_property
    def fixed_day(self) -> dict:
        """Leg pain on the fixed days from every visit (the growth-curve model), disclosed once."""
        reference, cluster = self.comparison_basis  # no other model is fitted for this (the explorer)
        raw = methods.leg_pain_at_days(self.records, self.outcomes, reference=reference,
                                       cluster=cluster, settings=self.settings)
        return disclosure.apply_disclosure_to_fixed_day(raw, rule=self.rule)

    def fixed_days(self) -> list:
        """The fixed-day figure (its numbers under it), the table beside the last-value comparison, and why."""
        shown = self.fixed_day
        if not shown["converged"]:
            note = shown["means"]["note"].dropna()
            return [present.note_html("Leg pain on fixed days could not be estimated for this selection"
                                      + (f": {note.iloc[0]}." if len(note) else "."))]
        fig = present.plot_fixed_day(shown, labels=self.labels, colors=self.colors)
        last_value = self.adjusted(("leg_pain_change",))["shown"]["leg_pain_change"]
        ref = self.labels.get(shown["reference"], shown["reference"])
        return [present.note_html(present.fixed_day_sentence(shown, labels=self.labels)),
                present.figure_html(fig, present.alt_fixed_day(shown, labels=self.labels),
                                    numbers=present.fixed_day_numbers(shown, labels=self.labels,
                                                                      count_format=self.rule.count)),
                present.table_html(present.format_fixed_day_table(shown, last_value, labels=self.labels),
                                   caption=f"Differences are against {ref} (negative: less pain), for patients with "
                                           "the same leg pain at the first visit and the same case mix; the "
                                           "last-value difference is the comparison of the tables above")]

    @cached_property
    def confounding(self) -> dict:
        """The confounding diagnostics (overlap, balance, doubly robust), raw and disclosed."""
        adj = self.adjusted(_DR_MODELS)  # the outcome models the doubly robust estimates use; not the surgery model
        raw = methods.confounding_diagnostics(self.outcomes, reference=adj["raw"]["reference"], settings=self.settings,
                                              cluster=adj["raw"]["cluster"], adjusted=adj["raw"])
        return {"raw": raw, "shown": disclosure.apply_disclosure_to_confounding(raw, rule=self.rule,
                                                                               adjusted_shown=adj["shown"])}

    def overlap(self):
        """The propensity overlap figure, its numbers under it."""
        shown = self.confounding["shown"]
        if shown["bins"].empty:
            return present.note_html("Only one modality in this selection: there is nothing to compare.")
        ref = self.labels.get(shown["reference"], shown["reference"])
        fig = present.plot_overlap(shown["bins"], labels=self.labels, colors=self.colors, reference_label=ref)
        return present.figure_html(fig, present.alt_overlap(shown["overlap"], labels=self.labels),
                                   numbers=present.overlap_numbers(shown["bins"], shown["overlap"], labels=self.labels,
                                                                   count_format=self.rule.count),
                                   numbers_columns=5)

    def love(self):
        """The love plot (case-mix balance before and after weighting), its numbers under it."""
        bal = self.confounding["shown"]["balance"]
        if bal.dropna(subset=["smd"]).empty:
            return present.note_html("No case-mix balance to show for this selection.")
        return present.figure_html(present.plot_love(bal), present.alt_love(bal),
                                   numbers=present.love_numbers(bal, labels=self.labels))

    def doubly_robust(self) -> list:
        """The regression and doubly robust estimates side by side, and the plain paragraph about them."""
        shown = self.confounding["shown"]
        if shown["overlap"].empty:
            return [present.note_html("Only one modality in this selection: there is nothing to compare.")]
        table = present.format_doubly_robust_table(shown["doubly_robust"], self.adjusted(_DR_MODELS)["shown"],
                                                   shown["overlap"],
                                                   labels=self.labels, count_format=self.rule.count)
        return [present.table_html(table),
                present.note_html(present.confounding_sentence(shown["doubly_robust"], shown["overlap"],
                                                               labels=self.labels, truncation=shown["truncation"],
                                                               count_format=self.rule.count))]

    @cached_property
    def imputed(self):
        """The ratings imputation model and its draws, fitted once for the rates, tipping point and comparisons."""
        return methods.impute_ratings(self.outcomes)

    @cached_property
    def recovery_mi(self) -> pd.DataFrame:
        return methods.recovery_missing_adjusted(self.outcomes, confidence=self.settings.confidence,
                                                 imputed=self.imputed)

    @cached_property
    def recovery_mi_comparisons(self) -> pd.DataFrame:
        """The adjusted recovery comparison from the imputed ratings, with tipping odds, disclosed."""
        adj = self.adjusted()
        raw = methods.recovery_comparisons_imputed(self.outcomes, reference=adj["raw"]["reference"],
                                                   settings=self.settings, cluster=adj["raw"]["cluster"],
                                                   imputed=self.imputed)
        return disclosure.apply_disclosure_to_imputed_comparisons(raw, rule=self.rule, adjusted_shown=adj["shown"])

    def recovery_imputed_comparisons(self) -> list:
        """The table of recovery odds ratios from rated episodes and with missing ratings imputed, and its reading."""
        t = self.recovery_mi_comparisons
        table = present.format_recovery_comparisons_imputed(t, self.adjusted()["shown"]["recovered"],
                                                            labels=self.labels, count_format=self.rule.count)
        m = int(t["imputations"].iloc[0]) if len(t) else 20
        note = ("Recovery odds ratios need a rating, and many patients give none. The middle column fills "
                f"each missing rating in {m} times from what was recorded (as the headline does) and combines the "
                "fits. Tipping odds: how much less (below 1) or more (above 1) likely to have recovered the "
                "unrated patients of that modality would have to be, as odds against what their pain and case "
                "mix predict, for the comparison's conclusion (whether its interval includes 1) to change. Near 1 "
                "the conclusion is fragile; far from 1 it does not hinge on the unrated patients.")
        return [present.table_html(table), present.note_html(note)]

    @cached_property
    def tipping(self) -> dict:
        return methods.recovery_tipping_point(self.outcomes, missing_adjusted=self.recovery_mi, imputed=self.imputed)

    # ------------------------------------------------------------------ sections (HTML)

    def header(self, *, title: str, clinics=None, start_from=None, start_to=None, where=None):
        return present.header_html(self.records, title=title, clinics=clinics, start_from=start_from,
                                   start_to=start_to, where=where)

    def headline(self, *, imputed: bool = True):
        """The four headline boxes (with the imputed recovery rate when *imputed*)."""
        return present.headline_html(self.crude, settings=self.settings, rule=self.rule,
                                     missing_adjusted=self.recovery_mi if imputed else None,
                                     disclosed=self.crude_disclosed)

    def tipping_point(self):
        return present.tipping_point_html(self.tipping, rule=self.rule)

    def outcome_frame(self) -> pd.DataFrame:
        """The crude outcome table as shown (strings), for the report and the explorer's sortable table."""
        return present.format_outcome_table(self.crude, horizon_days=self.settings.horizon_days, rule=self.rule,
                                            disclosed=self.crude_disclosed)

    def outcome_table(self):
        return present.table_html(self.outcome_frame())

    def association_note(self):
        return present.note_html(ASSOCIATION_WARNING)

    def forest(self, key: str, *, models: tuple[str, ...] | None = None):
        """The forest plot of one comparison (``leg_pain_change``, ``recovered`` or ``surgery``)."""
        spec = methods.compared_outcome(key)
        adj = self.adjusted(models or (key,))
        shown = adj["shown"][key]
        ref = self.labels.get(adj["raw"]["reference"], adj["raw"]["reference"])
        fig = present.plot_forest(shown, estimate=spec.estimate, labels=self.labels, colors=self.colors,
                                  reference_label=ref)
        return present.figure_html(fig, present.alt_forest(shown, estimate=spec.estimate, labels=self.labels,
                                                           reference_label=ref),
                                   numbers=present.forest_numbers(shown, estimate=spec.estimate, labels=self.labels))

    def adjusted_table(self):
        adj = self.adjusted()
        return present.table_html(present.format_adjusted_table(adj["shown"], labels=self.labels))

    def evalues(self):
        return present.evalue_html(self.adjusted()["raw"])

    def trajectories(self):
        traj = methods.pain_trajectories(self.records)
        if traj[traj["n"] >= self.min_n].empty:
            return present.note_html("Too few episodes with leg pain recorded at two visits to draw the course.")
        fig = present.plot_trajectories(traj, labels=self.labels, colors=self.colors, min_n=self.min_n)
        return present.figure_html(fig, present.alt_trajectories(traj, labels=self.labels, min_n=self.min_n),
                                   numbers=present.trajectory_numbers(traj, labels=self.labels, min_n=self.min_n,
                                                                      count_format=self.rule.count))

    def rates(self, key: str = "responder"):
        """A crude rate by modality (dots and intervals), drawn from the outcome table's disclosure decision."""
        fig = present.plot_rates(self.crude_disclosed, key=key, labels=self.labels, colors=self.colors)
        return present.figure_html(fig, present.alt_rates(self.crude_disclosed, key=key, labels=self.labels),
                                   numbers=present.rates_numbers(self.crude_disclosed, key=key, labels=self.labels))

    @cached_property
    def survival_data(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The curves and numbers at risk the figure draws: those of modalities whose rate the table shows."""
        curves, at_risk = methods.survival_curves(self.outcomes, min_n=self.min_n, min_at_risk=self.min_n,
                                                   settings=self.settings)
        return disclosure.disclose_survival(curves, at_risk, self.crude_disclosed)

    @property
    def survival_title(self) -> str:
        """The survival figure's title, naming the population the curves are about."""
        return ("Surgery-free among surgical candidates" if self.settings.population == "candidates"
                else "Surgery-free, all episodes")

    def survival(self):
        """Surgery-free curves: only modalities whose surgery-free rate the outcome table shows."""
        curves, at_risk = self.survival_data
        if curves.empty:
            return present.note_html(f"Too few patients or surgeries in the surgery population (at least "
                                     f"{self.min_n} per modality) to draw survival curves.")
        fig = present.plot_survival(curves, at_risk, labels=self.labels, colors=self.colors,
                                    horizon=self.settings.horizon_days, count_format=self.rule.count,
                                    title=self.survival_title)
        numbers = present.survival_numbers(curves, at_risk, labels=self.labels, count_format=self.rule.count,
                                           min_at_risk=self.min_n)
        return present.figure_html(fig, present.alt_survival(self.crude, settings=self.settings, rule=self.rule,
                                                             disclosed=self.crude_disclosed), numbers=numbers)

    def logrank(self):
        return present.logrank_html(methods.surgery_logrank(self.outcomes, settings=self.settings))

    @cached_property
    def benchmark_unit(self) -> str:
        return "therapist" if self.outcomes["therapist"].nunique() > 1 else "clinic"

    def benchmarking(self) -> list:
        unit = self.benchmark_unit
        lp = disclosure.apply_disclosure_to_benchmark(
            methods.benchmark_units(self.outcomes, by=unit, outcome="leg_pain_change"), rule=self.rule)
        rc = disclosure.apply_disclosure_to_benchmark(
            methods.benchmark_units(self.outcomes, by=unit, outcome="recovered"), rule=self.rule,
            outcome="recovered")
        fig = present.plot_adjusted_funnel(rc, unit_label=unit.title())
        o = self.crude.iloc[0]
        count = self.rule.count
        n_lp, n_rc = int(lp["n"].sum()), int(rc["n"].sum())
        left_out = (int(o["leg_pain_change_n"]) - n_lp, int(o["recovered_n"]) - n_rc)
        reason = (f"only episodes with every case-mix item recorded (leg pain at the first visit, age band, sex, "
                  f"symptom duration, cause) and a {unit} code")
        if any(self.rule.small(d) for d in left_out):  # the two totals would give a small count away
            why = f"These comparisons count {reason}, so their counts can be lower than the outcome table's."
        else:
            why = (f"These comparisons count {count(n_lp)} episodes with leg pain and {count(n_rc)} with a rating: "
                   f"{reason}. The outcome table counts {count(int(o['leg_pain_change_n']))} and "
                   f"{count(int(o['recovered_n']))}.")
        return [present.figure_html(fig, present.alt_adjusted_funnel(rc, unit=unit)),
                present.table_html(present.format_benchmark_table(lp, rc, unit_label=unit.title(), rule=self.rule)),
                present.note_html(why)]

    def baseline(self):
        wide = present.format_baseline_table(methods.baseline_table(self.outcomes, labels=self.labels), rule=self.rule)
        return present.table_html(wide, max_columns=TABLE_COLUMNS)

    def completeness(self) -> list:
        return [present.table_html(present.format_completeness_table(methods.completeness_table(self.outcomes, settings=self.settings),
                                                                     labels=self.labels, rule=self.rule)),
                present.table_html(present.format_exclusions(methods.exclusions_table(self.outcomes, settings=self.settings),
                                                             rule=self.rule))]

    def methods_text(self):
        adj = self.adjusted()["raw"]
        return present.methods_html(settings=self.settings, reference_label=self.labels.get(adj["reference"],
                                                                                            adj["reference"]),
                                    covariates=adj["covariates"], rule=self.rule, cluster=adj["cluster"],
                                    method=adj["method"], imputations=int(self.recovery_mi["imputations"].iloc[0]))
