"""Adding a model the documented way (docs/models.md): one class, one `register` line, one ``[models.NAME]``
table. A per-series toy and a toy that learns across series are backtested by the job; the global one is
fitted in parts under ``--cluster local:2`` with the single machine's answers, and a global model without
the part interface is refused in one line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from forecast.config import load_pipeline
from forecast.errors import ConfigError
from forecast.job import run_job
from forecast.models import register, unregister
from forecast.models.base import FitsInParts, Forecaster, PartContext

SERIES = ["article_id", "store_id"]


def _levels(history: pl.DataFrame, origin: date, weeks: int) -> pl.DataFrame:
    """Each series' mean units over its last `weeks` weeks up to `origin`."""
    recent = history.filter(pl.col("week") <= origin).sort("week").group_by(SERIES).tail(weeks)
    return recent.group_by(SERIES).agg(pl.col("units").fill_null(0.0).mean().alias("level"))


def _frame(model: Forecaster, levels: pl.DataFrame, origin: date, horizon: int, series: Any) -> pl.DataFrame:
    keys = levels if series is None else series.select(SERIES).join(levels, on=SERIES, how="left")
    steps = pl.DataFrame({"horizon": list(range(1, horizon + 1))})
    grid = keys.join(steps, how="cross").with_columns(
        (pl.lit(origin) + pl.duration(weeks=pl.col("horizon"))).alias("week")
    )
    grid = grid.sort(*SERIES, "horizon")
    level = grid["level"].fill_null(0.0).to_numpy()
    return model.forecast_frame(grid, level, np.column_stack([0.5 * level, level, 1.5 * level]))


class RecentMean(Forecaster):
    """Toy per-series model: each series' mean of its last `weeks` weeks, flat, with a ±50% band."""

    default_name = "recent_mean"

    def __init__(self, quantiles: Any = (0.1, 0.5, 0.9), weeks: int = 4, alias: str | None = None) -> None:
        self.quantiles = quantiles
        self.weeks = weeks
        self.alias = alias

    def fit(self, panel: pl.DataFrame, origin: date, **_: object) -> RecentMean:
        self.levels_ = _levels(panel, origin, self.weeks)
        self.origin_ = origin
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        self.check_fitted()
        return _frame(self, self.levels_, self.origin_, horizon, series)


class Trend(Forecaster, FitsInParts[pl.DataFrame, tuple[float, float]]):
    """Toy global model: each series' recent mean times the trend of every series together (units of the
    last `weeks` weeks over the `weeks` before), a figure no series gives alone."""

    default_name = "trend"
    learns_across_series = True

    def __init__(self, quantiles: Any = (0.1, 0.5, 0.9), weeks: int = 4, alias: str | None = None) -> None:
        self.quantiles = quantiles
        self.weeks = weeks
        self.alias = alias

    def _sums(self, history: pl.DataFrame, origin: date) -> pl.DataFrame:
        """Units of the `weeks` weeks up to `origin` and of the `weeks` before (whole units: exact sums)."""
        back = (pl.lit(origin) - pl.col("week")).dt.total_days() // 7
        units = pl.col("units").fill_null(0.0)
        return history.select(
            units.filter(back < self.weeks).sum().alias("recent"),
            units.filter((back >= self.weeks) & (back < 2 * self.weeks)).sum().alias("older"),
        )

    def fit(self, panel: pl.DataFrame, origin: date, **_: object) -> Trend:
        self.factor_ = self.fit_sub(self.training_set(self._sums(panel, origin), origin, None), "trend")
        self.levels_ = _levels(panel, origin, self.weeks)
        self.origin_ = origin
        return self

    def predict(self, horizon: int, series: pl.DataFrame | None = None) -> pl.DataFrame:
        self.check_fitted()
        levels = self.levels_.with_columns(pl.col("level") * self.factor_)
        return _frame(self, levels, self.origin_, horizon, series)

    # the steps a partitioned run asks for (`FitsInParts`)
    def part_features(self, history: pl.DataFrame, origin: date, context: PartContext) -> pl.DataFrame:  # noqa: ARG002
        return self._sums(history, origin)

    def candidate_rows(self, features: pl.DataFrame) -> int:
        return features.height

    def sample_share(self, candidates: int) -> float:  # noqa: ARG002
        return 1.0

    def part_rows(self, features: pl.DataFrame, share: float, context: PartContext) -> pl.DataFrame:  # noqa: ARG002
        return features

    def training_set(self, rows: pl.DataFrame, origin: date, context: Any) -> tuple[float, float]:  # noqa: ARG002
        return float(rows["recent"].sum()), float(rows["older"].sum())

    def sub_fits(self) -> list[str]:
        return ["trend"]

    def starts_from(self, job: str) -> str | None:  # noqa: ARG002
        return None

    def fit_sub(self, training: tuple[float, float], job: str, start: Any = None) -> float:  # noqa: ARG002
        recent, older = training
        return recent / older if older > 0 else 1.0

    def assemble(
        self,
        training: tuple[float, float],  # noqa: ARG002
        results: dict[str, Any],
        origin: date,
        first_week: date,  # noqa: ARG002
    ) -> Trend:
        model = self.clone()
        model.factor_, model.levels_, model.origin_ = results["trend"], pl.DataFrame(), origin
        return model

    def for_part(self, features: pl.DataFrame, history: pl.DataFrame, origin: date) -> Trend:  # noqa: ARG002
        model = self.clone()
        model.factor_, model.origin_ = self.factor_, origin
        model.levels_ = _levels(history, origin, self.weeks)
        return model


class Opaque(RecentMean):
    """A model that learns across series but does not declare the steps to fit it in parts."""

    default_name = "opaque"
    learns_across_series = True


PIPELINE = """
name = "toys"
[data]
adapter = "simulate"
[simulate]
articles = 30
stores = 3
weeks = 60
seed = 5
cold_start_share = 0.0
[forecast]
horizon = 3
seed = 1
[backtest]
folds = 2
step = 3
[replenishment]
enabled = false
[tracking]
register = false
[models]
cold_start = false
[models.naive]
[models.recent_mean]
weeks = 3
[models.trend]
weeks = 4
"""


@pytest.fixture
def toys() -> Iterator[None]:
    register("recent_mean", RecentMean)
    register("trend", Trend)
    register("opaque", Opaque)
    yield
    for name in ("recent_mean", "trend", "opaque"):
        unregister(name)


def _run(tmp_path: Path, name: str, text: str, cluster: str | None = None) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    out = tmp_path / name
    run_job(load_pipeline(path, cluster=cluster), out, tracking_uri=f"sqlite:///{tmp_path / name}.db")
    return out


def test_the_toy_models_are_backtested_and_the_global_one_gives_the_same_answers_on_a_cluster(
    toys: None, tmp_path: Path
) -> None:
    del toys
    single = _run(tmp_path, "single", PIPELINE)
    board = pl.read_csv(single / "leaderboard.csv")
    assert {"naive", "recent_mean", "trend"} <= set(board["model"])
    cluster = _run(tmp_path, "cluster", PIPELINE, cluster="local:2")
    for name in ("leaderboard.csv", "forecasts.csv"):
        assert (single / name).read_bytes() == (cluster / name).read_bytes(), name


def test_a_global_model_without_the_part_interface_is_refused_by_the_cluster(
    toys: None, tmp_path: Path
) -> None:
    del toys
    assert not issubclass(Opaque, FitsInParts)
    text = PIPELINE.replace("[models.trend]", "[models.opaque]")
    with pytest.raises(ConfigError) as err:
        _run(tmp_path, "opaque", text, cluster="local:2")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("--cluster: model 'opaque' learns across series but does not implement")
    assert err.value.exit_code == 1
