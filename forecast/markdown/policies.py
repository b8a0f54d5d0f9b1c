"""The policies of the markdown replay (`forecast.markdown.replay`): ours, the oracle and the rules.

**Ours** (`Optimiser` with `TrendForecaster`): each week the forecasts are refitted on the history to date
(the simulator's weeks before the replay, its stockouts imputed, and the policy's own weeks since, weeks it
sold out left out) with a cheap model, so that every week can be refitted: the lift β per category, and per
article shrunk towards it where the article has been marked down (`forecast.markdown.response`); per
article, the list-price-equivalent sales (units / lift of the week's discount) of its last ``TREND_WEEKS``
weeks after the ramp-up, freed of the holiday weeks' lift (fitted on the history per holiday, by
`holiday_tag`), with a log-linear trend in age whose slope is shrunk towards the category's median slope.
Its demand distribution is a negative binomial with the mean forecast and the squared coefficient of
variation left around the trend lines (median over articles), given to the planner as quantiles.
**The oracle** is the same planner given the true
expected demand of every store at every ladder price and the true distribution's moments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from forecast.calendar import holiday_dates
from forecast.distribution import DemandDistribution
from forecast.markdown.config import MarkdownConfig
from forecast.markdown.planner import MarkdownProblem, solve
from forecast.markdown.replay import Season, World, ladder_level
from forecast.markdown.response import RAMP_WEEKS, article_elasticity, elasticity_for, fit_elasticity, lift
from forecast.markdown.rules import Rule, apply_step
from forecast.simulate.retail import DISPERSION

TREND_WEEKS = 10  # weeks of an article's recent history its trend is fitted on
SLOPE_PRIOR_WEEKS = 8.0  # the category's median slope counts as this many weeks of evidence
HOLIDAY_OFFSETS = (0, -1, -2, 1)  # weeks before (-) or after (+) the holiday's week, first match wins
HOLIDAY_PRIOR_ROWS = 20.0  # a holiday's lift is shrunk towards none by this many rows' worth
LEVELS = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98])


@dataclass
class NoMarkdown:
    name: str = "no_markdown"

    def discount(self, world: World, season: Season, t: int, settings: MarkdownConfig) -> np.ndarray:  # noqa: ARG002
        ladder = settings.discounts()
        no = np.zeros(season.state.level.shape, dtype=bool)
        return ladder[apply_step(season.state, no, no.astype(int), ladder.size, 0, 0)]


@dataclass
class Catalogue:
    name: str = "catalogue"

    def discount(self, world: World, season: Season, t: int, settings: MarkdownConfig) -> np.ndarray:  # noqa: ARG002
        return np.asarray(world.catalogue[:, t], dtype=float)


@dataclass
class RulePolicy:
    rule: Rule

    @property
    def name(self) -> str:
        return self.rule.name

    def discount(self, world: World, season: Season, t: int, settings: MarkdownConfig) -> np.ndarray:  # noqa: ARG002
        ladder = settings.discounts()
        want, depth = self.rule.wants(season.state)
        level = apply_step(
            season.state, want, depth, ladder.size, settings.max_steps, settings.min_weeks_between
        )
        return ladder[level]


@dataclass
class Optimiser:
    """The planner, re-run every week on the forecasts of `oracle` (true model) or of `TrendForecaster`."""

    oracle: bool = False

    @property
    def name(self) -> str:
        return "oracle" if self.oracle else "optimiser"

    def discount(self, world: World, season: Season, t: int, settings: MarkdownConfig) -> np.ndarray:
        ladder = settings.discounts()
        demand = self._true(world, t, ladder) if self.oracle else self._forecast(world, season, t, ladder)
        n, left = world.article_id.size, len(world.weeks) - t
        problem = MarkdownProblem(
            discounts=ladder,
            list_price=world.list_price,
            demand=demand,
            stock=season.stock,
            holding_cost=settings.holding_cost_ratio * world.list_price,
            salvage=settings.salvage_ratio * world.unit_cost,
            open_weeks=world.open_weeks[:, t:],
            level=season.state.level,
            steps_used=season.state.steps,
            weeks_held=season.state.held,
        )
        plan = solve(problem, settings.max_steps, settings.min_weeks_between).levels[:, 0]
        assert left >= 1
        assert plan.shape == (n,)
        moved = plan > season.state.level
        level = apply_step(season.state, moved, plan - season.state.level, ladder.size, settings.max_steps, 0)
        return ladder[level]

    def _true(self, world: World, t: int, ladder: np.ndarray) -> DemandDistribution:
        weeks = range(t, len(world.weeks))
        means = np.stack([world.store_means(ladder, w) for w in weeks], axis=1)  # (A, T', S, L)
        mean = means.sum(axis=2)
        variance = mean + (means**2).sum(axis=2) / DISPERSION
        return negative_binomial(mean.ravel(), variance.ravel())

    def _forecast(self, world: World, season: Season, t: int, ladder: np.ndarray) -> DemandDistribution:
        base, beta, cv2 = TrendForecaster().fit_predict(world, season, t)
        mean = base[:, :, None] * lift(ladder[None, None, :], beta[:, None, None])
        variance = mean + cv2 * mean**2
        return negative_binomial(mean.ravel(), variance.ravel())


def negative_binomial(mean: np.ndarray, variance: np.ndarray) -> DemandDistribution:
    """Distributions with these moments (a negative binomial), given to the planner as quantiles."""
    from scipy import stats

    mean = np.maximum(mean, 0.0)
    excess = np.maximum(variance - mean, 1e-9)
    shape = mean**2 / excess
    with np.errstate(divide="ignore", invalid="ignore"):
        success = np.where(mean > 0, shape / (shape + mean), 1.0)
    values = stats.nbinom.ppf(LEVELS[None, :], shape[:, None], np.clip(success, 1e-12, 1.0)[:, None])
    values = np.where(mean[:, None] > 0, np.nan_to_num(values), 0.0)
    return DemandDistribution.build(mean, LEVELS, values)


@dataclass
class TrendForecaster:
    """The cheap weekly refit of ours (module docstring)."""

    weeks: int = TREND_WEEKS

    def fit_predict(self, world: World, season: Season, t: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Base demand at the list price (A, T − t), the lift's β per article and the squared coefficient of
        variation of weekly demand around the forecast (the median over articles)."""
        rows = pl.concat([world.history, *season.log])
        first = rows.group_by("article_id").agg(pl.col("week").min().alias("_first"))
        rows = rows.join(first, on="article_id").with_columns(
            ((pl.col("week") - pl.col("_first")).dt.total_days() // 7).alias("age"),
            pl.col("category").alias("group"),
        )
        seen = rows.filter(~pl.col("censored"))
        fitted = fit_elasticity(seen)
        own = article_elasticity(seen, fitted)
        table = pl.DataFrame(
            {"article_id": world.article_id, "_g": elasticity_for(pl.Series(world.category), fitted)}
        )
        table = table.join(own, on="article_id", how="left").select(
            "article_id", pl.col("elasticity").fill_null(pl.col("_g")).alias("beta")
        )
        beta = table["beta"].to_numpy().astype(float)
        usable = (
            rows.filter(~pl.col("censored"))
            # the ramp-up weeks only where the article has no later ones
            .filter((pl.col("age") >= RAMP_WEEKS) | (pl.col("age").max().over("article_id") < RAMP_WEEKS + 1))
            .join(table, on="article_id")
            .with_columns(
                (pl.col("units") * (1.0 - pl.col("discount")).pow(pl.col("beta"))).add(0.5).log().alias("y")
            )
        )
        effects = holiday_effects(usable)
        recent = (
            with_holidays(usable, effects)
            .with_columns(pl.col("y") - pl.col("effect"))
            .sort("article_id", "week")
            .group_by("article_id", maintain_order=True)
            .tail(self.weeks)
        )
        trend = _trends(recent)
        frame = pl.DataFrame({"article_id": world.article_id}).join(trend, on="article_id", how="left")
        frame = frame.join(first, on="article_id", how="left")
        future = with_holidays(pl.DataFrame({"week": world.weeks[t:]}, schema={"week": pl.Date}), effects)
        cv2 = float(trend["cv2"].drop_nulls().median() or 0.0)  # type: ignore[arg-type]
        return self._predict(world, frame, t) * np.exp(future["effect"].to_numpy())[None, :], beta, cv2

    def _predict(self, world: World, frame: pl.DataFrame, t: int) -> np.ndarray:
        level = frame["level"].fill_null(0.0).to_numpy().astype(float)
        slope = frame["slope"].fill_null(0.0).to_numpy().astype(float)
        anchor = frame["anchor"].fill_null(0.0).to_numpy().astype(float)
        first = frame["_first"].to_numpy().astype("datetime64[D]")
        weeks = np.array(world.weeks[t:], dtype="datetime64[D]")
        age = (weeks[None, :] - first[:, None]).astype(float) / 7.0
        age = np.where(np.isnan(age), anchor[:, None], age)
        log_mean = level[:, None] + slope[:, None] * (age - anchor[:, None])
        return np.asarray(np.maximum(np.exp(log_mean) - 0.5, 0.0) * world.open_weeks[:, t:], dtype=float)


def holiday_tag(week: date) -> str:
    """The holiday a week (its Monday) holds or is near, like ``easter+0`` or ``christmas-2``; else ``""``."""
    for offset in HOLIDAY_OFFSETS:
        for year in (week.year - 1, week.year, week.year + 1):
            for name, day in holiday_dates(year).items():
                if (week - (day - timedelta(days=day.weekday()))).days // 7 == offset:
                    return f"{name}{offset:+d}"
    return ""


def holiday_effects(rows: pl.DataFrame) -> pl.DataFrame:
    """Per holiday tag, the mean log lift of its weeks over each article's line in age, shrunk by
    ``HOLIDAY_PRIOR_ROWS``; columns ``tag``, ``effect``."""
    age = pl.col("age").cast(pl.Float64)
    da = age - age.mean().over("article_id")
    dy = pl.col("y") - pl.col("y").mean().over("article_id")
    slope = ((da * dy).sum().over("article_id") / (da**2).sum().over("article_id")).fill_nan(0.0)
    tagged = _tagged(rows).with_columns((dy - slope * da).alias("resid"))
    plain = float(tagged.filter(pl.col("tag") == "")["resid"].mean() or 0.0)  # type: ignore[arg-type]
    return (
        tagged.filter(pl.col("tag") != "")
        .group_by("tag")
        .agg(((pl.col("resid").mean() - plain) * pl.len() / (pl.len() + HOLIDAY_PRIOR_ROWS)).alias("effect"))
    )


def with_holidays(rows: pl.DataFrame, effects: pl.DataFrame) -> pl.DataFrame:
    """`rows` with the ``effect`` of their week's holiday tag (0 for none)."""
    out = _tagged(rows).join(effects, on="tag", how="left")
    return out.with_columns(pl.col("effect").fill_null(0.0)).drop("tag")


def _tagged(rows: pl.DataFrame) -> pl.DataFrame:
    weeks = rows.select(pl.col("week").unique())
    tags = weeks.with_columns(pl.col("week").map_elements(holiday_tag, return_dtype=pl.Utf8).alias("tag"))
    return rows.join(tags, on="week", how="left")


def _trends(recent: pl.DataFrame) -> pl.DataFrame:
    """Per article: the fitted log level at its mean age (``anchor``) and the shrunk slope in age."""
    age = pl.col("age").cast(pl.Float64)
    da = age - age.mean()
    per = recent.group_by("article_id", "group").agg(
        pl.col("y").mean().alias("level"),
        age.mean().alias("anchor"),
        ((da * (pl.col("y") - pl.col("y").mean())).sum() / (da**2).sum()).alias("raw"),
        (da**2).sum().alias("sxx"),
        pl.col("y").var().alias("y_var"),
        pl.len().alias("n"),
    )
    per = per.with_columns(pl.col("raw").fill_nan(None).clip(-1.0, 0.3))
    prior = per.group_by("group").agg(pl.col("raw").median().alias("prior"))
    per = per.join(prior, on="group", how="left").with_columns(pl.col("prior").fill_null(0.0))
    weight = pl.col("sxx") / (pl.col("sxx") + SLOPE_PRIOR_WEEKS)
    slope = (weight * pl.col("raw").fill_null(pl.col("prior")) + (1 - weight) * pl.col("prior")).alias(
        "slope"
    )
    # the log variance left around the line: 1/mean from Poisson counts, the rest the squared CV of demand
    explained = pl.col("raw").fill_null(0.0) ** 2 * pl.col("sxx") / (pl.col("n") - 1)
    spread = (pl.col("y_var") - explained - (-pl.col("level")).exp()).clip(lower_bound=0.0)
    return per.select("article_id", "level", "anchor", slope, spread.alias("cv2"))


def ladder_start(world: World, settings: MarkdownConfig) -> np.ndarray:
    """Each article's ladder level when the replay starts."""
    return ladder_level(world.start_discount, settings.discounts())
