"""H&M adapter: zero-padded ids, channels as stores, one line = one unit, CSV or Parquet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from forecast.adapters.hm import load_hm
from forecast.config import DataConfig
from forecast.errors import InputError

ARTICLES = """article_id,product_code,prod_name,product_type_no,product_type_name,detail_desc
0108775015,108775,Strap top,253,Vest top,"Jersey top, narrow straps."
0786022008,786022,Skirt,272,Skirt,Short skirt
"""
TRANSACTIONS = """t_dat,customer_id,article_id,price,sales_channel_id
2020-09-16,c1,786022008,0.048,2
2020-09-16,c1,108775015,0.010,1
2020-09-17,c2,786022008,-0.5,1
2020-09-17,c3,786022008,0.048,3
2020-09-18,c4,108775015,0.010,1
"""


def make_hm(folder: Path, transactions: str = TRANSACTIONS, articles: str = ARTICLES) -> DataConfig:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "articles.csv").write_text(articles, encoding="utf-8")
    (folder / "transactions_last_week.csv").write_text(transactions, encoding="utf-8")
    return DataConfig(adapter="hm", path=folder)


def test_hm_tables(tmp_path: Path) -> None:
    ds = load_hm(make_hm(tmp_path))
    assert ds.grain == "transactions"
    assert ds.sales.select("date", "store_id", "article_id", "units", "price").rows() == [
        (dt.date(2020, 9, 16), "2", "0786022008", 1.0, 0.048),
        (dt.date(2020, 9, 16), "1", "0108775015", 1.0, 0.010),
        (dt.date(2020, 9, 18), "1", "0108775015", 1.0, 0.010),
    ]
    assert ds.stores.select("store_id", "channel").rows() == [("1", "store"), ("2", "online")]
    assert ds.articles["category"].to_list() == ["Vest top", "Skirt"]
    assert ds.articles["detail_desc"][0] == "Jersey top, narrow straps."
    assert ds.article_attributes == [
        "product_code",
        "prod_name",
        "product_type_no",
        "product_type_name",
        "detail_desc",
    ]


def test_hm_rejects_reconcile(tmp_path: Path) -> None:
    ds = load_hm(make_hm(tmp_path))
    assert ds.rejects.select("row", "column", "reason").rows() == [
        (3, "price", "negative price (must be >= 0)"),
        (4, "sales_channel_id", "unknown sales channel (expected ['1', '2'])"),
    ]
    assert ds.rows_read == {"transactions_last_week.csv": 5, "articles.csv": 2}
    assert ds.rows_kept()["transactions_last_week.csv"] == ds.sales.height == 3


def test_hm_parquet_transactions(tmp_path: Path) -> None:
    config = make_hm(tmp_path)
    csv = tmp_path / "transactions_last_week.csv"
    frame = pl.read_csv(
        csv, try_parse_dates=True
    )  # article_id as integer, t_dat as date: like the Kaggle parquet
    frame.write_parquet(tmp_path / "transactions_last_week.parquet")
    csv.unlink()
    ds = load_hm(config)
    assert ds.rows_read == {"transactions_last_week.parquet": 5, "articles.csv": 2}
    assert ds.sales["article_id"].to_list() == ["0786022008", "0108775015", "0108775015"]


def test_hm_full_history_file_name(tmp_path: Path) -> None:
    config = make_hm(tmp_path)
    (tmp_path / "transactions_last_week.csv").rename(tmp_path / "transactions_train.csv")
    assert load_hm(config).rows_read["transactions_train.csv"] == 5


def test_hm_unknown_article_is_fatal(tmp_path: Path) -> None:
    header = "t_dat,customer_id,article_id,price,sales_channel_id\n"
    transactions = header + "2020-09-16,c,111,0.1,1\n2020-09-16,c,222,0.1,1\n"
    with pytest.raises(
        InputError,
        match=r"column 'article_id', row 1: 2 id\(s\) absent from articles\.csv \(2 rows\), "
        r"e\.g\. '0000000111', '0000000222'",
    ):
        load_hm(make_hm(tmp_path, transactions=transactions))


def test_hm_duplicate_article_is_fatal(tmp_path: Path) -> None:
    articles = ARTICLES + "108775015,108775,Strap top,253,Vest top,again\n"
    with pytest.raises(
        InputError,
        match=r"articles\.csv: column 'article_id', row 1: "
        r"duplicate article \(article_id=0108775015\) in rows \[1, 3\]",
    ):
        load_hm(make_hm(tmp_path, articles=articles))


def test_hm_missing_column_is_fatal(tmp_path: Path) -> None:
    transactions = "t_dat,customer_id,article_id,price\n2020-09-16,c,111,0.1\n"
    with pytest.raises(
        InputError,
        match=r"\['sales_channel_id'\] missing; found \['t_dat', 'customer_id', 'article_id', 'price'\]",
    ):
        load_hm(make_hm(tmp_path, transactions=transactions))


@pytest.mark.realdata
def test_hm_real(hm_dir: Path) -> None:
    ds = load_hm(DataConfig(adapter="hm", path=hm_dir))
    assert ds.sales.height == 240_311
    assert ds.rejects.height == 0
    assert ds.articles.height == 105_542
    assert ds.articles["article_id"].str.len_chars().unique().to_list() == [10]
    assert len(ds.article_attributes) == 24  # plus article_id: all 25 catalogue columns
    assert (ds.sales["date"].min(), ds.sales["date"].max()) == (dt.date(2020, 9, 16), dt.date(2020, 9, 22))
    assert sorted(ds.sales["store_id"].unique()) == ["1", "2"]


def test_one_week_of_real_transactions_stops_with_one_line(hm_dir: Path, repo_root: Path) -> None:
    from forecast.adapters import load_dataset
    from forecast.backtest import check_history
    from forecast.config import load_pipeline

    config = load_pipeline(repo_root / "pipelines" / "hm.toml", data=hm_dir)
    with pytest.raises(InputError, match="too short to backtest") as info:
        check_history(load_dataset(config), config)
    assert "\n" not in str(info.value)
    assert "transactions_train.csv" in str(info.value)


def test_two_simulated_years_in_the_hm_format_backtest(tmp_path: Path, repo_root: Path) -> None:
    from forecast.adapters import load_dataset
    from forecast.backtest import check_history, run_backtest
    from forecast.config import load_pipeline
    from forecast.models.baselines import StatsForecastModel
    from forecast.panel import build_panel
    from forecast.simulate import write_hm

    write_hm(tmp_path, articles=40, stores=2, weeks=104, seed=2)
    config = load_pipeline(repo_root / "pipelines" / "hm.toml", data=tmp_path)
    ds = load_dataset(config)
    check_history(ds, config)
    panel = build_panel(ds).collect()
    result = run_backtest(panel, [StatsForecastModel("naive")], config, ds)
    assert result.champion == "naive"
    assert result.per_fold["rows"].sum() > 0
