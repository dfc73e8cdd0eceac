"""SQL reader on real SQLite files and the real PostgreSQL: queries, tables, chunks, errors."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tfi_data import Source
from tfi_data.loader import GeneralLoader, LoadError
from tfi_data.loader.readers.sql import SQLReadError, read_sql

ROWS = 1000


@pytest.fixture
def sqlite_db(tmp_path, monkeypatch) -> str:
    """A SQLite file with ``rides`` (ROWS rows; ``n`` NULL in the first rows only) named by $SRC_DB."""
    path = tmp_path / "src.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE rides (id INTEGER PRIMARY KEY, route TEXT, n INTEGER, km REAL)")
        conn.executemany(
            "INSERT INTO rides VALUES (?, ?, ?, ?)",
            [(i, f"R{i % 7}", None if i < 10 else i * 3, i / 4) for i in range(ROWS)],
        )
    url = f"sqlite:///{path}"
    monkeypatch.setenv("SRC_DB", url)
    return url


def run(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_query_with_params_from_the_environment(sqlite_db):
    df = read_sql("SELECT id, route FROM rides WHERE id < :n ORDER BY id", {"url_env": "SRC_DB", "params": {"n": 3}})
    assert df.to_dict("records") == [{"id": 0, "route": "R0"}, {"id": 1, "route": "R1"}, {"id": 2, "route": "R2"}]
    assert df["route"].dtype == "string[pyarrow]"


def test_table_name_reads_the_whole_table(sqlite_db):
    df = GeneralLoader().load(Source.sql("rides", "rides", url_env="SRC_DB"))
    assert len(df) == ROWS and list(df.columns) == ["id", "route", "n", "km"]
    assert df["n"].dtype == "Int64" and df["km"].dtype == "Float64"


def test_chunked_reading_equals_unchunked_even_when_a_column_starts_all_null(sqlite_db):
    query = "SELECT * FROM rides ORDER BY id"
    whole = read_sql(query, {"url_env": "SRC_DB", "chunksize": None})
    chunked = read_sql(query, {"url_env": "SRC_DB", "chunksize": 7})  # the first chunk's n is all NULL
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked["n"].dtype == "Int64" and chunked["n"].notna().sum() == ROWS - 10


def test_chunked_reading_keeps_index_col(sqlite_db):
    df = read_sql("SELECT id, route FROM rides WHERE id < 5", {"url_env": "SRC_DB", "chunksize": 2, "index_col": "id"})
    assert df.index.name == "id" and df.index.tolist() == [0, 1, 2, 3, 4] and list(df.columns) == ["route"]


def test_url_option_instead_of_url_env(sqlite_db):
    assert read_sql("rides", {"url": sqlite_db, "chunksize": 100})["id"].tolist() == list(range(ROWS))


def test_bad_sql_names_the_query_and_the_database(sqlite_db):
    with pytest.raises(LoadError) as exc:
        GeneralLoader().load(Source.sql("t", "SELECT nope FROM rides", url_env="SRC_DB"))
    assert str(exc.value) == (
        "source 't' (sql 'SELECT nope FROM rides'): "
        f"cannot read query 'SELECT nope FROM rides' from {sqlite_db}: no such column: nope"
    )


def test_missing_table_names_the_table(sqlite_db):
    with pytest.raises(SQLReadError, match=rf"^cannot read table 'nothere' from {sqlite_db}: no such table: nothere$"):
        read_sql("nothere", {"url_env": "SRC_DB"})


def test_unset_variable_and_bad_targets_are_named(monkeypatch, sqlite_db):
    monkeypatch.delenv("NO_SUCH_DB", raising=False)
    with pytest.raises(ValueError, match=r"environment variable NO_SUCH_DB .* is not set"):
        read_sql("rides", {"url_env": "NO_SUCH_DB"})
    with pytest.raises(ValueError, match=r"'a.b.c' is neither a query nor a table name"):
        read_sql("a.b.c", {"url_env": "SRC_DB"})


def test_password_is_hidden_when_the_database_is_unreachable(monkeypatch):
    url = "postgresql+psycopg://ana:Pa55-w0rd-x@127.0.0.1:1/warehouse?connect_timeout=5"
    monkeypatch.setenv("WAREHOUSE_URL", url)
    for options in ({"url_env": "WAREHOUSE_URL"}, {"url": url}):
        with pytest.raises(SQLReadError) as exc:
            read_sql("SELECT 1", options)
        message = str(exc.value)
        assert "Pa55-w0rd-x" not in message
        assert message.startswith(
            "cannot read query 'SELECT 1' from postgresql+psycopg://ana:***@127.0.0.1:1/warehouse"
        )
        assert "refused" in message.lower()


@pytest.mark.postgres
def test_postgres_query_table_and_schema_qualified_table(pg_url, monkeypatch):
    run(
        pg_url,
        """
        CREATE TABLE stops (id int PRIMARY KEY, name text, opened date);
        INSERT INTO stops VALUES (1, 'Heuston', '2024-05-01'), (2, NULL, NULL);
        CREATE SCHEMA sales;
        CREATE TABLE sales.stops (id bigint, amount numeric(10, 2), fare double precision);
        INSERT INTO sales.stops VALUES (10, 2.50, 1.5), (11, NULL, NULL)
        """,
    )
    # postgresql:// means psycopg 3, as for exports.
    monkeypatch.setenv("PG_SRC", make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False))
    query = read_sql("SELECT id, name FROM stops ORDER BY id", {"url_env": "PG_SRC"})
    assert query["id"].tolist() == [1, 2] and query["id"].dtype == "Int64"
    assert query["name"].tolist()[0] == "Heuston" and pd.isna(query["name"].tolist()[1])
    public = read_sql("stops", {"url_env": "PG_SRC"}).sort_values("id", ignore_index=True)
    assert public["id"].tolist() == [1, 2] and str(public["opened"].tolist()[0]) == "2024-05-01"
    sales = read_sql("sales.stops", {"url_env": "PG_SRC"}).sort_values("id", ignore_index=True)
    assert sales["id"].tolist() == [10, 11] and sales["fare"].dtype == "Float64"


@pytest.mark.postgres
def test_postgres_table_names_are_quoted_not_formatted(pg_url):
    # Hyphens only work quoted: a hand-formatted SELECT * FROM sales-eu.odd-name is a syntax error.
    run(
        pg_url,
        'CREATE SCHEMA "sales-eu"; CREATE TABLE "sales-eu"."odd-name" (id int);'
        'INSERT INTO "sales-eu"."odd-name" VALUES (5)',
    )
    run(pg_url, 'CREATE TABLE "odd-name" (id int); INSERT INTO "odd-name" VALUES (6)')
    assert read_sql("odd-name", {"url": pg_url})["id"].tolist() == [6]
    assert read_sql("sales-eu.odd-name", {"url": pg_url})["id"].tolist() == [5]
    with pytest.raises(
        SQLReadError,
        match=r"""^cannot read table 'missing.t' from postgresql\+psycopg://.*: relation "missing.t" does not exist""",
    ):
        read_sql("missing.t", {"url": pg_url})


@pytest.mark.postgres
def test_postgres_chunked_streaming_equals_unchunked_and_leaves_no_connection(pg_url):
    run(
        pg_url,
        "CREATE TABLE big AS SELECT g AS id, CASE WHEN g > 100 THEN g * 2 END AS n, 'r' || (g % 5) AS route "
        "FROM generate_series(1, 5000) AS g",
    )
    whole = read_sql("SELECT * FROM big ORDER BY id", {"url": pg_url, "chunksize": None})
    chunked = read_sql("SELECT * FROM big ORDER BY id", {"url": pg_url, "chunksize": 64})
    pd.testing.assert_frame_equal(chunked, whole)
    assert len(chunked) == 5000 and chunked["n"].dtype == "Int64"
    database = make_url(pg_url).database
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            others = conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                {"d": database},
            ).scalar()
    finally:
        engine.dispose()
    assert others == 0


@pytest.mark.postgres
def test_postgres_bad_sql_hides_the_password(pg_url):
    url = make_url(pg_url).set(password="Secret-Pa55").render_as_string(hide_password=False)
    # trust auth accepts any password, so the query itself fails, after connecting with it.
    with pytest.raises(SQLReadError) as exc:
        read_sql("SELEC id FROM nowhere", {"url": url})
    message = str(exc.value)
    assert "Secret-Pa55" not in message and ":***@" in message
    assert message.startswith("cannot read query 'SELEC id FROM nowhere' from postgresql+psycopg://")
    assert 'syntax error at or near "SELEC"' in message
