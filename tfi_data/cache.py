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

FINGERPRINTS = "fingerprints"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class CacheError(RuntimeError):
    """A value could not be stored in or read from the cache."""


def location(base: str | Path) -> UPath:
    return UPath(str(base))


def write_frame(path: UPath, df: pd.DataFrame, what: str) -> None:
    """Parquet (LZ4: decompresses at nearly the speed of an uncompressed file, a third smaller)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        table = _keep_string_storage(pa.Table.from_pandas(df, preserve_index=False), df)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise CacheError(f"{what}: {_unstorable(df) or exc}") from exc
    with path.open("wb") as fh:
        pq.write_table(table, fh, compression="lz4")


def _keep_string_storage(table: pa.Table, df: pd.DataFrame) -> pa.Table:
    """pandas' Parquet metadata says "string" for both string storages; name the storage, so
    Arrow-backed text comes back Arrow-backed (and without a detour through Python objects)."""
    meta = json.loads(table.schema.metadata[b"pandas"])
    for column in meta["columns"]:
        dtype = df.dtypes.get(column["name"]) if column["name"] in df.columns else None
        if isinstance(dtype, pd.StringDtype):
            column["numpy_type"] = f"string[{dtype.storage}]"
    return table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(meta).encode()})


def _unstorable(df: pd.DataFrame) -> str | None:
    """Name the first column Parquet cannot hold, and why."""
    for col in df.columns:
        try:
            pa.array(df[col], from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            kinds = sorted({type(v).__name__ for v in df[col].dropna().head(1000)})
            return (
                f"column {col!r} cannot be stored as Parquet: it holds {', '.join(kinds)} values; "
                "give it one type (e.g. .astype(str)) in the transformer"
            )
    return None


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
        return pd.read_parquet(str(path))  # a local path lets pyarrow memory-map the file
    with path.open("rb") as fh:
        return pd.read_parquet(fh)


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
