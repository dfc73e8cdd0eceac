"""Entry points: Task (something that runs) and Pipeline (builds and launches one job)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from tfi_data import cache, settings
from tfi_data.details import PipelineDetails
from tfi_data.discovery import DATALOADER_LOGGERS
from tfi_data.export import ExportResult
from tfi_data.orchestration import SourceLoader, pipeline_definitions
from tfi_data.orchestration.factory import graph_name
from tfi_data.orchestration.resources import Progress

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
    """Builds the Dagster definitions of one PipelineDetails; runs them in-process (``ingest``) or
    submits a run to the Dagster instance (``launch``)."""

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

    def definitions(self, loader: SourceLoader | None = None) -> dg.Definitions:
        return pipeline_definitions(
            self.details, database_url=self.database_url, cache_dir=self.cache_dir, loader=loader
        )

    def build_job(self) -> dg.JobDefinition:
        return self.definitions().resolve_job_def(self.name)

    def graph(self) -> dg.GraphDefinition:
        """The pipeline's graph of ops (loads, checks, transform, exports, publish)."""
        return self.build_job().graph.node_named(graph_name(self.details)).definition

    def ingest(
        self,
        *,
        dry_run: bool = False,
        raise_on_error: bool = False,
        verbose: bool = False,
        progress: Progress | None = None,
        keep_cache: bool = False,
    ) -> PipelineResult:
        """Run the pipeline in-process, its sources loaded concurrently. ``dry_run``: every
        export only plans (counts, no writes, no side effect anywhere). ``progress(source, event,
        count)`` hears of loads: "loading" with the bytes to read, "loaded" with the rows read.
        The run's cached outputs are removed after a success unless ``keep_cache``. With
        ``DAGSTER_HOME`` set the run is recorded in that instance (it shows in the UI)."""
        loader = SourceLoader(concurrent=True, progress=progress, state_dir=self.cache_dir)
        job = self.definitions(loader).resolve_job_def(self.name)
        run_config: dict[str, Any] = {} if verbose else dict(_QUIET)
        if dry_run:
            run_config["ops"] = {graph_name(self.details): {"ops": _dry_run_config(job)}}
        with _instance() as instance:
            result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=raise_on_error)
        exports = []
        for export in self.details.exports:
            try:
                payload = result.output_for_node(f"{graph_name(self.details)}.export_{export.key}", "result")
            except dg.DagsterInvariantViolationError:  # the export did not run
                continue
            if payload is not None:
                exports.append(ExportResult(**payload))
        if result.success and not keep_cache:
            cache.remove_run(self.cache_dir, result.run_id)
        skipped = self.details.skip_unchanged and result.success and not exports
        return PipelineResult(
            pipeline=self.name,
            success=result.success,
            exports=exports,
            error=None if result.success else _failure_message(result),
            run_id=result.run_id,
            skipped=skipped,
        )

    def launch(self, *, wait: bool = False, dataloaders: str | Path | None = None, timeout: float = 3600) -> Launched:
        """Submit a run of the pipeline's job to the Dagster instance of ``DAGSTER_HOME``, as the
        UI does: queued, then started by the daemon in the code location it serves. ``dataloaders``:
        the directory that code location discovers (default ``TFI_DATALOADERS_DIR``, else the
        details' own directory). ``wait``: poll until the run ends."""
        return launch(
            self.name,
            dataloaders or settings.env(settings.DATALOADERS_DIR_VAR) or self.details.base_dir,
            wait=wait,
            timeout=timeout,
        )

    def run(self) -> PipelineResult:
        return self.ingest()


@dataclass
class Launched:
    run_id: str
    status: str  # QUEUED, STARTED, SUCCESS, FAILURE, CANCELED, ...

    @property
    def success(self) -> bool:
        return self.status == "SUCCESS"


def launch(job: str, dataloaders: str | Path, *, wait: bool = False, timeout: float = 3600) -> Launched:
    """Submit a run of ``job`` through Dagster's own ``dagster job launch`` (the run coordinator of
    the instance queues it; the daemon starts it)."""
    if not settings.env("DAGSTER_HOME"):
        raise LaunchError("launch needs DAGSTER_HOME: the Dagster instance the daemon and the UI use")
    run_id = str(uuid.uuid4())
    with tempfile.TemporaryDirectory(prefix="tfi-launch-") as tmp:
        # the code location under the name the UI and the daemon know it by
        workspace = Path(tmp) / "workspace.yaml"
        workspace.write_text(
            "load_from:\n  - python_module:\n      module_name: tfi_data.definitions\n"
            f"      location_name: {settings.CODE_LOCATION}\n"
        )
        command = [str(Path(sys.executable).with_name("dagster")), "job", "launch", "-w", str(workspace)]
        command += ["-j", job, "--run-id", run_id]
        env = {**os.environ, settings.DATALOADERS_DIR_VAR: str(Path(dataloaders).resolve())}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        raise LaunchError(f"dagster job launch {job!r} failed: {lines[-1] if lines else done.returncode}")
    with dg.DagsterInstance.get() as instance:
        deadline = time.monotonic() + timeout
        while True:
            run = instance.get_run_by_id(run_id)
            status = run.status.value if run is not None else "QUEUED"
            if not wait or (run is not None and run.is_finished) or time.monotonic() > deadline:
                return Launched(run_id, status)
            time.sleep(0.5)


class LaunchError(RuntimeError):
    """A run could not be submitted to the Dagster instance."""


@contextmanager
def _instance() -> Iterator[dg.DagsterInstance]:
    """The instance of ``DAGSTER_HOME`` when set (runs show in the UI), else an ephemeral one.
    Either way the dataloaders' own loggers are captured into the run's events."""
    if settings.env("DAGSTER_HOME"):
        try:
            instance = dg.DagsterInstance.get()
        except dg.DagsterInvalidConfigError as exc:
            # e.g. the deployment's instance without its DAGSTER_PG_* settings: say so, run anyway
            missing = sorted(set(re.findall(r'environment variable "(\w+)" which is not set', str(exc))))
            why = f"{', '.join(missing)} not set" if missing else "its configuration does not load"
            print(f"tfi-data: this run is not recorded in $DAGSTER_HOME's instance: {why}", file=sys.stderr)
        else:
            with instance:
                yield instance
            return
    yield dg.DagsterInstance.ephemeral(settings={"python_logs": {"managed_python_loggers": [DATALOADER_LOGGERS]}})


def _dry_run_config(job: dg.JobDefinition) -> dict[str, Any]:
    """Every step that writes, told to only plan."""
    graph = next(d for d in job.graph.node_defs if isinstance(d, dg.GraphDefinition))
    return {
        node.name: {"config": {"dry_run": True}}
        for node in graph.nodes
        if node.name == "validate" or node.name.startswith("export_")
    }


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The user-facing cause of the first failed step, not Dagster's wrapper around it."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            # Dagster's wrappers, and a RetryPolicy's "Exceeded max_retries": the cause is the user's
            while error.cause is not None and (error.cls_name or "").startswith(("Dagster", "RetryRequested")):
                error = error.cause
            # "pkg.module.LoadError: text" -> "LoadError: text"
            message = re.sub(r"^(?:\w+\.)+(?=\w+: )", "", error.message.strip())
            return f"{event.step_key.rsplit('.', 1)[-1]}: {message}"  # the node, not its graph
    return "run failed"
