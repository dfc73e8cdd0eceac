"""Entry points: Task (something that runs) and Pipeline (builds and launches one job)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from tfi_data import settings
from tfi_data.details import PipelineDetails
from tfi_data.export import ExportResult
from tfi_data.orchestration import DatabaseResource, ParquetCacheIOManager, SourceLoader, build_job
from tfi_data.orchestration.resources import Progress
from tfi_data.transformer import export_key

_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class PipelineResult:
    pipeline: str
    success: bool
    exports: list[ExportResult] = field(default_factory=list)
    error: str | None = None
    run_id: str | None = None
    skipped: bool = False  # skip_unchanged: every source was as the last successful run read it

    def rows(self) -> list[dict[str, Any]]:
        """One summary row per export: the shape of ``tfi-data run --json``."""
        return [
            {
                "pipeline": self.pipeline,
                "table": e.table,
                "inserted": e.inserted,
                "updated": e.updated,
                "deleted": e.deleted,
                "unchanged": e.unchanged,
                "rows_in_table": e.rows_in_table,
            }
            for e in self.exports
        ]


class Task:
    """Something with a name that can be run."""

    name: str

    def run(self) -> Any:
        raise NotImplementedError


class Pipeline(Task):
    """Builds the Dagster job for one PipelineDetails and runs it in-process."""

    def __init__(
        self,
        details: PipelineDetails,
        *,
        database_url: str | None = None,
        cache_dir: str | None = None,
    ) -> None:
        self.details = details
        self.name = details.name
        self.database_url = database_url or settings.database_url()
        self.cache_dir = cache_dir or settings.cache_dir()

    def build_job(self) -> dg.JobDefinition:
        return build_job(self.details)

    def ingest(
        self,
        *,
        dry_run: bool = False,
        raise_on_error: bool = False,
        verbose: bool = False,
        progress: Progress | None = None,
    ) -> PipelineResult:
        """Run the pipeline in-process, its sources loaded concurrently. ``dry_run``: every
        export only plans (counts, no writes). ``progress(source, event, count)`` hears of loads:
        "loading" with the bytes to read, "loaded" with the rows read."""
        job = self.build_job()
        run_config: dict[str, Any] = {} if verbose else dict(_QUIET)
        if dry_run:
            run_config["ops"] = {f"export_{export_key(e)}": {"config": {"dry_run": True}} for e in self.details.exports}
        result = job.execute_in_process(
            run_config=run_config,
            instance=dg.DagsterInstance.ephemeral(),
            resources={
                "database": DatabaseResource(url=self.database_url),
                "io_manager": ParquetCacheIOManager(base_path=self.cache_dir),
                "loader": SourceLoader(concurrent=True, progress=progress, state_dir=self.cache_dir),
            },
            raise_on_error=raise_on_error,
        )
        exports = []
        for export in self.details.exports:
            node = f"export_{export_key(export)}"
            try:
                exports.append(ExportResult(**result.output_for_node(node)))
            except dg.DagsterInvariantViolationError:  # the export did not run
                continue
        skipped = self.details.skip_unchanged and result.success and not exports
        return PipelineResult(
            pipeline=self.name,
            success=result.success,
            exports=exports,
            error=None if result.success else _failure_message(result),
            run_id=result.run_id,
            skipped=skipped,
        )

    def run(self) -> PipelineResult:
        return self.ingest()


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The user-facing cause of the first failed step, not Dagster's wrapper around it."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
                error = error.cause
            # "pkg.module.LoadError: text" -> "LoadError: text"
            message = re.sub(r"^(?:\w+\.)+(?=\w+: )", "", error.message.strip())
            return f"{event.step_key}: {message}"
    return "run failed"
