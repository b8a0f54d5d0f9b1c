"""Leakage-free features, anchored at a forecast origin.

`origin_features` reads each panel row (article × store × week ``t``) as a forecast origin: every feature on
the row is computed from panel rows with ``week <= t`` only. `horizon_frame` expands origins to the target
weeks ``t + h`` and adds what is known in advance about a target week (its calendar) plus the seasonal value
a year before it when that week is already history, and the target columns.

Everything is a Polars expression. Rows are sorted by series and week and placed on one integer time axis
(series after series, far apart), so lags are ``shift``s checked against that axis and windows are single
``rolling_*_by`` passes over the whole frame that can never reach into another series or into the future.
A window ending at ``t`` holds the ``w`` weeks up to ``t``, or fewer from the series' first week; a lag
that reaches before the first week is null.

Feature columns (``f_`` prefix; ``k`` in `FeaturesConfig.lags`, ``w`` in `FeaturesConfig.rolling_windows`):

- ``f_lag_k``: units at ``t - k + 1`` (``f_lag_1`` = units at ``t``).
- ``f_mean_w, f_std_w, f_max_w, f_min_w``: over the ``w`` weeks ending at ``t`` (fewer at a series' start).
- ``f_mean_all`` (expanding mean), ``f_zero_share`` and ``f_zero_share_W`` (share of weeks without net sales,
  ever and in the longest window ``W``), ``f_weeks_since_sale``, ``f_series_weeks`` (weeks since the series'
  first week), ``f_age_weeks`` (weeks since the article's launch date or first week in any store).
- ``f_price, f_discount, f_price_ratio`` (price / list price), ``f_on_hand``, ``f_censored_share_V``
  (stockout share over the shortest window ``V``).
- hierarchy (`FeaturesConfig.hierarchy`): ``f_cat_store_units`` (units of the article's category in the store
  at ``t``), ``f_article_units`` (the article across stores), ``f_store_units`` (the whole store), each with
  ``_mean_w`` rolling means.
- exogenous (`FeaturesConfig.exogenous` and ``exog`` given): ``f_exog_<column>`` at ``t`` for the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from forecast.calendar import calendar_features, infer_is_end
from forecast.config import FeaturesConfig

SERIES = ["article_id", "store_id"]
_TIME = "_time"
_SEASON_WEEKS = 52
# rows are placed on one increasing integer time axis, series after series, `_GAP` weeks apart, so a single
# rolling pass over the whole frame never mixes two series (far cheaper than one window per series)
_GAP = 1 << 20
_EPOCH = date(1800, 1, 1)


def _week_number() -> pl.Expr:
    return (pl.col("week") - pl.lit(_EPOCH)).dt.total_days() // 7


def _with_time(frame: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Sort by `keys` and week and add the integer time axis `_TIME` (a new group jumps by `_GAP` weeks)."""
    frame = frame.sort([*keys, "week"])
    new_group = pl.any_horizontal([pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys])
    group = new_group.fill_null(True).cast(pl.Int64).cum_sum()
    return frame.with_columns((group * _GAP + _week_number()).alias(_TIME))


def _series_exprs(spec: FeaturesConfig) -> list[pl.Expr]:
    """Per-series features; rows carry `_TIME` (see `_with_time`)."""
    units, time = pl.col("units"), pl.col(_TIME)
    windows = sorted(set(spec.rolling_windows))
    exprs = [
        pl.when(time.shift(lag - 1) == time - (lag - 1)).then(units.shift(lag - 1)).alias(f"f_lag_{lag}")
        for lag in sorted(set(spec.lags))
    ]
    for w in windows:
        exprs += [
            units.rolling_mean_by(_TIME, f"{w}i").alias(f"f_mean_{w}"),
            units.rolling_std_by(_TIME, f"{w}i", min_samples=2).alias(f"f_std_{w}"),
            units.rolling_max_by(_TIME, f"{w}i").alias(f"f_max_{w}"),
            units.rolling_min_by(_TIME, f"{w}i").alias(f"f_min_{w}"),
        ]
    ever = f"{_GAP // 2}i"  # every earlier week of the series, none of the previous series
    no_sale = (units <= 0).cast(pl.Float64)
    last_sale = pl.when(units > 0).then(time).forward_fill()
    first_week = pl.when(time.shift(1).fill_null(-_GAP) < time - _GAP // 2).then(time).forward_fill()
    exprs += [
        units.rolling_mean_by(_TIME, ever).alias("f_mean_all"),
        no_sale.rolling_mean_by(_TIME, ever).alias("f_zero_share"),
        pl.when(time - last_sale < _GAP // 2)
        .then(time - last_sale)
        .cast(pl.Int32)
        .alias("f_weeks_since_sale"),
        (time - first_week).cast(pl.Int32).alias("f_series_weeks"),
        pl.col("price").alias("f_price"),
        pl.col("discount").alias("f_discount"),
        (pl.col("price") / pl.col("list_price")).alias("f_price_ratio"),
        pl.col("on_hand").alias("f_on_hand"),
    ]
    if windows:
        longest, shortest = windows[-1], windows[0]
        censored = pl.col("censored").cast(pl.Float64)
        exprs += [
            no_sale.rolling_mean_by(_TIME, f"{longest}i").alias(f"f_zero_share_{longest}"),
            censored.rolling_mean_by(_TIME, f"{shortest}i").alias(f"f_censored_share_{shortest}"),
        ]
    return exprs


def _age(keys: pl.LazyFrame, articles: pl.LazyFrame | None) -> pl.LazyFrame:
    """Weeks since the article's launch (or first week in any store, when earlier or unknown), row-aligned."""
    first = pl.col("week").min().over("article_id")
    if articles is not None and "launch_date" in articles.collect_schema().names():
        launch = articles.select(pl.col("article_id").cast(pl.Utf8), pl.col("launch_date").cast(pl.Date))
        keys = keys.join(launch.unique("article_id"), on="article_id", how="left", maintain_order="left")
        first = pl.min_horizontal(first, pl.col("launch_date"))
    age = ((pl.col("week") - first).dt.total_days() // 7).cast(pl.Int32)
    return keys.select(age.alias("f_age_weeks"))


def _aggregate(panel: pl.LazyFrame, keys: list[str], name: str, windows: Sequence[int]) -> pl.LazyFrame:
    """Units summed over `keys` × week, with rolling means that count the group's missing weeks as zero.

    A window ending at ``t`` covers the `w` weeks to ``t``, or fewer from the group's first week.
    """
    weekly = _with_time(panel.group_by([*keys, "week"]).agg(pl.col("units").sum().alias(name)), keys)
    time = pl.col(_TIME)
    first_week = pl.when(time.shift(1).fill_null(-_GAP) < time - _GAP // 2).then(time).forward_fill()
    weeks_in = time - first_week + 1
    rolling = [
        (pl.col(name).rolling_sum_by(_TIME, f"{w}i") / pl.min_horizontal(weeks_in, w)).alias(
            f"{name}_mean_{w}"
        )
        for w in sorted(set(windows))
    ]
    return weekly.with_columns(rolling).drop(_TIME)


def _hierarchy(keys: pl.LazyFrame, windows: Sequence[int]) -> pl.LazyFrame:
    """Aggregates of the category in the store, the article across stores and the store, row-aligned.

    `keys` must be sorted by article. Joins run on a narrow key frame (not the wide feature frame) to keep
    copies small.
    """
    # integer codes make the group-bys and joins far cheaper than text keys
    new_article = pl.col("article_id").ne_missing(pl.col("article_id").shift(1)).fill_null(True)
    keys = keys.with_row_index("_row").select(
        "_row",
        "week",
        "units",
        new_article.cast(pl.Int64).cum_sum().alias("_article"),
        pl.col("store_id").cast(pl.Categorical).to_physical().alias("_store"),
        pl.col("category").cast(pl.Categorical).to_physical().alias("_category"),
    )
    levels = [
        (["_store", "_category"], "f_cat_store_units"),
        (["_article"], "f_article_units"),
        (["_store"], "f_store_units"),
    ]
    names: list[str] = []
    for by, name in levels:
        source = keys.filter(pl.col("_category").is_not_null()) if "_category" in by else keys
        aggregate = _aggregate(source.select(*by, "week", "units"), by, name, windows)
        keys = keys.join(aggregate, on=[*by, "week"], how="left")
        names += [c for c in aggregate.collect_schema().names() if c.startswith(name)]
    # unordered joins and one integer sort beat order-keeping joins
    return keys.sort("_row").select(names)


def _with_exog(panel: pl.LazyFrame, exog: pl.LazyFrame) -> pl.LazyFrame:
    """Exogenous columns at the origin week, row-aligned: store rows for their store, store-less rows
    for all."""
    schema = exog.collect_schema()
    values = [
        c for c, t in schema.items() if c not in ("week", "store_id") and (t.is_numeric() or t == pl.Boolean)
    ]
    exog = exog.select(
        pl.col("week").cast(pl.Date),
        (pl.col("store_id").cast(pl.Utf8) if "store_id" in schema else pl.lit(None, pl.Utf8)).alias(
            "store_id"
        ),
        *[pl.col(c).cast(pl.Float64).alias(f"f_exog_{c}") for c in values],
    )
    names = [f"f_exog_{c}" for c in values]
    by_store = exog.filter(pl.col("store_id").is_not_null()).unique(["store_id", "week"], keep="last")
    chain = exog.filter(pl.col("store_id").is_null()).drop("store_id").unique("week", keep="last")
    chain = chain.rename({n: f"{n}_chain" for n in names})
    panel = panel.join(by_store, on=["store_id", "week"], how="left", maintain_order="left")
    panel = panel.join(chain, on="week", how="left", maintain_order="left")
    return panel.select(pl.coalesce(n, f"{n}_chain").alias(n) for n in names)


def origin_features(
    panel: pl.LazyFrame,
    spec: FeaturesConfig,
    *,
    exog: pl.LazyFrame | None = None,
    articles: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Features of every panel row read as a forecast origin ``t``, from rows with ``week <= t`` only.

    Parameters
    ----------
    panel
        A panel from `forecast.panel.build_panel` (weeks contiguous inside each series).
    spec
        Lags, rolling windows and which feature groups to build.
    exog
        Optional exogenous table: ``week``, ``store_id`` (null = every store), numeric columns.
    articles
        Optional catalogue with ``article_id, launch_date`` for the article's age.

    Returns
    -------
    pl.LazyFrame
        ``article_id, store_id, week`` and the ``f_`` columns, sorted by article_id, store_id, week.

    Examples
    --------
    >>> from forecast.panel import build_panel
    >>> panel = pl.DataFrame({"article_id": ["a"] * 3, "store_id": ["s"] * 3,
    ...     "week": [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15)], "units": [1.0, 0.0, 3.0],
    ...     "price": [2.0] * 3, "list_price": [2.0] * 3, "discount": [0.0] * 3, "on_hand": [None] * 3,
    ...     "censored": [False] * 3, "category": ["c"] * 3})
    >>> feats = origin_features(panel.lazy(), FeaturesConfig(lags=[1, 2], rolling_windows=[2])).collect()
    >>> feats["f_lag_2"].to_list(), feats["f_mean_2"].to_list()
    ([None, 1.0, 0.0], [1.0, 0.5, 1.5])
    """
    columns = [*SERIES, "week", "units", "price", "list_price", "discount", "on_hand", "censored", "category"]
    # sorted once; every later join keeps the row order, so the parts line up side by side
    frame = _with_time(panel.select(columns), SERIES).cache()
    series = frame.with_columns(_series_exprs(spec))
    keys = frame.select(*SERIES, "week", "units", "category")
    parts = [series.select(*SERIES, "week", pl.col("^f_.*$")), _age(keys, articles)]
    if spec.hierarchy:
        parts.append(_hierarchy(keys, spec.rolling_windows))
    if spec.exogenous and exog is not None:
        parts.append(_with_exog(keys, exog))
    return pl.concat(parts, how="horizontal")


def _calendar(frame: pl.LazyFrame, is_end: bool | None) -> pl.LazyFrame:
    """Calendar features of the target week, computed once per distinct week."""
    weeks = frame.select("week").unique()
    labelling = infer_is_end("week") if is_end is None else is_end
    return frame.join(weeks.with_columns(calendar_features("week", is_end=labelling)), on="week", how="left")


def horizon_frame(
    origin_feats: pl.LazyFrame,
    panel: pl.LazyFrame,
    horizons: Sequence[int],
    *,
    origins: Sequence[date] | None = None,
    is_end: bool | None = None,
) -> pl.LazyFrame:
    """Expand origin rows to target weeks ``origin + h`` with target calendar, seasonal value and targets.

    Parameters
    ----------
    origin_feats
        Output of `origin_features`.
    panel
        The panel the features came from (for the seasonal value and the targets).
    horizons
        Weeks ahead, each >= 1.
    origins
        Only these origin weeks (default: every row of `origin_feats`).
    is_end
        Whether week labels name the week's last day (Walmart); default: Monday labels start a week, any
        other weekday ends one.

    Returns
    -------
    pl.LazyFrame
        ``article_id, store_id, origin, week, horizon``, the ``f_`` columns, ``f_cal_*`` of the target week,
        ``f_seasonal_52`` (units 52 weeks before the target week when that week is at or before the origin),
        and the targets ``units`` and ``censored``: null past the panel's last week, 0 and false past the
        series' own last week.
    """
    if any(h < 1 for h in horizons):
        msg = f"`horizons` must be whole weeks >= 1, got {list(horizons)!r}"
        raise ValueError(msg)
    frame = origin_feats
    if origins is not None:
        frame = frame.filter(pl.col("week").is_in(list(origins)))
    steps = pl.LazyFrame({"horizon": sorted(set(horizons))}, schema={"horizon": pl.Int32})
    frame = (
        frame.rename({"week": "origin"})
        .join(steps, how="cross")
        .with_columns((pl.col("origin") + pl.duration(weeks=pl.col("horizon"))).alias("week"))
    )
    frame = _calendar(frame, is_end)
    history = panel.select(*SERIES, "week", "units", "censored")
    seasonal = history.select(
        *SERIES,
        (pl.col("week") + pl.duration(weeks=_SEASON_WEEKS)).alias("week"),
        pl.col("units").alias("f_seasonal_52"),
    )
    last_week = panel.select(pl.col("week").max().alias("_last"))
    frame = (
        frame.join(seasonal, on=[*SERIES, "week"], how="left")
        .with_columns(
            pl.when(pl.col("horizon") <= _SEASON_WEEKS).then(pl.col("f_seasonal_52")).alias("f_seasonal_52")
        )
        .join(history, on=[*SERIES, "week"], how="left")
        .join(last_week, how="cross")
        .with_columns(
            pl.when(pl.col("week") <= pl.col("_last")).then(pl.col("units").fill_null(0.0)).alias("units"),
            pl.when(pl.col("week") <= pl.col("_last"))
            .then(pl.col("censored").fill_null(False))
            .alias("censored"),
        )
    )
    features = [c for c in frame.collect_schema().names() if c.startswith("f_")]
    columns = [*SERIES, "origin", "week", "horizon", *features, "units", "censored"]
    return frame.select(columns).sort([*SERIES, "origin", "horizon"])


__all__ = ["horizon_frame", "origin_features"]
