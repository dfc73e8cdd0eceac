"""The cache: where op outputs live between steps, local or on any fsspec filesystem.

Layout: ``<base>/<run_id>/<step_key>/<output>.parquet`` (DataFrames) or ``.json`` (small results),
and ``<base>/fingerprints/<pipeline>.json`` (the sources of the last successful run).
Knows nothing of Dagster: the IO manager and ``tfi-data cache prune`` both use it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from tfi_data.loader.readers.dtypes import has_struct

FINGERPRINTS = "fingerprints"
_JSON_COLUMNS = b"tfi_json_columns"  # Parquet metadata: columns of Python lists/dicts kept as JSON text
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class CacheError(RuntimeError):
    """A value could not be stored in or read from the cache."""


def location(base: str | Path) -> UPath:
    return UPath(str(base))


def write_frame(path: UPath, df: pd.DataFrame, what: str) -> None:
    """Parquet (LZ4: decompresses at nearly the speed of an uncompressed file, a third smaller)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    as_json = _json_columns(df)
    stored = df.assign(**{c: _dumps(df[c]) for c in as_json}) if as_json else df
    try:
        table = _keep_dtypes(pa.Table.from_pandas(stored, preserve_index=False), stored, as_json)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise CacheError(f"{what}: {_unstorable(df) or exc}") from exc
    with path.open("wb") as fh:
        pq.write_table(table, fh, compression="lz4")


def _json_columns(df: pd.DataFrame) -> list[str]:
    """Object columns of Python lists/dicts that hold an object (an Arrow struct would give every
    object every key seen) or mixed element types: kept as JSON text, read back as they were."""
    out = []
    for col in df.columns:
        if df[col].dtype != object:
            continue
        values = df[col].dropna()
        if not len(values) or not values.map(lambda v: isinstance(v, (list, dict, tuple))).all():
            continue
        try:
            arrow_type = pa.array(values, from_pandas=True).type
        except (pa.ArrowException, TypeError, ValueError):
            out.append(col)
            continue
        if has_struct(arrow_type):
            out.append(col)
    return out


def _dumps(series: pd.Series) -> pd.Series:
    return series.map(lambda v: None if v is None else json.dumps(v, default=_json_default, ensure_ascii=False))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    return str(value)


def _keep_dtypes(table: pa.Table, df: pd.DataFrame, as_json: list[str] = ()) -> pa.Table:
    """pandas' Parquet metadata says "string" for both string storages; name the storage, so
    Arrow-backed text comes back Arrow-backed (and without a detour through Python objects).
    Nested columns (lists, objects: JSON arrays) come back as Arrow lists/structs with their
    element types (see ``read_frame``), and ``df.attrs`` (a validated frame's column types, a
    source's fingerprint) are kept as pandas itself keeps them."""
    meta = json.loads(table.schema.metadata[b"pandas"])
    for column in meta["columns"]:
        dtype = df.dtypes.get(column["name"]) if column["name"] in df.columns else None
        if isinstance(dtype, pd.StringDtype):
            column["numpy_type"] = f"string[{dtype.storage}]"
        elif isinstance(dtype, pd.ArrowDtype) and pa.types.is_nested(dtype.pyarrow_dtype):
            column["numpy_type"] = "object"  # restored by read_frame's types_mapper
    extra = {b"pandas": json.dumps(meta).encode()}
    if as_json:
        extra[_JSON_COLUMNS] = json.dumps(list(as_json)).encode()
    if df.attrs:
        extra[b"PANDAS_ATTRS"] = json.dumps(df.attrs, default=str).encode()
    return table.replace_schema_metadata({**table.schema.metadata, **extra})


def _unstorable(df: pd.DataFrame) -> str | None:
    """Name every column Parquet cannot hold, and why."""
    bad = []
    for col in df.columns:
        try:
            pa.array(df[col], from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            kinds = sorted({type(v).__name__ for v in df[col].dropna().head(1000)})
            bad.append(f"{col!r} ({', '.join(kinds)})")
    if not bad:
        return None
    return (
        f"column(s) {', '.join(bad)} cannot be stored as Parquet: each mixes value types; "
        "give each one type (e.g. .astype(str), or json.dumps for mixed nested values) in the transformer"
    )


def _nested_as_arrow(arrow_type: pa.DataType) -> Any:
    return pd.ArrowDtype(arrow_type) if pa.types.is_nested(arrow_type) else None


def remove_run(base: str | Path, run_id: str) -> int:
    """Remove one run's cached outputs; the bytes freed."""
    run_dir = location(base).joinpath(run_id)
    if not run_dir.exists():
        return 0
    size = sum(f.stat().st_size for f in _files(run_dir))
    run_dir.fs.rm(run_dir.path, recursive=True)
    return size


def read_frame(path: UPath) -> pd.DataFrame:
    if path.protocol in ("", "file", "local"):
        table = pq.read_table(str(path), memory_map=True)  # a local path lets pyarrow memory-map the file
    else:
        with path.open("rb") as fh:
            table = pq.read_table(fh)
    df = table.to_pandas(types_mapper=_nested_as_arrow)
    for col in json.loads((table.schema.metadata or {}).get(_JSON_COLUMNS, b"[]")):
        df[col] = df[col].map(lambda v: None if v is None or v is pd.NA else json.loads(v)).astype(object)
    attrs = (table.schema.metadata or {}).get(b"PANDAS_ATTRS")
    if attrs:
        df.attrs = json.loads(attrs)
    return df


def write_json(path: UPath, value: Any) -> None:
    """Written whole or not at all: a crash never leaves half a file behind (local paths go
    through a temporary file and a rename; object stores write objects whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(value, default=str)
    if path.protocol in ("", "file", "local"):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp.path, path.path)
    else:
        path.write_text(text, encoding="utf-8")


def read_json(path: UPath) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def parse_duration(text: str) -> float:
    """'90s', '30m', '12h', '7d', '2w' -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text or "")
    if not m:
        raise ValueError(f"duration {text!r}: expected a number and a unit s, m, h, d or w (e.g. 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class Pruned:
    runs: int
    bytes: int


def prune(base: str | Path, older_than_s: float, *, now: float | None = None) -> Pruned:
    """Remove run directories whose newest file is older than ``older_than_s`` seconds."""
    root = location(base)
    if not root.exists():
        return Pruned(0, 0)
    cutoff = (now if now is not None else time.time()) - older_than_s
    runs = size = 0
    for run_dir in root.iterdir():
        if not run_dir.is_dir() or run_dir.name == FINGERPRINTS:
            continue
        files = list(_files(run_dir))
        newest = max((_mtime(f) for f in files), default=0.0)
        if newest < cutoff:
            size += sum(f.stat().st_size for f in files)
            run_dir.fs.rm(run_dir.path, recursive=True)
            runs += 1
    return Pruned(runs, size)


def _files(directory: UPath) -> Iterator[UPath]:
    for p in directory.rglob("*"):
        if p.is_file():
            yield p


def _mtime(path: UPath) -> float:
    stat = path.stat()
    mtime = getattr(stat, "st_mtime", None)
    return float(mtime) if mtime is not None else time.time()  # unknown age: keep it
