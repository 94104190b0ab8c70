"""What a clinic may send to its network: the node's minimums, checked at the clinic before anything leaves.

A clinic's aggregates (:func:`analysis.methods.clinic_aggregates`) pass through
:func:`protect_release`:

- fewer than ``min_episodes`` episodes: nothing is released (refused);
- every released count (episodes, outcome counts, events and non-events,
  surgeries and censorings per interval, those still followed at the horizon)
  is 0 or at least ``min_cell``: a modality's block with a smaller count is
  withheld, and further blocks are withheld until the withheld ones together
  are not small either (else the clinic's total minus the shown blocks would
  give them away);
- the survival grid's intervals are merged until every cell, including the
  withheld modalities' sum, is 0 or at least ``min_cell``;
- design column counts below ``min_cell`` (or within ``min_cell`` of the
  model's total) are withheld; the centre then merges those case-mix levels
  into their reference level and the clinic leaves such modalities out of its
  model pieces.

Model pieces (:func:`analysis.methods.model_parts`) pass through
:func:`check_model_parts`: at most ``max_rounds`` rounds per model, at least
``min_episodes`` episodes, no indicator column with a small count, and no more
parameters than a third of the episodes (DataSHIELD's glm filter).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np

from ..stats import merge_intervals

__all__ = ["NodeSettings", "ReleaseRefused", "check_model_parts", "protect_release"]

_BLOCKS = ("leg_pain_change", "responder", "recovered", "surgery_free")


class ReleaseRefused(ValueError):
    """A clinic's node refuses a release: the message says which minimum it falls below."""


@dataclass(frozen=True)
class NodeSettings:
    """The minimums a clinic's data steward sets for everything the node releases.

    Attributes
    ----------
    min_episodes : int
        Fewest episodes a release (or one model's pieces) may rest on.
    min_cell : int
        Smallest non-zero count that may leave the clinic (8, as the report's rule).
    min_clinics : int
        Fewest clinics a network analysis may combine.
    max_rounds : int
        Most rounds of one iterative model the node answers.
    """

    min_episodes: int = 50
    min_cell: int = 8
    min_clinics: int = 3
    max_rounds: int = 30

    def __post_init__(self):
        for name, v in asdict(self).items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"node setting {name} must be a whole number of at least 1, not {v!r}")
        if self.min_clinics < 3:
            raise ValueError("node setting min_clinics must be at least 3: with two clinics each could read the "
                             "other's figures off the total")

    def small(self, n) -> bool:
        return n is not None and 0 < int(n) < self.min_cell


def _counts(key: str, cell: dict) -> list[int]:
    c = cell[key]
    if key == "leg_pain_change":
        return [c["n"]]
    out = [c["n"], c["events"], c["n"] - c["events"]]
    if key == "surgery_free":
        out.append(sum(c["grid_censored"]))  # censored before the horizon (the one-interval grid's cell)
        out.append(c["n"] - c["events"] - sum(c["grid_censored"]))  # still followed at the horizon
    return out


def protect_release(aggregates: dict, *, node: NodeSettings | None = None) -> dict:
    """The release a clinic may send: its aggregates with small cells withheld and the grid merged.

    Parameters
    ----------
    aggregates : dict
        :func:`analysis.methods.clinic_aggregates` of one clinic.
    node : NodeSettings, optional, keyword-only

    Returns
    -------
    dict
        The same keys; withheld blocks are ``None`` and listed in ``withheld``
        (group, outcome, reason); ``node`` records the minimums applied.

    Raises
    ------
    ReleaseRefused
        If the clinic has fewer than ``min_episodes`` episodes.

    Examples
    --------
    >>> from analysis import load_records, derive_outcomes
    >>> from analysis.methods import clinic_aggregates
    >>> from analysis.disclosure import protect_release
    >>> o = derive_outcomes(load_records("data/sample"))
    >>> rel = protect_release(clinic_aggregates(o[o["clinic"] == "STH"]))
    >>> rel["groups"]["Overall"]["recovered"]["n"] >= 8
    True
    """
    node = node or NodeSettings()
    if aggregates["data"]["episodes"] < node.min_episodes:
        raise ReleaseRefused(f"clinic {aggregates['clinic']} has {aggregates['data']['episodes']} episodes in "
                             f"this selection; the node releases nothing below {node.min_episodes}")
    if aggregates.get("min_cell", 0) < node.min_cell:
        raise ReleaseRefused(f"these aggregates left out modalities below {aggregates.get('min_cell')} episodes; "
                             f"the node's minimum is {node.min_cell} (compute them with min_cell={node.min_cell})")
    rel = copy.deepcopy(aggregates)
    groups = rel["groups"]
    mods = [m for m in rel["modalities"] if m in groups]
    withheld = []
    # a modality given to 1-7 episodes here: nothing of it is released
    small_mods = [m for m in mods if node.small(groups[m]["episodes"])]
    for m in small_mods:
        groups[m] = {"episodes": None, **{k: None for k in _BLOCKS}}
        withheld.append({"group": m, "outcome": "all", "reason": f"1-{node.min_cell - 1} episodes at this clinic"})
    if small_mods:
        total = sum(aggregates["groups"][m]["episodes"] for m in small_mods)
        rest = sorted((m for m in mods if m not in small_mods), key=lambda m: groups[m]["episodes"])
        while node.small(total) and rest:  # the withheld ones' total would be small: withhold one more
            m = rest.pop(0)
            total += groups[m]["episodes"]
            groups[m] = {"episodes": None, **{k: None for k in _BLOCKS}}
            withheld.append({"group": m, "outcome": "all", "reason": "withheld so that a smaller one cannot be "
                                                                     "worked out from the total"})
    for key in _BLOCKS:
        live = [m for m in mods if groups[m][key] is not None]
        before = [m for m in mods if groups[m][key] is None]  # withheld whole above
        hidden = [m for m in live if any(node.small(v) for v in _counts(key, groups[m]))]
        if not hidden and not before:
            continue
        rest = sorted((m for m in live if m not in hidden), key=lambda m: groups[m][key]["n"])
        while rest and any(node.small(v) for v in np.sum([_counts(key, aggregates["groups"][m])
                                                          for m in hidden + before], axis=0)):
            hidden.append(rest.pop(0))
        for m in hidden:
            groups[m][key] = None
            withheld.append({"group": m, "outcome": key,
                             "reason": f"a count of 1-{node.min_cell - 1}, or needed to protect one"})
        if any(node.small(v) for v in _counts(key, groups["Overall"])):
            groups["Overall"][key] = None
            withheld.append({"group": "Overall", "outcome": key, "reason": f"a count of 1-{node.min_cell - 1}"})
    # the survival grids: merge intervals until every released cell is 0 or >= min_cell. The modalities share
    # one grid, merged with the withheld modalities' sum as a row too (the clinic's total minus the shown ones
    # would give it); the clinic's total has its own grid (any interval that both grids delimit is a union of
    # the modalities' intervals, where the withheld sum is safe).
    src = aggregates["groups"]
    shown = [m for m in mods if groups[m]["surgery_free"] is not None]
    gone = [m for m in mods if groups[m]["surgery_free"] is None]

    def merged(names, extra_ev=None, extra_ce=None):
        ev = [src[m]["surgery_free"]["grid_events"] for m in names]
        ce = [src[m]["surgery_free"]["grid_censored"] for m in names]
        if extra_ev is not None:
            ev.append(extra_ev)
            ce.append(extra_ce)
        ends_idx = merge_intervals(ev, ce, min_cell=node.min_cell)
        bounds = np.r_[0, np.asarray(ends_idx) + 1]
        for g in names:
            sf, full = groups[g]["surgery_free"], src[g]["surgery_free"]
            sf["grid_events"] = [int(sum(full["grid_events"][a:b])) for a, b in zip(bounds[:-1], bounds[1:])]
            sf["grid_censored"] = [int(sum(full["grid_censored"][a:b])) for a, b in zip(bounds[:-1], bounds[1:])]
        return [aggregates["grid"][i] for i in ends_idx]

    if shown:
        rel["grid"] = merged(shown, *((np.sum([src[m]["surgery_free"]["grid_events"] for m in gone], axis=0),
                                       np.sum([src[m]["surgery_free"]["grid_censored"] for m in gone], axis=0))
                                      if gone else (None, None)))
    else:
        rel["grid"] = [aggregates["grid"][-1]]
    rel["overall_grid"] = merged(["Overall"]) if groups["Overall"]["surgery_free"] is not None else \
        [aggregates["grid"][-1]]
    # the log-rank pieces are sums over every event time of the clinic: released with its surgery-free total
    if groups["Overall"]["surgery_free"] is None:
        rel["logrank"] = None
        withheld.append({"group": "Overall", "outcome": "logrank", "reason": "too few surgeries at this clinic"})
    # design counts: small ones (or ones within min_cell of the model's total) withheld
    for des in rel["design"].values():
        total = des["n"]
        for c in des["columns"].values():
            if node.small(c["n"]) or node.small(total - c["n"]):
                c["n"] = None
                if "events" in c:
                    c["events"] = None
            elif "events" in c and (node.small(c["events"]) or node.small(c["n"] - c["events"])):
                c["events"] = None
    if node.small(rel["missing_covariates"]):
        rel["missing_covariates"] = None
    rel["withheld"] = withheld
    rel["node"] = asdict(node)
    return rel


def check_model_parts(parts: dict, *, design: dict, node: NodeSettings | None = None, round_no: int = 1) -> dict:
    """Refuse model pieces the node's minimums do not allow; return them unchanged otherwise.

    Raises
    ------
    ReleaseRefused
        Too many rounds, too few episodes, a design column with a small count
        here, or more parameters than a third of the episodes.

    Examples
    --------
    >>> from analysis.disclosure import check_model_parts, NodeSettings
    >>> check_model_parts({"n": 10, "column_counts": {}}, design={"columns": ["const"]}, round_no=31)
    Traceback (most recent call last):
    ...
    analysis.disclosure._network.ReleaseRefused: round 31 of this model: the node answers at most 30 rounds
    """
    node = node or NodeSettings()
    if round_no > node.max_rounds:
        raise ReleaseRefused(f"round {round_no} of this model: the node answers at most {node.max_rounds} rounds")
    n = int(parts["n"])
    if n < node.min_episodes:
        raise ReleaseRefused(f"this model would rest on {n} episodes here; the node releases nothing below "
                             f"{node.min_episodes}")
    bad = [c for c, k in parts["column_counts"].items() if node.small(k) or node.small(n - k)]
    if bad:
        raise ReleaseRefused(f"{len(bad)} design column(s) ({bad}) with 1-{node.min_cell - 1} episodes here (or all but "
                             f"1-{node.min_cell - 1}): the design must merge them first")
    if len(design["columns"]) > n / 3:
        raise ReleaseRefused(f"{len(design['columns'])} parameters on {n} episodes here: the node allows at most "
                             "one parameter per three episodes")
    return parts
