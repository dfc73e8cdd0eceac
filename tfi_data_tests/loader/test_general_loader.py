"""GeneralLoader on real files: each kind parses, globs concatenate, bad input names the file."""

import pandas as pd
import pytest

from tfi_data import Source
from tfi_data.loader import GeneralLoader, LoadError


def test_csv_with_pyarrow_keeps_int_columns_with_gaps_as_integers(tmp_path):
    (tmp_path / "a.csv").write_text("id,n,name\n1,10,x\n2,,y\n")
    df = GeneralLoader(tmp_path).load(Source.csv("a", "a.csv"))
    assert df["n"].dtype == "Int64" and df["n"].isna().tolist() == [False, True]
    assert df["name"].tolist() == ["x", "y"]


def test_csv_options_pass_through_and_fall_back_to_the_c_engine(tmp_path):
    (tmp_path / "a.tsv").write_text("# comment\nid\tv\n1\t2,5\n", encoding="latin-1")
    src = Source.csv("a", "a.tsv", sep="\t", comment="#", decimal=",", encoding="latin-1")
    df = GeneralLoader(tmp_path).load(src)
    assert df.to_dict("records") == [{"id": 1, "v": 2.5}]


def test_glob_concatenates_matching_files_in_name_order(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x_2.csv").write_text("id\n3\n4\n")
    (tmp_path / "d" / "x_1.csv").write_text("id\n1\n2\n")
    (tmp_path / "d" / "other.csv").write_text("id\n99\n")
    df = GeneralLoader(tmp_path).load(Source.csv("x", "d/x_*.csv"))
    assert df["id"].tolist() == [1, 2, 3, 4]


def test_json_jsonl_and_parquet(tmp_path):
    (tmp_path / "a.json").write_text('[{"id": 1, "v": "a"}, {"id": 2, "v": null}]')
    (tmp_path / "a.jsonl").write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": null}\n')
    pd.DataFrame({"id": [1, 2], "v": ["a", None]}).to_parquet(tmp_path / "a.parquet")
    loader = GeneralLoader(tmp_path)
    for src in (Source.json("a", "a.json"), Source.jsonl("a", "a.jsonl"), Source.parquet("a", "a.parquet")):
        df = loader.load(src)
        assert df["id"].tolist() == [1, 2], src.kind
        assert df["v"].isna().tolist() == [False, True], src.kind


def test_relative_paths_resolve_against_the_base_dir_not_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("id\n1\n")
    monkeypatch.chdir("/")
    assert len(GeneralLoader(tmp_path).load(Source.csv("a", "data/a.csv"))) == 1


@pytest.mark.parametrize(
    ("files", "location", "message"),
    [
        ({}, "missing.csv", "source 'a': file not found: {tmp}/missing.csv"),
        ({}, "nothing_*.csv", "source 'a': no file matches '{tmp}/nothing_*.csv'"),
        ({"empty.csv": ""}, "empty.csv", "source 'a': cannot read {tmp}/empty.csv"),
        ({"bad.json": "[{"}, "bad.json", "source 'a': cannot read {tmp}/bad.json"),
    ],
)
def test_bad_input_names_source_and_file(tmp_path, files, location, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    kind = location.rsplit(".", 1)[1]
    with pytest.raises(LoadError) as exc:
        GeneralLoader(tmp_path).load(Source(kind, "a", location))
    assert message.format(tmp=tmp_path) in str(exc.value)


def test_sql_source_reads_a_query_from_a_database_named_by_the_environment(tmp_path, monkeypatch):
    import sqlite3

    db = tmp_path / "src.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), (2, "b")])
    monkeypatch.setenv("SRC_DB", f"sqlite:///{db}")
    df = GeneralLoader(tmp_path).load(Source.sql("t", "SELECT * FROM t ORDER BY id", url_env="SRC_DB"))
    assert df.to_dict("records") == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    with pytest.raises(LoadError, match=r"source 't' \(sql 'SELECT nope FROM t'\): .*no such column"):
        GeneralLoader(tmp_path).load(Source.sql("t", "SELECT nope FROM t", url_env="SRC_DB"))
