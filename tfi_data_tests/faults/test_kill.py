"""kill -9 at any point of an export leaves the table exactly old or exactly new; a rerun
converges; no staging table or lock is left behind."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tfi_data.export import Exporter, make_engine

from .export_child import SPEC, frame

CHILD = Path(__file__).with_name("export_child.py")
ROWS = 30_000


def _rows(url: str) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text("SELECT id, v, s FROM victim ORDER BY id"))]
    finally:
        engine.dispose()


def _expected(version: int) -> list[tuple]:
    df = frame(ROWS, version).sort_values("id")
    return [(int(i), float(v), str(s)) for i, v, s in df.itertuples(index=False)]


def _leftovers(url: str) -> tuple[list[str], int]:
    """Tables other than the victim, and advisory locks held in the database."""
    engine = make_engine(url)
    try:
        tables = sorted(set(sa.inspect(engine).get_table_names()) - {"victim"})
        locks = 0
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                locks = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    )
                ).scalar()
        return tables, locks
    finally:
        engine.dispose()


class Child:
    """The export, in a process of its own, started (imports, frame built) before the clock
    starts: the next trial's child starts while the last one's outcome is checked."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), url, str(ROWS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[2],
        )

    def go(self) -> float:
        assert self.proc.stdout.readline().strip() == "ready"
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return time.perf_counter()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def finish(self) -> None:
        assert self.proc.stdout.readline().strip() == "done"
        self.proc.wait(30)


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_kill_9_during_an_export_leaves_the_old_or_the_new_table(dialect, request, trials, figures):
    url = request.getfixturevalue({"sqlite": "sqlite_url", "postgres": "pg_url"}[dialect])
    old, new = _expected(0), _expected(1)
    Exporter(url).export(frame(ROWS, 0), SPEC)

    # How long one export takes, from "go" to done: the kills are spread over it and past it.
    child = Child(url)
    start = child.go()
    child.finish()
    took = time.perf_counter() - start
    assert _rows(url) == new
    outcomes = {"old": 0, "new": 0}
    child = Child(url)
    for trial in range(trials):
        Exporter(url).export(frame(ROWS, 0), dataclasses.replace(SPEC, mode="replace"))
        assert _rows(url) == old
        start = child.go()
        delay = took * 1.2 * (trial + 0.5) / trials
        time.sleep(max(0.0, delay - (time.perf_counter() - start)))
        child.kill()
        child = Child(url) if trial + 1 < trials else None
        rows = _rows(url)
        assert rows in (old, new), f"trial {trial}: killed {delay:.3f}s in: {len(rows)} rows, neither old nor new"
        outcomes["old" if rows == old else "new"] += 1
        deadline = time.monotonic() + 10
        while (left := _leftovers(url)) != ([], 0) and time.monotonic() < deadline:
            time.sleep(0.1)  # the server notices the dead client and ends its session
        assert left == ([], 0), f"trial {trial}: left behind {left}"
    result = Exporter(url).export(frame(ROWS, 1), SPEC)  # a rerun converges
    assert _rows(url) == new and result.rows_in_table == len(new)
    figures.append(
        f"kill -9 during a {dialect} sync of {ROWS:,} rows (export {took:.2f}s): {trials} trials, "
        f"{outcomes['old']} old, {outcomes['new']} new, 0 partial, 0 leftovers; rerun converged"
    )
