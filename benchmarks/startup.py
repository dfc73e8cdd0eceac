"""Run start-up: a UI-launched run of an example pipeline against `tfi-data run` of the same one.

    .venv/bin/python benchmarks/startup.py                     # N=5 runs each after one warm-up
    .venv/bin/python benchmarks/startup.py -n 10 --pipeline ridership
    .venv/bin/python benchmarks/startup.py --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
    .venv/bin/python benchmarks/startup.py --dequeue-interval 1   # try a run coordinator setting

UI-launched: dagster-webserver + dagster-daemon on a fresh instance (the repository's
dagster.yaml: QueuedRunCoordinator, default run launcher; with --postgres, deploy/dagster.yaml on
a fresh database of that server, dropped afterwards), the run launched through GraphQL exactly as
the UI's Materialize button does, after a random pause of 0-5 s (a click at any moment of the
daemon's dequeue loop), timed from the submit to the moment SUCCESS is seen (polled every 0.1 s).
Its events split that time into: the launch call, the wait in the queue (the daemon's dequeue
loop), the run worker's start (a new process importing Dagster and loading the code location),
the steps, and the end. `tfi-data run PATH --pipeline NAME` is timed from process start to exit.
Both write into their own SQLite file; after the warm-up both runs find the table unchanged, so
the work is the same. The target (issue 8): UI-launched <= 2x `tfi-data run`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tfi_data_tests import live  # noqa: E402  (the process helpers of the live tests)

EXAMPLES = REPO / "examples" / "dataloaders"
TARGET = 2.0
PHASES = [
    ("launch call (submit -> queued)", "submit", "RunEnqueuedEvent"),
    ("in the queue (daemon dequeue)", "RunEnqueuedEvent", "RunStartingEvent"),
    ("run worker start (process + code location)", "RunStartingEvent", "RunStartEvent"),
    ("steps (run start -> last step done)", "RunStartEvent", "last_step"),
    ("run end (last step -> RUN_SUCCESS)", "last_step", "RunSuccessEvent"),
    ("seen by the poll (RUN_SUCCESS -> seen)", "RunSuccessEvent", "seen"),
]


def median(values: list[float]) -> float:
    return statistics.median(values)


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    name = f"tfi_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def instance(home: Path, postgres: str | None, dequeue_interval: int | None) -> dict[str, str]:
    """A fresh instance directory: the repository's dagster.yaml, or deploy/dagster.yaml on
    PostgreSQL; optionally with the run coordinator's dequeue interval set."""
    if postgres:
        env = live.postgres_instance(home, postgres)
    else:
        home.mkdir(parents=True)
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        env = {"DAGSTER_HOME": str(home)}
    if dequeue_interval is not None:
        path = home / "dagster.yaml"
        config = yaml.safe_load(path.read_text())
        config["run_coordinator"].setdefault("config", {})["dequeue_interval_seconds"] = dequeue_interval
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    coordinator = yaml.safe_load((home / "dagster.yaml").read_text())["run_coordinator"]
    env["dequeue_interval_seconds"] = str((coordinator.get("config") or {}).get("dequeue_interval_seconds", 5))
    return env


def ui_runs(stack: live.Stack, pipeline: str, n: int) -> list[dict[str, float]]:
    """One warm-up and ``n`` measured UI-launched runs of the pipeline's tables, one at a time."""
    graphql = stack.graphql
    tables = [n["assetKey"]["path"] for n in _asset_nodes(graphql, pipeline)]
    checks = [(t, c["name"]) for t in tables for c in graphql.asset_node(t)["assetChecksOrError"]["checks"]]
    measured = []
    # A user clicks at any moment of the daemon's dequeue loop (every 5 s by default): a pause of
    # random length (not counted) keeps back-to-back runs from falling into step with that loop.
    pauses = random.Random(8)
    for i in range(n + 1):
        time.sleep(pauses.uniform(0, 5))
        submit = time.time()
        run_id = graphql.launch(assets=tables, checks=checks)["runId"]
        while (status := graphql.run(run_id)["status"]) not in live.TERMINAL:
            time.sleep(0.1)
        seen = time.time()
        if status != "SUCCESS":
            raise SystemExit(f"run {run_id} {status}:\n{graphql.failure_messages(run_id)}")
        marks = {"submit": submit, "seen": seen}
        for event in graphql.events(run_id):
            kind, at = event["__typename"], float(event["timestamp"]) / 1000
            marks.setdefault(kind, at)  # the first of each kind
            if kind == "ExecutionStepSuccessEvent":
                marks["last_step"] = at
        marks["total"] = seen - submit
        if i:  # the first is the warm-up
            measured.append(marks)
        print(f"  UI run {i or 'warm-up'}: {seen - submit:.2f} s", file=sys.stderr)
    return measured


def _asset_nodes(graphql: live.GraphQL, group: str) -> list[dict]:
    query = """
    query Group($group: AssetGroupSelector!) { assetNodes(group: $group) { assetKey { path } isMaterializable } }
    """
    selector = {"groupName": group, "repositoryName": live.REPOSITORY, "repositoryLocationName": live.LOCATION}
    return [n for n in graphql(query, group=selector)["assetNodes"] if n["isMaterializable"]]


def cli_runs(env: dict[str, str], examples: Path, pipeline: str, database: str, cache: Path, n: int) -> list[float]:
    argv = [str(live.BIN / "tfi-data"), "run", str(examples), "--pipeline", pipeline, "--database", database]
    argv += ["--cache-dir", str(cache)]
    times = []
    for i in range(n + 1):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"tfi-data run failed:\n{done.stderr}")
        if i:
            times.append(elapsed)
        print(f"  tfi-data run {i or 'warm-up'}: {elapsed:.2f} s", file=sys.stderr)
    return times


def import_times(env: dict[str, str], n: int) -> tuple[float, float]:
    """Median seconds of a fresh Python process importing dagster, and importing the code
    location (tfi_data.definitions: discover the dataloaders, build the definitions)."""

    def timed(code: str) -> float:
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
            samples.append(time.perf_counter() - start)
        return median(samples)

    return timed("import dagster"), timed("import tfi_data.definitions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5, help="measured runs of each (after one warm-up)")
    parser.add_argument("--pipeline", default="stations", help="an example pipeline (default: stations)")
    parser.add_argument("--postgres", metavar="URL", help="instance storage on a fresh database of this server")
    parser.add_argument(
        "--dequeue-interval", type=int, metavar="S", help="set the run coordinator's dequeue_interval_seconds"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tfi_startup_") as tmp_name:
        tmp = Path(tmp_name)
        examples = tmp / "dataloaders"
        shutil.copytree(EXAMPLES, examples, ignore=shutil.ignore_patterns("__pycache__"))
        with contextlib.ExitStack() as stack:
            pg = stack.enter_context(postgres_database(args.postgres)) if args.postgres else None
            settings = instance(tmp / "dagster_home", pg, args.dequeue_interval)
            args.effective_dequeue_interval = settings.pop("dequeue_interval_seconds")
            env = live.clean_env(
                **settings,
                TFI_DATALOADERS_DIR=examples,
                TFI_DATABASE_URL=f"sqlite:///{tmp / 'ui.sqlite'}",
                TFI_CACHE_DIR=tmp / "ui_cache",
            )
            print("starting dagster-webserver and dagster-daemon", file=sys.stderr)
            started = time.perf_counter()
            with live.webserver_and_daemon(tmp, env) as servers:
                up = time.perf_counter() - started
                ui = ui_runs(servers, args.pipeline, args.n)
            cli_env = live.clean_env()
            database = f"sqlite:///{tmp / 'cli.sqlite'}"
            cli = cli_runs(cli_env, examples, args.pipeline, database, tmp / "cli_cache", args.n)
            dagster_import, location_import = import_times(cli_env, 3)

    report(args, ui, cli, up, dagster_import, location_import)


def report(args, ui: list[dict[str, float]], cli: list[float], up: float, dagster_s: float, location_s: float) -> None:
    ui_total = [m["total"] for m in ui]
    ratio = median(ui_total) / median(cli)
    setting = f"dequeue_interval_seconds: {args.effective_dequeue_interval}"
    storage = "deploy/dagster.yaml, PostgreSQL" if args.postgres else "dagster.yaml of the repository, SQLite"
    print(f"\npipeline {args.pipeline!r}, N={args.n} after one warm-up, medians; instance: {storage}; {setting}")
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    rows = [("UI-launched run, submit -> SUCCESS seen", ui_total)]
    rows += [(f"  {label}", [m[end] - m[start] for m in ui]) for label, start, end in PHASES]
    rows += [(f"`tfi-data run --pipeline {args.pipeline}`, process start -> exit", cli)]
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'median s':>8}  {'min s':>6}  {'max s':>6}")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 6}  {'-' * 6}")
    for label, values in rows:
        print(f"{label:<{width}}  {median(values):8.2f}  {min(values):6.2f}  {max(values):6.2f}")
    print()
    print(f"webserver + daemon up (code location loaded, daemon heartbeat): {up:.2f} s")
    print(f"a fresh process importing dagster: {dagster_s:.2f} s; importing tfi_data.definitions: {location_s:.2f} s")
    verdict = "pass" if ratio <= TARGET else "FAIL"
    print(f"\nratio UI-launched / tfi-data run: {ratio:.2f}x (target <= {TARGET:.0f}x: {verdict})")
    queue = median([m["RunStartingEvent"] - m["RunEnqueuedEvent"] for m in ui])
    worker = median([m["RunStartEvent"] - m["RunStartingEvent"] for m in ui])
    total = median(ui_total)
    print(f"share of the UI run: queue {queue / total:.0%}, run worker start {worker / total:.0%}")


if __name__ == "__main__":
    main()
