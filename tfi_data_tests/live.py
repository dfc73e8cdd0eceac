"""Live Dagster processes for tests and benchmarks: free loopback ports, dagster-webserver,
dagster-daemon and ``dagster dev`` started as subprocesses with their own instance directory,
and a small GraphQL client speaking to the webserver as the UI does.

Every process is started in its own session (process group) and :meth:`Proc.stop` ends the whole
group, so the code servers and run workers a webserver or daemon spawns go with it. Use the
processes in a ``with`` block (or a fixture's ``finally``): they are stopped whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOCATION = "tfi_data"
REPOSITORY = "__repository__"
ASSET_JOB = "__ASSET_JOB"
# What a test's processes must not inherit from the developer's shell or the test process.
_INHERITED_PREFIXES = ("TFI_", "DAGSTER_")
TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**settings: str | os.PathLike) -> dict[str, str]:
    """The current environment without any TFI_* or DAGSTER_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
    env.update({k: str(v) for k, v in settings.items()})
    return env


@dataclass
class Proc:
    """A started process (leader of its own process group) and the file its output goes to."""

    name: str
    popen: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self, tail: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, grace: float = 15.0) -> None:
        """End the process and everything it started: SIGTERM to its group (Dagster shuts down
        its code servers and removes its temporary files), SIGKILL after ``grace`` seconds."""
        pgid = self.popen.pid  # start_new_session: the group is the leader's pid
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self.popen.poll()  # reap the leader once it exits
            if not group_members(pgid):
                break
            time.sleep(0.2)
        _signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ")"
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def start(name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_dir: Path) -> Proc:
    """Start ``argv`` in its own session, its output (stdout and stderr) into ``log_dir/name.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Proc(name, popen, log)


@contextlib.contextmanager
def running(*procs_to_start: Any) -> Iterator[list[Proc]]:
    """Start each ``(name, argv, kwargs)`` in order; on leaving, stop them all in reverse."""
    started: list[Proc] = []
    try:
        for name, argv, kwargs in procs_to_start:
            started.append(start(name, argv, **kwargs))
        yield started
    finally:
        for proc in reversed(started):
            proc.stop()


def wait_for(what: str, check: Any, timeout: float, procs: Sequence[Proc] = (), interval: float = 0.25) -> Any:
    """Call ``check()`` until it returns something truthy; fail after ``timeout`` seconds, or as
    soon as one of ``procs`` has exited (with the end of its output)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(
                    f"{proc.name} exited with {proc.popen.returncode} while waiting for {what}:\n{proc.output()}"
                )
        try:
            value = check()
            if value:
                return value
        except (requests.RequestException, GraphQLError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            logs = "".join(f"\n--- {p.name}:\n{p.output(2000)}" for p in procs)
            raise TimeoutError(f"{what}: not within {timeout:.0f} s (last error: {last_error}){logs}")
        time.sleep(interval)


def wait_http_ok(url: str, timeout: float, procs: Sequence[Proc] = ()) -> requests.Response:
    """Wait for HTTP 200 from ``url`` (e.g. a webserver's ``/server_info``)."""

    def get() -> requests.Response | None:
        response = requests.get(url, timeout=5)
        return response if response.status_code == 200 else None

    return wait_for(f"HTTP 200 from {url}", get, timeout, procs)


# -- the instance and the workspace ------------------------------------------------------------


def postgres_instance(home: Path, pg_url: str) -> dict[str, str]:
    """Make ``home`` a Dagster instance directory with the deployment configuration
    (deploy/dagster.yaml: storage in PostgreSQL) and return the DAGSTER_PG_* variables and
    DAGSTER_HOME that point it at the database of ``pg_url``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((REPO / "deploy" / "dagster.yaml").read_text())
    url = make_url(pg_url)
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_USERNAME": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_DB": url.database,
    }


def workspace_file(directory: Path) -> Path:
    """A workspace.yaml loading the code location from the installed package."""
    path = directory / "workspace.yaml"
    path.write_text(
        f"load_from:\n  - python_module:\n      module_name: tfi_data.definitions\n      location_name: {LOCATION}\n"
    )
    return path


@dataclass
class Stack:
    """A running dagster-webserver (and usually dagster-daemon) over one instance."""

    url: str
    procs: list[Proc]
    graphql: GraphQL = field(init=False)

    def __post_init__(self) -> None:
        self.graphql = GraphQL(self.url)


@contextlib.contextmanager
def webserver_and_daemon(
    workdir: Path, env: Mapping[str, str], *, daemon: bool = True, timeout: float = 90
) -> Iterator[Stack]:
    """dagster-webserver on a free loopback port and dagster-daemon, both on the instance in
    ``env["DAGSTER_HOME"]`` and a workspace.yaml in ``workdir`` (also their cwd); logs in
    ``workdir/logs``. Waits until /server_info answers, the code location is loaded and the
    daemon's heartbeat is seen."""
    port = free_port()
    workspace = workspace_file(workdir)
    kwargs = {"env": env, "cwd": workdir, "log_dir": workdir / "logs"}
    webserver = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)]
    with running(("webserver", webserver, kwargs)) as procs:
        stack = Stack(f"http://127.0.0.1:{port}", procs)
        # The webserver creates the instance's storage; a daemon starting at the same moment on
        # a fresh instance would race it (two alembic heads in a new SQLite storage).
        wait_http_ok(f"{stack.url}/server_info", timeout, procs)
        daemons = [("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], kwargs)] if daemon else []
        with running(*daemons) as more:
            procs.extend(more)
            wait_for("the code location to load", stack.graphql.location_loaded, timeout, procs)
            if daemon:
                wait_for("the daemon's heartbeat", stack.graphql.daemons_healthy, timeout, procs, interval=1)
            yield stack


# -- GraphQL -----------------------------------------------------------------------------------


class GraphQLError(RuntimeError):
    pass


LAUNCH = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id runId pipelineName status } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId status pipelineName startTime endTime creationTime updateTime
      tags { key value }
      assetSelection { path }
      assetCheckSelection { assetKey { path } name }
    }
    ... on Error { message }
  }
}
"""

RUN_EVENTS = """
query RunEvents($runId: ID!, $after: String) {
  logsForRun(runId: $runId, afterCursor: $after, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on MessageEvent { message timestamp level stepKey }
        ... on MaterializationEvent { assetKey { path } }
        ... on AssetCheckEvaluationEvent {
          evaluation { checkName success severity assetKey { path } }
        }
      }
    }
    ... on Error { message }
  }
}
"""

LOCATIONS = """
query Locations {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

ASSET_NODE = """
query AssetNode($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      assetKey { path }
      groupName jobNames opNames graphName
      isMaterializable isExecutable isObservable isPartitioned
      dependencyKeys { path }
      assetChecksOrError {
        __typename
        ... on AssetChecks { checks { name jobNames canExecuteIndividually } }
      }
    }
    ... on Error { message }
  }
}
"""

CHECK_EXECUTIONS = """
query CheckExecutions($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 10) {
    runId status
    evaluation { success severity }
  }
}
"""

RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter, limit: 100) {
    __typename
    ... on Runs { results { runId status pipelineName creationTime tags { key value } } }
    ... on Error { message }
  }
}
"""

SENSOR_TICKS = """
query SensorTicks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState { status ticks(limit: 20) { id status timestamp runIds runKeys skipReason cursor } }
    }
    ... on Error { message }
  }
}
"""

DAEMONS = """
query Daemons {
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } }
}
"""


class GraphQL:
    """The webserver's GraphQL endpoint, posted to with requests as the UI does."""

    def __init__(self, base_url: str, timeout: float = 30):
        self.endpoint = f"{base_url}/graphql"
        self.timeout = timeout
        self.session = requests.Session()

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.session.post(self.endpoint, json={"query": query, "variables": variables}, timeout=self.timeout)
        if response.status_code != 200 and "application/json" not in response.headers.get("content-type", ""):
            raise GraphQLError(f"HTTP {response.status_code}: {response.text[:500]}")
        body = response.json()
        if body.get("errors"):
            raise GraphQLError("; ".join(e.get("message", str(e)) for e in body["errors"]))
        return body["data"]

    # -- the workspace and the daemon

    def locations(self) -> list[dict[str, Any]]:
        result = self(LOCATIONS)["workspaceOrError"]
        if result["__typename"] != "Workspace":
            raise GraphQLError(result.get("message", str(result)))
        return result["locationEntries"]

    def location_loaded(self, name: str = LOCATION) -> dict[str, Any] | None:
        """The location's entry once it is LOADED; an error if it loaded with an error."""
        for entry in self.locations():
            if entry["name"] != name or entry["loadStatus"] != "LOADED":
                continue
            loaded = entry["locationOrLoadError"]
            if loaded["__typename"] != "RepositoryLocation":
                raise AssertionError(f"code location {name!r} failed to load: {loaded.get('message')}")
            return entry
        return None

    def daemons_healthy(self) -> bool:
        statuses = self(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        return all(s["healthy"] for s in statuses if s["required"])

    # -- runs

    def launch(
        self,
        *,
        job: str = ASSET_JOB,
        assets: Sequence[Sequence[str]] = (),
        checks: Sequence[tuple[Sequence[str], str]] = (),
        tags: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Launch a run as the UI's Materialize / Execute checks buttons do (the
        launchPipelineExecution mutation); return the new run's ``runId`` and ``status``."""
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
                "jobName": job,
                "assetSelection": [{"path": list(a)} for a in assets],
                "assetCheckSelection": [{"assetKey": {"path": list(a)}, "name": n} for a, n in checks],
            },
            "runConfigData": "{}",
            "mode": "default",
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }
        result = self(LAUNCH, executionParams=params)["launchPipelineExecution"]
        if result["__typename"] != "LaunchRunSuccess":
            raise GraphQLError(f"launch failed: {result}")
        return result["run"]

    def run(self, run_id: str) -> dict[str, Any]:
        result = self(RUN, runId=run_id)["runOrError"]
        if result["__typename"] != "Run":
            raise GraphQLError(str(result))
        return result

    def wait_run(self, run_id: str, timeout: float, procs: Sequence[Proc] = ()) -> dict[str, Any]:
        """The run once it has ended (SUCCESS, FAILURE or CANCELED)."""
        return wait_for(
            f"run {run_id} to end",
            lambda: (r := self.run(run_id))["status"] in TERMINAL and r,
            timeout,
            procs,
            interval=0.2,
        )

    def events(self, run_id: str) -> list[dict[str, Any]]:
        events, cursor = [], None
        while True:
            result = self(RUN_EVENTS, runId=run_id, after=cursor)["logsForRun"]
            if result["__typename"] != "EventConnection":
                raise GraphQLError(str(result))
            events += result["events"]
            cursor = result["cursor"]
            if not result["hasMore"]:
                return events

    def asset_node(self, path: Sequence[str]) -> dict[str, Any]:
        result = self(ASSET_NODE, key={"path": list(path)})["assetNodeOrError"]
        if result["__typename"] != "AssetNode":
            raise GraphQLError(str(result))
        return result

    def check_executions(self, path: Sequence[str], check: str) -> list[dict[str, Any]]:
        """The check's executions, newest first."""
        return self(CHECK_EXECUTIONS, key={"path": list(path)}, check=check)["assetCheckExecutions"]

    def runs(self, job: str | None = None, tags: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Runs, newest first, of ``job`` and/or with ``tags``."""
        run_filter: dict[str, Any] = {}
        if job:
            run_filter["pipelineName"] = job
        if tags:
            run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        result = self(RUNS, filter=run_filter)["runsOrError"]
        if result["__typename"] != "Runs":
            raise GraphQLError(str(result))
        return result["results"]

    def sensor_ticks(self, sensor: str) -> tuple[str, list[dict[str, Any]]]:
        """The sensor's status and its ticks, newest first."""
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": sensor}
        result = self(SENSOR_TICKS, selector=selector)["sensorOrError"]
        if result["__typename"] != "Sensor":
            raise GraphQLError(str(result))
        return result["sensorState"]["status"], result["sensorState"]["ticks"]

    def failure_messages(self, run_id: str) -> str:
        """The error and warning messages of a run, for an assertion's message."""
        return "\n".join(
            f"{e.get('stepKey')}: {e['message']}"
            for e in self.events(run_id)
            if e.get("level") in ("ERROR", "CRITICAL", "WARNING") and e.get("message")
        )[-4000:]
