"""Column types: the one place that decides what type a table's column is, and what its values
become in the database.

A column's type comes, in this order, from the rules (``type:`` with the optional ``precision``,
``scale``, ``length`` and ``tz``), from the existing table, or from the data with the widest safe
choice. A column with no value and no declared type has no type yet: it waits for data.
Values are compared in what the database stores (``stored`` below), so a rerun of the same
frame finds nothing to change on any dialect.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from pandas.api import types as ptypes
from sqlalchemy.dialects import mysql, postgresql

KINDS = ("bool", "int", "float", "decimal", "str", "date", "timestamp", "timestamptz", "json", "bytes", "interval")
# rules ``type:`` -> kind (``number`` states no kind of its own unless it has a precision)
RULE_KINDS = {
    "int": "int",
    "float": "float",
    "number": None,
    "bool": "bool",
    "str": "str",
    "date": "date",
    "datetime": "timestamp",
    "json": "json",
}
# A validated frame carries the column types its rules declare in ``df.attrs[COLUMN_TYPES_ATTR]``
# (set by the validation's ``enforce``, kept by the cache, read by the Exporter).
COLUMN_TYPES_ATTR = "column_types"
_MYSQL_DECIMAL = (65, 30)  # the widest DECIMAL MySQL/MariaDB has
_INT64 = 2**63


class TypeProblem(ValueError):
    """Data that does not fit a column's type (the caller names table and column)."""


@dataclass(frozen=True)
class ColumnType:
    """A column's type, independent of the dialect. ``precision``/``scale`` are digits of a
    decimal; ``precision`` of a timestamp is its fractional-second digits (default 6);
    ``length`` bounds text; ``tz`` is the zone naive timestamps are read in (timestamptz)."""

    kind: str
    precision: int | None = None
    scale: int | None = None
    length: int | None = None
    tz: str | None = None

    def __str__(self) -> str:
        if self.kind == "decimal" and self.precision is not None:
            return f"decimal({self.precision},{self.scale or 0})"
        if self.kind == "str" and self.length is not None:
            return f"str({self.length})"
        if self.kind in ("timestamp", "timestamptz") and self.precision not in (None, 6):
            return f"{self.kind}({self.precision})"
        return self.kind

    @property
    def fraction_digits(self) -> int:
        return 6 if self.precision is None else self.precision


# -- where a type comes from --------------------------------------------------------------


def from_rule(spec: Mapping[str, Any] | str | None) -> ColumnType | None:
    """The type a rules entry states (None: it states none). Keys: type, precision, scale,
    length, tz (``true`` or a zone name: timestamps with a time zone)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = {"type": spec}
    name = spec.get("type")
    precision, scale, length, tz = (spec.get(k) for k in ("precision", "scale", "length", "tz"))
    kind = RULE_KINDS.get(name) if name is not None else None
    if name == "number" and precision is not None:
        kind = "decimal"
    if kind is None and name is not None and name not in RULE_KINDS:
        raise TypeProblem(f"unknown type {name!r}")
    if tz not in (None, False) and kind in (None, "timestamp"):
        kind = "timestamptz"
    if kind is None:
        return None
    return ColumnType(
        kind,
        precision=int(precision) if precision is not None else None,
        scale=int(scale) if scale is not None else (0 if kind == "decimal" and precision is not None else None),
        length=int(length) if length is not None else None,
        tz=("UTC" if tz is True else str(tz)) if kind == "timestamptz" and tz not in (None, False) else None,
    )


def from_sql(sql_type: sa.types.TypeEngine) -> ColumnType | None:
    """The type of a table's column as reflected (None: a type tfi-data does not model)."""
    # Order matters: Boolean before Integer (MySQL booleans reflect as TINYINT(1)).
    if isinstance(sql_type, sa.Boolean) or (isinstance(sql_type, mysql.TINYINT) and sql_type.display_width == 1):
        return ColumnType("bool")
    if isinstance(sql_type, sa.JSON):
        return ColumnType("json")
    if isinstance(sql_type, sa.Integer):
        return ColumnType("int")
    if isinstance(sql_type, sa.Float):
        return ColumnType("float")
    if isinstance(sql_type, sa.Numeric):
        if sql_type.precision is None:
            return ColumnType("decimal")
        return ColumnType("decimal", precision=sql_type.precision, scale=sql_type.scale or 0)
    if isinstance(sql_type, sa.DateTime):
        digits = getattr(sql_type, "fsp", None)
        if digits is None:
            digits = getattr(sql_type, "precision", None)
        kind = "timestamptz" if getattr(sql_type, "timezone", False) else "timestamp"
        return ColumnType(kind, precision=digits)
    if isinstance(sql_type, sa.Date):
        return ColumnType("date")
    if isinstance(sql_type, sa.Interval):
        return ColumnType("interval")
    if isinstance(sql_type, sa.LargeBinary):
        return ColumnType("bytes")
    if isinstance(sql_type, sa.String):
        return ColumnType("str", length=sql_type.length if isinstance(sql_type, (sa.VARCHAR, sa.CHAR)) else None)
    return None


def _is_nested(value: Any) -> bool:
    return isinstance(value, (list, dict, tuple, np.ndarray))


def from_data(series: pd.Series) -> ColumnType | None:
    """The widest safe type for a column's values (None: no value says what it is yet).
    Also the error for values of mixed types, naming what they are."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return from_data(pd.Series(dtype.categories)) if series.notna().any() else None
    if isinstance(dtype, pd.ArrowDtype):
        return _from_arrow(dtype.pyarrow_dtype, series)
    if ptypes.is_bool_dtype(dtype):
        return ColumnType("bool")
    if ptypes.is_unsigned_integer_dtype(dtype) and dtype.itemsize == 8:
        return ColumnType("decimal", precision=20, scale=0)  # past BIGINT
    if ptypes.is_integer_dtype(dtype):
        return ColumnType("int")
    if ptypes.is_float_dtype(dtype):
        return ColumnType("float")
    if isinstance(dtype, pd.DatetimeTZDtype):
        return ColumnType("timestamptz")
    if ptypes.is_datetime64_any_dtype(dtype):
        return ColumnType("timestamp")
    if ptypes.is_timedelta64_dtype(dtype):
        return ColumnType("interval")
    if isinstance(dtype, pd.StringDtype):
        return ColumnType("str")
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred == "empty":
        return None
    if inferred == "integer":
        values = series.dropna()
        big = values.map(lambda v: not -_INT64 <= int(v) < _INT64).any()
        return ColumnType("decimal") if big else ColumnType("int")
    if inferred == "datetime":
        aware = series.dropna().map(lambda v: getattr(v, "tzinfo", None) is not None)
        if aware.all():
            return ColumnType("timestamptz")
        if aware.any():
            raise TypeProblem("mixes timestamps with and without a time zone")
        return ColumnType("timestamp")
    simple = {
        "string": "str",
        "date": "date",
        "decimal": "decimal",
        "boolean": "bool",
        "floating": "float",
        "mixed-integer-float": "float",
        "bytes": "bytes",
        "timedelta": "interval",
    }
    if inferred in simple:
        return ColumnType(simple[inferred])
    values = series.dropna()
    if len(values) and values.map(_is_nested).all():
        return ColumnType("json")
    kinds = sorted({type(v).__name__ for v in values.head(1000)})
    raise TypeProblem(f"mixes value types ({', '.join(kinds)}); cast it in the transformer")


def _from_arrow(t: pa.DataType, series: pd.Series) -> ColumnType | None:
    if pa.types.is_null(t):
        return None
    if pa.types.is_nested(t):
        return ColumnType("json")
    if pa.types.is_boolean(t):
        return ColumnType("bool")
    if pa.types.is_unsigned_integer(t) and t.bit_width == 64:
        return ColumnType("decimal", precision=20, scale=0)
    if pa.types.is_integer(t):
        return ColumnType("int")
    if pa.types.is_floating(t):
        return ColumnType("float")
    if pa.types.is_decimal(t):
        return ColumnType("decimal")
    if pa.types.is_timestamp(t):
        return ColumnType("timestamptz" if t.tz else "timestamp")
    if pa.types.is_date(t):
        return ColumnType("date")
    if pa.types.is_duration(t):
        return ColumnType("interval")
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return ColumnType("bytes")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return ColumnType("str")
    return from_data(series.astype(object))


# -- the database's side --------------------------------------------------------------------


def sql_type(ct: ColumnType, dialect: sa.Dialect, *, key: bool = False) -> sa.types.TypeEngine:
    """The SQL type a column of ``ct`` is created with on ``dialect``."""
    name = dialect.name
    on_mysql = name in ("mysql", "mariadb")
    kind = ct.kind
    if kind == "bool":  # MySQL's BOOL is TINYINT(1): named as the database names it
        return mysql.TINYINT(1) if on_mysql else sa.Boolean()
    if kind == "int":
        return sa.BigInteger()
    if kind == "float":
        return sa.Double()
    if kind == "decimal":
        if on_mysql:
            return mysql.DECIMAL(*((ct.precision, ct.scale or 0) if ct.precision is not None else _MYSQL_DECIMAL))
        return sa.Numeric(ct.precision, ct.scale or 0) if ct.precision is not None else sa.Numeric()
    if kind in ("timestamp", "timestamptz"):
        tz = kind == "timestamptz"
        if on_mysql:  # DATETIME drops fractions of a second by default; stored as naive UTC
            return mysql.DATETIME(fsp=ct.fraction_digits)
        if name == "postgresql":
            return postgresql.TIMESTAMP(timezone=tz, precision=ct.precision)
        return sa.DateTime(timezone=tz)
    if kind == "date":
        return sa.Date()
    if kind == "json":
        return postgresql.JSONB(none_as_null=True) if name == "postgresql" else sa.JSON(none_as_null=True)
    if kind == "bytes":
        return sa.LargeBinary()
    if kind == "interval":
        return sa.Interval()
    if kind == "str":
        if on_mysql:
            # Binary and NO PAD, so 'a', 'A' and 'a ' stay three values as in pandas and PostgreSQL;
            # keys are a bounded VARCHAR because TEXT cannot be indexed.
            collation = "utf8mb4_nopad_bin" if getattr(dialect, "is_mariadb", False) else "utf8mb4_0900_bin"
            if ct.length is not None or key:
                return mysql.VARCHAR(ct.length or 255, collation=collation)
            return mysql.TEXT(collation=collation)
        return sa.String(ct.length) if ct.length is not None else sa.Text()
    raise TypeProblem(f"no SQL type for {kind}")


def bind_type(column: sa.Column) -> sa.types.TypeEngine:
    """The type values are bound with for ``column``: a JSON column's NULL is SQL NULL, not the
    JSON text ``null`` (SQLAlchemy's default for reflected JSON columns)."""
    t = column.type
    if isinstance(t, sa.JSON) and not t.none_as_null:
        t = t.copy()
        t.none_as_null = True
    return t


def sql_text(sql_type_: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    """The database's name for a type, as SQL text (``BIGINT``, ``NUMERIC(12, 2)``)."""
    t = sql_type_
    if dialect.name in ("mysql", "mariadb"):
        if isinstance(t, sa.JSON) and getattr(dialect, "is_mariadb", False):
            return "LONGTEXT"  # MariaDB's JSON is an alias of LONGTEXT (with a json_valid check)
        if isinstance(t, (mysql.BIGINT, mysql.INTEGER, mysql.SMALLINT)) and t.display_width:
            t = t.copy()  # BIGINT(20): the width is only a display hint
            t.display_width = None
    if getattr(t, "collation", None) or getattr(t, "charset", None):  # a type, not its collation
        t = t.copy()
        t.collation = None
        if hasattr(t, "charset"):
            t.charset = None
    try:
        return t.compile(dialect=dialect)
    except sa.exc.CompileError:
        return str(t)


# -- what a column accepts ----------------------------------------------------------------------

# data kind -> column kinds it may be written into as it is (values are checked where lossy)
_FITS = {
    "int": {"int", "float", "decimal", "bool"},
    "bool": {"bool", "int"},
    "float": {"float", "decimal", "int"},
    "decimal": {"decimal", "float", "int"},
    "str": {"str"},
    "date": {"date", "timestamp", "timestamptz"},
    "timestamp": {"timestamp", "timestamptz", "date"},
    "timestamptz": {"timestamptz", "timestamp", "date"},
    "interval": {"interval"},
    "bytes": {"bytes"},
    "json": {"json", "str"},
}


def fits(data: ColumnType, column: ColumnType) -> bool:
    return column.kind in _FITS.get(data.kind, ())


def widening(column: ColumnType, wanted: ColumnType) -> bool:
    """Whether changing a ``column`` to ``wanted`` keeps every value it can hold (a float column
    holds integers exactly up to 2**53, which is what choosing float for them means)."""
    if column.kind != wanted.kind:
        return (column.kind, wanted.kind) in {("int", "float"), ("int", "decimal"), ("date", "timestamp")}
    if column.kind == "str":
        return column.length is not None and (wanted.length is None or wanted.length > column.length)
    if column.kind == "decimal":
        if column.precision is None:
            return False
        if wanted.precision is None:
            return True
        cs, ws = column.scale or 0, wanted.scale or 0
        return ws >= cs and wanted.precision - ws >= column.precision - cs and wanted != column
    if column.kind in ("timestamp", "timestamptz"):
        return wanted.fraction_digits > column.fraction_digits
    return False


def satisfies(column: ColumnType, declared: ColumnType) -> bool:
    """Whether an existing column is what the rules declare (only the stated attributes count)."""
    if column.kind != declared.kind:
        return False
    for attr in ("precision", "scale", "length"):
        want = getattr(declared, attr)
        if want is not None and getattr(column, attr) != want:
            if attr == "precision" and column.kind in ("timestamp", "timestamptz") and column.fraction_digits == want:
                continue
            return False
    return True


# -- values as the database stores them ----------------------------------------------------


def stored(series: pd.Series, column: ColumnType, dialect: str, *, data: ColumnType | None = None) -> pd.Series:
    """``series`` converted to what ``dialect`` keeps in a ``column``: timestamps at the
    column's precision with the database's rounding (PostgreSQL rounds half to even, MySQL/MariaDB
    and SQLite truncate), decimals at the column's scale (half away from zero), floats as float64,
    JSON as compact text. Raises ``TypeProblem`` for a value the column cannot hold."""
    s = series
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(s.dtype.categories.dtype)
    kind = column.kind
    if kind in ("timestamp", "timestamptz"):
        return _timestamps(s, column, dialect)
    if kind == "date":
        return _dates(s)
    if kind == "int":
        return _ints(s)
    if kind == "bool":
        if not ptypes.is_bool_dtype(s.dtype):
            values = _ints(s)
            if not values.dropna().isin([0, 1]).all():
                raise TypeProblem("has values other than 0 and 1; a bool column holds only those")
            s = values
        return s.astype("boolean")
    if kind == "float":
        out = _floats(s)
        if dialect in ("mysql", "mariadb") and np.isinf(out.to_numpy(dtype="float64", na_value=np.nan)).any():
            raise TypeProblem(f"has an infinite value, which {dialect} cannot store")
        return out
    if kind == "decimal":
        if dialect == "sqlite":  # NUMERIC affinity keeps a REAL (15 significant digits)
            return _floats(s)
        return _decimals(s, column)
    if kind == "str" and (data or from_data(s) or ColumnType("str")).kind == "json":
        return json_text(s)
    if kind == "str":
        out = s if isinstance(s.dtype, pd.StringDtype) else s.astype("string")
        if dialect == "postgresql" and out.str.contains("\x00", regex=False).any():
            raise TypeProblem("has text with a NUL character (\\x00), which PostgreSQL text cannot hold")
        if column.length is not None and (out.str.len() > column.length).any():
            longest = int(out.str.len().max())
            raise TypeProblem(f"has text of {longest} characters; the column holds {column.length}")
        return out
    if kind == "json":
        return pd.Series([None if _missing(v) else _plain_json(v) for v in s], index=s.index, dtype=object)
    return s


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and math.isnan(v)


def _plain_json(v: Any, top: bool = True) -> Any:
    """A nested value as plain Python lists/dicts/scalars (Arrow and NumPy values included); a
    top-level string is JSON text already."""
    if isinstance(v, str):
        if not top:
            return v
        try:
            return json.loads(v)
        except ValueError:  # text that is not JSON stays text (and differs from any JSON value)
            return v
    if isinstance(v, np.ndarray):
        return [_plain_json(x, False) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_plain_json(x, False) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain_json(x, False) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def json_text(s: pd.Series) -> pd.Series:
    """Nested values as JSON text, keys sorted (the canonical form compared and written)."""
    return pd.Series(
        [
            None
            if not _is_nested(v) and _missing(v)
            else json.dumps(_plain_json(v), sort_keys=True, ensure_ascii=False)
            for v in s
        ],
        index=s.index,
        dtype=object,
    )


def _timestamps(s: pd.Series, column: ColumnType, dialect: str) -> pd.Series:
    if isinstance(s.dtype, pd.ArrowDtype):
        s = s.astype(object)
    if s.dtype == object:
        s = s.map(_naive_utc)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        ts = s.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        ts = pd.to_datetime(s)
        if isinstance(ts.dtype, pd.DatetimeTZDtype):
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        elif column.kind == "timestamptz" and column.tz not in (None, "UTC"):  # naive in the declared zone
            try:
                ts = ts.dt.tz_localize(column.tz).dt.tz_convert("UTC").dt.tz_localize(None)
            except (ValueError, TypeError) as exc:  # a time skipped or repeated by a clock change
                raise TypeProblem(f"has {exc}, which is not one moment in {column.tz} (a clock change)") from None
    ts = ts.astype("datetime64[ns]")
    unit = pd.Timedelta(10 ** (9 - column.fraction_digits), "ns")
    if unit > pd.Timedelta(1, "ns"):
        # PostgreSQL rounds to the column's precision (half to even, as rint); MySQL/MariaDB
        # (without TIME_ROUND_FRACTIONAL) and SQLite (via Python datetimes) truncate.
        ts = ts.dt.round(unit) if dialect == "postgresql" else ts.dt.floor(unit)
    if column.kind == "timestamptz" and dialect == "postgresql":  # an instant, whatever the session's zone
        ts = ts.dt.tz_localize("UTC")
    return ts


def _dates(s: pd.Series) -> pd.Series:
    """Dates as ``datetime.date`` (any year a database takes, not only pandas' 1677-2262)."""
    if isinstance(s.dtype, pd.ArrowDtype) or ptypes.is_datetime64_any_dtype(s.dtype):
        s = s.astype(object)
    out = []
    for v in s:
        if _missing(v):
            out.append(None)
        elif isinstance(v, dt.datetime):
            if v.time() != dt.time(0) or getattr(v, "nanosecond", 0):
                raise TypeProblem(f"has times of day (e.g. {v}); a date column would drop them")
            out.append(v.date())
        elif isinstance(v, dt.date):
            out.append(v)
        elif isinstance(v, str):
            out.append(dt.date.fromisoformat(v))
        else:
            raise TypeProblem(f"has {v!r}, which is not a date")
    return pd.Series(out, index=s.index, dtype=object)


def _naive_utc(v: object) -> object:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return pd.Timestamp(v).tz_convert("UTC").tz_localize(None)
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return pd.Timestamp(v)
    return v


def _ints(s: pd.Series) -> pd.Series:
    if ptypes.is_integer_dtype(s.dtype) or ptypes.is_bool_dtype(s.dtype):
        return s.astype("Int64")
    try:  # exact for 64-bit ints (a float detour would round above 2**53)
        return s.astype("Int64")
    except (TypeError, ValueError, OverflowError):
        pass
    values = s.dropna()
    try:
        whole = all(float(v) == int(v) for v in values)
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        sample = next((v for v in values if _not_whole(v)), None)
        raise TypeProblem(f"has values that are not whole numbers (e.g. {sample!r})")
    return pd.array([None if _missing(v) else int(v) for v in s], dtype="Int64")


def _not_whole(v: Any) -> bool:
    try:
        return float(v) != int(v)
    except (TypeError, ValueError, OverflowError):
        return True


def _floats(s: pd.Series) -> pd.Series:
    if s.dtype == object:
        s = s.map(lambda v: None if _missing(v) else float(v))
    try:
        values = pd.to_numeric(s, errors="raise")
    except (TypeError, ValueError) as exc:
        raise TypeProblem(f"has values that are not numbers ({exc})") from None
    # NaN is NULL in pandas' nullable floats (and in every database tfi-data writes)
    return values.astype("float64").astype("Float64")


def _decimals(s: pd.Series, column: ColumnType) -> pd.Series:
    places = column.scale if column.precision is not None else None
    quantum = decimal.Decimal(1).scaleb(-places) if places is not None else None
    limit = decimal.Decimal(10) ** (column.precision - (column.scale or 0)) if column.precision is not None else None
    out = []
    for v in s:
        if _missing(v):
            out.append(None)
            continue
        if isinstance(v, (float, np.floating)):
            if not math.isfinite(v):
                raise TypeProblem(f"has {v!r}, which a decimal column cannot hold")
            d = decimal.Decimal(repr(float(v)))
        else:
            d = decimal.Decimal(v.item() if isinstance(v, np.generic) else v)
        if quantum is not None:
            d = d.quantize(quantum, rounding=decimal.ROUND_HALF_UP, context=decimal.Context(prec=100))
        if limit is not None and abs(d) >= limit:
            raise TypeProblem(f"has {d}, which does not fit {column}")
        out.append(d)
    return pd.Series(out, index=s.index, dtype=object)


def compare_form(stored_values: pd.Series, column: ColumnType) -> pd.Series:
    """A form in which two stored values are equal exactly when the database holds the same value."""
    s = stored_values.reset_index(drop=True)
    if column.kind == "decimal":
        # Decimal('1.10') == Decimal('1.1'); as normalized text they compare as values
        return pd.Series([None if _missing(v) else decimal.Decimal(v).normalize() for v in s], dtype=object)
    if column.kind == "json":
        return json_text(s)
    return s


def coerce_declared(types: Mapping[str, Any] | None) -> dict[str, ColumnType]:
    """Declared column types given as ColumnType, a rules entry dict, or a rules type name."""
    out = {}
    for name, spec in (types or {}).items():
        ct = spec if isinstance(spec, ColumnType) else from_rule(spec)
        if ct is not None:
            out[name] = ct
    return out
