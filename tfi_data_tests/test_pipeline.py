"""Pipeline.ingest(): the whole path, details -> Dagster job -> rows in a real database."""

import json

import pandas as pd

from tfi_data import Export, Pipeline, PipelineDetails, Source
from tfi_data.discovery import discover

from .conftest import table_rows


def ingest_all(path, url):
    return {d.name: Pipeline(d, database_url=url).ingest() for d in discover(path)}


def summary(results):
    return {
        r.pipeline: [(e.inserted, e.updated, e.deleted, e.unchanged, e.rows_in_table) for e in r.exports]
        for r in results.values()
    }


def test_examples_load_and_a_second_run_writes_nothing(db_url, examples):
    first = ingest_all(examples, db_url)
    assert all(r.success for r in first.values()), {n: r.error for n, r in first.items()}
    assert summary(first) == {"ridership": [(12, 0, 0, 0, 12)], "stations": [(5, 0, 0, 0, 5)]}
    second = ingest_all(examples, db_url)
    assert summary(second) == {"ridership": [(0, 0, 0, 12, 12)], "stations": [(0, 0, 0, 5, 5)]}
    rows = table_rows(db_url, "ridership", "day, route")
    # day, route, riders, revenue_eur, source_file (the glob's file of each row), revenue_per_rider
    assert rows[0][1:] == ("R1", 1520, 2280.0, "data/ridership_2026-01.csv", 1.5)
    assert rows[7][1:] == ("R2", None, None, "data/ridership_2026-02.csv", None)  # the February file's gaps


def test_changing_sources_changes_exactly_the_expected_counts(db_url, examples):
    ingest_all(examples, db_url)
    feb = examples / "data" / "ridership_2026-02.csv"
    lines = feb.read_text().splitlines()
    lines[1] = "2026-02-02,R1,1500,2250.00"  # changed
    del lines[6]  # 2026-02-03,T3 gone: merge keeps it
    lines.append("2026-02-04,R1,1400,2100.00")  # new
    feb.write_text("\n".join(lines) + "\n")
    stations = examples / "data" / "stations.json"
    data = json.loads(stations.read_text())
    data[0]["zone"] = "B"  # changed
    del data[4]  # gone: sync deletes it
    stations.write_text(json.dumps(data))

    results = ingest_all(examples, db_url)
    assert summary(results) == {"ridership": [(1, 1, 0, 10, 13)], "stations": [(0, 1, 1, 3, 4)]}
    assert [r[0] for r in table_rows(db_url, "stations", "station_id")] == [101, 102, 201, 202]


def test_a_missing_source_fails_naming_the_file_and_leaves_the_table_unchanged(db_url, examples):
    ingest_all(examples, db_url)
    before = table_rows(db_url, "stations", "station_id")
    (examples / "data" / "stations.json").unlink()
    (result,) = [Pipeline(d, database_url=db_url).ingest() for d in discover(examples) if d.name == "stations"]
    assert not result.success and result.exports == []
    assert result.error.startswith("load_stations: LoadError: source 'stations': file not found: ")
    assert str(examples / "data" / "stations.json") in result.error
    assert table_rows(db_url, "stations", "station_id") == before


def test_invalid_data_fails_validation_before_any_export(db_url, examples):
    ingest_all(examples, db_url)
    before = table_rows(db_url, "stations", "station_id")
    stations = examples / "data" / "stations.json"
    data = json.loads(stations.read_text())
    data[1]["zone"] = "Z"
    data[2]["lat"] = 123.0
    stations.write_text(json.dumps(data))
    (details,) = [d for d in discover(examples) if d.name == "stations"]
    result = Pipeline(details, database_url=db_url).ingest()
    assert not result.success
    assert "check_stations: ValidationFailed" in result.error  # the rules name the exported frame
    assert "column 'zone' check isin" in result.error and "'Z'" in result.error
    assert "column 'lat' check less_than_or_equal_to(90)" in result.error
    assert table_rows(db_url, "stations", "station_id") == before


def test_pre_transform_post_run_in_order_and_a_dict_transformer_feeds_several_tables(tmp_path, sqlite_url):
    (tmp_path / "trips.csv").write_text("id,route,km\n1,A,2.5\n2,B,4.0\n3,A,1.0\n")
    calls = []

    def split(frames):
        calls.append("transform")
        trips = frames["trips"]
        per_route = trips.groupby("route", as_index=False)["km"].sum()
        return {"trips": trips, "per_route": per_route}

    details = PipelineDetails(
        name="trips",
        sources=[Source.csv("trips", "trips.csv")],
        transformer=split,
        pre_ingest=lambda: calls.append("pre"),
        post_ingest=lambda results: calls.append(("post", results["trips"]["inserted"], results["km"]["inserted"])),
        exports=[
            Export(table="trips", keys=["id"], mode="sync"),
            Export(table="km", frame="per_route", keys=["route"], mode="merge"),
        ],
        base_dir=tmp_path,
    )
    result = Pipeline(details, database_url=sqlite_url).ingest()
    assert result.success, result.error
    assert calls == ["pre", "transform", ("post", 3, 2)]
    assert table_rows(sqlite_url, "km", "route") == [("A", 3.5), ("B", 4.0)]


def test_a_transformer_error_names_the_pipeline_and_function(tmp_path, sqlite_url):
    (tmp_path / "a.csv").write_text("id\n1\n")

    def broken(frames):
        return frames["nope"]

    details = PipelineDetails(
        name="broken",
        sources=[Source.csv("a", "a.csv")],
        transformer=broken,
        exports=[Export(table="a", keys=["id"])],
        base_dir=tmp_path,
    )
    result = Pipeline(details, database_url=sqlite_url).ingest()
    assert not result.success
    assert result.error.startswith("transform: TransformError: pipeline 'broken': transformer 'broken' raised KeyError")


def test_cache_holds_op_outputs_as_parquet(tmp_path, sqlite_url, examples):
    (details,) = [d for d in discover(examples) if d.name == "stations"]
    result = Pipeline(details, database_url=sqlite_url, cache_dir=str(tmp_path / "c")).ingest(keep_cache=True)
    cached = tmp_path / "c" / result.run_id / "stations__pipeline.load_stations" / "result.parquet"
    assert pd.read_parquet(cached)["station_id"].tolist() == [101, 102, 201, 202, 301]
    # one copy of the one frame: the check passes a verdict on, not the frame again
    assert len(list((tmp_path / "c" / result.run_id).rglob("*.parquet"))) == 2  # the frame and its verdict


def test_a_successful_run_removes_its_cache_and_a_failed_one_keeps_it(tmp_path, sqlite_url, examples):
    (details,) = [d for d in discover(examples) if d.name == "stations"]
    base = tmp_path / "c"
    done = Pipeline(details, database_url=sqlite_url, cache_dir=str(base)).ingest()
    assert done.success and not (base / done.run_id).exists()
    (examples / "data" / "stations.json").write_text('[{"station_id": 1, "name": "x", "zone": "Z"}]')
    failed = Pipeline(details, database_url=sqlite_url, cache_dir=str(base)).ingest()
    assert not failed.success and (base / failed.run_id).exists()  # kept for re-execution from failure


def test_dry_run_reports_the_counts_of_a_real_run_and_writes_nothing(db_url, examples):
    ingest_all(examples, db_url)
    stations = examples / "data" / "stations.json"
    data = json.loads(stations.read_text())
    data[0]["zone"] = "C"
    del data[4]
    stations.write_text(json.dumps(data))
    before = table_rows(db_url, "stations", "station_id")
    (details,) = [d for d in discover(examples) if d.name == "stations"]
    plan = Pipeline(details, database_url=db_url).ingest(dry_run=True)
    assert plan.success and plan.exports[0].dry_run
    assert table_rows(db_url, "stations", "station_id") == before
    done = Pipeline(details, database_url=db_url).ingest()
    planned = [(e.inserted, e.updated, e.deleted, e.unchanged, e.rows_in_table) for e in plan.exports]
    assert planned == [(e.inserted, e.updated, e.deleted, e.unchanged, e.rows_in_table) for e in done.exports]
    assert planned == [(0, 1, 1, 3, 4)]


def test_a_header_only_file_under_sync_meets_the_delete_guard(tmp_path, sqlite_url):
    (tmp_path / "d.csv").write_text("id,v\n1,a\n2,b\n")
    details = PipelineDetails(
        name="ae",
        sources=[Source.csv("d", "d.csv", allow_empty=True)],
        exports=[Export("ae", keys=["id"], mode="sync")],
        base_dir=tmp_path,
    )
    assert Pipeline(details, database_url=sqlite_url).ingest().success
    (tmp_path / "d.csv").write_text("id,v\n")
    result = Pipeline(details, database_url=sqlite_url).ingest()
    assert not result.success
    assert (
        "sync would delete 2 of 2 rows (100%), more than max_delete_fraction=0.5; nothing was written" in result.error
    )
    assert len(table_rows(sqlite_url, "ae", "id")) == 2
