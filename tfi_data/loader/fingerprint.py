"""Source fingerprints: what a load read, to tell whether a source changed since a run.

Files: path, size, modification time and a SHA-256 of the bytes. Other kinds: what the reader
recorded in ``frame.attrs["fingerprint"]`` (HTTP ETag/Last-Modified) and a hash of the data.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd
from upath import UPath

from tfi_data.details import Source

_CHUNK = 1 << 20


def file_fingerprint(paths: list[Any], digests: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``digests``: SHA-256 hex digests already taken while the files were read, by path; a file
    without one is read here to hash it."""
    files = []
    for p in paths:
        path = UPath(str(p))
        stat = path.stat()
        sha = (digests or {}).get(str(p))
        if sha is None:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
            sha = digest.hexdigest()
        files.append(
            {
                "path": str(p),
                "size": int(stat.st_size),
                "mtime": float(getattr(stat, "st_mtime", 0) or 0),
                "sha256": sha,
            }
        )
    return {"files": files}


class HashingFile(io.RawIOBase):
    """A local file opened for a reader, hashed as the reader reads it. ``hexdigest()`` is the
    SHA-256 of the whole file when the reader's last pass went from its start to its end in order
    (as CSV and JSON readers do; a rewind starts the hash again), else None: the caller then
    hashes the file itself."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed with this object)
        self._size = os.fstat(self._file.fileno()).st_size
        self._digest = hashlib.sha256()
        self._hashed = 0  # bytes hashed, all from the start in order

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        at = self._file.tell()
        n = self._file.readinto(buffer)
        if n and at == self._hashed:
            self._digest.update(memoryview(buffer)[:n])
            self._hashed += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = self._file.seek(offset, whence)
        if position == 0:
            self._digest, self._hashed = hashlib.sha256(), 0
        return position

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
        super().close()

    def hexdigest(self) -> str | None:
        return self._digest.hexdigest() if self._hashed == self._size else None


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
