"""The holiday-aligned week a year before a target week.

For a target week near a holiday whose date moves (Super Bowl, Easter, Labor Day, Thanksgiving) the aligned
week is the one at the same distance from that holiday one year earlier, else the week 52 weeks earlier.
"""

from __future__ import annotations

from datetime import date, timedelta

from forecast.calendar import holiday_dates

MOVING_HOLIDAYS = ("super_bowl", "easter", "labor_day", "thanksgiving")
ALIGN_WEEKS = 3  # a target week this close to a moving holiday is aligned on that holiday
SEASON_WEEKS = 52


def _holiday_week_offset(week: date, name: str, is_end: bool) -> int:
    """Signed whole weeks from the week holding holiday `name` (the nearest one in time) to `week`."""
    first = week - timedelta(days=6) if is_end else week
    offsets = []
    for year in (first.year - 1, first.year, first.year + 1):
        day = holiday_dates(year)[name]
        holiday_first = day - timedelta(days=(day - first).days % 7)
        offsets.append((first - holiday_first).days // 7)
    return min(offsets, key=abs)


def seasonal_offset(target: date, is_end: bool) -> int:
    """Weeks back to the aligned week a year before `target` (52 unless a moving holiday is near).

    Examples
    --------
    >>> seasonal_offset(date(2024, 7, 1), is_end=False)
    52
    """
    for name in MOVING_HOLIDAYS:
        offset = _holiday_week_offset(target, name, is_end)
        if abs(offset) <= ALIGN_WEEKS:
            for back in (52, 53, 51, 54, 50):
                if _holiday_week_offset(target - timedelta(weeks=back), name, is_end) == offset:
                    return back
    return SEASON_WEEKS
