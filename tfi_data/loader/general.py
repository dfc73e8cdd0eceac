"""GeneralLoader: resolves a Source to concrete files, reads them, and names what went wrong."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pandas as pd

from tfi_data.details import Source
from tfi_data.loader.readers import READERS

# Kinds whose location is a local path (or glob) rather than a URL or query.
_FILE_KINDS = {"csv", "json", "jsonl", "parquet", "excel"}


class LoadError(RuntimeError):
    """A source could not be read. The message names the source and the file or URL."""


class GeneralLoader:
    """Reads sources into DataFrames. ``base_dir`` anchors relative paths."""

    def __init__(self, base_dir: str | Path | None = None) -> None:
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()

    def files(self, source: Source) -> list[Path]:
        """The concrete files a file source names (a path, a glob, or a directory)."""
        location = Path(os.path.expanduser(source.location))
        if not location.is_absolute():
            location = self.base_dir / location
        if glob.has_magic(str(location)):
            matches = sorted(Path(p) for p in glob.glob(str(location), recursive=True) if Path(p).is_file())
            if not matches:
                raise LoadError(f"source {source.name!r}: no file matches {str(location)!r}")
            return matches
        if location.is_dir():
            matches = sorted(p for p in location.iterdir() if p.is_file() and not p.name.startswith("."))
            if not matches:
                raise LoadError(f"source {source.name!r}: directory {str(location)!r} holds no files")
            return matches
        if not location.exists():
            raise LoadError(f"source {source.name!r}: file not found: {location}")
        return [location]

    def load(self, source: Source) -> pd.DataFrame:
        reader = READERS[source.kind]
        if source.kind not in _FILE_KINDS:
            try:
                return reader(source.location, source.options)
            except Exception as exc:
                raise LoadError(f"source {source.name!r} ({source.kind} {source.location!r}): {exc}") from exc
        frames = []
        for path in self.files(source):
            try:
                frames.append(reader(str(path), source.options))
            except Exception as exc:
                raise LoadError(f"source {source.name!r}: cannot read {path}: {_describe(exc)}") from exc
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, ignore_index=True)


def _describe(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
