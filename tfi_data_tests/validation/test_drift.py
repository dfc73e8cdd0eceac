"""Drift between rules and new data; re-inference against a hand-edited file keeps the edits."""

from pathlib import Path

import pandas as pd
import pytest

from tfi_data import Source
from tfi_data.loader import GeneralLoader
from tfi_data.validation import (
    Finding,
    Validator,
    drift,
    infer_rules,
    merge_rules,
    parse_rules,
    rules_to_yaml,
    schemas_from_mapping,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dataloaders"

EDITED = """\
# Ridership rules, reviewed by hand.
ridership:  # 12 rows, 5 columns
  strict: false
  unique: [Day, Route]
  columns:
    Day:         {type: date, nullable: false}
    Route:       {type: str, nullable: false, allowed: [R1, R2, T3]}  # the routes we run
    Riders:      {type: int, nullable: true, min: 0, max: 2400, warn: [max]}  # 2400: depot limit
    # revenue written out by hand
    Revenue EUR:
      type: number
      min: 0      # refunds are booked elsewhere
    source_file: {type: str}
"""


@pytest.fixture(scope="module")
def ridership():
    return GeneralLoader(EXAMPLES).load(Source.csv("ridership", "data/ridership_*.csv"))


@pytest.fixture
def changed(ridership):
    new = ridership.drop(columns=["source_file"]).copy()
    new.loc[0, "Riders"] = 2600
    new.loc[1, "Revenue EUR"] = -5.0
    new.loc[2, "Route"] = "B7"
    new.loc[3, "Day"] = None
    new["Weather"] = pd.array(["sun", "rain", "sun"] * 4, dtype="string[pyarrow]")
    return new


def test_drift_on_a_changed_frame_is_structured_and_readable(changed):
    findings = drift(parse_rules(EDITED), {"ridership": changed})
    assert [(f.kind, f.frame, f.column, f.change) for f in findings] == [
        (
            "new_column",
            "ridership",
            "Weather",
            {"spec": {"type": "str", "nullable": False, "allowed": ["rain", "sun"]}},
        ),
        ("nulls", "ridership", "Day", {"nullable": True}),
        ("new_category", "ridership", "Route", {"allowed": ["R1", "R2", "T3", "B7"]}),
        ("out_of_range", "ridership", "Riders", {"max": 2900}),
        ("out_of_range", "ridership", "Revenue EUR", {"min": -10}),
        ("missing_column", "ridership", "source_file", {}),
    ]
    text = [str(f) for f in findings]
    assert text[3] == (
        "ridership: Riders: out_of_range: 1 value(s) above max 2400 (highest 2600) (a warning); "
        "accepting sets {max: 2900}"
    )
    assert text[2] == (
        "ridership: Route: new_category: 1 value(s) not in allowed: B7 (1 row(s)); "
        "accepting sets {allowed: [R1, R2, T3, B7]}"
    )
    assert text[5] == "ridership: source_file: missing_column: in the rules, not in the data"


def test_by_default_re_inference_only_reports(changed):
    merged = merge_rules(EDITED, {"ridership": changed})
    assert merged.text == EDITED
    assert merged.applied == [] and len(merged.pending) == 6


def test_accepted_changes_are_merged_and_every_other_line_stays(changed):
    merged = merge_rules(EDITED, {"ridership": changed}, accept="all")
    assert (
        merged.text
        == """\
# Ridership rules, reviewed by hand.
ridership:  # 12 rows, 5 columns
  strict: false
  unique: [Day, Route]
  columns:
    Day:         {type: date, nullable: true}
    Route:       {type: str, nullable: false, allowed: [R1, R2, T3, B7]}  # the routes we run
    Riders:      {type: int, nullable: true, min: 0, max: 2900, warn: [max]}  # 2400: depot limit
    # revenue written out by hand
    Revenue EUR:
      type: number
      min: -10      # refunds are booked elsewhere
    source_file: {type: str}
    Weather:     {type: str, nullable: false, allowed: [rain, sun]}  # 12 rows, no nulls, 2 distinct, length 3..4
"""
    )
    assert [f.kind for f in merged.pending] == ["missing_column"]  # removing a rule is the person's call
    report = Validator(schemas_from_mapping(parse_rules(merged.text))).check({"ridership": changed})
    assert [(o.column, o.rule) for o in report.failures] == [("source_file", "required")]


def test_only_the_accepted_kinds_are_merged(changed):
    merged = merge_rules(EDITED, {"ridership": changed}, accept={"new_category", "new_column"})
    assert [f.kind for f in merged.applied] == ["new_column", "new_category"]
    changed_lines = [(a, b) for a, b in zip(EDITED.splitlines(), merged.text.splitlines(), strict=False) if a != b]
    assert changed_lines == [
        (
            "    Route:       {type: str, nullable: false, allowed: [R1, R2, T3]}  # the routes we run",
            "    Route:       {type: str, nullable: false, allowed: [R1, R2, T3, B7]}  # the routes we run",
        )
    ]
    assert merged.text.splitlines()[-1].startswith("    Weather:     {type: str")
    with pytest.raises(ValueError, match=r"accept: unknown finding kind\(s\) \['widen'\]"):
        merge_rules(EDITED, {"ridership": changed}, accept={"widen"})


def test_hand_edits_survive_re_inference_on_the_same_data(ridership):
    inferred = rules_to_yaml(infer_rules({"ridership": ridership}), {"ridership": ridership})
    # a person tightens a range, drops a rule, adds a warning level and a comment
    edited = (
        inferred.replace("min: 800, max: 2600}", "min: 900, max: 2400, warn: [max]}")
        .replace(", allowed: [data/ridership_2026-01.csv, data/ridership_2026-02.csv]", "")
        .replace("  strict: false\n", "  strict: false\n  # keys checked by the exporter too\n")
    )
    assert edited.count("\n") == inferred.count("\n") + 1
    merged = merge_rules(edited, {"ridership": ridership}, accept="all")
    assert merged.findings == [] and merged.text == edited  # nothing drifted: nothing rewritten

    more = pd.concat([ridership, ridership.iloc[[0]].assign(Riders=3000, Day=pd.Timestamp("2026-03-02").date())])
    merged = merge_rules(edited, {"ridership": more.reset_index(drop=True)}, accept="all")
    assert [str(f) for f in merged.applied] == [
        "ridership: Riders: out_of_range: 1 value(s) above max 2400 (highest 3000) (a warning); "
        "accepting sets {max: 3300}"
    ]
    before, after = edited.splitlines(), merged.text.splitlines()
    assert [b for b in after if b not in before] == [
        # the value and the observation comment: what the data showed now
        "    Riders:      {type: int, nullable: true, min: 900, max: 3300, warn: [max]}"
        "  # 13 rows, 1 null, 12 distinct, observed 980..3000"
    ]


def test_type_changes_hide_the_checks_they_break(ridership):
    rules = infer_rules({"ridership": ridership})
    floats = ridership.assign(Riders=ridership["Riders"].astype("Float64") + 0.5)
    findings = drift(rules, {"ridership": floats})
    assert [(f.kind, f.column, f.change) for f in findings] == [("type_change", "Riders", {"type": "float"})]
    assert "rules say int, data is Float64 (floating)" in str(findings[0])


def test_report_only_kinds_and_new_frames(ridership):
    rules = parse_rules("""\
ridership:
  rows: {max: 5}
  columns:
    Route: {regex: '^R\\d$', max_length: 1}
    Day: {unique: true}
""")
    frames = {"ridership": ridership[["Route", "Day"]], "stations": pd.DataFrame({"station_id": [1, 2]})}
    findings = drift(rules, frames)
    assert [(f.kind, f.column, bool(f.change)) for f in findings] == [
        ("pattern", "Route", False),
        ("length", "Route", False),
        ("duplicates", "Day", False),
        ("row_count", None, False),
        ("new_frame", None, True),
    ]
    assert str(findings[3]) == "ridership: row_count: rows between 0 and 5: 1 failure(s), e.g. 12"


LAYOUTS = """\
ridership:
  columns:
    Route:
      allowed:
        - R1   # first
        - R2
    Riders:
      type: int
      max: 2000
stations:
  strict: false
  columns: {}
"""


def test_block_layouts_flow_mappings_and_new_frames_are_edited_in_place(ridership):
    stations = pd.DataFrame({"station_id": pd.array([1, 2, 3], dtype="Int64")})
    frames = {
        "ridership": ridership[["Route", "Riders"]],
        "stations": stations,
        "zones": pd.DataFrame({"zone": pd.array(["A", "B", "A"], dtype="string[pyarrow]")}),
    }
    merged = merge_rules(LAYOUTS, frames, accept="all")
    assert merged.text.splitlines() == [
        "ridership:",
        "  columns:",
        "    Route:",
        "      allowed: [R1, R2, T3]",  # a block list becomes a flow list (its comments go)
        "    Riders:",
        "      type: int",
        "      max: 2600",
        "stations:",
        "  strict: false",
        "  columns:",  # `{}` became a block
        "    station_id: {type: int, nullable: false, unique: true, min: 0}"
        "  # 3 rows, no nulls, 3 distinct, observed 1..3",
        "zones:  # 3 rows, 1 column",
        "  strict: false",
        "  columns:",
        "    zone: {type: str, nullable: false, allowed: [A, B]}  # 3 rows, no nulls, 2 distinct, length 1",
    ]
    assert not Validator(schemas_from_mapping(parse_rules(merged.text))).check(frames).failures


def test_findings_compare_by_what_they_say():
    a = Finding("nulls", "t", "x", "1 null(s)", {"nullable": True})
    assert (
        a == Finding("nulls", "t", "x", "1 null(s)")
        and str(a) == "t: x: nulls: 1 null(s); accepting sets {nullable: true}"
    )


def test_dates_and_numeric_categories_merge_with_their_own_types():
    text = """\
trips:
  columns:
    at: {type: datetime, max: 2026-01-31 00:00:00}
    zone: {type: int, allowed: [1, 2]}
"""
    frame = pd.DataFrame(
        {"at": pd.to_datetime(["2026-01-05 00:00", "2026-02-03 08:30"]), "zone": pd.array([1, 3], dtype="Int64")}
    )
    merged = merge_rules(text, {"trips": frame}, accept="all")
    assert [str(f) for f in merged.applied] == [
        "trips: at: out_of_range: 1 value(s) above max 2026-01-31 00:00:00 (highest 2026-02-03 08:30:00); "
        "accepting sets {max: '2026-02-03 08:30:00'}",
        "trips: zone: new_category: 1 value(s) not in allowed: 3 (1 row(s)); accepting sets {allowed: [1, 2, 3]}",
    ]
    assert merged.text.splitlines()[2:] == [
        "    at: {type: datetime, max: '2026-02-03 08:30:00'}",
        "    zone: {type: int, allowed: [1, 2, 3]}",
    ]
    assert not Validator(schemas_from_mapping(parse_rules(merged.text))).check({"trips": frame}).failures
