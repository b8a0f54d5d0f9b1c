"""Calendar features: of a target week (global models) and of a launch day (cold start).

Both are built from `forecast.calendar`, the one place holidays and week labels are defined.
"""

from __future__ import annotations

import polars as pl

from forecast.calendar import calendar_features, holiday_date_expr

CALENDAR_COLUMNS = [
    "f_cal_week_of_year",
    "f_cal_month",
    "f_cal_is_holiday",
    "f_cal_holiday",
    "f_cal_weeks_to_christmas",
    "f_cal_weeks_since_christmas",
    "f_cal_weeks_to_thanksgiving",
    "f_cal_weeks_since_thanksgiving",
]
LAUNCH_CALENDAR_COLUMNS = ["f_month", "f_week_of_year", "f_weekday", "f_days_to_christmas"]


def with_calendar(frame: pl.DataFrame, is_end: bool, week: str = "week") -> pl.DataFrame:
    """`frame` with the `CALENDAR_COLUMNS` of its `week` column, computed once per distinct week."""
    weeks = frame.select(pl.col(week).unique())
    cal = weeks.with_columns(calendar_features(week, is_end=is_end)).select([week, *CALENDAR_COLUMNS])
    return frame.join(cal, on=week, how="left")


def launch_calendar(day: pl.Expr) -> list[pl.Expr]:
    """Release-calendar features of a launch day (`LAUNCH_CALENDAR_COLUMNS`): a day, not a week label."""
    christmas = holiday_date_expr("christmas", day.dt.year())
    return [
        day.dt.month().cast(pl.Float64).alias("f_month"),
        day.dt.week().cast(pl.Float64).alias("f_week_of_year"),
        day.dt.weekday().cast(pl.Float64).alias("f_weekday"),
        (christmas - day).dt.total_days().cast(pl.Float64).alias("f_days_to_christmas"),
    ]
