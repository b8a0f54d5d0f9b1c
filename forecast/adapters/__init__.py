"""Adapters: native source formats -> canonical `Dataset` (see `forecast.dataset`)."""

from __future__ import annotations

from forecast.config import PipelineConfig
from forecast.dataset import Dataset


def load_dataset(config: PipelineConfig) -> Dataset:
    """Read and validate the pipeline's data with its adapter; rejected rows are in `Dataset.rejects`.

    A file whose every row was rejected is fatal (`InputError`), whatever the command. With ``[data]
    prices_override`` (``--prices FILE``), that file's weeks after the history replace the planned prices.
    """
    from forecast.validation import check_kept

    ds = _load(config)
    if config.data.prices_override is not None:
        from forecast.adapters.canonical import with_price_file

        ds = with_price_file(ds, config.data.prices_override, config.data)
    check_kept(ds)
    return ds


def _load(config: PipelineConfig) -> Dataset:
    adapter = config.data.adapter
    if adapter == "simulate":
        from forecast.simulate import simulate_dataset

        return simulate_dataset(config.simulate)
    if adapter == "walmart":
        from forecast.adapters.walmart import load_walmart

        return load_walmart(config.data)
    if adapter == "visuelle":
        from forecast.adapters.visuelle import load_visuelle

        return load_visuelle(config.data)
    if adapter == "hm":
        from forecast.adapters.hm import load_hm

        return load_hm(config.data)
    from forecast.adapters.canonical import load_canonical

    return load_canonical(config.data)


__all__ = ["load_dataset"]
