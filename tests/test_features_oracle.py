"""An independent oracle: the production features (the matrix engine LightGBM trains on) recomputed in plain
Python (dicts and loops over dates) from the panel must agree."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from forecast.dataset import Dataset
from forecast.features import FeatureSpec, horizon_features, seasonal_offset
from forecast.panel import build_panel

# price features have their own oracle (tests/test_prices.py)
SPEC = FeatureSpec(lags=(1, 2, 3, 13), windows=(3, 8), prices=False)
WEEK = timedelta(weeks=1)
NAN = float("nan")


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    """A seeded random panel: 8 articles × 3 stores over 120 weeks, integer units, sparse, with gaps."""
    rng = random.Random(11)
    start = date(2023, 1, 2)
    rows = []
    for article in range(8):
        for store in range(3):
            first, last = rng.randrange(0, 50), rng.randrange(60, 120)
            for week in range(first, last + 1):
                if week in (first, last) or rng.random() < 0.5:
                    rows.append(
                        (start + week * WEEK, f"s{store}", f"a{article}", float(rng.randrange(-1, 7)), 5.0)
                    )
    sales = pl.DataFrame(rows, schema=["date", "store_id", "article_id", "units", "price"], orient="row")
    articles = pl.DataFrame({"article_id": [f"a{i}" for i in range(8)],
                             "category": ["x", "y", None, "x", "y", "x", "y", "x"]})  # fmt: skip
    stores = pl.DataFrame({"store_id": ["s0", "s1", "s2"]})
    counted = [(d, s, a, float(rng.choice([0, 0, 2, 5]))) for d, s, a, _, _ in rows if rng.random() < 0.4]
    stock = pl.DataFrame(counted, schema=["week", "store_id", "article_id", "on_hand"], orient="row")
    out = build_panel(Dataset("oracle", sales, articles, stores, stock=stock)).collect()
    assert 0 < out["censored"].sum() < out.height
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else NAN


class Oracle:
    """Known units by series and week (censored weeks are unknown) and the totals of each group."""

    def __init__(self, panel: pl.DataFrame) -> None:
        self.start = panel["week"].min()
        self.known: dict[tuple[str, str], dict[date, float]] = defaultdict(dict)
        self.alive: dict[tuple[str, str], set[date]] = defaultdict(set)
        self.groups: dict[str, dict[Any, dict[date, float]]] = {"article": {}, "cat_store": {}}
        self.group_of: dict[tuple[str, str], dict[str, Any]] = {}
        for r in panel.iter_rows(named=True):
            key = (r["article_id"], r["store_id"])
            self.alive[key].add(r["week"])
            groups = {"article": r["article_id"], "cat_store": (r["category"], r["store_id"])}
            self.group_of[key] = groups
            if r["censored"]:
                continue
            self.known[key][r["week"]] = r["units"]
            for name, group in groups.items():
                totals = self.groups[name].setdefault(group, defaultdict(float))
                totals[r["week"]] += r["units"]

    def window(self, values: dict[date, float], end: date, weeks: int) -> list[float]:
        return [values[end - i * WEEK] for i in range(weeks) if end - i * WEEK in values]

    def level(self, values: dict[date, float], origin: date) -> float:
        window = [abs(v) for v in self.window(values, origin, 52)]
        return max(_mean(window) if window else 0.0, 1.0)

    def at(self, values: dict[date, float], week: date, origin: date) -> float:
        return values.get(week, NAN) if self.start <= week <= origin else NAN

    def row(self, key: tuple[str, str], origin: date, horizon: int) -> dict[str, float]:
        units = self.known[key]
        scale = self.level(units, origin)
        f = {"scale": scale, "f_log_level": math.log1p(scale)}
        for k in SPEC.lags:
            f[f"f_lag_{k}"] = self.at(units, origin - (k - 1) * WEEK, origin) / scale
        for w in SPEC.windows:
            f[f"f_roll_mean_{w}"] = _mean(self.window(units, origin, w)) / scale
        recent = self.window(units, origin, 13)
        f["f_zero_share_13"] = _mean([float(u == 0) for u in recent])
        year_ago = _mean(self.window(units, origin - 52 * WEEK, 13))
        f["f_yoy"] = _ratio(_mean(recent), year_ago)
        sales = [w for w in self.alive[key] if w <= origin and units.get(w, 0.0) != 0]
        f["f_weeks_since_sale"] = (origin - max(sales)).days // 7 if sales else NAN
        lived = [w for w in self.alive[key] if w <= origin]
        f["f_age"] = (origin - min(lived)).days // 7 if lived else NAN
        target = origin + horizon * WEEK
        back = seasonal_offset(target, is_end=False)
        near = [self.at(units, target - (back + d) * WEEK, origin) for d in (-1, 0, 1)]
        f["f_seasonal_52"] = near[1] / scale
        known = [v for v in near if not math.isnan(v)]
        f["f_seasonal_smooth"] = _mean(known) / scale
        f["f_seasonal_104"] = self.at(units, target - (back + 52) * WEEK, origin) / scale
        for name, groups in self.groups.items():
            totals = groups.get(self.group_of[key][name], {})
            value = self.at(totals, target - back * WEEK, origin)
            f[f"f_{name}_seasonal"] = value / self.level(totals, origin)
        return f


def _ratio(recent: float, year_ago: float) -> float:
    if math.isnan(recent) or math.isnan(year_ago):
        return NAN
    if year_ago == 0:
        return NAN if recent == 0 else (5.0 if recent > 0 else 0.0)
    return min(max(recent / year_ago, 0.0), 5.0)


def _same(ours: float, theirs: float) -> bool:
    if math.isnan(theirs):
        return math.isnan(ours)
    return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12)


def test_production_features_agree_with_the_oracle(panel: pl.DataFrame) -> None:
    weeks = sorted(set(panel["week"].to_list()))
    origins = weeks[5::7]
    frame = horizon_features(panel, SPEC, origins, 9, targets=True)
    oracle = Oracle(panel)
    compared = [
        c for c in frame.columns if c == "scale" or (c.startswith("f_") and not c.startswith("f_cal_"))
    ]
    checked = 0
    for r in frame.iter_rows(named=True):
        expected = oracle.row((r["article_id"], r["store_id"]), r["origin"], r["horizon"])
        assert set(compared) == set(expected)  # the oracle covers every feature but the calendar
        for column in compared:
            assert _same(r[column], expected[column]), (column, r["article_id"], r["store_id"], r["origin"])
            checked += 1
        assert r["units"] == oracle.known[(r["article_id"], r["store_id"])][r["week"]]
    assert checked > 20_000
    # targets: every known week after an origin, within the horizons and the panel
    expected_rows = sum(
        1 for units in oracle.known.values() for o in origins for h in range(1, 10) if o + h * WEEK in units
    )
    assert frame.height == expected_rows


def test_unscaled_values_are_units(panel: pl.DataFrame) -> None:
    origin = sorted(set(panel["week"].to_list()))[80]
    scaled = horizon_features(panel, SPEC, [origin], 1)
    raw = horizon_features(panel, FeatureSpec(lags=SPEC.lags, windows=SPEC.windows, scale=False), [origin], 1)
    assert (raw["scale"] == 1.0).all()
    ratio = raw["f_lag_1"] / scaled["f_lag_1"]
    assert ((ratio - scaled["scale"]).abs().fill_nan(0.0) < 1e-9).all()
    assert raw["f_log_level"].equals(scaled["f_log_level"])
