"""Canonical folder adapter: the contract as files (CSV or Parquet), grain inference, fatal problems."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from forecast.adapters.canonical import load_canonical
from forecast.config import DataConfig
from forecast.errors import InputError
from forecast.validation import check_dataset

SALES = """date,store_id,article_id,units,price
2024-01-01,s1,a1,3,9.99
2024-01-08,s1,a1,-1,9.99
2024-01-01,s2,a2,2,
2024-01-08,s2,a2,x,5
"""
ARTICLES = (
    "article_id,category,launch_date,list_price,unit_cost,colour\na1,tops,2023-12-25,12,6,red\na2,,,,,blue\n"
)
STORES = "store_id,capacity_units,ship_cost,region\ns1,100,0.5,north\ns2,,1,south\n"


def make_canonical(folder: Path, **files: str) -> DataConfig:
    folder.mkdir(parents=True, exist_ok=True)
    contents = {"sales.csv": SALES, "articles.csv": ARTICLES, "stores.csv": STORES}
    contents |= {name.replace("_csv", ".csv"): text for name, text in files.items()}
    for name, text in contents.items():
        if text:
            (folder / name).write_text(text, encoding="utf-8")
    return DataConfig(adapter="canonical", path=folder)


def test_canonical_tables_and_rejects(tmp_path: Path) -> None:
    ds = load_canonical(make_canonical(tmp_path))
    check_dataset(ds)
    assert ds.grain == "weekly"
    assert ds.week_label == "MON"
    assert ds.sales.select("store_id", "article_id", "units", "price").rows() == [
        ("s1", "a1", 3.0, 9.99),
        ("s1", "a1", -1.0, 9.99),
        ("s2", "a2", 2.0, None),
    ]
    assert ds.rejects.select("file", "row", "column", "reason").rows() == [
        ("sales.csv", 4, "units", "unparsable number")
    ]
    assert ds.rows_read == {"articles.csv": 2, "stores.csv": 2, "sales.csv": 4}
    assert ds.articles["is_future"].to_list() == [False, False]
    assert ds.articles["launch_date"].to_list() == [dt.date(2023, 12, 25), None]
    assert ds.article_attributes == ["colour"]
    assert ds.store_attributes == ["ship_cost", "region"]
    assert ds.stores.schema["ship_cost"] == pl.Float64
    assert ds.stores.schema["region"] == pl.Utf8
    assert ds.stock is None
    assert ds.true_demand is None


def test_canonical_transactions_grain(tmp_path: Path) -> None:
    sales = "date,store_id,article_id,units\n2024-01-01,s1,a1,1\n2024-01-01,s1,a1,1\n2024-01-03,s1,a1,1\n"
    ds = load_canonical(make_canonical(tmp_path, sales_csv=sales))
    assert ds.grain == "transactions"


def test_canonical_weekly_with_returns_on_own_rows(tmp_path: Path) -> None:
    sales = "date,store_id,article_id,units\n2024-01-01,s1,a1,5\n2024-01-01,s1,a1,-1\n2024-01-08,s1,a1,2\n"
    ds = load_canonical(make_canonical(tmp_path, sales_csv=sales))
    assert ds.grain == "weekly"
    assert ds.sales["units"].to_list() == [5.0, -1.0, 2.0]


def test_canonical_weekly_label_follows_weekday(tmp_path: Path) -> None:
    sales = "date,store_id,article_id,units\n2024-01-05,s1,a1,1\n2024-01-12,s1,a1,1\n"
    assert load_canonical(make_canonical(tmp_path, sales_csv=sales)).week_label == "FRI"


def test_canonical_optional_tables_and_parquet(tmp_path: Path) -> None:
    stock = "week,store_id,article_id,on_hand\n2024-01-01,s1,a1,4\n2024-01-01,s2,a2,-3\n"
    truth = "week,store_id,article_id,demand\n2024-01-01,s1,a1,3.5\n"
    dc = "article_id,available_units,pack_size,unit_cost,price\na1,100,6,5,10\n"
    exog = "week,temperature\n2024-01-01,3.5\n"
    config = make_canonical(tmp_path, stock_csv=stock, true_demand_csv=truth, dc_stock_csv=dc, exog_csv=exog)
    pl.read_csv(tmp_path / "sales.csv").write_parquet(tmp_path / "sales.parquet")
    (tmp_path / "sales.csv").unlink()
    ds = load_canonical(config)
    check_dataset(ds)
    assert ds.rows_read["sales.parquet"] == 4
    assert ds.stock is not None
    assert ds.stock.height == 1
    assert ds.rejects.filter(file="stock.csv").select("row", "reason").rows() == [
        (2, "negative on_hand (must be >= 0)")
    ]
    assert ds.true_demand is not None
    assert ds.true_demand["demand"].to_list() == [3.5]
    assert ds.dc_stock is not None
    assert ds.dc_stock["pack_size"].to_list() == [6.0]
    assert ds.exog is not None
    assert ds.exog["store_id"].to_list() == [None]


def test_canonical_unknown_article_is_fatal(tmp_path: Path) -> None:
    sales = "date,store_id,article_id,units\n2024-01-01,s1,zz,1\n2024-01-01,s1,a1,1\n"
    with pytest.raises(
        InputError, match=r"sales\.csv: column 'article_id', row 1: 1 id\(s\) absent from articles\.csv"
    ):
        load_canonical(make_canonical(tmp_path, sales_csv=sales))


def test_canonical_unknown_store_in_stock_is_fatal(tmp_path: Path) -> None:
    stock = "week,store_id,article_id,on_hand\n2024-01-01,s9,a1,4\n"
    with pytest.raises(InputError, match=r"stock\.csv: column 'store_id', row 1: .*e\.g\. 's9'"):
        load_canonical(make_canonical(tmp_path, stock_csv=stock))


def test_canonical_duplicate_store_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"stores\.csv: column 'store_id', row 1: duplicate store_id \(store_id=s1\)"
    ):
        load_canonical(make_canonical(tmp_path, stores_csv="store_id\ns1\ns1\n"))


def test_canonical_missing_sales_is_fatal(tmp_path: Path) -> None:
    config = make_canonical(tmp_path)
    (tmp_path / "sales.csv").unlink()
    with pytest.raises(InputError, match=r"sales\.csv: file not found"):
        load_canonical(config)


def test_canonical_missing_folder_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="data folder not found"):
        load_canonical(DataConfig(adapter="canonical", path=tmp_path / "nope"))
