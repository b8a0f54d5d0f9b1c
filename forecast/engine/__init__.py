"""The distributed engine: the main job on a Dask cluster (`forecast run --cluster`, ``[engine]``).

- `cluster`: connecting to ``local[:N]`` (started for the job) or ``tcp://HOST:PORT`` (an existing cluster).
- `parts`: the data split by article group into Parquet files that the workers read themselves.
- `tasks`: the per-part stages and the global model's fit in parts, as worker tasks.
- `run`: the task graph of the panel, the backtest folds and the forecasts; its outputs are the
  single-machine job's.
"""

from forecast.engine.cluster import connect, local_workers
from forecast.engine.run import ClusterOutcome, run_on_cluster

__all__ = ["ClusterOutcome", "connect", "local_workers", "run_on_cluster"]
