"""Test helpers for dataloader authors: run a pipeline on sample files into a temporary SQLite
database and check what it wrote.

    from pathlib import Path
    from tfi_data.testing import run_dataloader

    HERE = Path(__file__).parent

    def test_trips(tmp_path):
        run = run_dataloader(HERE.parent / "dataloaders" / "trips.py", tmp_path=tmp_path,
                             sources={"trips": HERE / "samples" / "trips_*.csv"})
        run.assert_counts("trips", inserted=6, updated=0, deleted=0)
        assert run.table("trips")["route"].nunique() == 2

        again = run.rerun()                       # the same files again: nothing changes
        again.assert_counts("trips", inserted=0, updated=0, unchanged=6)

``run_dataloader`` fails the test (AssertionError) with the pipeline's own error when the run
fails, so a broken transformer or a rule the samples break reads as the cause, not as a Dagster
traceback. Nothing outside ``tmp_path`` is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfi_data.details import PipelineDetails
from tfi_data.discovery import discover

__all__ = ["DataloaderRun", "run_dataloader"]

_COUNTS = ("inserted", "updated", "deleted", "unchanged", "rows_in_table")


@dataclasses.dataclass
class DataloaderRun:
    """What one run of a pipeline wrote: counts per table and the database to read them from."""

    details: PipelineDetails
    database_url: str
    cache_dir: Path
    results: dict[str, dict[str, int]]
    dry_run: bool = False

    def counts(self, table: str) -> dict[str, int]:
        """``{"inserted": .., "updated": .., "deleted": .., "unchanged": .., "rows_in_table": ..}``."""
        if table not in self.results:
            raise AssertionError(
                f"pipeline {self.details.name!r} exported no table {table!r}; it exported {sorted(self.results)}"
            )
        return dict(self.results[table])

    def assert_counts(self, table: str, **expected: int) -> None:
        """Check some of a table's counts, e.g. ``assert_counts("trips", inserted=6, deleted=0)``."""
        unknown = sorted(set(expected) - set(_COUNTS))
        if unknown:
            raise TypeError(f"assert_counts: unknown count(s) {unknown}; expected some of {list(_COUNTS)}")
        actual = self.counts(table)
        wrong = {name: (value, actual[name]) for name, value in expected.items() if actual[name] != value}
        if wrong:
            detail = ", ".join(f"{name}: expected {want}, got {got}" for name, (want, got) in sorted(wrong.items()))
            raise AssertionError(f"pipeline {self.details.name!r}, table {table!r}: {detail} (all counts: {actual})")

    def table(self, table: str):
        """The table's rows as a pandas DataFrame (read back from the temporary database)."""
        import pandas as pd
        import sqlalchemy as sa

        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return pd.read_sql_table(table, conn)
        finally:
            engine.dispose()

    def rerun(self, *, dry_run: bool = False) -> DataloaderRun:
        """The same pipeline again, into the same database (e.g. to check a second run changes nothing)."""
        return _run(self.details, self.database_url, self.cache_dir, dry_run=dry_run)


def run_dataloader(
    dataloader: str | Path | PipelineDetails,
    *,
    tmp_path: str | Path,
    pipeline: str | None = None,
    sources: Mapping[str, str | Path] | None = None,
    dry_run: bool = False,
) -> DataloaderRun:
    """Run one pipeline in-process into ``tmp_path/tfi_data.sqlite`` and return what it wrote.

    ``dataloader`` is a dataloader module (or a directory of them) or a ``PipelineDetails``; with
    several pipelines there, ``pipeline`` names one. ``sources`` replaces source locations by
    name, e.g. ``{"trips": "tests/samples/trips_*.csv"}`` (relative paths: against the current
    directory), to run the pipeline on sample files instead of its real ones. Keep the source's
    shape: a glob stays a glob (it adds the ``source_file`` column that a single file lacks).
    """
    details = _details(dataloader, pipeline)
    if sources:
        details = _with_sources(details, sources)
    tmp = Path(tmp_path)
    tmp.mkdir(parents=True, exist_ok=True)
    return _run(details, f"sqlite:///{tmp / 'tfi_data.sqlite'}", tmp / "cache", dry_run=dry_run)


def _details(dataloader: str | Path | PipelineDetails, pipeline: str | None) -> PipelineDetails:
    if isinstance(dataloader, PipelineDetails):
        if pipeline is not None and pipeline != dataloader.name:
            raise ValueError(f"pipeline={pipeline!r} but the details given are {dataloader.name!r}")
        return dataloader
    declared = discover(dataloader)
    found = [d for d in declared if pipeline in (None, d.name)]
    names = [d.name for d in declared]
    if not found:
        raise ValueError(f"no pipeline {pipeline!r} in {dataloader}; found {names}")
    if len(found) > 1:
        raise ValueError(f"{dataloader} declares {len(found)} pipelines {names}: name one with pipeline=")
    return found[0]


def _with_sources(details: PipelineDetails, sources: Mapping[str, str | Path]) -> PipelineDetails:
    names = {s.name for s in details.sources}
    unknown = sorted(set(sources) - names)
    if unknown:
        raise ValueError(f"pipeline {details.name!r} has no source(s) {unknown}; its sources are {sorted(names)}")
    replaced = [
        dataclasses.replace(s, location=_location(sources[s.name])) if s.name in sources else s for s in details.sources
    ]
    return dataclasses.replace(details, sources=replaced)


def _location(location: str | Path) -> str:
    """An absolute path (a relative one is against the current directory); URLs stay as given."""
    text = str(location)
    return text if "://" in text else str(Path(text).resolve())


def _run(details: PipelineDetails, database_url: str, cache_dir: Path, *, dry_run: bool) -> DataloaderRun:
    from tfi_data.pipeline import Pipeline  # imports Dagster: only when a test runs a pipeline

    result = Pipeline(details, database_url=database_url, cache_dir=str(cache_dir)).ingest(dry_run=dry_run)
    if not result.success:
        raise AssertionError(f"pipeline {details.name!r} failed: {result.error}")
    results: dict[str, dict[str, Any]] = {}
    for row in result.rows():
        results[row["table"]] = {name: row[name] for name in _COUNTS}
    return DataloaderRun(details, database_url, cache_dir, results, dry_run=dry_run)
