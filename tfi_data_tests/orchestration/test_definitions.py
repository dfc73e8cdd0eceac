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

from tfi_data.discovery import discover
from tfi_data.orchestration.definitions import build_definitions

from ..conftest import REPO, table_rows


def dagster_cli(*args, env, cwd):
    exe = Path(sys.executable).with_name("dagster")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_one_job_per_pipeline_with_the_designed_graph(examples):
    defs = build_definitions(discover(examples))
    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("ridership")
    assert sorted(n.name for n in job.graph.nodes) == [
        "check_ridership",
        "export_ridership",
        "load_ridership",
        "post_ingest",
        "pre_ingest",
        "transform",
    ]
    ds = job.graph.dependency_structure

    def upstream(node):
        return sorted(o.node_name for outs in ds.input_to_upstream_outputs_for_node(node).values() for o in outs)

    assert upstream("load_ridership") == ["pre_ingest"]
    assert upstream("transform") == ["load_ridership"]
    assert upstream("check_ridership") == ["transform"]  # the rules name the exported frame
    assert upstream("export_ridership") == ["check_ridership"]
    assert upstream("post_ingest") == ["export_ridership"]
    stations = defs.resolve_job_def("stations")
    assert sorted(n.name for n in stations.graph.nodes) == ["check_stations", "export_stations", "load_stations"]
    assert [s.name for s in defs.schedules] == ["ridership_schedule"]
    keys = {s.key.to_user_string() for s in defs.resolve_all_asset_specs()}
    assert keys == {"sources/ridership/ridership", "sources/stations/stations", "tables/ridership", "tables/stations"}
    checks = {(k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {(t, c) for t in ("tables/ridership", "tables/stations") for c in ("rules", "schema_drift")}
    table = next(s for s in defs.resolve_all_asset_specs() if s.key == dg.AssetKey(["tables", "ridership"]))
    assert {d.asset_key for d in table.deps} == {dg.AssetKey(["sources", "ridership", "ridership"])}


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


def test_export_ops_record_materializations_and_planned_observations(tmp_path, examples):
    from tfi_data.orchestration import DatabaseResource, ParquetCacheIOManager

    defs = build_definitions(discover(examples))
    job = defs.resolve_job_def("stations")
    resources = {
        "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'x.sqlite'}"),
        "io_manager": ParquetCacheIOManager(base_path=str(tmp_path / "cache")),
    }
    planned = job.execute_in_process(
        resources=resources, run_config={"ops": {"export_stations": {"config": {"dry_run": True}}}}
    )
    assert planned.asset_materializations_for_node("export_stations") == []
    (obs,) = planned.asset_observations_for_node("export_stations")
    assert obs.asset_key == dg.AssetKey(["tables", "stations"])
    assert obs.metadata["inserted"].value == 5 and obs.metadata["dry_run"].value is True
    assert "| inserted | 101 |" in obs.metadata["preview"].value

    done = job.execute_in_process(resources=resources)
    (mat,) = done.asset_materializations_for_node("export_stations")
    assert mat.metadata["inserted"].value == 5 and mat.metadata["dagster/row_count"].value == 5
    assert mat.metadata["duration_s"].value >= 0
    (src,) = done.asset_observations_for_node("load_stations")
    assert src.asset_key == dg.AssetKey(["sources", "stations", "stations"]) and src.metadata["rows"].value == 5
