"""Season features of new articles: season lengths, sold-out season totals and the features a buyer knows
at the decision date (`forecast.buy.season` learns from them).

Every function reads only what had ended by a decision date: sales weeks that ended by it, and the totals
of articles whose whole season had ended by it.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.features import launch as cf

MAX_SEASON_WEEKS = 104
MIN_RECENT = 20  # sold-out launches a recent level needs
LEVEL_WINDOWS = (4, 13)  # weeks before the decision read by the sales-level index


def season_lengths(articles: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """``article_id, launch_date, season_weeks``: weeks from launch to the planned ``end_date`` (rounded up),
    else `horizon`; articles without a launch date are left out."""
    weeks = pl.lit(horizon, pl.Int64)
    if "end_date" in articles.columns:
        days = (pl.col("end_date").cast(pl.Date) - pl.col("launch_date")).dt.total_days() + 1
        weeks = pl.coalesce(((days + 6) // 7).clip(1, MAX_SEASON_WEEKS), weeks)
    return articles.drop_nulls("launch_date").select(
        "article_id", pl.col("launch_date").cast(pl.Date), weeks.cast(pl.Int64).alias("season_weeks")
    )


def season_totals(panel: pl.DataFrame, seasons: pl.DataFrame, known_until: date) -> pl.DataFrame:
    """Season totals of the articles whose whole season ended by `known_until`.

    `panel` has ``article_id, week, units`` (any stores, summed); `seasons` is `season_lengths`. Only weeks
    that ended by `known_until` are read (a week labelled w ends at w + 7 days). Columns: ``article_id,
    launch_date, _end`` (the day the season ended), ``total``. An article with no row in the panel is left
    out (it was not sold there), and so is one launched before the panel's first week.

    Examples
    --------
    >>> panel = pl.DataFrame({"article_id": ["a", "a", "b"], "week": [date(2024, 1, 1), date(2024, 1, 8),
    ...     date(2024, 1, 8)], "units": [2.0, 3.0, 4.0]})
    >>> seasons = pl.DataFrame({"article_id": ["a", "b"], "launch_date": [date(2024, 1, 1), date(2024, 1, 8)],
    ...     "season_weeks": [2, 2]})
    >>> season_totals(panel, seasons, date(2024, 1, 15)).select("article_id", "total").rows()
    [('a', 5.0)]
    """
    end = pl.col("launch_date") + pl.duration(days=7 * pl.col("season_weeks"))
    done = seasons.with_columns(end.alias("_end")).filter(pl.col("_end") <= known_until)
    if panel.height:  # an article launched before the panel starts has lost its first weeks
        done = done.filter(pl.col("launch_date") >= panel["week"].min())
    known = panel.filter(pl.col("week") + timedelta(days=7) <= known_until)
    sold = (
        known.join(done.select("article_id", "launch_date", "_end"), on="article_id")
        .filter((pl.col("week") >= pl.col("launch_date")) & (pl.col("week") < pl.col("_end")))
        .group_by("article_id")
        .agg(pl.col("units").sum().alias("total"))
    )
    seen = known.select("article_id").unique()
    return (
        done.join(seen, on="article_id")
        .join(sold, on="article_id", how="left")
        .select("article_id", "launch_date", "_end", pl.col("total").fill_null(0.0).cast(pl.Float64))
        .sort("launch_date", "article_id")
    )


def recent_level(bank: pl.DataFrame, day: np.ndarray, recent: int) -> np.ndarray:
    """Mean log total of the `recent` launches whose season ended latest by each `day` (NaN: fewer than
    `MIN_RECENT` of them, or than `recent` when it is smaller, had ended)."""
    ordered = bank.sort("_end", "_launch")
    ends = cf.days(ordered["_end"])
    cum = np.concatenate([[0.0], np.cumsum(ordered["_target"].to_numpy())])
    hi = np.searchsorted(ends, day, side="right")
    lo = np.maximum(hi - recent, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (cum[hi] - cum[lo]) / np.maximum(hi - lo, 1)
    return np.asarray(np.where(hi - lo >= min(recent, MIN_RECENT), mean, np.nan))


def season_features(
    query: pl.DataFrame,
    bank: pl.DataFrame,
    codes: dict[str, dict[str, float]],
    analogues: int,
    recent: int,
    level: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    trends: tuple[pl.DataFrame, list[str]] | None = None,
) -> pl.DataFrame:
    """Feature rows (``f_*``) of `query` (``article_id, launch_date, _day`` = decision date, attributes).

    `bank` holds the articles sold out by then (``_end``, ``_launch``, ``_target`` = log 1 + total and the
    attributes); an analogue is read only where its season ended on or before the query's ``_day``.
    """
    attrs = list(codes)
    cats = [
        pl.col(c).cast(pl.Utf8).replace_strict(m, default=None, return_dtype=pl.Float64).alias(f"f_cat_{c}")
        for c, m in codes.items()
    ]
    frame = query.with_columns(*cats, *cf.launch_calendar(pl.col("launch_date")))
    lead = (pl.col("launch_date") - pl.col("_day")).dt.total_days().cast(pl.Float64)
    frame = frame.with_columns(lead.alias("f_lead_days"))
    if "list_price" in frame.columns:
        frame = frame.with_columns(pl.col("list_price").cast(pl.Float64).alias("f_price"))
    category = "category" if "category" in attrs else None
    stats = cf.analogue_features(frame, bank, attrs, analogues, category)
    day = cf.days(frame["_day"])
    frame = frame.with_columns(stats.rename(lambda c: c.replace("f_analogue", "f_analog"))).with_columns(
        pl.Series("f_recent_level", recent_level(bank, day, recent))
    )
    if level is not None:
        frame = frame.with_columns(
            pl.Series(f"f_sales_level_{w}", cf.level_at(level, day, w)) for w in LEVEL_WINDOWS
        )
    if trends is not None:
        frame = cf.join_trends(frame, *trends)
    return frame.with_columns(
        (pl.col("f_analog_mean") - pl.col("f_recent_level")).alias("f_analog_vs_level"),
        (pl.col("f_analog_category_mean") - pl.col("f_recent_level")).alias("f_category_vs_level"),
    )
