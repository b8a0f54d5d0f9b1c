"""Walmart adapter on small files made in tmp_path, and on the real data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from forecast.adapters.walmart import load_walmart
from forecast.config import DataConfig
from forecast.errors import InputError

TRAIN = """Store,Dept,Date,Weekly_Sales,IsHoliday
1,1,2010-02-05,100.5,FALSE
1,1,2010-02-12,-20,TRUE
1,2,2010-02-05,50,FALSE
2,1,2010-02-05,abc,FALSE
2,1,2010-02-12,30,FALSE
2,1,2010-02-13,30,FALSE
"""
FEATURES = """\
Store,Date,Temperature,Fuel_Price,MarkDown1,MarkDown2,MarkDown3,MarkDown4,MarkDown5,CPI,Unemployment,IsHoliday
1,2010-02-05,42.3,2.57,NA,NA,NA,NA,NA,211.1,8.1,FALSE
2,2010-02-05,40.1,2.60,10.5,NA,NA,NA,NA,210.0,7.9,FALSE
"""
STORES = "Store,Type,Size\r1,A,151315\r2,B,202307\r"


def make_walmart(
    folder: Path, train: str = TRAIN, stores: str = STORES, features: str = FEATURES
) -> DataConfig:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.csv").write_text(train, encoding="utf-8")
    (folder / "features.csv").write_text(features, encoding="utf-8")
    (folder / "stores.csv").write_bytes(stores.encode("utf-8"))
    return DataConfig(adapter="walmart", path=folder)


def test_walmart_tables(tmp_path: Path) -> None:
    ds = load_walmart(make_walmart(tmp_path))
    assert ds.grain == "weekly"
    assert ds.target_unit == "USD"
    assert ds.week_label == "FRI"
    assert ds.week_label_is_end
    assert ds.sales.columns == ["date", "store_id", "article_id", "units", "price", "is_holiday"]
    assert ds.sales.select("store_id", "article_id", "units").rows() == [
        ("1", "1", 100.5),
        ("1", "1", -20.0),
        ("1", "2", 50.0),
        ("2", "1", 30.0),
    ]
    assert ds.sales["is_holiday"].to_list() == [False, True, False, False]
    assert ds.sales["price"].null_count() == 4
    assert ds.articles.select("article_id", "category").rows() == [("1", "1"), ("2", "2")]
    assert ds.stores.select("store_id", "type", "size").rows() == [("1", "A", 151315.0), ("2", "B", 202307.0)]
    assert ds.exog is not None
    assert ds.exog["markdown1"].to_list() == [None, 10.5]
    assert ds.exog["week"].to_list() == [dt.date(2010, 2, 5)] * 2


def test_walmart_rejects_reconcile(tmp_path: Path) -> None:
    ds = load_walmart(make_walmart(tmp_path))
    assert ds.rejects.select("file", "row", "column", "reason", "value").rows() == [
        ("train.csv", 4, "Weekly_Sales", "unparsable number", "abc"),
        ("train.csv", 6, "Date", "not a Friday (weeks end on Friday)", "2010-02-13"),
    ]
    assert ds.rows_read == {"train.csv": 6, "features.csv": 2, "stores.csv": 2}
    assert ds.rows_kept()["train.csv"] == ds.sales.height == 4


def test_walmart_duplicate_week_is_fatal(tmp_path: Path) -> None:
    train = TRAIN.splitlines()[0] + "\n1,1,2010-02-05,1,FALSE\n1,1,2010-02-05,2,FALSE\n"
    with pytest.raises(InputError, match=r"train\.csv: column 'Dept', row 1: duplicate store × dept × week"):
        load_walmart(make_walmart(tmp_path, train=train))


def test_walmart_unknown_store_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"train\.csv: column 'Store', row 5: 1 id\(s\) absent from stores\.csv"
    ):
        load_walmart(make_walmart(tmp_path, stores="Store,Type,Size\r1,A,151315\r"))


def test_walmart_exog_for_unknown_store_is_fatal(tmp_path: Path) -> None:
    features = FEATURES + "3,2010-02-05,39.0,2.61,NA,NA,NA,NA,NA,209.0,7.7,FALSE\n"
    with pytest.raises(
        InputError,
        match=r"features\.csv: column 'Store', row 3: 1 id\(s\) absent from stores\.csv \(1 rows\)",
    ):
        load_walmart(make_walmart(tmp_path, features=features))


def test_walmart_duplicate_store_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"stores\.csv: column 'Store', row 1: duplicate store \(Store=1\)"):
        load_walmart(make_walmart(tmp_path, stores="Store,Type,Size\r1,A,1\r1,B,2\r"))


def test_walmart_missing_file_is_fatal(tmp_path: Path) -> None:
    config = make_walmart(tmp_path)
    (tmp_path / "features.csv").unlink()
    with pytest.raises(InputError, match=r"features\.csv: file not found in .*; fix: point \[data\] path"):
        load_walmart(config)


@pytest.mark.realdata
def test_walmart_real(walmart_dir: Path) -> None:
    ds = load_walmart(DataConfig(adapter="walmart", path=walmart_dir))
    assert ds.sales.height == 421_570
    assert ds.rows_read["train.csv"] == 421_570
    assert ds.rejects.height == 0
    assert ds.stores.height == 45
    assert ds.sales["store_id"].n_unique() == 45
    assert ds.articles.height == 81
    assert ds.sales.select("article_id", "store_id").unique().height == 3_331
    assert (ds.sales["date"].min(), ds.sales["date"].max()) == (dt.date(2010, 2, 5), dt.date(2012, 10, 26))
    assert int((ds.sales["units"] < 0).sum()) == 1_285
    assert ds.sales.filter(pl.col("is_holiday"))["date"].dt.weekday().unique().to_list() == [5]
    assert ds.exog is not None
    assert ds.exog.height == 8_190
