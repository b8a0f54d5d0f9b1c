"""The estimator contract and the model registry: a model added in a few lines is backtested and forecast."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from forecast.backtest import run_backtest
from forecast.cli.backtest import select_models
from forecast.config import BacktestConfig, ModelsConfig, PipelineConfig, SimulateConfig, load_pipeline
from forecast.errors import ConfigError, NotFittedError
from forecast.models import build_models, check_models, create, register, registered, unregister
from forecast.models.base import FORECAST_COLUMNS, Forecaster
from forecast.models.baselines import StatsForecastModel
from forecast.objectives import MAXIMISE, OBJECTIVES
from forecast.panel import build_panel
from forecast.predict import predict_all
from forecast.simulate import simulate_dataset


class LastWeek(Forecaster):
    """The toy model of the README: each series' last week, flat, with a ±50% band."""

    default_name = "last_week"

    def __init__(self, quantiles: tuple[float, ...] = (0.1, 0.5, 0.9), alias: str | None = None) -> None:
        self.quantiles = quantiles
        self.alias = alias

    def fit(self, panel: pl.DataFrame, origin: date, **_: object) -> LastWeek:
        last = panel.filter(pl.col("week") == origin)
        self.level_ = last.select("article_id", "store_id", pl.col("units").alias("level"))
        self.origin_ = origin
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        self.check_fitted()
        keys = self.level_ if series is None else series.join(self.level_, on=["article_id", "store_id"])
        steps = pl.DataFrame({"horizon": range(1, horizon + 1)})
        grid = keys.join(steps, how="cross").with_columns(
            (pl.lit(self.origin_) + pl.duration(weeks=pl.col("horizon"))).alias("week")
        )
        level = grid["level"].fill_null(0.0).to_numpy()
        return self.forecast_frame(grid, level, np.column_stack([0.5 * level, level, 1.5 * level]))


@pytest.fixture
def toy() -> Iterator[str]:
    register("last_week", LastWeek)
    yield "last_week"
    unregister("last_week")


def small_config(baselines: list[str]) -> PipelineConfig:
    return PipelineConfig(
        name="registry",
        simulate=SimulateConfig(articles=20, stores=2, weeks=30, seed=4),
        models=ModelsConfig(tables={name: {} for name in baselines}, cold_start=None),
        backtest=BacktestConfig(folds=2, step=2),
    )


def test_a_registered_model_is_backtested_and_forecast(toy: str) -> None:
    config = small_config(["naive", toy])
    ds = simulate_dataset(config.simulate)
    panel = build_panel(ds).collect()
    result = run_backtest(panel, build_models(config), config, ds)
    assert set(result.leaderboard["model"]) >= {"naive", toy}
    assert result.per_fold.filter(pl.col("model") == toy)["missing_forecasts"].sum() == 0
    out = predict_all(ds, panel, config, toy)
    assert out.columns == [*FORECAST_COLUMNS, "price"]
    assert set(out["model"]) == {toy}


def test_the_config_and_the_cli_read_the_registry(toy: str) -> None:
    with pytest.raises(ConfigError, match="unknown model 'prophet'"):
        check_models(small_config(["prophet"]))
    assert toy in registered()
    check_models(small_config([toy]))
    assert select_models(small_config(["naive"]), f"{toy},lightgbm").models.names() == [toy, "lightgbm"]
    unregister(toy)
    with pytest.raises(ConfigError, match="unknown model"):
        check_models(small_config([toy]))


def test_register_refuses_a_second_model_under_one_name(toy: str) -> None:
    with pytest.raises(ConfigError, match="already registered"):
        register(toy, LastWeek)


def test_constructors_store_parameters_and_clone_unfitted() -> None:
    config = small_config(["naive"])
    ds = simulate_dataset(config.simulate)
    panel = build_panel(ds).collect()
    origin = panel["week"].max()
    for name in ("naive", "lightgbm", "lightgbm_svd", "stlf_svd"):
        model = create(name, config)
        before = repr(model.get_params())
        with pytest.raises(NotFittedError, match="not fitted yet"):
            model.predict(2)
        if name == "naive":
            model.fit(panel, origin)
            assert model.is_fitted
            assert repr(model.get_params()) == before  # fitting changes no parameter
        copy = model.clone()
        assert not copy.is_fitted
        assert repr(copy.get_params()) == before


def test_lightgbm_learns_the_horizons_the_pipeline_forecasts() -> None:
    config = small_config(["naive"])
    config.forecast.horizon, config.backtest.horizon = 3, 5
    assert config.model_horizon == 5
    assert create("lightgbm", config).get_params()["max_horizon"] == 5


def test_forecast_from_refits_a_clone_and_keeps_the_model() -> None:
    config = small_config(["naive"])
    panel = build_panel(simulate_dataset(config.simulate)).collect()
    weeks = panel["week"].unique().sort()
    model = StatsForecastModel("naive").fit(panel.filter(pl.col("week") <= weeks[-5]), weeks[-5])
    series = panel.select("article_id", "store_id").unique()
    out = model.forecast_from(panel, 2, series)
    assert out["week"].min() > weeks[-1]
    assert model.origin_ == weeks[-5]


def test_model_and_data_seeds_are_separate_and_overrides_are_checked(tmp_path: Path) -> None:
    file = tmp_path / "p.toml"
    file.write_text('name = "p"\n[simulate]\nseed = 7\n[forecast]\nseed = 42\n')
    config = load_pipeline(file, seed=3)
    assert (config.forecast.seed, config.simulate.seed) == (3, 7)
    config = load_pipeline(file, data_seed=5)
    assert (config.forecast.seed, config.simulate.seed) == (42, 5)
    with pytest.raises(ConfigError, match=r"^--horizon 0: `forecast.horizon` must be 1 to"):
        load_pipeline(file, horizon=0)
    with pytest.raises(ConfigError, match=r"^--data-seed -1: `simulate.seed` must be"):
        load_pipeline(file, data_seed=-1)


def test_objectives_are_defined_once() -> None:
    assert set(MAXIMISE) == {"profit", "revenue"}
    for objective in OBJECTIVES:
        BacktestConfig(objective=objective)
    with pytest.raises(ConfigError, match="objective"):
        BacktestConfig(objective="pinball")


CALIBRATED = {
    "lightgbm": {},
    "lightgbm_calibrated": {"model": "lightgbm", "calibrate": True},
    "lightgbm_svd_calibrated": {"model": "lightgbm_svd", "global_model": {"calibrate": True}},
}


def test_an_alias_configures_a_model_without_a_subclass() -> None:
    from forecast.models.blend import BlendForecaster
    from forecast.models.lgbm import LightGBMForecaster

    config = small_config([])
    config.models.tables = dict(CALIBRATED)
    plain, calibrated = create("lightgbm", config), create("lightgbm_calibrated", config)
    assert type(plain) is type(calibrated) is LightGBMForecaster
    assert (plain.name, calibrated.name) == ("lightgbm", "lightgbm_calibrated")
    assert (plain.calibrate, calibrated.calibrate) == (False, True)
    differ = {"calibrate", "alias"}
    assert {k: v for k, v in plain.get_params().items() if k not in differ} == {
        k: v for k, v in calibrated.get_params().items() if k not in differ
    }
    blend = create("lightgbm_svd_calibrated", config)
    assert isinstance(blend, BlendForecaster)
    assert isinstance(blend.global_model, LightGBMForecaster)
    assert blend.global_model.calibrate
    assert blend.global_model.name == "lightgbm"
    assert blend.clone().name == "lightgbm_svd_calibrated"
    assert calibrated.clone().calibrate
    chosen = select_models(config, "lightgbm_calibrated,lightgbm")
    assert chosen.models.names() == ["lightgbm_calibrated", "lightgbm"]
    assert chosen.models.tables["lightgbm_calibrated"] == CALIBRATED["lightgbm_calibrated"]


SMALL = {"num_iterations": 30, "num_leaves": 7, "min_data_in_leaf": 20}


@pytest.mark.parametrize("objective", ["profit", "wape"])
def test_the_objective_ranks_the_raw_and_calibrated_models(objective: str) -> None:
    config = PipelineConfig(
        name="calibration",
        simulate=SimulateConfig(articles=40, stores=3, weeks=70, seed=4),
        models=ModelsConfig(
            tables={
                "lightgbm_calibrated": {"model": "lightgbm", "calibrate": True, "params": SMALL},
                "lightgbm": {"params": SMALL},
            },
            cold_start=None,
        ),
        backtest=BacktestConfig(folds=2, step=4, objective=objective),
    )
    ds = simulate_dataset(config.simulate)
    panel = build_panel(ds).collect()
    result = run_backtest(panel, build_models(config), config, ds)
    board = result.leaderboard.filter(pl.col("model") != "oracle")
    assert set(board["model"]) == {"lightgbm", "lightgbm_calibrated"}
    values = board[objective].to_list()
    assert values == sorted(values, reverse=objective in MAXIMISE)
    assert result.champion == board["model"][0]
    raw, calibrated = (
        board.filter(pl.col("model") == m).row(0, named=True) for m in ("lightgbm", "lightgbm_calibrated")
    )
    assert raw["coverage_80"] != calibrated["coverage_80"]
    assert raw["wape"] == calibrated["wape"]  # the mean is the same forecast
    rows = result.forecasts.sort("model", "fold", "article_id", "store_id", "week")
    means = rows.partition_by("model", as_dict=True)
    assert means[("lightgbm",)].height > 0
    assert means[("lightgbm",)]["mean"].equals(means[("lightgbm_calibrated",)]["mean"])
