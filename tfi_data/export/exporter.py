"""Exporter: one export = one transaction that writes only what must change."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tfi_data.details import Export
from tfi_data.export import postgres
from tfi_data.export import schema as sch
from tfi_data.export.diff import Changes, diff
from tfi_data.export.engine import make_engine
from tfi_data.export.types import COLUMN_TYPES_ATTR, ColumnType, TypeProblem, bind_type, coerce_declared, json_text

_BATCH = 10_000
_SAMPLE_ROWS = 5
PREVIEW_ROWS = 5


class ExportError(RuntimeError):
    """An export was refused or failed; the table is unchanged. The message names the table."""


@dataclass
class ExportResult:
    table: str
    mode: str
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    rows_in_table: int = 0
    duration_s: float = 0.0
    dry_run: bool = False
    # A few keys of what was (or, planned, would be) inserted / updated / deleted.
    preview: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The table's columns after the export (planned: as it would make them), in table order,
    # with the database's type names as SQL text: {"day": "DATE", "riders": "BIGINT"}.
    columns: dict[str, str] = field(default_factory=dict)
    # Schema changes made (planned: that would be made): "added column 'x' TEXT", "widened ...".
    schema_changes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Exporter:
    """Writes DataFrames into one database (an engine or a URL)."""

    def __init__(self, engine: sa.Engine | str) -> None:
        self.engine = make_engine(engine) if isinstance(engine, str) else engine

    def exists(self, export: Export) -> bool:
        return sa.inspect(self.engine).has_table(export.table, schema=export.schema)

    def read(self, export: Export) -> pd.DataFrame:
        """The table's current rows."""
        where = f"table {export.qualified_name!r}"
        if not self.exists(export):
            raise ExportError(f"{where} does not exist")
        try:
            return pd.read_sql_table(export.table, self.engine, schema=export.schema)
        except sa.exc.SQLAlchemyError as exc:
            raise ExportError(f"{where}: cannot be read: {exc.orig if hasattr(exc, 'orig') else exc}") from exc

    def plan(self, df: pd.DataFrame, export: Export, *, types: Mapping[str, Any] | None = None) -> ExportResult:
        """The counts ``export`` would produce, without changing anything in the database: no
        rows, no CREATE TABLE, no ALTER TABLE (on MySQL/MariaDB DDL would commit at once)."""
        return self.export(df, export, dry_run=True, types=types)

    def export(
        self,
        df: pd.DataFrame,
        export: Export,
        *,
        dry_run: bool = False,
        types: Mapping[str, Any] | None = None,
    ) -> ExportResult:
        """Write ``df`` into the export's table. ``types`` declares column types (rules entries:
        ``{"price": {"type": "number", "precision": 12, "scale": 2}}``); without it, the types a
        validated frame carries in ``df.attrs["column_types"]`` (set from its rules)."""
        start = time.perf_counter()
        where = f"table {export.qualified_name!r}"
        if types is None and isinstance(df, pd.DataFrame):
            types = df.attrs.get(COLUMN_TYPES_ATTR)
        df = self._prepare(df, export, where)
        columns: list[str] = []
        try:
            declared = coerce_declared(types)
            with self.engine.connect() as conn:
                try:
                    with conn.begin() as txn:
                        self._lock(conn, export)
                        result = self._write(conn, df, export, declared, where, dry_run, columns)
                        if dry_run:
                            txn.rollback()
                finally:
                    self._unlock(conn)
        except (sch.SchemaError, ExportError, TypeProblem) as exc:
            raise ExportError(str(exc) if str(exc).startswith("table ") else f"{where}: {exc}") from None
        except (sa.exc.SQLAlchemyError, AssertionError) as exc:
            orig = getattr(exc, "orig", None) or exc
            named = _column_named(orig, columns)
            raise ExportError(f"{where}{named}: the database refused the export: {orig}") from exc
        except self.engine.dialect.loaded_dbapi.Error as exc:  # raised by the driver itself (COPY)
            named = _column_named(exc, columns)
            raise ExportError(f"{where}{named}: the database refused the export: {exc}") from exc
        result.duration_s = round(time.perf_counter() - start, 3)
        result.dry_run = dry_run
        return result

    # -- steps ---------------------------------------------------------------------------

    def _prepare(self, df: pd.DataFrame, export: Export, where: str) -> pd.DataFrame:
        if not isinstance(df, pd.DataFrame):
            raise ExportError(f"{where}: expected a DataFrame, got {type(df).__name__}")
        missing = [k for k in export.keys if k not in df.columns]
        if missing:
            raise ExportError(f"{where}: key column(s) {missing} not in the data; columns are {list(df.columns)}")
        if df.columns.duplicated().any():
            raise ExportError(f"{where}: duplicate column names {sorted(set(df.columns[df.columns.duplicated()]))}")
        try:
            sch.check_names(export.table, export.schema, list(df.columns), self.engine.dialect)
        except sch.SchemaError as exc:
            raise ExportError(str(exc)) from None
        if not df.index.equals(pd.RangeIndex(len(df))):  # positions == labels below; no copy if so
            df = df.reset_index(drop=True)
        if not export.keys:
            return df
        keys = list(export.keys)
        null_rows = df[df[keys].isna().any(axis=1)]
        if len(null_rows):
            raise ExportError(
                f"{where}: {len(null_rows)} row(s) with a NULL key {keys}, e.g.:\n"
                + null_rows.head(_SAMPLE_ROWS).to_string()
            )
        dup = df.duplicated(keys, keep=False)
        if dup.any():
            if export.keep_last_duplicate:
                return df.drop_duplicates(keys, keep="last").reset_index(drop=True)
            raise ExportError(
                f"{where}: {int(dup.sum())} row(s) share a key {keys} with another row "
                "(set keep_last_duplicate=True to keep the last), e.g.:\n"
                + df[dup].sort_values(keys).head(_SAMPLE_ROWS).to_string()
            )
        return df

    def _lock(self, conn: sa.Connection, export: Export) -> None:
        """Serialize exports to the same table (SQLite already holds BEGIN IMMEDIATE)."""
        name = conn.dialect.name
        if name == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:t, 0))"),
                {"t": f"tfi_data:{export.qualified_name}"},
            )
        elif name in ("mysql", "mariadb"):
            # A named lock held by this session until the transaction's connection releases it.
            got = conn.execute(
                sa.text("SELECT GET_LOCK(:t, 600)"), {"t": f"tfi_data:{export.qualified_name}"[:64]}
            ).scalar()
            if got != 1:
                raise ExportError(f"table {export.qualified_name!r}: could not take the export lock")
            conn.info["tfi_lock"] = f"tfi_data:{export.qualified_name}"[:64]

    @staticmethod
    def _unlock(conn: sa.Connection) -> None:
        name = conn.info.pop("tfi_lock", None)
        if name is not None:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:t)"), {"t": name})
            conn.commit()

    def _write(
        self,
        conn: sa.Connection,
        df: pd.DataFrame,
        export: Export,
        declared: Mapping[str, ColumnType],
        where: str,
        dry_run: bool,
        columns: list[str],
    ) -> ExportResult:
        result = ExportResult(table=export.qualified_name, mode=export.mode)
        dialect = conn.dialect
        tbl = sch.reflect(conn, export.table, export.schema)
        sch.check_names(
            export.table,
            export.schema,
            list(df.columns),
            dialect,
            [c.name for c in tbl.columns] if tbl is not None else (),
        )
        layout = sch.plan_layout(df, tbl, declared, export.keys, dialect, export.schema_changes, where)
        df, types = layout.frame, layout.types
        columns[:] = list(df.columns)  # named by errors the database raises from here on
        if tbl is None:
            # A plan creates nothing: the rows are compared with an empty table.
            tbl = sch.table_object(export.table, export.schema, types, export.keys, dialect)
            result.schema_changes = [f"created table {export.qualified_name!r}"]
            if dry_run:
                result.columns = sch.column_types(tbl, dialect)
                return self._plan_new(result, df, export)
            tbl.create(conn)
            tbl = sch.reflect(conn, export.table, export.schema)  # the types as the database names them
            old_count = 0
        elif dry_run:
            result.schema_changes = sch.planned_changes(tbl, layout, dialect)
            result.columns = sch.column_types(tbl, dialect, layout)
            old_count = conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one()
        else:
            tbl, result.schema_changes = sch.evolve(conn, tbl, layout)
            old_count = conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one()
        reshaped = bool(layout.add or layout.widen)
        as_text = {  # JSON into a column the database keeps as text (MariaDB's JSON is LONGTEXT)
            c: json_text(df[c])
            for c, t in types.items()
            if t.kind == "json" and c in tbl.c and not isinstance(tbl.c[c].type, sa.JSON)
        }
        if as_text:
            df = df.assign(**as_text)

        # PostgreSQL: COPY + set-based SQL; elsewhere (and for types COPY cannot carry, for a plan
        # of a table it would reshape, and where a change table would pass the column limit) the
        # reference diff with batched statements. Both give the same table and counts.
        fast = (
            dialect.name == "postgresql"
            and postgres.supports(types)
            and not (dry_run and reshaped)
            and len(df.columns) < sch.PG_MAX_COLUMNS
        )
        if export.mode == "append":
            result.inserted = self._insert(conn, tbl, df, types, fast, dry_run)
        elif export.mode == "replace":
            if not dry_run:  # not TRUNCATE: readers keep seeing the old rows until commit
                conn.execute(tbl.delete())
            result.deleted, result.inserted = old_count, self._insert(conn, tbl, df, types, fast, dry_run)
        elif fast and old_count == 0:
            result.inserted = self._insert(conn, tbl, df, types, fast, dry_run)  # nothing to compare against
        elif fast:
            staging = postgres.stage(conn, tbl, df, types)
            counts = postgres.apply(
                conn,
                tbl,
                staging,
                export.keys,
                update=export.mode != "insert_new",
                delete=export.mode == "sync",
                dry_run=dry_run,
                check_deletes=lambda n: self._guard_deletes(n, old_count, export, where),
            )
            result.inserted, result.updated, result.deleted = counts.inserted, counts.updated, counts.deleted
            result.preview = counts.preview
        else:
            changes = self._diff(conn, tbl, df, export, types, layout.data)
            if export.mode == "insert_new":
                changes.updates = changes.updates.iloc[0:0]
            self._guard_deletes(len(changes.deletes), old_count, export, where)
            if not dry_run:
                self._insert(conn, tbl, changes.inserts, types, False, dry_run)
                self._update(conn, tbl, changes.updates, export.keys, types)
                self._delete(conn, tbl, changes.deletes, export.keys)
            result.inserted, result.updated, result.deleted = (
                len(changes.inserts),
                len(changes.updates),
                len(changes.deletes),
            )
            result.preview = {
                "inserted": sample_keys(changes.inserts, export.keys),
                "updated": sample_keys(changes.updates, export.keys),
                "deleted": sample_keys(changes.deletes, export.keys),
            }
        if export.mode in ("merge", "sync", "insert_new"):
            result.unchanged = len(df) - result.inserted - result.updated
        if not result.preview and export.keys:  # every row was inserted
            result.preview = {"inserted": sample_keys(df, export.keys), "updated": [], "deleted": []}
        if dry_run:
            result.rows_in_table = old_count + result.inserted - result.deleted
        else:
            result.rows_in_table = conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one()
            result.columns = sch.column_types(tbl, dialect)
        return result

    @staticmethod
    def _plan_new(result: ExportResult, df: pd.DataFrame, export: Export) -> ExportResult:
        """The plan of an export into a table that does not exist yet: every row is new."""
        result.inserted = len(df)
        result.rows_in_table = len(df)
        if export.keys:
            result.preview = {"inserted": sample_keys(df, export.keys), "updated": [], "deleted": []}
        return result

    def _diff(
        self,
        conn: sa.Connection,
        tbl: sa.Table,
        df: pd.DataFrame,
        export: Export,
        types: Mapping[str, ColumnType],
        data: Mapping[str, ColumnType | None],
    ) -> Changes:
        wanted = list(export.keys) if export.mode == "insert_new" else list(df.columns)
        cols = [_read_as_stored(tbl.c[c], conn.dialect) for c in wanted if c in tbl.c]
        rows = conn.execute(sa.select(*cols)).all()
        # Object columns keep the driver's exact values (no float detour for ints with NULLs).
        old = pd.DataFrame({c.name: pd.Series([r[i] for r in rows], dtype=object) for i, c in enumerate(cols)})
        new = df[list(export.keys)] if export.mode == "insert_new" else df
        changes = diff(old, new, export.keys, types, conn.dialect.name, deletes=export.mode == "sync", data=data)
        if export.mode == "insert_new":
            changes.inserts = df.loc[changes.inserts.index]
        return changes

    @staticmethod
    def _guard_deletes(n: int, old_count: int, export: Export, where: str) -> None:
        if n and not export.allow_mass_delete and n > export.max_delete_fraction * old_count:
            raise ExportError(
                f"{where}: sync would delete {n} of {old_count} rows ({n / old_count:.0%}), more than "
                f"max_delete_fraction={export.max_delete_fraction}; nothing was written. Set "
                "allow_mass_delete=True (or raise max_delete_fraction) if that is intended"
            )

    # -- batched writes ------------------------------------------------------------------
    # Bound parameters are named by position (p0, p1, ...): SQLAlchemy escapes characters such as
    # '.', '[' and ']' in names taken from columns, and two such names could become one.

    def _insert(
        self,
        conn: sa.Connection,
        tbl: sa.Table,
        df: pd.DataFrame,
        types: Mapping[str, ColumnType],
        fast: bool,
        dry_run: bool,
    ) -> int:
        if dry_run or df.empty:
            return len(df)
        if fast:
            return postgres.copy_into(conn, tbl, df, types)
        names = {c: f"p{i}" for i, c in enumerate(df.columns)}
        stmt = tbl.insert().values({tbl.c[c]: sa.bindparam(p, type_=bind_type(tbl.c[c])) for c, p in names.items()})
        for batch in _records(df.rename(columns=names)):
            conn.execute(stmt, batch)
        return len(df)

    def _update(
        self, conn: sa.Connection, tbl: sa.Table, df: pd.DataFrame, keys: Sequence[str], types: Mapping[str, Any]
    ) -> int:
        values = [c for c in df.columns if c not in keys]
        if df.empty or not values:
            return 0
        names = {c: f"p{i}" for i, c in enumerate(df.columns)}
        stmt = (
            tbl.update()
            .where(sa.and_(*(tbl.c[k] == sa.bindparam(names[k]) for k in keys)))
            .values({tbl.c[c]: sa.bindparam(names[c], type_=bind_type(tbl.c[c])) for c in values})
        )
        for batch in _records(df.rename(columns=names)):
            conn.execute(stmt, batch)
        return len(df)

    def _delete(self, conn: sa.Connection, tbl: sa.Table, keys_df: pd.DataFrame, keys: Sequence[str]) -> int:
        if keys_df.empty:
            return 0
        names = {k: f"p{i}" for i, k in enumerate(keys)}
        stmt = tbl.delete().where(sa.and_(*(tbl.c[k] == sa.bindparam(names[k]) for k in keys)))
        for batch in _records(keys_df.rename(columns=names)):
            conn.execute(stmt, batch)
        return len(keys_df)


def _read_as_stored(column: sa.Column, dialect: sa.Dialect) -> sa.ColumnElement:
    """A column read back as the database holds it: MySQL reflects DOUBLE as asdecimal (10
    digits) and SQLite keeps NUMERIC as REAL, so both come back as the floats they are."""
    if isinstance(column.type, sa.Float) or (dialect.name == "sqlite" and isinstance(column.type, sa.Numeric)):
        return sa.type_coerce(column, sa.Double()).label(column.name)
    return column


def _column_named(exc: BaseException, columns: Sequence[str]) -> str:
    """ ", column 'x'" when the database's error names one of the data's columns."""
    diag = getattr(exc, "diag", None)
    name = getattr(diag, "column_name", None)
    if name:
        return f", column {name!r}"
    text = " ".join(str(part) for part in (exc, getattr(diag, "context", None) or "") if part)
    for column in sorted(columns, key=len, reverse=True):
        forms = (f"'{column}'", f'"{column}"', f"`{column}`", f"column {column}:", f".{column}")
        if any(form in text for form in forms):
            return f", column {column!r}"
    return ""


def sample_keys(df: pd.DataFrame, keys: Sequence[str], n: int = PREVIEW_ROWS) -> list[dict[str, Any]]:
    """The first ``n`` keys of ``df`` as plain Python values (JSON- and metadata-friendly)."""
    head = df[list(keys)].head(n)
    return [{k: _plain(v) for k, v in row.items()} for row in head.to_dict("records")]


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _records(df: pd.DataFrame) -> Iterator[list[dict[str, Any]]]:
    """Rows (already as the database stores them) as DBAPI-ready dicts: Python scalars, NULL for
    every missing value."""
    for start in range(0, len(df), _BATCH):
        chunk = df.iloc[start : start + _BATCH]
        cols = {}
        for col in chunk.columns:
            s = chunk[col]
            obj = s.astype(object)
            cols[col] = obj.where(s.notna(), None).tolist()
        names = list(cols)
        yield [dict(zip(names, row)) for row in zip(*cols.values())]
