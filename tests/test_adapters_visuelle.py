"""VISUELLE adapter: wide scaled weeks -> weekly units, trends, future products."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from forecast.adapters.visuelle import load_visuelle
from forecast.config import DataConfig
from forecast.errors import InputError

HEADER = (
    "0,1,2,3,4,5,6,7,8,9,10,11,external_code,season,category,release_date,day,week,month,year,"
    "image_path,color,fabric,extra"
)


def _row(values: list[str], code: str, release: str, category: str = "long sleeve") -> str:
    return ",".join(
        [
            *values,
            code,
            "SS17",
            category,
            release,
            "0.5",
            "0.9",
            "1.0",
            "0.99",
            f"PE17/{code}.png",
            "yellow",
            "acrylic",
            "hem",
        ]
    )


def make_visuelle(
    folder: Path, rows: list[str] | None = None, test_rows: list[str] | None = None
) -> DataConfig:
    folder.mkdir(parents=True, exist_ok=True)
    scaled = [f"{u / 1065:.16f}" for u in (5, 78, 66, 0, 10, -1, 3, 2, 1, 0, 0, 4)]
    rows = (
        rows
        if rows is not None
        else [
            _row(scaled, "1", "2016-12-01"),
            _row(["0.01"] * 11 + ["oops"], "2", "2016-12-02"),
            _row(["0.0018779342723004"] * 12, "3", "2017-01-05", category="culottes"),
        ]
    )
    (folder / "train.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    (folder / "gtrends.csv").write_text(
        "date,Long Sleeve,yellow\n2016-11-28,50,-1\n2016-12-05,60,3\n", encoding="utf-8"
    )
    if test_rows is not None:
        (folder / "test.csv").write_text("\n".join([HEADER, *test_rows]) + "\n", encoding="utf-8")
    return DataConfig(adapter="visuelle", path=folder)


def test_visuelle_weeks_units_and_rejects(tmp_path: Path) -> None:
    ds = load_visuelle(make_visuelle(tmp_path))
    assert ds.sales.height == 24
    assert ds.grain == "weekly"
    assert ds.week_label == "MON"
    first = ds.sales.filter(article_id="1")
    assert first["units"].to_list() == [5.0, 78.0, 66.0, 0.0, 10.0, -1.0, 3.0, 2.0, 1.0, 0.0, 0.0, 4.0]
    assert first["date"].to_list() == [dt.date(2016, 12, 1) + dt.timedelta(days=7 * i) for i in range(12)]
    assert set(ds.sales["store_id"]) == {"ALL"}
    assert ds.sales.filter(article_id="3")["units"].unique().to_list() == [2.0]
    assert ds.rejects.select("row", "column", "reason", "value").rows() == [
        (2, "11", "unparsable number", "oops")
    ]
    assert ds.rows_read == {"train.csv": 3, "gtrends.csv": 2}
    assert ds.rows_kept() == {"train.csv": 2, "gtrends.csv": 2}
    assert ds.articles["article_id"].to_list() == ["1", "3"]
    assert ds.articles.filter(article_id="3")["category"].item() == "culottes"
    assert ds.articles["launch_date"].to_list() == [dt.date(2016, 12, 1), dt.date(2017, 1, 5)]
    assert {"season", "color", "fabric", "extra", "image_path"} <= set(ds.article_attributes)


def test_visuelle_trends_long_lower_case_and_null(tmp_path: Path) -> None:
    ds = load_visuelle(make_visuelle(tmp_path))
    assert ds.trends is not None
    assert ds.trends.rows() == [
        (dt.date(2016, 11, 28), "long sleeve", 50.0),
        (dt.date(2016, 12, 5), "long sleeve", 60.0),
        (dt.date(2016, 11, 28), "yellow", None),
        (dt.date(2016, 12, 5), "yellow", 3.0),
    ]


def test_visuelle_future_products_never_history(tmp_path: Path) -> None:
    future = _row(["0.5"] * 12, "9", "2020-01-02")
    ds = load_visuelle(make_visuelle(tmp_path, test_rows=[future]))
    assert ds.articles.filter(is_future=True)["article_id"].to_list() == ["9"]
    assert "9" not in ds.sales["article_id"].to_list()
    assert ds.rows_read["test.csv"] == 1


def test_visuelle_product_in_train_and_test_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"test\.csv: column 'external_code', row 1: 1 product\(s\)"):
        load_visuelle(make_visuelle(tmp_path, test_rows=[_row(["0"] * 12, "1", "2020-01-02")]))


def test_visuelle_duplicate_product_is_fatal(tmp_path: Path) -> None:
    rows = [_row(["0"] * 12, "1", "2016-12-01"), _row(["0"] * 12, "1", "2016-12-08")]
    with pytest.raises(InputError, match=r"train\.csv: column 'external_code', row 1: duplicate product"):
        load_visuelle(make_visuelle(tmp_path, rows=rows))


def test_visuelle_wrong_date_format_is_fatal(tmp_path: Path) -> None:
    rows = [_row(["0"] * 12, "1", "01/12/2016"), _row(["0"] * 12, "2", "08/12/2016")]
    with pytest.raises(InputError, match=r"column 'release_date', row 1: 2 of 2 dates do not parse"):
        load_visuelle(make_visuelle(tmp_path, rows=rows))


@pytest.mark.realdata
def test_visuelle_real(visuelle_dir: Path) -> None:
    ds = load_visuelle(DataConfig(adapter="visuelle", path=visuelle_dir))
    assert ds.articles.height == 5_080
    assert ds.sales.height == 60_960
    assert ds.rejects.height == 0
    assert ds.rows_read["train.csv"] == 5_080
    assert int((ds.sales["units"] < 0).sum()) == 14
    assert ds.sales["units"].round(0).equals(ds.sales["units"])
    assert ds.trends is not None
    assert set(ds.trends["term"]) >= {"long sleeve", "yellow", "acrylic"}
