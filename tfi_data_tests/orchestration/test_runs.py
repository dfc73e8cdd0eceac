"""Runs of the code location: selections, dry runs without side effects, logs, sensors, launch,
and each piece of work done once."""

import os
import shutil
import subprocess
import sys
import time

import dagster as dg
import pytest
import sqlalchemy as sa

from tfi_data import Export, Pipeline, PipelineDetails, Source
from tfi_data.discovery import discover
from tfi_data.orchestration import build_definitions, pipeline_definitions
from tfi_data.orchestration.sensors import file_sensor
from tfi_data.validation import rules as rules_module
from tfi_data.validation import validator as validator_module

from ..conftest import REPO, run_cli, table_rows

TRIPS = "id,km\n1,2.5\n2,9.0\n3,1.0\n"
RULES = "trips:\n  columns:\n    km: {type: float, max: 5}\n"


def _quarantined(tmp_path, **extra) -> PipelineDetails:
    (tmp_path / "trips.csv").write_text(TRIPS)
    (tmp_path / "rules.yaml").write_text(RULES)
    return PipelineDetails(
        name="q",
        sources=[Source.csv("trips", "trips.csv")],
        rules="rules.yaml",
        exports=[Export(table="trips", keys=["id"])],
        on_invalid="quarantine",
        base_dir=tmp_path,
        **extra,
    )


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_quarantine_sets_rows_aside_and_a_dry_run_writes_nothing_anywhere(tmp_path, sqlite_url):
    details = _quarantined(tmp_path, skip_unchanged=True)
    cache_dir = tmp_path / "cache"
    pipe = Pipeline(details, database_url=sqlite_url, cache_dir=str(cache_dir))
    planned = pipe.ingest(dry_run=True)
    assert planned.success and planned.exports[0].inserted == 2 and planned.exports[0].dry_run
    assert not (tmp_path / "exported.sqlite").exists() or _tables(sqlite_url) == set()  # no table, no rejects
    assert not (cache_dir / "fingerprints").exists()  # a plan remembers no fingerprint

    done = pipe.ingest()  # so the next real run is not skipped
    assert done.success and not done.skipped and done.exports[0].inserted == 2
    assert [r[0] for r in table_rows(sqlite_url, "trips", "id")] == [1, 3]
    (rejected,) = table_rows(sqlite_url, "tfi_rejected", "row_index")
    assert rejected[2:5] == ("trips", 1, "km: max") and '"km": 9.0' in rejected[5]
    assert pipe.ingest().skipped  # now remembered


def test_a_check_launched_alone_checks_the_last_exported_frame_and_writes_nothing(tmp_path, sqlite_url):
    details = _quarantined(tmp_path)
    cache_dir = tmp_path / "c"
    defs = pipeline_definitions(details, database_url=sqlite_url, cache_dir=str(cache_dir))
    check = dg.AssetCheckKey(dg.AssetKey(["tables", "trips"]), "rules")
    assert defs.resolve_asset_graph().get_execution_set_identifier(check) is None  # executable alone in the UI
    alone = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection={check}
    )

    with dg.instance_for_test() as instance:
        before = alone.execute_in_process(instance=instance)  # nothing materialized yet
        (evaluation,) = before.get_asset_check_evaluations()
        assert not evaluation.passed and "does not exist yet" in evaluation.metadata["checked"].value

        done = defs.resolve_job_def("q").execute_in_process(instance=instance)
        assert done.success and len(table_rows(sqlite_url, "trips", "id")) == 2  # one row set aside
        (tmp_path / "rules.yaml").write_text("trips:\n  columns:\n    km: {type: float, max: 2}\n")
        defs = pipeline_definitions(details, database_url=sqlite_url, cache_dir=str(cache_dir))
        alone = defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_selection=set(), asset_check_selection={check}
        )
        result = alone.execute_in_process(instance=instance)
        (evaluation,) = result.get_asset_check_evaluations()
        # the refined rules, on the frame the last run exported (9.0 km set aside, 2.5 now too long)
        assert not evaluation.passed and evaluation.metadata["errors"].value == 1
        assert evaluation.metadata["checked"].value == f"the frame exported by run {done.run_id}"
        assert {e.step_key for e in result.all_events if e.is_step_success} == {"q__table_checks"}

        shutil.rmtree(cache_dir / done.run_id)  # the cache pruned: the table's rows are checked
        (evaluation,) = alone.execute_in_process(instance=instance).get_asset_check_evaluations()
        assert evaluation.metadata["checked"].value == "the table's current rows"
        assert evaluation.metadata["rows"].value == 2
    assert len(table_rows(sqlite_url, "trips", "id")) == 2 and len(table_rows(sqlite_url, "tfi_rejected", "row")) == 1


def test_materializing_one_table_of_two_writes_only_that_table(tmp_path, sqlite_url):
    (tmp_path / "a.csv").write_text("id\n1\n2\n")
    details = PipelineDetails(
        name="two",
        sources=[Source.csv("a", "a.csv")],
        transformer=lambda f: {"left": f["a"], "right": f["a"]},
        exports=[Export(table="left", keys=["id"]), Export(table="right", keys=["id"])],
        base_dir=tmp_path,
    )
    defs = pipeline_definitions(details, database_url=sqlite_url, cache_dir=str(tmp_path / "c"))
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={dg.AssetKey(["tables", "left"])})
    result = job.execute_in_process()
    assert result.success
    (mat,) = result.asset_materializations_for_node("two__pipeline.publish")
    assert mat.asset_key == dg.AssetKey(["tables", "left"])
    assert _tables(sqlite_url) == {"left"}


def test_a_dataloaders_own_logging_shows_in_the_run_events(tmp_path, sqlite_url):
    (tmp_path / "a.csv").write_text("id\n1\n")
    (tmp_path / "logs.py").write_text(
        "import logging\n"
        "from tfi_data import Export, PipelineDetails, Source\n"
        "log = logging.getLogger(__name__)\n"
        "def shape(frames):\n"
        "    log.info('shaping %d row(s)', len(frames['a']))\n"
        "    return frames['a']\n"
        "details = PipelineDetails(name='logs', sources=[Source.csv('a', 'a.csv')], transformer=shape,\n"
        "                          exports=[Export(table='t', keys=['id'])])\n"
    )
    (details,) = discover(tmp_path)
    out = run_cli("run", str(tmp_path), "--verbose", "--database", sqlite_url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "shaping 1 row(s)" in out.stderr  # through Dagster's event log, tagged with the step
    assert "logs__pipeline.transform" in next(line for line in out.stderr.splitlines() if "shaping" in line)
    assert details.name == "logs"


def test_the_file_sensor_requests_one_run_per_new_file_set(tmp_path, examples):
    (details,) = [d for d in discover(examples) if d.name == "ridership"]
    defs = build_definitions(discover(examples))
    sensor = defs.resolve_sensor_def("ridership_files")
    with dg.instance_for_test() as instance:

        def tick(cursor):
            result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor))
            return result.run_requests or [], result.cursor

        first, cursor = tick(None)
        assert len(first) == 1 and first[0].run_key == f"files-{cursor}"  # never seen: one run
        again, same = tick(cursor)
        assert again == [] and same in (None, cursor)
        (examples / "data" / "ridership_2026-03.csv").write_text(
            (examples / "data" / "ridership_2026-02.csv").read_text()
        )
        new, moved = tick(cursor)
        assert len(new) == 1 and moved != cursor and new[0].run_key == f"files-{moved}"
    assert (
        file_sensor(
            PipelineDetails(
                name="api", sources=[Source.http("a", "http://127.0.0.1:9/x")], exports=[Export("t", mode="append")]
            ),
            None,
            dg.DefaultSensorStatus.STOPPED,
        )
        is None
    )  # nothing to watch
    assert details.name == "ridership"


def test_each_rules_file_is_parsed_once_per_location_load_and_checked_once_per_step(
    tmp_path, sqlite_url, examples, monkeypatch
):
    parses, checks = [], []
    real_parse, real_run = rules_module._parse_yaml, validator_module.Validator._run
    monkeypatch.setattr(rules_module, "_parse_yaml", lambda *a, **k: parses.append(a[1]) or real_parse(*a, **k))
    monkeypatch.setattr(
        validator_module.Validator, "_run", lambda self, frames: checks.append(sorted(frames)) or real_run(self, frames)
    )
    all_details = discover(examples)
    build_definitions(all_details)
    assert sorted(parses) == sorted(f"rules file {examples / 'rules' / n}.yaml" for n in ("ridership", "stations"))
    (stations,) = [d for d in all_details if d.name == "stations"]
    parses.clear()
    assert Pipeline(stations, database_url=sqlite_url).ingest().success
    assert len(parses) == 1  # the one pipeline's definitions, built for the run
    assert checks == [["stations"]]  # rules and schema_drift from one validation pass


@pytest.mark.slow
def test_launch_submits_a_queued_run_the_daemon_runs(tmp_path, examples, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    exported = f"sqlite:///{tmp_path / 'out.sqlite'}"
    env = {
        "DAGSTER_HOME": str(home),
        "TFI_DATABASE_URL": exported,
        "TFI_CACHE_DIR": str(tmp_path / "cache"),
        "TFI_DATALOADERS_DIR": str(examples),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    queued = run_cli("launch", str(examples), "--pipeline", "stations", cwd=tmp_path)
    assert queued.returncode == 0, queued.stderr
    name, run_id, status = queued.stdout.split()
    assert (name, status) == ("stations", "QUEUED")
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: tfi_data.definitions\n      location_name: tfi_data\n"
    )
    daemon = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "dagster-daemon"),
            "run",
            "-w",
            str(tmp_path / "workspace.yaml"),
        ],
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with dg.DagsterInstance.get() as instance:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                run = instance.get_run_by_id(run_id)
                if run.is_finished:
                    break
                time.sleep(1)
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags["tfi_data/pipeline"] == "stations"
    finally:
        daemon.terminate()
        daemon.wait(30)
    assert len(table_rows(exported, "stations", "station_id")) == 5


def _bytes_read() -> int:
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar:"))


def test_each_source_file_is_listed_and_read_once_per_load(tmp_path, sqlite_url, monkeypatch):
    """The fingerprint is hashed from the bytes the reader reads, not from a second read: a load
    reads the file's size once (the kernel's count of bytes this process read), and lists it once."""
    import hashlib

    from tfi_data.loader.general import GeneralLoader
    from tfi_data.orchestration.resources import SourceLoader

    rows = 400_000
    (tmp_path / "big.csv").write_text("id,v\n" + "".join(f"{i},value-{i % 97}\n" for i in range(rows)))
    size = (tmp_path / "big.csv").stat().st_size
    details = PipelineDetails(
        name="once", sources=[Source.csv("a", "*.csv")], exports=[Export("t", mode="append")], base_dir=tmp_path
    )
    listed = []
    real_expand = GeneralLoader._expand
    monkeypatch.setattr(GeneralLoader, "_expand", lambda self, s: listed.append(s.name) or real_expand(self, s))
    loader = SourceLoader()
    loader.load(details, details.sources[0])  # imports and first-time work out of the way
    listed.clear()
    before = _bytes_read()
    frame, fingerprint = loader.load(details, details.sources[0])
    read = _bytes_read() - before
    assert len(frame) == rows and listed == ["a"]
    assert size <= read < 1.05 * size, (read, size)
    (file,) = fingerprint["files"]
    assert file["sha256"] == hashlib.sha256((tmp_path / "big.csv").read_bytes()).hexdigest()
    listed.clear()
    result = Pipeline(details, database_url=sqlite_url).ingest()
    assert result.success and result.exports[0].inserted == rows and listed == ["a"]


def test_the_cache_retention_job_removes_runs_older_than_the_setting(tmp_path, examples, monkeypatch):
    base = tmp_path / "cache"
    for run, age_days in (("old", 3), ("new", 1)):
        f = base / run / "p__pipeline.load_a" / "result.parquet"
        f.parent.mkdir(parents=True)
        f.write_bytes(b"x" * 100)
        stamp = time.time() - age_days * 86400
        os.utime(f, (stamp, stamp))
    monkeypatch.setenv("TFI_CACHE_DIR", str(base))
    monkeypatch.setenv("TFI_CACHE_RETENTION", "2d")
    defs = build_definitions(discover(examples))
    assert defs.resolve_job_def("tfi_cache_retention").execute_in_process().success
    assert sorted(p.name for p in base.iterdir()) == ["new"]


def test_a_damaged_fingerprint_file_is_named_and_the_run_loads_everything(tmp_path, sqlite_url, caplog):
    (tmp_path / "a.csv").write_text("id\n1\n")
    details = PipelineDetails(
        name="fp",
        sources=[Source.csv("a", "a.csv")],
        exports=[Export("t", keys=["id"])],
        skip_unchanged=True,
        base_dir=tmp_path,
    )
    cache_dir = tmp_path / "cache"
    pipe = Pipeline(details, database_url=sqlite_url, cache_dir=str(cache_dir))
    assert pipe.ingest().success
    state = cache_dir / "fingerprints" / "fp.json"
    state.write_text(state.read_text()[:10])  # cut short, as a crash mid-write would have left it before
    again = pipe.ingest()
    assert again.success and not again.skipped and again.exports[0].unchanged == 1
    assert f"{state}: damaged fingerprint file" in caplog.text
    assert pipe.ingest().skipped  # rewritten whole by the successful run
    assert not list((cache_dir / "fingerprints").glob(".*.tmp"))
