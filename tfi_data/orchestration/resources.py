"""Dagster resources. Database URLs come from the environment (EnvVar) and are never logged."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import dagster as dg
import pandas as pd

from tfi_data import cache, settings
from tfi_data.details import PipelineDetails, Source
from tfi_data.export import Exporter, make_engine
from tfi_data.loader import GeneralLoader
from tfi_data.loader.fingerprint import file_fingerprint
from tfi_data.loader.general import FILE_KINDS

log = logging.getLogger(__name__)

# progress(source name, "loading", bytes to read or None) and (source name, "loaded", rows)
Progress = Callable[[str, str, int | None], None]


class DatabaseResource(dg.ConfigurableResource):
    """The database exports write into. ``url`` is a SQLAlchemy URL."""

    url: str = settings.DEFAULT_DATABASE_URL

    def exporter(self) -> Exporter:
        return Exporter(make_engine(self.url))


def database_from_env() -> DatabaseResource:
    """Bind to ``TFI_DATABASE_URL`` through EnvVar, so the URL never shows in the UI's config."""
    if settings.env(settings.DATABASE_URL_VAR):
        return DatabaseResource(url=dg.EnvVar(settings.DATABASE_URL_VAR))
    return DatabaseResource(url=settings.DEFAULT_DATABASE_URL)


class SourceLoader:
    """Loads sources for the load ops and keeps their fingerprints.

    ``concurrent``: the first load op of a run starts every source of the pipeline in threads
    (readers spend their time in pyarrow, I/O and the network, outside the GIL), so the
    in-process executor loads sources in parallel like the multiprocess one does.
    ``state_dir``: the cache base, where the last successful run's fingerprints are kept.
    """

    def __init__(self, *, concurrent: bool = False, progress: Progress | None = None, state_dir: str | None = None):
        self.concurrent = concurrent
        self.progress = progress
        self.state_dir = state_dir or settings.cache_dir()
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], Future] = {}

    def load(self, details: PipelineDetails, source: Source) -> tuple[pd.DataFrame, dict[str, Any]]:
        if not self.concurrent or len(details.sources) == 1:
            return self._load(details, source)
        with self._lock:
            if (details.name, source.name) not in self._pending:
                pool = ThreadPoolExecutor(max_workers=min(8, len(details.sources)), thread_name_prefix="tfi-load")
                for s in details.sources:
                    self._pending[(details.name, s.name)] = pool.submit(self._load, details, s)
                pool.shutdown(wait=False)
            future = self._pending.pop((details.name, source.name))
        return future.result()

    def _load(self, details: PipelineDetails, source: Source) -> tuple[pd.DataFrame, dict[str, Any]]:
        def sized(files: list) -> None:
            local = [f for f in files if isinstance(f, os.PathLike)]
            self._report(source.name, "loading", sum(os.path.getsize(f) for f in local) if local else None)

        if source.kind not in FILE_KINDS:
            sized([])
        frame, fingerprint = GeneralLoader(details.base_dir).load_with_fingerprint(source, on_files=sized)
        self._report(source.name, "loaded", len(frame))
        return frame, fingerprint

    def _report(self, name: str, what: str, rows: int | None) -> None:
        if self.progress is not None:
            self.progress(name, what, rows)

    # -- skipping unchanged runs -----------------------------------------------------------

    def current_files(self, details: PipelineDetails) -> dict[str, dict[str, Any]] | None:
        """File fingerprints of every source, or None when a source is not a file (its change
        can only be told by loading it)."""
        if any(s.kind not in FILE_KINDS for s in details.sources):
            return None
        loader = GeneralLoader(details.base_dir)
        return {s.name: file_fingerprint(loader.files(s)) for s in details.sources}

    def last_success(self, details: PipelineDetails) -> dict[str, Any] | None:
        """The fingerprints the last successful run remembered; None if there are none, or if the
        file is damaged (said in the log: the next run then loads everything and rewrites it)."""
        path = self._state(details)
        if not path.exists():
            return None
        try:
            return cache.read_json(path)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("%s: damaged fingerprint file (%s): every source counts as changed", path, exc)
            return None

    def remember(self, details: PipelineDetails, fingerprints: dict[str, Any]) -> None:
        cache.write_json(self._state(details), fingerprints)

    def _state(self, details: PipelineDetails) -> Any:
        return cache.location(self.state_dir).joinpath(cache.FINGERPRINTS, f"{details.name}.json")
