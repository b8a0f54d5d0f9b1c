"""The embedded synthetic fashion retailer: known true demand, stockouts, markdowns, returns and cold starts.

`simulate_dataset` builds the canonical tables in memory; `write_canonical` writes them as CSV;
`write_hm` streams a (possibly H&M-sized) dataset in the H&M Kaggle schema.
"""

from forecast.simulate.canonical import canonical_files, write_canonical
from forecast.simulate.hm import HM_LINES_PER_ARTICLE_WEEK, HMWriteSummary, default_target_lines, write_hm
from forecast.simulate.retail import simulate_dataset, true_price_response

__all__ = [
    "HM_LINES_PER_ARTICLE_WEEK",
    "HMWriteSummary",
    "canonical_files",
    "default_target_lines",
    "simulate_dataset",
    "true_price_response",
    "write_canonical",
    "write_hm",
]
