"""Source fingerprints: what a load read, to tell whether a source changed since a run.

Files: path, size, modification time and a SHA-256 of the bytes. Other kinds: what the reader
recorded in ``frame.attrs["fingerprint"]`` (HTTP ETag/Last-Modified) and a hash of the data.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
from upath import UPath

from tfi_data.details import Source

_CHUNK = 1 << 20


def file_fingerprint(paths: list[Any]) -> dict[str, Any]:
    files = []
    for p in paths:
        path = UPath(str(p))
        stat = path.stat()
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        files.append(
            {
                "path": str(p),
                "size": int(stat.st_size),
                "mtime": float(getattr(stat, "st_mtime", 0) or 0),
                "sha256": digest.hexdigest(),
            }
        )
    return {"files": files}


def listing_fingerprint(paths: list[Any]) -> str:
    """A digest of which files there are, with their sizes and modification times: what a sensor
    compares on every tick without reading a byte of them."""
    digest = hashlib.sha256()
    for p in paths:
        stat = UPath(str(p)).stat()
        digest.update(f"{p}\0{int(stat.st_size)}\0{float(getattr(stat, 'st_mtime', 0) or 0)!r}\n".encode())
    return digest.hexdigest()


def data_fingerprint(source: Source, frame: pd.DataFrame) -> dict[str, Any]:
    out = dict(frame.attrs.get("fingerprint") or {})
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    out["data_sha256"] = hashlib.sha256(hashes.tobytes() + ",".join(map(str, frame.columns)).encode()).hexdigest()
    out["rows"] = len(frame)
    return out


def same_content(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Two file fingerprints name the same bytes (paths and hashes; mtimes may differ)."""
    if not a or not b:
        return False
    key = [(f["path"], f["sha256"]) for f in a.get("files", [])]
    return bool(key) and key == [(f["path"], f["sha256"]) for f in b.get("files", [])]
