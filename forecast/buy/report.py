"""The buy's section of the report: the totals, the plan's largest orders and the season bands, as HTML."""

from __future__ import annotations

import html

import polars as pl

SHOWN = 20  # plan rows shown (largest expected profit first)
SHOWN_COLUMNS = (
    "article_id",
    "launch_week",
    "order_week",
    "units",
    "season_q10",
    "season_q50",
    "season_q90",
    "expected_sales",
    "expected_leftover",
    "expected_profit",
)


def buy_totals(plan: pl.DataFrame) -> dict[str, float]:
    """The plan's totals (units, purchase cost, expected sales, leftover and profit), for the report and
    MLflow.

    Examples
    --------
    >>> plan = pl.DataFrame({"units": [10, 0], "unit_cost": [2.0, 1.0], "expected_sales": [8.0, 0.0],
    ...     "expected_leftover": [2.0, 0.0], "expected_profit": [5.0, 0.0]})
    >>> buy_totals(plan)["purchase_cost"]
    20.0
    """
    if plan.height == 0:
        return {"articles": 0.0, "units": 0.0, "purchase_cost": 0.0, "expected_profit": 0.0}
    return {
        "articles": float(plan.height),
        "units": float(plan["units"].sum()),
        "purchase_cost": float((plan["units"] * plan["unit_cost"]).sum()),
        "expected_sales": float(plan["expected_sales"].sum()),
        "expected_leftover": float(plan["expected_leftover"].sum()),
        "expected_profit": float(plan["expected_profit"].sum()),
    }


def _cell(value: object) -> str:
    text = f"{value:,.1f}" if isinstance(value, float) else str(value)
    return f"<td>{html.escape(text)}</td>"


def buy_section(plan: pl.DataFrame, lead_weeks: int, status: str) -> str:
    """The report section of a buy plan (``buy_plan.csv``'s rows)."""
    head = "<h2>Pre-season buy</h2>"
    if plan.height == 0:
        return head + "<p>No article is to be launched: nothing to buy.</p>"
    totals = buy_totals(plan)
    intro = (
        f"<p>{int(totals['articles'])} new articles, ordered {lead_weeks} weeks before their launch: "
        f"{totals['units']:,.0f} units for {totals['purchase_cost']:,.2f}, expected to sell "
        f"{totals['expected_sales']:,.0f} and leave {totals['expected_leftover']:,.0f}, expected profit "
        f"{totals['expected_profit']:,.2f} (budget: {html.escape(status)}). Each order maximises the "
        "expected season profit on the article's season-demand distribution (q10 / q50 / q90 shown); "
        "buy_plan.csv has every article, buy_allocation.csv the first delivery's split over the stores.</p>"
    )
    rows = plan.sort("expected_profit", descending=True).head(SHOWN).select(SHOWN_COLUMNS)
    header = "".join(f"<th>{html.escape(c)}</th>" for c in rows.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows.iter_rows())
    return f"{head}{intro}<table><tr>{header}</tr>{body}</table>"
