"""Shared fixtures: real databases only.

PostgreSQL tests read the server URL from TFI_TEST_POSTGRES_URL, MariaDB tests from
TFI_TEST_MARIADB_URL; each test gets a fresh database that is dropped afterwards. Without the
variable those tests skip, unless TFI_REQUIRE_DATABASES=1 (set by .ci/run), where a missing or
unreachable server is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "dataloaders"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="fault suite: 100 kill trials per database instead of 20")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    from tfi_data_tests.faults.conftest import FIGURES

    if FIGURES:
        terminalreporter.section("fault suite figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def _server(var: str, what: str) -> str:
    url = os.environ.get(var)
    if not url:
        if os.environ.get("TFI_REQUIRE_DATABASES") == "1":
            pytest.fail(f"{var} is not set but TFI_REQUIRE_DATABASES=1: {what} tests must run")
        pytest.skip(f"{var} not set: {what} tests skipped")
    return url


def _fresh_database(server_url: str, create_sql: str, drop_sql: str):
    name = f"tfi_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(create_sql.format(name=name)))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("TFI_REQUIRE_DATABASES") == "1":
            pytest.fail(f"cannot reach {make_url(server_url).render_as_string(hide_password=True)}: {exc}")
        pytest.skip(f"database server unreachable: {exc}")
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(drop_sql.format(name=name)))
        admin.dispose()


@pytest.fixture
def pg_url() -> str:
    server = _server("TFI_TEST_POSTGRES_URL", "PostgreSQL")
    yield from _fresh_database(server, 'CREATE DATABASE "{name}"', 'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def mariadb_url() -> str:
    server = _server("TFI_TEST_MARIADB_URL", "MariaDB")
    yield from _fresh_database(server, "CREATE DATABASE `{name}`", "DROP DATABASE `{name}`")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'exported.sqlite'}"


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each database tfi-data must support, one test run each."""
    fixture = {"sqlite": "sqlite_url", "postgres": "pg_url", "mariadb": "mariadb_url"}[request.param]
    return request.getfixturevalue(fixture)


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A private copy of the bundled example dataloaders, free to modify."""
    target = tmp_path / "dataloaders"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own TFI_* settings or writes into the checkout."""
    for var in ("TFI_DATABASE_URL", "TFI_CACHE_DIR", "TFI_DATALOADERS_DIR", "TFI_SCHEDULES_RUNNING"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TFI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``tfi-data`` entry point as a user would."""
    exe = Path(sys.executable).with_name("tfi-data")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


def table_rows(url: str, table: str, order_by: str) -> list[tuple]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order_by}"))]
    finally:
        engine.dispose()
