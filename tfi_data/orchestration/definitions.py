"""Builds the code location's Definitions from a dataloaders directory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import dagster as dg

from tfi_data import settings
from tfi_data.details import PipelineDetails
from tfi_data.orchestration.factory import build_job, source_asset_key, table_asset_key
from tfi_data.orchestration.io_manager import ParquetCacheIOManager
from tfi_data.orchestration.resources import DatabaseResource, SourceLoader, database_from_env
from tfi_data.validation import plan_rules


def asset_specs(all_details: Sequence[PipelineDetails]) -> list[dg.AssetSpec]:
    """Sources and tables as external assets, so the UI shows lineage sources -> tables."""
    specs = []
    table_deps: dict[dg.AssetKey, set[dg.AssetKey]] = defaultdict(set)
    for details in all_details:
        src_keys = [source_asset_key(details, s) for s in details.sources]
        for source, key in zip(details.sources, src_keys):
            specs.append(
                dg.AssetSpec(
                    key, group_name=details.name, kinds={source.kind}, description=f"{source.kind}: {source.location}"
                )
            )
        for export in details.exports:
            table_deps[table_asset_key(export)].update(src_keys)
    for key in sorted(table_deps, key=lambda k: k.to_user_string()):
        specs.append(
            dg.AssetSpec(key, deps=sorted(table_deps[key], key=lambda k: k.to_user_string()), group_name="tables")
        )
    return specs


def asset_checks(all_details: Sequence[PipelineDetails]) -> list[dg.AssetChecksDefinition]:
    """The tables' ``rules`` and ``schema_drift`` checks, declared so the UI lists them. Each
    pipeline's ``check_<table>`` step evaluates them in its runs."""
    specs: dict[tuple[dg.AssetKey, str], dg.AssetCheckSpec] = {}
    for details in all_details:
        plan = plan_rules(
            details.rules,
            [s.name for s in details.sources],
            [e.frame_name for e in details.exports],
            resolve=details.resolve,
        )
        for export in details.exports:
            if export.frame_name not in plan.exports:
                continue
            key = table_asset_key(export)
            names = ["rules"] + (["schema_drift"] if plan.mapping is not None else [])
            for name in names:
                specs.setdefault(
                    (key, name),
                    dg.AssetCheckSpec(name, asset=key, description=f"evaluated by job {details.name!r}"),
                )
    if not specs:
        return []

    @dg.multi_asset_check(specs=[specs[k] for k in sorted(specs, key=lambda k: (k[0].to_user_string(), k[1]))])
    def tfi_data_table_checks():
        raise RuntimeError("these checks run inside their pipeline's job (step check_<table>): launch that job")

    return [tfi_data_table_checks]


def build_definitions(all_details: Sequence[PipelineDetails]) -> dg.Definitions:
    jobs = [build_job(d) for d in all_details]
    running = settings.env(settings.SCHEDULES_RUNNING_VAR) == "1"
    schedules = [
        dg.ScheduleDefinition(
            name=f"{job.name}_schedule",
            job=job,
            cron_schedule=d.schedule,
            default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
        )
        for d, job in zip(all_details, jobs)
        if d.schedule
    ]
    return dg.Definitions(
        assets=asset_specs(all_details),
        asset_checks=asset_checks(all_details),
        jobs=jobs,
        schedules=schedules,
        resources={
            "database": database_from_env(),
            "io_manager": ParquetCacheIOManager(base_path=settings.cache_dir()),
            # one process per step under the multiprocess executor: no threads needed there
            "loader": SourceLoader(state_dir=settings.cache_dir()),
        },
    )


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
    details = matches[0]
    base = cache_dir or settings.cache_dir()
    return build_job(
        details,
        resources={
            "database": DatabaseResource(url=database_url or settings.database_url()),
            "io_manager": ParquetCacheIOManager(base_path=base),
            "loader": SourceLoader(state_dir=base),
        },
    )
