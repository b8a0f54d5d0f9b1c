"""Rolling-origin backtest, leaderboard and predict_all on hand-built panels."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from forecast.backtest import LEADERBOARD_COLUMNS, check_history, fold_origins, history_at, run_backtest
from forecast.config import BacktestConfig, DemandConfig, ForecastConfig, ModelsConfig, PipelineConfig
from forecast.dataset import Dataset
from forecast.errors import ConfigError, InputError
from forecast.models.base import Forecaster
from forecast.models.baselines import StatsForecastModel
from forecast.predict import cold_start_series, predict_all

START = date(2024, 1, 1)  # a Monday


def week(i: int) -> date:
    return START + timedelta(weeks=i)


def make_panel(series: dict[tuple[str, str], tuple[int, list[float]]]) -> pl.DataFrame:
    """Contract panel from {(article, store): (first week index, units)}."""
    rows = []
    for (article, store), (first, values) in series.items():
        for i, units in enumerate(values):
            rows.append(
                (article, store, week(first + i), units, 0.0, 10.0, 10.0, 0.0, None, False, False, "tops")
            )
    schema = {
        "article_id": pl.Utf8,
        "store_id": pl.Utf8,
        "week": pl.Date,
        "units": pl.Float64,
        "returns_units": pl.Float64,
        "price": pl.Float64,
        "list_price": pl.Float64,
        "discount": pl.Float64,
        "on_hand": pl.Float64,
        "censored": pl.Boolean,
        "is_holiday": pl.Boolean,
        "category": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def make_config(folds: int = 2, step: int = 2, horizon: int = 2, objective: str = "profit") -> PipelineConfig:
    return PipelineConfig(
        name="test",
        forecast=ForecastConfig(horizon=horizon, active_weeks=3),
        backtest=BacktestConfig(folds=folds, step=step, objective=objective),
        models=ModelsConfig(tables={"naive": {}}, cold_start=None),
    )


def make_dataset(panel: pl.DataFrame, articles: pl.DataFrame | None = None) -> Dataset:
    arts = articles if articles is not None else panel.select("article_id").unique()
    stores = panel.select("store_id").unique()
    return Dataset("test", sales=pl.DataFrame(), articles=arts, stores=stores)


class Recorder(Forecaster):
    """Forecasts a constant and records what it was fitted on."""

    def __init__(self, name: str, value: float) -> None:
        self.name = name
        self.value = value
        self.seen: list[tuple[date, pl.DataFrame]] = []

    def fit(self, panel: pl.DataFrame, origin: date, **_: object) -> Recorder:
        self.seen.append((origin, panel))
        self.origin_ = origin
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        assert series is not None
        steps = pl.DataFrame({"horizon": list(range(1, horizon + 1))}, schema={"horizon": pl.Int32})
        return series.join(steps, how="cross").with_columns(
            (pl.lit(self.origin_) + pl.duration(weeks=1) * pl.col("horizon")).cast(pl.Date).alias("week"),
            pl.lit(self.name).alias("model"),
            pl.lit(self.value).alias("mean"),
            pl.lit(self.value * 0.5).alias("q10"),
            pl.lit(self.value).alias("q50"),
            pl.lit(self.value * 1.5).alias("q90"),
        )


@pytest.fixture
def panel() -> pl.DataFrame:
    return make_panel(
        {
            ("a", "s1"): (0, [2.0] * 12),
            ("b", "s1"): (0, [1.0, 0.0, 3.0, 0.0, 1.0, 2.0, 0.0, 0.0]),  # stops selling at week 5
            ("c", "s2"): (4, [5.0] * 8),  # starts at week 4
        }
    )


def test_fold_origins_end_at_the_last_week(panel: pl.DataFrame) -> None:
    assert fold_origins(panel, folds=2, step=2, horizon=2) == [week(7), week(9)]
    with pytest.raises(ConfigError, match="not enough history"):
        fold_origins(panel, folds=5, step=3, horizon=2)


def test_history_is_cut_at_last_sale_and_active_series_are_zero_filled(panel: pl.DataFrame) -> None:
    hist, active = history_at(panel, week(7), active_weeks=3)
    # b last sold at week 5; sold within the last 3 weeks of origin 7
    b = hist.filter(pl.col("article_id") == "b")
    assert b["week"].max() == week(7)  # active (sold within 3 weeks) -> zero-filled to the origin
    assert b["units"].to_list()[-2:] == [0.0, 0.0]
    assert active.rows() == [("a", "s1"), ("b", "s1"), ("c", "s2")]
    hist9, active9 = history_at(panel, week(9), active_weeks=3)
    assert ("b", "s1") not in active9.rows()  # last sale week 5 is more than 3 weeks before week 9
    assert hist9.filter(pl.col("article_id") == "b")["week"].max() == week(5)
    assert hist9["week"].max() == week(9)
    assert hist9.filter(pl.col("week") > week(5), pl.col("article_id") == "b").height == 0


def test_models_only_see_history_up_to_the_origin(panel: pl.DataFrame) -> None:
    recorder = Recorder("rec", 2.0)
    run_backtest(panel, [recorder], make_config(), make_dataset(panel))
    assert [origin for origin, _ in recorder.seen] == [week(7), week(9)]
    for origin, seen in recorder.seen:
        assert seen["week"].max() == origin
        assert seen.filter(pl.col("week") > origin).height == 0


def test_true_demand_scores_every_row_censored_weeks_included() -> None:
    from dataclasses import replace

    panel = make_panel({("a", "s1"): (0, [2.0] * 10)})
    # week 9 sold out: its sales (2) are left out of the sales metrics, not of the true-demand ones
    panel = panel.with_columns((pl.col("week") == week(9)).alias("censored"))
    truth = {"week": [week(8), week(9)], "store_id": "s1", "article_id": "a", "demand": [2.0, 6.0]}
    ds = replace(make_dataset(panel), true_demand=pl.DataFrame(truth))
    config = replace(make_config(folds=1, horizon=2), demand=DemandConfig(censoring="drop"))
    result = run_backtest(panel, [Recorder("exact", 2.0)], config, ds)
    row = result.leaderboard.filter(pl.col("model") == "exact").row(0, named=True)
    assert row["wape"] == 0.0
    assert row["wape_true"] == pytest.approx(4.0 / 8.0)
    assert row["bias_true"] == pytest.approx(-4.0 / 8.0)


def test_leaderboard_scores_and_ranks_by_hand() -> None:
    # one series selling 2 a week; the last fold (origin week 7) forecasts weeks 8, 9
    panel = make_panel({("a", "s1"): (0, [2.0] * 10)})
    exact, high = Recorder("exact", 2.0), Recorder("high", 4.0)
    config = make_config(folds=1, horizon=2)
    result = run_backtest(panel, [high, exact], config, make_dataset(panel))
    board = result.leaderboard
    assert board.columns == LEADERBOARD_COLUMNS
    assert board["model"].to_list() == ["exact", "high"]
    assert result.champion == "exact"
    row = board.row(1, named=True)
    assert row["wape"] == pytest.approx(1.0)  # |4 - 2| * 2 / (2 * 2)
    assert row["bias"] == pytest.approx(2.0)
    # price 10, cost 0.5 * 10, h = 0.1 * 10 -> tau = 5/6; stock = q50 + (1/3)/0.4 * (q90 - q50) = 4 + 5/6*2
    stock = 4.0 + (5 / 6 - 0.5) / 0.4 * 2.0
    assert row["overstock_units"] == pytest.approx(2 * (stock - 2.0))
    assert row["profit"] == pytest.approx(2 * (10 * 2 - 5 * 2 - 1.0 * (stock - 2.0)))
    assert result.forecasts.height == 4
    assert {"fold", "origin", "units", "censored"} <= set(result.forecasts.columns)
    assert result.per_fold.height == 2


def test_weeks_beyond_life_count_as_zero_and_censored_weeks_are_not_scored() -> None:
    panel = make_panel({("a", "s1"): (0, [2.0] * 9)})  # life ends at week 8
    panel = pl.concat([panel, make_panel({("z", "s9"): (0, [1.0] * 10)})])  # panel ends at week 9
    panel = panel.with_columns((pl.col("article_id").eq("z") & pl.col("week").eq(week(9))).alias("censored"))
    result = run_backtest(panel, [Recorder("m", 1.0)], make_config(folds=1), make_dataset(panel))
    a = result.forecasts.filter(pl.col("article_id") == "a").sort("week")
    assert a["units"].to_list() == [2.0, 0.0]  # week 9 is past its life: 0 demand
    fold = result.per_fold.row(0, named=True)
    assert fold["rows"] == 4
    assert fold["censored_rows"] == 1
    # scored rows: a 2 vs 1, a 0 vs 1, z 1 vs 1 -> MAE 2/3
    assert fold["mae"] == pytest.approx(2 / 3)


def test_missing_forecasts_are_scored_as_zero(panel: pl.DataFrame) -> None:
    class Partial(Recorder):
        def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
            return super().predict(horizon, series).filter(pl.col("article_id") != "a")

    result = run_backtest(panel, [Partial("p", 1.0)], make_config(folds=1), make_dataset(panel))
    assert result.per_fold["missing_forecasts"].to_list() == [2]
    a = result.forecasts.filter(pl.col("article_id") == "a")
    assert a["mean"].to_list() == [0.0, 0.0]


def test_objective_direction(panel: pl.DataFrame) -> None:
    models = [Recorder("low", 0.5), Recorder("good", 2.0)]
    by_mae = run_backtest(panel, models, make_config(objective="mae"), make_dataset(panel))
    assert by_mae.leaderboard["mae"].is_sorted()
    by_profit = run_backtest(panel, models, make_config(objective="profit"), make_dataset(panel))
    assert by_profit.leaderboard["profit"].is_sorted(descending=True)


def test_duplicate_model_names_are_rejected(panel: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unique model names"):
        run_backtest(panel, [Recorder("m", 1.0), Recorder("m", 2.0)], make_config(), make_dataset(panel))


def test_backtest_with_a_statsforecast_baseline(panel: pl.DataFrame) -> None:
    result = run_backtest(panel, [StatsForecastModel("naive")], make_config(), make_dataset(panel))
    assert result.champion == "naive"
    assert result.forecasts.filter(pl.col("article_id") == "a")["mean"].unique().to_list() == [2.0]


def test_predict_all_forecasts_active_series_and_lists_cold_starts(panel: pl.DataFrame) -> None:
    articles = pl.DataFrame(
        {
            "article_id": ["a", "b", "c", "new", "later"],
            "is_future": [False, False, False, True, True],
            "launch_date": [None, None, None, None, week(14) + timedelta(days=2)],
        },
        schema_overrides={"launch_date": pl.Date},
    )
    ds = make_dataset(panel, articles)
    config = make_config(horizon=3)
    out = predict_all(ds, panel, config, "naive")
    assert out.columns == ["article_id", "store_id", "week", "horizon", "model", "mean", "q10", "q50", "q90",
                           "price"]  # fmt: skip
    assert sorted(set(out["article_id"])) == ["a", "c"]  # b is not active at week 11
    assert out.filter(pl.col("article_id") == "c")["week"].to_list() == [week(12), week(13), week(14)]
    assert out.rows() == out.sort("article_id", "store_id", "week").rows()
    cold = cold_start_series(ds, panel, week(11))
    assert cold.height == 2 * 2  # two new articles × two stores
    launches = dict(cold.select("article_id", "launch_week").unique().iter_rows())
    assert launches == {"new": week(12), "later": week(14)}
    with pytest.raises(ConfigError, match="unknown model .prophet."):
        predict_all(ds, panel, config, "prophet")


def test_cold_start_rows_start_at_their_own_launch_week(panel: pl.DataFrame) -> None:
    articles = pl.DataFrame(
        {
            "article_id": ["a", "b", "c", "past", "coming", "undated"],
            "is_future": [False, False, False, True, True, True],
            # a launch inside the history (a Wednesday) and one after it
            "launch_date": [None, None, None, week(5) + timedelta(days=2), week(15), None],
        },
        schema_overrides={"launch_date": pl.Date},
    )
    cold = cold_start_series(make_dataset(panel, articles), panel, week(11))
    launches = dict(cold.select("article_id", "launch_week").unique().iter_rows())
    assert launches == {"past": week(5), "coming": week(15), "undated": week(12)}


def test_forecasts_after_the_planned_end_of_sale_are_zero(panel: pl.DataFrame) -> None:
    articles = pl.DataFrame(
        {"article_id": ["a", "b", "c"], "end_date": [week(12) + timedelta(days=6), None, week(30)]},
        schema_overrides={"end_date": pl.Date},
    )
    out = predict_all(make_dataset(panel, articles), panel, make_config(horizon=3), "naive")
    a = out.filter(pl.col("article_id") == "a").sort("week")
    assert a["week"].to_list() == [week(12), week(13), week(14)]
    assert a["mean"].to_list() == [2.0, 0.0, 0.0]
    assert a.tail(2).select(pl.col("q10", "q50", "q90")).to_numpy().max() == 0.0
    assert out.filter(pl.col("article_id") == "c")["mean"].to_list() == [5.0] * 3


def test_active_series_are_not_zero_filled_past_their_end_of_sale(panel: pl.DataFrame) -> None:
    ends = pl.DataFrame(
        {"article_id": ["b"], "end_week": [week(5)]}, schema={"article_id": pl.Utf8, "end_week": pl.Date}
    )
    hist, active = history_at(panel, week(7), active_weeks=3, ends=ends)
    assert ("b", "s1") in active.rows()
    assert hist.filter(pl.col("article_id") == "b")["week"].max() == week(5)


def test_one_week_of_sales_stops_with_one_line() -> None:
    sales = pl.DataFrame(
        {"date": [date(2020, 9, 16), date(2020, 9, 22)], "store_id": "1", "article_id": "a", "units": 1.0}
    )
    ds = Dataset("hm", sales=sales, articles=pl.DataFrame({"article_id": ["a"]}), stores=pl.DataFrame())
    with pytest.raises(InputError, match="too short to backtest") as info:
        check_history(ds, make_config(folds=1, horizon=4))
    message = str(info.value)
    assert "\n" not in message
    assert "2 calendar week(s)" in message
    assert "transactions_train.csv" in message


def test_simulated_data_gets_an_oracle_that_never_becomes_champion() -> None:
    from forecast.config import SimulateConfig
    from forecast.panel import build_panel
    from forecast.simulate import simulate_dataset

    ds = simulate_dataset(SimulateConfig(articles=30, stores=3, weeks=40, seed=3))
    frame = build_panel(ds).collect()
    config = make_config(folds=2, step=2, horizon=3)
    result = run_backtest(frame, [StatsForecastModel("naive")], config, ds)
    assert set(result.leaderboard["model"]) == {"naive", "oracle"}
    assert result.champion == "naive"
    rows = result.forecasts.filter(pl.col("model") == "oracle")
    assert ds.true_demand is not None
    truth = ds.true_demand.select("article_id", "store_id", "week", "expected_demand")
    joined = rows.join(truth, on=["article_id", "store_id", "week"], how="inner")
    assert joined.height > 0
    assert (joined["mean"] - joined["expected_demand"]).abs().max() < 1e-9
    assert (rows["q10"] <= rows["q50"]).all()
    assert (rows["q50"] <= rows["q90"]).all()
