"""The compose stack: compose.yaml as shipped, plus an override that points it at the host's
PostgreSQL (images other than the base cannot be pulled here) with host networking, runs a
repository written by `tfi-data init`: a job launched through the webserver's GraphQL API runs
through the daemon's queue, its step logs are readable through GraphQL, the one-shot `run`
service's exit code is the result, and the stack comes down."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tfi_data_tests.conftest import REPO, run_cli, table_rows
from tfi_data_tests.deploy.conftest import BuiltImage, free_port, open_up, require_tool, sh, shared_dir

pytestmark = [pytest.mark.container, pytest.mark.slow]

BASE_IMAGE = "python:3.11-slim-bookworm"  # the Dockerfile's default BASE_IMAGE (setup.sh builds it)

# The test's only additions to compose.yaml + the repository's compose.override.yaml.
TEST_OVERRIDE = """\
services:
  postgres:               # stand-in: the host's PostgreSQL serves the stack
    image: {base_image}   # the base image: no declared volumes to leave behind
    entrypoint: ["sleep", "infinity"]
    network_mode: host
    healthcheck: !reset null
    volumes: !reset []
  code-server:
    network_mode: host
  webserver:
    network_mode: host
    ports: !reset []
  daemon:
    network_mode: host
  run:
    network_mode: host
"""


class Stack:
    def __init__(self, files: list[Path], project: str, env: dict[str, str], web_port: int, code_port: int):
        self.files, self.project, self.env = files, project, env
        self.web_port, self.code_port = web_port, code_port

    def compose(self, *args: str, timeout: float = 300):
        files = [arg for f in self.files for arg in ("-f", str(f))]
        return sh("podman-compose", "-p", self.project, *files, *args, env=self.env, timeout=timeout, cwd=REPO)

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def logs(self, service: str) -> str:
        done = sh("podman", "logs", "--tail", "40", self.container(service))
        return f"--- {service}:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def wait(self, what: str, check, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except (OSError, urllib.error.URLError, AssertionError, KeyError, TypeError):
                pass
            time.sleep(1)
        pytest.fail(
            f"{what} not ready after {timeout:.0f} s\n"
            + "\n".join(map(self.logs, ("code-server", "webserver", "daemon")))
        )


@pytest.fixture
def init_repo() -> Iterator[Path]:
    root = shared_dir("tfi-deploy-init-")
    repo = root / "acme-dataloaders"
    done = run_cli("init", str(repo))
    assert done.returncode == 0, done.stderr
    open_up(root)
    yield repo
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def stack(image: BuiltImage, pg_url: str, init_repo: Path, tmp_path: Path) -> Iterator[Stack]:
    require_tool("podman-compose")
    override = tmp_path / "test-override.yaml"
    override.write_text(TEST_OVERRIDE.format(base_image=BASE_IMAGE))
    database = pg_url.rsplit("/", 1)[1]
    web_port, code_port = free_port(), free_port()
    env = {
        "TFI_IMAGE": image.name,
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "unused-with-trust-auth",
        "POSTGRES_DB": database,
        "TFI_DATABASE_URL": pg_url,
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_port),
        "DAGSTER_WEBSERVER_PORT": str(web_port),
    }
    project = f"tfitest{code_port}"
    s = Stack([REPO / "compose.yaml", init_repo / "compose.override.yaml", override], project, env, web_port, code_port)
    try:
        yield s
    finally:
        s.compose("down", "-v", "-t", "1", timeout=120)
        leftovers = sh("podman", "ps", "-aq", "--filter", f"label=io.podman.compose.project={project}").stdout.split()
        if leftovers:
            sh("podman", "rm", "-f", *leftovers)


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
WORKSPACE = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on RepositoryLocation { repositories { name jobs { name } } } } } } } }"""
RELOAD = """mutation($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) { __typename } }"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
STEPS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { stepStats { stepKey status } } } }"
REEXECUTE = """
mutation($params: ReexecutionParams!) {
  launchRunReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
CAPTURES = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection {
  events { __typename ... on LogsCapturedEvent { fileKey stepKeys } } } } }"""
CAPTURED = "query($key: [String!]!) { capturedLogs(logKey: $key) { stdout stderr } }"


def _jobs(stack: Stack) -> set[str]:
    entries = stack.graphql(WORKSPACE)["workspaceOrError"]["locationEntries"]
    return {
        job["name"]
        for entry in entries
        if entry["name"] == "tfi_data"
        for repo in (entry["locationOrLoadError"] or {}).get("repositories", [])
        for job in repo["jobs"]
    }


def _wait_for_run(stack: Stack, run_id: str) -> str:
    status = {}

    def finished() -> bool:
        status["value"] = stack.graphql(STATUS, {"id": run_id})["runOrError"]["status"]
        return status["value"] in ("SUCCESS", "FAILURE", "CANCELED")

    stack.wait(f"run {run_id}", finished, timeout=300)
    return status["value"]


def _executed_steps(stack: Stack, run_id: str) -> dict[str, str]:
    stats = stack.graphql(STEPS, {"id": run_id})["runOrError"]["stepStats"]
    return {s["stepKey"]: s["status"] for s in stats}


def _sql(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def test_stack_runs_an_init_repository_job_launched_through_the_webserver(stack: Stack, pg_url: str) -> None:
    volumes_before = set(sh("podman", "volume", "ls", "-q").stdout.split())
    started = time.monotonic()
    up = stack.compose("up", "-d")
    assert up.returncode == 0, up.stderr[-3000:]

    # podman-compose does not wait on health conditions: wait as the health checks would.
    stack.wait(
        "code server",
        lambda: sh(
            "podman", "exec", stack.container("code-server"), "dagster", "api", "grpc-health-check",
            "-p", str(stack.code_port), timeout=60,
        ).returncode == 0,
    )  # fmt: skip
    stack.wait("webserver", lambda: urllib.request.urlopen(f"http://127.0.0.1:{stack.web_port}/server_info", timeout=5))

    def trips_loaded() -> bool:
        if "trips" in _jobs(stack):
            return True
        stack.graphql(RELOAD, {"name": "tfi_data"})  # the webserver came up before the code server
        return False

    stack.wait("the trips job in the webserver", trips_loaded)

    selector = {"repositoryLocationName": "tfi_data", "repositoryName": "__repository__", "jobName": "trips"}
    launched = stack.graphql(LAUNCH, {"params": {"selector": selector, "runConfigData": {}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    assert _wait_for_run(stack, run_id) == "SUCCESS", "\n".join(map(stack.logs, ("code-server", "daemon")))
    print(f"\ncompose stack: up to a successful run in {time.monotonic() - started:.1f} s")
    assert len(table_rows(pg_url, "trips", "day, route")) == 6

    # Step logs written in the code server's container are readable through the webserver.
    events = stack.graphql(CAPTURES, {"id": run_id})["logsForRun"]["events"]
    captures = [e for e in events if e["__typename"] == "LogsCapturedEvent"]
    assert captures
    logs = [stack.graphql(CAPTURED, {"key": [run_id, "compute_logs", c["fileKey"]]})["capturedLogs"] for c in captures]
    stdout = "".join(log["stdout"] or "" for log in logs)
    stderr = "".join(log["stderr"] or "" for log in logs)
    assert "trips: 6 rows for 2 routes" in stdout  # printed by the dataloader's transformer
    assert "STEP_SUCCESS" in stderr

    # Re-execution from failure: a run whose export fails (a view stands where the table goes) is
    # re-executed after the cause is gone; only the failed part runs again, on the outputs the
    # parent run left in the shared cache volume.
    _sql(pg_url, "DROP TABLE trips", "CREATE VIEW trips AS SELECT 1 AS blocked")
    launched = stack.graphql(LAUNCH, {"params": {"selector": selector, "runConfigData": {}}})["launchRun"]
    failed_run = launched["run"]["runId"]
    assert _wait_for_run(stack, failed_run) == "FAILURE"
    parent_steps = _executed_steps(stack, failed_run)
    assert "FAILURE" in parent_steps.values() and "SUCCESS" in parent_steps.values(), parent_steps
    _sql(pg_url, "DROP VIEW trips")
    params = {"parentRunId": failed_run, "strategy": "FROM_FAILURE"}
    relaunched = stack.graphql(REEXECUTE, {"params": params})["launchRunReexecution"]
    assert relaunched["__typename"] == "LaunchRunSuccess", relaunched
    child = relaunched["run"]["runId"]
    assert _wait_for_run(stack, child) == "SUCCESS", stack.logs("code-server")
    child_steps = _executed_steps(stack, child)
    assert set(child_steps.values()) == {"SUCCESS"}
    reused = {key for key, status in parent_steps.items() if status == "SUCCESS"} - set(child_steps)
    assert reused, f"every step ran again: parent {parent_steps}, child {child_steps}"
    assert len(table_rows(pg_url, "trips", "day, route")) == 6

    # The one-shot run service: every pipeline of the mounted directory; exit code = result.
    once = stack.compose("--profile", "run", "run", "-T", "--rm", "run")
    assert once.returncode == 0, once.stderr[-3000:]
    assert [line.split() for line in once.stdout.splitlines() if line.startswith("trips ")] == [
        ["trips", "trips", "0", "0", "0", "6", "6"]
    ]
    failed = stack.compose(
        *("--profile", "run", "run", "-T", "--rm", "run"),
        *("tfi-data", "run", "/opt/dataloaders", "--database", "sqlite:////nonexistent/dir/x.sqlite"),
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "tfi-data: pipeline 'trips' failed" in failed.stderr

    down = stack.compose("down", "-v", "-t", "1", timeout=120)
    assert down.returncode == 0, down.stderr
    assert sh("podman", "ps", "-aq", "--filter", f"label=io.podman.compose.project={stack.project}").stdout == ""
    left = set(sh("podman", "volume", "ls", "-q").stdout.split()) - volumes_before
    assert not left, f"volumes left behind by the stack: {sorted(left)}"


def test_compose_file_declares_the_production_stack() -> None:
    """compose.yaml as shipped (no container started): what Docker users rely on."""
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "code-server", "webserver", "daemon", "run"}
    assert services["postgres"]["image"].endswith("postgres:15}")
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    for name in ("postgres", "code-server", "webserver", "daemon"):
        assert "healthcheck" in services[name], name
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "code-server": {"condition": "service_healthy"},
        }
        assert "/opt/dagster/workspace.yaml" in services[name]["command"]
    for name in ("code-server", "webserver", "daemon", "run"):
        volumes = services[name]["volumes"]
        assert "${TFI_DATALOADERS_PATH:-./examples/dataloaders}:/opt/dataloaders:ro" in volumes
        assert {"tfi-cache:/opt/dagster/cache", "dagster-storage:/opt/dagster/home/storage"} <= set(volumes)
    assert services["run"]["profiles"] == ["run"] and services["run"]["restart"] == "no"
    assert services["run"]["command"] == ["tfi-data", "run", "/opt/dataloaders"]
    assert set(compose["volumes"]) == {"postgres-data", "tfi-cache", "dagster-storage", "tfi-data"}

    # Every variable the file needs is in .env.example, with no credential filled in.
    example = dict(
        line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines() if line and line[0] != "#"
    )
    assert example["POSTGRES_PASSWORD"] == ""
    for var in ("TFI_DATALOADERS_PATH", "POSTGRES_USER", "POSTGRES_DB", "TFI_DATABASE_URL", "TFI_IMAGE"):
        assert var in example
