"""The database goes away in the middle of an export: a private PostgreSQL cluster (initdb and
pg_ctl on a free port) is stopped at once during the export and started again. The export fails
cleanly, naming the table, the table is as it was, and a rerun ends correct."""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tfi_data.export import Exporter, make_engine

from .export_child import SPEC, frame

ROWS = 150_000


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        pytest.fail(f"{name} not found: the PostgreSQL server binaries are needed")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A throwaway PostgreSQL cluster owned by the ``postgres`` user when run as root."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "pgdata"
        self.port = _free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        root.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(root, "postgres")
        self._run(_bin("initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_bin("pg_ctl"), "-D", str(self.dir), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.dir), "-m", "immediate", "-w", "stop")


@pytest.fixture
def cluster():
    # outside pytest's tmp_path: the postgres user must be able to reach the data directory
    root = Path(tempfile.mkdtemp(prefix="tfi-pg-"))
    try:
        c = Cluster(root)
        c.start()
        try:
            yield c
        finally:
            subprocess.run(
                [*c.as_user, _bin("pg_ctl"), "-D", str(c.dir), "-m", "immediate", "stop"], capture_output=True
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _rows(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM victim")).scalar()
    finally:
        engine.dispose()


def test_the_database_going_away_mid_export_fails_cleanly_and_a_rerun_converges(cluster, figures):
    old, new = frame(ROWS, 0), frame(ROWS, 1)
    Exporter(cluster.url).export(old, SPEC)
    start = time.perf_counter()
    Exporter(cluster.url).export(new, SPEC)
    took = time.perf_counter() - start
    trials, failed_cleanly = 5, 0
    for trial in range(trials):
        Exporter(cluster.url).export(old, dataclasses.replace(SPEC, mode="replace"))
        errors: list[BaseException] = []

        def export(errors: list[BaseException]) -> None:
            try:
                Exporter(cluster.url).export(new, SPEC)
            except Exception as exc:  # the outcome under test
                errors.append(exc)

        worker = threading.Thread(target=export, args=(errors,))
        worker.start()
        time.sleep(took * (0.2 + 0.6 * trial / trials))
        cluster.stop()
        worker.join(120)
        cluster.start()
        count = _rows(cluster.url)
        if errors:
            (error,) = errors
            assert "victim" in str(error), f"the error does not name the table: {error!r}"
            assert count == len(old), f"trial {trial}: {count} rows after a failed export, expected the old table"
            failed_cleanly += 1
        else:
            assert count == len(new)  # the commit made it before the stop
        result = Exporter(cluster.url).export(new, SPEC)  # the rerun converges
        assert _rows(cluster.url) == len(new) and result.rows_in_table == len(new)
    assert failed_cleanly >= 1, "the server was never stopped while an export ran: no trial tested anything"
    figures.append(
        f"database stopped mid-export (private cluster, {ROWS:,}-row sync, export {took:.2f}s): {trials} trials, "
        f"{failed_cleanly} failed cleanly with the old table, {trials - failed_cleanly} committed first; "
        "every rerun converged"
    )
