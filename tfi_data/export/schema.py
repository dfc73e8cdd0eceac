"""Table shape: DataFrame dtypes -> SQL types, table creation, schema changes, name checks."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from pandas.api import types as ptypes
from sqlalchemy.dialects import mysql


class SchemaError(ValueError):
    """The data does not fit the table (or no database would accept a name)."""


# Families make "compatible" precise: a value family may be written into a column of the
# same family (ints also into floats/decimals, dates into timestamps and back).
def frame_family(series: pd.Series) -> str:
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "bool"
    if ptypes.is_integer_dtype(dtype):
        return "int"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "timestamp"
    if ptypes.is_timedelta64_dtype(dtype):
        return "interval"
    if isinstance(dtype, pd.CategoricalDtype):
        return frame_family(pd.Series(dtype.categories))
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {
        "string": "str",
        "empty": "str",
        "date": "date",
        "decimal": "decimal",
        "boolean": "bool",
        "integer": "int",
        "floating": "float",
        "mixed-integer-float": "float",
        "datetime": "timestamp",
        "bytes": "bytes",
    }.get(inferred, "mixed:" + inferred)


def sql_family(sql_type: sa.types.TypeEngine) -> str:
    # Order matters: Boolean before Integer (MySQL booleans reflect as TINYINT).
    checks = (
        (sa.Boolean, "bool"),
        (sa.Integer, "int"),
        (sa.Float, "float"),
        (sa.Numeric, "decimal"),
        (sa.DateTime, "timestamp"),
        (sa.Date, "date"),
        (sa.Interval, "interval"),
        (sa.LargeBinary, "bytes"),
        (sa.String, "str"),
    )
    for cls, family in checks:
        if isinstance(sql_type, cls):
            if family == "timestamp" and getattr(sql_type, "timezone", False):
                return "timestamptz"
            return family
    return "other"


_COMPATIBLE = {
    "int": {"int", "float", "decimal", "bool"},
    "bool": {"bool", "int"},
    "float": {"float", "decimal"},
    "decimal": {"decimal", "float"},
    "str": {"str"},
    "date": {"date", "timestamp", "timestamptz"},
    "timestamp": {"timestamp", "timestamptz", "date"},
    "timestamptz": {"timestamptz", "timestamp"},
    "interval": {"interval"},
    "bytes": {"bytes"},
}


def compatible(new_family: str, old_family: str) -> bool:
    return old_family == "other" or old_family in _COMPATIBLE.get(new_family, ())


def sql_type(family: str, *, key: bool, dialect: sa.Dialect) -> sa.types.TypeEngine:
    if dialect.name in ("mysql", "mariadb"):
        mysql_type = _mysql_type(family, key=key, mariadb=getattr(dialect, "is_mariadb", False))
        if mysql_type is not None:
            return mysql_type
    return {
        "bool": sa.Boolean(),
        "int": sa.BigInteger(),
        "float": sa.Double(),
        "decimal": sa.Numeric(),
        "timestamp": sa.DateTime(),
        "timestamptz": sa.DateTime(timezone=True),
        "date": sa.Date(),
        "interval": sa.Interval(),
        "bytes": sa.LargeBinary(),
        "str": sa.Text(),
    }[family]


def _mysql_type(family: str, *, key: bool, mariadb: bool) -> sa.types.TypeEngine | None:
    if family == "decimal":  # the default DECIMAL(10,0) would round
        return mysql.DECIMAL(65, 30)
    if family in ("timestamp", "timestamptz"):  # DATETIME drops fractions of a second by default
        return mysql.DATETIME(fsp=6)
    if family == "str":
        # Binary and NO PAD, so 'a', 'A' and 'a ' stay three values as in pandas and PostgreSQL;
        # keys are a bounded VARCHAR because TEXT cannot be indexed.
        collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
        return mysql.VARCHAR(255, collation=collation) if key else mysql.TEXT(collation=collation)
    return None


def check_names(table: str, schema: str | None, columns: Sequence[object], dialect: sa.Dialect) -> None:
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


def families(df: pd.DataFrame, table: str) -> dict[str, str]:
    out = {}
    for col in df.columns:
        fam = frame_family(df[col])
        if fam.startswith("mixed:"):
            sample = df[col].dropna().map(type).map(lambda t: t.__name__).unique()[:4]
            raise SchemaError(
                f"table {table!r}: column {col!r} mixes value types ({', '.join(sample)}); cast it in the transformer"
            )
        out[col] = fam
    return out


def create_table(
    conn: sa.Connection, table: str, schema: str | None, fams: dict[str, str], keys: Sequence[str]
) -> sa.Table:
    columns = [
        # autoincrement=False: a key holds the data's values, never a SERIAL/AUTO_INCREMENT default.
        sa.Column(
            name, sql_type(fam, key=name in keys, dialect=conn.dialect), nullable=name not in keys, autoincrement=False
        )
        for name, fam in fams.items()
    ]
    if keys:
        columns.append(sa.PrimaryKeyConstraint(*keys))
    tbl = sa.Table(table, sa.MetaData(), *columns, schema=schema)
    tbl.create(conn)
    return tbl


def reflect(conn: sa.Connection, table: str, schema: str | None) -> sa.Table | None:
    if not sa.inspect(conn).has_table(table, schema=schema):
        return None
    return sa.Table(table, sa.MetaData(), schema=schema, autoload_with=conn)


def conform(df: pd.DataFrame, tbl: sa.Table, fams: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Integer table columns take float data whose values are all whole numbers (pandas turns an
    int column with a gap into floats) as Int64; anything fractional stays a type error."""
    casts = {}
    for name, fam in fams.items():
        if fam == "float" and name in tbl.c and sql_family(tbl.c[name].type) == "int":
            values = df[name].dropna()
            if (values == values.round()).all():
                casts[name] = df[name].astype("Int64")
    if not casts:
        return df, fams
    return df.assign(**casts), {**fams, **dict.fromkeys(casts, "int")}


def evolve(conn: sa.Connection, tbl: sa.Table, fams: dict[str, str], policy: str, where: str) -> sa.Table:
    """Check the data fits the existing table; add new columns when the policy allows."""
    existing = {c.name: c for c in tbl.columns}
    for name, fam in fams.items():
        col = existing.get(name)
        if col is not None and not compatible(fam, sql_family(col.type)):
            raise SchemaError(
                f"{where}: column {name!r} is {col.type} in the table but the data is {fam}; "
                "an incompatible type change needs a migration"
            )
    new = [name for name in fams if name not in existing]
    if not new:
        return tbl
    if policy == "freeze":
        raise SchemaError(f"{where}: new column(s) {new} and schema_changes='freeze'")
    ops = Operations(MigrationContext.configure(conn))
    for name in new:
        column = sa.Column(name, sql_type(fams[name], key=False, dialect=conn.dialect), nullable=True)
        ops.add_column(tbl.name, column, schema=tbl.schema)
    return sa.Table(tbl.name, sa.MetaData(), schema=tbl.schema, autoload_with=conn)
