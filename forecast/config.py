"""Pipeline files: one TOML per job, parsed into checked dataclasses.

A pipeline names its data, adapter, horizon, features, models, backtest, business costs, allocation
constraints and tracking; its sections are the dataclasses of `forecast.config_sections`. Relative data
paths are resolved against the pipeline file's folder. Unknown keys are an error (a typo must not silently
fall back to a default).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from forecast.buy.config import BuyConfig
from forecast.config_checks import check_value, read_pipeline_file
from forecast.config_sections import (
    ADAPTERS,
    CENSORING_METHODS,
    CLUSTER,
    DEFAULT_MODELS,
    MAX_WEEKS,
    NAME,
    SIMULATE_MAX_ROWS,
    AllocationConfig,
    BacktestConfig,
    BusinessConfig,
    DataConfig,
    DemandConfig,
    EngineConfig,
    FeaturesConfig,
    ForecastConfig,
    ModelsConfig,
    ReplenishmentConfig,
    SimulateConfig,
    TrackingConfig,
    models_section,
)
from forecast.errors import ConfigError
from forecast.markdown.config import MarkdownConfig

__all__ = [
    "ADAPTERS",
    "CENSORING_METHODS",
    "CLUSTER",
    "DEFAULT_MODELS",
    "MAX_WEEKS",
    "SECTIONS",
    "SIMULATE_MAX_ROWS",
    "AllocationConfig",
    "BacktestConfig",
    "BusinessConfig",
    "BuyConfig",
    "DataConfig",
    "DemandConfig",
    "EngineConfig",
    "FeaturesConfig",
    "ForecastConfig",
    "MarkdownConfig",
    "ModelsConfig",
    "PipelineConfig",
    "ReplenishmentConfig",
    "SimulateConfig",
    "TrackingConfig",
    "load_pipeline",
    "parse_pipeline",
]


@dataclass
class PipelineConfig:
    name: str
    source: Path | None = None  # the pipeline file
    data: DataConfig = field(default_factory=DataConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    business: BusinessConfig = field(default_factory=BusinessConfig)
    allocation: AllocationConfig = field(default_factory=AllocationConfig)
    replenishment: ReplenishmentConfig = field(default_factory=ReplenishmentConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    markdown: MarkdownConfig | None = None  # the markdown step of `forecast run` runs only with the section
    buy: BuyConfig | None = None  # the pre-season buy step, when the pipeline has [buy]
    demand: DemandConfig = field(default_factory=DemandConfig)

    @property
    def backtest_horizon(self) -> int:
        return self.backtest.horizon or self.forecast.horizon

    @property
    def model_horizon(self) -> int:
        """The horizons a model must forecast: the forecast's and the backtest's, whichever is longer."""
        return max(self.forecast.horizon, self.backtest_horizon)


T = TypeVar("T")


def _section(cls: type[T], raw: Any, where: str) -> T:
    if not isinstance(raw, dict):
        msg = f"{where} must be a table of settings, got {raw!r}; fix: write [section] and key = value lines"
        raise ConfigError(msg)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - names)
    if unknown:
        msg = f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}"
        raise ConfigError(msg)
    hints = typing.get_type_hints(cls)
    for key, value in raw.items():
        check_value(value, hints[key], f"{where} {key}")
    try:
        return cls(**raw)
    except ConfigError as exc:
        text = str(exc)
        fix = "" if "fix:" in text else "; fix: correct the value in the pipeline file"
        msg = f"{where}: {text}{fix}"
        raise ConfigError(msg) from exc
    except (TypeError, ValueError, OverflowError) as exc:
        msg = f"{where}: {exc}; fix: correct the value in the pipeline file"
        raise ConfigError(msg) from exc


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "simulate": SimulateConfig,
    "forecast": ForecastConfig,
    "features": FeaturesConfig,
    "models": ModelsConfig,
    "backtest": BacktestConfig,
    "business": BusinessConfig,
    "allocation": AllocationConfig,
    "replenishment": ReplenishmentConfig,
    "tracking": TrackingConfig,
    "engine": EngineConfig,
    "buy": BuyConfig,
    "demand": DemandConfig,
}


def parse_pipeline(raw: dict[str, Any], source: Path | None = None) -> PipelineConfig:
    """Build a checked `PipelineConfig` from a parsed TOML mapping."""
    where = str(source) if source else "pipeline"
    unknown = sorted(set(raw) - set(SECTIONS) - {"name", "markdown"})
    if unknown:
        msg = f"{where}: unknown section(s) {unknown}; allowed: {sorted([*SECTIONS, 'markdown'])}"
        raise ConfigError(msg)
    name = raw.get("name") or (source.stem if source else None)
    if not name:
        msg = f"{where}: the pipeline needs a `name`"
        raise ConfigError(msg)
    if not isinstance(name, str) or not NAME.match(name):
        msg = (
            f"{where}: `name` must be 1-100 letters, digits, '_', '.' or '-' (it names the MLflow "
            f"experiment and model), got {name!r}; fix: rename the pipeline"
        )
        raise ConfigError(msg)
    section = raw.get("data", {})
    data_raw = dict(section) if isinstance(section, dict) else section
    if isinstance(data_raw, dict) and data_raw.get("path") is not None:
        check_value(data_raw["path"], Path, f"{where} [data] path")
        path = Path(data_raw["path"]).expanduser()
        if not path.is_absolute() and source is not None:
            path = (source.parent / path).resolve()
        data_raw["path"] = path
    if isinstance(data_raw, dict) and data_raw.get("cache_dir") is not None:
        check_value(data_raw["cache_dir"], Path, f"{where} [data] cache_dir")
        folder = Path(data_raw["cache_dir"]).expanduser()
        data_raw["cache_dir"] = (
            (source.parent / folder).resolve() if source and not folder.is_absolute() else folder
        )
    engine_raw = raw.get("engine")
    if isinstance(engine_raw, dict) and engine_raw.get("work_dir") is not None:
        check_value(engine_raw["work_dir"], Path, f"{where} [engine] work_dir")
        folder = Path(engine_raw["work_dir"]).expanduser()
        if source is not None and not folder.is_absolute():
            raw = {**raw, "engine": {**engine_raw, "work_dir": (source.parent / folder).resolve()}}
    kwargs: dict[str, Any] = {"name": name, "source": source}
    for key, cls in SECTIONS.items():
        section = data_raw if key == "data" else raw.get(key, {})
        if key == "models":
            kwargs[key] = models_section(section, f"{where} [models]")
        else:
            kwargs[key] = _section(cls, section, f"{where} [{key}]")
    if "markdown" in raw:
        kwargs["markdown"] = _section(MarkdownConfig, raw["markdown"], f"{where} [markdown]")
    if "buy" not in raw:
        kwargs["buy"] = None
    return PipelineConfig(**kwargs)


def load_pipeline(
    path: str | Path,
    *,
    data: str | Path | None = None,
    horizon: int | None = None,
    seed: int | None = None,
    data_seed: int | None = None,
    cluster: str | None = None,
    require_data: bool = True,
) -> PipelineConfig:
    """Read a pipeline TOML file with command-line overrides, checked as the file's values are.

    `data` (``--data``) sets ``[data] path`` (simulated data then reads the canonical files there),
    `horizon` ``[forecast] horizon``, `seed` the model seed ``[forecast] seed``, `data_seed` the
    simulator's ``[simulate] seed`` and `cluster` (``--cluster``) ``[engine] cluster``: the overrides are
    written into the parsed file, which is then checked once, so a bad value on the command line gets the
    same one-line error as in the file.

    A command that reads data (`require_data`) needs the file to name its ``[data] adapter`` (or `data`, or
    a ``[simulate]`` section): silently falling back to synthetic data would make a plan from the wrong data.
    """
    source = Path(path)
    raw = read_pipeline_file(source)
    data_section = raw.get("data")
    # a [simulate] section says the data is simulated; otherwise the file must say where its data is
    named = (isinstance(data_section, dict) and "adapter" in data_section) or (
        data_section is None and "simulate" in raw
    )
    if require_data and data is None and not named:
        msg = (
            f"{source}: no [data] adapter: the pipeline does not say which data to read; fix: add "
            '[data] with adapter = "canonical" (and path), "walmart", "visuelle", "hm" or "simulate", '
            "or pass --data"
        )
        raise ConfigError(msg)
    overrides: dict[str, int | str | None] = {"--horizon": horizon, "--seed": seed, "--data-seed": data_seed}
    for option, value in overrides.items():
        if value is not None:
            check_value(value, int, option)
    overrides["--cluster"] = cluster
    raw = _with_overrides(raw, data, horizon, seed, data_seed)
    if cluster is not None and isinstance(raw.get("engine", {}), dict):
        raw["engine"] = {**raw.get("engine", {}), "cluster": cluster}
    try:
        return parse_pipeline(raw, source.resolve())
    except ConfigError as exc:
        for option, value in overrides.items():
            if value is not None and f"`{OVERRIDDEN[option]}`" in str(exc):
                # the command line's value is the bad one: say so, not "correct the pipeline file"
                text = str(exc).split("]: ", 1)[-1].split("; fix:")[0]
                msg = f"{option} {value}: {text}; fix: pass another value"
                raise ConfigError(msg) from exc
        raise


OVERRIDDEN = {
    "--horizon": "forecast.horizon",
    "--seed": "forecast.seed",
    "--data-seed": "simulate.seed",
    "--cluster": "engine.cluster",
}


def _with_overrides(
    raw: dict[str, Any],
    data: str | Path | None,
    horizon: int | None,
    seed: int | None,
    data_seed: int | None,
) -> dict[str, Any]:
    """`raw` with the command-line values written into their sections (sections that are not tables are
    left for `parse_pipeline` to refuse)."""
    out = dict(raw)

    def section(name: str) -> dict[str, Any] | None:
        value = out.get(name, {})
        if not isinstance(value, dict):
            return None
        out[name] = dict(value)
        return out[name]

    if data is not None and (table := section("data")) is not None:
        table["path"] = str(Path(data).expanduser().resolve())
        if table.get("adapter", "simulate") == "simulate":
            table["adapter"] = "canonical"
    for name, key, value in (("forecast", "horizon", horizon), ("forecast", "seed", seed)):
        if value is not None and (table := section(name)) is not None:
            table[key] = value
    if data_seed is not None and (table := section("simulate")) is not None:
        table["seed"] = data_seed
    return out
