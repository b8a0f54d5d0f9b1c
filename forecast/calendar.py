"""Retail calendar: week labels, holidays by rule, and calendar features of a week.

A week is named by one date, its *label*: the weekday the week starts on (``"MON"``, the default) or,
for sources that label weeks by their last day (Walmart: the Friday a Saturday-to-Friday week ends on), the
weekday it ends on (``is_end=True``). Holidays are computed by rule for any year, so the week holding
Thanksgiving or Christmas lines up across years although their dates move:

- Super Bowl: first Sunday of February (second Sunday from 2022, when the season grew to 18 weeks),
- Easter Sunday (Gregorian computus), Labor Day (first Monday of September), Thanksgiving (fourth Thursday of
  November), Black Friday (the day after), Christmas (25 December), New Year (1 January).

`FLAGGED_HOLIDAYS` are the four holidays whose weeks count as ``is_holiday`` (the weeks Walmart flags).
Every date function exists twice: on Python dates (``holiday_dates``) and as Polars expressions
(``holiday_date_expr``, ``week_of``, ``calendar_features``) so frames never need a Python loop over rows.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from forecast.dataset import WEEKDAYS

HOLIDAYS = ("super_bowl", "easter", "labor_day", "thanksgiving", "black_friday", "christmas", "new_year")
FLAGGED_HOLIDAYS = ("super_bowl", "labor_day", "thanksgiving", "christmas")
# code of the holiday a week holds (0 = none); when a week holds two (Thanksgiving and Black Friday always
# share a week) the first in this order wins
HOLIDAY_CODES = {name: code for code, name in enumerate(HOLIDAYS, start=1)}
_PRIORITY = ("christmas", "thanksgiving", "black_friday", "super_bowl", "labor_day", "easter", "new_year")
_SUPER_BOWL_SECOND_SUNDAY_FROM = 2022
_SUNDAY, _MONDAY, _THURSDAY = 7, 1, 4


def _weekday_number(week_label: str) -> int:
    if week_label not in WEEKDAYS:
        msg = f"`week_label` must be one of {WEEKDAYS}, got {week_label!r}"
        raise ValueError(msg)
    return WEEKDAYS.index(week_label) + 1


def _easter_month_day(year: Any) -> tuple[Any, Any]:
    """Anonymous Gregorian computus; works on ints and on integer Polars expressions alike."""
    a = year % 19
    b = year // 100
    c = year % 100
    d = b // 4
    e = b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i = c // 4
    k = c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    n = h + l_ - 7 * m + 114
    return n // 31, n % 31 + 1


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.isoweekday()) % 7 + 7 * (n - 1))


def holiday_dates(year: int) -> dict[str, date]:
    """The date of each holiday in `HOLIDAYS` for `year`.

    Examples
    --------
    >>> holiday_dates(2010)["thanksgiving"], holiday_dates(2024)["easter"]
    (datetime.date(2010, 11, 25), datetime.date(2024, 3, 31))
    """
    month, day = _easter_month_day(year)
    sunday = 2 if year >= _SUPER_BOWL_SECOND_SUNDAY_FROM else 1
    thanksgiving = _nth_weekday(year, 11, _THURSDAY, 4)
    return {
        "super_bowl": _nth_weekday(year, 2, _SUNDAY, sunday),
        "easter": date(year, month, day),
        "labor_day": _nth_weekday(year, 9, _MONDAY, 1),
        "thanksgiving": thanksgiving,
        "black_friday": thanksgiving + timedelta(days=1),
        "christmas": date(year, 12, 25),
        "new_year": date(year, 1, 1),
    }


def _nth_weekday_expr(year: pl.Expr, month: int, weekday: int, n: int | pl.Expr) -> pl.Expr:
    first = pl.date(year, month, 1)
    offset = (weekday - first.dt.weekday().cast(pl.Int32) + 7) % 7 + (n - 1) * 7
    return first + pl.duration(days=offset)


def holiday_date_expr(name: str, year: pl.Expr) -> pl.Expr:
    """Expression: the date of holiday `name` in the (integer) `year`.

    Examples
    --------
    >>> pl.select(holiday_date_expr("easter", pl.lit(2025))).item()
    datetime.date(2025, 4, 20)
    """
    year = year.cast(pl.Int32)
    if name == "super_bowl":
        sunday = pl.when(year >= _SUPER_BOWL_SECOND_SUNDAY_FROM).then(2).otherwise(1)
        return _nth_weekday_expr(year, 2, _SUNDAY, sunday)
    if name == "easter":
        month, day = _easter_month_day(year)
        return pl.date(year, month, day)
    if name == "labor_day":
        return _nth_weekday_expr(year, 9, _MONDAY, 1)
    if name == "thanksgiving":
        return _nth_weekday_expr(year, 11, _THURSDAY, 4)
    if name == "black_friday":
        return _nth_weekday_expr(year, 11, _THURSDAY, 4) + pl.duration(days=1)
    if name == "christmas":
        return pl.date(year, 12, 25)
    if name == "new_year":
        return pl.date(year, 1, 1)
    msg = f"`name` must be one of {HOLIDAYS}, got {name!r}"
    raise ValueError(msg)


def week_label_of(day: date, week_label: str = "MON", is_end: bool = False) -> date:
    """The label of the week holding `day`.

    Examples
    --------
    >>> week_label_of(date(2010, 12, 25), "FRI", is_end=True)
    datetime.date(2010, 12, 31)
    """
    target = _weekday_number(week_label)
    if is_end:
        return day + timedelta(days=(target - day.isoweekday()) % 7)
    return day - timedelta(days=(day.isoweekday() - target) % 7)


def week_of(date_expr: pl.Expr | str, week_label: str = "MON", is_end: bool = False) -> pl.Expr:
    """Expression: the label (a Date) of the week holding each date or datetime of `date_expr`.

    Examples
    --------
    >>> frame = pl.DataFrame({"date": [date(2024, 1, 3), date(2024, 1, 7)]})
    >>> frame.select(week_of("date"))["date"].to_list()
    [datetime.date(2024, 1, 1), datetime.date(2024, 1, 1)]
    """
    target = _weekday_number(week_label)
    day = (pl.col(date_expr) if isinstance(date_expr, str) else date_expr).cast(pl.Date)
    weekday = day.dt.weekday().cast(pl.Int32)
    if is_end:
        return day + pl.duration(days=(target - weekday + 7) % 7)
    return day - pl.duration(days=(weekday - target + 7) % 7)


def week_start(week: pl.Expr | str, is_end: bool | pl.Expr = False) -> pl.Expr:
    """Expression: the first day of each labelled week (`is_end` may be an expression, per row)."""
    expr = pl.col(week) if isinstance(week, str) else week
    if isinstance(is_end, bool):
        return expr - pl.duration(days=6) if is_end else expr
    return pl.when(is_end).then(expr - pl.duration(days=6)).otherwise(expr)


def infer_is_end(week: pl.Expr | str) -> pl.Expr:
    """Expression: labelling when the source does not say: Monday labels start a week, other days end one."""
    expr = pl.col(week) if isinstance(week, str) else week
    return expr.dt.weekday() != 1


def holiday_flags(week: pl.Expr | str, is_end: bool | pl.Expr = False) -> dict[str, pl.Expr]:
    """Expressions, one per holiday: does the labelled week hold that holiday?"""
    start = week_start(week, is_end)
    end = start + pl.duration(days=6)
    flags = {}
    for name in HOLIDAYS:
        first = holiday_date_expr(name, start.dt.year())
        last = holiday_date_expr(name, end.dt.year())
        flags[name] = first.is_between(start, end) | last.is_between(start, end)
    return flags


def is_holiday_week(week: pl.Expr | str, is_end: bool | pl.Expr = False) -> pl.Expr:
    """Expression: the week holds one of `FLAGGED_HOLIDAYS` (Super Bowl, Labor Day, Thanksgiving,
    Christmas)."""
    flags = holiday_flags(week, is_end)
    return pl.any_horizontal([flags[name] for name in FLAGGED_HOLIDAYS])


def holiday_code(week: pl.Expr | str, is_end: bool | pl.Expr = False) -> pl.Expr:
    """Expression (Int8): `HOLIDAY_CODES` of the holiday the week holds, 0 when none."""
    flags = holiday_flags(week, is_end)
    expr: Any = pl
    for name in _PRIORITY:
        expr = expr.when(flags[name]).then(pl.lit(HOLIDAY_CODES[name], pl.Int8))
    return expr.otherwise(pl.lit(0, pl.Int8))


def _holiday_week_start(name: str, year: pl.Expr, start: pl.Expr) -> pl.Expr:
    """Start of the week holding holiday `name` of `year`, for weeks starting on the weekday of `start`."""
    day = holiday_date_expr(name, year)
    return day - pl.duration(
        days=(day.dt.weekday().cast(pl.Int32) - start.dt.weekday().cast(pl.Int32) + 7) % 7
    )


def weeks_to_holiday(week: pl.Expr | str, name: str, is_end: bool | pl.Expr = False) -> pl.Expr:
    """Expression (Int32): weeks from the labelled week to the next week holding `name` (0 = this week)."""
    start = week_start(week, is_end)
    year = start.dt.year().cast(pl.Int32)
    this_year = _holiday_week_start(name, year, start)
    next_year = _holiday_week_start(name, year + 1, start)
    target = pl.when(this_year >= start).then(this_year).otherwise(next_year)
    return ((target - start).dt.total_days() // 7).cast(pl.Int32)


def weeks_since_holiday(week: pl.Expr | str, name: str, is_end: bool | pl.Expr = False) -> pl.Expr:
    """Expression (Int32): whole weeks since the last week holding `name` (0 = this week)."""
    start = week_start(week, is_end)
    year = start.dt.year().cast(pl.Int32)
    this_year = _holiday_week_start(name, year, start)
    last_year = _holiday_week_start(name, year - 1, start)
    source = pl.when(this_year <= start).then(this_year).otherwise(last_year)
    return ((start - source).dt.total_days() // 7).cast(pl.Int32)


def calendar_features(
    week: str = "week", *, is_end: bool | pl.Expr = False, prefix: str = "f_cal_"
) -> list[pl.Expr]:
    """Calendar features of the labelled week in column `week` (functions of the date only, never leak).

    Week of year and month are those of the week's middle day. Columns (with `prefix`): ``week_of_year``,
    ``month``, ``is_holiday``, ``holiday`` (`HOLIDAY_CODES`, 0 = none), ``is_<holiday>`` for each of
    `HOLIDAYS`, ``weeks_to_christmas``, ``weeks_since_christmas``, ``weeks_to_thanksgiving``,
    ``weeks_since_thanksgiving``.

    Examples
    --------
    >>> frame = pl.DataFrame({"week": [date(2010, 11, 26)]})
    >>> frame.select(calendar_features(is_end=True))["f_cal_holiday"].item()
    4
    """
    middle = week_start(week, is_end) + pl.duration(days=3)
    flags = holiday_flags(week, is_end)
    exprs = [
        middle.dt.week().cast(pl.Int8).alias(f"{prefix}week_of_year"),
        middle.dt.month().cast(pl.Int8).alias(f"{prefix}month"),
        pl.any_horizontal([flags[name] for name in FLAGGED_HOLIDAYS]).alias(f"{prefix}is_holiday"),
        holiday_code(week, is_end).alias(f"{prefix}holiday"),
    ]
    exprs += [flags[name].alias(f"{prefix}is_{name}") for name in HOLIDAYS]
    for name in ("christmas", "thanksgiving"):
        exprs.append(weeks_to_holiday(week, name, is_end).alias(f"{prefix}weeks_to_{name}"))
        exprs.append(weeks_since_holiday(week, name, is_end).alias(f"{prefix}weeks_since_{name}"))
    return exprs


__all__ = [
    "FLAGGED_HOLIDAYS",
    "HOLIDAYS",
    "HOLIDAY_CODES",
    "calendar_features",
    "holiday_code",
    "holiday_date_expr",
    "holiday_dates",
    "holiday_flags",
    "infer_is_end",
    "is_holiday_week",
    "week_label_of",
    "week_of",
    "week_start",
    "weeks_since_holiday",
    "weeks_to_holiday",
]
