"""Benchmark: the main job on a Dask cluster of 1 and 2 single-threaded workers against the single process.

Usage::

    python benchmarks/dask_scale.py                  # simulated 4,000 articles × 50 stores (the issue's size)
    python benchmarks/dask_scale.py --size sim1000   # a quicker size

The data are `forecast simulate --articles 4000 --stores 50` (written once under ``--cache``, shared with
`benchmarks/scale.py`), the pipeline `pipelines/demo.toml` with ``--data``. Three runs of `forecast run`, one
after the other, each with a fresh SQLite MLflow store: the single-machine job (no engine), then
``--cluster local:1`` and ``--cluster local:2`` (Dask worker processes with one thread each; LightGBM's
``num_threads`` is set to 1 in every run, so a worker is one core). A sampling thread reads the resident
memory of the job's process (the client) and of each of its child processes (the workers) every 50 ms.
Printed side by side: wall seconds, the speed-up of 2 workers over 1, the peak memory of the client and of
the largest worker, and that per-worker peak over the single-process peak; then whether every output CSV
is byte-identical to the single-machine run's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import SIZES, prepare  # noqa: E402

from forecast.job import OUTPUTS, REPLENISH_OUTPUTS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3
CSVS = tuple(
    name for name in (*OUTPUTS, *REPLENISH_OUTPUTS) if name.endswith(".csv") and name != "rejects.csv"
)


class Sampler:
    """Peak resident memory of a process and, separately, of each of its descendants."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.client = 0
        self.workers: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.client = max(self.client, self.root.memory_info().rss)
                for child in self.root.children(recursive=True):
                    try:
                        rss = child.memory_info().rss
                    except psutil.Error:
                        continue
                    self.workers[child.pid] = max(self.workers.get(child.pid, 0), rss)
            except psutil.Error:
                return
            time.sleep(0.05)


def run(data: Path, out: Path, cluster: str | None, pipeline: Path) -> dict[str, float]:
    """One `forecast run`; wall seconds and peak memory (GiB) of the client and of its largest worker."""
    store = out.parent / f"{out.name}-mlflow.db"
    command = [str(Path(sys.executable).parent / "forecast"), "run", str(pipeline), "--data", str(data)]
    command += ["--out", str(out), "--tracking-uri", f"sqlite:///{store}"]
    if cluster:
        command += ["--cluster", cluster]
    started = time.perf_counter()
    log = out.parent / f"{out.name}.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=out.parent)
        with Sampler(proc.pid) as sampler:
            code = proc.wait()
    wall = time.perf_counter() - started
    if code != 0:
        tail = log.read_text()[-3000:]
        msg = f"`{' '.join(command)}` failed ({code}):\n{tail}"
        raise SystemExit(msg)
    # children that are not workers (a resource tracker) stay small; the largest child is a worker
    worker = max(sampler.workers.values(), default=0)
    stages = [line for line in log.read_text().splitlines() if line.startswith("[") and "s] " in line]
    print("\n".join(f"    {line}" for line in stages if "fold " not in line or "done at" in line))
    return {"wall": wall, "client": sampler.client / GIB, "worker": worker / GIB}


def single_threaded(pipeline: Path, folder: Path) -> Path:
    """`pipeline` with LightGBM on one thread (every run then uses one core per process)."""
    text = pipeline.read_text(encoding="utf-8").replace("num_threads = 2", "num_threads = 1")
    copy = folder / pipeline.name
    copy.write_text(text, encoding="utf-8")
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="sim4000", choices=[k for k, s in SIZES.items() if s.simulate])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "forecast-scale")
    args = parser.parse_args()
    size = SIZES[args.size]
    data = prepare(size, args.cache)
    assert data is not None
    with tempfile.TemporaryDirectory(prefix="dask-scale-", dir=args.cache) as work:
        folder = Path(work)
        pipeline = single_threaded(ROOT / "pipelines" / size.pipeline, folder)
        runs: dict[str, dict[str, float]] = {}
        for label, cluster in (
            ("single process", None),
            ("dask, 1 worker", "local:1"),
            ("dask, 2 workers", "local:2"),
        ):
            print(f"{label}: running (load average {os.getloadavg()[0]:.1f})", flush=True)
            runs[label] = run(data, folder / label.replace(" ", "_").replace(",", ""), cluster, pipeline)
            print(f"{label}: {runs[label]['wall']:.1f} s", flush=True)
        outs = {label: folder / label.replace(" ", "_").replace(",", "") for label in runs}
        base = runs["single process"]
        one, two = runs["dask, 1 worker"], runs["dask, 2 workers"]
        print(f"\n{size.label}: `forecast run pipelines/{size.pipeline} --data ...`, LightGBM on 1 thread\n")
        print(
            "| run | wall s | client peak GiB | largest worker peak GiB | worker peak / single-process peak |"
        )
        print("|---|---|---|---|---|")
        for label, figures in runs.items():
            ratio = figures["worker"] / base["client"] if figures["worker"] else float("nan")
            worker = f"{figures['worker']:.2f}" if figures["worker"] else "-"
            shown = f"{ratio:.2f}" if figures["worker"] else "-"
            print(f"| {label} | {figures['wall']:.1f} | {figures['client']:.2f} | {worker} | {shown} |")
        print(f"\nspeed-up, 2 workers over 1: {one['wall'] / two['wall']:.2f}x (goal >= 1.7x)")
        print(f"speed-up, 2 workers over the single process: {base['wall'] / two['wall']:.2f}x")
        print(
            f"peak per worker (2 workers) / single-process peak: {two['worker'] / base['client']:.2f}"
            " (goal <= 0.60)"
        )
        for label in ("dask, 1 worker", "dask, 2 workers"):
            diff = [
                n
                for n in CSVS
                if (outs["single process"] / n).exists()
                and (outs["single process"] / n).read_bytes() != (outs[label] / n).read_bytes()
            ]
            print(
                f"{label}: outputs {'identical to' if not diff else 'DIFFER from'} the single process's",
                diff or "",
            )


if __name__ == "__main__":
    main()
