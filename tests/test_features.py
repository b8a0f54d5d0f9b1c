"""Origin-anchored features (forecast.features): contract, horizons and the no-leakage property."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from forecast.config import FeaturesConfig
from forecast.dataset import Dataset
from forecast.features import horizon_frame, origin_features
from forecast.panel import build_panel, empty_panel

SPEC = FeaturesConfig(lags=[1, 2, 4], rolling_windows=[2, 3], hierarchy=True, exogenous=True)
MON = date(2024, 1, 1)
KEYS = ["article_id", "store_id", "week"]
FeatureFn = Callable[[pl.DataFrame, pl.DataFrame | None], pl.DataFrame]


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
        {"article_id": ids, "category": ["tops" if i < "c" else "pants" for i in ids], "list_price": None},
        schema={"article_id": pl.Utf8, "category": pl.Utf8, "list_price": pl.Float64},
    )
    stores = pl.DataFrame({"store_id": sorted({r[1] for r in rows})}, schema={"store_id": pl.Utf8})
    return build_panel(Dataset("t", sales, articles, stores)).collect()


def _exog(panel: pl.DataFrame) -> pl.DataFrame:
    weeks = panel["week"].unique().sort().to_list()
    return pl.DataFrame(
        {
            "week": weeks * 2,
            "store_id": ["s1"] * len(weeks) + [None] * len(weeks),
            "temperature": [float(i) for i in range(2 * len(weeks))],
        },
        schema={"week": pl.Date, "store_id": pl.Utf8, "temperature": pl.Float64},
    )


def features(panel: pl.DataFrame, exog: pl.DataFrame | None) -> pl.DataFrame:
    lazy_exog = None if exog is None else exog.lazy()
    return origin_features(panel.lazy(), SPEC, exog=lazy_exog).collect()


def leaky_features(panel: pl.DataFrame, exog: pl.DataFrame | None) -> pl.DataFrame:
    """A deliberately wrong feature: next week's units."""
    feats = features(panel, exog)
    ahead = pl.col("f_lag_1").shift(-1).over(["article_id", "store_id"], order_by="week")
    return feats.with_columns(ahead.alias("f_next_week"))


def perturb_after(panel: pl.DataFrame, origin: date, seed: int) -> pl.DataFrame:
    """Change every value the panel holds for weeks after `origin` (rows stay where they are)."""
    later = pl.col("week") > origin
    noise = (pl.int_range(pl.len()) * 7 + seed) % 11
    return panel.with_columns(
        pl.when(later).then(pl.col("units") * 3 + noise + 1).otherwise(pl.col("units")).alias("units"),
        pl.when(later).then(noise.cast(pl.Float64)).otherwise(pl.col("returns_units")).alias("returns_units"),
        pl.when(later).then(pl.col("price") * 2 + noise).otherwise(pl.col("price")).alias("price"),
        pl.when(later).then(noise / 11).otherwise(pl.col("discount")).alias("discount"),
        pl.when(later).then(noise - 3.0).otherwise(pl.col("on_hand")).alias("on_hand"),
        pl.when(later).then(noise > 5).otherwise(pl.col("censored")).alias("censored"),
    )


def leaked_columns(fn: FeatureFn, panel: pl.DataFrame, origin: date, seed: int) -> list[str]:
    """Feature columns whose value at a week <= `origin` moves when data after `origin` changes."""
    exog = _exog(panel) if panel.height else None
    changed_exog = None
    if exog is not None:
        late = pl.col("week") > origin
        changed_exog = exog.with_columns(
            pl.when(late).then(pl.col("temperature") + 100).otherwise("temperature")
        )
    before = fn(panel, exog).filter(pl.col("week") <= origin)
    after = fn(perturb_after(panel, origin, seed), changed_exog).filter(pl.col("week") <= origin)
    assert before.select(KEYS).equals(after.select(KEYS))
    leaked = [c for c in before.columns if c.startswith("f_") and not before[c].equals(after[c])]
    if panel.height:
        horizon_before = horizon_frame(fn(panel, exog).lazy(), panel.lazy(), [1, 2, 53], origins=[origin])
        horizon_after = horizon_frame(
            fn(perturb_after(panel, origin, seed), changed_exog).lazy(),
            perturb_after(panel, origin, seed).lazy(),
            [1, 2, 53],
            origins=[origin],
        )
        hb, ha = horizon_before.collect(), horizon_after.collect()
        leaked += [
            c for c in hb.columns if c.startswith("f_") and not hb[c].equals(ha[c]) and c not in leaked
        ]
    return leaked


sales_rows = st.lists(
    st.tuples(
        st.integers(0, 60),
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(-2, 6).map(float),
        st.one_of(st.none(), st.sampled_from([5.0, 8.0, 10.0])),
    ),
    max_size=40,
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=sales_rows, cut=st.integers(0, 60), seed=st.integers(0, 10))
@example(rows=[], cut=0, seed=0)
def test_data_after_the_origin_changes_no_feature_at_the_origin(
    rows: list[tuple[int, str, str, float, float | None]], cut: int, seed: int
) -> None:
    panel = _panel(rows)
    origin = MON + timedelta(weeks=cut)
    assert leaked_columns(features, panel, origin, seed) == []


def test_the_leak_check_catches_a_feature_from_the_next_week() -> None:
    panel = _panel([(0, "s1", "a", 2.0, 5.0), (1, "s1", "a", 3.0, 5.0), (2, "s1", "a", 1.0, 5.0)])
    assert leaked_columns(leaky_features, panel, MON + timedelta(weeks=1), seed=1) == ["f_next_week"]
    assert leaked_columns(features, panel, MON + timedelta(weeks=1), seed=1) == []


def test_empty_panel_gives_empty_features_and_horizons() -> None:
    empty = empty_panel()
    feats = origin_features(empty.lazy(), SPEC).collect()
    assert feats.height == 0
    assert feats.columns[:3] == KEYS
    horizons = horizon_frame(feats.lazy(), empty.lazy(), [1, 2]).collect()
    assert horizons.height == 0
    assert {"origin", "horizon", "units", "censored", "f_seasonal_52", "f_cal_week_of_year"} <= set(
        horizons.columns
    )


def test_feature_columns_follow_the_config() -> None:
    panel = _panel([(0, "s1", "a", 1.0, 5.0), (3, "s1", "a", 2.0, 4.0)])
    feats = origin_features(
        panel.lazy(), FeaturesConfig(lags=[1, 3], rolling_windows=[5], hierarchy=False)
    ).collect()
    expected = {"f_lag_1", "f_lag_3", "f_mean_5", "f_std_5", "f_max_5", "f_min_5", "f_mean_all",
                "f_zero_share",
                "f_zero_share_5", "f_censored_share_5", "f_weeks_since_sale", "f_series_weeks", "f_age_weeks",
                "f_price", "f_discount", "f_price_ratio", "f_on_hand"}  # fmt: skip
    assert set(feats.columns) == {*KEYS, *expected}
    assert feats["f_lag_3"].to_list() == [None, None, 1.0, 0.0]
    assert feats["f_weeks_since_sale"].to_list() == [0, 1, 2, 0]
    assert feats["f_price_ratio"].to_list() == [1.0, 1.0, 1.0, 0.8]


def test_exog_at_the_origin_for_the_store_else_the_chain() -> None:
    panel = _panel([(0, "s1", "a", 1.0, 5.0), (1, "s1", "a", 1.0, 5.0), (0, "s2", "a", 1.0, 5.0)])
    feats = features(panel, _exog(panel))
    # s1 has its own rows (0, 1); s2 falls back to the store-less rows (2, 3)
    assert feats["f_exog_temperature"].to_list() == [0.0, 1.0, 2.0]


def test_horizon_frame_targets_seasonal_value_and_calendar() -> None:
    rows = [(w, "s1", "a", float(w % 5), 5.0) for w in range(0, 60)] + [(0, "s1", "b", 1.0, 5.0)]
    rows += [(70, "s2", "c", 1.0, 5.0)]
    panel = _panel(rows)
    feats = origin_features(panel.lazy(), SPEC).lazy()
    origin = MON + timedelta(weeks=55)
    frame = horizon_frame(feats, panel.lazy(), [1, 4, 53], origins=[origin, MON]).collect()
    assert frame.schema["horizon"] == pl.Int32
    a = frame.filter(pl.col("article_id") == "a", pl.col("origin") == origin).sort("horizon")
    assert a["week"].to_list() == [origin + timedelta(weeks=h) for h in (1, 4, 53)]
    assert a["units"].to_list() == [float(56 % 5), float(59 % 5), None]  # past the panel's last week: null
    assert a["f_seasonal_52"].to_list() == [float(4 % 5), float(7 % 5), None]  # a year before, if known
    # b's life ended at week 0: later weeks sold nothing
    b = frame.filter(pl.col("article_id") == "b").sort("horizon")
    assert b["units"].to_list() == [0.0, 0.0, 0.0]
    assert not b["censored"].any()
    assert b["f_seasonal_52"].to_list() == [None, None, None]
    # every origin feature is repeated on each horizon row
    origin_row = feats.filter(pl.col("article_id") == "a", pl.col("week") == origin).collect()
    assert (a["f_mean_3"] == origin_row["f_mean_3"].item()).all()
    # calendar of the target week
    christmas = MON + timedelta(weeks=51)  # 2024-12-23
    xmas = (
        horizon_frame(feats, panel.lazy(), [51], origins=[MON]).collect().filter(pl.col("article_id") == "a")
    )
    assert xmas["week"].to_list() == [christmas]
    assert xmas["f_cal_is_christmas"].to_list() == [True]
    assert xmas["f_cal_weeks_to_christmas"].to_list() == [0]


def test_horizons_must_be_positive() -> None:
    panel = _panel([(0, "s1", "a", 1.0, 5.0)])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        horizon_frame(origin_features(panel.lazy(), SPEC), panel.lazy(), [0, 1])
