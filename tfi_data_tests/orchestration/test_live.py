"""The code location live: real dagster-webserver, dagster-daemon and `dagster dev` processes on
free loopback ports, runs launched through GraphQL as the UI launches them, a headless Chromium
on the UI. Instance storage is the test PostgreSQL (deploy/dagster.yaml); the exported tables go
into a SQLite file in the test's directory. Every process is stopped when its test ends."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from tfi_data.discovery import discover
from tfi_data.orchestration.definitions import build_definitions

from .. import live
from ..conftest import REPO

STATIONS = ["tables", "stations"]
RIDERSHIP = ["tables", "ridership"]
STATION_CHECKS = [(STATIONS, "rules"), (STATIONS, "schema_drift")]
RUN_TIMEOUT = 90  # seconds from launch to the end of a run of an example pipeline
NEW_MONTH = "ridership_2026-03.csv"
NEW_ROW = "2026-03-02,R1,1500,2250.00"
ARTIFACTS = Path(os.environ.get("TFI_TEST_ARTIFACTS") or REPO / "tfi_data_tests" / "artifacts")


@pytest.fixture
def live_env(pg_url: str, examples: Path, sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of the webserver and daemon: an instance in tmp_path stored in the test
    database, the copied examples, exports into tmp_path's SQLite file, the cache in tmp_path."""
    return live.clean_env(
        **live.postgres_instance(tmp_path / "dagster_home", pg_url),
        TFI_DATALOADERS_DIR=examples,
        TFI_DATABASE_URL=sqlite_url,
        TFI_CACHE_DIR=tmp_path / "cache",
    )


def column(url: str, table: str, name: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.text(f"SELECT {name} FROM {table} ORDER BY {name}"))]
    finally:
        engine.dispose()


def station_ids(examples: Path) -> list[int]:
    return sorted(s["station_id"] for s in json.loads((examples / "data" / "stations.json").read_text()))


def by_type(events: list[dict], typename: str) -> list[dict]:
    return [e for e in events if e["__typename"] == typename]


def evaluations(events: list[dict]) -> dict[str, bool]:
    return {
        e["evaluation"]["checkName"]: e["evaluation"]["success"] for e in by_type(events, "AssetCheckEvaluationEvent")
    }


def materialized(events: list[dict]) -> list[list[str]]:
    return [e["assetKey"]["path"] for e in by_type(events, "MaterializationEvent")]


def assert_succeeded(graphql: live.GraphQL, run: dict) -> None:
    assert run["status"] == "SUCCESS", f"run {run['runId']} {run['status']}:\n{graphql.failure_messages(run['runId'])}"


# -- 1. webserver + daemon: a UI materialization, the asset's job, one check alone -------------


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(170)
def test_ui_materialization_is_queued_run_by_the_daemon_and_writes_the_table(live_env, sqlite_url, examples, tmp_path):
    with live.webserver_and_daemon(tmp_path, live_env) as stack:
        graphql = stack.graphql
        node = graphql.asset_node(STATIONS)
        assert "stations" in node["jobNames"], node["jobNames"]
        assert node["isMaterializable"] and node["isExecutable"] and not node["isObservable"]
        assert node["groupName"] == "stations" and node["graphName"] == "stations__pipeline"
        assert node["dependencyKeys"] == [{"path": ["sources", "stations"]}]
        checks = {c["name"]: c for c in node["assetChecksOrError"]["checks"]}
        assert sorted(checks) == ["rules", "schema_drift"]
        source = graphql.asset_node(["sources", "stations"])
        assert not source["isMaterializable"] and source["groupName"] == "stations"

        # Materialize on the asset's page: the asset and the checks that come with it
        launched = graphql.launch(assets=[STATIONS], checks=STATION_CHECKS)
        assert launched["status"] == "QUEUED"  # the QueuedRunCoordinator holds it for the daemon
        run = graphql.wait_run(launched["runId"], RUN_TIMEOUT, stack.procs)
        assert_succeeded(graphql, run)
        events = graphql.events(run["runId"])
        kinds = {e["__typename"] for e in events}
        assert {"RunEnqueuedEvent", "RunStartingEvent", "RunStartEvent", "RunSuccessEvent"} <= kinds
        assert materialized(events) == [STATIONS]
        assert evaluations(events) == {"rules": True, "schema_drift": True}
        assert column(sqlite_url, "stations", "station_id") == station_ids(examples)

        # "Execute" on one check of the table's Checks tab: the check alone, nothing written
        with sa.create_engine(sqlite_url).begin() as conn:
            conn.execute(sa.text("DELETE FROM stations WHERE station_id = :id"), {"id": station_ids(examples)[0]})
        launched = graphql.launch(job=node["jobNames"][0], checks=[(STATIONS, "rules")])
        run = graphql.wait_run(launched["runId"], RUN_TIMEOUT, stack.procs)
        assert_succeeded(graphql, run)
        assert not run["assetSelection"] and run["assetCheckSelection"] == [
            {"assetKey": {"path": STATIONS}, "name": "rules"}
        ]
        events = graphql.events(run["runId"])
        assert materialized(events) == []
        assert evaluations(events) == {"rules": True}
        latest = graphql.check_executions(STATIONS, "rules")[0]
        assert latest["runId"] == run["runId"] and latest["status"] == "SUCCEEDED"
        assert latest["evaluation"]["success"] is True
        assert column(sqlite_url, "stations", "station_id") == station_ids(examples)[1:]  # untouched


def test_a_table_check_can_be_executed_alone_from_the_ui(examples):
    """What the UI's Execute button on one check depends on (GraphQL canExecuteIndividually is
    CAN_EXECUTE only for a check whose execution set is itself)."""
    graph = build_definitions(discover(examples)).resolve_asset_graph()
    for name in ("rules", "schema_drift"):
        key = dg.AssetCheckKey(dg.AssetKey(STATIONS), name)
        assert graph.get_execution_set_identifier(key) is None, name


# -- 2. the file sensor -----------------------------------------------------------------------


def test_file_sensor_requests_one_run_per_new_file_set(examples):
    """The sensor evaluated directly (no daemon): a new file set requests one run keyed by its
    fingerprint; the same files again request none."""
    sensor = build_definitions(discover(examples)).resolve_sensor_def("ridership_files")
    first = sensor.evaluate_tick(dg.build_sensor_context(cursor=None))
    assert len(first.run_requests) == 1 and first.run_requests[0].run_key.startswith("files-")
    again = sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor))
    assert again.run_requests == [] and again.skip_message
    (examples / "data" / NEW_MONTH).write_text(f"Day,Route,Riders,Revenue EUR\n{NEW_ROW}\n")
    new = sensor.evaluate_tick(dg.build_sensor_context(cursor=first.cursor))
    assert len(new.run_requests) == 1 and new.run_requests[0].run_key != first.run_requests[0].run_key
    assert sensor.evaluate_tick(dg.build_sensor_context(cursor=new.cursor)).run_requests == []


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(170)
def test_new_file_starts_exactly_one_sensor_run_and_the_next_tick_none(live_env, sqlite_url, examples, tmp_path):
    """The daemon's sensor ticks every 30 s (the sensor's minimum interval): the first tick runs
    the pipeline on the files there are, the next after a new file runs it once more, the one
    after that requests nothing."""
    sensor_runs = {"dagster/sensor_name": "ridership_files"}
    with live.webserver_and_daemon(tmp_path, {**live_env, "TFI_SENSORS_RUNNING": "1"}) as stack:
        graphql = stack.graphql

        def ended() -> list[dict]:
            runs = graphql.runs(job="ridership", tags=sensor_runs)
            return runs if runs and all(r["status"] in live.TERMINAL for r in runs) else []

        (first,) = live.wait_for("the sensor's first run", ended, RUN_TIMEOUT, stack.procs)
        assert_succeeded(graphql, first)
        assert len(column(sqlite_url, "ridership", "day")) == 12

        (examples / "data" / NEW_MONTH).write_text(f"Day,Route,Riders,Revenue EUR\n{NEW_ROW}\n")
        runs = live.wait_for("a run for the new file", lambda: len(r := ended()) > 1 and r, 75, stack.procs)
        assert len(runs) == 2, runs
        second = runs[0]
        assert_succeeded(graphql, second)
        keys = [{t["key"]: t["value"] for t in r["tags"]}.get("dagster/run_key", "") for r in (first, second)]
        assert all(k.startswith("files-") for k in keys) and keys[0] != keys[1]
        days = column(sqlite_url, "ridership", "day")
        assert len(days) == 13 and str(days[-1]).startswith("2026-03-02")

        # the tick after the one that requested the second run requests nothing
        status, ticks = graphql.sensor_ticks("ridership_files")
        assert status == "RUNNING"
        (requested,) = [t for t in ticks if second["runId"] in t["runIds"]]

        def next_tick() -> dict | None:
            later = [t for t in graphql.sensor_ticks("ridership_files")[1] if t["timestamp"] > requested["timestamp"]]
            return later[-1] if later and later[-1]["status"] != "STARTED" else None

        tick = live.wait_for("the next sensor tick", next_tick, 60, stack.procs, interval=1)
        assert tick["status"] == "SKIPPED" and tick["runIds"] == [], tick
        assert [r["runId"] for r in graphql.runs(job="ridership")] == [second["runId"], first["runId"]]


# -- 3. the UI in a headless Chromium ---------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "chromium is not installed (Debian package `chromium`; .ci/run installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def render(browser: str, url: str, name: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (also kept as ARTIFACTS/<name>.html), and a screenshot
    of it in ARTIFACTS/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        "--window-size=1400,900",
        "--virtual-time-budget=15000",
    ]
    png = ARTIFACTS / f"{name}.png"
    png.unlink(missing_ok=True)
    page = subprocess.run([*base, f"--screenshot={png}", "--dump-dom", url], capture_output=True, text=True, timeout=90)
    assert page.returncode == 0 and page.stdout, page.stderr[-2000:]
    (ARTIFACTS / f"{name}.html").write_text(page.stdout)
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", page.stderr[-2000:]
    assert png.stat().st_size > 20_000  # a rendered page, not a blank one
    return page.stdout


def text_of(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


def graph_nodes(dom: str) -> set[tuple[str, str]]:
    """(kind, label) of each asset node drawn on a lineage graph: kind ``source_asset`` for an
    external asset, ``asset`` for a materializable one."""
    return set(re.findall(r'aria-label="(source_asset|asset)"[^>]*>.*?data-tooltip="([^"]+)"', dom, flags=re.S))


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(170)
def test_lineage_and_table_pages_render_in_headless_chromium(live_env, tmp_path):
    browser = chromium()
    with live.webserver_and_daemon(tmp_path, live_env) as stack:
        graphql = stack.graphql
        graphql("mutation { setNuxSeen }")  # "Skip" on the first visit's community dialog
        run = graphql.launch(assets=[STATIONS], checks=STATION_CHECKS)
        assert_succeeded(graphql, graphql.wait_run(run["runId"], RUN_TIMEOUT, stack.procs))
        profile = tmp_path / "chromium"

        dom = render(browser, f"{stack.url}/asset-groups", "global_lineage", profile)
        text = text_of(dom)
        assert "Global asset lineage" in text and "ridership" in text and "stations" in text

        for group in ("stations", "ridership"):
            dom = render(
                browser, f"{stack.url}/locations/tfi_data/asset-groups/{group}/lineage", f"{group}_lineage", profile
            )
            assert graph_nodes(dom) == {("source_asset", group), ("asset", group)}, graph_nodes(dom)
            assert f'href="/assets/tables/{group}?view=checks"' in dom

        dom = render(browser, f"{stack.url}/assets/tables/stations", "table_stations", profile)
        text = text_of(dom)
        assert "Materialize" in text and "station_id" in text
        for link in ("/assets/sources/stations", "/locations/tfi_data/jobs/stations"):
            assert f'href="{link}"' in dom, link
        assert "External" not in text


# -- 4. `dagster dev` from the repository root with nothing set --------------------------------


# What the code location would write into the directory it starts in if it ran anything.
_LOCATION_FILES = ("tfi_data.sqlite", ".tfi_cache")


@pytest.mark.slow
@pytest.mark.timeout(170)
def test_dagster_dev_from_the_repository_root_with_nothing_set(tmp_path):
    """`dagster dev` in the repository with no DAGSTER_HOME and no TFI_* variable: it reads the
    repository's dagster.yaml and workspace, keeps its instance in a temporary directory of the
    repository that it removes when it stops, and leaves nothing else behind."""
    before = {n for n in _LOCATION_FILES if (REPO / n).exists()}
    port = live.free_port()
    argv = [str(live.BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port)]
    home: Path | None = None
    dev: live.Proc | None = None
    try:
        with live.running(("dagster_dev", argv, {"env": live.clean_env(), "cwd": REPO, "log_dir": tmp_path})) as procs:
            dev = procs[0]
            url = f"http://127.0.0.1:{port}"
            info = live.wait_http_ok(f"{url}/server_info", 120, procs).json()
            assert "dagster_webserver_version" in info
            home = _dev_home(dev)
            assert home is not None and home.parent == REPO and home.name.startswith(".tmp_dagster_home_")
            graphql = live.GraphQL(url)
            entry = live.wait_for("the code location", graphql.location_loaded, 120, procs)
            assert entry["locationOrLoadError"]["repositories"] == [{"name": live.REPOSITORY}]
            for table in (STATIONS, RIDERSHIP):
                assert graphql.asset_node(table)["isMaterializable"]
            live.wait_for("the daemon dagster dev starts", graphql.daemons_healthy, 60, procs, interval=1)
            instance = graphql("{ instance { info runQueuingSupported } }")["instance"]
            assert instance["runQueuingSupported"]  # the repository's dagster.yaml was read
            assert f"base_dir: {home}" in instance["info"]
        assert not live.group_members(dev.popen.pid), "dagster dev left processes running"
        assert not home.exists(), f"dagster dev left its instance directory {home}"
        assert {n for n in _LOCATION_FILES if (REPO / n).exists()} == before
    finally:
        home = home or (_dev_home(dev) if dev is not None else None)
        if home is not None and home.parent == REPO:
            shutil.rmtree(home, ignore_errors=True)


def _dev_home(proc: live.Proc) -> Path | None:
    """The temporary instance directory `dagster dev` says it uses."""
    found = re.search(r"Using temporary directory (\S+) for storage", proc.output(tail=100_000))
    return Path(found.group(1)) if found else None


# -- 5. two materializations of one table at once ---------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(170)
def test_two_materializations_of_one_table_launched_at_once(live_env, sqlite_url, examples, tmp_path):
    with live.webserver_and_daemon(tmp_path, live_env) as stack:
        graphql = stack.graphql
        launched: list[dict] = []
        start = threading.Barrier(2)

        def launch() -> None:
            start.wait()
            launched.append(graphql.launch(assets=[STATIONS], checks=STATION_CHECKS))

        threads = [threading.Thread(target=launch) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(launched) == 2
        runs = [graphql.wait_run(r["runId"], RUN_TIMEOUT, stack.procs) for r in launched]
        for run in runs:
            assert_succeeded(graphql, run)
            assert materialized(graphql.events(run["runId"])) == [STATIONS]
        ids = column(sqlite_url, "stations", "station_id")
        assert ids == station_ids(examples) and len(ids) == len(set(ids)) == 5

        # the export steps took turns (the table's concurrency pool, limit 1)
        spans = []
        for run in runs:
            events = [e for e in graphql.events(run["runId"]) if (e.get("stepKey") or "").endswith("export_stations")]
            started = [float(e["timestamp"]) for e in by_type(events, "ExecutionStepStartEvent")]
            ended = [float(e["timestamp"]) for e in by_type(events, "ExecutionStepSuccessEvent")]
            assert len(started) == len(ended) == 1, events
            spans.append((started[0], ended[0]))
        first, second = sorted(spans)
        assert first[1] <= second[0], f"export steps overlapped: {spans}"
