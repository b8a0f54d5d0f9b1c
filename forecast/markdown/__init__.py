"""Markdown optimisation: which articles to discount, when and how deep, to the season's end.

The flow: `forecast.markdown.response` (demand at each ladder price: a base forecast × a lift fitted on past
markdowns) -> `forecast.markdown.planner` (the best price path under the planners' rules) ->
`forecast.markdown.plan` (frames in, ``markdowns.csv`` out) -> `forecast.markdown.report` (report section).
`forecast.markdown.replay` judges the policies on the synthetic retailer's true demand.

Names are imported lazily, so `forecast.config` can read `MarkdownConfig` without loading the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MarkdownConfig", "MarkdownProblem", "PlanResult", "evaluate_path", "plan_markdowns", "solve"]

_HOMES = {
    "MarkdownConfig": "forecast.markdown.config",
    "MarkdownProblem": "forecast.markdown.planner",
    "PlanResult": "forecast.markdown.planner",
    "evaluate_path": "forecast.markdown.planner",
    "solve": "forecast.markdown.planner",
    "plan_markdowns": "forecast.markdown.plan",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        msg = f"module 'forecast.markdown' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(_HOMES[name]), name)
