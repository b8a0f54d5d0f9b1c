"""Launch-day features of articles with no history: launch grid, sales-level index, attributes, calendar
(`forecast.features.calendar.launch_calendar`), drop size, trends and analogues.

Every function reads only what is known on an article's launch day: catalogue attributes, the release
calendar, trend weeks that ended before launch, units sold in weeks that ended before launch and the launch
totals of analogue articles whose launch window ended before launch.

`launch_inputs` is everything the cold-start fit reads from the panel, in a form that a partitioned run can
compute per article group and concatenate (`LaunchInputs.concat`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from forecast.contracts import SERIES
from forecast.errors import InputError
from forecast.features.calendar import launch_calendar

KEY = SERIES
TREND_WINDOWS = {"4": (0, 3), "13": (0, 12), "52": (0, 51)}
MAX_ATTRIBUTE_SHARE = 0.5  # an attribute with more distinct values than this share of articles is an id
ANALOGUE_FEATURES = (
    "f_analogue_mean",
    "f_analogue_median",
    "f_analogue_matches",
    "f_analogue_category_mean",
    "f_analogue_category_median",
)
CHUNK_CELLS = 4_000_000  # query × bank cells compared at once


def days(dates: pl.Series) -> np.ndarray:
    """Dates as integer days since 1970-01-01."""
    return dates.cast(pl.Date).cast(pl.Int64).to_numpy()


def attribute_columns(articles: pl.DataFrame, attributes: list[str] | None) -> list[str]:
    """The given (default: every text) article columns that are not ids such as an image path."""
    if attributes is not None:
        missing = [c for c in attributes if c not in articles.columns]
        if missing:
            msg = f"attribute column(s) {missing} not in the articles table"
            raise InputError(msg, column=missing[0], fix="name existing article columns in `attributes`")
    names = attributes if attributes is not None else list(articles.columns)
    limit = max(1, int(MAX_ATTRIBUTE_SHARE * articles.height))
    return [
        c
        for c in names
        if c != "article_id" and articles.schema[c] == pl.Utf8 and articles[c].n_unique() <= limit
    ]


def attribute_values(articles: pl.DataFrame, col: str, panel: pl.DataFrame) -> list[str]:
    """Distinct values of `col` among the articles (or stores) of `panel`."""
    source = (
        panel
        if col == "store_id"
        else articles.filter(pl.col("article_id").is_in(panel["article_id"].implode()))
    )
    return sorted(v for v in source[col].cast(pl.Utf8).unique().to_list() if v is not None)


def launches(panel: pl.DataFrame, articles: pl.DataFrame, start: date | None = None) -> pl.DataFrame:
    """Launch week per article × store: the catalogue launch date when known, else its first panel week.

    Pairs launched before the panel starts (`start`, default: the first week of `panel`) are dropped: their
    first weeks are not observed.
    """
    first = panel.group_by(KEY).agg(pl.col("week").min().alias("first_week"))
    if start is None:
        start = panel["week"].min()  # type: ignore[assignment]
    if "launch_date" in articles.columns:
        first = first.join(articles.select("article_id", "launch_date"), on="article_id", how="left")
        launch = pl.coalesce(pl.col("launch_date"), pl.col("first_week"))
    else:
        launch = pl.col("first_week")
    return first.select(*KEY, launch.alias("launch_week")).filter(pl.col("launch_week") >= start)


def launch_grid(panel: pl.DataFrame, pairs: pl.DataFrame, weeks: int, origin: date) -> pl.DataFrame:
    """Units of every pair in weeks 1..`weeks` from launch that started by `origin` (absent weeks sold 0).

    Columns: article_id, store_id, horizon (1 = launch week), units, _week (the calendar week).
    """
    horizon = (((pl.col("week") - pl.col("launch_week")).dt.total_days() + 6) // 7 + 1).cast(pl.Int32)
    sold = (
        panel.join(pairs, on=KEY)
        .with_columns(horizon.alias("horizon"))
        .filter(pl.col("horizon").is_between(1, weeks))
        .group_by(*KEY, "horizon")
        .agg(pl.col("units").sum())
    )
    full = pairs.with_columns(pl.lit(list(range(1, weeks + 1)), dtype=pl.List(pl.Int32)).alias("horizon"))
    full = full.explode("horizon").with_columns(
        (pl.col("launch_week") + pl.duration(days=7 * (pl.col("horizon") - 1))).alias("_week")
    )
    return (
        full.filter(pl.col("_week") <= origin)
        .join(sold, on=[*KEY, "horizon"], how="left")
        .select(*KEY, "horizon", pl.col("units").fill_null(0.0).cast(pl.Float64), "_week")
        .sort(*KEY, "horizon")  # a fixed row order keeps every float sum below deterministic
    )


@dataclass(frozen=True)
class LaunchInputs:
    """What the cold-start fit reads from the panel up to an origin.

    Every frame is keyed by article (the article × store pairs, sorted by their key), so the inputs of
    disjoint article groups, computed with the whole run's first panel week, concatenate into the whole
    run's inputs (`concat`).

    Attributes
    ----------
    pairs
        ``article_id, store_id, launch_week`` of every pair launched inside the panel; key `KEY`.
    grid
        `launch_grid` of the pairs: ``article_id, store_id, horizon, units, _week``; key ``KEY + horizon``.
    seen
        ``article_id, store_id`` of every series with a row up to the origin (launched in the panel or not):
        the articles and stores whose attribute values the model encodes; key `KEY`.
    """

    pairs: pl.DataFrame
    grid: pl.DataFrame
    seen: pl.DataFrame

    @classmethod
    def concat(cls, parts: Sequence[LaunchInputs]) -> LaunchInputs:
        """The inputs of the union of disjoint article groups: each frame concatenated and sorted by key."""
        if not parts:
            msg = "`parts` must hold at least one LaunchInputs"
            raise ValueError(msg)
        return cls(
            pairs=pl.concat([p.pairs for p in parts]).sort(KEY),
            grid=pl.concat([p.grid for p in parts]).sort(*KEY, "horizon"),
            seen=pl.concat([p.seen for p in parts]).sort(KEY),
        )


def launch_inputs(
    panel: pl.DataFrame | pl.LazyFrame,
    origin: date,
    articles: pl.DataFrame,
    weeks: int,
    start: date | None = None,
) -> LaunchInputs:
    """The launch pairs, their launch grid of `weeks` weeks and the series seen, from `panel` up to `origin`.

    `start` is the first week of the whole run's panel (default: the first week of `panel` up to `origin`);
    a partition passes the whole run's, so that a pair launched before the run's start is dropped in every
    partition alike. `articles` needs ``article_id`` and, when known, ``launch_date`` (any superset of the
    partition's articles gives the same result).

    Examples
    --------
    >>> panel = pl.DataFrame({"article_id": ["a", "a", "b"], "store_id": ["s", "s", "s"],
    ...     "week": [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 8)], "units": [2.0, 1.0, 4.0]})
    >>> inputs = launch_inputs(panel, date(2024, 1, 8), pl.DataFrame({"article_id": ["a", "b"]}), 2)
    >>> inputs.grid.select("article_id", "horizon", "units").rows()
    [('a', 1, 2.0), ('a', 2, 1.0), ('b', 1, 4.0)]
    """
    frame = panel.lazy().filter(pl.col("week") <= origin).select(*KEY, "week", "units").collect()
    pairs = launches(frame, articles, start).sort(KEY)
    return LaunchInputs(
        pairs=pairs,
        grid=launch_grid(frame, pairs, weeks, origin),
        seen=frame.select(KEY).unique().sort(KEY),
    )


def shape_curve(grid: pl.DataFrame, weeks: int) -> np.ndarray:
    """Mean units per week from launch (weeks never observed take the mean of the others)."""
    means = grid.group_by("horizon").agg(pl.col("units").mean()).sort("horizon")
    curve = np.full(weeks, np.nan)
    curve[means["horizon"].to_numpy() - 1] = means["units"].to_numpy()
    filled = np.maximum(np.nan_to_num(curve, nan=float(np.nanmean(curve))), 1e-6)
    return np.asarray(filled)


def quantile_curves(grid: pl.DataFrame, weeks: int, levels: Sequence[float]) -> np.ndarray:
    """Quantiles of the units of each week from launch over the pairs that reached it (weeks × levels): the
    unconditional launch curves, the same for every article (a week never reached takes the week before's;
    a first week never reached, 0).

    Examples
    --------
    >>> grid = pl.DataFrame({"horizon": [1, 1, 1, 2, 2, 2], "units": [1.0, 2.0, 9.0, 0.0, 4.0, 5.0]})
    >>> quantile_curves(grid, 3, [0.5]).tolist()
    [[2.0], [4.0], [4.0]]
    """
    curves = np.full((weeks, len(levels)), np.nan)
    for h, units in grid.group_by("horizon").agg("units").iter_rows():
        if 1 <= h <= weeks:
            curves[h - 1] = np.quantile(np.asarray(units, dtype=np.float64), list(levels))
    for h in range(weeks):
        if np.isnan(curves[h]).any():
            curves[h] = curves[h - 1] if h > 0 else 0.0
    return curves


def level_index(grid: pl.DataFrame, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative units and expected units (mean curve) by calendar week, for windowed look-ups."""
    week_days, week = np.unique(days(grid["_week"]), return_inverse=True)
    units = np.bincount(week, weights=grid["units"].to_numpy(), minlength=len(week_days))
    expected = np.bincount(week, weights=curve[grid["horizon"].to_numpy() - 1], minlength=len(week_days))
    zero = np.zeros(1)
    return week_days, np.concatenate([zero, np.cumsum(units)]), np.concatenate([zero, np.cumsum(expected)])


def level_at(
    index: tuple[np.ndarray, np.ndarray, np.ndarray], launch_day: np.ndarray, window_weeks: int
) -> np.ndarray:
    """Log of units / expected units over the `window_weeks` weeks that ended before each launch day."""
    week_days, cum_units, cum_expected = index
    end = launch_day - 7  # the latest week label whose week ended on or before the launch day
    lo = np.searchsorted(week_days, end - 7 * window_weeks, side="right")
    hi = np.searchsorted(week_days, end, side="right")
    units = cum_units[hi] - cum_units[lo]
    expected = cum_expected[hi] - cum_expected[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(expected > 0, units / np.maximum(expected, 1e-12), np.nan)
    return np.asarray(np.log(np.clip(ratio, 0.05, None)))


def launch_counts(articles: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Catalogue articles launching on each day and in each week: the size of the drop, planned in advance."""
    if "launch_date" not in articles.columns:
        return (
            pl.DataFrame(schema={"_day": pl.Date, "f_launch_day_count": pl.Float64}),
            pl.DataFrame(schema={"_wk": pl.Date, "f_launch_week_count": pl.Float64}),
        )
    dated = articles.drop_nulls("launch_date")
    by_day = dated.group_by(pl.col("launch_date").alias("_day")).agg(
        pl.len().cast(pl.Float64).alias("f_launch_day_count")
    )
    by_week = dated.group_by(pl.col("launch_date").dt.truncate("1w").alias("_wk")).agg(
        pl.len().cast(pl.Float64).alias("f_launch_week_count")
    )
    return by_day, by_week


def trend_attributes(articles: pl.DataFrame, trends: pl.DataFrame | None, attributes: list[str]) -> list[str]:
    """Attributes with at least one value that is a trend term."""
    if trends is None or trends.height == 0:
        return []
    terms = trends["term"].unique().implode()
    return [a for a in attributes if articles[a].cast(pl.Utf8).str.to_lowercase().is_in(terms).any()]


def join_trends(frame: pl.DataFrame, trends: pl.DataFrame | None, used: list[str]) -> pl.DataFrame:
    """Trend features of each attribute value that is a trend term, from weeks that ended before launch."""
    if trends is None or not used:
        return frame
    needed = pl.concat(
        [frame.select("_day", pl.col(a).cast(pl.Utf8).str.to_lowercase().alias("term")) for a in used]
    ).unique()
    values = trends.select("week", "term", pl.col("value").cast(pl.Float64)).drop_nulls("value")
    lag = ((pl.col("_day") - pl.col("week")).dt.total_days() - 7) // 7  # 0 = the last complete week
    lagged = (
        needed.join(values, on="term")
        .with_columns(lag.alias("_lag"))
        .filter(pl.col("_lag").is_between(0, 51))
    )
    stats = lagged.group_by("_day", "term").agg(
        pl.col("value").filter(pl.col("_lag").is_between(lo, hi)).mean().alias(f"w{name}")
        for name, (lo, hi) in TREND_WINDOWS.items()
    )
    for attr in used:
        renamed = stats.rename({f"w{n}": f"f_trend_{attr}_{n}" for n in TREND_WINDOWS} | {"term": "_term"})
        frame = frame.with_columns(pl.col(attr).cast(pl.Utf8).str.to_lowercase().alias("_term"))
        frame = frame.join(renamed, on=["_day", "_term"], how="left", maintain_order="left").drop("_term")
        frame = frame.with_columns(
            (pl.col(f"f_trend_{attr}_4") / pl.col(f"f_trend_{attr}_52")).alias(f"f_trend_{attr}_momentum")
        )
    return frame


def _codes(query: pl.Series, bank: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of both columns over their joint values; a missing value is -1 and matches nothing."""
    both = pl.concat([query.cast(pl.Utf8), bank.cast(pl.Utf8)]).rank("dense").fill_null(0).cast(pl.Int64) - 1
    codes = both.to_numpy()
    return codes[: query.len()], codes[query.len() :]


def _top_k(score: np.ndarray, target: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, median of `target` and the score of the `k` best columns per row (-inf scores are ignored)."""
    kk = min(k, score.shape[1])
    top = np.argpartition(-score, kk - 1, axis=1)[:, :kk]
    best = np.take_along_axis(score, top, axis=1)
    values = np.where(np.isfinite(best), target[top], np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (
            np.nanmean(values, axis=1),
            np.nanmedian(values, axis=1),
            np.nanmean(np.where(np.isfinite(best), np.floor(best), np.nan), axis=1),
        )


def analogue_features(
    query: pl.DataFrame, bank: pl.DataFrame, columns: list[str], k: int, category: str | None
) -> pl.DataFrame:
    """Log launch totals of each query's `k` most similar analogues, all launched and sold out before it.

    An analogue of a query is a bank pair whose launch window ended on or before the query's launch day
    (``_end <= _day``), so neither the query itself nor anything later is read. Similarity is the count of
    equal `columns` (attributes and store), ties broken by the most recent launch. Also the `k` most recent
    analogues of the same `category` value. `query` has ``_day`` and `columns`; `bank` has ``_end``,
    ``_launch``, ``_target`` (log 1 + total units) and `columns`. Rows follow `query`; no analogue gives null.
    """
    out = {name: np.full(query.height, np.nan) for name in ANALOGUE_FEATURES}
    if bank.height == 0 or query.height == 0:
        return pl.DataFrame(out)
    pairs = [_codes(query[c], bank[c]) for c in columns]
    end, target = days(bank["_end"]), bank["_target"].to_numpy().astype(np.float64)
    launch = days(bank["_launch"]).astype(np.float64)
    recency = 0.5 * (launch - launch.min()) / max(1.0, float(launch.max() - launch.min()))
    query_day = days(query["_day"])
    same = columns.index(category) if category in columns else None
    step = max(1, CHUNK_CELLS // bank.height)
    for lo in range(0, query.height, step):
        rows = slice(lo, lo + step)
        eligible = end[None, :] <= query_day[rows, None]
        matches = np.zeros((len(query_day[rows]), bank.height))
        for q_code, b_code in pairs:
            matches += (q_code[rows, None] == b_code[None, :]) & (q_code[rows, None] >= 0)
        score = np.where(eligible, matches + recency[None, :], -np.inf)
        stats = _top_k(score, target, k)
        for name, values in zip(ANALOGUE_FEATURES[:3], stats, strict=True):
            out[name][rows] = values
        if same is not None:
            q_code, b_code = pairs[same]
            alike = eligible & (q_code[rows, None] == b_code[None, :]) & (q_code[rows, None] >= 0)
            mean, median, _ = _top_k(np.where(alike, recency[None, :], -np.inf), target, k)
            out[ANALOGUE_FEATURES[3]][rows], out[ANALOGUE_FEATURES[4]][rows] = mean, median
    return pl.DataFrame(out)


__all__ = [
    "ANALOGUE_FEATURES",
    "KEY",
    "LaunchInputs",
    "analogue_features",
    "attribute_columns",
    "attribute_values",
    "days",
    "join_trends",
    "launch_calendar",
    "launch_counts",
    "launch_grid",
    "launch_inputs",
    "launches",
    "level_at",
    "level_index",
    "quantile_curves",
    "shape_curve",
    "trend_attributes",
]
