"""Cold-start model: weekly demand of articles that have not sold yet, from what is known before launch.

The model is direct: one LightGBM per week from launch (1..`weeks`) and per output, each learning the units of
that week from launch-day features, so every article gets its own launch curve (a coat launched in October
peaks later than a top launched in May; a big launch fades differently from a small one):

- ``q50`` (the median, the point forecast that minimises absolute error and so WAPE) is learnt with the
  absolute (L1) loss, the other quantiles with the pinball loss; quantiles are sorted per week, so they never
  cross; ``mean`` (expected units) is learnt with the Tweedie loss, which suits skewed, intermittent counts;
- the model of week h learns from every pair whose week h from launch ended by the origin: the first weeks
  learn from launches up to the last week, not only from pairs whose whole window is known;
- features are known on the launch day only: attributes (category, colour, fabric, ... and the store) as
  LightGBM categories (a value never seen in training is missing); the release calendar (month, week of year,
  day of week, days to Christmas); how many catalogue articles launch the same day and week (the size of the
  drop); trends of the attribute words (mean popularity over the 4, 13 and 52 weeks that ended before launch,
  and the 4 over the 52), left out by default (``drop_features`` = ``("f_trend",)``: on VISUELLE's
  time-ordered holdouts they make the median forecast worse, i.e. they overfit); and the chain's recent
  sales level (units sold in the 4 and 13 weeks that ended before launch by articles in their first weeks,
  over what the mean launch curve expects of them); with ``analogues`` = k > 0, the mean
  and median log total of the k most similar analogues (most equal attributes and store, ties: most recent)
  and of the k most recent of the same category, among pairs whose window ended before launch;
- ``seeds`` boosters are averaged per week and output; weeks after `weeks` repeat the last week's forecast;
- each quantile is moved ``curve_weight`` (0.2) of the way to the same quantile of the units of its week from
  launch over the training launches (`forecast.features.launch.quantile_curves`, the same for every article),
  then kept ordered around q50 (`forecast.distribution.ordered_around`) and at or above 0; the mean is the
  booster's, raised where the quantiles need it (`forecast.distribution.raise_mean_to_quantiles`). The
  boosters' q50 is over-dispersed across new articles; pulling it a little toward the common curve reduces
  its error, and 0.2 is where a larger pull stopped helping on VISUELLE's holdouts;
- cost: ``mean`` gets ``num_boost_round`` rounds at ``learning_rate`` (300 at 0.03), each quantile (q50
  included) fewer rounds at twice the rate (``quantile_num_boost_round``, ``quantile_learning_rate``: 80 at
  0.06; fewer rounds keep q50 nearer the launches' median, while the mean needs the slower, longer fit);
  a week's objectives share one
  binned ``lgb.Dataset``; the weeks are trained ``jobs`` at a time in threads (default one per CPU), each
  booster single-threaded with LightGBM's deterministic mode and a fixed seed, so the model does not depend on
  ``jobs``;
- with ``calibrate=True``, q10/q90 (every quantile but q50) are shifted by offsets measured on the latest
  launches (`forecast.models.launch_calibration`); off by default, since it costs one more fit.

Examples
--------
>>> from datetime import date
>>> import polars as pl
>>> articles = pl.DataFrame({"article_id": ["a", "b"], "category": ["tops", "tops"],
...     "launch_date": [date(2024, 1, 1), date(2024, 3, 4)]})
>>> panel = pl.DataFrame({"article_id": ["a"] * 4, "store_id": ["s"] * 4,
...     "week": [date(2024, 1, 1), date(2024, 1, 8), date(2024, 1, 15), date(2024, 1, 22)],
...     "units": [3.0, 5.0, 4.0, 2.0]})
>>> model = ColdStartForecaster([0.1, 0.5, 0.9], 0, params={"weeks": 4})
>>> model = model.fit(panel, date(2024, 1, 22), articles=articles)
>>> new = pl.DataFrame({"article_id": ["b"], "store_id": ["s"], "launch_week": [date(2024, 3, 4)]})
>>> model.predict(2, new).select("week", "horizon").rows()
[(datetime.date(2024, 3, 4), 1), (datetime.date(2024, 3, 11), 2)]
"""

from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from forecast.distribution import ordered_around, raise_mean_to_quantiles
from forecast.errors import InputError
from forecast.features import launch as cf
from forecast.models import launch_calibration as calibration
from forecast.models.base import LaunchFitsInParts, LaunchForecaster, quantile_column

DEFAULT_PARAMS: dict[str, Any] = {
    "weeks": 12,  # weeks from launch the model learns
    "level_windows": (4, 13),  # weeks before launch read by the sales-level index
    "seeds": 1,  # LightGBM models averaged per week and output
    "num_boost_round": 300,  # rounds of the mean (Tweedie) booster
    "learning_rate": 0.03,
    "quantile_num_boost_round": 80,  # rounds of each quantile's booster (q50 included)
    "quantile_learning_rate": 0.06,
    "jobs": 0,  # weeks trained at once in threads, one single-threaded booster each (0: one per CPU)
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "min_data_per_group": 30,
    "cat_l2": 10.0,
    "cat_smooth": 20.0,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 0.0,
    "drop_features": ("f_trend",),  # feature name prefixes left out (trends overfit)
    "analogues": 0,  # k analogue articles read per launch (0: no analogue features)
    "curve_weight": 0.2,  # weight of the training quantile curves in each quantile (0: the boosters' alone)
}
KEY = cf.KEY
BOOSTER_KEYS = (
    "learning_rate",
    "num_leaves",
    "min_data_in_leaf",
    "min_data_per_group",
    "cat_l2",
    "cat_smooth",
    "feature_fraction",
    "bagging_fraction",
    "bagging_freq",
    "lambda_l2",
)


Design = tuple["ColdStartForecaster", np.ndarray, np.ndarray]


class ColdStartForecaster(LaunchForecaster, LaunchFitsInParts):
    """Forecast the first weeks of articles with no sales history.

    Parameters
    ----------
    quantiles
        Quantile levels to forecast (0.1, 0.5 and 0.9 are always included).
    seed
        Seed of every random choice (LightGBM bagging).
    attributes
        Article columns used as attributes; default: every text column of the catalogue. Id-like columns (more
        distinct values than half the articles, e.g. an image path) are always left out.
    params
        Overrides of `DEFAULT_PARAMS`.
    calibrate
        Shift the quantiles other than q50 by offsets measured on the latest launches
        (`forecast.models.launch_calibration`).
    holdout_share
        With `calibrate`, the share of the launched pairs (the latest) the calibration holds out.
    relative
        With `calibrate`, offsets in widths of the row's band rather than in units.
    alias
        The model's name in the forecasts (default ``"cold_start"``).
    """

    default_name = "cold_start"

    def __init__(
        self,
        quantiles: list[float],
        seed: int,
        attributes: list[str] | None = None,
        params: dict[str, Any] | None = None,
        calibrate: bool = False,
        holdout_share: float = 0.2,
        relative: bool = False,
        alias: str | None = None,
    ) -> None:
        self.quantiles = quantiles
        self.seed = seed
        self.attributes = attributes
        self.params = params
        self.calibrate = calibrate
        self.holdout_share = holdout_share
        self.relative = relative
        self.alias = alias

    def _param(self, key: str) -> Any:
        return {**DEFAULT_PARAMS, **(self.params or {})}[key]

    def launch_weeks(self) -> int:
        """Weeks from launch the model learns (``params["weeks"]``)."""
        return int(self._param("weeks"))

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        panel: pl.DataFrame,
        origin: date,
        *,
        articles: pl.DataFrame,
        trends: pl.DataFrame | None = None,
    ) -> ColdStartForecaster:
        """Learn launch levels and the launch shape from pairs that launched inside `panel` up to `origin`.

        `articles` is the catalogue (``article_id``, optional ``launch_date`` and attribute columns);
        `trends` an optional ``week, term, value`` table: an attribute value equal to a term (lower case)
        reads its trend.
        """
        weeks = int(self._param("weeks"))
        inputs = cf.launch_inputs(panel, origin, articles, weeks)
        return self.fit_launches(inputs, origin, articles=articles, trends=trends)

    def fit_launches(
        self,
        inputs: cf.LaunchInputs,
        origin: date,
        *,
        articles: pl.DataFrame,
        trends: pl.DataFrame | None = None,
        threads: int | None = None,
    ) -> ColdStartForecaster:
        """`fit` from the panel's launch inputs (`forecast.features.launch.launch_inputs` with this model's
        ``weeks``), e.g. those of every article group of a partitioned run concatenated by
        `LaunchInputs.concat`; `articles` is the whole catalogue. `threads` (default ``params["jobs"]``)
        weeks are trained at once; the result does not depend on it."""
        features, units = self._design_launches(inputs, origin, articles=articles, trends=trends)
        jobs = threads if threads is not None else int(self._param("jobs"))
        self.models_ = self._train_weeks(features, units, jobs)
        if self.calibrate:
            plain = self.with_params(calibrate=False)
            held = calibration.held_out_forecasts(
                plain, inputs, self.holdout_share, articles=articles, trends=trends
            )
            weeks = self.launch_weeks()
            self.offsets_ = (
                {} if held is None else calibration.launch_offsets(held, weeks, relative=self.relative)
            )
        self.origin_ = origin
        return self

    # -------------------------------------------------------------- a fit in parts (`LaunchFitsInParts`)
    def launch_sub_fits(self) -> list[int]:
        """Each week from launch is a task; a calibrated model is fitted in one task (`fit_launches`)."""
        return [] if self.calibrate else list(range(1, self.launch_weeks() + 1))

    def launch_design(
        self,
        inputs: cf.LaunchInputs,
        origin: date,
        *,
        articles: pl.DataFrame,
        trends: pl.DataFrame | None,
    ) -> Design:
        """An unfitted copy holding everything but its boosters, with the launched pairs' features and their
        units per week from launch, which `fit_launch_sub` learns from week by week."""
        shell = self.clone()
        features, units = shell._design_launches(inputs, origin, articles=articles, trends=trends)
        return shell, features, units

    def fit_launch_sub(self, design: Design, job: int) -> dict[str, list[lgb.Booster]]:
        """The boosters of week `job` from launch."""
        shell, features, units = design
        return shell.train_week(features, units, job)

    def assemble_launches(self, design: Design, results: list[Any]) -> ColdStartForecaster:
        """The design's model holding every week's boosters, fitted at the design's origin."""
        fitted = copy.copy(design[0])
        fitted.models_ = list(results)
        fitted.origin_ = fitted.design_origin_
        return fitted

    def _design_launches(
        self,
        inputs: cf.LaunchInputs,
        origin: date,
        *,
        articles: pl.DataFrame,
        trends: pl.DataFrame | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """`fit_launches` up to its boosters: sets everything but them on self and returns the launched
        pairs' features and their units per week from launch (NaN where the week had not ended)."""
        weeks = int(self._param("weeks"))
        self.articles_, self.trends_ = articles, trends
        self.attributes_ = cf.attribute_columns(self.articles_, self.attributes)
        self.trend_attributes_ = cf.trend_attributes(self.articles_, self.trends_, self.attributes_)
        pairs, grid = inputs.pairs, inputs.grid
        complete = grid.group_by(KEY).agg(
            pl.len().alias("_n"),
            pl.col("units").sum().alias("total"),
            (pl.col("_week").max() + pl.duration(days=7)).alias("_end"),  # the day the window ended
        )
        complete = complete.filter(pl.col("_n") == weeks).drop("_n")
        if complete.height == 0:
            msg = f"no article launched {weeks} weeks or more before {origin.isoformat()!r}"
            raise InputError(msg, column="week", fix="fit the cold-start model on a panel with launches")
        self.design_origin_ = origin
        self.curve_ = cf.shape_curve(grid, weeks)
        self.quantile_curves_ = cf.quantile_curves(grid, weeks, self.levels)
        self.level_ = cf.level_index(grid, self.curve_)
        self.codes_ = {
            col: {v: float(i) for i, v in enumerate(cf.attribute_values(self.articles_, col, inputs.seen))}
            for col in [*self.attributes_, "store_id"]
        }
        self.bank_ = self._bank(pairs.join(complete, on=KEY).sort(KEY))
        # every launched pair, with its units in each week from launch that ended by the origin (else NaN)
        wide = grid.pivot(on="horizon", index=KEY, values="units", sort_columns=True).sort(KEY)
        launched = pairs.join(wide.select(KEY), on=KEY).sort(KEY)
        rows = self._design(launched)
        drop = tuple(self._param("drop_features")) or ("\0",)
        self.feature_names_ = [c for c in rows.columns if c.startswith("f_") and not c.startswith(drop)]
        features = rows.select(self.feature_names_).to_numpy().astype(np.float64)
        units = wide.select([str(h) for h in range(1, weeks + 1)]).to_numpy().astype(np.float64)
        return features, units

    def train_week(self, features: np.ndarray, units: np.ndarray, week: int) -> dict[str, list[lgb.Booster]]:
        """The boosters of week `week` from launch (1 = launch week) from `launch_design`'s arrays."""
        y = units[:, week - 1]
        return self._train(features[np.isfinite(y)], y[np.isfinite(y)])

    def _train_weeks(
        self, features: np.ndarray, units: np.ndarray, jobs: int
    ) -> list[dict[str, list[lgb.Booster]]]:
        """The boosters of every week from launch (a column of `units`), `jobs` weeks at a time in threads.

        Each booster runs single-threaded, with a fixed seed and LightGBM's deterministic mode, so the
        boosters do not depend on `jobs` (LightGBM releases the GIL while it trains)."""
        weeks = list(range(1, units.shape[1] + 1))

        def train(week: int) -> dict[str, list[lgb.Booster]]:
            return self.train_week(features, units, week)

        jobs = jobs or len(os.sched_getaffinity(0))
        if jobs <= 1 or len(weeks) <= 1:
            return [train(w) for w in weeks]
        with ThreadPoolExecutor(max_workers=min(jobs, len(weeks))) as pool:
            return list(pool.map(train, weeks))

    def _train(self, features: np.ndarray, units: np.ndarray) -> dict[str, list[lgb.Booster]]:
        """The boosters of one week from launch: each quantile column and ``mean``, `seeds` apiece."""
        base = {key: self._param(key) for key in BOOSTER_KEYS}
        base |= {"deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1}
        if len(units) < 4 * int(base["min_data_in_leaf"]):
            # few launches: smaller leaves and no row sampling, so the booster still sees every launch
            small = max(1, len(units) // 4)
            base |= {"min_data_in_leaf": small, "min_data_per_group": small, "bagging_fraction": 1.0}
        categorical = [n for n in self.feature_names_ if n.startswith("f_cat_")]
        # objective parameters and the parameter holding its rounds, per output
        rate = {"learning_rate": self._param("quantile_learning_rate")}
        objectives: dict[str, tuple[dict[str, Any], str]] = {
            quantile_column(q): (
                rate | ({"objective": "l1"} if q == 0.5 else {"objective": "quantile", "alpha": q}),
                "quantile_num_boost_round",
            )
            for q in self.levels
        }
        objectives["mean"] = ({"objective": "tweedie", "tweedie_variance_power": 1.5}, "num_boost_round")
        # binned once, reused by every objective; Tweedie needs counts >= 0, so returns get their own labels
        data = lgb.Dataset(
            features,
            units,
            feature_name=self.feature_names_,
            categorical_feature=categorical,
            free_raw_data=False,
        )
        counts = data
        if (units < 0).any():
            counts = lgb.Dataset(
                features,
                np.clip(units, 0.0, None),
                reference=data,
                free_raw_data=False,
                feature_name=self.feature_names_,
                categorical_feature=categorical,
            )
        models: dict[str, list[lgb.Booster]] = {}
        for name, (objective, rounds) in objectives.items():
            models[name] = [
                lgb.train(
                    base | objective | {"seed": self.seed + s},
                    counts if name == "mean" else data,
                    num_boost_round=int(self._param(rounds)),
                )
                for s in range(max(1, int(self._param("seeds"))))
            ]
        return models

    def _week(self, week: int, features: np.ndarray) -> dict[str, np.ndarray]:
        """Units in week `week` from launch (1 = launch week) per output column, averaged over seeds."""
        boosters = self.models_[week - 1]
        return {
            name: np.mean([m.predict(features) for m in models], axis=0) for name, models in boosters.items()
        }

    # -------------------------------------------------------------- predict
    def predict(self, horizon: int, launches: pl.DataFrame | None = None) -> pl.DataFrame:
        """Forecast weeks 1..`horizon` from launch for `launches` (article_id, store_id, launch_week;
        default: the catalogue's future articles in every store seen at fit)."""
        self.check_fitted()
        if horizon < 1:
            msg = f"`horizon` must be at least 1 week, got {horizon!r}"
            raise ValueError(msg)
        pairs = self._series(launches)
        rows = self._design(pairs)
        features = rows.select(self.feature_names_).to_numpy().astype(np.float64)
        names = [quantile_column(q) for q in self.levels]
        learnt = [self._week(h, features) for h in range(1, min(horizon, len(self.models_)) + 1)]
        weekly = learnt + [learnt[-1]] * (horizon - len(learnt))
        # rows: pair-major, then week from launch
        quantiles = self._toward_curves(
            np.stack([np.column_stack([w[n] for n in names]) for w in weekly], axis=1)
        )
        mean = np.clip(np.column_stack([w["mean"] for w in weekly]), 0.0, None).reshape(-1)
        keys = (
            rows.select(*KEY, "launch_week")
            .with_columns(pl.lit(list(range(1, horizon + 1)), dtype=pl.List(pl.Int32)).alias("horizon"))
            .explode("horizon")
            .select(
                *KEY,
                (pl.col("launch_week") + pl.duration(days=7 * (pl.col("horizon") - 1))).alias("week"),
                "horizon",
            )
        )
        out = self.forecast_frame(keys, mean, quantiles.reshape(-1, len(names)), keep="quantiles")
        if not self.calibrate:
            return out
        # q50 unchanged; the mean raised where the wider band cannot hold it
        shifted = calibration.shift_quantiles(out, self.offsets_, relative=self.relative)
        return raise_mean_to_quantiles(shifted)

    def _toward_curves(self, quantiles: np.ndarray) -> np.ndarray:
        """Boosters' quantiles (pairs × weeks × levels) moved ``curve_weight`` of the way to the training
        quantile curves of their week from launch (weeks past the last learnt one read its curve), at or above
        0 and ordered around q50."""
        weight = float(self._param("curve_weight"))
        weeks = np.minimum(np.arange(quantiles.shape[1]), len(self.quantile_curves_) - 1)
        moved = (1.0 - weight) * quantiles + weight * self.quantile_curves_[weeks][None, :, :]
        flat = np.clip(moved, 0.0, None).reshape(-1, quantiles.shape[2])
        return ordered_around(flat, self.levels.index(0.5)).reshape(quantiles.shape)

    def _series(self, series: pl.DataFrame | None) -> pl.DataFrame:
        if series is None:
            future = (
                self.articles_.filter(pl.col("is_future")) if "is_future" in self.articles_.columns else None
            )
            if future is None or "launch_date" not in self.articles_.columns:
                msg = "no `series` given and the catalogue has no future articles with a launch_date"
                raise InputError(
                    msg, column="launch_week", fix="pass series with article_id, store_id, launch_week"
                )
            stores = pl.DataFrame({"store_id": list(self.codes_["store_id"])})
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
    def _bank(self, done: pl.DataFrame) -> pl.DataFrame:
        """Analogue candidates: complete pairs with attributes, launch, window end and log total."""
        attrs = self.articles_.select("article_id", *self.attributes_)
        return done.join(attrs, on="article_id", how="left", maintain_order="left").select(
            *self.attributes_,
            "store_id",
            pl.col("launch_week").alias("_launch"),
            "_end",
            pl.col("total").clip(0.0).log1p().alias("_target"),
        )

    def _analogues(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Analogue features of each row (nothing when ``analogues`` is 0)."""
        k = int(self._param("analogues"))
        if k <= 0:
            return frame
        category = "category" if "category" in self.attributes_ else None
        stats = cf.analogue_features(frame, self.bank_, [*self.attributes_, "store_id"], k, category)
        return frame.with_columns(stats)

    def _design(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """One row of launch-day features per pair (in the order of `pairs`)."""
        dates = ["launch_date"] if "launch_date" in self.articles_.columns else []
        attrs = self.articles_.select("article_id", *self.attributes_, *dates)
        base = pairs.join(attrs, on="article_id", how="left", maintain_order="left")
        day = pl.coalesce([pl.col(c) for c in [*dates, "launch_week"]])
        cats = [
            pl.col(c)
            .cast(pl.Utf8)
            .replace_strict(m, default=None, return_dtype=pl.Float64)
            .alias(f"f_cat_{c}")
            for c, m in self.codes_.items()
        ]
        frame = base.with_columns(day.alias("_day")).with_columns(
            *cats, *cf.launch_calendar(pl.col("_day")), pl.col("_day").dt.truncate("1w").alias("_wk")
        )
        by_day, by_week = cf.launch_counts(self.articles_)
        frame = (
            frame.join(by_day, on="_day", how="left", maintain_order="left")
            .join(by_week, on="_wk", how="left", maintain_order="left")
            .with_columns(pl.col("f_launch_day_count", "f_launch_week_count").fill_null(1.0))
        )
        launch_day = cf.days(frame["_day"])
        frame = frame.with_columns(
            pl.Series(f"f_level_{w}", cf.level_at(self.level_, launch_day, int(w)))
            for w in self._param("level_windows")
        )
        return cf.join_trends(self._analogues(frame), self.trends_, self.trend_attributes_)
