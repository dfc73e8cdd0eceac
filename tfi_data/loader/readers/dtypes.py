"""tfi-data's standard dtypes, applied to what every reader returns."""

from __future__ import annotations

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
    df = read(target, dtype_backend="pyarrow", **options)
    if not any(isinstance(t, pd.ArrowDtype) for t in df.dtypes):
        return df
    table = pa.Table.from_pandas(df, preserve_index=False)
    out = table.to_pandas(types_mapper=_arrow_to_standard, ignore_metadata=True)
    out.index = df.index
    return out
