"""GeneralLoader: resolves a Source to concrete files, reads them, and names what went wrong."""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from pandas.io.common import infer_compression

from tfi_data.details import Source
from tfi_data.loader.fingerprint import HashingFile, data_fingerprint, file_fingerprint
from tfi_data.loader.readers import READERS, Reader
from tfi_data.loader.readers.files import EmptyFileError, ReadError
from tfi_data.loader.readers.http import redact_url

# Kinds whose location is a path, glob or directory (local or an fsspec URL) rather than a query.
FILE_KINDS = frozenset({"csv", "json", "jsonl", "parquet", "excel"})
# Kinds whose readers read a file from its start to its end: hashed as they read.
_STREAMED_KINDS = frozenset({"csv", "json", "jsonl"})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


log = logging.getLogger(__name__)


class LoadError(RuntimeError):
    """A source could not be read. The message names the source and the file or URL."""


class GeneralLoader:
    """Reads sources into DataFrames. ``base_dir`` anchors relative paths.

    A file source's location is a file, a glob (``data/*.csv``, ``**`` recursive) or a directory
    (its non-hidden files), local or an fsspec URL (``memory://``, ``s3://``, ... when that
    filesystem's package is installed; ``file://`` is local). Several files are read in name order
    and concatenated. Besides its reader's options, a file source takes two that GeneralLoader
    consumes itself:

    - ``file_column`` (default ``"source_file"``): for a glob or a directory, the column naming
      the file each row came from: its path relative to ``base_dir`` when inside it, else the
      absolute path or URL. ``None`` leaves it out. A single file path gets no such column.
    - ``allow_empty`` (default ``False``): accept a file without rows (a header only, ``[]``,
      or nothing at all); otherwise such a file is an error.
    """

    def __init__(self, base_dir: str | Path | None = None) -> None:
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()

    def files(self, source: Source) -> list[Path | str]:
        """The concrete files a file source names (a path, a glob, or a directory), in name order:
        local files as Paths, files behind an fsspec URL as URLs."""
        return self._expand(source)[0]

    def load(self, source: Source) -> pd.DataFrame:
        return self._load(source, None, {})

    def load_with_fingerprint(
        self, source: Source, on_files: Callable[[list[Path | str]], None] | None = None
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The frame and a fingerprint of what was read, each file listed once and read once:
        local text files are hashed as the reader reads them. ``on_files(files)`` hears of the
        files before they are read."""
        if source.kind not in FILE_KINDS:
            frame = self.load(source)
            return frame, data_fingerprint(source, frame)
        files = self._expand(source)
        if on_files is not None:
            on_files(files[0])
        digests: dict[str, str] = {}
        frame = self._load(source, files, digests)
        try:
            return frame, file_fingerprint(files[0], digests)
        except FileNotFoundError as exc:
            raise LoadError(
                f"source {source.name!r}: {exc.filename or 'a file'} disappeared while the source was read"
            ) from exc

    def _load(
        self, source: Source, listed: tuple[list[Path | str], bool] | None, digests: dict[str, str]
    ) -> pd.DataFrame:
        reader = READERS[source.kind]
        if source.kind not in FILE_KINDS:
            try:
                return reader(source.location, source.options)
            except Exception as exc:
                shown = redact_url(source.location) if source.kind == "http" else source.location
                raise LoadError(f"source {source.name!r} ({source.kind} {shown!r}): {exc}") from exc
        options = dict(source.options)
        file_column = options.pop("file_column", "source_file")
        allow_empty = bool(options.pop("allow_empty", False))
        files, several = listed or self._expand(source)
        frames = []
        for file in files:
            frame = self._read(source, reader, file, options, allow_empty, digests)
            if several and file_column is not None:
                if file_column in frame.columns:
                    raise LoadError(
                        f"source {source.name!r}: {file} already has a column {file_column!r}: "
                        "name the file column otherwise with file_column='...', or leave it out with file_column=None"
                    )
                # Arrow repeats the one string without a Python list per row.
                label = pa.repeat(pa.scalar(self._label(file), pa.string()), len(frame))
                frame[file_column] = pd.Series(pd.arrays.ArrowStringArray(label), index=frame.index)
            frames.append(frame)
        return frames[0] if len(frames) == 1 else _concat(frames)

    def _read(
        self, source: Source, reader: Reader, file: Path | str, options: dict, allow_empty: bool, digests: dict
    ) -> pd.DataFrame:
        where = f"source {source.name!r}: cannot read {file}"
        try:
            if (
                isinstance(file, Path)
                and source.kind in _STREAMED_KINDS
                and "compression" not in options
                and infer_compression(str(file), "infer") is None
            ):
                # read through a hash: the fingerprint comes from the bytes the reader reads
                with HashingFile(file) as stream:
                    frame = reader(stream, options)
                    if (digest := stream.hexdigest()) is not None:
                        digests[str(file)] = digest
            else:
                frame = reader(str(file), options)
        except EmptyFileError as exc:
            if allow_empty:
                return pd.DataFrame()
            raise LoadError(f"{where}: {exc}; pass allow_empty=True if that is expected") from exc
        except Exception as exc:
            raise LoadError(f"{where}: {_describe(exc)}") from exc
        if len(frame) == 0 and not allow_empty:
            columns = f" (only a header: {', '.join(map(str, frame.columns))})" if len(frame.columns) else ""
            raise LoadError(f"{where}: no rows{columns}; pass allow_empty=True if that is expected")
        return frame

    def _expand(self, source: Source) -> tuple[list[Path | str], bool]:
        """The files, and whether the location names several (a glob or a directory)."""
        location = os.path.expanduser(source.location)
        try:
            if _URL.match(location):
                fs, path = url_to_fs(location, **(source.options.get("storage_options") or {}))
                if not isinstance(fs, LocalFileSystem):
                    return self._expand_url(source, fs, path)
                location = path
            return self._expand_local(source, Path(location))
        except LoadError:
            raise
        except Exception as exc:  # an unknown protocol, its package missing, a directory we may not list
            raise LoadError(f"source {source.name!r}: cannot open {source.location!r}: {_describe(exc)}") from exc

    def _expand_local(self, source: Source, location: Path) -> tuple[list[Path | str], bool]:
        if not location.is_absolute():
            location = self.base_dir / location
        if glob.has_magic(str(location)):
            matches = _once(source, [Path(p) for p in glob.glob(str(location), recursive=True) if Path(p).is_file()])
            if not matches:
                raise LoadError(f"source {source.name!r}: no file matches {str(location)!r}")
            return matches, True
        if location.is_dir():
            matches = sorted(p for p in location.iterdir() if p.is_file() and not p.name.startswith("."))
            if not matches:
                raise LoadError(f"source {source.name!r}: directory {str(location)!r} holds no files")
            return list(matches), True
        if not location.exists():
            raise LoadError(f"source {source.name!r}: file not found: {location}")
        return [location], False

    def _expand_url(self, source: Source, fs, path: str) -> tuple[list[Path | str], bool]:
        if glob.has_magic(path):
            infos = fs.glob(path, detail=True).values()
            nothing = f"no file matches {source.location!r}"
        elif fs.isdir(path):
            infos = [i for i in fs.ls(path, detail=True) if not i["name"].rsplit("/", 1)[-1].startswith(".")]
            nothing = f"directory {source.location!r} holds no files"
        elif fs.exists(path):
            return [source.location], False
        else:
            raise LoadError(f"source {source.name!r}: file not found: {source.location}")
        matches = sorted(fs.unstrip_protocol(i["name"]) for i in infos if i["type"] == "file")
        if not matches:
            raise LoadError(f"source {source.name!r}: {nothing}")
        return list(matches), True

    def _label(self, file: Path | str) -> str:
        """How the file column names a file: relative to base_dir when inside it."""
        if isinstance(file, str):
            return file
        path, base = Path(os.path.abspath(file)), Path(os.path.abspath(self.base_dir))
        return path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)


def _once(source: Source, paths: list[Path]) -> list[Path]:
    """Each file once, in name order: a ``**`` glob follows links to directories, so a link back
    up the tree (``ln -s . loop``) reaches the same files again through ever longer paths. The
    shortest path to each file is kept, and the others are reported."""
    kept: dict[str, Path] = {}
    again: list[Path] = []
    for path in sorted(paths, key=lambda p: (len(p.parts), str(p))):
        real = os.path.realpath(path)
        if real in kept:
            again.append(path)
        else:
            kept[real] = path
    if again:
        log.warning(
            "source %r: %d path(s) reach a file already listed through a link (e.g. %s is %s): each file is read once",
            source.name,
            len(again),
            again[0],
            kept[os.path.realpath(again[0])],
        )
    return sorted(kept.values())


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate the files' frames. A column one file leaves empty has no type of its own
    (pyarrow reads it as nulls, an object column): it takes the type the other files give it,
    instead of turning the whole column into objects."""
    typed: dict[str, object] = {}
    for frame in frames:
        for name, column in frame.items():
            if name not in typed and not (column.dtype == object and column.isna().all()):
                typed[name] = column.dtype
    cast = []
    for frame in frames:
        untyped = {
            name: typed[name]
            for name, column in frame.items()
            if name in typed and column.dtype != typed[name] and column.dtype == object and column.isna().all()
        }
        cast.append(frame.astype(untyped) if untyped else frame)
    return pd.concat(cast, ignore_index=True)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ReadError):
        return str(exc)  # already says what and where
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror  # "Permission denied": the path is already in the message
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
