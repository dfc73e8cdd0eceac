"""One small reader per source kind, behind one registry (``READERS``).

Each reader turns one concrete file (or URL / query) into a DataFrame, passing the source's
options straight to pandas/pyarrow. Globs, error wording and bookkeeping live in GeneralLoader.
"""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

from tfi_data.settings import require_env


class Reader(Protocol):
    def __call__(self, target: str, options: Mapping[str, Any]) -> pd.DataFrame: ...


def _with_defaults(options: Mapping[str, Any], **defaults: Any) -> dict[str, Any]:
    return {**defaults, **options}


def read_csv(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    # pyarrow parses in parallel and is several times faster than the C engine; nullable
    # dtypes keep an integer column with gaps an integer column.
    opts = _with_defaults(options, engine="pyarrow", dtype_backend="numpy_nullable")
    if opts.get("engine") == "pyarrow" and _pyarrow_unsupported(opts):
        opts["engine"] = "c"
    return pd.read_csv(target, **opts)


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
    return pd.read_json(target, **_with_defaults(options, dtype_backend="numpy_nullable"))


def read_jsonl(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    return pd.read_json(target, **_with_defaults(options, lines=True, dtype_backend="numpy_nullable"))


def read_parquet(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    return pd.read_parquet(target, **options)


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
            return pd.read_sql(sa.text(target), conn, **opts)
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
