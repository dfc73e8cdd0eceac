"""Builds the code location's Definitions from a dataloaders directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from sqlalchemy.engine import make_url

from tfi_data import cache, settings
from tfi_data.details import PipelineDetails
from tfi_data.orchestration.factory import DATABASE_KINDS, PipelineAssets, build_pipeline
from tfi_data.orchestration.io_manager import ParquetCacheIOManager
from tfi_data.orchestration.resources import DatabaseResource, SourceLoader, database_from_env
from tfi_data.orchestration.sensors import file_sensor


def build_pipelines(all_details: Sequence[PipelineDetails], database_url: str | None = None) -> list[PipelineAssets]:
    """Every pipeline's assets and job (``discover`` has checked that each table belongs to one)."""
    kind = _database_kind(database_url or settings.database_url())
    return [build_pipeline(details, database_kind=kind) for details in all_details]


def _database_kind(url: str) -> str | None:
    try:
        return DATABASE_KINDS.get(make_url(url).get_backend_name())
    except Exception:  # an unparsable URL fails later, with the export that uses it
        return None


def build_definitions(
    all_details: Sequence[PipelineDetails], resources: Mapping[str, Any] | None = None
) -> dg.Definitions:
    """The code location: each pipeline's table assets (materialized by its graph) with their
    checks, its source assets, its job, schedule and file sensor; the cache retention job."""
    pipelines = build_pipelines(all_details)
    schedules_on = settings.running(settings.SCHEDULES_RUNNING_VAR)
    sensors_on = settings.running(settings.SENSORS_RUNNING_VAR)
    schedules = [
        dg.ScheduleDefinition(
            name=f"{p.details.name}_schedule",
            job=p.job,
            cron_schedule=p.details.schedule,
            execution_timezone=p.details.timezone,
            default_status=dg.DefaultScheduleStatus.RUNNING if schedules_on else dg.DefaultScheduleStatus.STOPPED,
        )
        for p in pipelines
        if p.details.schedule
    ]
    sensor_status = dg.DefaultSensorStatus.RUNNING if sensors_on else dg.DefaultSensorStatus.STOPPED
    sensors = [s for p in pipelines if (s := file_sensor(p.details, p.job, sensor_status)) is not None]
    base = settings.cache_dir()
    retention = _retention_job(base, settings.cache_retention())
    schedules.append(
        dg.ScheduleDefinition(
            name="tfi_cache_retention_schedule",
            job=retention,
            cron_schedule="17 3 * * *",
            default_status=dg.DefaultScheduleStatus.RUNNING if schedules_on else dg.DefaultScheduleStatus.STOPPED,
        )
    )
    return dg.Definitions(
        assets=[a for p in pipelines for a in (*p.sources, p.tables)],
        asset_checks=[p.checks for p in pipelines if p.checks is not None],
        jobs=[*(p.job for p in pipelines), retention],
        schedules=schedules,
        sensors=sensors,
        # UI materializations run their steps in the run's process: a pipeline's steps are small
        # and a process per step costs seconds. A pipeline's own job may choose multiprocess.
        executor=dg.in_process_executor,
        resources=dict(resources)
        if resources is not None
        else {
            "database": database_from_env(),
            "io_manager": ParquetCacheIOManager(base_path=base),
            "loader": SourceLoader(state_dir=base),
        },
    )


def _retention_job(base: str, retention: str) -> dg.JobDefinition:
    age = cache.parse_duration(retention)

    @dg.op(name="tfi_cache_prune", description=f"Remove cached runs older than {retention} from the cache")
    def prune(context) -> None:
        pruned = cache.prune(base, age)
        context.log.info(f"removed {pruned.runs} cached run(s), {pruned.bytes / 1e6:.1f} MB, older than {retention}")

    @dg.job(name="tfi_cache_retention", description=f"Keep the cache of op outputs to the last {retention}")
    def retention_job() -> None:
        prune()

    return retention_job


def job_from_dataloaders(
    path: str, pipeline: str, database_url: str | None = None, cache_dir: str | None = None
) -> dg.JobDefinition:
    """One pipeline's job with its resources bound, rebuilt from its dataloaders path: the
    reconstructor for ``dg.build_reconstructable_job`` (runs and re-executions outside the code
    location, e.g. with the multiprocess executor)."""
    from tfi_data.discovery import discover  # the code location imports this module: keep it light

    matches = [d for d in discover(path) if d.name == pipeline]
    if not matches:
        raise ValueError(f"no pipeline {pipeline!r} under {path}")
    return pipeline_definitions(matches[0], database_url=database_url, cache_dir=cache_dir).resolve_job_def(pipeline)


def pipeline_definitions(
    details: PipelineDetails, *, database_url: str | None = None, cache_dir: str | None = None, loader: Any = None
) -> dg.Definitions:
    """The Definitions of one pipeline with its resources bound (for in-process runs)."""
    base = cache_dir or settings.cache_dir()
    pipeline = build_pipelines([details], database_url)[0]
    return dg.Definitions(
        assets=[*pipeline.sources, pipeline.tables],
        asset_checks=[pipeline.checks] if pipeline.checks is not None else [],
        jobs=[pipeline.job],
        resources={
            "database": DatabaseResource(url=database_url or settings.database_url()),
            "io_manager": ParquetCacheIOManager(base_path=base),
            "loader": loader if loader is not None else SourceLoader(state_dir=base),
        },
    )
