"""The MLflow model registry: the job's champion registered as a new version, aliased `champion` when it
beats the current champion on the pipeline's objective, else `challenger`; undone when the job fails."""

from __future__ import annotations

import dataclasses
from typing import Any

from forecast import interrupts, tracking_store
from forecast.backtest import MAXIMISE
from forecast.tracking_store import retry_locked, store_lock

__all__ = [
    "Registration",
    "beats",
    "champion_value",
    "mlflow_registry_uri",
    "register_champion",
    "unregister",
]


@dataclasses.dataclass(frozen=True)
class Registration:
    """Where the champion landed in the registry and which alias it got."""

    name: str
    version: str
    alias: str  # "champion" or "challenger"
    model_uri: str  # models:/<name>/<version>
    objective: str
    value: float
    previous_value: float | None  # the objective of the champion it was compared with
    replaced: str | None = None  # the version that held `alias` before, put back by `unregister`
    created_model: bool = False  # this registration created the registered model itself


def beats(new: float, old: float | None, objective: str) -> bool:
    """True when `new` is strictly better than `old` on `objective` (no old value: always).

    Examples
    --------
    >>> beats(10.0, 9.0, "profit"), beats(0.3, 0.2, "wape"), beats(1.0, None, "profit")
    (True, False, True)
    """
    if old is None:
        return True
    return new > old if objective in MAXIMISE else new < old


def champion_value(name: str, objective: str) -> float | None:
    """The objective of the version holding alias `champion`: its version tag, else the metric
    ``champion_<objective>`` on the run that logged it; None when there is no champion yet."""
    from mlflow import MlflowClient

    client = MlflowClient()
    version = _alias_holder(client, name, "champion")
    if version is None:
        return None
    tags = version.tags or {}
    if tags.get("objective") == objective and "objective_value" in tags:
        return float(tags["objective_value"])
    if version.run_id:
        metric = retry_locked(client.get_run, version.run_id).data.metrics.get(f"champion_{objective}")
        if metric is not None:
            return float(metric)
    return None


def _alias_holder(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return retry_locked(client.get_model_version_by_alias, name, alias)
    except MlflowException:
        return None


def _model_exists(client: Any, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        retry_locked(client.get_registered_model, name)
    except MlflowException:
        return False
    return True


def register_champion(model_uri: str, name: str, objective: str, value: float) -> Registration:
    """Register the logged model as a new version of `name`; alias it `champion` only when it beats the
    current champion on `objective`, else `challenger`.

    The comparison and the alias move happen under the store's lock (two jobs cannot both become champion
    against the same predecessor). A failure or an interrupt part-way takes the version back out and puts
    back the alias's previous holder, so the registry is as it was.
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    with store_lock(mlflow_registry_uri()), interrupts.held():
        created = not _model_exists(client, name)
        previous = champion_value(name, objective)
        alias = "champion" if beats(value, previous, objective) else "challenger"
        holder = _alias_holder(client, name, alias)
        replaced = str(holder.version) if holder is not None else None
        tags = {
            "objective": objective,
            "objective_value": repr(float(value)),
            tracking_store.TAG_PREVIOUS: replaced or "",
        }
        version = retry_locked(mlflow.register_model, model_uri, name, tags=tags)
        registration = Registration(
            name=name,
            version=str(version.version),
            alias=alias,
            model_uri=f"models:/{name}/{version.version}",
            objective=objective,
            value=float(value),
            previous_value=previous,
            replaced=replaced,
            created_model=created,
        )
        try:
            retry_locked(client.set_registered_model_alias, name, alias, version.version)
            interrupts.check()
        except BaseException:
            unregister(registration)
            raise
    return registration


def unregister(registration: Registration) -> None:
    """Undo `register_champion`: delete the version, put back the alias's previous holder, and delete the
    registered model when the registration had created it."""
    from mlflow import MlflowClient

    client = MlflowClient()
    name = registration.name
    with store_lock(mlflow_registry_uri()), interrupts.held():
        retry_locked(client.delete_model_version, name, registration.version)
        if registration.created_model:
            retry_locked(client.delete_registered_model, name)
        elif registration.replaced is not None:
            retry_locked(client.set_registered_model_alias, name, registration.alias, registration.replaced)


def mlflow_registry_uri() -> str:
    import mlflow

    return str(mlflow.get_registry_uri())
