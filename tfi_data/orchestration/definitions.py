"""Builds the code location's Definitions from a dataloaders directory."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import dagster as dg

from tfi_data import settings
from tfi_data.details import PipelineDetails
from tfi_data.orchestration.factory import build_job, source_asset_key, table_asset_key
from tfi_data.orchestration.io_manager import ParquetCacheIOManager
from tfi_data.orchestration.resources import database_from_env


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
        jobs=jobs,
        schedules=schedules,
        resources={
            "database": database_from_env(),
            "io_manager": ParquetCacheIOManager(base_path=settings.cache_dir()),
        },
    )
