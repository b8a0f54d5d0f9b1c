"""Benchmark: the main job (`forecast run`) at growing sizes, seconds and peak memory per stage.

Usage::

    python benchmarks/scale.py --sizes demo,sim1000       # the quick sizes (a few minutes)
    python benchmarks/scale.py --sizes sim4000            # one big size at a time
    python benchmarks/scale.py --sizes hm                 # H&M size: 105,542 articles, 31.8M lines
    python benchmarks/scale.py --table                    # the table of every size measured so far

Sizes (``--sizes``, comma separated; data are generated once under ``--cache`` by `forecast simulate`):

- ``demo``: `pipelines/demo.toml` as `forecast demo` runs it (240 articles × 12 stores, simulated in memory);
- ``sim1000``, ``sim4000``: `forecast simulate --articles 1000 --stores 25` and ``4000 × 50`` (canonical
  files), run with `pipelines/demo.toml` and ``--data``;
- ``hm``: `forecast simulate --format hm --articles 105542` (31.8M transaction lines, H&M's volume; 2 sales
  channels), run with `pipelines/hm.toml` and ``--data``;
- ``store``: a larger store-level retailer, `forecast simulate --articles 8000 --stores 100`, run with
  `pipelines/demo.toml`.

Each size runs in its own process (so one size's memory never counts in another's) through
`forecast.job.run_job`, as `forecast run` calls it, with a fresh SQLite MLflow store. The benchmark wraps the
job's injectable `Stages` and its progress reporter to mark where each stage starts; it edits nothing in the
job. A sampling thread reads the resident memory of the process and its children (psutil, else
``/proc/self/status``) every 50 ms; a stage's peak is the largest sample taken while it ran. Stages: ``load``
(adapter: read, parse, reject), ``validate``, ``fingerprint`` (data hash, MLflow params), ``panel``,
``backtest <model>`` (every fold of that model), ``fit`` (the champion on all history), ``cold start``,
``allocation`` (inputs and the optimiser), ``report`` (outputs and report.html), ``mlflow`` (runs, artifacts,
model logging and registration, publishing the outputs); at the start ``mlflow setup`` (imports, the store
check) and ``mlflow store`` (creating and migrating the fresh SQLite store, opening the run).

Each size's figures are saved as JSON under ``--cache``/results, so sizes measured one at a time (the big ones
take minutes) are tabled together; the slope per stage is the least-squares seconds (and GiB) per million
panel rows over the measured sizes (``load``: per million source rows). Timings on a shared machine are
inflated by whatever else runs; prefer the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3
SAMPLE_SECONDS = 0.05
STAGE_ORDER = (
    "mlflow setup",
    "mlflow store",
    "load",
    "validate",
    "fingerprint",
    "panel",
    "models",
    "backtest",
    "fit",
    "cold start",
    "allocation",
    "replenishment",
    "report",
    "mlflow",
    "other",
)


@dataclass(frozen=True)
class Size:
    """One benchmark size: how its data are made and which pipeline runs on them."""

    name: str
    pipeline: str
    simulate: list[str] | None  # `forecast simulate` arguments, or None for data simulated in memory
    label: str


SIZES = {
    "demo": Size("demo", "demo.toml", None, "demo (240 articles × 12 stores, in memory)"),
    "sim1000": Size("sim1000", "demo.toml", ["--articles", "1000", "--stores", "25"], "simulated 1,000 × 25"),
    "sim4000": Size("sim4000", "demo.toml", ["--articles", "4000", "--stores", "50"], "simulated 4,000 × 50"),
    "hm": Size(
        "hm",
        "hm.toml",
        ["--format", "hm", "--articles", "105542", "--stores", "12"],
        "H&M size (105,542 articles, 31.8M lines, 2 channels)",
    ),
    "store": Size("store", "demo.toml", ["--articles", "8000", "--stores", "100"], "simulated 8,000 × 100"),
}


# ---------------------------------------------------------------- memory sampling (the child process)


def _rss_reader() -> Callable[[], int]:
    """A function returning the resident bytes of this process and its children."""
    try:
        import psutil
    except ImportError:
        return _proc_rss
    me = psutil.Process()

    def read() -> int:
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return int(total)

    return read


def _proc_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Timeline:
    """Stage marks (time, stage) and a sampling thread's resident memory, folded into per-stage figures."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, str]] = []
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._read = _rss_reader()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        self.mark("mlflow setup")
        self._thread.start()

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        if not self.marks or self.marks[-1][1] != stage:
            elapsed = now - self.marks[0][0] if self.marks else 0.0
            print(f"  [{elapsed:7.1f} s, {self._read() / GIB:5.2f} GiB] {stage}", file=sys.stderr, flush=True)
        self.marks.append((now, stage))

    def stop(self) -> None:
        self.mark("end")
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self._read()))
            self._stop.wait(SAMPLE_SECONDS)

    def stages(self) -> dict[str, dict[str, float]]:
        """Seconds and peak GiB per stage (a stage entered several times adds up)."""
        out: dict[str, dict[str, float]] = {}
        for (start, stage), (end, _) in zip(self.marks, self.marks[1:], strict=False):
            peak = max((rss for t, rss in self.samples if start <= t <= end), default=0)
            peak = max(peak, self._nearest(start), self._nearest(end))
            row = out.setdefault(stage, {"seconds": 0.0, "peak_gib": 0.0})
            row["seconds"] += end - start
            row["peak_gib"] = max(row["peak_gib"], peak / GIB)
        return out

    def _nearest(self, moment: float) -> int:
        before = [rss for t, rss in self.samples if t <= moment]
        return before[-1] if before else 0


def _progress(timeline: Timeline) -> Callable[[str], None]:
    """The job's progress reporter, marking the stages its messages announce."""
    prefixes = (
        ("tracking to ", "mlflow store"),
        ("cold start:", "cold start"),
        ("allocating", "allocation"),
        ("planning ", "replenishment"),
        ("writing outputs", "report"),
        ("logging to MLflow", "mlflow"),
    )

    def say(message: str) -> None:
        if message.startswith("fold ") and ": " in message:
            timeline.mark(f"backtest {message.rsplit(': ', 1)[1]}")
            return
        for prefix, stage in prefixes:
            if message.startswith(prefix):
                timeline.mark(stage)

    return say


def _wrap(fn: Callable[..., Any], timeline: Timeline, stage: str, after: str | None) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        timeline.mark(stage)
        result = fn(*args, **kwargs)
        if after is not None:
            timeline.mark(after)
        return result

    return wrapped


def run_child(size: Size, data: Path | None, out: Path, *, load_only: bool = False) -> dict[str, Any]:
    """Run the job (or only its load, validation and panel) once in this process; return its per-stage
    figures. A job that fails still reports the stages it ran, with the error."""
    from forecast.config import load_pipeline
    from forecast.job import Stages, run_job

    config = load_pipeline(ROOT / "pipelines" / size.pipeline, data=data)
    timeline = Timeline()
    defaults = Stages().resolved()
    captured: dict[str, Any] = {}

    def load(*args: Any, **kwargs: Any) -> Any:
        captured["ds"] = ds = defaults.load_dataset(*args, **kwargs)  # type: ignore[misc]
        return ds

    def panel(*args: Any, **kwargs: Any) -> Any:
        lazy = defaults.build_panel(*args, **kwargs)  # type: ignore[misc]
        captured["panel"] = frame = lazy.collect() if hasattr(lazy, "collect") else lazy
        return frame

    stages = Stages(
        load_dataset=_wrap(load, timeline, "load", "other"),
        validate=_wrap(defaults.validate, timeline, "validate", "fingerprint"),  # type: ignore[arg-type]
        build_panel=_wrap(panel, timeline, "panel", "models"),
        build_models=_wrap(defaults.build_models, timeline, "models", "other"),  # type: ignore[arg-type]
        run_backtest=_wrap(defaults.run_backtest, timeline, "backtest", "other"),  # type: ignore[arg-type]
        predict_all=_wrap(defaults.predict_all, timeline, "fit", "other"),  # type: ignore[arg-type]
        allocate=_wrap(defaults.allocate, timeline, "allocation", None),  # type: ignore[arg-type]
        replenish=_wrap(defaults.replenish, timeline, "replenishment", None),  # type: ignore[arg-type]
    )
    uri = f"sqlite:///{(out / 'mlruns' / 'mlflow.db').as_posix()}"
    timeline.start()
    started = time.perf_counter()
    error = None
    try:
        if load_only:
            assert stages.load_dataset is not None
            assert stages.validate is not None
            assert stages.build_panel is not None
            timeline.mark("other")
            loaded = stages.load_dataset(config)
            stages.validate(loaded)
            stages.build_panel(loaded)
        else:
            run_job(config, out / "out", tracking_uri=uri, progress=_progress(timeline), stages=stages)
    except Exception as exc:  # noqa: BLE001 - the stages measured so far are reported with the error
        error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    timeline.stop()
    ds, frame = captured.get("ds"), captured.get("panel")
    return {
        "size": size.name + ("-load" if load_only else ""),
        "label": size.label + (" (load, validation and panel only)" if load_only else ""),
        "error": error,
        "wall_seconds": wall,
        "peak_gib": max((rss for _, rss in timeline.samples), default=0) / GIB,
        "source_rows": int(sum(ds.rows_read.values())) if ds is not None else 0,
        "sales_rows": int(ds.sales.height) if ds is not None else 0,
        "panel_rows": int(frame.height) if frame is not None else 0,
        "stages": timeline.stages(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": os.getloadavg()[0],
    }


# ---------------------------------------------------------------- the parent: data, children, table


def prepare(size: Size, cache: Path) -> Path | None:
    """The size's data folder, written once by `forecast simulate` (None for in-memory data)."""
    if size.simulate is None:
        return None
    folder = cache / f"data-{size.name}"
    if (folder / ".complete").exists():
        return folder
    started = time.perf_counter()
    command = [
        str(Path(sys.executable).parent / "forecast"),
        "simulate",
        "--out",
        str(folder),
        *size.simulate,
    ]
    subprocess.run(command, check=True)
    (folder / ".complete").write_text("", encoding="utf-8")
    print(f"{size.name}: data written in {time.perf_counter() - started:.0f} s to {folder}")
    return folder


def measure(size: Size, cache: Path, *, load_only: bool = False) -> dict[str, Any]:
    """Run `size` in a child process; save and return its figures."""
    data = prepare(size, cache)
    with tempfile.TemporaryDirectory(prefix=f"scale-{size.name}-", dir=cache) as work:
        result_file = Path(work) / "result.json"
        command = [
            sys.executable,
            __file__,
            "--child",
            size.name,
            "--work",
            work,
            "--result",
            str(result_file),
        ]
        if data is not None:
            command += ["--data", str(data)]
        if load_only:
            command.append("--load-only")
        print(f"{size.name}: running the job (load average {os.getloadavg()[0]:.1f})", flush=True)
        subprocess.run(command, check=True)
        result = json.loads(result_file.read_text(encoding="utf-8"))
    results = cache / "results"
    results.mkdir(parents=True, exist_ok=True)
    if result.get("error"):
        print(f"{size.name}: the job failed after {result['wall_seconds']:.0f} s: {result['error']}")
    (results / f"{result['size']}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def _group(stage: str) -> str:
    return "backtest" if stage.startswith("backtest ") else stage


def _slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y on x (None with fewer than two distinct x)."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def _stage_names(results: list[dict[str, Any]]) -> list[str]:
    seen = {s for r in results for s in r["stages"]}

    def key(stage: str) -> tuple[int, str]:
        group = _group(stage)
        return (STAGE_ORDER.index(group) if group in STAGE_ORDER else len(STAGE_ORDER), stage)

    return sorted(seen, key=key)


def report(results: list[dict[str, Any]]) -> str:
    """The per-stage table: seconds (peak GiB) per size, then the slopes per million rows."""
    results = sorted(results, key=lambda r: r["panel_rows"])
    heads = ["stage", *[r["size"] for r in results], "s / M rows", "GiB / M rows"]
    rows = [
        ["source rows", *[f"{r['source_rows']:,}" for r in results], "", ""],
        ["panel rows", *[f"{r['panel_rows']:,}" for r in results], "", ""],
    ]
    for stage in _stage_names(results):
        cells = []
        for r in results:
            figure = r["stages"].get(stage)
            cells.append(f"{figure['seconds']:.1f} s ({figure['peak_gib']:.2f})" if figure else "-")
        per = "source_rows" if stage == "load" else "panel_rows"
        have = [r for r in results if stage in r["stages"] and not r.get("error")]
        secs = _slope([(r[per] / 1e6, r["stages"][stage]["seconds"]) for r in have])
        mem = _slope([(r[per] / 1e6, r["stages"][stage]["peak_gib"]) for r in have])
        unit = " (source)" if stage == "load" else ""
        rows.append(
            [
                stage,
                *cells,
                f"{secs:.1f}{unit}" if secs is not None else "",
                f"{mem:.2f}" if mem is not None else "",
            ]
        )
    jobs = [r for r in results if not r.get("error") and not r["size"].endswith("-load")]
    wall = _slope([(r["panel_rows"] / 1e6, r["wall_seconds"]) for r in jobs])
    peak = _slope([(r["panel_rows"] / 1e6, r["peak_gib"]) for r in jobs])
    rows.append(
        [
            "whole job",
            *[f"{r['wall_seconds']:.1f} s ({r['peak_gib']:.2f})" for r in results],
            f"{wall:.1f}" if wall is not None else "",
            f"{peak:.2f}" if peak is not None else "",
        ]
    )
    rows.append(["load average", *[f"{r['load_average']:.1f}" for r in results], "", ""])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    notes = [
        f"{r['size']}: {r['label']}, measured {r['measured_at']}"
        + (f"; FAILED: {r['error']}" if r.get("error") else "")
        for r in results
    ]
    legend = "cells: seconds (peak GiB resident while the stage ran); slopes: least squares over the sizes"
    return "\n".join([*lines, "", legend, *notes])


def saved(cache: Path) -> list[dict[str, Any]]:
    folder = cache / "results"
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="demo,sim1000", help=f"comma separated, of {', '.join(SIZES)}")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "forecast-scale")
    parser.add_argument("--table", action="store_true", help="only print the table of the saved results")
    parser.add_argument(
        "--load-only", action="store_true", help="only load, validate and build the panel (ingestion figures)"
    )
    parser.add_argument("--child", choices=list(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_child(SIZES[args.child], args.data, args.work, load_only=args.load_only)
        args.result.write_text(json.dumps(result), encoding="utf-8")
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    if not args.table:
        names = [s.strip() for s in args.sizes.split(",") if s.strip()]
        unknown = [n for n in names if n not in SIZES]
        if unknown:
            parser.error(f"unknown size(s) {unknown}; choose from {list(SIZES)}")
        for name in names:
            result = measure(SIZES[name], args.cache, load_only=args.load_only)
            print(f"{name}: {result['wall_seconds']:.1f} s, peak {result['peak_gib']:.2f} GiB", flush=True)
    results = saved(args.cache)
    if results:
        print(report(results))


if __name__ == "__main__":
    main()
