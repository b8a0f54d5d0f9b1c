"""The production feature engine (forecast.features): contract, no leakage (property), and partitions."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from forecast.config import FeaturesConfig
from forecast.dataset import Dataset
from forecast.features import PRICE_FEATURES, FeatureSpec, group_totals, horizon_features, origin_features
from forecast.panel import build_panel, empty_panel

SPEC = FeatureSpec(lags=(1, 2, 4), windows=(2, 3))
MON = date(2024, 1, 1)
KEYS = ["article_id", "store_id", "week"]
HORIZON_KEYS = ["article_id", "store_id", "origin", "horizon"]
FeatureFn = Callable[[pl.DataFrame, date], pl.DataFrame]


def _panel(rows: Sequence[tuple[int, str, str, float, float | None]], week0: date = MON) -> pl.DataFrame:
    """(week index, store, article, units, price) rows -> collected panel."""
    sales = pl.DataFrame(
        [(week0 + timedelta(weeks=w), s, a, u, p) for w, s, a, u, p in rows],
        schema={"date": pl.Date, "store_id": pl.Utf8, "article_id": pl.Utf8, "units": pl.Float64,
                "price": pl.Float64},
        orient="row",
    )  # fmt: skip
    ids = sorted({r[2] for r in rows})
    articles = pl.DataFrame(
        {"article_id": ids, "category": ["tops" if i < "c" else "pants" for i in ids]},
        schema={"article_id": pl.Utf8, "category": pl.Utf8},
    )
    stores = pl.DataFrame({"store_id": sorted({r[1] for r in rows})}, schema={"store_id": pl.Utf8})
    return build_panel(Dataset("t", sales, articles, stores)).collect()


def features(panel: pl.DataFrame, origin: date) -> pl.DataFrame:
    """What the global model reads at `origin`: origin rows and every horizon row (no targets)."""
    rows = origin_features(panel, SPEC).filter(pl.col("week") <= origin)
    ahead = horizon_features(panel, SPEC, [origin], 60)
    return pl.concat([rows.rename({"week": "origin"}).with_columns(pl.lit(0).alias("horizon")), ahead],
                     how="diagonal_relaxed")  # fmt: skip


def leaky_features(panel: pl.DataFrame, origin: date) -> pl.DataFrame:
    """A deliberately wrong feature: next week's units."""
    ahead = pl.col("f_lag_1").shift(-1).over(["article_id", "store_id"], order_by="week")
    rows = origin_features(panel, SPEC).with_columns(ahead.alias("f_next_week"))
    return rows.filter(pl.col("week") <= origin)


def perturb_after(panel: pl.DataFrame, origin: date, seed: int, prices: bool = False) -> pl.DataFrame:
    """Change every value the panel holds for weeks after `origin` (rows stay where they are) but the
    prices, or (`prices`) only the prices: a price after the origin is the plan, known at the origin."""
    later = pl.col("week") > origin
    noise = (pl.int_range(pl.len()) * 7 + seed) % 11
    if prices:
        return panel.with_columns(
            pl.when(later).then(pl.col("price") * 0.5 + noise).otherwise(pl.col("price")).alias("price")
        )
    return panel.with_columns(
        pl.when(later).then(pl.col("units") * 3 + noise + 1).otherwise(pl.col("units")).alias("units"),
        pl.when(later).then(noise > 5).otherwise(pl.col("censored")).alias("censored"),
        pl.when(later).then(noise > 8).otherwise(pl.col("is_holiday")).alias("is_holiday"),
    )


def leaked_columns(
    fn: FeatureFn, panel: pl.DataFrame, origin: date, seed: int, prices: bool = False
) -> list[str]:
    """Feature columns whose value at `origin` moves when data after `origin` changes (see
    `perturb_after`)."""
    before, after = fn(panel, origin), fn(perturb_after(panel, origin, seed, prices), origin)
    if before.height == 0:
        return []
    key = [c for c in before.columns if c in {*HORIZON_KEYS, "week"}]
    before, after = before.sort(key), after.sort(key)
    assert before.select(key).equals(after.select(key))
    names = [c for c in before.columns if c.startswith("f_") or c == "scale"]
    return [c for c in names if not before[c].equals(after[c])]


sales_rows = st.lists(
    st.tuples(
        st.integers(0, 70),
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(-2, 6).map(float),
        st.one_of(st.none(), st.sampled_from([5.0, 8.0])),
    ),
    max_size=40,
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=sales_rows, cut=st.integers(0, 70), seed=st.integers(0, 10))
@example(rows=[], cut=0, seed=0)
def test_data_after_the_origin_changes_no_feature_at_the_origin(
    rows: list[tuple[int, str, str, float, float | None]], cut: int, seed: int
) -> None:
    panel = _panel(rows)
    assert leaked_columns(features, panel, MON + timedelta(weeks=cut), seed) == []
    # planned prices after the origin move the target week's price features and nothing else
    moved = leaked_columns(features, panel, MON + timedelta(weeks=cut), seed, prices=True)
    assert set(moved) <= set(PRICE_FEATURES)


def test_a_planned_price_enters_the_target_weeks_features_and_sales_after_the_origin_do_not() -> None:
    rows = [(w, "s1", "a", float(2 + w % 3), 10.0) for w in range(12)]
    panel = _panel(rows)
    origin = MON + timedelta(weeks=8)
    assert leaked_columns(features, panel, origin, seed=3) == []
    moved = leaked_columns(features, panel, origin, seed=3, prices=True)
    assert {"f_price_rel_list", "f_discount", "f_price_rel_recent"} <= set(moved) <= set(PRICE_FEATURES)
    ahead = horizon_features(perturb_after(panel, origin, 3, prices=True), SPEC, [origin], 3)
    # the origin row's own recent price reads weeks up to the origin only
    assert ahead.filter(pl.col("horizon") == 1)["f_price_rel_recent"].to_list() == pytest.approx(
        [ahead.filter(pl.col("horizon") == 1)["f_price_rel_list"][0]]
    )


def test_the_leak_check_catches_a_feature_from_the_next_week() -> None:
    panel = _panel([(0, "s1", "a", 2.0, 5.0), (1, "s1", "a", 3.0, 5.0), (2, "s1", "a", 1.0, 5.0)])
    assert leaked_columns(leaky_features, panel, MON + timedelta(weeks=1), seed=1) == ["f_next_week"]
    assert leaked_columns(features, panel, MON + timedelta(weeks=1), seed=1) == []


def test_empty_panel_gives_empty_features() -> None:
    empty = empty_panel().collect() if isinstance(empty_panel(), pl.LazyFrame) else empty_panel()
    assert origin_features(empty, SPEC).height == 0
    assert horizon_features(empty, SPEC, [MON], 4).height == 0


def test_feature_columns_follow_the_spec() -> None:
    panel = _panel([(w, "s1", "a", float(w % 3), 5.0) for w in range(0, 8)])
    spec = FeatureSpec.from_config(FeaturesConfig(lags=[1, 3, 52], rolling_windows=[5], hierarchy=False))
    frame = horizon_features(panel, spec, [MON + timedelta(weeks=6)], 2)
    names = {c for c in frame.columns if c.startswith("f_") and not c.startswith("f_cal_")}
    assert names == {"f_log_level", "f_lag_1", "f_lag_3", "f_roll_mean_5", "f_zero_share_13", "f_yoy",
                     "f_weeks_since_sale", "f_age", "f_seasonal_52", "f_seasonal_smooth",
                     "f_seasonal_104", *PRICE_FEATURES}  # fmt: skip
    no_prices = horizon_features(panel, FeatureSpec(prices=False), [MON + timedelta(weeks=6)], 2)
    assert not set(PRICE_FEATURES) & set(no_prices.columns)
    with_groups = horizon_features(panel, SPEC, [MON + timedelta(weeks=6)], 2)
    assert {"f_article_seasonal", "f_cat_store_seasonal"} <= set(with_groups.columns)
    no_calendar = horizon_features(panel, FeatureSpec(calendar=False), [MON + timedelta(weeks=6)], 2)
    assert not [c for c in no_calendar.columns if c.startswith("f_cal_")]
    lags = origin_features(panel, spec)
    assert lags["f_lag_3"].fill_nan(None).to_list()[:4] == [None, None, 0.0, 1.0]  # scale is 1: units


def test_seasonal_value_is_a_year_before_the_target_and_never_after_the_origin() -> None:
    rows = [(w, "s1", "a", float(1 + w % 5), 5.0) for w in range(0, 60)]
    panel = _panel(rows)
    origin = MON + timedelta(weeks=55)
    frame = horizon_features(panel, FeatureSpec(scale=False), [origin], 3)
    # targets weeks 56..58 (July and August 2025: no moving holiday near): weeks 4..6 of the panel
    assert frame["f_seasonal_52"].to_list() == [float(1 + w % 5) for w in (4, 5, 6)]
    far = horizon_features(panel, FeatureSpec(scale=False), [MON + timedelta(weeks=10)], 53)
    assert far.filter(pl.col("horizon") == 53)["f_seasonal_52"].is_nan().all()  # a year back is after


def _random_panel(seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for article in "abcdefgh":
        for store in ("s1", "s2", "s3"):
            first = rng.randrange(0, 40)
            for w in range(first, first + rng.randrange(10, 70)):
                if rng.random() < 0.7:
                    rows.append((w, store, article, float(rng.randrange(-1, 9)), 5.0))
    return _panel(rows)


def test_a_part_of_the_articles_gets_the_rows_the_whole_panel_gives_it() -> None:
    panel = _random_panel(3)
    rng = random.Random(5)
    part = [a for a in sorted(set(panel["article_id"])) if rng.random() < 0.5]
    assert 0 < len(part) < panel["article_id"].n_unique()
    rows = panel.filter(pl.col("article_id").is_in(part))
    totals = group_totals(panel)  # the global reduce step, computed before the parts run
    origins = sorted(set(panel["week"].to_list()))[10::9]
    whole = horizon_features(panel, SPEC, origins, 8, targets=True)
    alone = horizon_features(rows, SPEC, origins, 8, totals=totals, targets=True)
    assert alone.equals(whole.filter(pl.col("article_id").is_in(part)))
    whole_rows = origin_features(panel, SPEC).filter(pl.col("article_id").is_in(part))
    assert origin_features(rows, SPEC, totals).equals(whole_rows)
    # without the global totals the category × store index is computed from the part: not the same
    inside = horizon_features(rows, SPEC, origins, 8, targets=True).join(alone, on=HORIZON_KEYS, suffix="_g")
    assert inside.height > 100
    assert not inside["f_cat_store_seasonal"].equals(inside["f_cat_store_seasonal_g"])
    assert inside["f_article_seasonal"].equals(inside["f_article_seasonal_g"])


def test_totals_of_parts_add_up_to_the_totals_of_the_whole() -> None:
    panel = _random_panel(4)
    parts = [panel.filter(pl.col("article_id").is_in(group)) for group in (["a", "b", "c"], list("defgh"))]
    key = ["category", "store_id", "week"]
    summed = pl.concat([group_totals(p) for p in parts]).group_by(key).agg(pl.col("units", "rows").sum())
    assert summed.sort(key).equals(group_totals(panel).sort(key))
