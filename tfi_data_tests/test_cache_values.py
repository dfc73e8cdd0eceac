"""The cache keeps nested values with their element types and a frame's attrs, and names every
column it cannot store (no Dagster: the cache module alone)."""

import pandas as pd
import pyarrow as pa
import pytest
from upath import UPath

from tfi_data.cache import CacheError, read_frame, write_frame
from tfi_data.loader.readers.files import read_json


def test_json_arrays_survive_the_cache_with_their_element_types(tmp_path):
    (tmp_path / "a.json").write_text(
        '[{"id": 1, "tags": [40, 60], "items": [{"sku": "x", "n": 2}]}, {"id": 2, "tags": null, "items": []}]'
    )
    df = read_json(tmp_path / "a.json", {})
    df.attrs["column_types"] = {"id": {"type": "int"}}
    path = UPath(tmp_path / "frame.parquet")
    write_frame(path, df, "output 'a'")
    back = read_frame(path)
    assert back["tags"].dtype == pd.ArrowDtype(pa.list_(pa.int64()))
    assert [type(v) for v in back["tags"].tolist()[0]] == [int, int]  # integers, not 40.0
    assert list(back["items"].tolist()[0]) == [{"sku": "x", "n": 2}]
    assert back.attrs == {"column_types": {"id": {"type": "int"}}}


def test_python_lists_from_a_transformer_come_back_as_lists():
    df = pd.DataFrame({"id": [1, 2], "l": [[1, 2], None]})
    path = UPath("memory://tfi-cache-test/l.parquet")
    write_frame(path, df, "output 'l'")
    back = read_frame(path)
    assert back["l"].dtype == pd.ArrowDtype(pa.list_(pa.int64()))
    assert back["l"].isna().tolist() == [False, True]


def test_every_unstorable_column_is_named(tmp_path):
    df = pd.DataFrame({"id": [1, 2], "a": [1, "x"], "b": [[1], 2], "ok": [[1], [2]]})
    with pytest.raises(CacheError, match=r"column\(s\) 'a' \(int, str\), 'b' \(int, list\) cannot be stored"):
        write_frame(UPath(tmp_path / "x.parquet"), df, "output 'x'")
