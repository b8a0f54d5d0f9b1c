"""Season demand of new articles: a calibrated distribution of each article's total over its selling season.

A buy needs the distribution of the season total D (the article's units over its planned life, else a
fixed number of weeks from launch, across all stores); a sum of weekly quantiles is not a quantile of the
sum, so the total is modelled directly:

- the target is log(1 + D) of every article whose season had ended by the decision date
  (`forecast.buy.features.season_totals`); with `relative` it is learnt relative to the chain's recent
  level (the mean log total of the latest sold-out launches), so that a level lower than any seen before is
  not cut off by the trees (off: the recent level is a feature either way);
- features are known at the decision date only (`forecast.buy.features.season_features`): attributes as
  LightGBM categories (codes from the articles already sold, so a value first seen later is missing), the
  release calendar, the list price when the catalogue has one, and analogues: the mean and median log total
  of the `analogues` articles sharing most attributes, of the most recent ones of the same category and of
  the `recent` most recent launches overall, among articles whose season ended by the decision date;
- a LightGBM regression (squared error on the log total, `seeds` boosters averaged) gives the centre;
- the centre's deviations are damped (`centre_slope`): the boosters spread their out-of-time predictions
  more widely than the totals turn out (launches predicted high sell less than predicted, those predicted
  low more), so each centre is moved to `centre_slope` of its distance from the inner holdout's mean
  prediction (below);
- the spread is the empirical distribution of the (damped) centre's errors on an inner, time-ordered
  holdout (the latest `holdout_share` of the training launches, scored by a model fitted on the earlier
  ones), read at `levels` evenly spaced probabilities: split-conformal quantiles on the log scale. With
  `order_weighted` the errors are weighted by the holdout launches' predicted totals: the buy's profit is a
  sum over articles in units, so the errors of the articles expected to sell most count most, and the
  newsvendor fractile of these weighted errors is the one that maximises the holdout's summed profit (the
  pooled data-driven newsvendor). Each article's distribution is then `levels` equally likely totals
  expm1(centre + error quantile), which the optimiser reads as a discrete distribution
  (`forecast.buy.optimise`).

The defaults (`centre_slope`, `order_weighted`, `holdout_share`, `relative`) were chosen on the two
time-ordered holdouts of VISUELLE that precede its scored one (`benchmarks/buy.py --skip`). Alternatives
kept as parameters, each measured in `docs/benchmarks.md` ("Buying") and off by default as none bought
clearly better on those holdouts: `direct` (pinball-loss boosters per level of `QUANTILE_LEVELS`,
recalibrated on the inner holdout, instead of centre plus errors), `shrink` (the centre moved toward the
attribute analogues' mean log total), `use_trends` (Google-Trends windows of the attribute words before the
decision date), `sales_level` (the first-weeks sales-level index of `forecast.features.launch`) and
`half_life_weeks` (older launches weigh less).

Training rows are computed as the query rows are: each training article's features are read as of its own
decision date (its launch less the lead time), so the model learns what a buyer at that lead time knows.

Examples
--------
>>> from datetime import date, timedelta
>>> import polars as pl
>>> start = date(2024, 1, 1)
>>> ids = [f"a{i}" for i in range(60)]
>>> articles = pl.DataFrame({"article_id": ids, "category": ["tops", "coats"] * 30,
...     "launch_date": [start + timedelta(days=7 * i) for i in range(60)]})
>>> panel = pl.DataFrame({"article_id": ids, "store_id": ["s"] * 60,
...     "week": articles["launch_date"], "units": [10.0 + (i % 2) * 20 for i in range(60)]})
>>> model = SeasonModel(levels=4, analogues=3, recent=10).fit(panel, articles, date(2024, 12, 1), 0, 1)
>>> dist = model.predict(pl.DataFrame({"article_id": ["new"], "category": ["coats"],
...     "launch_date": [date(2024, 12, 2)], "decision_date": [date(2024, 12, 2)]}))
>>> dist.atoms.shape
(1, 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from forecast.buy.features import season_features, season_lengths, season_totals
from forecast.errors import InputError
from forecast.features import launch as cf

QUANTILE_LEVELS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
MIN_TRAIN = 20  # sold-out articles a fit needs
MIN_HELD = 60  # launches scored at least by the inner holdout (a third of them when fewer than 180)
LEVEL_CURVE_WEEKS = 4  # weeks from launch of the launches the sales-level index compares
LGB_PARAMS: dict[str, Any] = {
    "objective": "l2",
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_data_in_leaf": 30,
    "min_data_per_group": 20,
    "cat_l2": 10.0,
    "cat_smooth": 20.0,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
}


@dataclass(frozen=True)
class SeasonForecast:
    """Season-total distributions: `atoms` (articles × levels, sorted per row) are equally likely totals."""

    article_ids: list[str]
    atoms: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.atoms.mean(axis=1))

    def quantile(self, level: float) -> np.ndarray:
        """The `level` quantile of each article's total, interpolated between the atoms."""
        k = self.atoms.shape[1]
        grid = (np.arange(k) + 0.5) / k
        return np.asarray([np.interp(level, grid, row) for row in self.atoms])

    def frame(self) -> pl.DataFrame:
        """``article_id, season_q10, season_q50, season_q90, season_mean``."""
        return pl.DataFrame(
            {
                "article_id": self.article_ids,
                "season_q10": self.quantile(0.1),
                "season_q50": self.quantile(0.5),
                "season_q90": self.quantile(0.9),
                "season_mean": self.mean,
            }
        )


class SeasonModel:
    """Distribution of new articles' season totals from what is known at their decision date.

    Parameters
    ----------
    levels
        Equally likely totals per article (the discrete distribution the optimiser reads).
    analogues
        Attribute analogues (and same-category launches) read per article.
    recent
        Latest sold-out launches whose mean log total is the chain's current level.
    holdout_share
        Latest share of the training launches scored to measure the spread.
    seeds
        Boosters averaged (seed, seed + 1, ...).
    rounds
        Boosting rounds of each booster.
    attributes
        Catalogue columns used as attributes (default: every text column that is not an id).
    seed
        Seed of LightGBM's row and feature sampling.
    centre_slope
        Share of each centre's distance from the inner holdout's mean prediction that is kept (1: none
        damped).
    order_weighted
        Weight the inner holdout's errors by the launches' predicted totals.
    relative, sales_level, half_life_weeks, shrink, use_trends, direct
        The alternatives of the module docstring (off).
    """

    def __init__(
        self,
        levels: int = 40,
        analogues: int = 11,
        recent: int = 200,
        holdout_share: float = 0.3,
        seeds: int = 3,
        rounds: int = 300,
        attributes: list[str] | None = None,
        seed: int = 0,
        relative: bool = False,
        sales_level: bool = False,
        half_life_weeks: float = 0.0,
        shrink: float = 0.0,
        use_trends: bool = False,
        direct: bool = False,
        centre_slope: float = 0.5,
        order_weighted: bool = True,
    ) -> None:
        self.levels = levels
        self.analogues = analogues
        self.recent = recent
        self.holdout_share = holdout_share
        self.seeds = seeds
        self.rounds = rounds
        self.attributes = attributes
        self.seed = seed
        self.relative = relative
        self.sales_level = sales_level
        self.half_life_weeks = half_life_weeks
        self.shrink = shrink
        self.use_trends = use_trends
        self.direct = direct
        self.centre_slope = centre_slope
        self.order_weighted = order_weighted

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters (a fresh copy is ``SeasonModel(**model.get_params())``)."""
        keys = (
            "levels",
            "analogues",
            "recent",
            "holdout_share",
            "seeds",
            "rounds",
            "attributes",
            "seed",
            "relative",
            "sales_level",
            "half_life_weeks",
            "shrink",
            "use_trends",
            "direct",
            "centre_slope",
            "order_weighted",
        )
        return {key: getattr(self, key) for key in keys}

    def fit(
        self,
        panel: pl.DataFrame,
        articles: pl.DataFrame,
        decision: date,
        lead_weeks: int,
        horizon: int,
        trends: pl.DataFrame | None = None,
    ) -> SeasonModel:
        """Learn from the articles whose season ended by `decision`, each read as of its launch less
        `lead_weeks`; `horizon` is the season length of articles without an ``end_date``."""
        seasons = season_lengths(articles, horizon)
        totals = season_totals(panel, seasons, decision)
        if totals.height < MIN_TRAIN:
            msg = f"only {totals.height} article(s) sold their whole season by {decision.isoformat()}"
            raise InputError(
                msg, column="launch_date", fix="give more history or a shorter lead time / horizon"
            )
        sold = articles.filter(pl.col("article_id").is_in(totals["article_id"].implode()))
        self.attributes_ = [a for a in cf.attribute_columns(sold, self.attributes) if a != "season"]
        self.codes_ = {
            c: {v: float(i) for i, v in enumerate(sorted(sold[c].drop_nulls().unique().to_list()))}
            for c in self.attributes_
        }
        self.bank_ = self._bank(totals, articles)
        # trend weeks that ended by the decision date only (each row reads those before its own date)
        known = trends.filter(pl.col("week") + timedelta(days=7) <= decision) if trends is not None else None
        used = cf.trend_attributes(sold, known, self.attributes_) if known is not None else []
        self.trends_ = (known, used) if self.use_trends and known is not None and used else None
        self.level_ = self._level(panel, articles, decision) if self.sales_level else None
        train = self._rows(totals.select("article_id"), articles, lead_weeks, decision)
        x, y = self._matrix(train), np.log1p(np.clip(totals["total"].to_numpy(), 0.0, None))
        # a launch with no recent level to learn relative to (too early in the history) is not learnt from
        keep = np.isfinite(x[:, self.features_.index("f_recent_level")]) if self.relative else np.isfinite(y)
        if keep.sum() < MIN_TRAIN:
            msg = f"only {int(keep.sum())} article(s) with sold-out predecessors by {decision.isoformat()}"
            raise InputError(msg, column="launch_date", fix="give more history or a shorter lead time")
        x, y, totals = x[keep], y[keep], totals.filter(pl.Series(keep))
        age = (cf.days(pl.Series([decision])) - cf.days(totals["launch_date"])) / 7.0
        weight = 0.5 ** (age / self.half_life_weeks) if self.half_life_weeks > 0 else np.ones(len(y))
        if self.direct:
            self.coverage_ = self._holdout_coverage(x, y, weight)
            self.quantile_boosters_ = self._train_quantiles(x, y, weight)
            self.boosters_ = []
        else:
            self.errors_ = self._holdout_errors(x, y, weight)
            self.boosters_ = self._train(x, y, weight)
        self.decision_ = decision
        return self

    def predict(self, targets: pl.DataFrame) -> SeasonForecast:
        """Distributions of `targets` (``article_id, launch_date, decision_date`` and the attributes); a
        target's decision date must be on or after the fit's (nothing later than it was read)."""
        if not hasattr(self, "boosters_"):
            msg = "This SeasonModel instance is not fitted yet. Call 'fit' with the history first."
            raise ValueError(msg)
        early = targets.filter(pl.col("decision_date") < self.decision_)
        if early.height:
            msg = f"article {early['article_id'][0]!r} is decided before the model's date {self.decision_}"
            raise ValueError(msg)
        query = targets.with_columns(pl.col("decision_date").alias("_day"))
        rows = season_features(
            query, self.bank_, self.codes_, self.analogues, self.recent, self.level_, self.trends_
        )
        x = self._matrix(rows)
        grid = (np.arange(self.levels) + 0.5) / self.levels
        if self.direct:
            logs = self._calibrated(self._quantiles(self.quantile_boosters_, x), grid)
        else:
            spread = weighted_quantile(self.errors_, self.error_weights_, grid)
            logs = self._damped(self._point(self.boosters_, x))[:, None] + spread[None, :]
        atoms = np.clip(np.expm1(logs), 0.0, None)
        return SeasonForecast(targets["article_id"].cast(pl.Utf8).to_list(), np.sort(atoms, axis=1))

    # ------------------------------------------------------------------ internals
    def _bank(self, totals: pl.DataFrame, articles: pl.DataFrame) -> pl.DataFrame:
        attrs = articles.select("article_id", *self.attributes_)
        return totals.join(attrs, on="article_id", how="left", maintain_order="left").select(
            *self.attributes_,
            pl.col("launch_date").alias("_launch"),
            "_end",
            pl.col("total").clip(0.0).log1p().alias("_target"),
        )

    def _rows(
        self, ids: pl.DataFrame, articles: pl.DataFrame, lead_weeks: int, decision: date
    ) -> pl.DataFrame:
        extra = [c for c in ("list_price",) if c in articles.columns]
        query = ids.join(
            articles.select("article_id", "launch_date", *self.attributes_, *extra),
            on="article_id",
            how="left",
            maintain_order="left",
        ).with_columns(
            pl.min_horizontal(pl.col("launch_date") - timedelta(days=7 * lead_weeks), pl.lit(decision)).alias(
                "_day"
            )
        )
        return season_features(
            query, self.bank_, self.codes_, self.analogues, self.recent, self.level_, self.trends_
        )

    def _base(self, x: np.ndarray) -> np.ndarray:
        """What the boosters' log target is relative to: the chain's recent level (`relative`), else 0."""
        if not self.relative:
            return np.zeros(len(x))
        return np.nan_to_num(x[:, self.features_.index("f_recent_level")])

    def _point(self, boosters: list[lgb.Booster], x: np.ndarray) -> np.ndarray:
        """The log total's centre: the boosters' (plus the base), moved `shrink` of the way to the mean log
        total of the attribute analogues where there are some."""
        point = self._centre(boosters, x) + self._base(x)
        if self.shrink <= 0:
            return point
        analogue = x[:, self.features_.index("f_analog_mean")]
        return np.where(np.isfinite(analogue), (1 - self.shrink) * point + self.shrink * analogue, point)

    @staticmethod
    def _level(
        panel: pl.DataFrame, articles: pl.DataFrame, decision: date
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The sales-level index of the launches' first weeks that ended by `decision` (None: none): the
        chain's current level, read before the seasons it would wait for have ended."""
        known = panel.filter(pl.col("week") + timedelta(days=7) <= decision)
        if "store_id" not in known.columns:
            known = known.with_columns(pl.lit("ALL").alias("store_id"))
        inputs = cf.launch_inputs(
            known, decision, articles.select("article_id", "launch_date"), LEVEL_CURVE_WEEKS
        )
        if inputs.grid.height == 0:
            return None
        return cf.level_index(inputs.grid, cf.shape_curve(inputs.grid, LEVEL_CURVE_WEEKS))

    def _matrix(self, rows: pl.DataFrame) -> np.ndarray:
        if not hasattr(self, "features_"):
            self.features_ = [c for c in rows.columns if c.startswith("f_")]
        return rows.select(self.features_).to_numpy().astype(np.float64)

    def _train(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> list[lgb.Booster]:
        y = y - self._base(x)
        categorical = [n for n in self.features_ if n.startswith("f_cat_")]
        data = lgb.Dataset(
            x,
            y,
            weight=weight,
            feature_name=self.features_,
            categorical_feature=categorical,
            free_raw_data=False,
        )
        params = dict(LGB_PARAMS)
        if len(y) < 4 * int(params["min_data_in_leaf"]):
            small = max(1, len(y) // 4)
            params |= {"min_data_in_leaf": small, "min_data_per_group": small, "bagging_fraction": 1.0}
        return [
            lgb.train(params | {"seed": self.seed + s}, data, num_boost_round=self.rounds)
            for s in range(max(1, self.seeds))
        ]

    def _train_quantiles(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> list[lgb.Booster]:
        """One pinball-loss booster per level of `QUANTILE_LEVELS` on the log total less the base."""
        categorical = [n for n in self.features_ if n.startswith("f_cat_")]
        data = lgb.Dataset(
            x,
            y - self._base(x),
            weight=weight,
            feature_name=self.features_,
            categorical_feature=categorical,
            free_raw_data=False,
        )
        params = dict(LGB_PARAMS) | {"seed": self.seed, "learning_rate": 0.06}
        if len(y) < 4 * int(params["min_data_in_leaf"]):
            small = max(1, len(y) // 4)
            params |= {"min_data_in_leaf": small, "min_data_per_group": small, "bagging_fraction": 1.0}
        return [
            lgb.train(params | {"objective": "quantile", "alpha": a}, data, num_boost_round=self.rounds // 2)
            for a in QUANTILE_LEVELS
        ]

    def _quantiles(self, boosters: list[lgb.Booster], x: np.ndarray) -> np.ndarray:
        """Log-total quantiles (rows × `QUANTILE_LEVELS`), sorted per row."""
        values = np.column_stack([b.predict(x) for b in boosters]) + self._base(x)[:, None]
        return np.sort(values, axis=1)

    def _holdout_coverage(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Share of the inner holdout's log totals at or below each level's quantile (increasing)."""
        held = max(min(MIN_HELD, len(y) // 3), int(round(self.holdout_share * len(y))))
        cut = len(y) - held
        if cut < 10:
            return np.asarray(QUANTILE_LEVELS)
        quantiles = self._quantiles(self._train_quantiles(x[:cut], y[:cut], weight[:cut]), x[cut:])
        coverage = (y[cut:, None] <= quantiles).mean(axis=0)
        # strictly increasing, so that a level can be read back from a coverage
        return np.asarray(np.maximum.accumulate(coverage) + 1e-6 * np.arange(len(coverage)))

    def _calibrated(self, quantiles: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """The log totals at the `grid` probabilities: each read at the level whose holdout coverage is it."""
        levels = np.interp(grid, self.coverage_, QUANTILE_LEVELS)
        return np.asarray([np.interp(levels, QUANTILE_LEVELS, row) for row in quantiles])

    def _damped(self, point: np.ndarray) -> np.ndarray:
        """`point` moved to `centre_slope` of its distance from the inner holdout's mean prediction."""
        return np.asarray(self.pivot_ + self.centre_slope * (point - self.pivot_))

    @staticmethod
    def _centre(boosters: list[lgb.Booster], x: np.ndarray) -> np.ndarray:
        return np.asarray(np.mean([b.predict(x) for b in boosters], axis=0))

    def _holdout_errors(self, x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Log errors of the damped centre of a model fitted on the earlier launches, on the latest
        `holdout_share` (rows are in launch order); sets the damping's pivot and the errors' weights."""
        held = max(min(MIN_HELD, len(y) // 3), int(round(self.holdout_share * len(y))))
        cut = len(y) - held
        if cut < 10:
            self.pivot_, self.error_weights_ = float(np.mean(y)), np.ones(len(y))
            return y - float(np.mean(y))
        point = self._point(self._train(x[:cut], y[:cut], weight[:cut]), x[cut:])
        self.pivot_ = float(np.mean(point))
        point = self._damped(point)
        # predicted totals, scaled by the largest (the weights' scale does not matter)
        self.error_weights_ = np.exp(point - point.max()) if self.order_weighted else np.ones(len(point))
        return np.asarray(y[cut:] - point)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles of `values` at `levels` under `weights`: the weighted empirical distribution, each value
    at the middle of its weight (with equal weights, numpy's "hazen" quantile).

    Examples
    --------
    >>> weighted_quantile(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0]), np.array([0.375, 0.75]))
    array([2., 3.])
    """
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    position = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.asarray(np.interp(levels, position, v))


def forecast_seasons(
    panel: pl.DataFrame,
    articles: pl.DataFrame,
    targets: pl.DataFrame,
    *,
    lead_weeks: int,
    horizon: int,
    refit_weeks: int = 4,
    model: SeasonModel | None = None,
    trends: pl.DataFrame | None = None,
) -> SeasonForecast:
    """Season distributions of `targets` (``article_id, decision_date``), each from what was known at its
    decision date: targets are grouped into blocks of `refit_weeks` weeks of decision dates and a model
    (a fresh copy of `model`) is fitted at each block's earliest decision date."""
    template = model or SeasonModel()
    query = targets.select("article_id", "decision_date").join(
        articles.drop("decision_date", strict=False), on="article_id", how="left", maintain_order="left"
    )
    first = query["decision_date"].min()
    assert isinstance(first, date)
    block = ((pl.col("decision_date") - first).dt.total_days() // (7 * max(1, refit_weeks))).alias("_block")
    query = query.with_columns(block, pl.int_range(pl.len()).alias("_row"))
    atoms = np.zeros((query.height, template.levels))
    for (_,), part in query.group_by("_block", maintain_order=True):
        day = part["decision_date"].min()
        assert isinstance(day, date)
        fitted = SeasonModel(**template.get_params()).fit(panel, articles, day, lead_weeks, horizon, trends)
        atoms[part["_row"].to_numpy()] = fitted.predict(part).atoms
    return SeasonForecast(query["article_id"].cast(pl.Utf8).to_list(), atoms)
