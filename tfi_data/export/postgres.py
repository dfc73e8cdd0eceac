"""PostgreSQL fast path: COPY into a temporary staging table, then set-based SQL.

Produces the same table and counts as the reference diff (``diff.py``): ``IS DISTINCT FROM`` is
the NULL-safe comparison, and values reach the server through the same text forms the reference
round-trips. The DataFrame is turned into CSV by pyarrow's C++ writer and streamed to ``COPY``
batch by batch, so the client never holds a second full copy of the data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

_BATCH_ROWS = 65_536
# Families pyarrow renders as text PostgreSQL parses back to the same value.
_COPYABLE = {"bool", "int", "float", "decimal", "str", "date", "timestamp", "timestamptz"}


def supports(families: dict[str, str]) -> bool:
    return all(f in _COPYABLE for f in families.values())


def copy_into(conn: sa.Connection, tbl: sa.Table, df: pd.DataFrame) -> int:
    """Stream ``df`` into ``tbl`` with COPY; returns the number of rows copied."""
    if df.empty:
        return 0
    prep = conn.dialect.identifier_preparer
    columns = ", ".join(prep.quote(str(c)) for c in df.columns)
    statement = f"COPY {prep.format_table(tbl)} ({columns}) FROM STDIN (FORMAT csv)"
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            for chunk in _csv_chunks(df):
                copy.write(chunk)
    finally:
        cursor.close()
    return len(df)


def _csv_chunks(df: pd.DataFrame):
    """CSV bytes for COPY: NULL as an unquoted empty field, strings always quoted."""
    for start in range(0, len(df), _BATCH_ROWS):
        table = pa.Table.from_pandas(df.iloc[start : start + _BATCH_ROWS], preserve_index=False)
        # dictionary (categorical) columns are written as their values
        table = table.cast(
            pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema])
        )
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        yield sink.getvalue().to_pybytes()


@dataclass
class Counts:
    inserted: int
    updated: int
    deleted: int


def stage(conn: sa.Connection, target: sa.Table, df: pd.DataFrame) -> sa.Table:
    """A temporary table with the target's types for the data's columns, holding ``df``."""
    staging = sa.Table(
        "tfi_stage",
        sa.MetaData(),
        *(sa.Column(str(c), target.c[c].type) for c in df.columns),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    staging.create(conn)
    copy_into(conn, staging, df)
    # A fresh temp table has no statistics; without them the planner may pick nested loops.
    conn.execute(sa.text(f"ANALYZE {conn.dialect.identifier_preparer.format_table(staging)}"))
    return staging


def apply(
    conn: sa.Connection,
    target: sa.Table,
    staging: sa.Table,
    keys: Sequence[str],
    *,
    update: bool,
    delete: bool,
    dry_run: bool,
    check_deletes: Callable[[int], None],
) -> Counts:
    """Update changed rows, insert new keys, delete absent keys (as asked), set-based."""
    t, s = target, staging
    on = sa.and_(*(t.c[k] == s.c[k] for k in keys))
    values = [c.name for c in s.columns if c.name not in keys]
    changed = sa.or_(*(t.c[c].is_distinct_from(s.c[c]) for c in values)) if values else sa.false()
    new_rows = ~sa.exists().where(on)  # correlated: a staging row whose key is not in the target
    gone_rows = ~sa.exists(sa.select(1).select_from(s).where(on))

    count = sa.func.count()
    if dry_run:
        deleted = conn.execute(sa.select(count).select_from(t).where(gone_rows)).scalar_one() if delete else 0
        check_deletes(deleted)
        return Counts(
            inserted=conn.execute(sa.select(count).select_from(s).where(new_rows)).scalar_one(),
            updated=conn.execute(sa.select(count).select_from(t.join(s, on)).where(changed)).scalar_one()
            if update
            else 0,
            deleted=deleted,
        )
    # Deletes first: the guard can refuse before any other work (the transaction rolls back).
    deleted = conn.execute(sa.delete(t).where(gone_rows)).rowcount if delete else 0
    check_deletes(deleted)
    updated = (
        conn.execute(sa.update(t).values({c: s.c[c] for c in values}).where(on, changed)).rowcount
        if update and values
        else 0
    )
    insert = sa.insert(t).from_select([c.name for c in s.columns], sa.select(*s.columns).where(new_rows))
    # SQLAlchemy keeps rowcount for UPDATE/DELETE only unless asked.
    inserted = conn.execute(insert.execution_options(preserve_rowcount=True)).rowcount
    return Counts(inserted=inserted, updated=updated, deleted=deleted)
