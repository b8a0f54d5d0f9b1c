"""Rolling-origin backtest with accuracy and business metrics (production forecasts: `forecast.predict`).

Folds: ``config.backtest.folds`` origins ``config.backtest.step`` weeks apart; the last fold's horizon
(``config.backtest_horizon`` weeks) ends at the last week of the panel.

What a model sees at an origin (`history_at`): panel rows with ``week <= origin`` only, and each series' life
re-derived from that history alone (the panel's life spans are computed on all data, so a run of zero weeks
before the origin would otherwise reveal that the series sells again later): every series is cut after its
last sale on or before the origin, and series that are *active* (sold within the last
``config.forecast.active_weeks`` weeks up to the origin) are zero-filled up to the origin.

What is scored: every active series × every target week of the horizon. The actual is the panel's ``units``;
a target week beyond the series' selling life (no sale recorded) counts as 0 demand, since the panel's life
ends at its last recorded sale. Weeks flagged ``censored`` (a stockout cut demand) are kept in `forecasts` but
left out of every metric: their observed sales are a lower bound on demand, and scoring against them would
reward under-forecasting. A model that returns no forecast for a scored row is scored as forecasting 0 (and
the count is reported as ``missing_forecasts`` in `per_fold`).

Metrics per fold × model are `forecast.metrics.accuracy` and `forecast.business.evaluate_business`
(business metrics are sums over the fold's rows); the leaderboard averages them over folds.

Every model's forecast, here and in `forecast.predict.predict_all`, passes through
`forecast.distribution.coherent_forecasts`, so each row's mean and quantiles are one demand distribution
(quantiles ordered, the distribution's mean = ``mean``).

Every model is fitted with ``fit(history, origin, articles=ds.articles, exog=ds.exog)``: the same instance
on every fold (fitting never changes a model's parameters); it forecasts under the fold's price plan
(`forecast.prices.price_plan`: the prices table's weeks after the origin, which in a backtest are what was
planned and charged; a week without one carries the last price forward, said once per run).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from forecast.business import BUSINESS_COLUMNS, evaluate_business
from forecast.calendar import week_of
from forecast.censoring import uncensor
from forecast.config import PipelineConfig
from forecast.contracts import SERIES
from forecast.costs import attach_costs
from forecast.dataset import Dataset
from forecast.distribution import coherent_forecasts
from forecast.errors import ConfigError, ForecastError, InputError
from forecast.metrics import accuracy, mase_scale, quantile_columns
from forecast.models.base import FORECAST_COLUMNS, Forecaster
from forecast.models.oracle import ORACLE, build_oracle
from forecast.objectives import MAXIMISE
from forecast.panel import cut_at_sale_end, sale_ends
from forecast.prices import carried_message, price_plan

ACCURACY_COLUMNS = ["wape", "mae", "rmse", "bias", "mase", "pinball", "coverage_80"]
LEADERBOARD_COLUMNS = ["model", *ACCURACY_COLUMNS, *BUSINESS_COLUMNS]
# on data whose true demand is known (the simulator): the mean scored against it on every row, censored
# weeks included, where the observed sales only bound the demand from below
TRUE_COLUMNS = ["wape_true", "bias_true"]
Progress = Callable[[str], None]


@dataclass
class BacktestResult:
    """Outcome of `run_backtest`.

    leaderboard: one row per model (`LEADERBOARD_COLUMNS`), averaged over folds, best first.
    forecasts: every fold forecast with ``fold``, ``origin``, the actual ``units``, ``censored`` and costs.
    per_fold: metrics per model × fold, plus ``rows``, ``censored_rows`` and ``missing_forecasts``.
    champion: name of the best model by ``config.backtest.objective`` (never the oracle).
    """

    leaderboard: pl.DataFrame
    forecasts: pl.DataFrame
    per_fold: pl.DataFrame
    champion: str


def panel_weeks(panel: pl.DataFrame) -> list[date]:
    return panel.get_column("week").unique().sort().to_list()


def fold_origins(panel: pl.DataFrame, folds: int, step: int, horizon: int) -> list[date]:
    """Forecast origins, oldest first; the last one's `horizon` weeks end at the panel's last week."""
    return origins_of(panel_weeks(panel), folds, step, horizon)


def origins_of(weeks: Sequence[date], folds: int, step: int, horizon: int) -> list[date]:
    """`fold_origins` from the panel's sorted distinct weeks (the union of its parts' weeks)."""
    if not weeks:
        msg = "the panel is empty; there is nothing to backtest"
        raise ForecastError(msg)
    last_origin = weeks[-1] - timedelta(weeks=horizon)
    origins = [last_origin - timedelta(weeks=step * k) for k in range(folds - 1, -1, -1)]
    if origins[0] <= weeks[0]:
        msg = (
            f"not enough history for {folds} folds of {horizon} weeks every {step} weeks: the first origin "
            f"{origins[0]} is not after the first week {weeks[0]}; fix: lower backtest.folds, step or horizon"
        )
        raise ConfigError(msg)
    return origins


MIN_HISTORY_WEEKS = 2  # the first origin must come after the first week
HISTORY_FIX = {
    "hm": "give the two-year transactions_train.csv (--data FOLDER), or a folder written by "
    "`forecast simulate --format hm --weeks 104`",
}


def check_history(ds: Dataset, config: PipelineConfig) -> None:
    """Stop with one line when the sales span fewer weeks than the backtest needs.

    The backtest needs ``backtest horizon + (folds - 1) · step + MIN_HISTORY_WEEKS`` weeks: a one-week file
    such as H&M's ``transactions_last_week.csv`` (two calendar weeks) cannot be backtested at any setting.
    """
    if ds.sales.height == 0:
        return
    weeks = ds.sales.select(week_of("date", ds.week_label, ds.week_label_is_end).n_unique()).item()
    need = config.backtest_horizon + (config.backtest.folds - 1) * config.backtest.step + MIN_HISTORY_WEEKS
    if weeks >= need:
        return
    first, last = ds.sales["date"].min(), ds.sales["date"].max()
    assert isinstance(first, date)
    assert isinstance(last, date)
    days = (last - first).days + 1
    problem = (
        f"{ds.name} sales span {days} day(s) ({first} to {last}, {weeks} calendar week(s)), too short to "
        f"backtest: {config.backtest.folds} fold(s) of {config.backtest_horizon} weeks need at least "
        f"{need} weeks of sales"
    )
    fix = HISTORY_FIX.get(ds.name, f"give at least {need} weeks of sales")
    raise InputError(problem, fix=fix)


def history_at(
    panel: pl.DataFrame, origin: date, active_weeks: int, ends: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The panel as known at `origin` and the series active there (see the module docstring).

    The weeks an active series gets after its last sale keep what the panel knew of them at the origin
    (a stock count, a stockout flag); weeks after the article's planned end of sale (`ends`, from
    `forecast.panel.sale_ends`) are not added: the article was not on sale, so they say nothing of demand.

    Returns ``(history, active)``: history rows have ``week <= origin``; active lists article_id, store_id.
    """
    hist = panel.filter(pl.col("week") <= origin)
    sold = hist.filter(pl.col("units") > 0).group_by(SERIES).agg(pl.col("week").max().alias("_last_sale"))
    known = hist.join(sold, on=SERIES, how="inner")
    hist = known.filter(pl.col("week") <= pl.col("_last_sale"))
    cutoff = origin - timedelta(weeks=active_weeks)
    active = sold.filter(pl.col("_last_sale") > cutoff).sort(SERIES)
    gap_weeks = pl.DataFrame(
        {"week": [origin - timedelta(weeks=k) for k in range(active_weeks - 1, -1, -1)]},
        schema={"week": pl.Date},
    )
    tail = (
        hist.filter(pl.col("week") == pl.col("_last_sale"))
        .join(active.select(SERIES), on=SERIES, how="semi")
        .drop("week")
        .join(gap_weeks, how="cross")
        .filter(pl.col("week") > pl.col("_last_sale"))
        .with_columns(_zero_week_columns(panel))
    )
    if ends is not None and ends.height:
        tail = tail.join(ends, on="article_id", how="left").filter(
            pl.col("end_week").is_null() | (pl.col("week") <= pl.col("end_week"))
        )
    tail = _known_tail(tail, known, panel)
    if "is_holiday" in panel.columns:
        flags = panel.group_by("week").agg(pl.col("is_holiday").any().alias("_week_holiday"))
        tail = tail.join(flags, on="week", how="left").with_columns(
            pl.col("_week_holiday").fill_null(False).alias("is_holiday")
        )
    hist = pl.concat([hist, tail.select(hist.columns)], how="vertical_relaxed")
    return hist.drop("_last_sale").sort([*SERIES, "week"]), active.select(SERIES)


def _known_tail(tail: pl.DataFrame, known: pl.DataFrame, panel: pl.DataFrame) -> pl.DataFrame:
    """Tail weeks take the panel's stock count and stockout flag where the panel has the week."""
    cols = [c for c in ("on_hand", "censored") if c in panel.columns]
    if not cols:
        return tail
    seen = known.filter(pl.col("week") > pl.col("_last_sale")).select(
        *SERIES, "week", *[pl.col(c).alias(f"_panel_{c}") for c in cols]
    )
    tail = tail.join(seen, on=[*SERIES, "week"], how="left")
    return tail.with_columns(pl.coalesce(f"_panel_{c}", c).alias(c) for c in cols).drop(
        [f"_panel_{c}" for c in cols]
    )


def _zero_week_columns(panel: pl.DataFrame) -> list[pl.Expr]:
    """Values of a week with no sales: price, list price, discount and category carry forward."""
    exprs = [pl.lit(0.0).alias("units")]
    if "returns_units" in panel.columns:
        exprs.append(pl.lit(0.0).alias("returns_units"))
    if "on_hand" in panel.columns:
        exprs.append(pl.lit(None, dtype=pl.Float64).alias("on_hand"))
    if "censored" in panel.columns:
        exprs.append(pl.lit(False).alias("censored"))
    return exprs


def actuals_grid(panel: pl.DataFrame, active: pl.DataFrame, origin: date, horizon: int) -> pl.DataFrame:
    """Active series × target weeks origin+1..origin+horizon with actual units (0 outside the life)."""
    targets = pl.DataFrame(
        {
            "week": [origin + timedelta(weeks=h) for h in range(1, horizon + 1)],
            "horizon": list(range(1, horizon + 1)),
        },
        schema={"week": pl.Date, "horizon": pl.Int32},
    )
    cols = ["units", *(["censored"] if "censored" in panel.columns else [])]
    observed = panel.filter(pl.col("week") > origin).select(*SERIES, "week", *cols)
    grid = active.join(targets, how="cross").join(observed, on=[*SERIES, "week"], how="left")
    censored = pl.col("censored").fill_null(False) if "censored" in cols else pl.lit(False)
    return grid.with_columns(pl.col("units").fill_null(0.0), censored.alias("censored"))


def _score_frame(grid: pl.DataFrame, forecast: pl.DataFrame, model: str) -> tuple[pl.DataFrame, int]:
    """Join one model's forecast onto the scored grid; missing forecasts become 0."""
    quantiles = list(quantile_columns(forecast.columns))
    values = forecast.select(*SERIES, "week", "mean", *quantiles).unique([*SERIES, "week"], keep="first")
    joined = grid.join(values, on=[*SERIES, "week"], how="left")
    missing = joined.get_column("mean").null_count()
    joined = joined.with_columns(pl.col("mean", *quantiles).cast(pl.Float64).fill_null(0.0))
    return joined.with_columns(pl.lit(model).alias("model")), missing


def _true_metrics(scored: pl.DataFrame) -> list[pl.Expr]:
    """``wape_true`` and ``bias_true`` of the mean against ``true_units`` on every row (NaN without it)."""
    if "true_units" not in scored.columns or scored.height == 0:
        return [pl.lit(math.nan).alias(c) for c in TRUE_COLUMNS]
    truth = scored["true_units"].fill_null(0.0).to_numpy()
    mean = scored["mean"].fill_null(0.0).to_numpy()
    total = float(truth.sum())
    wape = float(abs(mean - truth).sum()) / total if total > 0 else math.nan
    bias = float((mean - truth).sum()) / total if total > 0 else math.nan
    return [pl.lit(wape).alias("wape_true"), pl.lit(bias).alias("bias_true")]


def _fold_metrics(scored: pl.DataFrame, fold: int, origin: date, missing: int) -> pl.DataFrame:
    kept = scored.filter(~pl.col("censored"))
    by = ["model"]
    if kept.height:
        acc = accuracy(kept, by)
        money = evaluate_business(kept, by)
        row = acc.join(money, on=by)
    else:
        row = pl.DataFrame({"model": scored["model"][:1]}).with_columns(
            pl.lit(math.nan).alias(c) for c in [*ACCURACY_COLUMNS, *BUSINESS_COLUMNS]
        )
    return row.select(
        pl.lit(fold).alias("fold"),
        pl.lit(origin).alias("origin"),
        *LEADERBOARD_COLUMNS,
        *_true_metrics(scored),
        pl.lit(scored.height).alias("rows"),
        pl.lit(scored.height - kept.height).alias("censored_rows"),
        pl.lit(missing).alias("missing_forecasts"),
    )


def rank_models(per_fold: pl.DataFrame, objective: str) -> pl.DataFrame:
    """Average `per_fold` over folds per model and sort best first by `objective` (with `TRUE_COLUMNS`
    when the folds were scored against the true demand)."""
    known = [c for c in TRUE_COLUMNS if c in per_fold.columns]
    known = [c for c in known if per_fold[c].cast(pl.Float64).fill_nan(None).drop_nulls().len()]
    columns = [*LEADERBOARD_COLUMNS, *known]
    board = per_fold.group_by("model", maintain_order=True).agg(
        pl.col(c).cast(pl.Float64).fill_nan(None).mean() for c in columns[1:]
    )
    board = board.sort(objective, descending=objective in MAXIMISE, nulls_last=True, maintain_order=True)
    return board.select(columns).with_columns(pl.col(columns[1:]).fill_null(math.nan))


@dataclass
class Fold:
    """One fold's inputs for (a part of) the panel: the history at the origin, the active series and the
    scored grid of actuals with costs and MASE scales (`fold_data`)."""

    fold: int
    origin: date
    history: pl.DataFrame
    active: pl.DataFrame
    grid: pl.DataFrame
    plan: pl.DataFrame | None = None  # the active series' price plan (`forecast.prices.price_plan`)


def fold_data(
    frame: pl.DataFrame, fold: int, origin: date, config: PipelineConfig, ds: Dataset, ends: pl.DataFrame
) -> Fold:
    """The fold's history (censored weeks as `forecast.censoring.uncensor` makes them), active series,
    scored grid and price plan: per series, so a part of the articles gets the whole run's rows for its
    articles."""
    hist, active = history_at(frame, origin, config.forecast.active_weeks, ends)
    grid = actuals_grid(frame, active, origin, config.backtest_horizon)
    if ds.true_demand is not None:
        truth = ds.true_demand.select(*SERIES, "week", pl.col("demand").cast(pl.Float64).alias("true_units"))
        grid = grid.join(truth, on=[*SERIES, "week"], how="left").with_columns(
            pl.col("true_units").fill_null(0.0)
        )
    grid = attach_costs(grid, frame, ds.articles, config.business)
    grid = grid.join(mase_scale(hist), on=SERIES, how="left")
    plan = price_plan(hist, ds.prices, origin, config.backtest_horizon, active, ends)
    return Fold(fold, origin, uncensor(hist, config.demand), active, grid, plan)


def scored_rows(data: Fold, raw: pl.DataFrame, model: str, ends: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """One model's raw forecast of the fold, cut at sale ends, made coherent and joined onto the grid.

    Returns the scored rows (sorted by series and week, with ``fold`` and ``origin``) and how many grid
    rows the model did not forecast.
    """
    forecast, _ = coherent_forecasts(cut_at_sale_end(raw, ends))
    scored, missing = _score_frame(data.grid, forecast, model)
    scored = scored.sort([*SERIES, "week"]).with_columns(
        pl.lit(data.fold).alias("fold"), pl.lit(data.origin).alias("origin")
    )
    return scored, missing


@dataclass
class ScoredGroup:
    """One fold's scored rows of one model, its parts put together (`score_groups`), and their metrics."""

    fold: int
    model: str
    metrics: pl.DataFrame
    rows: pl.DataFrame


def score_groups(scored: Sequence[tuple[pl.DataFrame, int]]) -> list[ScoredGroup]:
    """Every (fold, model) of `scored` frames: the parts of one fold and model put together and sorted by
    series and week, so the figures are the whole run's to the last bit, and its fold metrics."""
    groups: dict[tuple[int, str], list[tuple[pl.DataFrame, int]]] = {}
    for frame, missing in scored:
        if frame.height:
            groups.setdefault((int(frame["fold"][0]), str(frame["model"][0])), []).append((frame, missing))
    out = []
    for (fold, model), parts in groups.items():
        frame = pl.concat([p for p, _ in parts], how="diagonal_relaxed").sort([*SERIES, "week"])
        origin = frame["origin"][0]
        metrics = _fold_metrics(frame.drop("fold", "origin"), fold, origin, sum(m for _, m in parts))
        out.append(ScoredGroup(fold, model, metrics, frame.drop("mase_scale")))
    return out


def summarise(
    scored: Sequence[tuple[pl.DataFrame, int]], objective: str, models: Sequence[str]
) -> BacktestResult:
    """Metrics, leaderboard and champion from every (fold, model) scored frame, in fold then model order.

    A frame may come in parts (a partitioned run): see `score_groups`.
    """
    return summarise_groups(score_groups(scored), objective, models)


def summarise_groups(groups: Sequence[ScoredGroup], objective: str, models: Sequence[str]) -> BacktestResult:
    """`summarise` from the (fold, model) groups `score_groups` made (a partitioned run makes each fold's on
    a worker)."""
    order = sorted(groups, key=lambda g: (g.fold, _model_rank(g.model, models)))
    per_fold = pl.concat([g.metrics for g in order], how="vertical_relaxed")
    leaderboard = rank_models(per_fold, objective)
    forecasts = pl.concat([g.rows for g in order], how="diagonal_relaxed")
    lead = [*FORECAST_COLUMNS, "fold", "origin", "units", "censored"]
    forecasts = forecasts.select(*lead, *[c for c in forecasts.columns if c not in lead])
    champion = leaderboard.filter(pl.col("model") != ORACLE)["model"][0]
    return BacktestResult(leaderboard, forecasts, per_fold, str(champion))


def _model_rank(name: str, models: Sequence[str]) -> int:
    return models.index(name) if name in models else len(models)


def scored_models(models: Sequence[Forecaster], ds: Dataset, config: PipelineConfig) -> list[Forecaster]:
    """The models a backtest scores: `models`, and the oracle when the data has the true demand."""
    names = [m.name for m in models]
    if not names or len(set(names)) != len(names):
        msg = f"the backtest needs at least one model and unique model names, got {names!r}"
        raise ConfigError(msg)
    oracle = build_oracle(ds.true_demand, config.forecast.quantiles)
    return [*models, *([oracle] if oracle is not None and ORACLE not in names else [])]


def run_backtest(
    panel: pl.DataFrame | pl.LazyFrame,
    models: Sequence[Forecaster],
    config: PipelineConfig,
    ds: Dataset,
    progress: Progress | None = None,
    *,
    origins: Sequence[date] | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of `models` on `panel` (see the module docstring for what is scored).

    `origins` are the fold origins, by default `fold_origins` of `panel`; a run over a part of the articles
    passes the whole run's, so the part is scored on the same folds.
    """
    frame = panel.collect() if isinstance(panel, pl.LazyFrame) else panel
    scored = scored_models(models, ds, config)
    say = progress or (lambda _message: None)
    horizon = config.backtest_horizon
    if origins is None:
        origins = fold_origins(frame, config.backtest.folds, config.backtest.step, horizon)
    ends = sale_ends(ds)
    frames = []
    carried: str | None = None
    for fold, origin in enumerate(origins, start=1):
        data = fold_data(frame, fold, origin, config, ds, ends)
        carried = carried or (carried_message(data.plan) if data.plan is not None else None)
        for model in scored:
            say(f"fold {fold}/{len(origins)} (origin {origin}, {data.active.height} series): {model.name}")
            fitted = model.fit(data.history, origin, articles=ds.articles, exog=ds.exog)
            fitted = fitted.with_prices(data.plan)
            frames.append(scored_rows(data, fitted.predict(horizon, data.active), model.name, ends))
    if carried is not None:
        say(f"note: {carried}")
    return summarise(frames, config.backtest.objective, [m.name for m in scored])
