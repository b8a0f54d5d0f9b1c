"""`forecast demo`: the main job on the embedded synthetic retailer (`pipelines/demo.toml`)."""

from __future__ import annotations

from pathlib import Path

from forecast.cli.common import OUT_DIR, TRACKING_URI
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


def demo_config() -> PipelineConfig:
    """The demo pipeline; without its file, the same job built in code (simulated data, default settings)."""
    from forecast.config import PipelineConfig, load_pipeline

    path = demo_pipeline()
    return load_pipeline(path) if path is not None else PipelineConfig(name="demo")


def command(out: Path = OUT_DIR, tracking_uri: str | None = TRACKING_URI) -> None:
    """Run the demo pipeline end to end on synthetic data the package generates itself."""
    from forecast.cli.run import execute

    execute(demo_config(), out, tracking_uri)
