"""The champion as an MLflow pyfunc model that carries its own feature pipeline.

Input: a slice of the panel (the `forecast.panel` contract columns, as a pandas DataFrame because pyfunc
speaks pandas). Output: forecasts ``article_id, store_id, week, horizon, mean, q10, q50, q90`` (and any
further quantile columns) for the weeks after the last week in the input, for every article × store in it. The
``horizon`` param (default: the pipeline's) sets how many weeks.

Cross-series features (the global model's store and category codes, hierarchy aggregates) are read from the
input, so the input should be the whole panel, or every store of the articles asked about, to reproduce the
job's forecasts exactly; a slice of a few series gives an approximation.

The fitted `Forecaster` is pickled with the model (cloudpickle); every class it references lives in the
installed `forecast` package, so a fresh process only needs ``pip install forecast``.
"""

from __future__ import annotations

import warnings
from importlib import metadata
from typing import Any

import pandas as pd
import polars as pl

from forecast.distribution import coherent_forecasts
from forecast.models.base import Forecaster
from forecast.panel import PANEL_SCHEMA

SERIES = ["article_id", "store_id"]
REQUIRED_INPUTS = ("article_id", "store_id", "week", "units")
_REQUIREMENTS = ("forecast", "mlflow", "polars", "pandas", "numpy", "pyarrow", "lightgbm", "statsforecast")


def panel_to_pandas(panel: pl.DataFrame) -> pd.DataFrame:
    """A panel slice as the pandas frame the pyfunc model takes (``week`` as datetime64)."""
    return panel.to_pandas()


def panel_from_pandas(frame: pd.DataFrame) -> pl.DataFrame:
    """The pyfunc input back as a panel: contract dtypes, missing optional columns as nulls, sorted.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"article_id": ["a"], "store_id": ["s"], "week": ["2024-01-01"], "units": [3]})
    >>> panel_from_pandas(frame).schema["week"]
    Date
    """
    missing = [c for c in REQUIRED_INPUTS if c not in frame.columns]
    if missing:
        msg = f"model input lacks panel column(s) {missing}; pass a slice of the panel"
        raise ValueError(msg)
    panel = pl.from_pandas(frame.reset_index(drop=True))
    columns = []
    for name, dtype in PANEL_SCHEMA.items():
        if name not in panel.columns:
            columns.append(pl.lit(None, dtype).alias(name))
        elif name == "week":
            columns.append(_as_date(panel, name))
        else:
            columns.append(pl.col(name).cast(dtype))
    extra = [c for c in panel.columns if c not in PANEL_SCHEMA]
    return panel.select(*columns, *extra).sort([*SERIES, "week"])


def _as_date(panel: pl.DataFrame, name: str) -> pl.Expr:
    dtype = panel.schema[name]
    if dtype == pl.Utf8:
        return pl.col(name).str.to_date("%Y-%m-%d", strict=False)
    return pl.col(name).cast(pl.Date)


def forecast_from(forecaster: Forecaster, panel: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Forecast `horizon` weeks after the last week of `panel` for each of its article × store series.

    The model's public `Forecaster.forecast_from` does it: the global LightGBM model keeps its trees and
    reads its features from the slice, the blend does so for its global part and refits its local part,
    any other model is refitted on the slice (a clone: the logged model stays as it was), which is what a
    local statistical model's fit is.
    """
    series = panel.select(SERIES).unique().sort(SERIES)
    return forecaster.forecast_from(panel, horizon, series)


def output_columns(frame: pl.DataFrame) -> list[str]:
    """Key columns, the mean and every quantile column (q10, q50, ...) in the order they appear."""
    quantiles = [c for c in frame.columns if c.startswith("q") and c[1:].replace(".", "", 1).isdigit()]
    return ["article_id", "store_id", "week", "horizon", "mean", *quantiles]


try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a dependency; keeps the helpers importable without it
    PythonModel = object  # type: ignore[assignment,misc]


class ForecasterPyfunc(PythonModel):  # type: ignore[misc,valid-type]
    """Pyfunc wrapper around a fitted `Forecaster` (see the module docstring for input and output)."""

    def __init__(self, forecaster: Forecaster, horizon: int) -> None:
        self.forecaster = forecaster
        self.horizon = int(horizon)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecasts for the weeks after the input's last week (``params={"horizon": n}`` to change n)."""
        del context  # the fitted model travels inside the pickle, no extra artifacts
        horizon = int((params or {}).get("horizon") or self.horizon)
        panel = panel_from_pandas(pd.DataFrame(model_input))
        out = forecast_from(self.forecaster, panel, horizon)
        # the same distribution rules as forecasts.csv (quantiles ordered and able to hold the mean)
        out, _ = coherent_forecasts(out.select(output_columns(out)), decimals=2)
        out = out.sort([*SERIES, "week"])
        return out.with_columns(pl.col("horizon").cast(pl.Int64)).to_pandas()


def example_slice(panel: pl.DataFrame, n_series: int = 2) -> pl.DataFrame:
    """A small input example: the full history of the `n_series` best-selling article × store series."""
    top = (
        panel.group_by(SERIES)
        .agg(pl.col("units").sum().alias("total_units"))
        .sort(["total_units", *SERIES], descending=[True, False, False])
        .head(n_series)
        .select(SERIES)
    )
    return panel.join(top, on=SERIES, how="semi").sort([*SERIES, "week"])


def requirements() -> list[str]:
    """Pinned pip requirements of the installed packages the model needs (no slow inference run)."""
    pins = []
    for name in _REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def _optional_extras(signature: Any) -> Any:
    """Only the key columns and ``units`` are required inputs; the other panel columns may be left out."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    specs: list[Any] = [
        ColSpec(type=spec.type, name=spec.name, required=spec.name in REQUIRED_INPUTS)
        for spec in signature.inputs.inputs
    ]
    return ModelSignature(inputs=Schema(specs), outputs=signature.outputs, params=signature.params)


def log_pyfunc(forecaster: Forecaster, example: pl.DataFrame, horizon: int, *, name: str = "model") -> Any:
    """Log `forecaster` as a pyfunc model of the active run with signature and input example.

    Returns MLflow's ``ModelInfo`` (``model_uri`` is what the registry takes).
    """
    import mlflow
    from mlflow.models import infer_signature

    wrapper = ForecasterPyfunc(forecaster, horizon)
    model_input = panel_to_pandas(example)
    output = wrapper.predict(None, model_input)
    with warnings.catch_warnings():
        # the panel's integer columns never hold missing values; the wrapper is meant to be pickled
        warnings.filterwarnings("ignore", message=".*integer column.*")
        warnings.filterwarnings("ignore", message=".*python_model.*CloudPickle.*")
        signature = _optional_extras(infer_signature(model_input, output, params={"horizon": int(horizon)}))
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=wrapper,
            signature=signature,
            input_example=model_input,
            pip_requirements=requirements(),
        )
