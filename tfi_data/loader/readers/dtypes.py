"""tfi-data's standard dtypes, applied to what every reader returns."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa


def with_defaults(options: Mapping[str, Any], **defaults: Any) -> dict[str, Any]:
    return {**defaults, **options}


def _arrow_to_standard(arrow_type: pa.DataType) -> Any:
    """The standard dtype of a column read as Arrow (None: pyarrow's own conversion)."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype("pyarrow")
    if pa.types.is_unsigned_integer(arrow_type) and arrow_type.bit_width == 64:
        return pd.UInt64Dtype()
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_floating(arrow_type):
        return pd.Float64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None  # timestamps -> datetime64, dates -> datetime.date, decimals -> Decimal, ...


def standard_dtypes(read: Callable[..., pd.DataFrame], target: Any, options: Mapping[str, Any]) -> pd.DataFrame:
    """Read with the Arrow backend, then give every column tfi-data's standard dtype:
    nullable Int64/Float64/boolean (a column with gaps keeps its type), text as Arrow-backed
    ``string[pyarrow]`` (pandas 3's default: compact, and Parquet/COPY take it without a copy).
    A reader call that names its own ``dtype_backend`` is left alone."""
    if "dtype_backend" in options:
        return read(target, **options)
    return arrow_to_standard(read(target, dtype_backend="pyarrow", **options))


def arrow_to_standard(df: pd.DataFrame) -> pd.DataFrame:
    """The standard dtypes for a frame read with ``dtype_backend="pyarrow"``."""
    if not any(isinstance(t, pd.ArrowDtype) for t in df.dtypes):
        return df
    table = pa.Table.from_pandas(df, preserve_index=False)
    out = table.to_pandas(types_mapper=_arrow_to_standard, ignore_metadata=True)
    out.index = df.index
    return out


def to_standard(df: pd.DataFrame) -> pd.DataFrame:
    """Standard dtypes for a frame built from Python objects (parsed JSON, say). A column of mixed
    types (an id that is sometimes a number, sometimes text) becomes text, as a CSV would read it;
    a column of lists of numbers or text becomes an Arrow list column (``pd.ArrowDtype``) with its
    element types, so ``[40, 60]`` stays integers through the cache; a column holding objects stays
    Python lists/dicts (the cache keeps them as JSON); nulls only are left as they are."""
    out = df.copy(deep=False)
    for i in range(df.shape[1]):  # by position: flattened names may repeat
        column = df.iloc[:, i]
        try:
            arr = pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            if any(isinstance(v, (list, dict)) for v in column):
                continue  # lists of mixed values, or lists beside scalars: kept as they are (JSON)
            text = [None if _is_null(v) else v if isinstance(v, str) else json.dumps(v) for v in column]
            arr = pa.array(text, pa.string())
        if _arrow_to_standard(arr.type) is not None:
            converted = arr.to_pandas(types_mapper=_arrow_to_standard)
            converted.index = df.index
            out.isetitem(i, converted)
        elif pa.types.is_nested(arr.type) and not has_struct(arr.type):
            # lists of numbers or text keep their element types as an Arrow list column; objects
            # stay Python dicts (an Arrow struct would give every object every key seen)
            out.isetitem(i, pd.Series(pd.arrays.ArrowExtensionArray(arr), index=df.index))
    return out


def has_struct(arrow_type: pa.DataType) -> bool:
    """Whether an Arrow type is or holds a struct, map or union (objects, not plain lists)."""
    if pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type) or pa.types.is_union(arrow_type):
        return True
    value_type = getattr(arrow_type, "value_type", None)
    return value_type is not None and has_struct(value_type)


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def concat_arrow(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Chunks (or pages) of one source as one frame of ``pd.ArrowDtype`` columns.

    A column that is all null in a chunk has no real type there (pandas guesses text or object),
    so the chunks where it has values decide; ``pd.concat`` would make such a column object.
    """
    tables = [pa.Table.from_pandas(df, preserve_index=False) for df in frames]
    guessed = tables[0].schema
    for n, table in enumerate(tables):
        for i, column in enumerate(table.columns):
            if column.null_count == len(column):
                table = table.set_column(i, pa.field(table.field(i).name, pa.null()), pa.nulls(len(column)))
        tables[n] = table
    table = pa.concat_tables(tables, promote_options="permissive")
    for i, field in enumerate(table.schema):
        if pa.types.is_null(field.type) and field.name in guessed.names:  # null everywhere: keep the first guess
            typ = guessed.field(field.name).type
            table = table.set_column(i, pa.field(field.name, typ), pa.nulls(len(table), typ))
    return table.to_pandas(types_mapper=pd.ArrowDtype)
