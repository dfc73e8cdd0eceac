"""JSON, JSON Lines, Parquet and Excel sources on real files."""

import json

import pandas as pd
import pytest

from tfi_data import Source
from tfi_data.loader import GeneralLoader, LoadError

PEOPLE = [
    {"id": 1, "name": "Ann", "address": {"city": "Dublin", "geo": {"lat": 53.35}}, "vip": True},
    {"id": 2, "name": None, "address": {"city": "Cork"}, "vip": False},
    {"id": 3, "name": "Bo", "address": {"city": None, "geo": {"lat": 51.9}}},
]
FLAT = [
    {"id": 1, "name": "Ann", "address.city": "Dublin", "address.geo.lat": 53.35, "vip": True},
    {"id": 2, "name": None, "address.city": "Cork", "address.geo.lat": None, "vip": False},
    {"id": 3, "name": "Bo", "address.city": None, "address.geo.lat": 51.9, "vip": None},
]


def records(df):
    return [
        {k: (None if v is None or v is pd.NA or v != v else v) for k, v in r.items()} for r in df.to_dict("records")
    ]


def test_json_array_of_records_is_flattened_with_standard_dtypes(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(PEOPLE))
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json"))
    assert sorted(df.columns) == sorted(FLAT[0])
    assert records(df[list(FLAT[0])]) == FLAT
    dtypes = df.dtypes.astype(str).to_dict()
    assert dtypes == {
        "id": "Int64",
        "name": "string",
        "vip": "boolean",
        "address.city": "string",
        "address.geo.lat": "Float64",
    }


def test_json_record_path_a_dotted_path_inside_the_document(tmp_path):
    doc = {"meta": {"page": 1}, "data": {"items": PEOPLE}}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json", record_path="data.items"))
    assert records(df[list(FLAT[0])]) == FLAT


def test_json_record_path_can_step_through_a_list_index(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"pages": [{"rows": [{"id": 1}]}, {"rows": [{"id": 2}]}]}))
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json", record_path="pages.1.rows"))
    assert df.to_dict("records") == [{"id": 2}]


def test_json_integers_with_gaps_stay_integers(tmp_path):
    (tmp_path / "p.json").write_text('[{"id": 1, "n": 5}, {"id": 2, "n": null}, {"id": 3}]')
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json"))
    assert df["n"].dtype == "Int64"
    assert df["n"].isna().tolist() == [False, True, True]
    assert df["n"].iloc[0] == 5


def test_json_normalize_options_pass_through(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(PEOPLE))
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json", sep="_", max_level=1))
    assert "address_city" in df.columns and "address_geo" in df.columns  # one level flattened only
    assert df["address_geo"].iloc[0] == {"lat": 53.35}


def test_json_a_pandas_read_json_option_reads_with_pandas_read_json(tmp_path):
    pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}).to_json(tmp_path / "p.json", orient="split", index=False)
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json", orient="split"))
    assert df.to_dict("records") == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    assert df["v"].dtype == "string"


def test_json_with_bom_and_latin_1(tmp_path):
    (tmp_path / "bom.json").write_bytes('\ufeff[{"name": "Zo\u00eb"}]'.encode())
    (tmp_path / "lat.json").write_bytes('[{"name": "Zo\u00eb"}]'.encode("latin-1"))
    loader = GeneralLoader(tmp_path)
    assert loader.load(Source.json("p", "bom.json"))["name"].tolist() == ["Zoë"]
    assert loader.load(Source.json("p", "lat.json", encoding="latin-1"))["name"].tolist() == ["Zoë"]
    with pytest.raises(LoadError, match=r"lat\.json: line 1: byte 0xeb at offset 13 is not valid utf-8.*cp1252"):
        loader.load(Source.json("p", "lat.json"))


def test_jsonl_is_flattened_like_json_and_skips_blank_lines(tmp_path):
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(p) for p in PEOPLE[:2]) + "\n\n" + json.dumps(PEOPLE[2]))
    df = GeneralLoader(tmp_path).load(Source.jsonl("p", "p.jsonl"))
    assert records(df[list(FLAT[0])]) == FLAT
    assert df["id"].dtype == "Int64" and df["address.geo.lat"].dtype == "Float64"


def test_jsonl_and_json_give_the_same_frame(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(PEOPLE))
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(p) for p in PEOPLE))
    loader = GeneralLoader(tmp_path)
    pd.testing.assert_frame_equal(loader.load(Source.json("p", "p.json")), loader.load(Source.jsonl("p", "p.jsonl")))


def test_a_mixed_type_json_field_becomes_text_as_a_csv_would_read_it(tmp_path):
    (tmp_path / "p.json").write_text('[{"code": 1}, {"code": "A1"}, {"code": null}, {"code": true}]')
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json"))
    assert df["code"].dtype == "string"
    assert df["code"].tolist() == ["1", "A1", pd.NA, "true"]


def test_64_bit_integers_with_gaps_are_exact(tmp_path):
    big = 2**63 - 7  # float64 would round it
    (tmp_path / "p.json").write_text(f'[{{"id": {big}, "p": {{"q": 1}}}}, {{"id": null}}, {{"id": {big - 1}}}]')
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json"))
    assert df["id"].dtype == "Int64"
    assert df["id"].tolist() == [big, pd.NA, big - 1]
    assert df["p.q"].tolist() == [1, pd.NA, pd.NA]


def test_a_list_field_is_kept_as_lists(tmp_path):
    (tmp_path / "p.json").write_text('[{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}]')
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json"))
    assert df["tags"].tolist() == [["a", "b"], []]


def test_parquet_keeps_its_types_as_standard_dtypes(tmp_path):
    pd.DataFrame({"id": pd.array([1, None], dtype="Int64"), "v": ["a", None], "x": [0.5, 1.5]}).to_parquet(
        tmp_path / "a.parquet"
    )
    df = GeneralLoader(tmp_path).load(Source.parquet("a", "a.parquet", columns=["id", "v"]))
    assert list(df.columns) == ["id", "v"]  # options pass through
    assert df.dtypes.astype(str).tolist() == ["Int64", "string"]
    assert df["id"].isna().tolist() == [False, True]


def test_excel_sheet_by_name_and_by_index_with_options(tmp_path):
    with pd.ExcelWriter(tmp_path / "book.xlsx") as writer:
        pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}).to_excel(writer, sheet_name="First", index=False)
        pd.DataFrame({"title": ["x"]}).to_excel(writer, sheet_name="Second", index=False, startrow=2)
    loader = GeneralLoader(tmp_path)
    first = loader.load(Source.excel("b", "book.xlsx"))
    assert first.to_dict("records") == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    assert first.dtypes.astype(str).tolist() == ["Int64", "string"]
    assert loader.load(Source.excel("b", "book.xlsx", sheet_name=1, skiprows=2))["title"].tolist() == ["x"]
    assert loader.load(Source.excel("b", "book.xlsx", sheet_name="Second", header=2))["title"].tolist() == ["x"]


def test_excel_several_sheets_at_once_is_refused(tmp_path):
    pd.DataFrame({"id": [1]}).to_excel(tmp_path / "book.xlsx", index=False)
    with pytest.raises(LoadError, match="sheet_name must name one sheet"):
        GeneralLoader(tmp_path).load(Source.excel("b", "book.xlsx", sheet_name=None))


def test_jsonl_record_path_finds_the_records_inside_each_line(tmp_path):
    pages = [{"page": 1, "data": {"items": [{"id": 1}, {"id": 2}]}}, {"page": 2, "data": {"items": [{"id": 3}]}}]
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(p) for p in pages) + '\n{"page": 3}\n')
    loader = GeneralLoader(tmp_path)
    with pytest.raises(LoadError, match=r"p\.jsonl: line 3: record_path 'data\.items': no 'data' at the top"):
        loader.load(Source.jsonl("p", "p.jsonl", record_path="data.items"))
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(p) for p in pages))
    df = loader.load(Source.jsonl("p", "p.jsonl", record_path="data.items"))
    assert df["id"].tolist() == [1, 2, 3]


def test_an_option_json_does_not_take_is_refused_not_ignored(tmp_path):
    (tmp_path / "p.json").write_text("[]")
    with pytest.raises(LoadError, match=r"unknown option\(s\) \['meta'\]: JSON takes record_path"):
        GeneralLoader(tmp_path).load(Source.json("p", "p.json", meta=["x"], allow_empty=True))


def test_whole_floats_past_2_to_the_53_that_are_json_floats_stay_floats(tmp_path):
    (tmp_path / "p.json").write_text('[{"x": 1e20}, {"x": null}]')
    df = GeneralLoader(tmp_path).load(Source.json("p", "p.json"))
    assert df["x"].dtype == "Float64" and df["x"].iloc[0] == 1e20
