"""Many files at once (globs, directories), compressed files, and fsspec URLs."""

import bz2
import gzip
import json
import lzma
import zipfile
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from tfi_data import Source
from tfi_data.loader import GeneralLoader, LoadError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_glob_concatenates_in_name_order_with_the_file_each_row_came_from(tmp_path):
    write(tmp_path / "data" / "r_2026-02.csv", "day,n\n2026-02-01,3\n")
    write(tmp_path / "data" / "r_2026-01.csv", "day,n\n2026-01-01,1\n2026-01-02,2\n")
    write(tmp_path / "data" / "other.csv", "day,n\nx,99\n")
    df = GeneralLoader(tmp_path).load(Source.csv("r", "data/r_*.csv"))
    assert df["n"].tolist() == [1, 2, 3]
    assert df["source_file"].tolist() == ["data/r_2026-01.csv"] * 2 + ["data/r_2026-02.csv"]
    assert df["source_file"].dtype == "string" and df["n"].dtype == "Int64"
    assert df.index.tolist() == [0, 1, 2]


def test_a_directory_reads_its_visible_files(tmp_path):
    write(tmp_path / "in" / "b.jsonl", '{"id": 2}\n')
    write(tmp_path / "in" / "a.jsonl", '{"id": 1}\n')
    write(tmp_path / "in" / ".partial.jsonl", '{"id": 99}\n')
    (tmp_path / "in" / "sub").mkdir()
    df = GeneralLoader(tmp_path).load(Source.jsonl("i", "in"))
    assert df.to_dict("records") == [{"id": 1, "source_file": "in/a.jsonl"}, {"id": 2, "source_file": "in/b.jsonl"}]


def test_a_recursive_glob(tmp_path):
    write(tmp_path / "y" / "2025" / "a.csv", "id\n1\n")
    write(tmp_path / "y" / "2026" / "a.csv", "id\n2\n")
    df = GeneralLoader(tmp_path).load(Source.csv("y", "y/**/*.csv"))
    assert df["source_file"].tolist() == ["y/2025/a.csv", "y/2026/a.csv"]


def test_the_file_column_can_be_renamed_or_left_out(tmp_path):
    write(tmp_path / "d" / "a.csv", "id\n1\n")
    write(tmp_path / "d" / "b.csv", "id\n2\n")
    loader = GeneralLoader(tmp_path)
    assert list(loader.load(Source.csv("d", "d/*.csv", file_column="origin")).columns) == ["id", "origin"]
    no_column = loader.load(Source.csv("d", "d/*.csv", file_column=None))
    assert no_column.to_dict("records") == [{"id": 1}, {"id": 2}]


def test_a_single_file_gets_no_file_column(tmp_path):
    write(tmp_path / "a.csv", "id\n1\n")
    assert list(GeneralLoader(tmp_path).load(Source.csv("a", "a.csv")).columns) == ["id"]


def test_files_outside_the_base_dir_are_named_by_absolute_path(tmp_path):
    write(tmp_path / "elsewhere" / "a.csv", "id\n1\n")
    write(tmp_path / "elsewhere" / "b.csv", "id\n2\n")
    df = GeneralLoader(tmp_path / "pipelines").load(Source.csv("a", str(tmp_path / "elsewhere" / "*.csv")))
    assert df["source_file"].tolist() == [str(tmp_path / "elsewhere" / n) for n in ("a.csv", "b.csv")]


def test_a_column_one_file_leaves_empty_keeps_the_type_the_others_give_it(tmp_path):
    write(tmp_path / "d" / "a.csv", "id,n,s\n1,5,x\n")
    write(tmp_path / "d" / "b.csv", "id,n,s\n2,,\n")  # pyarrow reads n and s as nulls
    df = GeneralLoader(tmp_path).load(Source.csv("d", "d/*.csv"))
    assert df.dtypes.astype(str).tolist() == ["Int64", "Int64", "string", "string"]
    assert df["n"].isna().tolist() == [False, True]


def test_files_lists_local_paths_in_name_order(tmp_path):
    write(tmp_path / "d" / "b.csv", "id\n2\n")
    write(tmp_path / "d" / "a.csv", "id\n1\n")
    loader = GeneralLoader(tmp_path)
    assert loader.files(Source.csv("d", "d/*.csv")) == [tmp_path / "d" / "a.csv", tmp_path / "d" / "b.csv"]
    assert loader.files(Source.csv("d", "d/a.csv")) == [tmp_path / "d" / "a.csv"]


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [
        (".gz", gzip.compress),
        (".bz2", bz2.compress),
        (".xz", lzma.compress),
        (".zst", lambda data: __import__("zstandard").ZstdCompressor().compress(data)),
        (".zip", None),
    ],
)
def test_compressed_files_are_read_by_extension(tmp_path, suffix, compress):
    contents = {
        "a.csv": "id,name\n1,Zo\u00eb\n",
        "a.json": '{"data": [{"id": 1, "name": "Zo\u00eb"}]}',
        "a.jsonl": '{"id": 1, "name": "Zo\u00eb"}\n',
    }
    for name, text in contents.items():
        path = tmp_path / (name + suffix)
        if compress is None:
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr(name, text)
        else:
            path.write_bytes(compress(text.encode()))
    loader = GeneralLoader(tmp_path)
    for source in (
        Source.csv("a", "a.csv" + suffix),
        Source.json("a", "a.json" + suffix, record_path="data"),
        Source.jsonl("a", "a.jsonl" + suffix),
    ):
        df = loader.load(source)
        assert df.to_dict("records") == [{"id": 1, "name": "Zoë"}], source.location
        assert df.dtypes.astype(str).tolist() == ["Int64", "string"], source.location


def test_a_compressed_file_in_the_wrong_encoding_is_located_inside_the_decompressed_text(tmp_path):
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress("id,name\n1,Zo\u00eb\n".encode("latin-1")))
    with pytest.raises(LoadError, match=r"a\.csv\.gz: line 2: byte 0xeb at offset 12 is not valid utf-8"):
        GeneralLoader(tmp_path).load(Source.csv("a", "a.csv.gz"))


@pytest.fixture
def memory(tmp_path):
    """A private root on fsspec's in-memory filesystem (shared by the whole process)."""
    fs = fsspec.filesystem("memory")
    root = f"/{tmp_path.name}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_memory_urls_a_file_a_glob_and_a_directory(memory, tmp_path):
    fs, root = memory
    fs.pipe(f"{root}/in/x_2.csv", b"id,v\n2,b\n")
    fs.pipe(f"{root}/in/x_1.csv", b"id,v\n1,a\n")
    fs.pipe(f"{root}/in/.hidden.csv", b"id,v\n9,z\n")
    loader = GeneralLoader(tmp_path)
    one = loader.load(Source.csv("m", f"memory://{root}/in/x_1.csv"))
    assert one.to_dict("records") == [{"id": 1, "v": "a"}]
    for location in (f"memory://{root}/in/x_*.csv", f"memory://{root}/in"):
        df = loader.load(Source.csv("m", location))
        assert df["id"].tolist() == [1, 2], location
        assert [s.rsplit("/", 1)[1] for s in df["source_file"]] == ["x_1.csv", "x_2.csv"], location
        assert all(s.startswith("memory://") for s in df["source_file"]), location
    assert loader.files(Source.csv("m", f"memory://{root}/in/x_*.csv")) == list(df["source_file"].unique())


def test_memory_urls_for_json_parquet_and_excel(memory, tmp_path):
    fs, root = memory
    fs.pipe(f"{root}/a.json", json.dumps({"rows": [{"id": 1, "p": {"q": "x"}}]}).encode())
    with fs.open(f"{root}/a.parquet", "wb") as f:
        pd.DataFrame({"id": [1]}).to_parquet(f)
    with fs.open(f"{root}/a.xlsx", "wb") as f:
        pd.DataFrame({"id": [1]}).to_excel(f, index=False, sheet_name="S")
    loader = GeneralLoader(tmp_path)
    assert loader.load(Source.json("a", f"memory://{root}/a.json", record_path="rows")).to_dict("records") == [
        {"id": 1, "p.q": "x"}
    ]
    assert loader.load(Source.parquet("a", f"memory://{root}/a.parquet")).to_dict("records") == [{"id": 1}]
    assert loader.load(Source.excel("a", f"memory://{root}/a.xlsx", sheet_name="S")).to_dict("records") == [{"id": 1}]


def test_memory_url_errors_name_the_url(memory, tmp_path):
    fs, root = memory
    fs.pipe(f"{root}/bad.csv", b"id,v\n1,x\n2,y,z\n")
    loader = GeneralLoader(tmp_path)
    with pytest.raises(LoadError, match=f"^source 'm': file not found: memory://{root}/nope.csv$"):
        loader.load(Source.csv("m", f"memory://{root}/nope.csv"))
    with pytest.raises(LoadError, match=rf"^source 'm': no file matches 'memory://{root}/nope_\*.csv'$"):
        loader.load(Source.csv("m", f"memory://{root}/nope_*.csv"))
    with pytest.raises(LoadError, match=f"^source 'm': cannot read memory://{root}/bad.csv: line 3: expected 2 fields"):
        loader.load(Source.csv("m", f"memory://{root}/bad.csv"))


def test_file_urls_are_local_files(tmp_path):
    write(tmp_path / "d" / "a.csv", "id\n1\n")
    write(tmp_path / "d" / "b.csv", "id\n2\n")
    loader = GeneralLoader(tmp_path)
    assert loader.load(Source.csv("f", f"file://{tmp_path}/d/a.csv")).to_dict("records") == [{"id": 1}]
    df = loader.load(Source.csv("f", f"file://{tmp_path}/d/*.csv"))
    assert df.to_dict("records") == [{"id": 1, "source_file": "d/a.csv"}, {"id": 2, "source_file": "d/b.csv"}]
    with pytest.raises(LoadError, match=f"file not found: {tmp_path}/d/c.csv"):
        loader.load(Source.csv("f", f"file://{tmp_path}/d/c.csv"))


def test_a_link_loop_under_a_recursive_glob_reads_each_file_once(tmp_path, caplog):
    (tmp_path / "data" / "g").mkdir(parents=True)
    (tmp_path / "data" / "g" / "a.csv").write_text("id\n1\n")
    (tmp_path / "data" / "b.csv").write_text("id\n2\n")
    (tmp_path / "data" / "g" / "loop").symlink_to(".")  # data/g/loop/loop/... is data/g again
    frame = GeneralLoader(tmp_path).load(Source.csv("s", "data/**/*.csv"))
    assert frame["id"].tolist() == [2, 1]
    assert frame["source_file"].tolist() == ["data/b.csv", "data/g/a.csv"]
    assert "reach a file already listed through a link (e.g. " in caplog.text and "data/g/loop/a.csv" in caplog.text
