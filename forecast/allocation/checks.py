"""The allocation's name for the shared input checks: everything here is `forecast.checks`."""

from forecast.checks import (
    check_rows,
    check_schema,
    first_bad,
    numeric,
    require,
    text_ids,
    unique_keys,
    whole,
)

__all__ = [
    "check_rows",
    "check_schema",
    "first_bad",
    "numeric",
    "require",
    "text_ids",
    "unique_keys",
    "whole",
]
