"""`forecast validate`."""

from __future__ import annotations

from forecast.errors import ForecastError


def command() -> None:
    """Not available yet."""
    msg = "`forecast validate` is not available in this build"
    raise ForecastError(msg)
