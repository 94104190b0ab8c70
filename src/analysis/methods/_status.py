"""Status and reason codes carried by every estimate (machine-readable, beside the sentence for people).

The methods set ``estimated``, ``caution`` and ``not_estimable``; disclosure
(:mod:`analysis.disclosure`) adds ``hidden``. Both are ``str`` enums, so a
table column of codes compares equal to them.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Reason", "Status"]


class Status(str, Enum):
    """What a reader is shown of one estimate."""

    ESTIMATED = "estimated"          #: shown
    CAUTION = "caution"              #: shown, marked as unstable (few events per model parameter)
    NOT_ESTIMABLE = "not_estimable"  #: there is no estimate (no data, no events, a model that failed)
    HIDDEN = "hidden"                #: there is an estimate, and the disclosure rule does not let it be shown


class Reason(str, Enum):
    """Why an estimate has the status it has (``None`` for a plain estimate)."""

    NO_DATA = "no_data"                          #: nothing to estimate from
    FEW_EPISODES = "few_episodes"                #: rests on fewer than the rule's minimum of episodes
    FEW_EVENTS = "few_events"                    #: public rule: rests on 1-7 events (recoveries, surgeries)
    FEW_EVENTS_PER_PARAMETER = "few_events_per_parameter"  #: a caution: fewer than 10 events per parameter
    MODEL = "model"                              #: the model could not estimate it (see the note)
    ONE_CLUSTER = "one_cluster"                  #: given by one therapist (or clinic): not separable from it
    FEW_CLUSTERS = "few_clusters"                #: a caution: given by 2-4 therapists (or clinics)
    POOR_OVERLAP = "poor_overlap"                #: a caution: weighting leaves under half the episodes' worth
    MODEL_ASSUMPTIONS = "model_assumptions"      #: a caution: doubly robust and regression disagree, or poor overlap
    BEYOND_DATA = "beyond_data"                  #: too few visits near the day asked about: not extrapolated
