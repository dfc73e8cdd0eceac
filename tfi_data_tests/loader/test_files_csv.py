"""CSV sources on real files: pandas options pass through, encodings and BOMs read right."""

import csv
import datetime as dt

import pandas as pd
import pytest

from tfi_data import Source
from tfi_data.loader import GeneralLoader, LoadError


def load(tmp_path, name, content, **options):
    data = content if isinstance(content, bytes) else content.encode()
    (tmp_path / name).write_bytes(data)
    return GeneralLoader(tmp_path).load(Source.csv("a", name, **options))


def test_default_read_gives_standard_dtypes(tmp_path):
    df = load(tmp_path, "a.csv", "id,price,ok,name\n1,2.5,true,x\n2,,false,\n")
    assert [str(t) for t in df.dtypes] == ["Int64", "Float64", "boolean", "string"]
    assert df["price"].isna().tolist() == [False, True]
    assert df["name"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    ("content", "options", "expected"),
    [
        ("id;v\n1;x\n", {"sep": ";"}, [{"id": 1, "v": "x"}]),
        ("id|v\n1|x\n", {"delimiter": "|"}, [{"id": 1, "v": "x"}]),
        ("id\tv\n1\tx\n", {"sep": "\t"}, [{"id": 1, "v": "x"}]),
        ("id  v\n1   x\n", {"sep": r"\s+"}, [{"id": 1, "v": "x"}]),
        ("id::v\n1::x\n", {"sep": "::"}, [{"id": 1, "v": "x"}]),  # a regex: the python engine
        ("title\nid,v\n1,x\n", {"header": 1}, [{"id": 1, "v": "x"}]),
        ("1,x\n2,y\n", {"header": None, "names": ["id", "v"]}, [{"id": 1, "v": "x"}, {"id": 2, "v": "y"}]),
        ("id,v\n007,x\n", {"dtype": {"id": "string"}}, [{"id": "007", "v": "x"}]),
        (
            "id,v\n1,n/a\n2,-\n3,x\n",
            {"na_values": ["n/a", "-"]},
            [{"id": 1, "v": None}, {"id": 2, "v": None}, {"id": 3, "v": "x"}],
        ),
        ("id,v\n1,-999\n2,5\n", {"na_values": [-999]}, [{"id": 1, "v": None}, {"id": 2, "v": 5}]),  # not text: C engine
        ("junk\nmore junk\nid,v\n1,x\n", {"skiprows": 2}, [{"id": 1, "v": "x"}]),
        ("id,v\njunk\n1,x\n", {"skiprows": [1]}, [{"id": 1, "v": "x"}]),  # a list: the C engine
        ('id,v\n1,"x"\n', {"quoting": csv.QUOTE_NONE}, [{"id": 1, "v": '"x"'}]),
        ('id,v\n1,"a, b"\n', {}, [{"id": 1, "v": "a, b"}]),
        ("id,v\n1,'a, b'\n", {"quotechar": "'"}, [{"id": 1, "v": "a, b"}]),
        ("id;v\n1;2,5\n", {"sep": ";", "decimal": ","}, [{"id": 1, "v": 2.5}]),
        ("id,v,w\n1,x,y\n", {"usecols": ["id", "w"]}, [{"id": 1, "w": "y"}]),
        ("id,v,w\n1,x,y\n", {"usecols": [0, 2]}, [{"id": 1, "w": "y"}]),  # positions: the C engine
    ],
)
def test_options_pass_through_to_pandas(tmp_path, content, options, expected):
    df = load(tmp_path, "a.csv", content, **options)
    records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in df.to_dict("records")]
    assert records == expected


def test_date_columns_are_parsed(tmp_path):
    df = load(tmp_path, "a.csv", "day,n\n2026-01-05,1\n2026-01-06,2\n", parse_dates=["day"])
    assert pd.api.types.is_datetime64_any_dtype(df["day"])
    assert df["day"].dt.date.tolist() == [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]


def test_thousands_separator_falls_back_to_the_c_engine_and_keeps_standard_dtypes(tmp_path):
    df = load(tmp_path, "a.csv", 'n;v\n"1.234";x\n', sep=";", thousands=".")
    assert df.to_dict("records") == [{"n": 1234, "v": "x"}]
    assert [str(t) for t in df.dtypes] == ["Int64", "string"]


def test_utf8_bom_does_not_end_up_in_the_first_column_name(tmp_path):
    content = "\ufeffid,name\n1,Zoë\n".encode()
    for options in ({}, {"comment": "#"}, {"encoding": "utf-8"}, {"encoding": "utf-8-sig"}):
        df = load(tmp_path, "bom.csv", content, **options)
        assert list(df.columns) == ["id", "name"], options
        assert df["name"].tolist() == ["Zoë"], options


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_single_byte_encodings_read_when_named(tmp_path, encoding):
    text = "id,name\n1,Café Zoë\n"
    if encoding == "cp1252":
        text += "2,5 \u20ac \u2013 \u201cquoted\u201d\n"  # euro sign, en dash, curly quotes: not in latin-1
    df = load(tmp_path, "a.csv", text.encode(encoding), encoding=encoding)
    assert df["name"].tolist() == [line.split(",", 1)[1] for line in text.splitlines()[1:]]
    assert df["name"].dtype == "string"


def test_a_multi_byte_character_across_the_scan_chunk_boundary_is_not_reported_as_bad(tmp_path):
    # A good file never reaches the scan; a bad byte after a long good prefix is located exactly.
    prefix = "id,name\n" + "1,é\n" * 300_000  # > 1 MiB: the 2-byte character straddles chunk edges
    data = prefix.encode() + b"2,caf\xe9\n"
    with pytest.raises(LoadError) as exc:
        load(tmp_path, "big.csv", data)
    assert f"line {prefix.count(chr(10)) + 1}: byte 0xe9 at offset {len(prefix.encode()) + 5}" in str(exc.value)


def test_a_user_dtype_backend_is_left_alone(tmp_path):
    df = load(tmp_path, "a.csv", "id\n1\n", dtype_backend="numpy_nullable")
    assert df["id"].dtype == "Int64"


def test_a_short_row_is_refused_with_its_line_on_every_engine(tmp_path):
    # pandas' engines would pad it with nulls: a row cut short is not data
    for options in ({}, {"dtype": str}, {"encoding": "latin-1"}):
        with pytest.raises(LoadError, match=r"line 3: expected 3 fields, saw 2 \('2,y'\): a row cut short"):
            load(tmp_path, "a.csv", "id,v,w\n1,x,1\n2,y\n", **options)


def test_quoted_line_breaks_read_right_in_a_file_larger_than_a_pyarrow_block(tmp_path):
    # pyarrow splits its parallel blocks at any line break, also inside quotes, and then refuses.
    rows = 300_000
    content = "id,note,n\n" + "".join(f'{i},"two\nlines",{i}\n' for i in range(rows))
    df = load(tmp_path, "a.csv", content)
    assert len(df) == rows
    assert df["note"].eq("two\nlines").all()
    assert df["n"].dtype == "Int64" and df["n"].iloc[-1] == rows - 1


def test_a_column_whose_type_changes_after_the_first_block_reads_as_text(tmp_path):
    # pyarrow types a column from its first block and refuses a later value that does not fit.
    content = "id,code\n" + "".join(f"{i},{i}\n" for i in range(200_000)) + "200000,X1\n"
    df = load(tmp_path, "a.csv", content)
    assert len(df) == 200_001
    assert df["code"].iloc[-1] == "X1" and df["code"].iloc[0] == "0"


def test_an_unterminated_quote_in_the_last_column_is_not_read_as_the_rest_of_the_file(tmp_path):
    # pyarrow would take the rest of the file as that one value; the C engine refuses it.
    with pytest.raises(LoadError, match=r"a\.csv: line 3: unterminated quote"):
        load(tmp_path, "a.csv", 'id,v\n1,"fine"\n2,"never closed\n3,z\n4,w\n')
