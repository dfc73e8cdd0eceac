"""Table shape: each column's type (rules, else the table, else the data), name checks,
table creation and the schema changes an export may make (add a column, widen a type)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from tfi_data.export import types as ty
from tfi_data.export.types import ColumnType, TypeProblem

# Databases that change a column's type inside the export's transaction (MySQL/MariaDB commit
# DDL implicitly; SQLite cannot ALTER a column's type at all).
_WIDENS_IN_TRANSACTION = ("postgresql",)
# PostgreSQL's limit on columns in a table (staging adds none beyond the data's own).
PG_MAX_COLUMNS = 1600


class SchemaError(ValueError):
    """The data does not fit the table (or no database would accept a name)."""


@dataclass
class Layout:
    """What an export does to the table's shape and to the frame's values."""

    frame: pd.DataFrame  # the data's columns that are written, as the database stores them
    types: dict[str, ColumnType]  # each written column's type in the table (after the changes)
    data: dict[str, ColumnType | None]  # what the data alone says each column is
    add: list[str] = field(default_factory=list)  # new columns
    widen: dict[str, ColumnType] = field(default_factory=dict)  # existing columns made wider
    waiting: list[str] = field(default_factory=list)  # no value and no type yet: not created


def fold(name: str, dialect: sa.Dialect) -> str:
    """The form under which ``dialect`` (or a case-insensitive one) takes two names as one."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    if dialect.name in ("mysql", "mariadb"):  # column names compare accent-insensitively there
        folded = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    return folded


def check_names(
    table: str,
    schema: str | None,
    columns: Sequence[object],
    dialect: sa.Dialect,
    existing: Sequence[str] = (),
) -> None:
    limit = dialect.max_identifier_length or 63
    names = [("table", table)] + ([("schema", schema)] if schema else [])
    names += [("column", c) for c in columns]
    for what, name in names:
        if not isinstance(name, str):
            raise SchemaError(f"table {table!r}: {what} name {name!r} is not a string")
        if not name or name != name.strip() or "\x00" in name or len(name) > limit:
            raise SchemaError(
                f"table {table!r}: {what} name {name!r} is not accepted by {dialect.name} "
                f"(empty, surrounding spaces, NUL, or longer than {limit} characters)"
            )
        if dialect.name in ("mysql", "mariadb") and ("`" in name or "\n" in name or "\r" in name):
            # MariaDB stores such a name, but SQLAlchemy's MySQL reflection reads it back wrong
            # (a doubled backtick kept, a line break lost), so every later export would fail
            raise SchemaError(
                f"table {table!r}: {what} name {name!r} has a backtick or a line break, which "
                f"{dialect.name} cannot give back to tfi-data intact; rename it"
            )
    seen: dict[str, str] = {}
    for name in list(existing) + [c for c in columns if c not in existing]:
        other = seen.setdefault(fold(name, dialect), name)
        if other != name:
            where = "the table's column" if other in existing else "the data's column"
            raise SchemaError(
                f"table {table!r}: column {name!r} collides with {where} {other!r} (names that differ only in "
                "case or accents are one name on case-insensitive databases); rename one of them"
            )


def reflect(conn: sa.Connection, table: str, schema: str | None) -> sa.Table | None:
    inspector = sa.inspect(conn)
    if conn.dialect.name == "sqlite":
        # SQLite takes `Orders` and `orders` as one table: writing one would change the other's rows
        other = [
            t
            for t in inspector.get_table_names(schema=schema)
            if t != table and fold(t, conn.dialect) == fold(table, conn.dialect)
        ]
        if other:
            raise SchemaError(
                f"table {table!r} is the table {other[0]!r} on sqlite, which ignores case in table names: "
                "export into the table by its own name, or rename one of them"
            )
    if not inspector.has_table(table, schema=schema):
        return None
    return sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)


def plan_layout(
    df: pd.DataFrame,
    tbl: sa.Table | None,
    declared: Mapping[str, ColumnType],
    keys: Sequence[str],
    dialect: sa.Dialect,
    policy: str,
    where: str,
) -> Layout:
    """Each column's type and the frame's values as the database will store them. Every
    problem is collected first, so one error names every offending column."""
    problems: list[str] = []
    data: dict[str, ColumnType | None] = {}
    for name in df.columns:
        try:
            data[name] = ty.from_data(df[name])
        except TypeProblem as exc:
            problems.append(f"column {name!r} {exc}")
    if problems:
        raise SchemaError(f"{where}: " + "; ".join(problems))

    layout = Layout(frame=df, types={}, data=data)
    values: dict[str, pd.Series] = {}
    for name in df.columns:
        column = tbl.c[name] if tbl is not None and name in tbl.c else None
        existing = None
        decl = declared.get(name)
        found = data[name]
        if column is None:
            target = decl or found
            if target is None:
                if name in keys:
                    target = ColumnType("str")
                else:
                    layout.waiting.append(name)
                    continue
            if tbl is not None:
                layout.add.append(name)
        else:
            existing = ty.from_sql(column.type)
            if existing is None:  # a type tfi-data does not model: values go in as they are
                layout.types[name] = found or ColumnType("str")
                values[name] = df[name]
                continue
            if existing.kind == "timestamp" and dialect.name != "postgresql":
                # SQLite and MySQL/MariaDB have no zone-aware type: tz-aware values are kept as naive UTC
                zone = decl.tz if decl is not None and decl.kind == "timestamptz" else None
                if zone or (found is not None and found.kind == "timestamptz"):
                    existing = ColumnType("timestamptz", precision=existing.precision, tz=zone)
            target = existing
            table_type = ty.sql_text(column.type, dialect)
            if decl is not None and not ty.satisfies(existing, decl):
                if not ty.widening(existing, decl):
                    problems.append(
                        f"column {name!r} is {table_type} in the table but the rules declare {decl}; an existing "
                        "column is never narrowed or re-typed by an export (migrate it, or change the rules)"
                    )
                    continue
                target = decl
            if found is not None and not ty.fits(found, target):
                wider = found if ty.widening(target, found) else None
                if wider is None:
                    hint = (
                        "flatten it in the transformer (pandas.json_normalize, Series.explode) or json.dumps it"
                        if found.kind == "json"
                        else "an incompatible type change needs a migration"
                    )
                    problems.append(f"column {name!r} is {table_type} in the table but the data is {found}; {hint}")
                    continue
                target = wider
        if target.kind == "interval" and dialect.name != "postgresql":
            problems.append(
                f"column {name!r} holds time spans, which only PostgreSQL stores (INTERVAL); convert it in the "
                "transformer, e.g. with Series.dt.total_seconds()"
            )
            continue
        try:
            values[name] = ty.stored(df[name], target, dialect.name, data=found)
        except (ValueError, TypeError, OverflowError) as exc:  # TypeProblem, or a value pandas cannot convert
            exc = exc if isinstance(exc, TypeProblem) else TypeProblem(f"has a value that is not {target}: {exc}")
            wider = _wider_for(target, found)
            if column is None or wider is None or decl is not None:
                origin = "declared in the rules as" if decl is not None else "is"
                in_table = f"{ty.sql_text(column.type, dialect)} in the table" if column is not None else str(target)
                problems.append(f"column {name!r} {origin if column is None else 'is'} {in_table} but the data {exc}")
                continue
            target = wider
            values[name] = ty.stored(df[name], target, dialect.name, data=found)
        if column is not None and target != existing:
            problem = _widen_problem(name, column, target, found, dialect, policy)
            if problem:
                problems.append(problem)
                continue
            layout.widen[name] = target
        layout.types[name] = target
    if problems:
        raise SchemaError(f"{where}: " + "; ".join(problems))
    if layout.add and policy == "freeze":
        raise SchemaError(f"{where}: new column(s) {layout.add} and schema_changes='freeze'")
    layout.frame = pd.DataFrame(values, index=df.index) if values else df.drop(columns=list(df.columns))
    return layout


def _wider_for(column: ColumnType, data: ColumnType | None) -> ColumnType | None:
    """The type a column would need for data that does not fit it (a fraction in an int column)."""
    if data is None:
        return None
    if ty.widening(column, data):
        return data
    if column.kind == "int" and data.kind in ("float", "decimal"):
        return data
    if column.kind in ("str", "decimal") and data.kind == column.kind:
        return ColumnType(column.kind)
    return None


def _db_name(dialect: sa.Dialect) -> str:
    return (
        "MariaDB"
        if getattr(dialect, "is_mariadb", False)
        else {"mysql": "MySQL", "sqlite": "SQLite"}.get(dialect.name, dialect.name)
    )


def _widen_problem(
    name: str, column: sa.Column, target: ColumnType, found: ColumnType | None, dialect: sa.Dialect, policy: str
) -> str | None:
    have = ty.sql_text(column.type, dialect)
    want = ty.sql_text(ty.sql_type(target, dialect, key=column.primary_key), dialect)
    data = f"the data is {found or target}"
    if policy != "widen":
        can = dialect.name in _WIDENS_IN_TRANSACTION
        return (
            f"column {name!r} is {have} in the table but {data}: it needs {want}; "
            + ("schema_changes='widen' lets the export widen it" if can else f"migrate it ({_db_name(dialect)} ")
            + ("" if can else "cannot widen a column inside the export's transaction)")
        )
    if dialect.name not in _WIDENS_IN_TRANSACTION:
        reason = "commits ALTER TABLE at once" if dialect.name in ("mysql", "mariadb") else "cannot ALTER a type"
        return (
            f"column {name!r} is {have} in the table but {data}: it needs {want}; {_db_name(dialect)} {reason}, "
            "so it cannot be widened inside the export's transaction: migrate it first"
        )
    return None


def table_object(
    table: str, schema: str | None, types: Mapping[str, ColumnType], keys: Sequence[str], dialect: sa.Dialect
) -> sa.Table:
    """The table as ``create_table`` would make it (used by plans, which create nothing)."""
    columns = [
        # autoincrement=False: a key holds the data's values, never a SERIAL/AUTO_INCREMENT default.
        sa.Column(name, ty.sql_type(ct, dialect, key=name in keys), nullable=name not in keys, autoincrement=False)
        for name, ct in types.items()
    ]
    if keys:
        columns.append(sa.PrimaryKeyConstraint(*keys))
    return sa.Table(table, sa.MetaData(), *columns, schema=schema)


def create_table(
    conn: sa.Connection, table: str, schema: str | None, types: Mapping[str, ColumnType], keys: Sequence[str]
) -> sa.Table:
    tbl = table_object(table, schema, types, keys, conn.dialect)
    tbl.create(conn)
    return tbl


def evolve(conn: sa.Connection, tbl: sa.Table, layout: Layout) -> tuple[sa.Table, list[str]]:
    """Add the new columns and widen the columns the layout widens; returns the table as it is
    now and a line per change."""
    if not layout.add and not layout.widen:
        return tbl, []
    dialect = conn.dialect
    ops = Operations(MigrationContext.configure(conn))
    changes = []
    for name, target in layout.widen.items():
        old = tbl.c[name].type
        new = ty.sql_type(target, dialect, key=tbl.c[name].primary_key)
        ops.alter_column(tbl.name, name, type_=new, existing_type=old, schema=tbl.schema)
        changes.append(f"widened column {name!r} from {ty.sql_text(old, dialect)} to {ty.sql_text(new, dialect)}")
    for name in layout.add:
        column = sa.Column(name, ty.sql_type(layout.types[name], dialect), nullable=True)
        ops.add_column(tbl.name, column, schema=tbl.schema)
        changes.append(f"added column {name!r} {ty.sql_text(column.type, dialect)}")
    return sa.Table(tbl.name, sa.MetaData(), schema=tbl.schema, autoload_with=conn), changes


def planned_changes(tbl: sa.Table, layout: Layout, dialect: sa.Dialect) -> list[str]:
    """The lines ``evolve`` would report, without changing anything."""
    out = []
    for name, target in layout.widen.items():
        new = ty.sql_type(target, dialect, key=tbl.c[name].primary_key)
        out.append(
            f"widened column {name!r} from {ty.sql_text(tbl.c[name].type, dialect)} to {ty.sql_text(new, dialect)}"
        )
    for name in layout.add:
        out.append(f"added column {name!r} {ty.sql_text(ty.sql_type(layout.types[name], dialect), dialect)}")
    return out


def column_types(tbl: sa.Table, dialect: sa.Dialect, layout: Layout | None = None) -> dict[str, str]:
    """The table's columns (in table order, then planned new ones) and their SQL type names."""
    out = {}
    for column in tbl.columns:
        if layout is not None and column.name in layout.widen:
            out[column.name] = ty.sql_text(
                ty.sql_type(layout.widen[column.name], dialect, key=column.primary_key), dialect
            )
        else:
            out[column.name] = ty.sql_text(column.type, dialect)
    for name in layout.add if layout is not None else ():
        out[name] = ty.sql_text(ty.sql_type(layout.types[name], dialect), dialect)
    return out
