"""Reader of a SQL query or table from a database named by an environment variable.

The target is a query (any text with whitespace, run as written) or a table name, optionally
schema-qualified (``schema.table``), which SQLAlchemy quotes. Options: ``url_env`` (the variable
holding the database URL) or ``url``; ``chunksize`` (rows fetched at a time, default 50,000, with
a server-side cursor where the driver has one; ``None`` reads in one go). The rest go to
``pandas.read_sql`` (``params``, ``parse_dates``, ``index_col``, ...). Errors name the query or
table and the database with its password hidden.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tfi_data.export.engine import database_url, safe_url
from tfi_data.loader.readers.dtypes import concat_arrow, standard_dtypes
from tfi_data.settings import env

DEFAULT_CHUNKSIZE = 50_000


class SQLReadError(RuntimeError):
    """A query or table could not be read. The message never holds the database password."""


def read_sql(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    opts = dict(options)
    url = _database_url(opts.pop("url_env", None), opts.pop("url", None))
    chunksize = opts.pop("chunksize", DEFAULT_CHUNKSIZE)
    statement, what = _statement(target)
    try:
        engine = sa.create_engine(url, poolclass=sa.NullPool)
    except Exception as exc:
        raise SQLReadError(f"cannot read {what} from {safe_url(url)}: {_describe(exc, url)}") from exc
    try:
        with engine.connect() as conn:
            # Streams on PostgreSQL and MySQL instead of buffering the whole result in the driver.
            con = conn.execution_options(stream_results=True) if chunksize else conn
            return standard_dtypes(_read, statement, {**opts, "con": con, "chunksize": chunksize or None})
    except Exception as exc:
        raise SQLReadError(f"cannot read {what} from {safe_url(url)}: {_describe(exc, url)}") from exc
    finally:
        engine.dispose()


def _database_url(url_env: str | None, url: str | sa.URL | None) -> sa.URL:
    if url_env and url:
        raise ValueError("a SQL source takes url_env=... or url=..., not both")
    if url_env:
        url = env(url_env)
        if url is None:
            raise ValueError(f"environment variable {url_env} (url_env of the SQL source) is not set")
    if not url:
        raise ValueError("a SQL source needs url_env=... naming an environment variable (or url=...)")
    try:
        return database_url(url)
    except Exception as exc:  # SQLAlchemy's message does not repeat the URL
        where = f"environment variable {url_env}" if url_env else "url="
        raise ValueError(f"{where}: not a database URL: {exc}") from None


def _statement(target: str) -> tuple[sa.Executable, str]:
    """A query runs as written; a table name becomes SELECT * with the name quoted by SQLAlchemy."""
    text = target.strip()
    if re.search(r"\s", text):
        return sa.text(text), f"query {_shorten(text)!r}"
    parts = text.split(".")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"{target!r} is neither a query nor a table name (table or schema.table)")
    table = sa.table(parts[-1], schema=parts[0] if len(parts) == 2 else None)
    return sa.select(sa.literal_column("*")).select_from(table), f"table {text!r}"


def _read(
    statement: sa.Executable, *, con: sa.Connection, chunksize: int | None, index_col: Any = None, **options: Any
) -> pd.DataFrame:
    if not chunksize:
        return pd.read_sql(statement, con, index_col=index_col, **options)
    chunks = list(pd.read_sql(statement, con, chunksize=chunksize, **options))
    if len(chunks) == 1:
        df = chunks[0]
    elif options.get("dtype_backend") == "pyarrow":
        df = concat_arrow(chunks)
    else:
        df = pd.concat(chunks, ignore_index=True)
    return df.set_index(index_col) if index_col is not None else df


def _describe(exc: Exception, url: sa.URL) -> str:
    orig = getattr(exc, "orig", None)  # the driver's own message, without SQLAlchemy's SQL echo and links
    text = " ".join(line.strip() for line in str(orig or exc).splitlines() if line.strip()) or type(exc).__name__
    # Drivers do not echo passwords, but a message must never hold one.
    if url.password and len(str(url.password)) >= 4:
        text = text.replace(str(url.password), "***")
    return text


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
