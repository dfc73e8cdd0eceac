"""Engines for the Exporter: one place that turns a URL into a configured SQLAlchemy engine."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def database_url(url: str | sa.URL) -> sa.URL:
    """A SQLAlchemy URL, ``postgresql://`` taken to mean psycopg 3 (the driver tfi-data ships)."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def make_engine(url: str | sa.URL) -> sa.Engine:
    """An engine whose transactions serialize writers to the same database file/table."""
    u = database_url(url)
    # No pool: an export is one transaction on one connection, and an Exporter that is simply
    # dropped must not leave idle connections behind on the server.
    if u.get_backend_name() == "sqlite":
        engine = sa.create_engine(u, connect_args={"timeout": 60}, poolclass=sa.NullPool)
        _sqlite_begin_immediate(engine)
        return engine
    return sa.create_engine(u, poolclass=sa.NullPool)


def _sqlite_begin_immediate(engine: sa.Engine) -> None:
    # SQLAlchemy's recipe: let SQLAlchemy emit BEGIN itself, as BEGIN IMMEDIATE, so two
    # exporters take the write lock up front instead of deadlocking on lock upgrade.
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def safe_url(url: str | sa.URL) -> str:
    """The URL with its password hidden: the only form that may reach logs or metadata."""
    return make_url(url).render_as_string(hide_password=True)
