"""One small reader per source kind, behind one registry (``READERS``).

Each reader turns one concrete file (or URL / query) into a DataFrame, passing the source's
options straight to pandas/pyarrow. Globs, error wording and bookkeeping live in GeneralLoader.
"""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa

from tfi_data.settings import require_env


class Reader(Protocol):
    def __call__(self, target: str, options: Mapping[str, Any]) -> pd.DataFrame: ...


def _with_defaults(options: Mapping[str, Any], **defaults: Any) -> dict[str, Any]:
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


def read_csv(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    # pyarrow parses in parallel and is several times faster than the C engine.
    opts = _with_defaults(options, engine="pyarrow")
    if opts.get("engine") == "pyarrow" and _pyarrow_unsupported(opts):
        opts["engine"] = "c"
    return standard_dtypes(pd.read_csv, target, opts)


# Options the pyarrow CSV engine refuses; with them we fall back to pandas' C engine.
_PYARROW_UNSUPPORTED = {
    "skipfooter",
    "nrows",
    "chunksize",
    "iterator",
    "converters",
    "comment",
    "thousands",
    "low_memory",
    "on_bad_lines",
    "lineterminator",
    "dialect",
    "memory_map",
    "float_precision",
    "quoting",
    "skip_blank_lines",
    "verbose",
    "skipinitialspace",
    "doublequote",
    "escapechar",
}


def _pyarrow_unsupported(opts: Mapping[str, Any]) -> bool:
    return bool(_PYARROW_UNSUPPORTED & set(opts)) or callable(opts.get("skiprows"))


def read_json(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    return standard_dtypes(pd.read_json, target, options)


def read_jsonl(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    return standard_dtypes(pd.read_json, target, _with_defaults(options, lines=True))


def read_parquet(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    return standard_dtypes(pd.read_parquet, target, options)


def read_excel(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    return pd.read_excel(target, **options)


def read_sql(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    import sqlalchemy as sa

    opts = dict(options)
    url_env = opts.pop("url_env", None)
    url = require_env(url_env, "SQL source url_env") if url_env else opts.pop("url", None)
    if not url:
        raise ValueError("a SQL source needs url_env=... naming an environment variable (or url=...)")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return standard_dtypes(pd.read_sql, sa.text(target), {**opts, "con": conn})
    finally:
        engine.dispose()


def read_http(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    opts = dict(options)
    fmt = opts.pop("format", None) or _format_from_url(target)
    headers = opts.pop("headers", {})
    timeout = opts.pop("timeout", 30)
    request = urllib.request.Request(target, headers=dict(headers))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return READERS[fmt](io.BytesIO(body), opts)


def _format_from_url(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for ext, fmt in ((".jsonl", "jsonl"), (".json", "json"), (".parquet", "parquet"), (".csv", "csv")):
        if path.endswith(ext):
            return fmt
    return "csv"


READERS: dict[str, Reader] = {
    "csv": read_csv,
    "json": read_json,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "excel": read_excel,
    "sql": read_sql,
    "http": read_http,
}
