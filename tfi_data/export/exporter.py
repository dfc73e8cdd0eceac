"""Exporter: one export = one transaction that writes only what must change."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tfi_data.details import Export
from tfi_data.export import postgres
from tfi_data.export import schema as sch
from tfi_data.export.diff import Changes, diff
from tfi_data.export.engine import make_engine

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

    def plan(self, df: pd.DataFrame, export: Export) -> ExportResult:
        """The counts ``export`` would produce, without writing anything."""
        return self.export(df, export, dry_run=True)

    def export(self, df: pd.DataFrame, export: Export, *, dry_run: bool = False) -> ExportResult:
        start = time.perf_counter()
        where = f"table {export.qualified_name!r}"
        df = self._prepare(df, export, where)
        try:
            fams = sch.families(df, export.qualified_name)
            sch.check_names(export.table, export.schema, list(df.columns), self.engine.dialect)
            with self.engine.connect() as conn:
                try:
                    with conn.begin() as txn:
                        self._lock(conn, export)
                        result = self._write(conn, df, export, fams, where, dry_run)
                        if dry_run:
                            txn.rollback()
                finally:
                    self._unlock(conn)
        except (sch.SchemaError, ExportError) as exc:
            raise ExportError(str(exc)) from None
        except sa.exc.DBAPIError as exc:
            raise ExportError(f"{where}: the database refused the export: {exc.orig}") from exc
        except self.engine.dialect.loaded_dbapi.Error as exc:  # raised by the driver itself (COPY)
            raise ExportError(f"{where}: the database refused the export: {exc}") from exc
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
        fams: dict[str, str],
        where: str,
        dry_run: bool,
    ) -> ExportResult:
        result = ExportResult(table=export.qualified_name, mode=export.mode)
        tbl = sch.reflect(conn, export.table, export.schema)
        if tbl is None:
            tbl = sch.create_table(conn, export.table, export.schema, fams, export.keys)
            old_count = 0
        else:
            df, fams = sch.conform(df, tbl, fams)
            tbl = sch.evolve(conn, tbl, fams, export.schema_changes, where)
            old_count = conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one()

        # PostgreSQL: COPY + set-based SQL; elsewhere (and for types COPY cannot carry) the
        # reference diff with batched statements. Both give the same table and counts.
        fast = conn.dialect.name == "postgresql" and postgres.supports(fams)
        if export.mode == "append":
            result.inserted = self._insert(conn, tbl, df, fams, fast)
        elif export.mode == "replace":
            conn.execute(tbl.delete())  # not TRUNCATE: readers keep seeing the old rows until commit
            result.deleted, result.inserted = old_count, self._insert(conn, tbl, df, fams, fast)
        elif fast and old_count == 0:
            result.inserted = self._insert(conn, tbl, df, fams, fast)  # nothing to compare against
        elif fast:
            staging = postgres.stage(conn, tbl, df)
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
            changes = self._diff(conn, tbl, df, export, fams)
            if export.mode == "insert_new":
                changes.updates = changes.updates.iloc[0:0]
            self._guard_deletes(len(changes.deletes), old_count, export, where)
            result.inserted = self._insert(conn, tbl, changes.inserts, fams, fast=False)
            result.updated = self._update(conn, tbl, changes.updates, export.keys, fams)
            result.deleted = self._delete(conn, tbl, changes.deletes, export.keys)
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
        return result

    def _diff(
        self, conn: sa.Connection, tbl: sa.Table, df: pd.DataFrame, export: Export, fams: dict[str, str]
    ) -> Changes:
        wanted = list(export.keys) if export.mode == "insert_new" else list(df.columns)
        # MySQL reflects DOUBLE as asdecimal=True (10 digits): read floats back as floats.
        cols = [
            sa.type_coerce(tbl.c[c], sa.Double()).label(c) if isinstance(tbl.c[c].type, sa.Float) else tbl.c[c]
            for c in wanted
            if c in tbl.c
        ]
        rows = conn.execute(sa.select(*cols)).all()
        # Object columns keep the driver's exact values (no float detour for ints with NULLs).
        old = pd.DataFrame({c.name: pd.Series([r[i] for r in rows], dtype=object) for i, c in enumerate(cols)})
        new = df[list(export.keys)] if export.mode == "insert_new" else df
        changes = diff(old, new, export.keys, fams, deletes=export.mode == "sync")
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

    def _insert(self, conn: sa.Connection, tbl: sa.Table, df: pd.DataFrame, fams: dict[str, str], fast: bool) -> int:
        if fast:
            return postgres.copy_into(conn, tbl, df)
        for batch in _records(df, fams, conn.dialect.name):
            conn.execute(tbl.insert(), batch)
        return len(df)

    def _update(
        self, conn: sa.Connection, tbl: sa.Table, df: pd.DataFrame, keys: Sequence[str], fams: dict[str, str]
    ) -> int:
        values = [c for c in df.columns if c not in keys]
        if df.empty or not values:
            return 0
        stmt = (
            tbl.update()
            .where(sa.and_(*(tbl.c[k] == sa.bindparam(f"k__{k}") for k in keys)))
            .values({c: sa.bindparam(f"v__{c}") for c in values})
        )
        renamed = df.rename(columns={c: (f"k__{c}" if c in keys else f"v__{c}") for c in df.columns})
        fams = {(f"k__{c}" if c in keys else f"v__{c}"): f for c, f in fams.items()}
        for batch in _records(renamed, fams, conn.dialect.name):
            conn.execute(stmt, batch)
        return len(df)

    def _delete(self, conn: sa.Connection, tbl: sa.Table, keys_df: pd.DataFrame, keys: Sequence[str]) -> int:
        if keys_df.empty:
            return 0
        stmt = tbl.delete().where(sa.and_(*(tbl.c[k] == sa.bindparam(f"k__{k}") for k in keys)))
        renamed = keys_df.rename(columns={k: f"k__{k}" for k in keys})
        for start in range(0, len(renamed), _BATCH):
            conn.execute(stmt, renamed.iloc[start : start + _BATCH].to_dict("records"))
        return len(keys_df)


def sample_keys(df: pd.DataFrame, keys: Sequence[str], n: int = PREVIEW_ROWS) -> list[dict[str, Any]]:
    """The first ``n`` keys of ``df`` as plain Python values (JSON- and metadata-friendly)."""
    head = df[list(keys)].head(n)
    return [{k: _plain(v) for k, v in row.items()} for row in head.to_dict("records")]


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, (str, bytes)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _records(df: pd.DataFrame, fams: dict[str, str], dialect: str) -> Iterator[list[dict[str, Any]]]:
    """DataFrame rows as DBAPI-ready dicts: Python scalars, NULL for every missing value."""
    for start in range(0, len(df), _BATCH):
        chunk = df.iloc[start : start + _BATCH]
        cols = {}
        for col in chunk.columns:
            s = chunk[col]
            if fams.get(col) == "timestamptz" and dialect != "postgresql":
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)  # stored as naive UTC
            if isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype(s.dtype.categories.dtype)
            obj = s.astype(object)
            cols[col] = obj.where(s.notna(), None).tolist()
        names = list(cols)
        yield [dict(zip(names, row)) for row in zip(*cols.values())]
