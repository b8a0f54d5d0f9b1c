"""Command-line interface: a thin layer, one module per subcommand.

Every command prints a one-line human error on stderr and exits 1 on bad input; `--debug` shows the traceback.
"""

from __future__ import annotations

import signal
import sys

import typer

from forecast.cli import allocate, backtest, demo, predict, replenish, run, simulate, validate
from forecast.cli.common import state
from forecast.errors import ForecastError

app = typer.Typer(
    name="forecast",
    help="Demand forecasting, business backtesting and stock allocation for fashion retail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    state.debug = debug


app.command("demo")(demo.command)
app.command("run")(run.command)
app.command("backtest")(backtest.command)
app.command("predict")(predict.command)
app.command("allocate")(allocate.command)
app.command("replenish")(replenish.command)
app.command("simulate")(simulate.command)
app.command("validate")(validate.command)


def _terminate(_signum: int, _frame: object) -> None:
    # a scheduler stopping the job (SIGTERM) takes the same path as Ctrl-C: the MLflow run is closed as
    # KILLED and no partial output is published
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point."""
    debug = "--debug" in sys.argv[1:]
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app(standalone_mode=False)
    except ForecastError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("error: interrupted; no partial output was written", err=True)
        sys.exit(130)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code)
    except Exception as exc:
        # usage errors (bad option values, missing arguments) carry a message and an exit code
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        if debug:
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True)
        sys.exit(1)
