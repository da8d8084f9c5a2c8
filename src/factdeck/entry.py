"""The `factdeck` command's entry point: interrupts are handled before anything is imported.

Importing the command (click, YAML, Markdown, the pipeline) takes a quarter of a second, and
a Ctrl-C then would print Python's KeyboardInterrupt traceback. This module imports nothing
that is not already loaded, so it installs its handler first. Until ``cli.main`` arms its own
(which unwinds the command so that every temporary file is removed) and again once that is
over, nothing needs cleaning up: an interrupt ends the process at once, one line, exit 130.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import Any, NoReturn

EXIT_INTERRUPTED = 130
# SIGHUP too when a closed terminal would end the process; not when it is ignored (nohup)
SIGNALS = (signal.SIGINT, signal.SIGTERM) + (
    (signal.SIGHUP,) if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL else ()
)


def exit_now(signum: int, frame: FrameType | None) -> NoReturn:
    """Stop now, with what was printed so far: no file of factdeck's is open for writing."""
    try:
        sys.stdout.flush()
    except BaseException:  # closed, a broken pipe, or the interrupt came in the middle of a write
        pass
    try:
        os.write(2, b"factdeck: interrupted\n")
    finally:
        os._exit(EXIT_INTERRUPTED)


def handle(handler: Any) -> None:
    """Let ``handler`` take SIGINT, SIGTERM and (unless ignored at start) SIGHUP."""
    for signum in SIGNALS:
        signal.signal(signum, handler)


def main() -> None:
    """The console script (``factdeck``) and ``python -m factdeck``."""
    handle(exit_now)
    from .cli import main as run

    run()
