"""A corpus of hostile input files, made by the test: each is read right or refused with its file
and a position, never loaded wrong. Every accepted file's frame is compared with an independent
reading (Python's csv and json modules, pyarrow's Parquet reader, openpyxl)."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tfi_data import Source
from tfi_data.loader import GeneralLoader, LoadError

# What a refusal must say where: a line, byte, offset, row, column or sheet.
POSITION = re.compile(r"\b(line|byte|offset|row|column|sheet|position|depth|record)s?\b", re.I)


@dataclass
class Case:
    name: str  # the file name; its extension is the reader's
    data: bytes
    kind: str = "csv"
    options: dict[str, Any] = field(default_factory=dict)
    refuse: bool = False  # the file must be refused (with file and position)
    where: bool = True  # a refusal must name a position (False: the file as a whole is wrong)


def _csv(name: str, text: str | bytes, **kw: Any) -> Case:
    return Case(name, text.encode() if isinstance(text, str) else text, "csv", **kw)


def _json(name: str, text: str | bytes, kind: str = "json", **kw: Any) -> Case:
    return Case(name, text.encode() if isinstance(text, str) else text, kind, **kw)


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), sink)
    return sink.getvalue()


def _xlsx_bytes(rows: list[list[Any]], sheet: str = "data") -> bytes:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    sink = io.BytesIO()
    book.save(sink)
    return sink.getvalue()


WIDE = ",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join(str(i) for i in range(10_000)) + "\n"
DEEP = "[" * 5000 + "]" * 5000
PARQUET = _parquet_bytes(pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None], "x": [1.5, None, -0.0]}))

CASES = [
    # CSV that must be read right
    _csv("plain.csv", "id,name\n1,a\n2,b\n"),
    _csv("bom.csv", "\ufeffid,name\n1,a\n2,b\n"),
    _csv("crlf.csv", "id,name\r\n1,a\r\n2,b\r\n"),
    _csv("cr_only.csv", "id,name\r1,a\r2,b\r"),
    _csv("no_final_newline.csv", "id,name\n1,a\n2,b"),
    _csv("quoted_newline.csv", 'id,text\n1,"line one\nline two"\n2,plain\n'),
    _csv("quoted_separator.csv", 'id,text\n1,"a, b, c"\n2,"x,y"\n'),
    _csv("escaped_quotes.csv", 'id,text\n1,"he said ""hi"""\n2,""""\n'),
    _csv("trailing_blank_lines.csv", "id,name\n1,a\n2,b\n\n\n"),
    _csv("unicode_header.csv", '"Straße Name","café ☕"\nx,y\n'),
    _csv("huge_field.csv", "id,blob\n1," + "x" * 1_000_000 + "\n2,y\n"),
    _csv("wide.csv", WIDE),
    _csv("tsv.tsv", "id\tname\n1\ta b\n2\tc\n", options={"sep": "\t"}),
    _csv("empty_strings.csv", 'id,name\n1,""\n2,\n'),
    _csv("latin1_declared.csv", "id,name\n1,Caf\xe9\n".encode("latin-1"), options={"encoding": "latin-1"}),
    _csv("utf16_declared.csv", "id,name\n1,ä\n".encode("utf-16"), options={"encoding": "utf-16"}),
    _csv("big_ints.csv", "id,n\n1,9223372036854775807\n2,-9223372036854775808\n"),
    _csv("beyond_int64.csv", "id,n\n1,99999999999999999999\n2,1\n", refuse=True),
    _csv("beyond_int64_as_text.csv", "id,n\n1,99999999999999999999\n2,1\n", options={"dtype": {"n": str}}),
    _csv("leading_zeros_as_text.csv", "id,zip\n1,007\n2,010\n", options={"dtype": str}),
    _csv("mixed_column.csv", "id,v\n1,10\n2,ten\n3,\n"),
    _csv("floats.csv", "id,x\n1,1.5\n2,-0.0\n3,1e300\n4,\n"),
    _csv("dup_columns.csv", "a,a\n1,2\n3,4\n", refuse=True),
    _csv("empty_header_name.csv", ",b\n1,2\n3,4\n"),
    _csv("spaces_around.csv", "id , name \n1 , a \n"),
    _csv("only_header_allowed.csv", "id,name\n", options={"allow_empty": True}),
    # CSV that must be refused
    _csv("ragged_short.csv", "id,a,b\n1,x,y\n2,y\n", refuse=True),
    _csv("ragged_long.csv", "id,a\n1,x\n2,y,z\n", refuse=True),
    _csv("cut_mid_row.csv", "id,v,w\n1,100,a\n2,200", refuse=True),
    _csv("open_quote_last_line.csv", 'id,a\n1,x\n2,"abc', refuse=True),
    _csv("open_quote_mid_file.csv", 'id,a\n1,"x\n2,y\n3,z\n', refuse=True),
    _csv("empty.csv", "", refuse=True, where=False),
    _csv("whitespace_only.csv", "  \n\n \n", refuse=True, where=False),
    _csv("header_only.csv", "id,name\n", refuse=True, where=False),
    _csv("latin1_undeclared.csv", "id,name\n1,Caf\xe9\n".encode("latin-1"), refuse=True),
    _csv("cp1252_undeclared.csv", "id,name\n1,\u201cquoted\u201d\n".encode("cp1252"), refuse=True),
    _csv("utf16_undeclared.csv", "id,name\n1,a\n".encode("utf-16"), refuse=True, where=False),
    _csv("nul_byte.csv", b"id,name\n1,a\x00b\n", refuse=True),
    _csv("png.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", refuse=True, where=False),
    _csv("gzip_unnamed.csv", b"\x1f\x8b\x08\x00\x00\x00\x00\x00", refuse=True, where=False),
    # JSON and JSON Lines
    _json("records.json", '[{"id": 1, "name": "a"}, {"id": 2, "name": null}]'),
    _json("nested.json", '[{"id": 1, "geo": {"lat": 53.3, "lon": -6.2}}, {"id": 2, "geo": {"lat": 1, "lon": 2}}]'),
    _json("bom.json", '\ufeff[{"id": 1}]'),
    _json("unicode.json", '[{"id": 1, "name": "Zoë ☕ 東京"}]'),
    _json("record_path.json", '{"data": {"items": [{"id": 1}, {"id": 2}]}}', options={"record_path": "data.items"}),
    _json("exact_ints.json", '[{"id": 9007199254740993}, {"id": 1}]'),
    _json("malformed.json", '[{"id": 1}, {"id": 2]', refuse=True),
    _json("trailing_comma.json", '[{"id": 1},]', refuse=True),
    _json("deep.json", DEEP, refuse=True, where=False),
    _json("deep_line.jsonl", '{"id": 1}\n{"a": ' + DEEP + "}\n", kind="jsonl", refuse=True),
    _json("nan.json", '[{"id": 1, "x": NaN}]', refuse=True),
    _json("infinity.json", '[{"id": 1, "x": Infinity}]', refuse=True),
    _json("int_beyond_64_bits.json", '[{"id": 1, "n": 123456789012345678901234567890}]', refuse=True),
    _json("mixed_array.json", '[{"id": 1, "v": [1, "two", [3]]}, {"id": 2, "v": [4]}]'),
    _json("list_beside_scalar.json", '[{"id": 1, "v": [1, 2]}, {"id": 2, "v": "x"}]'),
    _json("object_not_array.json", '{"id": 1, "items": [1]}', refuse=True, where=False),
    _json("scalar.json", "42", refuse=True, where=False),
    _json("empty.json", "", refuse=True, where=False),
    _json("empty_array.json", "[]", refuse=True, where=False),
    _json("invalid_utf8.json", b'[{"id": 1, "name": "\xff\xfe"}]', refuse=True),
    _json("lines.jsonl", '{"id": 1}\n\n{"id": 2, "x": "y"}\n', kind="jsonl"),
    _json("bad_line.jsonl", '{"id": 1}\n{"id": 2\n{"id": 3}\n', kind="jsonl", refuse=True),
    _json("array_line.jsonl", '{"id": 1}\n[1, 2]\n', kind="jsonl", refuse=True),
    _json("cut_last_line.jsonl", '{"id": 1}\n{"id": 2, "v": "ab', kind="jsonl", refuse=True),
    # Parquet and Excel
    Case("good.parquet", PARQUET, "parquet"),
    Case("truncated.parquet", PARQUET[: len(PARQUET) // 2], "parquet", refuse=True, where=False),
    Case("zero.parquet", b"", "parquet", refuse=True, where=False),
    Case("csv_named.parquet", b"id,name\n1,a\n", "parquet", refuse=True, where=False),
    Case("good.xlsx", _xlsx_bytes([["id", "name", "when"], [1, "a", "2026-01-02"], [2, None, "x"]]), "excel"),
    Case("csv_named.xlsx", b"id,name\n1,a\n", "excel", refuse=True, where=False),
    Case("missing_sheet.xlsx", _xlsx_bytes([["id"], [1]]), "excel", {"sheet_name": "nope"}, refuse=True),
]


# --- the independent readings -----------------------------------------------------------------


csv.field_size_limit(sys.maxsize)


def _csv_oracle(case: Case) -> list[list[str]] | None:
    """Rows of strings by Python's csv module (strict), or None if it is not a well-formed CSV
    whose every row has the header's number of fields."""
    encoding = case.options.get("encoding", "utf-8-sig")
    try:
        text = case.data.decode(encoding)
    except UnicodeDecodeError:
        return None
    if "\0" in text:
        return None
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=case.options.get("sep", ","), strict=True))
    rows = [r for r in rows if r]  # blank lines
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        return None
    return rows


def _same(value: Any, text: str) -> bool:
    """A frame cell and the text the independent reading found for it."""
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return text.strip() == ""
    if isinstance(value, bool):
        return text.strip().lower() == str(value).lower()
    if isinstance(value, int):
        try:
            return int(text.strip()) == value  # exact: a float that lost digits does not pass
        except ValueError:
            return False
    if isinstance(value, float):
        try:
            number = float(text)
        except ValueError:
            return False
        if re.fullmatch(r"\s*[+-]?\d+\s*", text) and (abs(number) >= 2**53):
            return False  # an integer too large for a float was rounded
        return number == value or (math.isnan(number) and math.isnan(value))
    return str(value) == text


def _check_csv(case: Case, frame: pd.DataFrame) -> None:
    rows = _csv_oracle(case)
    assert rows is not None, f"{case.name}: loaded, but it is not a well-formed CSV"
    header, body = rows[0], rows[1:]
    assert len(frame.columns) == len(header), f"{case.name}: {len(frame.columns)} columns, the file has {len(header)}"
    assert len(frame) == len(body), f"{case.name}: {len(frame)} rows, the file has {len(body)}"
    for r, row in enumerate(body):
        for c, text in enumerate(row):
            value = frame.iat[r, c]
            value = value.item() if hasattr(value, "item") else value
            assert _same(value, text), f"{case.name}: row {r + 1} column {header[c]!r}: {value!r} != {text!r}"


def _flat(record: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_records(case: Case, frame: pd.DataFrame) -> None:
    text = case.data.decode("utf-8-sig")
    if case.kind == "jsonl":
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        records = json.loads(text)
        for key in case.options.get("record_path", "").split(".") if "record_path" in case.options else []:
            records = records[key]
    expected = [_flat(r) for r in records]
    assert len(frame) == len(expected), f"{case.name}: {len(frame)} rows, the file has {len(expected)}"
    for r, record in enumerate(expected):
        for column, want in record.items():
            got = frame[column].iloc[r]
            got = got.item() if hasattr(got, "item") else got
            where = f"{case.name}: row {r + 1} {column!r}"
            if want is None:
                assert pd.isna(got), f"{where}: {got!r}, the file has null"
            elif isinstance(want, int) and not isinstance(want, bool) and abs(want) >= 2**53:
                assert isinstance(got, int) and got == want, f"{where}: {got!r} != {want!r} (exactly)"
            else:
                assert got == want, f"{where}: {got!r} != {want!r}"


def _check_parquet(case: Case, frame: pd.DataFrame) -> None:
    expected = pq.read_table(io.BytesIO(case.data)).to_pylist()
    got = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert [{k: v for k, v in r.items()} for r in got] == expected, case.name


def _check_excel(case: Case, frame: pd.DataFrame) -> None:
    book = openpyxl.load_workbook(io.BytesIO(case.data))
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    header, body = rows[0], rows[1:]
    assert list(frame.columns) == header and len(frame) == len(body), case.name
    for r, row in enumerate(body):
        for c, want in enumerate(row):
            got = frame.iat[r, c]
            got = got.item() if hasattr(got, "item") else got
            assert (pd.isna(got) and want is None) or got == want, f"{case.name}: row {r + 1}: {got!r} != {want!r}"


CHECKS: dict[str, Callable[[Case, pd.DataFrame], None]] = {
    "csv": _check_csv,
    "json": _check_records,
    "jsonl": _check_records,
    "parquet": _check_parquet,
    "excel": _check_excel,
}


def test_the_corpus_has_at_least_fifty_hostile_files():
    assert len(CASES) >= 50 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_hostile_file_is_read_right_or_refused_with_file_and_position(case, tmp_path):
    path = tmp_path / case.name
    path.write_bytes(case.data)
    source = Source(case.kind, "s", case.name, {**case.options, "file_column": None})
    try:
        frame = GeneralLoader(tmp_path).load(source)
    except LoadError as exc:
        message = str(exc)
        assert case.refuse, f"{case.name}: refused, but it is a readable file: {message}"
        assert case.name in message, f"the refusal does not name the file: {message}"
        if case.where:
            assert POSITION.search(message), f"the refusal names no position: {message}"
        assert not re.search(r"\b(RecursionError|OverflowError|KeyError|AttributeError|TypeError)\b", message), message
        return
    assert not case.refuse, f"{case.name}: loaded {len(frame)} row(s) from a file that must be refused"
    CHECKS[case.kind](case, frame)
