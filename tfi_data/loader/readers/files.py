"""Readers of local (or fsspec) files: CSV/TSV, JSON, JSON Lines, Parquet, Excel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tfi_data.loader.readers.dtypes import standard_dtypes, with_defaults


def read_csv(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    # pyarrow parses in parallel and is several times faster than the C engine.
    opts = with_defaults(options, engine="pyarrow")
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
    return standard_dtypes(pd.read_json, target, with_defaults(options, lines=True))


def read_parquet(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    return standard_dtypes(pd.read_parquet, target, options)


def read_excel(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    return pd.read_excel(target, **options)
