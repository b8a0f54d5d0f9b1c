"""`forecast demo`: the main job on the embedded synthetic retailer (`pipelines/demo.toml`)."""

from __future__ import annotations

from pathlib import Path

from forecast.cli.common import CLUSTER, OUT_DIR, TRACKING_URI
from forecast.config import PipelineConfig


def demo_pipeline() -> Path | None:
    """pipelines/demo.toml of the source tree, else the copy packaged with `forecast`, else None."""
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[2] / "pipelines" / "demo.toml",
        here.parents[1] / "pipelines" / "demo.toml",
    ):
        if candidate.is_file():
            return candidate
    return None


def demo_config(cluster: str | None = None) -> PipelineConfig:
    """The demo pipeline; without its file, the same job built in code (simulated data, default settings)."""
    from forecast.config import EngineConfig, PipelineConfig, load_pipeline

    path = demo_pipeline()
    if path is not None:
        return load_pipeline(path, cluster=cluster)
    return PipelineConfig(name="demo", engine=EngineConfig(cluster=cluster or ""))


def command(
    out: Path = OUT_DIR, tracking_uri: str | None = TRACKING_URI, cluster: str | None = CLUSTER
) -> None:
    """Run the demo pipeline end to end on synthetic data the package generates itself."""
    from forecast.cli.run import execute

    execute(demo_config(cluster), out, tracking_uri)
