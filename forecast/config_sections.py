"""The sections of a pipeline file, one checked dataclass each (`forecast.config` parses the file into them).

Each dataclass checks its own values in `__post_init__`, with a one-line error naming the setting; the
section that lists the models (`[models.NAME]` tables) is read by `models_section`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from forecast.config_checks import check_seed
from forecast.errors import ConfigError
from forecast.objectives import OBJECTIVES

SIMULATE_MAX_ROWS = 50_000_000
MAX_WEEKS = 520  # horizons, lags and windows: ten years of weeks
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

ADAPTERS = ("canonical", "hm", "walmart", "visuelle", "simulate")


def _as_date(value: date | str, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        msg = f"{where} must be a date like 2024-01-01, got {value!r}"
        raise ConfigError(msg) from exc


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
    # canonical sales: "auto" (weekly when every date is one weekday and rows are unique per article ×
    # store × date), "weekly" or "transactions"
    grain: str = "auto"
    # rows dated outside [date_min, date_max] are rejected as implausible
    date_min: date = date(1980, 1, 1)
    date_max: date = date(2099, 12, 31)
    # large CSV sources are read from a Parquet copy kept in `cache_dir` (default ~/.cache/forecast) while
    # the source is unchanged (forecast.adapters.scan)
    cache: bool = True
    cache_dir: Path | None = None
    # `--prices FILE`: a prices table (canonical columns) whose weeks after the history replace the planned
    # prices of the data (`forecast.prices.with_override`)
    prices_override: Path | None = None

    def __post_init__(self) -> None:
        self.date_min = _as_date(self.date_min, "`data.date_min`")
        self.date_max = _as_date(self.date_max, "`data.date_max`")
        if self.date_min >= self.date_max:
            msg = f"`data.date_min` must be before `data.date_max`, got {self.date_min} and {self.date_max}"
            raise ConfigError(msg)
        if self.grain not in ("auto", "weekly", "transactions"):
            msg = f"`data.grain` must be 'auto', 'weekly' or 'transactions', got {self.grain!r}"
            raise ConfigError(msg)
        for key in ("sales", "articles", "stores", "stock", "exog", "dc_stock", "transactions"):
            value = getattr(self, key)
            if not value.strip() or "\x00" in value:
                msg = f"`data.{key}` must be a file name, got {value!r}"
                raise ConfigError(msg)
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
        for name, most in (("articles", 100_000), ("stores", 5_000), ("weeks", 1_040)):
            if not 1 <= getattr(self, name) <= most:
                msg = f"`simulate.{name}` must be 1 to {most:,}, got {getattr(self, name)!r}"
                raise ConfigError(msg)
        if self.articles * self.stores * self.weeks > SIMULATE_MAX_ROWS:
            msg = (
                f"`simulate` articles × stores × weeks must be at most {SIMULATE_MAX_ROWS:,} "
                f"(in memory), got {self.articles * self.stores * self.weeks:,}; fix: use fewer, or write "
                "files with `forecast simulate --format hm`"
            )
            raise ConfigError(msg)
        check_seed(self.seed, "`simulate.seed`")
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
        if not 1 <= self.horizon <= MAX_WEEKS:
            msg = f"`forecast.horizon` must be 1 to {MAX_WEEKS} weeks, got {self.horizon!r}"
            raise ConfigError(msg)
        if not 1 <= self.active_weeks <= MAX_WEEKS:
            msg = f"`forecast.active_weeks` must be 1 to {MAX_WEEKS} weeks, got {self.active_weeks!r}"
            raise ConfigError(msg)
        check_seed(self.seed, "`forecast.seed`")
        if not all(0 < q < 1 for q in self.quantiles):
            msg = f"`forecast.quantiles` must lie strictly between 0 and 1, got {self.quantiles!r}"
            raise ConfigError(msg)
        self.quantiles = sorted(set(self.quantiles) | {0.1, 0.5, 0.9})


@dataclass
class FeaturesConfig:
    """What `forecast.features` builds for the global model (see `forecast.features.spec.FeatureSpec`).

    ``lags``: ``f_lag_k`` for each k < 52 (a lag of 52 or more is read as the holiday-aligned seasonal value
    a year before the target week, which is always built); ``rolling_windows``: ``f_roll_mean_w``;
    ``hierarchy``: the article and category × store seasonal indices.
    """

    lags: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 8, 52])
    rolling_windows: list[int] = field(default_factory=lambda: [4, 8, 13, 26])
    hierarchy: bool = True

    def __post_init__(self) -> None:
        if any(not 1 <= lag <= MAX_WEEKS for lag in self.lags):
            msg = f"`features.lags` must be week counts from 1 to {MAX_WEEKS}, got {self.lags!r}"
            raise ConfigError(msg)
        if any(not 2 <= w <= MAX_WEEKS for w in self.rolling_windows):
            msg = f"`features.rolling_windows` must be 2 to {MAX_WEEKS} weeks, got {self.rolling_windows!r}"
            raise ConfigError(msg)


DEFAULT_MODELS = ("seasonal_naive", "naive", "window_average", "croston_optimized", "tsb", "lightgbm")


@dataclass
class ModelsConfig:
    """The models a pipeline backtests and its cold-start model, as ``[models.ALIAS]`` tables.

    ``tables``: alias -> the table's keys (``model = "NAME"`` picks the registered model, default the
    alias; the other keys are its constructor's parameters), in the file's order; without any table the
    backtest lists `DEFAULT_MODELS`. ``cold_start``: the ``[models.cold_start]`` table, None when the file
    says ``cold_start = false``. The keys are checked against the registered models' constructors by
    `forecast.models.check_models` (this module does not import the models).
    """

    tables: dict[str, dict[str, Any]] = field(default_factory=lambda: {name: {} for name in DEFAULT_MODELS})
    cold_start: dict[str, Any] | None = field(default_factory=dict)

    def names(self) -> list[str]:
        """The aliases of the backtested models, in the pipeline's order."""
        return list(self.tables)


def models_section(raw: Any, where: str) -> ModelsConfig:
    """The ``[models]`` section: one table per model (the cold start's included) or ``cold_start = false``."""
    if not isinstance(raw, dict):
        msg = f"{where} must be a table of model tables, got {raw!r}; fix: write [models.NAME] tables"
        raise ConfigError(msg)
    tables: dict[str, dict[str, Any]] = {}
    cold: dict[str, Any] | None = {}
    for alias, table in raw.items():
        if alias == "cold_start" and table is False:
            cold = None
        elif not isinstance(table, dict):
            msg = (
                f"{where} {alias}: a model is a table of its parameters, got {table!r}; fix: write "
                f'[models.{alias}] (with model = "NAME" to configure a registered model under another name), '
                "or cold_start = false"
            )
            raise ConfigError(msg)
        elif alias == "cold_start":
            cold = dict(table)
        elif not NAME.match(alias):
            msg = f"{where}: a model's name must be letters, digits, '_', '.' or '-', got {alias!r}"
            raise ConfigError(msg)
        else:
            tables[alias] = dict(table)
    return ModelsConfig(tables=tables, cold_start=cold) if tables else ModelsConfig(cold_start=cold)


@dataclass
class BacktestConfig:
    folds: int = 3
    step: int = 4
    horizon: int | None = None  # default: forecast.horizon
    objective: str = "profit"  # business objective the champion maximises

    def __post_init__(self) -> None:
        if self.horizon is not None and not 1 <= self.horizon <= MAX_WEEKS:
            msg = f"`backtest.horizon` must be 1 to {MAX_WEEKS} weeks (or left out), got {self.horizon!r}"
            raise ConfigError(msg)
        if self.folds > 100 or self.step > MAX_WEEKS:
            msg = f"`backtest.folds` must be <= 100 and `step` <= {MAX_WEEKS}, got {self.folds}, {self.step}"
            raise ConfigError(msg)
        if self.folds < 1 or self.step < 1:
            msg = (
                f"`backtest.folds` and `backtest.step` must be at least 1, got {self.folds!r}, {self.step!r}"
            )
            raise ConfigError(msg)
        allowed = tuple(OBJECTIVES)
        if self.objective not in allowed:
            msg = f"`backtest.objective` must be one of {allowed}, got {self.objective!r}"
            raise ConfigError(msg)


@dataclass
class BusinessConfig:
    """Default costs used where the data has none."""

    default_price: float = 1.0  # price per target unit when the data has no price
    unit_cost_ratio: float = 0.5  # unit cost = ratio × price when the data has no unit cost
    holding_cost_ratio: float = 0.1  # holding cost per leftover unit = ratio × price
    salvage_ratio: float = 0.3  # salvage value per unit left at the season's end = ratio × unit cost

    def __post_init__(self) -> None:
        if not 0 <= self.salvage_ratio <= 1:
            msg = f"`business.salvage_ratio` must be in [0, 1], got {self.salvage_ratio!r}"
            raise ConfigError(msg)
        if not 0 <= self.unit_cost_ratio < 1:
            msg = f"`business.unit_cost_ratio` must be in [0, 1), got {self.unit_cost_ratio!r}"
            raise ConfigError(msg)
        if self.holding_cost_ratio > 100 or self.default_price > 1e9:
            msg = "`business.holding_cost_ratio` must be <= 100 and `business.default_price` <= 1e9"
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
        if self.presentation_min > 1e9 or (self.holding_cost or 0) > 1e9 or self.ship_cost > 1e9:
            msg = "`allocation.presentation_min`, `holding_cost` and `ship_cost` must be <= 1e9"
            raise ConfigError(msg)
        if self.cover_weeks > MAX_WEEKS or self.time_limit_s > 86_400:
            msg = f"`allocation.cover_weeks` must be <= {MAX_WEEKS} and `time_limit_s` <= 86400"
            raise ConfigError(msg)
        if self.demand not in ("auto", "poisson", "quantiles"):
            msg = f"`allocation.demand` must be one of ('auto', 'poisson', 'quantiles'), got {self.demand!r}"
            raise ConfigError(msg)


@dataclass
class ReplenishmentConfig:
    """Multi-week plan: weekly DC -> store shipments and supplier orders (`forecast.replenish`)."""

    enabled: bool = True  # the replenishment step of `forecast run`
    weeks: int = 8  # planning horizon
    store_lead_weeks: int = 1  # default DC -> store lead time (stores.lead_weeks overrides)
    supplier_lead_weeks: int = 3  # default supplier lead time (suppliers.lead_weeks overrides)
    moq_units: int = 0  # default supplier minimum order quantity
    case_pack: int = 1  # default supplier case pack
    salvage_ratio: float = 0.3  # salvage value = ratio × unit cost where the DC stock has none
    shortage_ratio: float = 0.0  # goodwill cost per expected lost sale, as a share of the price
    carry_share: float = 0.5  # share of next week's marginal sale value credited to a unit left over
    holding_cost: float | None = None  # per unit left in a store at a week's end; default business ratio
    ship_cost: float = 0.0  # per unit sent, where the stores file has none
    dc_capacity_units: float | None = None  # units the DC can hold at the end of a week (None = unlimited)
    budget: float | None = None  # purchase budget over the horizon (None = unlimited)
    time_limit_s: float = 60.0
    max_gap: float = 0.005
    demand: str = "auto"  # auto | poisson | quantiles, as in [allocation]

    def __post_init__(self) -> None:
        if self.weeks < 1 or self.store_lead_weeks < 0 or self.supplier_lead_weeks < 0:
            msg = "`replenishment.weeks` must be >= 1 and the lead times >= 0"
            raise ConfigError(msg)
        if self.moq_units < 0 or self.case_pack < 1 or min(self.salvage_ratio, self.shortage_ratio) < 0:
            msg = "`replenishment.moq_units`, `salvage_ratio`, `ship_cost` must be >= 0, `case_pack` >= 1"
            raise ConfigError(msg)
        for name in ("holding_cost", "dc_capacity_units", "budget", "ship_cost"):
            value = getattr(self, name)
            if value is not None and value < 0:
                msg = f"`replenishment.{name}` must be >= 0, got {value!r}"
                raise ConfigError(msg)
        if self.time_limit_s <= 0 or not 0 <= self.max_gap <= 1 or not 0 <= self.carry_share <= 1:
            msg = "`replenishment.time_limit_s` must be > 0, `max_gap` and `carry_share` in [0, 1]"
            raise ConfigError(msg)
        if self.demand not in ("auto", "poisson", "quantiles"):
            msg = (
                f"`replenishment.demand` must be one of ('auto', 'poisson', 'quantiles'), got {self.demand!r}"
            )
            raise ConfigError(msg)


@dataclass
class TrackingConfig:
    experiment: str | None = None  # default: the pipeline name
    tracking_uri: str | None = None  # default: MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db
    register: bool = True

    def __post_init__(self) -> None:
        if self.experiment is not None and (
            not self.experiment.strip() or any(ord(c) < 32 for c in self.experiment)
        ):
            msg = f"`tracking.experiment` must be a non-empty name, got {self.experiment!r}"
            raise ConfigError(msg)
        if self.tracking_uri is not None and "://" not in self.tracking_uri:
            msg = (
                f"`tracking.tracking_uri` must be a URI like sqlite:///mlruns/mlflow.db or http://host:5000, "
                f"got {self.tracking_uri!r}"
            )
            raise ConfigError(msg)


CLUSTER = re.compile(r"^(local(:[1-9][0-9]{0,2})?|tcp://[^\s/:]+:[0-9]{1,5})$")


CENSORING_METHODS = ("expected", "drop")


@dataclass
class DemandConfig:
    """What the models learn on stockout weeks (`forecast.censoring`): ``censoring = "expected"`` replaces a
    censored week's sales by its expected demand given that demand was at least the sales, under a negative
    binomial of shape `dispersion` around the series' uncensored weeks within `window` weeks; ``"drop"``
    leaves censored weeks out of training (the models' features and targets skip them)."""

    censoring: str = "expected"
    dispersion: float = 2.0
    window: int = 6

    def __post_init__(self) -> None:
        if self.censoring not in CENSORING_METHODS:
            msg = f"`demand.censoring` must be one of {CENSORING_METHODS}, got {self.censoring!r}"
            raise ConfigError(msg)
        if not self.dispersion > 0:
            msg = f"`demand.dispersion` must be > 0, got {self.dispersion!r}"
            raise ConfigError(msg)
        if not 1 <= self.window <= 52:
            msg = f"`demand.window` must be 1 to 52 weeks, got {self.window!r}"
            raise ConfigError(msg)


@dataclass
class EngineConfig:
    """Where the job runs: this process (``cluster = ""``) or a Dask cluster (`forecast.engine`).

    ``cluster``: ``local`` or ``local:N`` (a local Dask cluster of N single-threaded worker processes; N
    defaults to the machine's cores) or ``tcp://HOST:PORT`` (the scheduler of an existing cluster).
    ``partitions``: article groups the data is split into (0: four per worker). ``work_dir``: where the
    partitioned Parquet copy of the data is written for the workers to read (default: ``[data] cache_dir``
    / parts); on a cluster of several machines it must be a folder every worker sees under the same path.
    """

    cluster: str = ""
    partitions: int = 0
    work_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.cluster and not CLUSTER.match(self.cluster):
            msg = (
                f"`engine.cluster` must be '', 'local', 'local:N' or 'tcp://HOST:PORT', got {self.cluster!r}"
            )
            raise ConfigError(msg)
        if not 0 <= self.partitions <= 100_000:
            msg = f"`engine.partitions` must be between 0 (automatic) and 100000, got {self.partitions!r}"
            raise ConfigError(msg)
        if self.work_dir is not None:
            self.work_dir = Path(self.work_dir).expanduser()
