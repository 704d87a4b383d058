"""The server's log output: one line per record, written in batches.

A busy relay logs a line per delivery; writing and flushing each one was a system call per
message. `BatchingHandler` collects formatted lines and writes them together at most every
`interval` seconds (from a thread, restarted in forked children), at once for WARNING and
above, and on `flush()` (the supervisor and workers flush before they exit)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import TextIO

INTERVAL = 0.2
"""Seconds a logged line may wait before it is written."""


class BatchingHandler(logging.Handler):
    def __init__(self, stream: TextIO, interval: float = INTERVAL) -> None:
        super().__init__()
        self.stream = stream
        self.interval = interval
        self._lines: list[str] = []
        self._wake = threading.Event()
        self._start_flusher()
        os.register_at_fork(after_in_child=self._after_fork)

    def _start_flusher(self) -> None:
        thread = threading.Thread(target=self._run, name="postoffice-log", daemon=True)
        thread.start()

    def _after_fork(self) -> None:
        # The child has this handler but not its thread (nor the parent's lock holder).
        self.createLock()
        self._wake = threading.Event()
        self._start_flusher()

    def _run(self) -> None:
        # Signals go to the main thread: one arriving here before the server has installed
        # its handlers would take the default action (SIGTERM: die without a clean stop).
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        wake = self._wake
        while True:
            wake.wait(self.interval)
            wake.clear()
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:  # noqa: BLE001 (logging's own contract: never raise from emit)
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line)
        if record.levelno >= logging.WARNING:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._lines = self._lines, []
            if not lines:
                return
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed or full log stream must not stop the server


def configure(level: int, stream: TextIO) -> BatchingHandler:
    handler = BatchingHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return handler


def flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
