"""PostgreSQL fast path: COPY into a temporary staging table, then set-based SQL.

Produces the same table and counts as the reference diff (``diff.py``): ``IS DISTINCT FROM`` is
the NULL-safe comparison, and values reach the server through the same text forms the reference
round-trips. The DataFrame is turned into CSV by pyarrow's C++ writer and streamed to ``COPY``
batch by batch, so the client never holds a second full copy of the data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from psycopg import sql

from tfi_data.export.types import ColumnType, json_text

_BATCH_ROWS = 65_536
# Kinds pyarrow renders as text PostgreSQL parses back to the same value (JSON as its text).
_COPYABLE = {"bool", "int", "float", "decimal", "str", "date", "timestamp", "timestamptz", "json"}


def supports(types: Mapping[str, ColumnType]) -> bool:
    return all(t.kind in _COPYABLE for t in types.values())


def copy_into(conn: sa.Connection, tbl: sa.Table, df: pd.DataFrame, types: Mapping[str, ColumnType]) -> int:
    """Stream ``df`` into ``tbl`` with COPY; returns the number of rows copied."""
    if df.empty:
        return 0
    # COPY takes no parameters, so its names are composed by psycopg: SQLAlchemy's quoting
    # doubles '%' for the driver's parameter style, which COPY would take literally.
    name = sql.Identifier(tbl.schema, tbl.name) if tbl.schema else sql.Identifier(tbl.name)
    columns = sql.SQL(", ").join(sql.Identifier(str(c)) for c in df.columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(name, columns)
    nested = {c: json_text(df[c]) for c in df.columns if c in types and types[c].kind == "json"}
    if nested:
        df = df.assign(**nested)
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
    preview: dict[str, list[dict]] = field(default_factory=dict)


def stage(conn: sa.Connection, target: sa.Table, df: pd.DataFrame, types: Mapping[str, ColumnType]) -> sa.Table:
    """A temporary table with the target's types for the data's columns, holding ``df``."""
    staging = _temp_table("tfi_stage", [sa.Column(str(c), target.c[c].type) for c in df.columns])
    staging.create(conn)
    copy_into(conn, staging, df, types)
    return staging


def _temp_table(name: str, columns: list[sa.Column]) -> sa.Table:
    return sa.Table(name, sa.MetaData(), *columns, prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


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
    preview_rows: int = 5,
) -> Counts:
    """Classify every row in one join pass, then write only the changed rows.

    The join of table and staging (FULL for deletes, LEFT otherwise) files each new, changed
    or absent row into a small ``tfi_changes`` table with its action; the UPDATE, INSERT and
    DELETE then touch only those rows, and a statement with nothing to do never runs. An
    unchanged re-run therefore costs one join and writes nothing.
    """
    t, s = target, staging
    values = [c.name for c in s.columns if c.name not in keys]
    on = sa.and_(*(t.c[k] == s.c[k] for k in keys))
    new_key = t.c[keys[0]].is_(None)  # key columns are NOT NULL: NULL means "no such row"
    gone_key = s.c[keys[0]].is_(None)
    changed = sa.or_(*(t.c[c].is_distinct_from(s.c[c]) for c in values)) if values else sa.false()
    action = sa.case((new_key, "i"), (gone_key, "d"), else_="u")
    wanted = [new_key] + ([changed] if update else []) + ([gone_key] if delete else [])

    flag = "tfi_action"
    while flag in s.c:  # never clash with a data column
        flag += "_"
    changes = _temp_table("tfi_changes", [sa.Column(c.name, c.type) for c in s.columns] + [sa.Column(flag, sa.CHAR(1))])
    changes.create(conn)
    key_values = [sa.func.coalesce(s.c[k], t.c[k]) if delete else s.c[k] for k in keys]
    classify = (
        sa.select(*key_values, *(s.c[c] for c in values), action)
        .select_from(s.join(t, on, isouter=True, full=delete))
        .where(sa.or_(*wanted))
    )
    conn.execute(sa.insert(changes).from_select([*keys, *values, flag], classify))
    act = changes.c[flag]
    by_action = dict(conn.execute(sa.select(act, sa.func.count()).group_by(act)).all())
    counts = Counts(inserted=by_action.get("i", 0), updated=by_action.get("u", 0), deleted=by_action.get("d", 0))
    key_cols = [changes.c[k] for k in keys]
    counts.preview = {
        name: [dict(r._mapping) for r in conn.execute(sa.select(*key_cols).where(act == code).limit(preview_rows))]
        for name, code in (("inserted", "i"), ("updated", "u"), ("deleted", "d"))
    }
    check_deletes(counts.deleted)
    if dry_run:
        return counts

    c = changes
    match = [t.c[k] == c.c[k] for k in keys]
    if counts.deleted:
        conn.execute(sa.delete(t).where(act == "d", *match))
    if counts.updated:
        conn.execute(sa.update(t).values({v: c.c[v] for v in values}).where(act == "u", *match))
    if counts.inserted:
        rows = sa.select(*(c.c[n] for n in [*keys, *values])).where(act == "i")
        conn.execute(sa.insert(t).from_select([*keys, *values], rows))
    return counts
