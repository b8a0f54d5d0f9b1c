"""An independent oracle: features recomputed in plain Python (dicts and loops) from the panel must agree."""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from forecast.config import FeaturesConfig
from forecast.dataset import Dataset
from forecast.features import horizon_frame, origin_features
from forecast.panel import build_panel

SPEC = FeaturesConfig(lags=[1, 2, 3, 52], rolling_windows=[3, 8], hierarchy=True, exogenous=False)
WEEK = timedelta(weeks=1)


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    """A seeded random panel: 8 articles × 3 stores over 70 weeks, integer units, sparse, with gaps."""
    rng = random.Random(11)
    start = date(2023, 1, 2)
    rows = []
    for article in range(8):
        for store in range(3):
            first, last = rng.randrange(0, 40), rng.randrange(40, 70)
            for week in range(first, last + 1):
                if week in (first, last) or rng.random() < 0.5:
                    price = rng.choice([None, 4.0, 5.0])
                    rows.append(
                        (start + week * WEEK, f"s{store}", f"a{article}", float(rng.randrange(-1, 7)), price)
                    )
    sales = pl.DataFrame(rows, schema=["date", "store_id", "article_id", "units", "price"], orient="row")
    articles = pl.DataFrame({"article_id": [f"a{i}" for i in range(8)],
                             "category": ["x", "y", None, "x", "y", "x", "y", "x"],
                             "list_price": [6.0, None, 5.0, 6.0, None, 5.0, 6.0, None]})  # fmt: skip
    stores = pl.DataFrame({"store_id": ["s0", "s1", "s2"]})
    counted = [(d, s, a, float(rng.choice([0, 0, 2, 5]))) for d, s, a, _, _ in rows if rng.random() < 0.4]
    stock = pl.DataFrame(counted, schema=["week", "store_id", "article_id", "on_hand"], orient="row")
    panel = build_panel(Dataset("oracle", sales, articles, stores, stock=stock)).collect()
    assert 0 < panel["censored"].sum() < panel.height
    return panel


def _series(panel: pl.DataFrame) -> dict[tuple[str, str], list[dict[str, Any]]]:
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(panel.iter_rows(named=True), key=lambda r: (r["article_id"], r["store_id"], r["week"])):
        series[(row["article_id"], row["store_id"])].append(row)
    return series


def _group_means(totals: dict[Any, dict[date, float]], key: Any, week: date, w: int) -> float:
    """Mean over the w weeks to `week` (from the group's first week), missing weeks counting as zero."""
    first = min(totals[key])
    weeks = [week - i * WEEK for i in range(w) if week - i * WEEK >= first]
    return sum(totals[key].get(d, 0.0) for d in weeks) / len(weeks)


def _oracle(panel: pl.DataFrame) -> list[dict[str, Any]]:
    cat_store: dict[Any, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    article: dict[Any, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    store: dict[Any, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    first_week: dict[str, date] = {}
    for r in panel.iter_rows(named=True):
        if r["category"] is not None:
            cat_store[(r["store_id"], r["category"])][r["week"]] += r["units"]
        article[r["article_id"]][r["week"]] += r["units"]
        store[r["store_id"]][r["week"]] += r["units"]
        first_week[r["article_id"]] = min(first_week.get(r["article_id"], r["week"]), r["week"])
    out = []
    for rows in _series(panel).values():
        for i, r in enumerate(rows):
            units = [x["units"] for x in rows[: i + 1]]
            f: dict[str, Any] = {"article_id": r["article_id"], "store_id": r["store_id"], "week": r["week"]}
            for lag in SPEC.lags:
                f[f"f_lag_{lag}"] = units[-lag] if lag <= len(units) else None
            for w in SPEC.rolling_windows:
                window = units[-w:]
                f[f"f_mean_{w}"] = sum(window) / len(window)
                f[f"f_std_{w}"] = statistics.stdev(window) if len(window) > 1 else None
                f[f"f_max_{w}"], f[f"f_min_{w}"] = max(window), min(window)
            f["f_mean_all"] = sum(units) / len(units)
            f["f_zero_share"] = sum(u <= 0 for u in units) / len(units)
            f["f_zero_share_8"] = sum(u <= 0 for u in units[-8:]) / len(units[-8:])
            censored = [x["censored"] for x in rows[: i + 1]][-3:]
            f["f_censored_share_3"] = sum(censored) / len(censored)
            sold = [j for j, u in enumerate(units) if u > 0]
            f["f_weeks_since_sale"] = i - sold[-1] if sold else None
            f["f_series_weeks"] = i
            f["f_age_weeks"] = (r["week"] - first_week[r["article_id"]]).days // 7
            f["f_price"], f["f_discount"], f["f_on_hand"] = r["price"], r["discount"], r["on_hand"]
            f["f_price_ratio"] = None if r["price"] is None else r["price"] / r["list_price"]
            key = (r["store_id"], r["category"])
            f["f_cat_store_units"] = cat_store[key][r["week"]] if r["category"] is not None else None
            f["f_article_units"] = article[r["article_id"]][r["week"]]
            f["f_store_units"] = store[r["store_id"]][r["week"]]
            for w in SPEC.rolling_windows:
                f[f"f_cat_store_units_mean_{w}"] = (
                    _group_means(cat_store, key, r["week"], w) if r["category"] is not None else None
                )
                f[f"f_article_units_mean_{w}"] = _group_means(article, r["article_id"], r["week"], w)
                f[f"f_store_units_mean_{w}"] = _group_means(store, r["store_id"], r["week"], w)
            out.append(f)
    return out


def _same(ours: Any, theirs: Any, column: str) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    if column.startswith("f_std_"):  # different summation orders: agree to rounding
        return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12)
    return bool(ours == theirs)


def test_origin_features_agree_with_the_oracle(panel: pl.DataFrame) -> None:
    ours = {(r["article_id"], r["store_id"], r["week"]): r
            for r in origin_features(panel.lazy(), SPEC).collect().iter_rows(named=True)}  # fmt: skip
    expected = _oracle(panel)
    assert len(ours) == len(expected) == panel.height
    checked = 0
    for row in expected:
        got = ours[(row["article_id"], row["store_id"], row["week"])]
        for column, value in row.items():
            assert _same(got[column], value, column), (
                column,
                row["article_id"],
                row["store_id"],
                row["week"],
            )
            checked += 1
    assert set(got) == set(row)  # the oracle covers every feature column
    assert checked > 10_000


def test_horizon_targets_and_seasonal_value_agree_with_the_oracle(panel: pl.DataFrame) -> None:
    units = {(r["article_id"], r["store_id"], r["week"]): r["units"] for r in panel.iter_rows(named=True)}
    last_week = panel["week"].max()
    origins = sorted(set(panel["week"].to_list()))[::9]
    frame = horizon_frame(origin_features(panel.lazy(), SPEC), panel.lazy(), [1, 3, 52, 60], origins=origins)
    rows = frame.collect().iter_rows(named=True)
    n = 0
    for r in rows:
        key = (r["article_id"], r["store_id"])
        assert r["week"] == r["origin"] + r["horizon"] * WEEK
        target = r["week"]
        expected = None if target > last_week else units.get((*key, target), 0.0)
        assert r["units"] == expected
        a_year_before = target - 52 * WEEK
        seasonal = units.get((*key, a_year_before)) if a_year_before <= r["origin"] else None
        assert r["f_seasonal_52"] == seasonal
        n += 1
    assert n > 100
