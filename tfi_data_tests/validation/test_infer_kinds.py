"""Inference on the data a new user meets: every column kind the loader produces, ids, free text,
coordinates, signs, leading zeros; rules files that stay consistent through --update of a type."""

import datetime as dt
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tfi_data import Export, PipelineDetails, Source
from tfi_data.loader import GeneralLoader
from tfi_data.validation import RulesError, Validator, infer_rules, merge_rules, parse_rules, rules_to_yaml
from tfi_data.validation.infer import batch_notes, date_window, frame_findings, observe, row_bounds
from tfi_data.validation.infer_frames import export_batches
from tfi_data.validation.rules import schemas_from_mapping


def _load(tmp_path, source):
    return GeneralLoader(tmp_path).load(source)


def _check(rules, frames):
    return Validator(schemas_from_mapping(rules)).check(frames)


def test_lists_dicts_mixed_all_null_and_binary_columns_get_rules_or_a_comment_never_a_crash(tmp_path):
    records = [
        {"id": i, "tags": ["a", "b"][: i % 3], "meta": {"k": i}, "mixed": [1, "x", 2.5][i % 3], "gone": None}
        for i in range(30)
    ]
    (tmp_path / "items.json").write_text(json.dumps(records))
    items = _load(tmp_path, Source.json("items", "items.json", max_level=0, file_column=None))
    table = pa.table({"id": list(range(30)), "blob": [bytes([i, 0, 255]) for i in range(30)]})
    pq.write_table(table, tmp_path / "blobs.parquet")
    blobs = _load(tmp_path, Source.parquet("blobs", "blobs.parquet", file_column=None))
    frames = {"items": items, "blobs": blobs}

    rules = infer_rules(frames, key_columns={"items": ["tags"]})  # a key of lists: a finding, not a crash
    cols = rules["items"]["columns"]
    assert cols["tags"] == {"type": "json", "nullable": False}  # was TypeError: unhashable type: 'list'
    assert cols["meta"] == {"type": "json", "nullable": False}
    assert cols["mixed"]["type"] == "str"  # the JSON reader makes text of mixed scalars
    assert cols["gone"] == {"nullable": True}
    assert rules["blobs"]["columns"]["blob"] == {"nullable": False}
    text = rules_to_yaml(rules, frames)
    assert "tags:  {type: json, nullable: false}  # 30 rows, no nulls, 3 distinct" in text  # stored as JSON
    assert "all null: no type or value checks inferred" in text
    assert "binary values: no type in the rules" in text
    assert "# NOTE key ['tags'] is not unique: 30 rows share 3 key(s)" in text
    assert parse_rules(text) == rules
    assert [(o.column, o.rule) for o in _check(rules, frames).errors] == [(None, "unique")]  # only the key

    # a transformer can hand over anything: mixed objects, durations
    odd = pd.DataFrame(
        {"mixed": pd.Series([1, "x", 2.5, None], dtype=object), "took": pd.to_timedelta([1, 2, 3, 4], "s")}
    )
    rules = infer_rules({"odd": odd})
    assert rules["odd"]["columns"] == {"mixed": {"nullable": True}, "took": {"nullable": False}}
    text = rules_to_yaml(rules, {"odd": odd})
    assert "mixed types (float, int, str): only nulls checked" in text
    assert "durations: no type in the rules, only nulls checked" in text
    assert not _check(rules, {"odd": odd}).failures


def test_ids_get_unique_and_no_closed_range_so_new_ids_pass(tmp_path):
    rows = "\n".join(f"{n},{n * 7 % 50}.5,site {n % 4}" for n in range(1, 171))
    (tmp_path / "samples.csv").write_text("Sample Number,reading,site\n" + rows + "\n")
    frame = _load(tmp_path, Source.csv("samples", "samples.csv", file_column=None))
    spec = infer_rules({"samples": frame})["samples"]["columns"]["Sample Number"]
    assert spec == {"type": "int", "nullable": False, "unique": True, "min": 0}  # was max: 170 (ids 171, 172 failed)
    new = pd.DataFrame({"Sample Number": pd.array([171, 172], dtype="Int64")})
    assert not _check({"s": {"columns": {"Sample Number": spec}}}, {"s": new}).failures
    # a row number without a key-like name is an id too: it counts up
    serial = pd.DataFrame({"row": pd.array(range(500, 600), dtype="Int64")})
    assert infer_rules({"s": serial})["s"]["columns"]["row"] == {
        "type": "int",
        "nullable": False,
        "unique": True,
        "min": 0,
    }


def test_free_text_gets_no_allowed_list(tmp_path):
    sentences = [
        "Sample taken after heavy rain, water cloudy",
        "Site flooded; reading estimated from upstream gauge",
        "Probe replaced before this reading was taken",
        "Access road closed, sampled from the bridge instead",
        "Clear water, no remarks from the field team",
        "Algae bloom visible near the outflow pipe",
        "Reading repeated twice because of a battery warning",
        "Cattle in the river upstream of the sampling point",
        "Ice on the surface; hole drilled to take the sample",
        "Duplicate sample sent to the second laboratory",
    ]
    rows = "\n".join(f'{i},"{sentences[i % 10]}",{["low", "high"][i % 2]}' for i in range(60))
    (tmp_path / "notes.csv").write_text("n,comment,level\n" + rows + "\n")
    frame = _load(tmp_path, Source.csv("notes", "notes.csv", file_column=None))
    cols = infer_rules({"notes": frame})["notes"]["columns"]
    assert cols["comment"] == {"type": "str", "nullable": False, "min_length": 1}  # was allowed: [10 sentences]
    assert cols["level"]["allowed"] == ["high", "low"]  # a label still gets its list


def test_latitude_longitude_stay_on_the_globe_and_ranges_keep_their_sign(tmp_path):
    lines = ["latitude,lon,area,depth,temp"]
    for i in range(50):
        lat, lon = -80 + i * 3.4, -175 + i * 7.1  # up to 86.6 and 172.9: a margin would pass the poles
        area = [-1, 2_000_000, 0, 15, 300][i % 5]  # one small negative (a correction) and big areas
        lines.append(f"{lat:.4f},{lon:.4f},{area},{-(i + 1) * 10},{-3 + i}")
    (tmp_path / "places.csv").write_text("\n".join(lines) + "\n")
    frame = _load(tmp_path, Source.csv("places", "places.csv", file_column=None))
    cols = infer_rules({"places": frame})["places"]["columns"]
    assert (cols["latitude"]["min"], cols["latitude"]["max"]) == (-90, 90)  # was widened past the poles
    assert (cols["lon"]["min"], cols["lon"]["max"]) == (-180, 180)
    assert cols["area"]["min"] == -2 and cols["area"]["max"] == 2_300_000  # was min: -200000 for an observed -1
    assert cols["depth"]["max"] == 0  # non-positive stays non-positive
    assert cols["temp"]["min"] == -6  # a negative side at most doubles
    assert not _check({"places": {"columns": cols}}, {"places": frame}).failures


def test_codes_with_leading_zeros_are_flagged_with_the_dtype_that_keeps_them(tmp_path):
    (tmp_path / "zips.csv").write_text("zip,city,pop\n00501,Holtsville,10\n02134,Boston,30\n90210,Beverly Hills,20\n")
    as_int = _load(tmp_path, Source.csv("zips", "zips.csv", file_column=None))
    assert str(as_int["zip"].dtype) == "Int64"  # the reader made numbers of them: 501, 2134
    found = frame_findings(as_int, infer_rules({"zips": as_int})["zips"])
    expected = (
        "zip: a code read as numbers: 2 value(s) shorter than 5 digits lost leading zeros? "
        "read it as text with dtype={'zip': str}"
    )
    assert found == [expected]
    assert expected.removeprefix("zip: ") in rules_to_yaml(infer_rules({"zips": as_int}), {"zips": as_int})

    as_text = _load(tmp_path, Source.csv("zips", "zips.csv", dtype={"zip": str}, file_column=None))
    rules = infer_rules({"zips": as_text})
    assert rules["zips"]["columns"]["zip"]["regex"] == r"^\d{5}$"
    assert frame_findings(as_text, rules["zips"]) == [
        "zip: digits with leading zeros: keep reading it as text (dtype={'zip': str})"
    ]
    assert frame_findings(as_int[["pop"]], {}) == []  # a quantity is no code


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{type: str, min: 0, max: 110000}", r"rules file r.yaml:3:22: t: columns: zip: min: 'min' does not fit a str"),
        ("{type: int, regex: '^\\d+$'}", r"rules file r.yaml:3:22: t: columns: zip: regex: 'regex' does not fit a int"),
        ("{type: date, max_length: 3}", r"rules file r.yaml:3:23: t: columns: zip: max_length: 'max_length' does not"),
        ("{type: bool, min: 0}", r"rules file r.yaml:3:23: t: columns: zip: min: 'min' does not fit a bool"),
    ],
)
def test_the_rules_loader_refuses_checks_that_do_not_fit_the_type(entry, message):
    with pytest.raises(RulesError, match=message):
        parse_rules(f"t:\n  columns:\n    zip: {entry}\n", "r.yaml")
    parse_rules("t:\n  columns:\n    zip: {min: 0, regex: x}\n")  # untyped: judged at run time


def test_update_of_a_type_change_rewrites_every_check_the_new_type_cannot_carry(tmp_path):
    (tmp_path / "zips.csv").write_text("zip,n\n00501,1\n02134,2\n90210,3\n10001,4\n")
    frame = _load(tmp_path, Source.csv("zips", "zips.csv", dtype={"zip": str}, file_column=None))
    existing = (
        "zips:  # reviewed\n"
        "  columns:\n"
        "    zip: {type: int, nullable: false, min: 0, max: 110000, warn: [max]}  # 3 rows, no nulls, 3 distinct\n"
        "    n:\n"
        "      type: str   # wrong by hand\n"
        "      min_length: 1\n"
    )
    merged = merge_rules(existing, {"zips": frame}, accept="type_change")
    assert [str(f) for f in merged.applied] == [
        "zips: zip: type_change: rules say int, data is string (string); accepting sets {type: str, regex: '^\\d{5}$'}"
        " and removes min, max, warn",
        "zips: n: type_change: rules say str, data is Int64 (integer); accepting sets {type: int, min: 0, max: 5}"
        " and removes min_length",
    ]
    assert merged.text == (
        "zips:  # reviewed\n"
        "  columns:\n"
        "    zip: {type: str, nullable: false, regex: '^\\d{5}$'}  # 4 rows, no nulls, 4 distinct, length 5,"
        " digits with leading zeros: keep reading it as text (dtype={'zip': str})\n"
        "    n: {type: int, min: 0, max: 5}\n"
    )
    assert not _check(parse_rules(merged.text), {"zips": frame}).failures  # was TypeError on every run


@pytest.mark.parametrize(
    ("lo", "hi", "today", "expected"),
    [
        # a history: new rows bring new dates, up to a year after today
        (dt.date(2006, 1, 1), dt.date(2012, 12, 1), dt.date(2026, 11, 30), (dt.date(2005, 1, 1), dt.date(2028, 1, 1))),
        # plans ahead of today: a year (or a tenth of the span) beyond the last
        (dt.date(2020, 1, 1), dt.date(2040, 6, 1), dt.date(2026, 1, 1), (dt.date(2017, 1, 1), dt.date(2043, 1, 1))),
        (dt.datetime(2026, 3, 1, 8), dt.datetime(2026, 3, 2), dt.date(2026, 3, 2), ("2025-01-01", "2028-01-01")),
    ],
)
def test_dates_get_plausible_windows_of_whole_years(lo, hi, today, expected):
    assert date_window(lo, hi, 0.1, today) == expected


PARTS = ["origin", "phase", "shakemap", "dyfi"]


def test_labels_keep_their_allowed_list_text_lists_and_unix_times_are_recognised():
    n = 300
    frame = pd.DataFrame(
        {  # long labels (3 species of 4 words) are categories; remarks are free text
            "species": pd.array(
                [["Adelie Penguin (Pygoscelis adeliae)", "Gentoo penguin (Pygoscelis papua)"][i % 2] for i in range(n)],
                dtype="string[pyarrow]",
            ),
            # lists written as text: combinations of a few parts, new combinations to come
            "types": pd.array(
                [",".join(["", *[p for b, p in enumerate(PARTS) if (i % 15 + 1) >> b & 1], ""]) for i in range(n)],
                dtype="string[pyarrow]",
            ),
            "updated": pd.array([1517966996303 + 60_000 * i for i in range(n)], dtype="Int64"),
        }
    )
    rules = infer_rules({"q": frame})["q"]["columns"]
    assert rules["species"]["allowed"] == ["Adelie Penguin (Pygoscelis adeliae)", "Gentoo penguin (Pygoscelis papua)"]
    assert "allowed" not in rules["types"]
    ahead = max(2020, (dt.date.today() + dt.timedelta(days=365)).year + 1)
    assert (rules["updated"]["min"], rules["updated"]["max"]) == (
        int(dt.datetime(2017, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * 1000,
        int(dt.datetime(ahead, 1, 1, tzinfo=dt.timezone.utc).timestamp()) * 1000,
    )
    assert "Unix time in milliseconds (2018-02-07 01:29..2018-02-07 06:28 UTC)" in str(observe(frame["updated"]))


def test_profile_learns_from_each_file_of_a_glob(tmp_path):
    (tmp_path / "trips_01.csv").write_text("id,km\n1,2.5\n2,4.0\n3,1.0\n4,7.5\n")
    (tmp_path / "trips_02.csv").write_text(
        "id,km,driver\n5,3.0,ann\n6,2.0,bob\n7,9.0,ann\n8,1.5,cy\n9,4.5,bob\n10,6,cy\n"
    )
    (tmp_path / "zones.csv").write_text("zone\nA\nB\n")
    details = PipelineDetails(
        name="trips",
        sources=[Source.csv("trips", "trips_*.csv"), Source.csv("zones", "zones.csv")],
        transformer=lambda f: f["trips"].assign(zones=len(f["zones"])),
        exports=[Export(table="trips", keys=["id"])],
        base_dir=tmp_path,
    )
    batched, batches = export_batches(details)
    assert batched == "trips" and [len(b["trips"]) for b in batches] == [4, 6]
    assert list(batches[0]["trips"].columns) == ["id", "km", "source_file", "zones"]  # as a run reads each
    assert row_bounds([4, 6]) == {"min": 2} and row_bounds([1234, 5000]) == {"min": 610}
    assert batch_notes([b["trips"] for b in batches], "'trips'") == [
        "learnt from 2 files of 'trips': 4..6 rows each",
        "column 'driver' is in 1 of 2 files only",
    ]
    single = PipelineDetails(
        name="z",
        sources=[Source.csv("zones", "zones.csv")],
        exports=[Export(table="z", mode="replace")],
        base_dir=tmp_path,
    )
    assert export_batches(single)[0] is None
