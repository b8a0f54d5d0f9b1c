"""Holidays by rule, week labels and calendar features (forecast.calendar)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from forecast.calendar import (
    FLAGGED_HOLIDAYS,
    HOLIDAY_CODES,
    HOLIDAYS,
    calendar_features,
    holiday_date_expr,
    holiday_dates,
    infer_is_end,
    is_holiday_week,
    week_label_of,
    week_of,
)
from forecast.dataset import WEEKDAYS

# published dates
EASTER = {1961: date(1961, 4, 2), 2000: date(2000, 4, 23), 2008: date(2008, 3, 23), 2011: date(2011, 4, 24),
          2019: date(2019, 4, 21), 2024: date(2024, 3, 31), 2038: date(2038, 4, 25)}  # fmt: skip
SUPER_BOWL = {2010: date(2010, 2, 7), 2011: date(2011, 2, 6), 2012: date(2012, 2, 5), 2020: date(2020, 2, 2),
              2022: date(2022, 2, 13), 2024: date(2024, 2, 11), 2025: date(2025, 2, 9)}  # fmt: skip
THANKSGIVING = {2010: date(2010, 11, 25), 2011: date(2011, 11, 24), 2012: date(2012, 11, 22),
                2020: date(2020, 11, 26), 2024: date(2024, 11, 28)}  # fmt: skip
LABOR_DAY = {2010: date(2010, 9, 6), 2011: date(2011, 9, 5), 2012: date(2012, 9, 3), 2024: date(2024, 9, 2)}


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("easter", EASTER),
        ("super_bowl", SUPER_BOWL),
        ("thanksgiving", THANKSGIVING),
        ("labor_day", LABOR_DAY),
    ],
)
def test_holiday_dates_match_published_dates(name: str, known: dict[int, date]) -> None:
    for year, day in known.items():
        assert holiday_dates(year)[name] == day, year


def test_fixed_and_derived_holidays() -> None:
    days = holiday_dates(2010)
    assert days["christmas"] == date(2010, 12, 25)
    assert days["new_year"] == date(2010, 1, 1)
    assert days["black_friday"] == date(2010, 11, 26)


def test_holiday_expressions_agree_with_python_for_two_centuries() -> None:
    years = list(range(1950, 2151))
    frame = pl.DataFrame({"year": years}).with_columns(
        holiday_date_expr(name, pl.col("year")).alias(name) for name in HOLIDAYS
    )
    for name in HOLIDAYS:
        assert frame[name].to_list() == [holiday_dates(y)[name] for y in years], name


def test_unknown_holiday_and_weekday_are_rejected() -> None:
    with pytest.raises(ValueError, match="'halloween'"):
        holiday_date_expr("halloween", pl.lit(2020))
    with pytest.raises(ValueError, match="'FRIDAY'"):
        week_of("date", "FRIDAY")


@pytest.mark.parametrize("is_end", [False, True])
@pytest.mark.parametrize("week_label", WEEKDAYS)
def test_week_of_matches_python_and_is_a_labelling(week_label: str, is_end: bool) -> None:
    days = [date(2019, 12, 20) + timedelta(days=i) for i in range(400)]
    labels = pl.DataFrame({"date": days}).select(week_of("date", week_label, is_end))["date"].to_list()
    assert labels == [week_label_of(d, week_label, is_end) for d in days]
    for day, label in zip(days, labels, strict=True):
        assert label.isoweekday() == WEEKDAYS.index(week_label) + 1
        offset = (label - day).days if is_end else (day - label).days
        assert 0 <= offset <= 6


def test_walmart_week_examples() -> None:
    # a Saturday starts the Walmart week ending the next Friday; Christmas 2010 (a Saturday) -> 2010-12-31
    assert week_label_of(date(2010, 12, 25), "FRI", is_end=True) == date(2010, 12, 31)
    assert week_label_of(date(2010, 12, 24), "FRI", is_end=True) == date(2010, 12, 24)
    frame = pl.DataFrame({"week": [date(2010, 2, 12), date(2010, 9, 10), date(2010, 11, 26),
                                   date(2010, 12, 31),
                                   date(2010, 12, 24), date(2011, 1, 7)]})  # fmt: skip
    flags = frame.select(is_holiday_week("week", is_end=True).alias("h"))["h"].to_list()
    assert flags == [True, True, True, True, False, False]


def _features(weeks: list[date], is_end: bool) -> pl.DataFrame:
    return pl.DataFrame({"week": weeks}).with_columns(calendar_features("week", is_end=is_end))


@pytest.mark.parametrize(("week_label", "is_end"), [("MON", False), ("FRI", True), ("SUN", False)])
def test_holiday_weeks_align_across_years(week_label: str, is_end: bool) -> None:
    weeks = [week_label_of(date(2005, 1, 3), week_label, is_end) + timedelta(weeks=i) for i in range(52 * 25)]
    first_day = weeks[0] - timedelta(days=6) if is_end else weeks[0]
    last_day = weeks[-1] if is_end else weeks[-1] + timedelta(days=6)
    feats = _features(weeks, is_end)
    for name in HOLIDAYS:
        held = feats.filter(pl.col(f"f_cal_is_{name}"))["week"].to_list()
        expected = [
            week_label_of(day, week_label, is_end)
            for day in (holiday_dates(y)[name] for y in range(2004, 2031))
            if first_day <= day <= last_day
        ]
        assert held == expected, name
    thanksgiving = feats.filter(pl.col("f_cal_is_thanksgiving"))
    assert (thanksgiving["f_cal_holiday"] == HOLIDAY_CODES["thanksgiving"]).all()
    assert (thanksgiving["f_cal_weeks_to_thanksgiving"] == 0).all()
    assert thanksgiving["f_cal_is_black_friday"].all()
    christmas = feats.filter(pl.col("f_cal_is_christmas"))
    assert (christmas["f_cal_weeks_since_christmas"] == 0).all()
    assert (christmas["f_cal_holiday"] == HOLIDAY_CODES["christmas"]).all()
    # the week before Christmas week is 1 week away and the week after 1 week since, whatever the dates
    by_week = {row["week"]: row for row in feats.iter_rows(named=True)}
    for week in christmas["week"]:
        assert by_week[week - timedelta(weeks=1)]["f_cal_weeks_to_christmas"] == 1
        if week + timedelta(weeks=1) in by_week:
            assert by_week[week + timedelta(weeks=1)]["f_cal_weeks_since_christmas"] == 1


def test_weeks_to_and_since_count_down_and_up() -> None:
    weeks = [date(2009, 12, 28) + timedelta(weeks=i) for i in range(200)]
    feats = _features(weeks, is_end=False)
    for name in ("christmas", "thanksgiving"):
        to = feats[f"f_cal_weeks_to_{name}"].to_list()
        since = feats[f"f_cal_weeks_since_{name}"].to_list()
        for i in range(1, len(weeks)):
            assert to[i] == to[i - 1] - 1 or (to[i - 1] == 0 and to[i] in (51, 52))
            assert since[i] == since[i - 1] + 1 or (since[i] == 0 and to[i] == 0)
        assert max(to) <= 52
        assert max(since) <= 52


def test_week_of_year_and_month_of_the_middle_day() -> None:
    feats = _features([date(2024, 1, 1), date(2024, 4, 29), date(2020, 12, 28)], is_end=False)
    assert feats["f_cal_week_of_year"].to_list() == [1, 18, 53]
    assert feats["f_cal_month"].to_list() == [1, 5, 12]


def test_new_year_week_spanning_two_years() -> None:
    feats = _features([date(2025, 12, 29)], is_end=False)
    assert feats["f_cal_is_new_year"].item()
    assert feats["f_cal_holiday"].item() == HOLIDAY_CODES["new_year"]
    assert not feats["f_cal_is_holiday"].item()


def test_inferred_labelling_equals_explicit_labelling() -> None:
    weeks = [date(2010, 2, 5) + timedelta(weeks=i) for i in range(150)]
    explicit = _features(weeks, is_end=True)
    inferred = pl.DataFrame({"week": weeks}).with_columns(
        calendar_features("week", is_end=infer_is_end("week"))
    )
    assert explicit.equals(inferred)


@pytest.mark.realdata
def test_walmart_holiday_flags_match_train_csv(walmart_dir) -> None:  # type: ignore[no-untyped-def]
    train = pl.read_csv(walmart_dir / "train.csv", columns=["Date", "IsHoliday"], try_parse_dates=True)
    weeks = train.unique().with_columns(is_holiday_week("Date", is_end=True).alias("ours"))
    assert weeks["Date"].n_unique() == weeks.height  # one flag per week in the source
    assert weeks.filter(pl.col("IsHoliday")).height == 10
    mismatched = weeks.filter(pl.col("ours") != pl.col("IsHoliday"))
    assert mismatched.height == 0, mismatched
    assert set(FLAGGED_HOLIDAYS) == {"super_bowl", "labor_day", "thanksgiving", "christmas"}
