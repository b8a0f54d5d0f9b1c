"""Cold-start model: weekly demand of articles that have not sold yet, from what is known before launch.

For every article × store that launched inside the fitted history, the model learns its first `weeks` weeks
from launch (week 1 = the launch week) from features known on the launch day only:

- attributes (category, colour, fabric, ... and the store) as LightGBM categories; a value never seen in
  training becomes missing, so unseen values are handled like a brand-new category;
- the release calendar: month, week of year, day of week, days to Christmas;
- exogenous trends: for each attribute value that is a trend term (e.g. Google Trends of the category, colour
  and fabric words), the mean popularity over the 4, 13 and 52 complete weeks before launch and over the
  same season one year earlier. Only trend weeks that end on or before the launch day are read;
- the recent sales level: units sold in the weeks before launch by articles in their own first weeks, divided
  by what the average launch curve predicts for them (a chain-traffic index, read before launch only);
- analogues: the mean launch curve of the `k` most similar articles launched earlier (attribute matches,
  ties broken by recency).

A LightGBM model per output (mean: L2; each quantile: pinball loss) predicts weekly units from these features
plus the week from launch; the mean is optionally blended with the analogue curve.

Examples
--------
>>> from datetime import date
>>> import polars as pl
>>> articles = pl.DataFrame({"article_id": ["a", "b"], "category": ["tops", "tops"],
...     "launch_date": [date(2024, 1, 1), date(2024, 3, 4)]})
>>> panel = pl.DataFrame({"article_id": ["a"] * 4, "store_id": ["s"] * 4,
...     "week": [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15), date(2024, 1, 22)],
...     "units": [3.0, 5.0, 4.0, 2.0]})
>>> model = ColdStartForecaster([0.1, 0.5, 0.9], 0, articles, params={"weeks": 4})
>>> model = model.fit(panel, date(2024, 1, 22))
>>> new = pl.DataFrame({"article_id": ["b"], "store_id": ["s"], "launch_week": [date(2024, 3, 4)]})
>>> model.predict(2, new).select("week", "horizon").rows()
[(datetime.date(2024, 3, 4), 1), (datetime.date(2024, 3, 11), 2)]
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from forecast.errors import InputError, NotFittedError
from forecast.models.base import FORECAST_COLUMNS, quantile_column

DEFAULT_PARAMS: dict[str, Any] = {
    "weeks": 12,  # weeks from launch the model learns
    "k": 30,  # analogues per article
    "blend": 0.0,  # weight of the analogue curve in the mean
    "level_weeks": 26,  # weeks before launch read by the sales-level index
    "num_boost_round": 100,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 300,
    "min_data_per_group": 200,
    "cat_l2": 10.0,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 50.0,
    "normalise": True,  # learn units / (sales level × mean launch curve), scaled back at prediction
}
KEY = ["article_id", "store_id"]
TREND_WINDOWS = {"4": (0, 3), "13": (0, 12), "52": (0, 51), "ly": (40, 51)}
MAX_ATTRIBUTE_SHARE = 0.5  # an attribute with more distinct values than this share of articles is an id


class ColdStartForecaster:
    """Forecast the first weeks of articles with no sales history.

    Parameters
    ----------
    quantiles
        Quantile levels to forecast (0.1, 0.5 and 0.9 are always included).
    seed
        Seed of every random choice (LightGBM bagging).
    articles
        Catalogue: ``article_id``, optional ``launch_date`` (Date) and attribute columns.
    trends
        Optional ``week, term, value`` table; an attribute value equal to a term (lower case) reads its trend.
    attributes
        Article columns used as attributes; default: every text column of `articles` except id-like ones.
    params
        Overrides of `DEFAULT_PARAMS`.
    """

    name = "cold_start"

    def __init__(
        self,
        quantiles: list[float],
        seed: int,
        articles: pl.DataFrame,
        trends: pl.DataFrame | None = None,
        attributes: list[str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.quantiles = sorted(set(quantiles) | {0.1, 0.5, 0.9})
        self.seed = seed
        self.articles = articles
        self.trends = trends
        self.attributes = attributes
        self.params = {**DEFAULT_PARAMS, **(params or {})}

    # ------------------------------------------------------------------ fit
    def fit(self, panel: pl.DataFrame | pl.LazyFrame, origin: date) -> ColdStartForecaster:
        """Learn launch curves from article × store pairs that launched inside `panel` up to `origin`."""
        frame = panel.lazy().filter(pl.col("week") <= origin).select(*KEY, "week", "units").collect()
        weeks = int(self.params["weeks"])
        self.attributes_ = _attribute_columns(self.articles, self.attributes)
        self.trend_attributes_ = _trend_attributes(self.articles, self.trends, self.attributes_)
        launches = _launches(frame, self.articles)
        grid = _launch_grid(frame, launches, weeks, origin)
        if grid.height == 0:
            msg = f"no article launched inside the history up to {origin.isoformat()!r}"
            raise InputError(msg, column="week", fix="fit the cold-start model on a panel with launches")
        self.origin_ = origin
        self.curve_ = _mean_curve(grid, weeks)
        self.level_ = _level_index(grid, self.curve_)
        self.codes_ = {
            col: {v: i for i, v in enumerate(sorted(_attribute_values(self.articles, col, frame)))}
            for col in [*self.attributes_, "store_id"]
        }
        pairs = launches.join(grid.select(KEY).unique(), on=KEY).sort(KEY)
        self.train_pairs_ = pairs
        self.train_onehot_ = self._onehot(pairs)
        self.train_curves_ = _curve_matrix(pairs, grid, weeks)
        self.train_launch_ = _days(pairs["launch_week"])
        target = grid.select(*KEY, "horizon", "units")
        rows = self._design(pairs).join(target, on=[*KEY, "horizon"]).sort(*KEY, "horizon")
        drop = tuple(self.params.get("drop_features", ()))
        self.feature_names_ = [
            c for c in rows.columns if c.startswith("f_") and not c.startswith(drop or ("\0",))
        ]
        self.models_ = self._train(rows)
        return self

    def _train(self, rows: pl.DataFrame) -> dict[str, lgb.Booster]:
        features = rows.select(self.feature_names_).to_numpy().astype(np.float64)
        scale = self._scale(rows)
        target = rows["units"].to_numpy().astype(np.float64) / scale
        categorical = [n for n in self.feature_names_ if n.startswith("f_cat_")]
        base = {
            key: self.params[key]
            for key in (
                "learning_rate",
                "num_leaves",
                "min_data_in_leaf",
                "feature_fraction",
                "bagging_fraction",
                "bagging_freq",
                "lambda_l2",
                "cat_smooth",
                "min_data_per_group",
                "cat_l2",
            )
        }
        base |= {"seed": self.seed, "deterministic": True, "num_threads": 1, "verbose": -1}
        objectives: dict[str, dict[str, Any]] = {"mean": {"objective": "regression"}}
        for q in self.quantiles:
            objectives[quantile_column(q)] = {"objective": "quantile", "alpha": q}
        models = {}
        for name, objective in objectives.items():
            data = lgb.Dataset(
                features,
                target,
                weight=scale,
                feature_name=self.feature_names_,
                categorical_feature=categorical,
                free_raw_data=False,
            )
            models[name] = lgb.train(
                base | objective, data, num_boost_round=int(self.params["num_boost_round"])
            )
        return models

    # -------------------------------------------------------------- predict
    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        """Forecast weeks 1..`horizon` from launch for `series` (article_id, store_id, launch_week)."""
        if not hasattr(self, "models_"):
            msg = "This ColdStartForecaster instance is not fitted yet. Call 'fit' with a panel first."
            raise NotFittedError(msg)
        if horizon < 1:
            msg = f"`horizon` must be at least 1 week, got {horizon!r}"
            raise ValueError(msg)
        pairs = self._series(series)
        rows = self._design(pairs, horizon=horizon).sort(*KEY, "horizon")
        features = rows.select(self.feature_names_).to_numpy().astype(np.float64)
        scale = self._scale(rows)
        out = {
            name: np.clip(model.predict(features) * scale, 0.0, None) for name, model in self.models_.items()
        }
        blend = float(self.params["blend"])
        analogue = np.nan_to_num(rows["f_knn_units"].to_numpy().astype(np.float64), nan=0.0)
        out["mean"] = (1 - blend) * out["mean"] + blend * analogue
        names = [quantile_column(q) for q in self.quantiles]
        quant = np.sort(np.column_stack([out[n] for n in names]), axis=1)
        result = rows.select(
            *KEY,
            (pl.col("launch_week") + pl.duration(days=7 * (pl.col("horizon") - 1))).alias("week"),
            pl.col("horizon").cast(pl.Int32),
            pl.lit(self.name).alias("model"),
            pl.Series("mean", out["mean"]),
            *[pl.Series(n, quant[:, i]) for i, n in enumerate(names)],
        )
        extra = [n for n in names if n not in FORECAST_COLUMNS]
        return result.select(*FORECAST_COLUMNS, *extra)

    def _series(self, series: pl.DataFrame | None) -> pl.DataFrame:
        if series is None:
            future = (
                self.articles.filter(pl.col("is_future")) if "is_future" in self.articles.columns else None
            )
            if future is None or "launch_date" not in self.articles.columns:
                msg = "no `series` given and the catalogue has no future articles with a launch_date"
                raise InputError(
                    msg, column="launch_week", fix="pass series with article_id, store_id, launch_week"
                )
            stores = self.train_pairs_.select("store_id").unique().sort("store_id")
            series = future.select("article_id", pl.col("launch_date").alias("launch_week")).join(
                stores, how="cross"
            )
        missing = [c for c in [*KEY, "launch_week"] if c not in series.columns]
        if missing:
            msg = f"`series` lacks column(s) {missing}"
            raise InputError(msg, column=missing[0], fix="pass series with article_id, store_id, launch_week")
        return series.select(
            pl.col("article_id").cast(pl.Utf8),
            pl.col("store_id").cast(pl.Utf8),
            pl.col("launch_week").cast(pl.Date),
        ).unique(KEY, keep="first", maintain_order=True)

    # ------------------------------------------------------------- features
    def _design(self, pairs: pl.DataFrame, horizon: int | None = None) -> pl.DataFrame:
        """Static features of each pair, expanded to one row per week from launch."""
        weeks = int(self.params["weeks"])
        horizons = list(range(1, (horizon or weeks) + 1))
        attrs = self.articles.select("article_id", *self.attributes_, *_launch_date_column(self.articles))
        base = pairs.join(attrs, on="article_id", how="left")
        launch_day = pl.coalesce(
            [pl.col("launch_date"), pl.col("launch_week")]
            if "launch_date" in base.columns
            else [pl.col("launch_week")]
        )
        cats = [
            pl.col(c)
            .cast(pl.Utf8)
            .replace_strict(m, default=None, return_dtype=pl.Float64)
            .alias(f"f_cat_{c}")
            for c, m in self.codes_.items()
        ]
        frame = base.with_columns(launch_day.alias("_day")).with_columns(
            *cats,
            pl.col("_day").dt.month().cast(pl.Float64).alias("f_month"),
            pl.col("_day").dt.week().cast(pl.Float64).alias("f_week_of_year"),
            pl.col("_day").dt.weekday().cast(pl.Float64).alias("f_weekday"),
            _days_to_christmas(pl.col("_day")).alias("f_days_to_christmas"),
        )
        frame = frame.join(self._launch_counts(), on="_day", how="left").with_columns(
            pl.col("f_launch_count").fill_null(1.0)
        )
        frame = frame.with_columns(pl.Series("f_level", self._level_at(frame["launch_week"])))
        frame = _join_trends(frame, self.trends, self.trend_attributes_)
        knn_units, knn_total = self._analogues(pairs)
        frame = frame.with_columns(pl.Series("f_knn_total", knn_total))
        curve = np.append(self.curve_, np.full(max(0, len(horizons) - weeks), self.curve_[-1]))
        long = frame.with_columns(pl.lit(horizons, dtype=pl.List(pl.Int32)).alias("horizon")).explode(
            "horizon"
        )
        h_idx = np.minimum(long["horizon"].to_numpy(), weeks) - 1
        row_idx = np.repeat(np.arange(frame.height), len(horizons))
        return long.with_columns(
            pl.Series(
                "f_knn_units", knn_units[row_idx, h_idx] if knn_units.size else np.full(long.height, np.nan)
            ),
            pl.Series("f_curve", curve[long["horizon"].to_numpy() - 1]),
            pl.col("horizon").clip(upper_bound=weeks).cast(pl.Float64).alias("f_horizon"),
        )

    def _launch_counts(self) -> pl.DataFrame:
        """Catalogue articles launching on each day: the size of the drop, planned before launch."""
        if "launch_date" not in self.articles.columns:
            return pl.DataFrame(schema={"_day": pl.Date, "f_launch_count": pl.Float64})
        return (
            self.articles.drop_nulls("launch_date")
            .group_by(pl.col("launch_date").alias("_day"))
            .agg(pl.len().cast(pl.Float64).alias("f_launch_count"))
        )

    def _scale(self, rows: pl.DataFrame) -> np.ndarray:
        """Per-row scale of the target: sales level × mean launch curve (1 when not normalising)."""
        if not self.params["normalise"]:
            return np.ones(rows.height)
        level = np.nan_to_num(rows["f_level"].to_numpy().astype(np.float64), nan=1.0)
        return np.asarray(np.clip(level, 0.05, None) * rows["f_curve"].to_numpy())

    def _level_at(self, launch: pl.Series) -> np.ndarray:
        """Sales-level index over the `level_weeks` complete weeks before each launch (capped at origin)."""
        days, cum_units, cum_curve = self.level_
        last = _days(pl.Series([self.origin_])).item() + 7
        end = np.minimum(_days(launch), last) - 7  # the latest week label whose week ended before launch
        start = end - 7 * int(self.params["level_weeks"])
        lo = np.searchsorted(days, start, side="right")
        hi = np.searchsorted(days, end, side="right")
        units = cum_units[hi] - cum_units[lo]
        expected = cum_curve[hi] - cum_curve[lo]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(expected > 0, units / np.maximum(expected, 1e-12), np.nan)

    def _onehot(self, pairs: pl.DataFrame) -> np.ndarray:
        attrs = self.articles.select("article_id", *self.attributes_)
        frame = pairs.join(attrs, on="article_id", how="left")
        blocks = []
        for col, mapping in self.codes_.items():
            codes = (
                frame[col].cast(pl.Utf8).replace_strict(mapping, default=-1, return_dtype=pl.Int64).to_numpy()
            )
            block = np.zeros((frame.height, len(mapping) + 1), dtype=np.float32)
            block[np.arange(frame.height), np.where(codes < 0, len(mapping), codes)] = 1.0
            block[:, len(mapping)] = 0.0  # unseen values match nothing
            blocks.append(block)
        return np.hstack(blocks)

    def _analogues(self, pairs: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Mean launch curve (and its total) of the `k` most similar pairs launched strictly earlier."""
        k = int(self.params["k"])
        query = self._onehot(pairs)
        launch = _days(pairs["launch_week"])
        curves = np.zeros((pairs.height, self.train_curves_.shape[1]))
        for start in range(0, pairs.height, 1024):
            stop = min(start + 1024, pairs.height)
            gap = launch[start:stop, None] - self.train_launch_[None, :]
            sim = query[start:stop] @ self.train_onehot_.T + 0.5 * np.exp(-np.maximum(gap, 0) / 365.0)
            sim = np.where(gap > 0, sim, -np.inf)
            top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
            valid = np.take_along_axis(sim, top, axis=1) > -np.inf
            picked = np.where(valid[:, :, None], self.train_curves_[top], np.nan)
            with np.errstate(invalid="ignore"), _ignore_empty():
                curves[start:stop] = np.nanmean(picked, axis=1)
        with _ignore_empty():
            total = np.where(np.isnan(curves).all(axis=1), np.nan, np.nansum(curves, axis=1))
        return curves, total


# ---------------------------------------------------------------- helpers
@contextmanager
def _ignore_empty() -> Iterator[None]:
    """Silence numpy's warning for the mean of an all-NaN slice (no analogue: NaN is the intended answer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _days(dates: pl.Series) -> np.ndarray:
    """Dates as integer days since 1970-01-01."""
    return dates.cast(pl.Date).cast(pl.Int64).to_numpy()


def _launch_date_column(articles: pl.DataFrame) -> list[str]:
    return ["launch_date"] if "launch_date" in articles.columns else []


def _attribute_columns(articles: pl.DataFrame, attributes: list[str] | None) -> list[str]:
    """The attribute columns to use: the given ones, or every text column that is not an id."""
    if attributes is not None:
        missing = [c for c in attributes if c not in articles.columns]
        if missing:
            msg = f"attribute column(s) {missing} not in the articles table"
            raise InputError(msg, column=missing[0], fix="name existing article columns in `attributes`")
        return list(attributes)
    limit = max(1, int(MAX_ATTRIBUTE_SHARE * articles.height))
    return [
        c
        for c, dtype in articles.schema.items()
        if c != "article_id" and dtype == pl.Utf8 and articles[c].n_unique() <= limit
    ]


def _attribute_values(articles: pl.DataFrame, col: str, panel: pl.DataFrame) -> list[str]:
    source = (
        panel
        if col == "store_id"
        else articles.filter(pl.col("article_id").is_in(panel["article_id"].implode()))
    )
    return [v for v in source[col].cast(pl.Utf8).unique().to_list() if v is not None]


def _launches(panel: pl.DataFrame, articles: pl.DataFrame) -> pl.DataFrame:
    """Launch week per article × store: the catalogue launch date when known, else its first panel week.

    Pairs launched before the panel starts are dropped: their first weeks are not observed.
    """
    first = panel.group_by(KEY).agg(pl.col("week").min().alias("first_week"))
    start = panel["week"].min()
    if "launch_date" in articles.columns:
        first = first.join(articles.select("article_id", "launch_date"), on="article_id", how="left")
        launch = pl.coalesce(pl.col("launch_date"), pl.col("first_week"))
    else:
        launch = pl.col("first_week")
    return first.select(*KEY, launch.alias("launch_week")).filter(pl.col("launch_week") >= start)


def _launch_grid(panel: pl.DataFrame, launches: pl.DataFrame, weeks: int, origin: date) -> pl.DataFrame:
    """Units of every pair in weeks 1..`weeks` from launch that ended by `origin` (absent weeks sold 0)."""
    horizon = (((pl.col("week") - pl.col("launch_week")).dt.total_days() + 6) // 7 + 1).cast(pl.Int32)
    sold = (
        panel.join(launches, on=KEY)
        .with_columns(horizon.alias("horizon"))
        .filter(pl.col("horizon").is_between(1, weeks))
        .group_by(*KEY, "horizon")
        .agg(pl.col("units").sum())
    )
    full = launches.with_columns(pl.lit(list(range(1, weeks + 1)), dtype=pl.List(pl.Int32)).alias("horizon"))
    full = full.explode("horizon").filter(
        pl.col("launch_week") + pl.duration(days=7 * (pl.col("horizon") - 1)) <= origin
    )
    return (
        full.join(sold, on=[*KEY, "horizon"], how="left")
        .select(*KEY, "horizon", pl.col("units").fill_null(0.0).cast(pl.Float64), "launch_week")
        .rename({"launch_week": "_launch"})
        .with_columns((pl.col("_launch") + pl.duration(days=7 * (pl.col("horizon") - 1))).alias("_week"))
        .drop("_launch")
    )


def _mean_curve(grid: pl.DataFrame, weeks: int) -> np.ndarray:
    means = grid.group_by("horizon").agg(pl.col("units").mean()).sort("horizon")
    curve = np.full(weeks, np.nan)
    curve[means["horizon"].to_numpy() - 1] = means["units"].to_numpy()
    filled = np.maximum(np.nan_to_num(curve, nan=float(np.nanmean(curve))), 1e-6)
    return np.asarray(filled)


def _level_index(grid: pl.DataFrame, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative units and expected units (mean curve) by calendar week, for windowed look-ups."""
    daily = (
        grid.with_columns(pl.Series("_expected", curve[grid["horizon"].to_numpy() - 1]))
        .group_by("_week")
        .agg(pl.col("units").sum(), pl.col("_expected").sum())
        .sort("_week")
    )
    zero = np.zeros(1)
    return (
        _days(daily["_week"]),
        np.concatenate([zero, np.cumsum(daily["units"].to_numpy())]),
        np.concatenate([zero, np.cumsum(daily["_expected"].to_numpy())]),
    )


def _curve_matrix(pairs: pl.DataFrame, grid: pl.DataFrame, weeks: int) -> np.ndarray:
    """Pairs × weeks-from-launch units (NaN where the week is not yet observed)."""
    index = pairs.select(KEY).with_row_index("_i")
    cells = grid.join(index, on=KEY)
    matrix = np.full((pairs.height, weeks), np.nan)
    matrix[cells["_i"].to_numpy(), cells["horizon"].to_numpy() - 1] = cells["units"].to_numpy()
    return matrix


def _days_to_christmas(day: pl.Expr) -> pl.Expr:
    christmas = pl.date(day.dt.year(), 12, 25)
    return (christmas - day).dt.total_days().cast(pl.Float64)


def _trend_attributes(
    articles: pl.DataFrame, trends: pl.DataFrame | None, attributes: list[str]
) -> list[str]:
    """Attributes with at least one value that is a trend term."""
    if trends is None or trends.height == 0:
        return []
    terms = trends["term"].unique().implode()
    return [a for a in attributes if articles[a].cast(pl.Utf8).str.to_lowercase().is_in(terms).any()]


def _join_trends(frame: pl.DataFrame, trends: pl.DataFrame | None, used: list[str]) -> pl.DataFrame:
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
        frame = frame.join(renamed, on=["_day", "_term"], how="left").drop("_term")
        frame = frame.with_columns(
            (pl.col(f"f_trend_{attr}_4") / pl.col(f"f_trend_{attr}_52")).alias(f"f_trend_{attr}_momentum")
        )
    return frame
