"""Business replay on a small synthetic retailer: no leakage, accounting, policy ordering, seeds."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from forecast.config import AllocationConfig, ForecastConfig, PipelineConfig, SimulateConfig
from forecast.dataset import Dataset
from forecast.errors import ConfigError, InputError
from forecast.panel import build_panel
from forecast.replay import (
    POLICIES,
    ReplayResult,
    dc_stock_for_week,
    replay_allocation,
    replay_forecasts,
    replay_models,
    replay_stocking,
    replay_weeks,
)
from forecast.simulate import simulate_dataset

SERIES = ["article_id", "store_id"]
SIM = SimulateConfig(articles=40, stores=4, weeks=30, seed=3)
WEEKS = 3


class RecordingModel:
    """Forecasts the mean of the last four weeks it was shown; records what each fit saw."""

    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.seen: list[tuple[date, date]] = []  # (origin, latest week in the panel it was given)

    def fit(self, panel: pl.DataFrame, origin: date) -> RecordingModel:
        self.seen.append((origin, panel["week"].max()))  # type: ignore[arg-type]
        self.origin_ = origin
        recent = panel.filter(pl.col("week") > origin - timedelta(weeks=4))
        self.level_ = recent.group_by(SERIES).agg((pl.col("units").sum() / 4).alias("mean"))
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:  # noqa: ARG002
        rows = (series if series is not None else self.level_.select(SERIES)).join(
            self.level_, on=SERIES, how="left"
        )
        mean = pl.col("mean").fill_null(0.0)
        return rows.select(
            *SERIES,
            pl.lit(self.origin_ + timedelta(weeks=1)).alias("week"),
            pl.lit(1, dtype=pl.Int32).alias("horizon"),
            pl.lit(self.name).alias("model"),
            mean.alias("mean"),
            (0.5 * mean).alias("q10"),
            mean.alias("q50"),
            (1.8 * mean + 1.0).alias("q90"),
        )


class OracleModel:
    """Forecasts the true demand of the coming week exactly (a degenerate distribution)."""

    name = "oracle"

    def __init__(self, true_demand: pl.DataFrame) -> None:
        self.true_demand = true_demand

    def fit(self, panel: pl.DataFrame, origin: date) -> OracleModel:  # noqa: ARG002
        self.origin_ = origin
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:  # noqa: ARG002
        assert series is not None
        week = self.origin_ + timedelta(weeks=1)
        demand = self.true_demand.filter(pl.col("week") == week).select(*SERIES, "demand")
        value = pl.col("demand").fill_null(0.0)
        return series.join(demand, on=SERIES, how="left").select(
            *SERIES,
            pl.lit(week).alias("week"),
            pl.lit(1, dtype=pl.Int32).alias("horizon"),
            pl.lit(self.name).alias("model"),
            value.alias("mean"),
            value.alias("q10"),
            value.alias("q50"),
            value.alias("q90"),
        )


def make_config() -> PipelineConfig:
    return PipelineConfig(
        name="replay-test",
        simulate=SIM,
        forecast=ForecastConfig(horizon=1, active_weeks=4),
        allocation=AllocationConfig(max_gap=0.0, time_limit_s=30),
    )


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, pl.DataFrame]:
    ds = simulate_dataset(SIM)
    return ds, build_panel(ds).collect()


@pytest.fixture(scope="module")
def replay(data: tuple[Dataset, pl.DataFrame]) -> tuple[ReplayResult, RecordingModel]:
    ds, panel = data
    model = RecordingModel()
    assert ds.true_demand is not None
    result = replay_allocation(ds, panel, [model, OracleModel(ds.true_demand)], make_config(), weeks=WEEKS)
    return result, model


def test_models_see_only_weeks_up_to_the_origin(
    data: tuple[Dataset, pl.DataFrame], replay: tuple[ReplayResult, RecordingModel]
) -> None:
    _, panel = data
    result, model = replay
    expected = replay_weeks(panel, WEEKS)
    assert [origin for origin, _ in model.seen] == [origin for origin, _ in expected]
    assert all(latest <= origin for origin, latest in model.seen)
    weeks = result.forecasts.select("origin", "week").unique().sort("week").rows()
    assert weeks == expected
    assert result.forecasts.filter(pl.col("week") != pl.col("origin") + timedelta(weeks=1)).is_empty()


def test_forecasts_do_not_change_when_the_future_changes(data: tuple[Dataset, pl.DataFrame]) -> None:
    ds, panel = data
    config = make_config()
    first_target = replay_weeks(panel, WEEKS)[0][1]
    future = pl.col("week") >= first_target
    tampered = panel.with_columns(pl.when(future).then(pl.col("units") * 7 + 3).otherwise(pl.col("units")))
    before = replay_forecasts(ds, panel, [RecordingModel()], config, weeks=WEEKS)
    after = replay_forecasts(ds, tampered, [RecordingModel()], config, weeks=WEEKS)
    cols = ["week", *SERIES, "mean", "q10", "q50", "q90"]
    first = pl.col("week") == first_target
    assert before.filter(first).select(cols).equals(after.filter(first).select(cols))


def test_accounting_identities(
    data: tuple[Dataset, pl.DataFrame], replay: tuple[ReplayResult, RecordingModel]
) -> None:
    ds, _ = data
    assert ds.true_demand is not None
    assert ds.stock is not None
    weekly = replay[0].weekly
    assert weekly.height == 2 * WEEKS * len(POLICIES)
    for row in weekly.iter_rows(named=True):
        assert row["sales_units"] + row["lost_sales_units"] == pytest.approx(row["true_demand_units"])
        stock = row["on_hand_units"] + row["units_shipped"]
        assert row["sales_units"] + row["leftover_units"] == pytest.approx(stock)
        profit = row["revenue"] - row["cost_of_sales"] - row["ship_cost"] - row["holding_cost"]
        assert row["profit"] == pytest.approx(profit)
        assert row["units_shipped"] <= row["dc_units"] + 1e-9
    # the week's true demand and opening stock over the forecast pairs, computed independently
    pairs = replay[0].forecasts.filter(pl.col("model") == "recorder").select("origin", "week", *SERIES)
    demand = pairs.join(ds.true_demand, on=["week", *SERIES], how="left")
    stock_rows = ds.stock.rename({"week": "origin"})
    on_hand = pairs.join(stock_rows, on=["origin", *SERIES], how="left")
    by_week = (
        demand.group_by("week")
        .agg(pl.col("demand").fill_null(0.0).sum())
        .join(on_hand.group_by("week").agg(pl.col("on_hand").fill_null(0.0).sum()), on="week")
    )
    got = (
        weekly.filter(pl.col("model") == "recorder")
        .group_by("week")
        .agg(pl.col("true_demand_units").first(), pl.col("on_hand_units").first())
    )
    joined = got.join(by_week, on="week")
    assert joined.height == WEEKS
    assert (joined["true_demand_units"] - joined["demand"]).abs().max() < 1e-9  # type: ignore[operator]
    assert (joined["on_hand_units"] - joined["on_hand"]).abs().max() < 1e-9  # type: ignore[operator]


def test_summary_totals_and_lost_share(replay: tuple[ReplayResult, RecordingModel]) -> None:
    result = replay[0]
    summary = result.summary
    assert summary.height == 2 * len(POLICIES)
    for row in summary.iter_rows(named=True):
        week_rows = result.weekly.filter(
            (pl.col("model") == row["model"]) & (pl.col("policy") == row["policy"])
        )
        assert row["profit"] == pytest.approx(week_rows["profit"].sum())
        assert row["lost_share"] == pytest.approx(row["lost_sales_units"] / row["true_demand_units"])
        assert row["shipped_profit"] == pytest.approx(row["profit"] - row["baseline_profit"])
    rules = summary.filter(pl.col("policy") != "optimiser")
    assert (
        rules.group_by("model").agg(pl.col("profit_vs_best_rule").max())["profit_vs_best_rule"].to_list()
        == [pytest.approx(1.0)] * 2
    )


def test_stock_binds_and_optimiser_expects_at_least_the_rules(
    replay: tuple[ReplayResult, RecordingModel],
) -> None:
    weekly = replay[0].weekly
    assert (weekly["lost_sales_units"] > 0).all()
    assert (weekly["dc_units"] < weekly["true_demand_units"]).all()
    wide = weekly.pivot("policy", index=["model", "week"], values="expected_profit")
    best_rule = wide.select(pl.max_horizontal("proportional", "cover")).to_series()
    assert (wide["optimiser"] >= best_rule - 1e-6 * best_rule.abs()).all()


def test_optimiser_realises_more_than_the_rules_with_a_perfect_forecast(
    replay: tuple[ReplayResult, RecordingModel],
) -> None:
    oracle = replay[0].summary.filter(pl.col("model") == "oracle")
    profit = dict(zip(oracle["policy"], oracle["profit"], strict=True))
    assert profit["optimiser"] >= max(profit["proportional"], profit["cover"])
    ours = oracle.filter(pl.col("policy") == "optimiser")
    assert ours["profit_vs_best_rule"].item() >= 1.0


def test_same_seed_same_replay() -> None:
    config = make_config()
    runs = []
    for _ in range(2):
        ds = simulate_dataset(SIM)
        panel = build_panel(ds).collect()
        runs.append(replay_allocation(ds, panel, [RecordingModel()], config, weeks=2).weekly)
    assert runs[0].drop("expected_profit").equals(runs[1].drop("expected_profit"))
    assert runs[0]["expected_profit"].to_list() == pytest.approx(runs[1]["expected_profit"].to_list())


def test_replay_with_statsforecast_models(data: tuple[Dataset, pl.DataFrame]) -> None:
    ds, panel = data
    config = make_config()
    models = replay_models(config, ["naive", "window_average"])
    forecasts = replay_forecasts(ds, panel, models, config, weeks=2)
    result = replay_allocation(ds, panel, models, config, weeks=2, forecasts=forecasts)
    assert set(result.summary["model"]) == {"naive", "window_average"}
    stocking = replay_stocking(
        ds, panel, models, config, forecasts=forecasts, champion="window_average", baseline="naive"
    )
    cmp = stocking.comparison.row(0, named=True)
    assert cmp["champion"] == "window_average"
    assert cmp["baseline"] == "naive"
    assert 0 <= cmp["champion_lost_share"] <= 1


def test_stocking_identities_and_champion(
    data: tuple[Dataset, pl.DataFrame], replay: tuple[ReplayResult, RecordingModel]
) -> None:
    ds, panel = data
    forecasts = replay[0].forecasts
    stocking = replay_stocking(ds, panel, [], make_config(), forecasts=forecasts, baseline="recorder")
    assert stocking.champion == "oracle"  # a perfect forecast also wins on observed sales here
    for row in stocking.summary.iter_rows(named=True):
        assert row["sales_units"] + row["lost_sales_units"] == pytest.approx(row["true_demand_units"])
        assert row["sales_units"] + row["leftover_units"] == pytest.approx(row["stock_units"])
    rows = forecasts.filter(pl.col("model") == "recorder")
    summary = stocking.summary.filter(pl.col("model") == "recorder").row(0, named=True)
    assert summary["true_demand_units"] == pytest.approx(rows["true_demand"].sum())
    oracle = stocking.summary.filter(pl.col("model") == "oracle").row(0, named=True)
    assert oracle["lost_sales_units"] == pytest.approx(0.0)  # stocked at the demand itself
    cmp = stocking.comparison.row(0, named=True)
    assert cmp["profit_ratio"] == pytest.approx(cmp["champion_profit"] / cmp["baseline_profit"])
    with pytest.raises(ConfigError, match="seasonal_naive"):
        replay_stocking(ds, panel, [], make_config(), forecasts=forecasts)


def test_dc_stock_is_a_share_of_the_shortfall_in_whole_packs() -> None:
    rows = pl.DataFrame(
        {
            "article_id": ["A1", "A1", "A2"],
            "store_id": ["S1", "S2", "S1"],
            "true_demand": [10.0, 4.0, 3.0],
            "on_hand": [2.0, 6.0, 0.0],
            "price": [10.0, 10.0, 5.0],
            "unit_cost": [4.0, 4.0, 2.0],
            "holding_cost": [1.0, 1.0, 0.5],
        }
    )
    ds = simulate_dataset(SimulateConfig(articles=4, stores=2, weeks=6, seed=1))
    ds.dc_stock = pl.DataFrame({"article_id": ["A1"], "pack_size": [4.0]})
    need = dc_stock_for_week(ds, rows, dc_share=0.75)
    # A1: shortfall 8 (store S2 holds more than it needs), 6 units = 1.5 packs -> 2 packs; A2: 2.25 -> 2 units
    assert need["available_units"].to_list() == [8.0, 2.0]
    assert need["pack_size"].to_list() == [4.0, 1.0]
    demand = dc_stock_for_week(ds, rows, dc_share=0.5, dc_basis="demand")
    assert demand["available_units"].to_list() == [8.0, 2.0]  # 7 units -> 2 packs; 1.5 -> 2
    with pytest.raises(ConfigError, match="dc_basis"):
        dc_stock_for_week(ds, rows, dc_basis="stock")


def test_bad_requests(data: tuple[Dataset, pl.DataFrame]) -> None:
    ds, panel = data
    config = make_config()
    with pytest.raises(ConfigError, match="weeks"):
        replay_weeks(panel, 0)
    no_truth = Dataset(name="x", sales=ds.sales, articles=ds.articles, stores=ds.stores, stock=ds.stock)
    with pytest.raises(InputError, match="true demand"):
        replay_forecasts(no_truth, panel, [RecordingModel()], config, weeks=1)
    with pytest.raises(ConfigError, match="unique"):
        replay_forecasts(ds, panel, [RecordingModel(), RecordingModel()], config, weeks=1)
    with pytest.raises(ConfigError, match="prophet"):
        replay_models(config, ["prophet"])
