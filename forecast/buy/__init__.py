"""Pre-season buying: the season-demand distribution of new articles (`forecast.buy.season`), the order
that maximises expected season profit (`forecast.buy.optimise`) and the plan (`forecast.buy.plan`).

Submodules are imported where used: `forecast.config` reads `forecast.buy.config` while it loads.
"""
