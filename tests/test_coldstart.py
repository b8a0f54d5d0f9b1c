"""Cold-start model: forecast contract, fitting rules, determinism and no trend leakage."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from forecast.errors import NotFittedError
from forecast.features import launch as cf
from forecast.models.base import FORECAST_COLUMNS
from forecast.models.coldstart import ColdStartForecaster

START = date(2023, 1, 2)
PARAMS = {
    "num_boost_round": 30,
    "learning_rate": 0.2,
    "quantile_num_boost_round": 20,
    "quantile_learning_rate": 0.3,
    "min_data_in_leaf": 20,
    "min_data_per_group": 5,
    "k": 5,
    "drop_features": (),  # the trend features too, so the trend tests read them
}


def _retailer(seed: int = 0, n_articles: int = 100, n_stores: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Synthetic store-level launches: demand scales with category and store, decays after week 3."""
    rng = np.random.default_rng(seed)
    cats = ["tops", "dresses", "coats"]
    colours = ["red", "blue", "black"]
    articles = pl.DataFrame(
        {
            "article_id": [f"a{i:03d}" for i in range(n_articles)],
            "category": [cats[i % 3] for i in range(n_articles)],
            "colour": [colours[(i // 3) % 3] for i in range(n_articles)],
            "launch_date": [START + timedelta(weeks=int(i // 2)) for i in range(n_articles)],
        }
    )
    curve = np.array([4, 8, 10, 9, 7, 6, 5, 4, 3, 2, 2, 1], dtype=float)
    rows = []
    for i, art in enumerate(articles.iter_rows(named=True)):
        for s in range(n_stores):
            scale = (1 + i % 3) * (1 + 0.5 * s)
            for h, mean in enumerate(curve):
                rows.append(
                    (
                        art["article_id"],
                        f"s{s}",
                        art["launch_date"] + timedelta(weeks=h),
                        rng.poisson(scale * mean),
                    )
                )
    panel = pl.DataFrame(rows, schema=["article_id", "store_id", "week", "units"], orient="row")
    return articles, panel.with_columns(pl.col("units").cast(pl.Float64))


def _trends() -> pl.DataFrame:
    weeks = [START - timedelta(weeks=60) + timedelta(weeks=i) for i in range(140)]
    return pl.DataFrame(
        {
            "week": weeks * 3,
            "term": ["tops"] * 140 + ["dresses"] * 140 + ["red"] * 140,
            "value": [float(50 + (i % 13)) for i in range(420)],
        }
    )


ORIGIN = START + timedelta(weeks=40)


def _fit(
    articles: pl.DataFrame, panel: pl.DataFrame, trends: pl.DataFrame | None = None
) -> ColdStartForecaster:
    history = panel.filter(pl.col("week") <= ORIGIN)
    model = ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS)
    return model.fit(history, ORIGIN, articles=articles, trends=trends)


def _new_series(articles: pl.DataFrame) -> pl.DataFrame:
    new = articles.filter(pl.col("launch_date") > ORIGIN)
    return new.select(
        "article_id", pl.lit("s1").alias("store_id"), pl.col("launch_date").alias("launch_week")
    )


def test_forecast_contract_weeks_from_launch_and_monotone_quantiles() -> None:
    articles, panel = _retailer()
    series = _new_series(articles)
    out = _fit(articles, panel, _trends()).predict(6, series)
    assert out.columns == FORECAST_COLUMNS
    assert out.height == series.height * 6
    assert out["model"].unique().to_list() == ["cold_start"]
    joined = out.join(series, on=["article_id", "store_id"])
    expected = joined["launch_week"] + pl.duration(days=7) * (joined["horizon"] - 1)
    assert (joined["week"] == joined.select(expected)[:, 0]).all()
    assert sorted(out["horizon"].unique().to_list()) == [1, 2, 3, 4, 5, 6]
    assert (out["q10"] <= out["q50"]).all()
    assert (out["q50"] <= out["q90"]).all()
    assert (out.select("mean", "q10").min_horizontal() >= 0).all()


def test_the_forecasts_file_keeps_the_models_quantiles_its_mean_is_raised_to_hold_them() -> None:
    from forecast.distribution import coherent_forecasts, lowest_mean

    articles, panel = _retailer()
    out = _fit(articles, panel, _trends()).predict(6, _new_series(articles))
    quantiles = out.select("q10", "q50", "q90").to_numpy()
    floor = lowest_mean(np.array([0.1, 0.5, 0.9]), quantiles)
    assert (out["mean"].to_numpy() >= floor - 1e-9).all()
    written, coherence = coherent_forecasts(out, decimals=2)
    # what forecasts.csv carries: the model's median (the point forecast for WAPE), not a scaled-down one
    assert coherence.lowered == 0
    assert np.allclose(written["q50"].to_numpy(), out["q50"].round(2).to_numpy())


def test_weeks_after_the_learnt_window_repeat_its_last_week() -> None:
    articles, panel = _retailer()
    out = _fit(articles, panel).predict(14, _new_series(articles))
    last = out.filter(pl.col("horizon") == 12).drop("week", "horizon")
    for later in (13, 14):
        assert out.filter(pl.col("horizon") == later).drop("week", "horizon").equals(last)


def test_learns_category_and_store_levels() -> None:
    articles, panel = _retailer()
    model = _fit(articles, panel)
    new = articles.filter(pl.col("launch_date") > ORIGIN)
    series = new.select(
        "article_id", pl.lit("s2").alias("store_id"), pl.col("launch_date").alias("launch_week")
    )
    series = pl.concat([series, series.with_columns(pl.lit("s0").alias("store_id"))])
    totals = (
        model.predict(12, series)
        .join(new, on="article_id")
        .group_by("category", "store_id")
        .agg(pl.col("mean").sum())
    )
    big = totals.filter(pl.col("category") == "coats", pl.col("store_id") == "s2")["mean"].item()
    small = totals.filter(pl.col("category") == "tops", pl.col("store_id") == "s0")["mean"].item()
    assert big > 2 * small


def test_predict_before_fit_raises() -> None:
    articles, _ = _retailer()
    model = ColdStartForecaster([0.1, 0.5, 0.9], 0)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.predict(4, _new_series(articles))


def test_same_seed_same_forecast() -> None:
    articles, panel = _retailer()
    series = _new_series(articles)
    first = _fit(articles, panel, _trends()).predict(8, series)
    second = _fit(articles, panel, _trends()).predict(8, series)
    assert first.equals(second)


def test_weeks_trained_in_threads_give_the_same_boosters() -> None:
    articles, panel = _retailer()
    history = panel.filter(pl.col("week") <= ORIGIN)
    fitted = [
        ColdStartForecaster([0.1, 0.5, 0.9], 3, params={**PARAMS, "jobs": jobs}).fit(
            history, ORIGIN, articles=articles
        )
        for jobs in (1, 3)
    ]
    dumps = [
        [m.model_to_string() for week in model.models_ for boosters in week.values() for m in boosters]
        for model in fitted
    ]
    assert len(dumps[0]) == 12 * 4
    assert dumps[0] == dumps[1]
    series = _new_series(articles)
    assert fitted[0].predict(8, series).equals(fitted[1].predict(8, series))


def test_quantiles_have_their_own_rounds() -> None:
    model = _fit(*_retailer())
    week = model.models_[0]
    assert week["mean"][0].current_iteration() == PARAMS["num_boost_round"]
    for column in ("q10", "q50", "q90"):
        assert week[column][0].current_iteration() == PARAMS["quantile_num_boost_round"]


def test_returns_leave_the_mean_on_clipped_counts() -> None:
    articles, panel = _retailer()
    panel = panel.with_columns(  # a few returns: negative net units
        pl.when(pl.int_range(pl.len()) % 17 == 0).then(-1.0).otherwise(pl.col("units")).alias("units")
    )
    model = _fit(articles, panel)
    out = model.predict(4, _new_series(articles))
    assert (out["mean"] >= 0).all()
    assert out["mean"].is_finite().all()


def test_trends_after_release_are_never_read() -> None:
    articles, panel = _retailer()
    trends = _trends()
    new = _new_series(articles)
    series = new.filter(pl.col("launch_week") == pl.col("launch_week").min())
    base = _fit(articles, panel, trends).predict(8, series)
    # perturb every trend week that has not ended by the launch day
    launch = series["launch_week"][0]
    cut = launch - timedelta(days=6)
    perturbed = trends.with_columns(
        pl.when(pl.col("week") >= cut)
        .then(pl.col("value") * 7 + 100)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    again = _fit(articles, panel, perturbed).predict(8, series)
    assert base.equals(again)
    # and the trends are really read: changing weeks before launch changes the forecast
    early = trends.with_columns(pl.col("value") * 0 + pl.int_range(pl.len()).cast(pl.Float64) % 7)
    assert not base.equals(_fit(articles, panel, early).predict(8, series))


def test_sales_level_reads_only_weeks_ended_before_launch() -> None:
    articles, panel = _retailer()
    pairs = cf.launches(panel, articles)
    launch = ORIGIN + timedelta(weeks=1)
    launch_day = cf.days(pl.Series([launch]))

    def level(frame: pl.DataFrame) -> np.ndarray:
        grid = cf.launch_grid(frame, pairs, 12, ORIGIN + timedelta(weeks=20))
        return cf.level_at(cf.level_index(grid, np.ones(12)), launch_day, 4)

    base = level(panel)
    # the week labelled launch - 7 days ends on the launch day: it is the last one read
    late = panel.with_columns(
        pl.when(pl.col("week") > launch - timedelta(days=7)).then(pl.col("units") * 9).otherwise("units")
    )
    assert np.array_equal(base, level(late))
    early = panel.with_columns(
        pl.when(pl.col("week") == launch - timedelta(days=7)).then(pl.col("units") * 9).otherwise("units")
    )
    assert not np.array_equal(base, level(early))


def test_each_category_gets_its_own_launch_curve() -> None:
    """Tops sell out in their first weeks, coats build up late: the forecast peaks follow."""
    articles, panel = _retailer()
    rng = np.random.default_rng(5)
    curves = {
        "tops": np.array([12, 10, 8, 6, 4, 3, 2, 2, 1, 1, 1, 1], dtype=float),
        "dresses": np.array([6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], dtype=float),
        "coats": np.array([1, 1, 2, 3, 5, 7, 9, 11, 12, 10, 8, 6], dtype=float),
    }
    launch = articles.select("article_id", "category", "launch_date")
    panel = panel.join(launch, on="article_id").with_columns(
        ((pl.col("week") - pl.col("launch_date")).dt.total_days() // 7).alias("h")
    )
    units = [
        float(rng.poisson(2 * curves[c][h]))
        for c, h in zip(panel["category"].to_list(), panel["h"].to_list(), strict=True)
    ]
    panel = panel.with_columns(pl.Series("units", units)).select("article_id", "store_id", "week", "units")
    out = _fit(articles, panel).predict(12, _new_series(articles)).join(articles, on="article_id")
    peak = (
        out.group_by("category", "horizon").agg(pl.col("q50").mean()).sort("q50").group_by("category").last()
    )
    weeks = dict(peak.select("category", "horizon").iter_rows())
    assert weeks["tops"] <= 2
    assert weeks["coats"] >= 7


def test_mean_keeps_expected_units_and_median_is_below_it_for_skewed_demand() -> None:
    articles, panel = _retailer()
    model = _fit(articles, panel)
    series = _new_series(articles)
    out = model.predict(12, series)
    # every new article launches in store s1: scale (1 + i % 3) * 1.5 times the known curve
    curve = np.array([4, 8, 10, 9, 7, 6, 5, 4, 3, 2, 2, 1], dtype=float)
    index = {a: i for i, a in enumerate(articles["article_id"].to_list())}
    expected = sum((1 + index[a] % 3) * 1.5 * curve.sum() for a in series["article_id"].to_list())
    assert out["mean"].sum() == pytest.approx(expected, rel=0.15)
    assert (out["mean"] >= 0).all()


def test_recent_launches_teach_the_first_weeks() -> None:
    """A category launched only in the last weeks (no complete window yet) still lifts its first weeks."""
    articles, panel = _retailer()
    recent = articles.filter(pl.col("launch_date") > ORIGIN - timedelta(weeks=4)).filter(
        pl.col("launch_date") <= ORIGIN
    )
    hot = recent["article_id"].to_list() + _new_series(articles)["article_id"].to_list()[::2]
    articles = articles.with_columns(
        pl.when(pl.col("article_id").is_in(hot)).then(pl.lit("jeans")).otherwise("category").alias("category")
    )
    panel = panel.with_columns(
        pl.when(pl.col("article_id").is_in(hot)).then(pl.col("units") * 6).otherwise("units").alias("units")
    )
    # attributes only: the chain level and the calendar would rise for every launch after the hot weeks
    small = {**PARAMS, "drop_features": ("f_level", "f_month", "f_week", "f_days", "f_launch")}
    model = ColdStartForecaster([0.1, 0.5, 0.9], 3, params=small)
    model.fit(panel.filter(pl.col("week") <= ORIGIN), ORIGIN, articles=articles)
    out = model.predict(1, _new_series(articles)).join(articles, on="article_id")
    jeans = out.filter(pl.col("category") == "jeans")["q50"].mean()
    others = out.filter(pl.col("category") != "jeans")["q50"].mean()
    assert recent.height >= 4
    assert others is not None
    assert jeans > 2 * others  # type: ignore[operator]


def test_unseen_attribute_values_and_store_are_forecast() -> None:
    articles, panel = _retailer()
    extra = pl.DataFrame(
        {
            "article_id": ["new1"],
            "category": ["swimwear"],
            "colour": [None],
            "launch_date": [ORIGIN + timedelta(weeks=3)],
        },
        schema=articles.schema,
    )
    catalogue = pl.concat([articles, extra])
    model = ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS)
    model.fit(panel.filter(pl.col("week") <= ORIGIN), ORIGIN, articles=catalogue)
    series = pl.DataFrame(
        {
            "article_id": ["new1", "new1"],
            "store_id": ["s0", "s9"],
            "launch_week": [ORIGIN + timedelta(weeks=3)] * 2,
        }
    )
    out = model.predict(4, series)
    assert out.height == 8
    assert out.select(pl.col("mean", "q10", "q50", "q90").is_finite().all()).row(0) == (True,) * 4


def test_history_after_origin_is_ignored() -> None:
    articles, panel = _retailer()
    series = _new_series(articles)
    model = ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS)
    with_future = model.fit(panel, ORIGIN, articles=articles).predict(4, series)
    assert with_future.equals(_fit(articles, panel).predict(4, series))


@pytest.mark.realdata
@pytest.mark.slow
def test_visuelle_latest_season_beats_mean_curve(visuelle_dir: Path) -> None:
    from forecast.adapters.visuelle import load_visuelle
    from forecast.config import DataConfig

    ds = load_visuelle(DataConfig(adapter="visuelle", path=visuelle_dir))
    articles = ds.articles.with_columns(pl.col("season").str.slice(0, 2).alias("season_type"))
    panel = ds.sales.select("article_id", "store_id", pl.col("date").alias("week"), "units")
    test = articles.filter(pl.col("season") == "AW19")
    history = panel.join(articles.filter(pl.col("season") != "AW19").select("article_id"), on="article_id")
    attributes = ["category", "color", "fabric", "extra", "season_type"]
    model = ColdStartForecaster([0.1, 0.5, 0.9], 0, attributes)
    model.fit(history, history["week"].max(), articles=articles, trends=ds.trends)  # type: ignore[arg-type]
    series = test.select(
        "article_id", pl.lit("ALL").alias("store_id"), pl.col("launch_date").alias("launch_week")
    )
    out = model.predict(12, series).join(panel, on=["article_id", "store_id", "week"], how="left")
    truth = out["units"].fill_null(0.0).to_numpy()
    mean_curve = (
        history.join(articles, on="article_id")
        .with_columns(((pl.col("week") - pl.col("launch_date")).dt.total_days() // 7 + 1).alias("horizon"))
        .group_by("horizon")
        .agg(pl.col("units").mean().alias("baseline"))
    )
    baseline = out.join(mean_curve, on="horizon", how="left")["baseline"].to_numpy()
    wape = np.abs(truth - out["q50"].to_numpy()).sum() / truth.sum()
    assert wape < 0.9 * np.abs(truth - baseline).sum() / truth.sum()


def test_analogues_read_only_windows_that_ended_before_launch() -> None:
    articles, panel = _retailer()
    model = ColdStartForecaster([0.1, 0.5, 0.9], 3, params={**PARAMS, "analogues": 5})
    model.fit(panel.filter(pl.col("week") <= ORIGIN), ORIGIN, articles=articles)
    bank = model.bank_
    # a window of 12 weekly labels from launch ends the day after its 12th week
    assert bank.select((pl.col("_end") == pl.col("_launch") + pl.duration(days=84)).all()).item()
    assert "f_analogue_mean" in model.feature_names_
    columns = ["category", "colour", "store_id"]
    query = bank.select(*columns, pl.col("_launch").alias("_day"))  # every pair, itself in the bank
    base = cf.analogue_features(query, bank, columns, 5, "category")
    for i in range(query.height):
        day = query["_day"][i]
        later = bank.with_columns(
            pl.when(pl.col("_end") > day)
            .then(pl.col("_target") * 5 + 99)
            .otherwise("_target")
            .alias("_target")
        )
        again = cf.analogue_features(query[i], later, columns, 5, "category")
        assert again.equals(base[i]), f"row {i} read a window that ended after its launch"
    # the first launches have no analogue yet
    first = query["_day"].min() + timedelta(days=84)  # type: ignore[operator]
    assert base.filter(query["_day"] < first)["f_analogue_mean"].is_nan().all()
    assert base["f_analogue_mean"].is_finite().sum() > 0
    # and earlier windows are really read
    earlier = bank.with_columns(pl.col("_target") + 1.0)
    shifted = cf.analogue_features(query, earlier, columns, 5, "category")
    finite = base["f_analogue_mean"].is_finite()
    assert np.allclose(shifted["f_analogue_mean"].filter(finite), base["f_analogue_mean"].filter(finite) + 1)


def test_launch_inputs_of_article_groups_concatenate_to_the_whole_run_s() -> None:
    """Computed per disjoint article group with the run's first week, the parts are the whole run's inputs,
    and fitting on them predicts exactly as fitting on the whole panel."""
    articles, panel = _retailer()
    # later articles are catalogued as launched before their first sale: a group of late articles only
    # keeps them because it is given the run's first panel week
    articles = articles.with_columns(
        pl.when(pl.col("article_id") >= "a020")
        .then(pl.col("launch_date") - timedelta(weeks=3))
        .otherwise("launch_date")
        .alias("launch_date")
    )
    history = panel.filter(pl.col("week") <= ORIGIN)
    start = history["week"].min()
    ids = articles["article_id"].to_list()
    groups = np.random.default_rng(2).integers(0, 3, len(ids))
    split = [[a for a, g in zip(ids, groups, strict=True) if g == k] for k in range(3)]
    split = [sorted(ids[:30]), *[[a for a in group if a >= "a030"] for group in split]]
    parts = [
        cf.launch_inputs(history.filter(pl.col("article_id").is_in(group)), ORIGIN, articles, 12, start)
        for group in split
    ]
    whole = cf.launch_inputs(history, ORIGIN, articles, 12)
    merged = cf.LaunchInputs.concat(parts)
    for name in ("pairs", "grid", "seen"):
        assert getattr(merged, name).equals(getattr(whole, name)), name
    assert whole.pairs.height == history.select("article_id", "store_id").n_unique()
    # the late group on its own first week would lose the pairs catalogued before it
    late = history.filter(pl.col("article_id").is_in(split[1]))
    assert cf.launch_inputs(late, ORIGIN, articles, 12).pairs.height < parts[1].pairs.height
    series = _new_series(articles)
    fitted = ColdStartForecaster([0.1, 0.5, 0.9], 3, params={**PARAMS, "analogues": 5})
    direct = fitted.fit(history, ORIGIN, articles=articles).predict(8, series)
    model = ColdStartForecaster([0.1, 0.5, 0.9], 3, params={**PARAMS, "analogues": 5})
    assert model.fit_launches(merged, ORIGIN, articles=articles).predict(8, series).equals(direct)


def _launch_curves(articles: pl.DataFrame, panel: pl.DataFrame, weeks: int = 12) -> np.ndarray:
    """Oracle: q10/q50/q90 of each week from launch's units over the pairs whose week ended by the origin."""
    sold = panel.join(articles.select("article_id", "launch_date"), on="article_id").with_columns(
        ((pl.col("week") - pl.col("launch_date")).dt.total_days() // 7 + 1).alias("h")
    )
    sold = sold.filter((pl.col("week") <= ORIGIN) & pl.col("h").is_between(1, weeks))
    return np.array(
        [np.quantile(sold.filter(pl.col("h") == h)["units"].to_numpy(), [0.1, 0.5, 0.9]) for h in range(1, 7)]
    )


def _with_weight(weight: float) -> pl.DataFrame:
    articles, panel = _retailer()
    model = ColdStartForecaster([0.1, 0.5, 0.9], 3, params=PARAMS | {"curve_weight": weight})
    out = model.fit(panel, ORIGIN, articles=articles).predict(6, _new_series(articles))
    return out.sort("article_id", "horizon")


def test_curve_weight_one_forecasts_the_training_launch_curves_for_every_article() -> None:
    articles, panel = _retailer()
    curves = _launch_curves(articles, panel)
    out = _with_weight(1.0)
    expected = curves[out["horizon"].to_numpy() - 1]
    assert np.allclose(out.select("q10", "q50", "q90").to_numpy(), expected)
    assert (out["mean"] >= 0).all()


def test_curve_weight_moves_the_boosters_quantiles_that_share_toward_the_curves() -> None:
    articles, panel = _retailer()
    curves = _launch_curves(articles, panel)
    alone, half = _with_weight(0.0), _with_weight(0.5)
    rows = half["horizon"].to_numpy() - 1
    expected = 0.5 * alone["q50"].to_numpy() + 0.5 * curves[rows, 1]
    positive = alone["q50"].to_numpy() > 0  # below 0 the booster's q50 was clipped
    assert positive.mean() > 0.9
    assert np.allclose(half["q50"].to_numpy()[positive], expected[positive])
    assert not np.allclose(half["q50"].to_numpy(), alone["q50"].to_numpy())
    ordered = (pl.col("q10") <= pl.col("q50")) & (pl.col("q50") <= pl.col("q90")) & (pl.col("q10") >= 0)
    assert half.select(ordered.all()).item()
    # the mean holds the moved quantiles (raised where they need it)
    from forecast.distribution import lowest_mean

    floor = lowest_mean(np.array([0.1, 0.5, 0.9]), half.select("q10", "q50", "q90").to_numpy())
    assert (half["mean"].to_numpy() >= floor - 1e-9).all()


def test_trend_features_are_left_out_by_default_and_read_when_asked() -> None:
    articles, panel = _retailer()
    history = panel.filter(pl.col("week") <= ORIGIN)
    defaults = {k: v for k, v in PARAMS.items() if k != "drop_features"}
    plain = ColdStartForecaster([0.1, 0.5, 0.9], 3, params=defaults)
    plain.fit(history, ORIGIN, articles=articles, trends=_trends())
    assert not [n for n in plain.feature_names_ if n.startswith("f_trend")]
    assert [n for n in _fit(articles, panel, _trends()).feature_names_ if n.startswith("f_trend")]
