"""PipelineDetails, Source and Export refuse wrong declarations with errors naming the field."""

import pytest

from tfi_data import DetailsError, Export, PipelineDetails, Source


def _details(**overrides):
    kwargs = dict(
        name="rides",
        sources=[Source.csv("rides", "rides.csv")],
        exports=[Export(table="rides", keys=["id"])],
    )
    kwargs.update(overrides)
    return PipelineDetails(**kwargs)


def test_valid_details_keep_their_values_and_resolve_paths_next_to_the_declaring_module(tmp_path):
    d = _details(schedule="0 6 * * *")
    assert d.name == "rides"
    assert d.sources[0].kind == "csv" and d.sources[0].location == "rides.csv"
    assert d.exports[0].keys == ("id",) and d.exports[0].mode == "merge"
    # declared in this test module: relative paths resolve against this directory
    assert d.resolve("data/x.csv") == d.base_dir / "data/x.csv"
    assert d.base_dir.name == "tfi_data_tests"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "PipelineDetails.name: '' is not a valid pipeline name"),
        ({"name": "has space"}, "'has space' is not a valid pipeline name"),
        ({"sources": []}, "pipeline 'rides': sources: give a non-empty list"),
        ({"sources": ["a.csv"]}, "pipeline 'rides': sources[0]: 'a.csv' is not a Source"),
        (
            {"sources": [Source.csv("a", "a.csv"), Source.csv("a", "b.csv")], "transformer": lambda f: f},
            "pipeline 'rides': sources: duplicate source name(s) ['a']",
        ),
        ({"exports": []}, "pipeline 'rides': exports: give a non-empty list"),
        (
            {"exports": [Export(table="t", keys=["id"]), Export(table="t", keys=["id"])]},
            "pipeline 'rides': exports: table(s) ['t'] exported twice",
        ),
        ({"transformer": "tidy"}, "pipeline 'rides': transformer: 'tidy' is not callable"),
        ({"pre_ingest": 3}, "pipeline 'rides': pre_ingest: 3 is not callable"),
        ({"schedule": "daily"}, "pipeline 'rides': schedule: 'daily' is not a cron string"),
        (
            {"sources": [Source.csv("a", "a.csv"), Source.csv("b", "b.csv")]},
            "pipeline 'rides': transformer: several sources need a transformer",
        ),
    ],
)
def test_invalid_details_name_pipeline_and_field(overrides, message):
    with pytest.raises(DetailsError) as exc:
        _details(**overrides)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table": "t", "keys": ["id"], "mode": "upsert"}, "export 't': mode: unknown mode 'upsert'; expected one of"),
        ({"table": "t", "mode": "merge"}, "export 't': mode 'merge' compares rows by key"),
        ({"table": "t", "keys": "id"}, "keys must be a list of column names, not the string 'id'"),
        ({"table": "t", "keys": ["id", "id"]}, "export 't': keys: duplicate column"),
        ({"table": "t", "keys": ["id", ""]}, "export 't': keys: '' is not a column name"),
        ({"table": ""}, "Export.table: '' must be a non-empty string"),
        ({"table": "t", "keys": ["id"], "max_delete_fraction": 2}, "max_delete_fraction must be between 0 and 1"),
        ({"table": "t", "keys": ["id"], "schema_changes": "yolo"}, "schema_changes: 'yolo'"),
    ],
)
def test_invalid_export_names_table_and_field(kwargs, message):
    with pytest.raises(DetailsError) as exc:
        Export(**kwargs)
    assert message in str(exc.value)


def test_source_constructors_cover_every_kind_and_pass_options_through():
    s = Source.csv("a", "a.tsv", sep="\t", encoding="latin-1")
    assert s.options == {"sep": "\t", "encoding": "latin-1"}
    kinds = [
        Source.csv("a", "x").kind,
        Source.json("a", "x").kind,
        Source.jsonl("a", "x").kind,
        Source.parquet("a", "x").kind,
        Source.excel("a", "x").kind,
        Source.sql("a", "select 1").kind,
        Source.http("a", "http://h/x.csv").kind,
    ]
    assert kinds == ["csv", "json", "jsonl", "parquet", "excel", "sql", "http"]
    with pytest.raises(DetailsError, match=r"Source.name: .1a. is not a valid name"):
        Source.csv("1a", "x")


def test_append_needs_no_keys():
    assert Export(table="log", mode="append").keys == ()


def test_any_table_name_gets_an_op_safe_key_and_true_collisions_are_named(tmp_path, sqlite_url):
    from tfi_data import Pipeline

    (tmp_path / "a.csv").write_text("id\n1\n")
    frames = {"café": 0, "del": 0, "class": 0, "growth %": 0, "2024 sales": 0, "日本": 0}
    details = PipelineDetails(
        name="names",
        sources=[Source.csv("a", "a.csv")],
        transformer=lambda f: {name: f["a"] for name in frames},
        exports=[Export(table=name, keys=["id"]) for name in frames],
        base_dir=tmp_path,
    )
    assert [e.key for e in details.exports][:5] == ["cafe", "del", "class", "growth", "t_2024_sales"]
    result = Pipeline(details, database_url=sqlite_url).ingest()
    assert result.success, result.error
    assert sorted(e.table for e in result.exports) == sorted(frames) and all(e.inserted == 1 for e in result.exports)
    with pytest.raises(DetailsError, match=r"tables 'a b' and 'a_b' have one name in Dagster \('a_b'\)"):
        PipelineDetails(
            name="x",
            sources=[Source.csv("a", "a.csv")],
            exports=[Export("a b", mode="append"), Export("a_b", mode="append")],
        )
    for reserved in ("class", "config"):
        with pytest.raises(DetailsError, match=f"{reserved!r} is a reserved word"):
            PipelineDetails(name=reserved, sources=[Source.csv("a", "a.csv")], exports=[Export("t", mode="append")])
        with pytest.raises(DetailsError, match=f"{reserved!r} is a reserved word"):
            Source.csv(reserved, "a.csv")
