"""Progress of loads on a terminal: which sources are loading, for how long, how many bytes of
their files have been read, and how many rows each gave."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def _bytes_read() -> int | None:
    """Bytes this process has read so far (Linux ``rchar``): the readers run in pyarrow and
    pandas, so the kernel's count is the one measure of their progress that needs no hook in them."""
    try:
        with open("/proc/self/io") as fh:
            for line in fh:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class LoadProgress:
    """A ``progress(source, event, rows)`` callback that keeps one status line up to date on a
    terminal and leaves a line per finished source. Does nothing when ``stream`` is not a tty."""

    def __init__(self, pipeline: str, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.pipeline = pipeline
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._started: dict[str, float] = {}
        self._total = 0
        self._read_at_start: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, source: str, event: str, count: int | None) -> None:
        """``count``: the bytes a source will read ("loading", None if unknown) or its rows ("loaded")."""
        if not self.enabled:
            return
        with self._lock:
            if event == "loading":
                if not self._started:  # bytes are counted from the first load of a batch on
                    self._read_at_start, self._total = _bytes_read(), 0
                self._started[source] = time.monotonic()
                self._total += count or 0
            elif event == "loaded":
                took = time.monotonic() - self._started.pop(source, time.monotonic())
                self._write(f"\r\x1b[K{self.pipeline}: loaded {source}: {count:,} rows in {took:.1f} s\n")
            self._status()

    def _status(self) -> None:
        if self._started:
            now = time.monotonic()
            busy = ", ".join(f"{s} {now - t:.0f}s" for s, t in sorted(self._started.items()))
            read = _bytes_read()
            size = ""
            if self._total and read is not None and self._read_at_start is not None:
                done = min(read - self._read_at_start, self._total)
                size = f", {done / 1e6:,.1f} of {self._total / 1e6:,.1f} MB ({done / self._total:.0%})"
            self._write(f"\r\x1b[K{self.pipeline}: loading {busy}{size}")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self._status()

    def __enter__(self) -> LoadProgress:
        if self.enabled:
            self._thread = threading.Thread(target=self._tick, name="tfi-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._write("\r\x1b[K")
