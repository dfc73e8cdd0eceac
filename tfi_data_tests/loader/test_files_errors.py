"""Bad input is refused with a LoadError naming the source, the file and, where there is one, the
line; nothing is returned."""

import json
import os
import random
import re
import subprocess
import sys

import pandas as pd
import pytest

from tfi_data import Source
from tfi_data.loader import GeneralLoader, LoadError

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"


def refusal(tmp_path, source, files) -> str:
    for name, content in files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(LoadError) as exc:
        GeneralLoader(tmp_path).load(source)
    return str(exc.value)


@pytest.mark.parametrize(
    ("source", "files", "expected"),
    [
        pytest.param(Source.csv("a", "missing.csv"), {}, "source 'a': file not found: {tmp}/missing.csv", id="missing"),
        pytest.param(
            Source.csv("a", "x_*.csv"),
            {"y_1.csv": "id\n1\n"},
            "source 'a': no file matches '{tmp}/x_*.csv'",
            id="no-match",
        ),
        pytest.param(
            Source.csv("a", "e.csv"),
            {"e.csv": ""},
            "source 'a': cannot read {tmp}/e.csv: the file is empty: no header, no rows; pass allow_empty=True",
            id="empty",
        ),
        pytest.param(
            Source.csv("a", "e.csv"),
            {"e.csv": "\n\n"},
            "source 'a': cannot read {tmp}/e.csv: the file is empty",
            id="blank-lines",
        ),
        pytest.param(
            Source.csv("a", "h.csv"),
            {"h.csv": "id,name\n"},
            "source 'a': cannot read {tmp}/h.csv: no rows (only a header: id, name); pass allow_empty=True",
            id="header-only",
        ),
        pytest.param(
            Source.csv("a", "r.csv"),
            {"r.csv": "id,v\n1,x\n2,y,extra\n3,z\n"},
            "source 'a': cannot read {tmp}/r.csv: line 3: expected 2 fields, saw 3",
            id="too-many-fields",
        ),
        pytest.param(
            Source.csv("a", "r.csv", comment="#"),  # the C engine from the start
            {"r.csv": "# note\nid,v\n1,x\n2,y,extra\n"},
            "source 'a': cannot read {tmp}/r.csv: line 4: expected 2 fields, saw 3",
            id="too-many-fields-c-engine",
        ),
        pytest.param(
            Source.csv("a", "q.csv"),
            {"q.csv": 'id,v\n1,"fine"\n2,"never closed\n3,z\n'},
            "source 'a': cannot read {tmp}/q.csv: line 3: unterminated quote",
            id="unterminated-quote",
        ),
        pytest.param(
            Source.csv("a", "l.csv"),
            {"l.csv": "id,name\n1,Zoe\n2,Caf\xe9\n".encode("latin-1")},
            "source 'a': cannot read {tmp}/l.csv: line 3: byte 0xe9 at offset 19 is not valid utf-8 "
            "(invalid continuation byte); the file is in another encoding: pass encoding='cp1252' (Windows) "
            "or encoding='latin-1'",
            id="latin-1-without-encoding",
        ),
        pytest.param(
            Source.csv("a", "l.csv", comment="#"),
            {"l.csv": "id,name\n1,\u20ac\n".encode("cp1252")},  # the euro sign is 0x80
            "source 'a': cannot read {tmp}/l.csv: line 2: byte 0x80 at offset 10 is not valid utf-8",
            id="cp1252-without-encoding-c-engine",
        ),
        pytest.param(
            Source.csv("a", "l.csv", encoding="cp1252"),
            {"l.csv": b"id,name\n1,ok\n2,\x81\n"},  # 0x81 is undefined in cp1252
            "source 'a': cannot read {tmp}/l.csv: line 3: byte 0x81 at offset 15 is not valid cp1252",
            id="byte-undefined-in-the-named-encoding",
        ),
        pytest.param(
            Source.csv("a", "u.csv"),
            {"u.csv": "id,name\n1,x\n".encode("utf-16")},
            "source 'a': cannot read {tmp}/u.csv: the file is UTF-16 text: pass encoding='utf-16'",
            id="utf-16",
        ),
        pytest.param(
            Source.csv("a", "p.csv"),
            {"p.csv": PNG},
            "source 'a': cannot read {tmp}/p.csv: not a text file: it is a PNG image",
            id="png-in-csv",
        ),
        pytest.param(
            Source.csv("a", "g.csv"),
            {"g.csv": random.Random(7).randbytes(4096)},
            "source 'a': cannot read {tmp}/g.csv: not a text file: binary data (a NUL byte at offset",
            id="random-bytes",
        ),
        pytest.param(
            Source.json("a", "b.json"),
            {"b.json": '[\n  {"id": 1},\n  {"id": 2,}\n]'},
            "source 'a': cannot read {tmp}/b.json: line 3 column 12: malformed JSON: Expecting property name",
            id="malformed-json",
        ),
        pytest.param(
            Source.json("a", "b.json"),
            {"b.json": '[{"id": 1}'},
            "source 'a': cannot read {tmp}/b.json: line 1 column 11: malformed JSON",
            id="truncated-json",
        ),
        pytest.param(
            Source.json("a", "e.json"),
            {"e.json": ""},
            "source 'a': cannot read {tmp}/e.json: the file is empty: no records; pass allow_empty=True",
            id="empty-json",
        ),
        pytest.param(
            Source.json("a", "n.json"),
            {"n.json": "[]"},
            "source 'a': cannot read {tmp}/n.json: no rows; pass allow_empty=True",
            id="no-records",
        ),
        pytest.param(
            Source.json("a", "p.json"),
            {"p.json": PNG},
            "source 'a': cannot read {tmp}/p.json: not a text file: it is a PNG image",
            id="png-in-json",
        ),
        pytest.param(
            Source.json("a", "d.json", record_path="data.rows"),
            {"d.json": json.dumps({"data": {"items": [], "total": 0}})},
            "source 'a': cannot read {tmp}/d.json: record_path 'data.rows': no 'rows' under 'data' "
            "(keys there: 'items', 'total')",
            id="records-path-absent",
        ),
        pytest.param(
            Source.json("a", "d.json"),
            {"d.json": json.dumps({"results": [{"id": 1}], "count": 1})},
            "source 'a': cannot read {tmp}/d.json: the document is a JSON object, not an array of records: "
            "say where the records are with record_path='key.subkey' (keys holding arrays: 'results')",
            id="object-without-records-path",
        ),
        pytest.param(
            Source.json("a", "s.json"),
            {"s.json": "[1, 2]"},
            "source 'a': cannot read {tmp}/s.json: the record at index 0: expected a JSON object, found a number",
            id="array-of-scalars",
        ),
        pytest.param(
            Source.jsonl("a", "b.jsonl"),
            {"b.jsonl": '{"id": 1}\n{"id": 2\n{"id": 3}\n'},
            "source 'a': cannot read {tmp}/b.jsonl: line 2 column 9: malformed JSON: Expecting ',' delimiter",
            id="malformed-jsonl",
        ),
        pytest.param(
            Source.jsonl("a", "b.jsonl"),
            {"b.jsonl": '{"id": 1}\n\n[1, 2]\n'},
            "source 'a': cannot read {tmp}/b.jsonl: line 3: expected a JSON object, found an array",
            id="jsonl-line-not-an-object",
        ),
        pytest.param(
            Source.parquet("a", "e.parquet"),
            {"e.parquet": ""},
            "source 'a': cannot read {tmp}/e.parquet: the file is empty (0 bytes), not Parquet",
            id="empty-parquet",
        ),
        pytest.param(
            Source.parquet("a", "x.parquet"),
            {"x.parquet": "id\n1\n"},
            "source 'a': cannot read {tmp}/x.parquet: not a readable Parquet file",
            id="csv-named-parquet",
        ),
        pytest.param(
            Source.excel("a", "x.xlsx"),
            {"x.xlsx": PNG},
            "source 'a': cannot read {tmp}/x.xlsx: not an Excel workbook",
            id="png-named-xlsx",
        ),
        pytest.param(
            Source.excel("a", "x.xlsx"),
            {"x.xlsx": ""},
            "source 'a': cannot read {tmp}/x.xlsx: the file is empty (0 bytes), not a workbook",
            id="empty-xlsx",
        ),
    ],
)
def test_bad_input_is_refused_naming_source_file_and_line(tmp_path, source, files, expected):
    assert expected.format(tmp=tmp_path) in refusal(tmp_path, source, files)


def test_an_excel_sheet_that_does_not_exist_is_named_with_the_sheets_that_do(tmp_path):
    with pd.ExcelWriter(tmp_path / "book.xlsx") as writer:
        pd.DataFrame({"id": [1]}).to_excel(writer, sheet_name="Stations", index=False)
        pd.DataFrame({"id": [2]}).to_excel(writer, sheet_name="Routes", index=False)
    by_name = refusal(tmp_path, Source.excel("a", "book.xlsx", sheet_name="Stops"), {})
    assert f"source 'a': cannot read {tmp_path}/book.xlsx: no sheet 'Stops' in the workbook; " in by_name
    assert by_name.endswith("its sheets are 'Stations', 'Routes'")
    by_index = refusal(tmp_path, Source.excel("a", "book.xlsx", sheet_name=2), {})
    assert "no sheet 2 in the workbook; its sheets are 'Stations', 'Routes'" in by_index


def test_one_bad_file_in_a_glob_fails_the_source_naming_that_file(tmp_path):
    message = refusal(
        tmp_path,
        Source.csv("a", "d_*.csv"),
        {"d_1.csv": "id\n1\n", "d_2.csv": "id,v\n1,x\n2,y,z\n", "d_3.csv": "id\n3\n"},
    )
    assert message == f"source 'a': cannot read {tmp_path}/d_2.csv: line 3: expected 2 fields, saw 3"


def test_a_header_only_file_in_a_glob_is_refused_unless_allowed(tmp_path):
    files = {"d_1.csv": "id,v\n1,x\n", "d_2.csv": "id,v\n", "d_3.csv": ""}
    assert "d_2.csv: no rows" in refusal(tmp_path, Source.csv("a", "d_*.csv"), files)
    df = GeneralLoader(tmp_path).load(Source.csv("a", "d_*.csv", allow_empty=True))
    assert df.to_dict("records") == [{"id": 1, "v": "x", "source_file": "d_1.csv"}]
    assert [str(t) for t in df.dtypes] == ["Int64", "string", "string"]


@pytest.mark.parametrize(("name", "content"), [("h.csv", "id,name\n"), ("e.csv", ""), ("n.json", "[]")])
def test_allow_empty_accepts_a_file_without_rows(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    kind = "json" if name.endswith(".json") else "csv"
    df = GeneralLoader(tmp_path).load(Source(kind, "a", name, {"allow_empty": True}))
    assert len(df) == 0
    assert list(df.columns) == (["id", "name"] if name == "h.csv" else [])


def test_permission_denied(tmp_path):
    (tmp_path / "secret.csv").write_text("id\n1\n")
    (tmp_path / "secret.csv").chmod(0)
    if os.geteuid() != 0:
        message = refusal(tmp_path, Source.csv("a", "secret.csv"), {})
    else:  # root reads anything: load in a child that holds root's id but not its override capabilities
        caps = "-dac_override,-dac_read_search"
        code = (
            "import sys\nfrom tfi_data import Source\nfrom tfi_data.loader import GeneralLoader, LoadError\n"
            "try:\n    GeneralLoader(sys.argv[1]).load(Source.csv('a', 'secret.csv'))\n"
            "except LoadError as exc:\n    print(exc)\n"
        )
        out = subprocess.run(
            ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", sys.executable, "-c", code, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        message = out.stdout.strip()
    assert message == f"source 'a': cannot read {tmp_path}/secret.csv: Permission denied"


def test_an_unknown_url_protocol_is_named(tmp_path):
    message = refusal(tmp_path, Source.csv("a", "nope://bucket/x.csv"), {})
    assert message == "source 'a': cannot open 'nope://bucket/x.csv': ValueError: Protocol not known: nope"


def test_a_file_column_that_clashes_with_a_data_column_is_refused(tmp_path):
    files = {"d_1.csv": "id,source_file\n1,x\n", "d_2.csv": "id,source_file\n2,y\n"}
    message = refusal(tmp_path, Source.csv("a", "d_*.csv"), files)
    assert re.search(r"d_1\.csv already has a column 'source_file': .*file_column=None", message)
