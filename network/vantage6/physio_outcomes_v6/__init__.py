"""physio-outcomes on vantage6 5: the clinic network's summary without pooling records (spec section 14).

Steps, as vantage6 runs them:

1. ``extract`` (data extraction, at each clinic's node): reads the clinic's
   records folder (the node's database URI), validates it as every command
   does, derives the outcomes, and keeps no identifier (episode, patient and
   therapist codes are dropped before the session's dataframe is written).
2. ``partial_release`` (federated): the clinic's release, checked at the node
   against the data steward's minimums (:func:`analysis.disclosure.protect_release`).
3. ``partial_model`` (federated): one round of an adjusted model, checked
   likewise (:func:`analysis.app.clinic_answer`).
4. ``network_analysis`` (central): asks every clinic for its release, combines
   them, fits the adjusted models round by round, and returns the network's
   summary document and its result (for ``physio-outcomes`` to write the report).

The node's minimums come from its environment (set by the data steward in the
node configuration), never from the task: ``PHYSIO_MIN_EPISODES`` (50),
``PHYSIO_MIN_CELL`` (8), ``PHYSIO_MIN_CLINICS`` (3), ``PHYSIO_MAX_ROUNDS`` (30).
Results travel as JSON (plain numbers only).
"""

from __future__ import annotations

import os

import pandas as pd
from vantage6.algorithm.decorator import algorithm_client, central, data_extraction, dataframe, federated

from analysis import app, disclosure, methods, records

__all__ = ["extract", "network_analysis", "node_settings", "partial_model", "partial_release"]

#: Columns that never leave the data extraction step (identifiers of episodes, patients and therapists).
IDENTIFIERS = ("episode_id", "patient_id", "therapist")


def node_settings() -> disclosure.NodeSettings:
    """The data steward's minimums, from the node's environment."""
    env = os.environ
    return disclosure.NodeSettings(min_episodes=int(env.get("PHYSIO_MIN_EPISODES", 50)),
                                   min_cell=int(env.get("PHYSIO_MIN_CELL", 8)),
                                   min_clinics=int(env.get("PHYSIO_MIN_CLINICS", 3)),
                                   max_rounds=int(env.get("PHYSIO_MAX_ROUNDS", 30)))


def _settings(horizon_days: int, population: str) -> methods.OutcomeSettings:
    return methods.OutcomeSettings(horizon_days=int(horizon_days), population=population)


@data_extraction
def extract(connection_details: dict, horizon_days: int = 365, population: str = "candidates") -> pd.DataFrame:
    """The clinic's derived outcomes, without identifiers (the node's database is its records folder)."""
    rec = records.load_records(connection_details["uri"])
    out = methods.derive_outcomes(rec, settings=_settings(horizon_days, population))
    out = out.drop(columns=[c for c in IDENTIFIERS if c in out.columns])
    labels = rec.labels
    out["modality_label"] = out["modality"].map(lambda m: labels.get(m, m))
    out.attrs = {}
    return out


def _refusal(exc: Exception) -> dict:
    return {"refused": str(exc)}


@federated
@dataframe(1)
def partial_release(df: pd.DataFrame, horizon_days: int = 365, population: str = "candidates") -> dict:
    """This clinic's release, or ``{"refused": reason}`` below the node's minimums."""
    labels = dict(zip(df["modality"], df["modality_label"])) if "modality_label" in df else {}
    try:
        return app.release_from_outcomes(df, settings=_settings(horizon_days, population), node=node_settings(),
                                         labels=labels)
    except ValueError as exc:  # ReleaseRefused included
        return _refusal(exc)


@federated
@dataframe(1)
def partial_model(df: pd.DataFrame, request: dict, horizon_days: int = 365, population: str = "candidates") -> dict:
    """One round of an adjusted model at this clinic, or ``{"refused": reason}``."""
    try:
        return app.clinic_answer(df, request, settings=_settings(horizon_days, population), node=node_settings())
    except ValueError as exc:
        return _refusal(exc)


class NetworkRefused(RuntimeError):
    """A clinic refused a step: the message names the clinic's organisation and the reason."""


def _ask_all(client, orgs: list[int], method: str, arguments: dict) -> list[dict]:
    task = client.task.create(organizations=orgs, method=method, arguments=arguments,
                              name=f"physio-outcomes {method}", description="physio-outcomes network step")
    results = client.wait_for_results(task_id=task["id"])
    refused = [(org, r["refused"]) for org, r in zip(orgs, results) if isinstance(r, dict) and "refused" in r]
    if refused:
        org, why = refused[0]
        raise NetworkRefused(f"organisation {org} refused {method}: {why}")
    return results


@central
@algorithm_client
def network_analysis(client, horizon_days: int = 365, population: str = "candidates", models: bool = True,
                     organizations: list[int] | None = None) -> dict:
    """The network's summary document and result (JSON), from every clinic's release and model rounds.

    Returns
    -------
    dict
        ``summary`` (spec section 6, :meth:`analysis.app.NetworkResult.summary`)
        and ``result`` (:meth:`analysis.app.NetworkResult.to_json`, for
        ``physio-outcomes`` to write the network report); or ``refused`` with
        the first clinic's reason when a clinic would not take part.
    """
    orgs = organizations or [o["id"] for o in client.organization.list()]
    node = node_settings()
    kw = {"horizon_days": int(horizon_days), "population": population}
    try:
        if len(orgs) < node.min_clinics:
            raise NetworkRefused(f"{len(orgs)} organisation(s): a network analysis needs at least "
                                 f"{node.min_clinics} clinics")
        releases = _ask_all(client, orgs, "partial_release", kw)
        result = app.combine_network(releases, node=node)
        if models:
            result.adjusted = methods.fit_network_models(
                lambda request: _ask_all(client, orgs, "partial_model", {**kw, "request": request}), releases,
                settings=_settings(horizon_days, population), min_cell=node.min_cell, max_rounds=node.max_rounds)
    except (NetworkRefused, ValueError) as exc:
        return {"refused": str(exc)}
    return {"summary": result.summary(), "result": result.to_json()}
