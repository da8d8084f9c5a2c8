"""Forked workers: a child process does one job on what the parent already holds, and sends
back bytes.

Why fork and not a process pool: the child inherits the parent's data (a file's text, a
build's rows) without pickling a copy, and starts in milliseconds. A child never outlives the
parent (Linux's PR_SET_PDEATHSIG; elsewhere it finds the pipe closed) and leaves without any
cleanup of the parent's, so files and connections the parent holds are never touched twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Iterator


def available() -> bool:
    """Whether a second process can run beside this one (fork exists and there is a second core)."""
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1


_HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Worker:
    """A forked child running ``job``; ``result()`` is what it returned, or b"" if it failed in
    any way (an exception, None, a signal), so the caller can do the job itself instead."""

    def __init__(self, job: Callable[[], bytes | None]) -> None:
        read_end, write_end = os.pipe()
        parent = os.getpid()
        # Held back across the fork: a Ctrl-C to the whole job, arriving while the child still
        # has the parent's handlers (in Python's after-fork hooks), printed a traceback from it.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            pid = os.fork()  # OSError (no memory or processes left) is the caller's to handle
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            raise
        if pid == 0:  # the child: work, send the result down the pipe, leave without cleanup
            status = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGHUP, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                _die_with(parent)
                os.close(read_end)
                blob = job()
                if blob is not None:
                    with os.fdopen(write_end, "wb") as pipe:
                        pipe.write(blob)
                    status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        self.pid, self._read_end = pid, read_end
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a signal held back is handled here
        except BaseException:
            self.kill()  # the caller never gets this worker to end
            raise

    def result(self) -> bytes:
        """Wait for the child; its bytes, or b"" when it failed."""
        with os.fdopen(self._read_end, "rb") as pipe:
            blob = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        return blob if status == 0 else b""

    def kill(self) -> None:
        """End the child now (its work is no longer wanted) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.result()


class Claims:
    """Job numbers that a parent and its forked children take one at a time, whoever is free
    first, so that a slower process (a busier core, harder input) does fewer of them.

    One byte per job in a pipe nobody writes to any more: a read takes one job, or finds none at
    once (end of file), and no two processes ever take the same job.
    """

    def __init__(self, jobs: Iterable[int]) -> None:
        numbers = bytes(jobs)  # each below 256; a few hundred bytes go into any pipe at once
        self._read, write = os.pipe()
        try:
            os.write(write, numbers)
        finally:
            os.close(write)

    def __iter__(self) -> Iterator[int]:
        while got := os.read(self._read, 1):
            yield got[0]

    def close(self) -> None:
        os.close(self._read)


def end(workers: list[Worker], kill: bool = False) -> None:
    """Reap every worker, killed first when their work is no longer wanted."""
    for worker in workers:
        if kill:
            worker.kill()
        else:
            worker.result()


def _die_with(parent: int) -> None:
    """End this child when the parent dies, even by SIGKILL, which the parent cannot pass on:
    Linux's PR_SET_PDEATHSIG; elsewhere the child finishes its job and finds the pipe closed."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # the parent died before the call took effect
        os._exit(0)
