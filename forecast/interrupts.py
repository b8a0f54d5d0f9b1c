"""SIGINT and SIGTERM as exceptions, and critical sections they cannot tear apart.

The command line installs `install()`: the first SIGINT or SIGTERM raises `Interrupted` (exit 130 / 143), and
later ones are ignored so the clean-up it starts (closing the MLflow run, removing staging folders) finishes.
Inside `held()` (publishing the outputs, registering the model and undoing both) a signal is only recorded;
`check()` raises it at a point where the section can still be rolled back.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from forecast.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class _State:
    depth: int = 0  # nesting of held() sections
    pending: int | None = None  # a signal received inside a held section
    raised: bool = False  # an Interrupted was already raised: ignore the next signals
    installed: bool = False
    received: int | None = None  # the signal that interrupted the process
    settled: bool = False  # the work is committed: later signals are ignored


_state = _State()


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _state.raised or _state.settled:
        return
    if _state.depth:
        _state.pending = _state.pending or signum
        return
    _state.raised = True
    _state.received = signum
    raise Interrupted(signum)


def install() -> None:
    """Turn SIGINT and SIGTERM into `Interrupted` for this process (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        signal.signal(signum, _handler)
    _state.installed = True


def reset() -> None:
    """Forget a previous interrupt (for tests that run several jobs in one process)."""
    _state.pending = None
    _state.raised = False
    _state.received = None
    _state.settled = False


@contextmanager
def held() -> Iterator[None]:
    """Record SIGINT / SIGTERM instead of raising them inside the block; `check()` raises them."""
    main = threading.current_thread() is threading.main_thread()
    previous = {}
    if main and not _state.installed and _state.depth == 0:
        previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
        for signum in SIGNALS:
            signal.signal(signum, _handler)
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        settled = _state.raised or _state.settled
        if previous and _state.depth == 0 and _state.pending is not None and not settled:
            # outside the command line nobody else will raise it: do it now, as the default handler would
            pending, _state.pending = _state.pending, None
            raise Interrupted(pending)


def settle(done: bool = True) -> None:
    """Mark the work committed (`done`): a signal from now on is ignored, since stopping could only make
    the exit code contradict what was published. ``settle(False)`` listens again (a new job starts)."""
    _state.settled = done


def check() -> None:
    """Raise `Interrupted` when a signal arrived inside the current held section."""
    if _state.pending is not None:
        pending, _state.pending = _state.pending, None
        _state.raised = True
        _state.received = pending
        raise Interrupted(pending)


def received() -> int | None:
    """The signal that interrupted this process, if one did (frameworks may swallow the exception)."""
    return _state.received


def pending() -> int | None:
    """The signal recorded inside a held section, if any."""
    return _state.pending
