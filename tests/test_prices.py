"""Price plans: the prices table's validation, plans at an origin, price features, the monotone response and
the simulator's ground truth kept away from the adapters."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from forecast.adapters.canonical import load_canonical, with_price_file
from forecast.backtest import history_at
from forecast.config import DataConfig, SimulateConfig
from forecast.dataset import Dataset
from forecast.features import FeatureSpec, horizon_features
from forecast.models.lgbm import LightGBMForecaster
from forecast.panel import build_panel
from forecast.prices import carried_message, price_plan, with_override
from forecast.simulate import simulate_dataset, true_price_response, write_canonical

MON = date(2024, 1, 1)
SIM = SimulateConfig(articles=40, stores=3, weeks=70, seed=5)


@pytest.fixture(scope="module")
def sim() -> Dataset:
    return simulate_dataset(SIM)


@pytest.fixture(scope="module")
def folder(sim: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    write_canonical(sim, out, true_price_response(SIM))
    return out


def test_the_simulator_plans_prices_after_the_history(sim: Dataset) -> None:
    assert sim.prices is not None
    last = sim.sales["date"].max()
    assert isinstance(last, date)
    later = sim.prices.filter(pl.col("week") > last)
    assert later.height > 0
    assert (later["price"] > 0).all()
    # the plan marks down: some planned weeks are below the list price
    listed = later.join(sim.articles.select("article_id", "list_price"), on="article_id")
    assert (listed["price"] < listed["list_price"] - 0.01).any()


def test_bad_price_rows_are_rejected_with_reasons_and_counts_reconcile(folder: Path, tmp_path: Path) -> None:
    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    lines = (tmp_path / "prices.csv").read_text().splitlines()
    first = lines[1].split(",")
    bad = [
        ",".join([first[0], "ALL", first[2], "-3.0", "0"]),  # negative price
        ",".join([first[0], "ALL", "not-a-date", "5.0", "0"]),  # bad week
        ",".join([first[0], "ALL", "2030-01-07", "5.0", "2"]),  # promo not 0/1
    ]
    (tmp_path / "prices.csv").write_text("\n".join([*lines, *bad]) + "\n")
    ds = load_canonical(DataConfig(adapter="canonical", path=tmp_path))
    rejects = ds.rejects.filter(pl.col("file") == "prices.csv")
    assert rejects["row"].n_unique() == 3
    assert set(rejects["column"].to_list()) == {"price", "week", "promo"}
    assert ds.prices is not None
    assert ds.rows_kept()["prices.csv"] == ds.prices.height == len(lines) - 1


def test_a_price_file_replaces_only_the_planned_weeks(sim: Dataset, tmp_path: Path) -> None:
    assert sim.prices is not None
    last = sim.sales["date"].max()
    assert isinstance(last, date)
    article = sim.prices.filter(pl.col("week") > last)["article_id"][0]
    weeks = [last - timedelta(weeks=1), last + timedelta(weeks=1)]
    path = tmp_path / "plan.csv"
    pl.DataFrame({"article_id": article, "store_id": "ALL", "week": weeks, "price": [1.0, 2.0]}).write_csv(
        path
    )
    out = with_price_file(sim, path, DataConfig())
    assert out.prices is not None
    rows = out.prices.filter(pl.col("article_id") == article)
    assert rows.filter(pl.col("week") == weeks[1])["price"].to_list() == [2.0]
    # the charged week is history: the file's row for it is left out
    assert 1.0 not in rows["price"].to_list()
    assert out.rows_read["plan.csv"] == 2


def test_override_rows_win_key_by_key() -> None:
    prices = pl.DataFrame(
        {"article_id": ["a", "a", "a"], "store_id": "ALL",
         "week": [MON + timedelta(weeks=k) for k in range(3)], "price": [10.0, 10.0, 10.0]}
    )  # fmt: skip
    override = pl.DataFrame({"article_id": ["a"], "store_id": ["ALL"], "week": [MON + timedelta(weeks=2)],
                             "price": [6.0]})  # fmt: skip
    out = with_override(prices, override, MON)
    assert out.sort("week")["price"].to_list() == [10.0, 10.0, 6.0]


def _panel(prices: pl.DataFrame | None = None) -> pl.DataFrame:
    sales = pl.DataFrame(
        {"date": [MON + timedelta(weeks=k) for k in range(6)], "store_id": "s1", "article_id": "a",
         "units": [3.0, 2.0, 4.0, 3.0, 5.0, 2.0], "price": 10.0}
    )  # fmt: skip
    articles = pl.DataFrame({"article_id": ["a"], "list_price": [10.0]})
    ds = Dataset("t", sales, articles, pl.DataFrame({"store_id": ["s1"]}), prices=prices)
    return build_panel(ds).collect()


def test_a_plan_takes_the_table_and_carries_the_last_price_forward_and_says_so() -> None:
    origin = MON + timedelta(weeks=5)
    prices = pl.DataFrame({"article_id": ["a"], "store_id": ["s1"], "week": [origin + timedelta(weeks=1)],
                           "price": [7.0], "promo": [1.0]})  # fmt: skip
    series = pl.DataFrame({"article_id": ["a"], "store_id": ["s1"]})
    plan = price_plan(_panel(), prices, origin, 3, series)
    assert plan["price"].to_list() == [7.0, 10.0, 10.0]
    assert plan["planned"].to_list() == [True, False, False]
    assert plan["promo"].to_list() == [1.0, 0.0, 0.0]
    message = carried_message(plan)
    assert message is not None
    assert "2 series × week(s)" in message
    assert carried_message(plan.filter(pl.col("planned"))) is None


def test_the_panel_charges_the_tables_price() -> None:
    prices = pl.DataFrame({"article_id": ["a"], "store_id": ["ALL"], "week": [MON + timedelta(weeks=2)],
                           "price": [6.0]})  # fmt: skip
    panel = _panel(prices)
    assert panel["price"].to_list() == [10.0, 10.0, 6.0, 10.0, 10.0, 10.0]
    assert panel["discount"].to_list()[2] == pytest.approx(0.4)


def test_price_features_agree_with_a_hand_computation() -> None:
    panel = _panel().with_columns(
        pl.Series("price", [10.0, 10.0, 8.0, 8.0, 6.0, 10.0]),
    )
    origin = MON + timedelta(weeks=1)
    rows = horizon_features(panel, FeatureSpec(lags=(1,), windows=(2,)), [origin], 4)
    assert rows["f_price_rel_list"].to_list() == pytest.approx([0.8, 0.8, 0.6, 1.0])
    assert rows["f_discount"].to_list() == pytest.approx([0.2, 0.2, 0.4, 0.0])
    assert rows["f_markdown_weeks"].to_list() == [1.0, 2.0, 3.0, 0.0]
    # the recent price is the mean of the weeks up to the origin (10, 10)
    assert rows["f_price_rel_recent"].to_list() == pytest.approx([0.8, 0.8, 0.6, 1.0])


@pytest.fixture(scope="module")
def fitted(sim: Dataset) -> tuple[LightGBMForecaster, pl.DataFrame, pl.DataFrame, date]:
    panel = build_panel(sim).collect()
    origin = panel["week"].max()
    assert isinstance(origin, date)
    hist, active = history_at(panel, origin, 8)
    model = LightGBMForecaster(
        seed=1, params={"num_iterations": 40, "min_data_in_leaf": 20, "num_leaves": 15}, max_horizon=4
    )
    return model.fit(hist, origin), hist, active, origin


def _plan_at(hist: pl.DataFrame, active: pl.DataFrame, origin: date, discount: float) -> pl.DataFrame:
    plan = price_plan(hist, None, origin, 4, active)
    return plan.with_columns((pl.col("list_price") * (1.0 - discount)).alias("price"))


def test_a_lower_planned_price_never_lowers_the_mean(
    fitted: tuple[LightGBMForecaster, pl.DataFrame, pl.DataFrame, date],
) -> None:
    model, hist, active, origin = fitted
    means = [
        model.with_prices(_plan_at(hist, active, origin, d)).predict(4, active).sort("article_id", "store_id",
                                                                                   "week")["mean"].to_numpy()
        for d in (0.0, 0.2, 0.4, 0.6)
    ]  # fmt: skip
    for higher, lower in zip(means, means[1:], strict=False):
        assert (lower >= higher - 1e-9).all()
    # and the response is there: deep markdowns forecast more in total
    assert means[-1].sum() > 1.2 * means[0].sum()


def test_predictions_without_a_plan_carry_the_last_price(
    fitted: tuple[LightGBMForecaster, pl.DataFrame, pl.DataFrame, date],
) -> None:
    model, hist, active, origin = fitted
    carried = price_plan(hist, None, origin, 4, active)
    plain = model.predict(4, active)
    planned = model.with_prices(carried).predict(4, active)
    assert np.allclose(plain["mean"].to_numpy(), planned["mean"].to_numpy())


def test_no_adapter_reads_the_ground_truth_price_response(folder: Path, tmp_path: Path) -> None:
    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    # a file no reader could parse: loading must not touch it
    (tmp_path / "true_price_response.csv").write_bytes(b"\x00\xff garbage, not a table\n\x00")
    ds = load_canonical(DataConfig(adapter="canonical", path=tmp_path))
    assert "true_price_response.csv" not in ds.rows_read
    assert not ds.rejects.filter(pl.col("file") == "true_price_response.csv").height
    sources = Path(__file__).parents[1] / "forecast"
    readers = [*sources.glob("adapters/*.py"), *sources.glob("models/*.py"), *sources.glob("features/*.py")]
    assert readers
    assert not [p.name for p in readers if "true_price_response" in p.read_text()]


def test_a_censored_weeks_imputed_demand_is_at_least_its_sales_and_matches_a_brute_force() -> None:
    from scipy.stats import nbinom

    from forecast.censoring import expected_demand_above

    sales = np.array([0.0, 1.0, 3.0, 7.0, 25.0, 4.0])
    mean = np.array([2.0, 0.5, 3.0, 2.0, 1.0, 9.0])
    got = expected_demand_above(sales, mean, 2.0)
    assert (got >= sales).all()
    d = np.arange(5_000)
    for s, mu, value in zip(sales, mean, got, strict=True):
        pmf = nbinom.pmf(d, 2.0, 2.0 / (2.0 + mu))
        tail = d >= s
        if pmf[tail].sum() > 1e-10:
            assert value == pytest.approx((d[tail] * pmf[tail]).sum() / pmf[tail].sum(), rel=1e-6)


def test_uncensor_imputes_only_censored_weeks_from_their_neighbours() -> None:
    from forecast.censoring import uncensor
    from forecast.config import DemandConfig

    weeks = [MON + timedelta(weeks=k) for k in range(7)]
    history = pl.DataFrame(
        {"article_id": "a", "store_id": "s1", "week": weeks, "units": [4.0, 4.0, 4.0, 1.0, 4.0, 4.0, 0.0],
         "returns_units": 0.0, "censored": [False, False, False, True, False, False, True]}
    )  # fmt: skip
    out = uncensor(history, DemandConfig(window=3))
    assert out.columns == history.columns
    assert not out["censored"].any()
    units = out["units"].to_list()
    assert units[:3] == [4.0, 4.0, 4.0]
    assert units[4:6] == [4.0, 4.0]
    assert units[3] >= 4.0  # E[D | D >= 1] around a mean of 4
    assert units[6] == pytest.approx(4.0)  # sold out with nothing on the shelf: the neighbours' mean
    assert uncensor(history, DemandConfig(censoring="drop")).equals(history)


def test_forecast_under_prices_gives_coherent_rows_with_the_assumed_price(
    fitted: tuple[LightGBMForecaster, pl.DataFrame, pl.DataFrame, date],
) -> None:
    from forecast.whatif import forecast_under_prices

    model, hist, active, origin = fitted
    plan = _plan_at(hist, active, origin, 0.3)
    out = forecast_under_prices(model, plan, 4, active)
    assert out.height == active.height * 4
    assert out.columns[-1] == "price"
    assert (out["q10"] <= out["q50"]).all()
    assert (out["q50"] <= out["q90"]).all()
    joined = out.join(plan.select("article_id", "store_id", "week", pl.col("price").alias("p")),
                      on=["article_id", "store_id", "week"])  # fmt: skip
    assert (joined["price"] == joined["p"]).all()


def test_the_report_compares_planned_markdowns_with_full_price(
    sim: Dataset, fitted: tuple[LightGBMForecaster, pl.DataFrame, pl.DataFrame, date]
) -> None:
    from forecast.whatif import planned_markdowns, planned_markdowns_figure

    model, hist, active, origin = fitted
    plan = _plan_at(hist, active, origin, 0.4)
    forecasts = (
        model.with_prices(plan)
        .predict(4, active)
        .join(plan.select("article_id", "store_id", "week", "price"), on=["article_id", "store_id", "week"])
    )
    comparison = planned_markdowns(model, forecasts, sim, n=2)
    assert comparison["article_id"].n_unique() == 2
    assert (comparison["planned_units"] >= comparison["full_price_units"] - 1e-6).all()
    assert comparison["planned_units"].sum() > comparison["full_price_units"].sum()
    assert planned_markdowns_figure(comparison).axes


def test_a_censored_markdown_week_is_imputed_from_weeks_at_its_own_price() -> None:
    from forecast.censoring import uncensor
    from forecast.config import DemandConfig

    weeks = [MON + timedelta(weeks=k) for k in range(6)]
    history = pl.DataFrame(
        {"article_id": "a", "store_id": "s1", "week": weeks, "units": [4.0, 4.0, 4.0, 12.0, 0.0, 12.0],
         "returns_units": 0.0, "price": [10.0, 10.0, 10.0, 5.0, 5.0, 5.0],
         "censored": [False, False, False, False, True, False]}
    )  # fmt: skip
    out = uncensor(history, DemandConfig(window=3))
    assert out["units"][4] == pytest.approx(12.0)  # not the 8.8 of every neighbour
