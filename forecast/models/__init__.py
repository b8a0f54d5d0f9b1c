"""Demand models and their registry: the one place models are listed.

A model is one class whose constructor parameters are its settings, registered under a name by one line
(`register`, with the class or its ``"module:Class"`` path so that a pipeline without it never imports it).
A pipeline lists the models it backtests as tables: ``[models.ALIAS]`` builds the model registered as
``ALIAS``, or as ``model = "NAME"`` when the table says so, with the table's other keys as constructor
parameters and ``ALIAS`` as its ``alias`` (the ``model`` column of its forecasts). Keys are checked against
the constructor's signature (`check_models`). What the pipeline sets once for every model (`PIPELINE_VALUES`:
quantiles, seed, features, the horizon to learn, the active weeks) is passed by the registry to each
constructor that takes it, and is never written in a table. A parameter that is itself a model (the class's
`submodels`, e.g. the blend's ``global_model``) is written as an inline table of that model's parameters.

>>> from forecast.models import register, registered, unregister
>>> from forecast.models.baselines import StatsForecastModel
>>> register("naive_copy", StatsForecastModel, method="naive")
>>> "naive_copy" in registered()
True
>>> unregister("naive_copy")

The cold-start model is configured the same way by the ``[models.cold_start]`` table (``cold_start = false``
turns it off).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from forecast.errors import ConfigError
from forecast.models.base import FORECAST_COLUMNS, Estimator, Forecaster, LaunchForecaster, quantile_column
from forecast.models.baselines import METHODS as STATSFORECAST_METHODS

if TYPE_CHECKING:
    from forecast.config import PipelineConfig

COLD_START = "cold_start"
_REGISTRY: dict[str, tuple[type[Estimator] | str, dict[str, Any]]] = {}

PIPELINE_VALUES: dict[str, Callable[[PipelineConfig], Any]] = {
    "quantiles": lambda config: config.forecast.quantiles,
    "seed": lambda config: config.forecast.seed,
    "features": lambda config: config.features,
    "max_horizon": lambda config: config.model_horizon,
    "active_weeks": lambda config: config.forecast.active_weeks,
}


def register(name: str, model: type[Estimator] | str, *, replace: bool = False, **fixed: Any) -> None:
    """Register the model class `model` (or its ``"module:Class"`` path) under `name`; `fixed` are
    constructor parameters this name always sets (e.g. a statsforecast ``method``)."""
    if name in _REGISTRY and not replace:
        msg = f"model {name!r} is already registered; pass replace=True to replace it"
        raise ConfigError(msg)
    _REGISTRY[name] = (model, fixed)


def unregister(name: str) -> None:
    """Remove `name` from the registry (tests that register a model take it back out)."""
    _REGISTRY.pop(name, None)


def registered() -> list[str]:
    """Registered model names, in registration order."""
    return list(_REGISTRY)


def model_class(name: str) -> type[Estimator]:
    """The class registered as `name` (imported on first use)."""
    if name not in _REGISTRY:
        msg = f"unknown model {name!r}; choose one of {registered()}"
        raise ConfigError(msg)
    model, _ = _REGISTRY[name]
    if isinstance(model, str):
        module, _, attribute = model.partition(":")
        model = getattr(importlib.import_module(module), attribute)
        assert isinstance(model, type)
    return model


def table_keys(name: str) -> list[str]:
    """The keys a ``[models.*]`` table of the model registered as `name` may set."""
    fixed = _REGISTRY[name][1] if name in _REGISTRY else {}
    cls = model_class(name)
    # the cold-start model's article attributes come from the dataset
    supplied = {"attributes"} if issubclass(cls, LaunchForecaster) else set()
    taken = {*PIPELINE_VALUES, *fixed, *supplied, "alias"}
    return ["model", *[p for p in cls._param_names() if p not in taken]]


def build(
    alias: str | None,
    table: dict[str, Any],
    config: PipelineConfig,
    *,
    default: str | None = None,
    where: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Estimator:
    """The unfitted model a ``[models.ALIAS]`` `table` describes (see the module docstring).

    `default` is the registered name when the table has no ``model`` key (default: `alias`); `extra` are
    values the caller supplies (the cold start's catalogue attributes).
    """
    where = where or f"{config.source or 'pipeline'} [models.{alias}]"
    name = table.get("model", default or alias)
    if not isinstance(name, str) or name not in _REGISTRY:
        msg = f"{where}: unknown model {name!r}; fix: set model = one of {registered()}"
        raise ConfigError(msg)
    allowed = table_keys(name)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        msg = f"{where}: unknown key(s) {unknown} for model {name!r}; allowed: {allowed}"
        raise ConfigError(msg)
    cls = model_class(name)
    params = set(cls._param_names())
    kwargs = {k: v for k, v in table.items() if k != "model"}
    for key, sub in cls.submodels.items():
        value = kwargs.get(key)
        if value is None and _has_default(cls, key):
            continue
        if not isinstance(value, dict | None):
            msg = f"{where}: `{key}` must be a table of the {sub!r} model's parameters, got {value!r}"
            raise ConfigError(msg)
        kwargs[key] = build(None, value or {}, config, default=sub, where=f"{where} {key}")
    values = {key: get(config) for key, get in PIPELINE_VALUES.items() if key in params}
    values.update({k: v for k, v in (extra or {}).items() if k in params})
    if alias is not None and "alias" in params:
        values["alias"] = alias
    try:
        cls.check_params(kwargs)
        model = cls(**kwargs, **values, **_REGISTRY[name][1])
    except (ConfigError, TypeError, ValueError) as exc:
        fix = "" if "fix:" in str(exc) else "; fix: correct the value in the pipeline file"
        msg = f"{where}: {exc}{fix}"
        raise ConfigError(msg) from exc
    if alias is not None and model.name != alias:
        msg = f"{where}: {cls.__name__} has no `alias` parameter, so its table must be named {model.name!r}"
        raise ConfigError(msg)
    return model


def _has_default(cls: type[Estimator], key: str) -> bool:
    return inspect.signature(cls.__init__).parameters[key].default is not inspect.Parameter.empty


def create(name: str, config: PipelineConfig) -> Forecaster:
    """The unfitted model the pipeline lists as `name` (its ``[models.NAME]`` table), or the model
    registered as `name` with its default parameters when the pipeline does not list it."""
    table = config.models.tables.get(name)
    if table is None and name not in _REGISTRY:
        msg = f"unknown model {name!r}; choose one of {sorted({*config.models.tables, *registered()})}"
        raise ConfigError(msg)
    model = build(name, table or {}, config)
    if not isinstance(model, Forecaster):
        msg = f"{config.source or 'pipeline'} [models.{name}]: {name!r} is not a model of active series"
        raise ConfigError(msg)
    return model


def build_models(config: PipelineConfig) -> list[Forecaster]:
    """The backtested models the pipeline lists, in its order, built from the registry."""
    return [create(name, config) for name in config.models.names()]


def build_cold_start(config: PipelineConfig, attributes: list[str] | None = None) -> LaunchForecaster | None:
    """The cold-start model of the ``[models.cold_start]`` table (None when ``cold_start = false``).

    `attributes` are the catalogue columns the dataset names as article attributes (default: every text
    column of the catalogue).
    """
    table = config.models.cold_start
    if table is None:
        return None
    model = build(COLD_START, table, config, extra={"attributes": attributes or None})
    if not isinstance(model, LaunchForecaster):
        msg = f"{config.source or 'pipeline'} [models.cold_start]: {model.name!r} is not a cold-start model"
        raise ConfigError(msg)
    return model


def check_models(config: PipelineConfig) -> None:
    """Build every model the pipeline lists (constructors only store parameters), so that a bad table is
    reported with its file, table and key before any data is read."""
    build_models(config)
    build_cold_start(config)


def select(config: PipelineConfig, names: list[str]) -> PipelineConfig:
    """The pipeline backtesting only `names`: aliases of its ``[models.*]`` tables or registered models."""
    others = [n for n in registered() if n not in config.models.tables and n != COLD_START]
    known = [*config.models.tables, *others]
    unknown = [n for n in names if n not in known]
    if unknown:
        msg = f"--models: unknown model(s) {unknown}; choose from {known}"
        raise ConfigError(msg)
    tables = {n: config.models.tables.get(n, {}) for n in names}
    return dataclasses.replace(config, models=dataclasses.replace(config.models, tables=tables))


def default_model(config: PipelineConfig) -> str:
    """The model `forecast predict` uses by default: the last listed that learns across series, else the
    first listed."""
    models = build_models(config)
    across = [m.name for m in models if m.learns_across_series]
    return across[-1] if across else models[0].name


for _method in STATSFORECAST_METHODS:
    register(_method, "forecast.models.baselines:StatsForecastModel", method=_method)
register("lightgbm", "forecast.models.lgbm:LightGBMForecaster")
register("lightgbm_svd", "forecast.models.blend:BlendForecaster")
register("stlf_svd", "forecast.models.svd_stl:SVDSTLForecaster")
register(COLD_START, "forecast.models.coldstart:ColdStartForecaster")

__all__ = [
    "FORECAST_COLUMNS",
    "PIPELINE_VALUES",
    "Forecaster",
    "LaunchForecaster",
    "build",
    "build_cold_start",
    "build_models",
    "check_models",
    "create",
    "default_model",
    "model_class",
    "quantile_column",
    "register",
    "registered",
    "select",
    "table_keys",
    "unregister",
]
