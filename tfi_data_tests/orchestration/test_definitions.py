"""The code location: definitions load, validate and execute with the real Dagster tooling."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tfi_data import Export, PipelineDetails, Source
from tfi_data.details import DetailsError
from tfi_data.discovery import DataloaderError, discover
from tfi_data.orchestration.definitions import build_definitions

from ..conftest import REPO, run_cli, table_rows


def dagster_cli(*args, env, cwd):
    exe = Path(sys.executable).with_name("dagster")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_each_pipeline_is_graph_backed_table_assets_with_its_job(examples):
    defs = build_definitions(discover(examples))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_job_def("ridership").graph.node_named("ridership__pipeline").definition
    assert graph.name == "ridership__pipeline"
    assert sorted(n.name for n in graph.nodes) == [
        "check_ridership",
        "export_ridership",
        "load_ridership",
        "pre_ingest",
        "publish",
        "transform",
    ]
    ds = graph.dependency_structure

    def upstream(node):
        return sorted(o.node_name for outs in ds.input_to_upstream_outputs_for_node(node).values() for o in outs)

    assert upstream("load_ridership") == ["pre_ingest"]
    assert upstream("transform") == ["load_ridership"]
    assert upstream("check_ridership") == ["transform"]  # the rules name the exported frame
    assert upstream("export_ridership") == ["check_ridership", "transform"]  # the frame and the verdict
    assert upstream("publish") == ["export_ridership"]
    stations = defs.resolve_job_def("stations").graph.node_named("stations__pipeline").definition
    assert sorted(n.name for n in stations.nodes) == ["check_stations", "export_stations", "load_stations", "publish"]

    graph_ = defs.resolve_asset_graph()
    table = graph_.get(dg.AssetKey(["tables", "ridership"]))
    assert table.is_materializable and not table.is_external
    assert table.group_name == "ridership" and set(table.kinds) == {"pandas", "sqlite"}
    assert {p.to_user_string() for p in table.parent_keys} == {"sources/ridership"}
    assert table.metadata["dagster/table_name"] == "ridership"
    source = graph_.get(dg.AssetKey(["sources", "ridership"]))
    assert source.is_external and source.group_name == "ridership" and set(source.kinds) == {"csv"}
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph_.asset_check_keys}
    assert checks == {(t, c) for t in ("tables/ridership", "tables/stations") for c in ("rules", "schema_drift")}
    assert [s.name for s in defs.schedules] == ["ridership_schedule", "tfi_cache_retention_schedule"]
    assert sorted(s.name for s in defs.sensors) == ["ridership_files", "stations_files"]
    assert defs.resolve_job_def("ridership").executor_def.name == "in_process"
    assert defs.resolve_job_def("ridership").tags["tfi_data/pipeline"] == "ridership"


def test_details_choose_executor_timezone_owners_and_tags(tmp_path):
    (tmp_path / "a.csv").write_text("id\n1\n")
    details = PipelineDetails(
        name="zoned",
        sources=[Source.csv("a", "a.csv"), Source.csv("b", "a.csv")],
        transformer=lambda f: f["a"],
        exports=[Export(table="z", keys=["id"], schema="main")],
        schedule="0 6 * * *",
        timezone="Europe/Dublin",
        executor="multiprocess",
        owners=["team:data"],
        tags={"domain": "transport"},
        base_dir=tmp_path,
    )
    defs = build_definitions([details])
    assert defs.resolve_job_def("zoned").executor_def.name == "multiprocess"
    (schedule,) = [s for s in defs.schedules if s.name == "zoned_schedule"]
    assert schedule.execution_timezone == "Europe/Dublin"
    table = defs.resolve_asset_graph().get(dg.AssetKey(["tables", "main", "z"]))
    assert table.owners == ["team:data"] and table.tags["domain"] == "transport"
    keys = {k.to_user_string() for k in table.parent_keys}
    assert keys == {"sources/zoned/a", "sources/zoned/b"}  # several sources: named under the pipeline
    with pytest.raises(DetailsError, match="timezone: 'Mars/Olympus'"):
        PipelineDetails(name="x", sources=details.sources[:1], exports=details.exports, timezone="Mars/Olympus")
    with pytest.raises(DetailsError, match="executor: 'threads'"):
        PipelineDetails(name="x", sources=details.sources[:1], exports=details.exports, executor="threads")


def test_two_pipelines_exporting_one_table_is_an_error_naming_both(tmp_path, examples):
    (examples / "copy.py").write_text(
        "from tfi_data import Export, PipelineDetails, Source\n"
        "again = PipelineDetails(name='again', sources=[Source.json('s', 'data/stations.json')],\n"
        "                        exports=[Export(table='stations', keys=['station_id'])])\n"
    )
    message = r"table 'stations' is exported by pipeline '\w+' \(.*\.py\) and by pipeline '\w+' \(.*\.py\)"
    with pytest.raises(DataloaderError, match=message):
        discover(examples)
    out = run_cli("run", str(examples), cwd=tmp_path)
    assert out.returncode == 2 and "table 'stations' is exported by pipeline" in out.stderr


def test_building_twice_gives_the_same_job_snapshot(examples):
    a = build_definitions(discover(examples)).resolve_job_def("ridership")
    b = build_definitions(discover(examples)).resolve_job_def("ridership")
    assert a.get_job_snapshot().snapshot_id == b.get_job_snapshot().snapshot_id


@pytest.mark.slow
def test_dagster_definitions_validate_succeeds(tmp_path, examples):
    env = {**os.environ, "TFI_DATALOADERS_DIR": str(examples), "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    out = dagster_cli("definitions", "validate", "-m", "tfi_data.definitions", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "All code locations passed validation" in out.stderr + out.stdout


@pytest.mark.slow
def test_dagster_definitions_validate_fails_on_a_broken_dataloader(tmp_path, examples):
    (examples / "broken.py").write_text("def x(:\n")
    env = {**os.environ, "TFI_DATALOADERS_DIR": str(examples), "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    out = dagster_cli("definitions", "validate", "-m", "tfi_data.definitions", env=env, cwd=tmp_path)
    assert out.returncode != 0
    assert "broken.py:1" in out.stderr + out.stdout


@pytest.mark.slow
def test_dagster_job_execute_with_instance_storage_on_postgres(tmp_path, pg_url, examples, monkeypatch):
    """`dagster job execute` through the repo's dagster.yaml: runs and events land in PostgreSQL."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    u = make_url(pg_url)
    exported = f"sqlite:///{tmp_path / 'exported.sqlite'}"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_USERNAME": u.username or "",
        "DAGSTER_PG_PASSWORD": u.password or "",
        "DAGSTER_PG_HOST": u.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(u.port or 5432),
        "DAGSTER_PG_DB": u.database,
        "TFI_DATALOADERS_DIR": str(examples),
        "TFI_DATABASE_URL": exported,
        "TFI_CACHE_DIR": str(tmp_path / "cache"),
    }
    out = dagster_cli("job", "execute", "-m", "tfi_data.definitions", "-j", "stations", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(table_rows(exported, "stations", "station_id")) == 5

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT pipeline_name, status FROM runs")).all()
    engine.dispose()
    assert runs == [("stations", "SUCCESS")]

    for name, value in env.items():
        if name.startswith("DAGSTER_"):
            monkeypatch.setenv(name, value)
    check_key = dg.AssetCheckKey(dg.AssetKey(["tables", "stations"]), "rules")
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["tables", "stations"]))
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key])[check_key]
    assert check.status.value == "SUCCEEDED"
    meta = event.asset_materialization.metadata
    assert meta["inserted"].value == 5 and meta["dagster/row_count"].value == 5
    assert [c.name for c in meta["dagster/column_schema"].schema.columns][:2] == ["station_id", "name"]
    assert pg_url.split("@")[0] not in str(meta)  # no connection string in metadata


def test_publish_records_materializations_and_a_dry_run_only_observations(tmp_path, examples):
    from tfi_data import Pipeline

    (details,) = [d for d in discover(examples) if d.name == "stations"]
    pipe = Pipeline(details, database_url=f"sqlite:///{tmp_path / 'x.sqlite'}", cache_dir=str(tmp_path / "c"))
    job = pipe.build_job()
    node = "stations__pipeline.publish"
    dry = {"ops": {"stations__pipeline": {"ops": {"export_stations": {"config": {"dry_run": True}}}}}}
    planned = job.execute_in_process(run_config=dry)
    assert planned.asset_materializations_for_node(node) == []
    (obs,) = planned.asset_observations_for_node(node)
    assert obs.asset_key == dg.AssetKey(["tables", "stations"])
    assert obs.metadata["inserted"].value == 5 and obs.metadata["dry_run"].value is True
    assert "| inserted | 101 |" in obs.metadata["preview"].value

    done = job.execute_in_process()
    (mat,) = done.asset_materializations_for_node(node)
    assert mat.metadata["inserted"].value == 5 and mat.metadata["dagster/row_count"].value == 5
    assert mat.metadata["duration_s"].value >= 0
    assert [c.name for c in mat.metadata["dagster/column_schema"].schema.columns][:2] == ["station_id", "name"]
    (src,) = done.asset_observations_for_node("stations__pipeline.load_stations")
    assert src.asset_key == dg.AssetKey(["sources", "stations"]) and src.metadata["dagster/row_count"].value == 5
    (check,) = [e for e in done.get_asset_check_evaluations() if e.check_name == "rules"]
    assert check.passed and check.severity == dg.AssetCheckSeverity.ERROR  # a pass keeps the rules' severity
