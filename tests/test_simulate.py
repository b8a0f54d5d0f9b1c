"""The synthetic retailer: determinism, canonical contract, and the retail effects it must contain."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import forecast.simulate.hm as hm_module
from forecast.config import DataConfig, SimulateConfig
from forecast.dataset import Dataset
from forecast.errors import ConfigError
from forecast.simulate import (
    HM_LINES_PER_ARTICLE_WEEK,
    default_target_lines,
    simulate_dataset,
    write_canonical,
    write_hm,
)
from forecast.simulate.demand import week_factor

KEYS = ["week", "store_id", "article_id"]
CFG = SimulateConfig(articles=120, stores=6, weeks=60, seed=11)


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return simulate_dataset(CFG)


@pytest.fixture(scope="module")
def weekly(ds: Dataset) -> pl.DataFrame:
    """True demand beside the units sold, the units returned and the end-of-week stock."""
    sold = ds.sales.filter(pl.col("units") > 0).select(
        pl.col("date").alias("week"), "store_id", "article_id", pl.col("units").alias("sold")
    )
    assert ds.true_demand is not None
    assert ds.stock is not None
    return (
        ds.true_demand.join(ds.stock, on=KEYS, how="full", coalesce=True)
        .join(sold, on=KEYS, how="left")
        .with_columns(pl.col("sold").fill_null(0.0))
    )


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    write_canonical(simulate_dataset(CFG), tmp_path / "a")
    write_canonical(simulate_dataset(CFG), tmp_path / "b")
    other = SimulateConfig(articles=CFG.articles, stores=CFG.stores, weeks=CFG.weeks, seed=CFG.seed + 1)
    write_canonical(simulate_dataset(other), tmp_path / "c")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "sales.csv").read_bytes() != (tmp_path / "c" / "sales.csv").read_bytes()


def test_canonical_files_use_the_reader_names_and_round_trip(ds: Dataset, tmp_path: Path) -> None:
    written = write_canonical(ds, tmp_path)
    names = DataConfig()
    expected = {names.sales, names.articles, names.stores, names.stock, names.dc_stock, "true_demand.csv"}
    expected |= {"prices.csv"}
    assert {p.name for p in written} == expected
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    back = pl.read_csv(tmp_path / names.sales, try_parse_dates=True, schema_overrides={"units": pl.Float64})
    assert back.equals(ds.sales)


def test_canonical_files_load_back_through_the_canonical_adapter(ds: Dataset, tmp_path: Path) -> None:
    from forecast.adapters.canonical import load_canonical

    write_canonical(ds, tmp_path)
    back = load_canonical(DataConfig(adapter="canonical", path=tmp_path))
    assert back.rejects.height == 0
    assert back.article_attributes == ds.article_attributes
    assert back.store_attributes == ds.store_attributes
    for table in ("sales", "articles", "stores", "stock", "dc_stock", "true_demand", "prices"):
        ours, theirs = getattr(ds, table), getattr(back, table)
        assert theirs is not None, table
        assert theirs.schema == ours.schema, table
        assert theirs.height == ours.height, table


def test_tables_follow_the_canonical_contract(ds: Dataset) -> None:
    assert ds.sales.schema == pl.Schema(
        {
            "date": pl.Date,
            "store_id": pl.Utf8,
            "article_id": pl.Utf8,
            "units": pl.Float64,
            "price": pl.Float64,
        }
    )
    required = ["article_id", "category", "launch_date", "list_price", "unit_cost", "is_future"]
    assert ds.articles.columns == [*required, "end_date", *ds.article_attributes]
    assert ds.articles.schema["end_date"] == pl.Date
    assert ds.articles.schema["launch_date"] == pl.Date
    assert ds.articles.schema["is_future"] == pl.Boolean
    assert ds.stores.columns == ["store_id", "capacity_units", *ds.store_attributes]
    assert ds.store_attributes == ["region", "size_sqm", "cluster"]
    assert ds.stock is not None
    assert ds.stock.columns == [*KEYS, "on_hand"]
    assert ds.true_demand is not None
    assert ds.true_demand.columns == [*KEYS, "demand", "expected_demand"]
    assert ds.dc_stock is not None
    assert ds.dc_stock.columns == [
        "article_id",
        "available_units",
        "pack_size",
        "unit_cost",
        "price",
        "holding_cost",
    ]
    assert ds.articles["article_id"].is_unique().all()
    assert ds.stores["store_id"].is_unique().all()
    assert ds.grain == "weekly"
    assert ds.week_label == "MON"
    assert not ds.week_label_is_end
    assert ds.rows_read["sales.csv"] == ds.sales.height


def test_ids_and_weeks(ds: Dataset) -> None:
    assert all(re.fullmatch(r"S\d{3}", s) for s in ds.stores["store_id"])
    assert all(re.fullmatch(r"A\d{5}", a) for a in ds.articles["article_id"])
    dates = ds.sales["date"].unique()
    assert all(d.weekday() == 0 for d in dates)
    assert (dates >= CFG.start).all()
    assert (dates <= CFG.start + timedelta(weeks=CFG.weeks - 1)).all()


def test_every_sales_key_is_in_the_master_data(ds: Dataset) -> None:
    assert ds.sales.join(ds.articles, on="article_id", how="anti").height == 0
    assert ds.sales.join(ds.stores, on="store_id", how="anti").height == 0


def test_sales_never_exceed_true_demand_and_stockouts_censor_them(weekly: pl.DataFrame) -> None:
    assert weekly["demand"].null_count() == 0
    assert weekly["on_hand"].null_count() == 0
    assert (weekly["sold"] <= weekly["demand"]).all()
    censored = weekly.filter(pl.col("sold") < pl.col("demand"))
    # demand goes unmet only when the shelf ran empty that week
    assert (censored["on_hand"] == 0).all()
    assert censored.height > 0.02 * weekly.height
    assert censored["week"].n_unique() > 10
    assert (weekly["on_hand"] >= 0).all()


def test_store_demand_is_intermittent_with_retail_magnitudes(weekly: pl.DataFrame) -> None:
    demand = weekly["demand"].to_numpy()
    assert 0.1 < np.mean(demand == 0) < 0.7
    assert np.quantile(demand, 0.99) <= 50
    assert demand.max() > 10


def test_returns_come_back_later_as_negative_units(ds: Dataset) -> None:
    returns = ds.sales.filter(pl.col("units") < 0)
    sold = ds.sales.filter(pl.col("units") > 0)
    share = -np.sum(returns["units"].to_numpy()) / np.sum(sold["units"].to_numpy())
    assert 0.01 < share < 0.08
    # each return follows a sale of the same article in the same store 1-3 weeks earlier
    earlier = returns.join(sold, on=["store_id", "article_id"], suffix="_sale").filter(
        (pl.col("date") - pl.col("date_sale")).dt.total_days().is_between(7, 21)
    )
    assert earlier.select("date", "store_id", "article_id").n_unique() == returns.height


def test_markdowns_lower_prices_and_lift_demand(ds: Dataset) -> None:
    assert ds.true_demand is not None
    prices = (
        ds.sales.filter(pl.col("units") > 0)
        .join(ds.articles.select("article_id", "list_price"), on="article_id")
        .with_columns(discount=1 - pl.col("price") / pl.col("list_price"))
    )
    discount = prices["discount"].to_numpy()
    assert discount.min() >= 0
    assert discount.max() <= 0.6 + 1e-9
    assert np.mean(discount > 0.15) > 0.1
    first_markdown = prices.filter(pl.col("discount") > 0).group_by("article_id").agg(md=pl.col("date").min())
    chain = ds.true_demand.group_by("article_id", "week").agg(pl.col("demand").sum())
    window = (
        chain.join(first_markdown, on="article_id")
        .with_columns(offset=(pl.col("week") - pl.col("md")).dt.total_days() // 7)
        .filter(pl.col("offset").is_between(-2, 1))
        .group_by("article_id")
        .agg(
            before=pl.col("demand").filter(pl.col("offset") < 0).sum(),
            after=pl.col("demand").filter(pl.col("offset") >= 0).sum(),
        )
    )
    assert window.height > 20
    assert np.sum(window["after"].to_numpy()) > 1.2 * np.sum(window["before"].to_numpy())


def test_cold_start_articles_launch_after_the_last_week_without_sales(ds: Dataset) -> None:
    future = ds.articles.filter("is_future")
    assert 0.05 <= future.height / ds.articles.height <= 0.10
    last_week = CFG.start + timedelta(weeks=CFG.weeks - 1)
    assert (future["launch_date"] > last_week).all()
    assert ds.sales.join(future, on="article_id", how="semi").height == 0
    assert ds.dc_stock is not None
    assert future.join(ds.dc_stock, on="article_id", how="anti").height == 0
    assert (ds.articles.filter(~pl.col("is_future"))["launch_date"] <= last_week).all()


def test_prices_costs_and_dc_stock_are_consistent(ds: Dataset) -> None:
    ratio = ds.articles["unit_cost"] / ds.articles["list_price"]
    assert ratio.is_between(0.39, 0.61).all()
    dc = ds.dc_stock
    assert dc is not None
    assert dc.height > 0
    assert set(dc["pack_size"].unique()) <= {1, 2, 4, 6, 10}
    assert (dc["available_units"] % dc["pack_size"] == 0).all()
    assert (dc["available_units"] >= dc["pack_size"]).all()
    assert (dc["holding_cost"] > 0).all()
    assert (dc["price"] > dc["unit_cost"] * 0.6).all()
    assert (ds.stores["capacity_units"] > 0).all()


def test_default_config_builds_the_full_demo() -> None:
    ds = simulate_dataset(SimulateConfig())
    assert ds.articles.height == 240
    assert ds.stores.height == 12
    assert ds.sales["date"].n_unique() == 104
    assert ds.sales["store_id"].n_unique() == 12
    assert set(ds.stores["region"].unique()) <= {"north", "south", "east", "west", "central"}
    assert set(ds.articles["category"].unique()) == {
        "tops", "dresses", "trousers", "knitwear", "outerwear", "accessories"
    }  # fmt: skip


def test_simulate_config_checks_its_start() -> None:
    with pytest.raises(ConfigError, match="Monday"):
        SimulateConfig(start=date(2023, 1, 3))
    assert SimulateConfig(start="2024-01-01").start == date(2024, 1, 1)  # type: ignore[arg-type]


def test_holiday_weeks_lift_demand() -> None:
    start = date(2023, 1, 2)
    factor = week_factor(start, 104, seasonal=False)
    index = {(start + timedelta(weeks=i)): i for i in range(104)}
    assert factor[index[date(2023, 11, 20)]] > 1.5  # Black Friday week
    assert factor[index[date(2023, 12, 18)]] > 1.4  # the week before Christmas
    assert factor[index[date(2023, 4, 3)]] > 1.2  # Easter week
    assert factor[index[date(2023, 2, 6)]] == 1.0


# --- H&M format ---


def test_hm_lines_default_to_the_hm_volume() -> None:
    assert default_target_lines(105_542, 12, 104) == pytest.approx(31_788_324, rel=1e-6)
    assert HM_LINES_PER_ARTICLE_WEEK == pytest.approx(2.896, abs=1e-3)


def test_hm_writes_in_bounded_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    heights: list[int] = []
    original = hm_module._write_chunk

    def spy(handle, chunk, customers, articles):  # type: ignore[no-untyped-def]
        heights.append(chunk.height)
        original(handle, chunk, customers, articles)

    monkeypatch.setattr(hm_module, "_write_chunk", spy)
    summary = write_hm(tmp_path, articles=300, stores=4, weeks=6, seed=2, max_chunk_lines=100)
    target = default_target_lines(300, 4, 6)
    assert len(heights) == summary.chunks > 6
    assert max(heights) <= 100
    lines = (tmp_path / "transactions_train.csv").read_text().splitlines()
    assert len(lines) - 1 == summary.lines == sum(heights)
    assert abs(summary.lines - target) < 0.1 * target


def test_hm_files_are_valid_and_deterministic(tmp_path: Path) -> None:
    write_hm(tmp_path / "a", articles=200, stores=2, weeks=8, seed=4)
    write_hm(tmp_path / "b", articles=200, stores=2, weeks=8, seed=4)
    write_hm(tmp_path / "c", articles=200, stores=2, weeks=8, seed=5)
    for name in ("transactions_train.csv", "articles.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "articles.csv").read_bytes() != (tmp_path / "c" / "articles.csv").read_bytes()
    tx = pl.read_csv(tmp_path / "a" / "transactions_train.csv", infer_schema=False)
    catalogue = pl.read_csv(tmp_path / "a" / "articles.csv", infer_schema=False)
    assert tx["article_id"].str.contains(r"^\d{10}$").all()
    assert tx["customer_id"].str.contains(r"^[0-9a-f]{64}$").all()
    assert set(tx["sales_channel_id"].unique()) == {"1", "2"}
    price = tx["price"].cast(pl.Float64)
    assert price.is_between(0.0, 0.5, closed="none").all()
    assert 0.01 < np.mean(price.to_numpy()) < 0.1
    assert tx.join(catalogue, on="article_id", how="anti").height == 0
    assert (
        catalogue["article_id"]
        .str.slice(0, 7)
        .cast(pl.Int64)
        .equals(catalogue["product_code"].cast(pl.Int64))
    )
    days = tx["t_dat"].str.to_date()
    assert days.is_between(date(2018, 9, 17), date(2018, 9, 17) + timedelta(weeks=8), closed="left").all()
    assert tx.join(catalogue, on="article_id", how="semi")["article_id"].n_unique() < catalogue.height


@pytest.mark.realdata
def test_hm_schema_matches_the_real_hm_headers(hm_dir: Path, tmp_path: Path) -> None:
    write_hm(tmp_path, articles=50, stores=1, weeks=2, seed=1)
    for ours, theirs in (
        ("articles.csv", "articles.csv"),
        ("transactions_train.csv", "transactions_last_week.csv"),
    ):
        with (tmp_path / ours).open() as mine, (hm_dir / theirs).open() as source:
            assert mine.readline() == source.readline()
    real = pl.read_csv(hm_dir / "articles.csv", n_rows=200, schema_overrides={"article_id": pl.Utf8})
    ours_frame = pl.read_csv(tmp_path / "articles.csv", schema_overrides={"article_id": pl.Utf8})
    assert ours_frame.schema == real.schema
    assert np.all(ours_frame["article_id"].str.len_chars().to_numpy() == 10)


def test_true_demand_carries_the_expected_rate_it_was_drawn_from(ds: Dataset) -> None:
    truth = ds.true_demand
    assert truth is not None
    assert truth["expected_demand"].min() >= 0.0
    # the realised demand is drawn around the rate: over ~10k cells the totals agree within a few percent
    ratio = truth["demand"].sum() / truth["expected_demand"].sum()
    assert 0.95 < ratio < 1.05
    assert truth.filter(pl.col("demand") > 0)["expected_demand"].min() > 0.0


def test_articles_carry_their_planned_end_of_sale(ds: Dataset) -> None:
    articles = ds.articles
    assert (articles["end_date"] >= articles["launch_date"]).all()
    assert (articles["end_date"].dt.weekday() == 7).all()  # the Sunday ending the last week on sale
    assert ds.true_demand is not None
    after = ds.true_demand.join(articles.select("article_id", "end_date"), on="article_id").filter(
        pl.col("week") > pl.col("end_date")
    )
    assert after.height == 0
    sold = ds.sales.filter(pl.col("units") > 0).join(
        articles.select("article_id", "end_date"), on="article_id"
    )
    assert sold.filter(pl.col("date") > pl.col("end_date")).height == 0
