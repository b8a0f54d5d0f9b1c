"""Pipeline files: one TOML per job, parsed into checked dataclasses.

A pipeline names its data, adapter, horizon, features, models, backtest, business costs, allocation
constraints
and tracking. Relative data paths are resolved against the pipeline file's folder. Unknown keys are an error
(a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from forecast.errors import ConfigError

ADAPTERS = ("canonical", "hm", "walmart", "visuelle", "simulate")


@dataclass
class DataConfig:
    adapter: str = "simulate"
    path: Path | None = None
    # canonical adapter: file names inside `path` (CSV or Parquet, by extension; missing optional files
    # = absent)
    sales: str = "sales.csv"
    articles: str = "articles.csv"
    stores: str = "stores.csv"
    stock: str = "stock.csv"
    exog: str = "exog.csv"
    dc_stock: str = "dc_stock.csv"
    # H&M: which transactions file (CSV or Parquet)
    transactions: str = "transactions_last_week.csv"

    def __post_init__(self) -> None:
        if self.adapter not in ADAPTERS:
            msg = f"`data.adapter` must be one of {ADAPTERS}, got {self.adapter!r}"
            raise ConfigError(msg)
        if self.adapter != "simulate" and self.path is None:
            msg = (
                f"`data.path` is required for adapter {self.adapter!r}; set it in the pipeline or pass --data"
            )
            raise ConfigError(msg)


@dataclass
class SimulateConfig:
    articles: int = 240
    stores: int = 12
    weeks: int = 104
    seed: int = 7
    start: date = date(2023, 1, 2)  # Monday of the first simulated week
    cold_start_share: float = 0.07  # share of articles launched after the last week (no sales yet)

    def __post_init__(self) -> None:
        for name in ("articles", "stores", "weeks"):
            if getattr(self, name) < 1:
                msg = f"`simulate.{name}` must be at least 1, got {getattr(self, name)!r}"
                raise ConfigError(msg)
        if isinstance(self.start, str):
            try:
                self.start = date.fromisoformat(self.start)
            except ValueError as exc:
                msg = f"`simulate.start` must be a date like 2023-01-02, got {self.start!r}"
                raise ConfigError(msg) from exc
        if isinstance(self.start, datetime):
            self.start = self.start.date()
        if not isinstance(self.start, date) or self.start.weekday() != 0:
            msg = f"`simulate.start` must be a Monday, got {self.start!r}"
            raise ConfigError(msg)
        if not 0 <= self.cold_start_share < 1:
            msg = f"`simulate.cold_start_share` must be in [0, 1), got {self.cold_start_share!r}"
            raise ConfigError(msg)


@dataclass
class ForecastConfig:
    horizon: int = 8
    quantiles: list[float] = field(default_factory=lambda: [0.1, 0.5, 0.9])
    seed: int = 42
    # an article × store is active when it sold within this many weeks before the origin
    active_weeks: int = 8

    def __post_init__(self) -> None:
        if self.horizon < 1:
            msg = f"`forecast.horizon` must be at least 1 week, got {self.horizon!r}"
            raise ConfigError(msg)
        if not all(0 < q < 1 for q in self.quantiles):
            msg = f"`forecast.quantiles` must lie strictly between 0 and 1, got {self.quantiles!r}"
            raise ConfigError(msg)
        self.quantiles = sorted(set(self.quantiles) | {0.1, 0.5, 0.9})


@dataclass
class FeaturesConfig:
    lags: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 8, 52])
    rolling_windows: list[int] = field(default_factory=lambda: [4, 8, 13, 26])
    hierarchy: bool = True
    exogenous: bool = True

    def __post_init__(self) -> None:
        if any(lag < 1 for lag in self.lags):
            msg = f"`features.lags` must be positive week counts, got {self.lags!r}"
            raise ConfigError(msg)
        if any(w < 2 for w in self.rolling_windows):
            msg = f"`features.rolling_windows` must be at least 2 weeks, got {self.rolling_windows!r}"
            raise ConfigError(msg)


@dataclass
class ModelsConfig:
    baselines: list[str] = field(
        default_factory=lambda: ["seasonal_naive", "naive", "window_average", "croston_optimized", "tsb"]
    )
    lightgbm: bool = True
    lightgbm_params: dict[str, Any] = field(default_factory=dict)
    # conformal widening of LightGBM's q10/q90 on held-out recent weeks: 80% coverage and lower pinball
    # loss, but lower newsvendor profit on the demo and Walmart, so off by default
    calibrate_quantiles: bool = False
    # weight of training rows whose target week is a holiday (5 matches Walmart's WMAE)
    holiday_weight: float = 1.0
    # replace LightGBM by its equal-weight blend with the per-series stlf.svd model ("lightgbm_svd")
    svd_blend: bool = False
    cold_start: bool = True


@dataclass
class BacktestConfig:
    folds: int = 3
    step: int = 4
    horizon: int | None = None  # default: forecast.horizon
    objective: str = "profit"  # business objective the champion maximises

    def __post_init__(self) -> None:
        if self.folds < 1 or self.step < 1:
            msg = (
                f"`backtest.folds` and `backtest.step` must be at least 1, got {self.folds!r}, {self.step!r}"
            )
            raise ConfigError(msg)
        allowed = ("profit", "revenue", "wape", "mae", "lost_sales_cost")
        if self.objective not in allowed:
            msg = f"`backtest.objective` must be one of {allowed}, got {self.objective!r}"
            raise ConfigError(msg)


@dataclass
class BusinessConfig:
    """Default costs used where the data has none."""

    default_price: float = 1.0  # price per target unit when the data has no price
    unit_cost_ratio: float = 0.5  # unit cost = ratio × price when the data has no unit cost
    holding_cost_ratio: float = 0.1  # holding cost per leftover unit = ratio × price

    def __post_init__(self) -> None:
        if not 0 <= self.unit_cost_ratio < 1:
            msg = f"`business.unit_cost_ratio` must be in [0, 1), got {self.unit_cost_ratio!r}"
            raise ConfigError(msg)
        if self.holding_cost_ratio < 0 or self.default_price <= 0:
            msg = "`business.holding_cost_ratio` must be >= 0 and `business.default_price` > 0"
            raise ConfigError(msg)


@dataclass
class AllocationConfig:
    presentation_min: int = 0  # units a receiving store must hold of an article after delivery
    holding_cost: float | None = None  # per leftover unit; default from business.holding_cost_ratio
    ship_cost: float = 0.0
    time_limit_s: float = 60.0
    max_gap: float = 0.005
    cover_weeks: int = 1  # demand = forecast summed over this many weeks from the allocation week
    demand: str = "auto"  # auto (quantiles when given, else Poisson(mean)) | poisson | quantiles

    def __post_init__(self) -> None:
        if self.presentation_min < 0 or self.ship_cost < 0 or (self.holding_cost or 0) < 0:
            msg = "`allocation.presentation_min`, `holding_cost` and `ship_cost` must be >= 0"
            raise ConfigError(msg)
        if self.cover_weeks < 1 or self.time_limit_s <= 0 or not 0 <= self.max_gap <= 1:
            msg = (
                "`allocation.cover_weeks` must be >= 1, `time_limit_s` > 0 and `max_gap` in [0, 1], got "
                f"{self.cover_weeks!r}, {self.time_limit_s!r}, {self.max_gap!r}"
            )
            raise ConfigError(msg)
        if self.demand not in ("auto", "poisson", "quantiles"):
            msg = f"`allocation.demand` must be one of ('auto', 'poisson', 'quantiles'), got {self.demand!r}"
            raise ConfigError(msg)


@dataclass
class TrackingConfig:
    experiment: str | None = None  # default: the pipeline name
    tracking_uri: str | None = None  # default: MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db
    register: bool = True


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
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    @property
    def backtest_horizon(self) -> int:
        return self.backtest.horizon or self.forecast.horizon


T = TypeVar("T")


def _section(cls: type[T], raw: dict[str, Any], where: str) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - names)
    if unknown:
        msg = f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}"
        raise ConfigError(msg)
    try:
        return cls(**raw)
    except TypeError as exc:
        msg = f"{where}: {exc}"
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
    "tracking": TrackingConfig,
}


def parse_pipeline(raw: dict[str, Any], source: Path | None = None) -> PipelineConfig:
    """Build a checked `PipelineConfig` from a parsed TOML mapping."""
    where = str(source) if source else "pipeline"
    unknown = sorted(set(raw) - set(SECTIONS) - {"name"})
    if unknown:
        msg = f"{where}: unknown section(s) {unknown}; allowed: {sorted(SECTIONS)}"
        raise ConfigError(msg)
    name = raw.get("name") or (source.stem if source else None)
    if not name:
        msg = f"{where}: the pipeline needs a `name`"
        raise ConfigError(msg)
    data_raw = dict(raw.get("data", {}))
    if data_raw.get("path") is not None:
        path = Path(data_raw["path"]).expanduser()
        if not path.is_absolute() and source is not None:
            path = (source.parent / path).resolve()
        data_raw["path"] = path
    kwargs: dict[str, Any] = {"name": name, "source": source}
    for key, cls in SECTIONS.items():
        section = data_raw if key == "data" else raw.get(key, {})
        kwargs[key] = _section(cls, section, f"{where} [{key}]")
    return PipelineConfig(**kwargs)


def load_pipeline(
    path: str | Path,
    *,
    data: str | Path | None = None,
    horizon: int | None = None,
    seed: int | None = None,
) -> PipelineConfig:
    """Read a pipeline TOML file and apply command-line overrides (`--data`, `--horizon`, `--seed`)."""
    source = Path(path)
    if not source.exists():
        msg = f"{source}: pipeline file not found; fix: pass a path like pipelines/demo.toml"
        raise ConfigError(msg)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{source}: not a valid TOML file ({exc})"
        raise ConfigError(msg) from exc
    config = parse_pipeline(raw, source.resolve())
    if data is not None:
        config.data.path = Path(data).expanduser().resolve()
        if config.data.adapter == "simulate":
            config.data.adapter = "canonical"
    if horizon is not None:
        config.forecast = ForecastConfig(
            horizon=horizon,
            quantiles=config.forecast.quantiles,
            seed=config.forecast.seed,
            active_weeks=config.forecast.active_weeks,
        )
    if seed is not None:
        config.forecast.seed = seed
        config.simulate.seed = seed
    return config
