"""The season-total model: nothing after the decision date is read (perturbation test), totals and bands."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from forecast.buy.features import season_lengths, season_totals
from forecast.buy.season import SeasonModel, forecast_seasons, weighted_quantile

START = date(2022, 1, 3)
SEASON = 4  # weeks


def _shop(n: int = 160, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A catalogue of two launches a week and their weekly sales over 4-week seasons."""
    rng = np.random.default_rng(seed)
    launch = [START + timedelta(days=7 * (i // 2)) for i in range(n)]
    category = rng.choice(["tops", "coats", "shoes"], size=n)
    colour = rng.choice(["red", "blue"], size=n)
    articles = pl.DataFrame(
        {
            "article_id": [f"a{i:03d}" for i in range(n)],
            "category": category,
            "colour": colour,
            "launch_date": launch,
        }
    )
    level = {"tops": 20.0, "coats": 8.0, "shoes": 3.0}
    rows = []
    for i in range(n):
        for h in range(SEASON):
            mean = level[str(category[i])] * (1.5 if colour[i] == "red" else 1.0) * (1 - 0.2 * h)
            rows.append((f"a{i:03d}", "s", launch[i] + timedelta(days=7 * h), float(rng.poisson(mean))))
    panel = pl.DataFrame(rows, schema=["article_id", "store_id", "week", "units"], orient="row")
    return articles, panel


def _model() -> SeasonModel:
    return SeasonModel(levels=8, analogues=5, recent=30, seeds=1, rounds=40)


def _forecast(articles: pl.DataFrame, panel: pl.DataFrame, target: str, lead: int) -> np.ndarray:
    launch = articles.filter(pl.col("article_id") == target)["launch_date"][0]
    targets = pl.DataFrame({"article_id": [target], "decision_date": [launch - timedelta(days=7 * lead)]})
    dist = forecast_seasons(panel, articles, targets, lead_weeks=lead, horizon=SEASON, model=_model())
    return dist.atoms


@pytest.mark.parametrize("lead", [0, 6])
def test_nothing_after_the_decision_date_is_read(lead: int) -> None:
    articles, panel = _shop()
    target = "a140"
    launch = articles.filter(pl.col("article_id") == target)["launch_date"][0]
    decision = launch - timedelta(days=7 * lead)
    before = _forecast(articles, panel, target, lead)
    # every week that had not ended by the decision date, and every article launched after it, changes
    late_week = pl.col("week") + timedelta(days=7) > decision
    perturbed_panel = panel.with_columns(
        pl.when(late_week).then(pl.col("units") * 7 + 3).otherwise(pl.col("units")).alias("units")
    )
    later = (pl.col("launch_date") > decision) & (pl.col("article_id") != target)
    perturbed = articles.with_columns(
        pl.when(later).then(pl.lit("shoes")).otherwise("category").alias("category"),
        pl.when(later).then(pl.lit("green")).otherwise("colour").alias("colour"),
    )
    extra = pl.DataFrame(
        {
            "article_id": ["z1"],
            "category": ["tops"],
            "colour": ["red"],
            "launch_date": [decision + timedelta(1)],
        }
    )
    extra_sales = pl.DataFrame(
        {"article_id": ["z1"], "store_id": ["s"], "week": [decision + timedelta(1)], "units": [999.0]}
    )
    after = _forecast(pl.concat([perturbed, extra]), pl.concat([perturbed_panel, extra_sales]), target, lead)
    np.testing.assert_array_equal(before, after)
    # the same perturbation before the decision date does change the distribution: the test can fail
    early = panel.with_columns(
        pl.when(~late_week).then(pl.col("units") * 7 + 3).otherwise(pl.col("units")).alias("units")
    )
    assert not np.array_equal(before, _forecast(articles, early, target, lead))


def test_season_totals_read_only_whole_seasons() -> None:
    articles, panel = _shop(20)
    seasons = season_lengths(articles, SEASON)
    until = START + timedelta(days=7 * 6)
    totals = season_totals(panel, seasons, until)
    ended = articles.filter(pl.col("launch_date") + timedelta(days=7 * SEASON) <= until)
    assert sorted(totals["article_id"]) == sorted(ended["article_id"])
    expected = panel.filter(pl.col("article_id") == "a000")["units"].sum()
    assert totals.filter(pl.col("article_id") == "a000")["total"].item() == expected


def test_planned_life_sets_the_season() -> None:
    articles = pl.DataFrame(
        {
            "article_id": ["a", "b"],
            "launch_date": [date(2024, 1, 1), date(2024, 1, 1)],
            "end_date": [date(2024, 1, 21), None],
        }
    )
    assert season_lengths(articles, 12)["season_weeks"].to_list() == [3, 12]


def test_distributions_are_sorted_nonnegative_and_follow_the_category() -> None:
    articles, panel = _shop()
    decision = START + timedelta(days=7 * 70)
    new = pl.DataFrame(
        {
            "article_id": ["t", "s"],
            "category": ["tops", "shoes"],
            "colour": ["blue", "blue"],
            "launch_date": [decision, decision],
            "decision_date": [decision, decision],
        }
    )
    dist = _model().fit(panel, articles, decision, 0, SEASON).predict(new)
    assert np.all(np.diff(dist.atoms, axis=1) >= 0)
    assert np.all(dist.atoms >= 0)
    band = dist.frame()
    assert band["season_q50"][0] > band["season_q50"][1]  # tops sell more than shoes
    assert (band["season_q10"] <= band["season_q90"]).all()


def _new_pair(decision: date) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "article_id": ["t", "s"],
            "category": ["tops", "shoes"],
            "colour": ["blue", "blue"],
            "launch_date": [decision, decision],
            "decision_date": [decision, decision],
        }
    )


def test_damping_the_centre_brings_the_articles_together() -> None:
    articles, panel = _shop()
    decision = START + timedelta(days=7 * 70)
    new = _new_pair(decision)
    medians = {}
    for slope in (1.0, 0.5, 0.0):
        model = SeasonModel(levels=8, analogues=5, recent=30, seeds=1, rounds=40, centre_slope=slope)
        logs = np.log1p(model.fit(panel, articles, decision, 0, SEASON).predict(new).atoms)
        medians[slope] = np.median(logs, axis=1)
    gap = {slope: m[0] - m[1] for slope, m in medians.items()}
    assert gap[1.0] > gap[0.5] > 0  # tops still above shoes, by less
    assert abs(gap[0.0]) < 1e-9  # fully damped: one centre for all


def test_weighted_quantile_weights_the_errors() -> None:
    values = np.array([-1.0, 0.0, 2.0, 5.0])
    levels = np.array([0.1, 0.5, 0.9])
    same = weighted_quantile(values, np.ones(4), levels)
    np.testing.assert_allclose(same, np.quantile(values, levels, method="hazen"))
    heavy_high = weighted_quantile(values, np.array([1.0, 1.0, 1.0, 10.0]), levels)
    assert np.all(heavy_high >= same)
    assert heavy_high[1] > same[1]
