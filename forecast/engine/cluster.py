"""Connecting to a Dask cluster: a local one started for the job, or an existing one by its address."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from forecast.errors import ClusterError

if TYPE_CHECKING:
    from dask.distributed import Client

CONNECT_SECONDS = 5


def local_workers(address: str) -> int | None:
    """Workers of a ``local[:N]`` address (the machine's cores without N); None for a remote address.

    Examples
    --------
    >>> local_workers("local:3"), local_workers("tcp://10.0.0.5:8786")
    (3, None)
    """
    if not address.startswith("local"):
        return None
    _, _, count = address.partition(":")
    return int(count) if count else max(os.cpu_count() or 1, 1)


def warm_up() -> None:
    """Import what the job's tasks run (their first call on a fresh worker would)."""
    import forecast.engine.tasks  # noqa: F401


@contextmanager
def connect(address: str, say: Callable[[str], None]) -> Iterator[Client]:
    """A Dask client for `address`, closed (with the local cluster it started) on leaving.

    ``local[:N]`` starts N single-threaded worker processes on 127.0.0.1; ``tcp://HOST:PORT`` connects to
    a running scheduler, whose workers must have this package installed and see ``[engine] work_dir``.
    """
    from dask.distributed import Client, LocalCluster

    workers = local_workers(address)
    cluster = None
    try:
        if workers is not None:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=40,
            )
            client = Client(cluster)
        else:
            client = Client(address, timeout=f"{CONNECT_SECONDS}s")
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        msg = (
            f"cannot reach the Dask scheduler at {address} within {CONNECT_SECONDS} s ({exc}); fix: start "
            "it (`dask scheduler`, then `dask worker ADDRESS`) or pass another --cluster"
        )
        raise ClusterError(msg) from exc
    try:
        if workers is None:
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        seen = list(client.scheduler_info().get("workers", {}))
        say(f"Dask cluster {address}: {len(seen)} worker(s); dashboard {client.dashboard_link}")
        # each worker imports the job's modules while the client loads the data, not when its first task comes
        warm = [client.submit(warm_up, pure=False, workers=[w], allow_other_workers=False) for w in seen]
        yield client
        del warm
    except TimeoutError as exc:
        msg = f"the Dask scheduler at {address} has no worker; fix: start one with `dask worker {address}`"
        raise ClusterError(msg) from exc
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
