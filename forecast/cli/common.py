"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import typer
from rich.console import Console

from forecast.errors import EXIT_INPUT, EXIT_USAGE


@dataclass
class _State:
    debug: bool = False


state = _State()
# piped or captured output gets wide tables instead of columns cut to 80 characters
console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

PIPELINE = typer.Argument(..., help="Pipeline TOML file, e.g. pipelines/walmart.toml.")
DATA = typer.Option(None, "--data", help="Override the pipeline's data location.")
OUT_DIR = typer.Option(Path("out"), "--out", help="Folder the outputs are written to.")
HORIZON = typer.Option(None, "--horizon", min=1, help="Forecast horizon in weeks.")
SEED = typer.Option(
    None, "--seed", help="Model seed: `forecast.seed` of the pipeline (same seed, same outputs)."
)
DATA_SEED = typer.Option(
    None, "--data-seed", help="Seed of the simulated data: `simulate.seed` of the pipeline."
)
PRICES = typer.Option(
    None,
    "--prices",
    help="Prices CSV (article_id, store_id or ALL, week, price, optional promo 0/1): its weeks after the "
    "history replace the planned prices.",
)
TRACKING_URI = typer.Option(
    None, "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else mlruns/mlflow.db)."
)
CLUSTER = typer.Option(
    None,
    "--cluster",
    help="Run on Dask: local or local:N (N worker processes here) or tcp://HOST:PORT (a running scheduler).",
)


# Typer 0.29 and later carry their own copy of click: its usage errors derive from `typer.TyperException`,
# not from `click.ClickException`, so the wrapper accepts both families.
_TYPER_ERROR: type[Exception] | None = getattr(typer, "TyperException", None)
USAGE_ERRORS: tuple[type[Exception], ...] = tuple(
    kind for kind in (click.ClickException, _TYPER_ERROR) if kind is not None
)
ABORTS: tuple[type[BaseException], ...] = tuple(
    {click.exceptions.Abort, getattr(typer, "Abort", click.exceptions.Abort)}
)
# pydantic's error types for a value outside an option's `min` / `max`
_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def _out_of_range(exc: BaseException) -> bool:
    """True when a usage error is a well-typed value outside its option's bounds (`min=` / `max=`)."""
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        with contextlib.suppress(Exception):
            return any(error.get("type") in _RANGE_ERRORS for error in errors())
    # click's own range types (older Typer) say so in the message
    return "is not in the range" in str(getattr(exc, "message", ""))


def usage_failure(exc: Exception) -> tuple[str, int]:
    """The one line and the exit code for a command-line usage error `exc` (click's or Typer's).

    A value of the right type outside its option's range is a bad value (exit 1); an unknown option, a
    missing value or argument and a value of the wrong type are wrong usage (exit 2). The line names the
    option and says where the valid options are listed.

    Examples
    --------
    >>> import typer
    >>> usage_failure(typer.BadParameter("not a number", param_hint="'--seed'"))
    ("Invalid value for '--seed': not a number; fix: see 'forecast --help'", 2)
    """
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    if not message.strip():  # Typer printed the help itself: nothing was asked for
        message = "no command given"
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "forecast"
    code = EXIT_INPUT if _out_of_range(exc) else getattr(exc, "exit_code", EXIT_USAGE)
    if code not in (EXIT_INPUT, EXIT_USAGE):
        code = EXIT_USAGE
    return f"{message.rstrip('.')}; fix: see '{path} --help'", code
