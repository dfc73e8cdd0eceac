"""Rules in a run: fail, warn or quarantine; asset checks on the tables; tfi-data infer."""

import json

import dagster as dg
import pytest
import sqlalchemy as sa

from tfi_data import Export, Pipeline, PipelineDetails, Source
from tfi_data.orchestration import DatabaseResource, ParquetCacheIOManager, SourceLoader

from .conftest import run_cli, table_rows

RULES = """
trips:
  unique: [id]
  columns:
    id:    {type: int, nullable: false, min: 1}
    route: {type: str, nullable: false, regex: '^[A-Z]\\d+$'}
    km:    {type: float, min: 0, max: 100, warn: [max]}
"""
DATA = "id,route,km\n1,R1,2.5\n2,bad,4.0\n3,R3,-1.0\n4,R4,150.0\n5,R5,1.0\n"


def _details(tmp_path, on_invalid, rules=RULES, data=DATA, transformer=None):
    (tmp_path / "trips.csv").write_text(data)
    (tmp_path / "rules.yaml").write_text(rules)
    return PipelineDetails(
        name="trips",
        sources=[Source.csv("trips", "trips.csv")],
        rules="rules.yaml",
        transformer=transformer,
        exports=[Export(table="trips", keys=["id"], mode="sync")],
        on_invalid=on_invalid,
        base_dir=tmp_path,
    )


def test_quarantine_exports_valid_rows_and_keeps_every_rejected_one(tmp_path, db_url):
    result = Pipeline(_details(tmp_path, "quarantine"), database_url=db_url).ingest()
    assert result.success, result.error
    assert [r[0] for r in table_rows(db_url, "trips", "id")] == [1, 4, 5]  # km 150 only warns
    rejected = table_rows(db_url, "tfi_rejected", "row_index")
    assert len(rejected) + 3 == 5  # nothing lost: valid + rejected = input
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT pipeline, run_id, frame, failed_checks, row FROM tfi_rejected")).all()
    engine.dispose()
    by_id = {json.loads(r.row)["id"]: r for r in rows}
    assert sorted(by_id) == [2, 3]
    assert by_id[2].failed_checks == "route: regex" and json.loads(by_id[2].row) == {"id": 2, "route": "bad", "km": 4.0}
    assert by_id[3].failed_checks == "km: min"
    assert {(r.pipeline, r.frame, r.run_id) for r in rows} == {("trips", "trips", result.run_id)}


def test_fail_stops_before_any_export_and_warn_exports_everything(tmp_path, sqlite_url):
    failed = Pipeline(_details(tmp_path, "fail"), database_url=sqlite_url).ingest()
    assert not failed.success and failed.exports == []
    assert "check_trips: ValidationFailed" in failed.error and "'bad'" in failed.error
    assert not sa.inspect(sa.create_engine(sqlite_url)).has_table("trips")
    warned = Pipeline(_details(tmp_path, "warn"), database_url=sqlite_url).ingest()
    assert warned.success and warned.exports[0].inserted == 5


def test_a_table_level_failure_cannot_be_quarantined(tmp_path, sqlite_url):
    rules = RULES.replace("  unique: [id]\n", "  unique: [id]\n  rows: {min: 10}\n")
    result = Pipeline(_details(tmp_path, "quarantine", rules=rules), database_url=sqlite_url).ingest()
    assert not result.success and "rows" in result.error


def _run(details, tmp_path, url):
    job = Pipeline(details, database_url=url).build_job()
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        resources={
            "database": DatabaseResource(url=url),
            "io_manager": ParquetCacheIOManager(base_path=str(tmp_path / "cache")),
            "loader": SourceLoader(state_dir=str(tmp_path / "cache")),
        },
    )


def test_results_are_asset_checks_on_the_table(tmp_path, sqlite_url):
    good = _run(_details(tmp_path, "fail", data="id,route,km\n1,R1,2.5\n"), tmp_path, sqlite_url)
    checks = {e.check_name: e for e in good.get_asset_check_evaluations()}
    assert checks["rules"].asset_key == dg.AssetKey(["tables", "trips"]) and checks["rules"].passed
    assert checks["schema_drift"].passed

    warned = _run(_details(tmp_path, "warn", data="id,route,km,extra\n1,R1,150.5,x\n"), tmp_path, sqlite_url)
    checks = {e.check_name: e for e in warned.get_asset_check_evaluations()}
    assert not checks["rules"].passed and checks["rules"].severity == dg.AssetCheckSeverity.WARN
    assert "| warn | km | max | 1 | 150.5 |" in checks["rules"].metadata["failures"].value
    assert not checks["schema_drift"].passed and "extra" in checks["schema_drift"].metadata["drift"].value
    assert warned.success  # a warning never fails the run

    bad = _run(_details(tmp_path, "fail", data="id,route,km\n1,bad,1\n"), tmp_path, sqlite_url)
    checks = {e.check_name: e for e in bad.get_asset_check_evaluations()}
    assert not checks["rules"].passed and checks["rules"].severity == dg.AssetCheckSeverity.ERROR
    assert not bad.success


def test_rules_named_after_a_source_check_it_before_the_transformer(tmp_path, sqlite_url):
    rules = "raw:\n  columns:\n    route: {type: str, regex: '^[A-Z]\\d+$'}\n"
    (tmp_path / "raw.csv").write_text("id,route\n1,R1\n2,bad\n")
    (tmp_path / "rules.yaml").write_text(rules)
    details = PipelineDetails(
        name="raw_first",
        sources=[Source.csv("raw", "raw.csv")],
        rules="rules.yaml",
        transformer=lambda f: f["raw"].drop(columns=["route"]),
        exports=[Export(table="ids", keys=["id"])],
        base_dir=tmp_path,
    )
    graph = Pipeline(details, database_url=sqlite_url).graph()
    assert "validate" in {n.name for n in graph.nodes} and "check_ids" not in {n.name for n in graph.nodes}
    result = Pipeline(details, database_url=sqlite_url).ingest()
    assert not result.success and result.error.startswith("validate: ValidationFailed")


@pytest.mark.slow
def test_infer_writes_rules_that_pass_then_reports_drift_and_merges_only_on_update(tmp_path, examples):
    rules = examples / "rules" / "stations.yaml"
    rules.unlink()
    out = run_cli("infer", str(examples), "--pipeline", "stations", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = rules.read_text()
    assert "station_id:" in text and "# 5 rows" in text
    assert run_cli("run", str(examples), "--pipeline", "stations", cwd=tmp_path).returncode == 0  # inferred rules hold

    edited = text.replace("stations:", "stations:  # reviewed by hand", 1)
    rules.write_text(edited)
    data = json.loads((examples / "data" / "stations.json").read_text())
    data.append({"station_id": 401, "name": "Quay", "zone": "D", "lat": 53.3, "lon": -6.2, "opened": "2024-01-01"})
    (examples / "data" / "stations.json").write_text(json.dumps(data))
    drift = run_cli("infer", str(examples), "--pipeline", "stations", cwd=tmp_path)
    assert drift.returncode == 0, drift.stderr
    assert "drift: stations: zone: new_category" in drift.stdout and rules.read_text() == edited
    merged = run_cli("infer", str(examples), "--pipeline", "stations", "--update", "new_category", cwd=tmp_path)
    assert "merged: stations: zone: new_category" in merged.stdout
    assert "# reviewed by hand" in rules.read_text() and "D" in rules.read_text().split("zone:")[1].split("\n")[0]


def test_no_export_starts_before_every_tables_checks_passed(tmp_path, sqlite_url):
    rules = RULES + "\nlong:\n  columns:\n    km: {type: float, max: 3}\n"
    (tmp_path / "trips.csv").write_text(DATA)
    (tmp_path / "rules.yaml").write_text(rules)
    details = PipelineDetails(
        name="two",
        sources=[Source.csv("trips", "trips.csv")],
        rules="rules.yaml",
        transformer=lambda f: {"trips": f["trips"].iloc[[0]], "long": f["trips"]},
        exports=[Export(table="trips", keys=["id"]), Export(table="long", keys=["id"])],
        base_dir=tmp_path,
    )
    ds = Pipeline(details, database_url=sqlite_url).graph().dependency_structure
    gates = {o.node_name for outs in ds.input_to_upstream_outputs_for_node("export_trips").values() for o in outs}
    assert gates == {"transform", "check_trips", "check_long"}  # its frame, its verdict, the other check
    result = Pipeline(details, database_url=sqlite_url).ingest()
    assert not result.success and "check_long" in result.error
    assert not sa.inspect(sa.create_engine(sqlite_url)).has_table("trips")  # valid, but never written


@pytest.mark.slow
def test_infer_takes_every_repeated_pipeline_and_prints_key_findings(tmp_path, examples):
    for name in ("ridership", "stations"):
        (examples / "rules" / f"{name}.yaml").unlink()
    data = json.loads((examples / "data" / "stations.json").read_text())
    data.append(dict(data[0]))  # a duplicated station_id, the export's key
    (examples / "data" / "stations.json").write_text(json.dumps(data))
    out = run_cli(
        "infer", str(examples), "--pipeline", "ridership", "--pipeline", "stations", "--profile", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr  # the key problem is a finding, not a traceback
    assert "wrote rules for ridership to" in out.stdout and "wrote rules for stations to" in out.stdout
    assert "tfi-data: infer: stations: stations: key ['station_id'] is not unique: 2 rows share 1 key(s): 101 x2" in (
        out.stderr
    )
    assert "# NOTE key ['station_id'] is not unique" in (examples / "rules" / "stations.yaml").read_text()
    ridership = (examples / "rules" / "ridership.yaml").read_text()  # --profile: the two monthly files
    assert "  # NOTE learnt from 2 files of 'ridership': 6..6 rows each\n" in ridership
    assert "  rows: {min: 3}\n" in ridership
    assert "--profile: no source has several files" in out.stderr  # stations: one file
    assert run_cli("run", str(examples), "--pipeline", "ridership", cwd=tmp_path).returncode == 0
    one_file = run_cli("infer", str(examples), "--pipeline", "ridership", "--pipeline", "stations", "-o", "x.yaml")
    assert one_file.returncode == 2 and "-o/--output names one file, but 2 pipelines were given" in one_file.stderr
