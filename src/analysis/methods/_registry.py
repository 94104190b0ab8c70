"""One registry of the compared outcomes: key, clinical label, estimate, model family, format.

Every place that needs to know that leg pain is compared as a difference in
points, recovery as an odds ratio and surgery as a hazard ratio reads it here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COMPARED_OUTCOMES", "ComparedOutcome", "compared_outcome"]


@dataclass(frozen=True)
class ComparedOutcome:
    """An outcome compared between modalities by an adjusted model.

    Attributes
    ----------
    key : str
        Key of the comparison in :func:`analysis.methods.adjusted_comparisons`.
    label : str
        The outcome in plain words (for titles).
    estimate : str
        Column of the estimate: ``difference``, ``odds_ratio`` or ``hazard_ratio``.
    family : str
        Model family: ``linear``, ``logistic`` or ``cox``.
    fmt : str
        Format of the estimate and its interval.
    axis : str
        Axis label of its forest plot.
    events : str or None
        What the events are called (a rate resting on 1-7 of them is hidden under ``public``).
    favours_lower : bool
        Whether a lower estimate is the better outcome (less pain, less surgery).
    lower_means, higher_means : str
        What an estimate below (above) no difference means, read against the reference
        ("less leg pain than", "more often recovered than").
    """

    key: str
    label: str
    estimate: str
    family: str
    fmt: str
    axis: str
    events: str | None
    favours_lower: bool
    lower_means: str
    higher_means: str

    @property
    def ratio(self) -> bool:
        """Whether the estimate is a ratio (drawn on a log scale around 1)."""
        return self.estimate != "difference"


COMPARED_OUTCOMES: tuple[ComparedOutcome, ...] = (
    ComparedOutcome("leg_pain_change", "Final leg pain", "difference", "linear", "+.2f",
                    "Difference in final leg pain, points (95% CI)", None, True,
                    "less leg pain than", "more leg pain than"),
    ComparedOutcome("recovered", "Recovery at discharge", "odds_ratio", "logistic", ".2f",
                    "Odds ratio of recovery (95% CI), log scale", "recoveries", False,
                    "recovered less often than", "recovered more often than"),
    ComparedOutcome("surgery", "Surgery", "hazard_ratio", "cox", ".2f",
                    "Hazard ratio of surgery (95% CI), log scale", "surgeries", True,
                    "surgery less often than", "surgery more often than"),
)


def compared_outcome(key_or_estimate: str) -> ComparedOutcome:
    """The registry entry for a comparison key (``recovered``) or its estimate (``odds_ratio``).

    Examples
    --------
    >>> from analysis.methods import compared_outcome
    >>> compared_outcome("surgery").estimate, compared_outcome("odds_ratio").key
    ('hazard_ratio', 'recovered')
    """
    for o in COMPARED_OUTCOMES:
        if key_or_estimate in (o.key, o.estimate):
            return o
    raise KeyError(f"no compared outcome '{key_or_estimate}'")
