"""The rules file: levels, row bounds, and mistakes reported with file, line and column."""

import pandas as pd
import pytest

from tfi_data.validation import RulesError, Validator, load_rules_file, parse_rules

RULES = """\
# a person's rules file: comments, block and flow style mixed
rides:
  rows: {min: 2, max: 1000}
  unique: [day, route]
  warn: [rows]
  columns:
    day: {type: date, nullable: false}
    riders:
      type: int
      min: 0
      max: 500
      warn: [max]
"""


def test_levels_and_row_bounds_compile_from_the_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    schema = load_rules_file(path)["rides"]
    assert schema.metadata == {"tfi": {"checks": ["rows"], "warn": ["rows"]}}
    assert schema.columns["riders"].metadata == {
        "tfi": {"checks": ["type", "min", "max"], "warn": ["max"], "column_type": {"type": "int"}}
    }
    assert parse_rules(RULES)["rides"]["columns"]["riders"] == {"type": "int", "min": 0, "max": 500, "warn": ["max"]}

    frame = pd.DataFrame({"day": [pd.Timestamp("2026-01-01").date()], "riders": pd.array([900], dtype="Int64")})
    report = Validator.from_rules(str(path), ["rides"]).check({"rides": frame})
    assert {(o.rule, o.level) for o in report.failures} == {("rows", "warn"), ("max", "warn")}
    assert report.ok


LINE3 = "rides:\n  columns:\n"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (LINE3 + "    a: {tpye: int}\n", "3:9", r"rides: columns: a: unknown check\(s\) \['tpye'\]"),
        (LINE3 + "    a: {type: integer}\n", "3:15", r"rides: columns: a: unknown type 'integer'"),
        ("rides:\n  colums: {}\n", "2:3", r"rides: unknown key\(s\) \['colums'\]"),
        ("rides:\n  columns: [a\n", "3:1", r"not valid YAML"),
        (LINE3 + "    a: {type: int, warn: [max]}\n", "3:26", r"a: warn: 'max' is not a check of this column"),
        (LINE3 + "    a: {nullable: true, warn: [nullable]}\n", "3:31", r"'nullable' is not a check"),
        ("rides:\n  rows:\n    min: 1\n    most: 5\n", "4:5", r"rides: rows: unknown key\(s\) \['most'\]"),
        ("rides:\n  rows: {min: -1}\n", "2:15", r"rides: rows: min: expected a whole number >= 0"),
        ("rides:\n  warn: [strict]\n", "2:9", r"rides: warn: 'strict' is not a check of this frame"),
        (LINE3 + "    a: {type: int}\n    a: {type: str}\n", "4:5", r"a: duplicate key 'a' \(first at line 3\)"),
        (LINE3 + "    a: {regex: '[a-'}\n", "3:16", r"a: regex: not a regular expression"),
        (LINE3 + "    a: {min: 5, max: 1}\n", "3:9", r"a: min 5 is above max 1"),
        (LINE3 + "    a: {max: 1e6}\n", "3:14", r"a: max: expected a number \(or a date for date columns\), got '1e6'"),
        (LINE3 + "    a: {type: date, min: 2026-13-01}\n", "3:26", r"not valid YAML: month must be in 1..12"),
        (LINE3 + "    a: {type: date, min: '2026-1-1'}\n", "3:26", r"a: min: not an ISO date: '2026-1-1'"),
        (LINE3 + "    a: {nullable: 'false'}\n", "3:19", r"a: nullable: expected true or false"),
        (LINE3 + "    a: {allowed: bus}\n", "3:18", r"a: allowed: expected a list of values"),
        (LINE3 + "    a: {min_length: -1}\n", "3:21", r"a: min_length: expected a whole number >= 0"),
        ("rides:\n  unique: day\n", "2:11", r"rides: unique: expected a list of column names"),
        ("rides: [a]\n", "1:8", r"rides: expected a mapping with 'columns'"),
    ],
)
def test_bad_rules_files_name_path_line_and_entry(tmp_path, text, where, message):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulesError, match=message) as exc:
        load_rules_file(path)
    assert f"rules file {path}:{where}: " in str(exc.value)
    with pytest.raises(RulesError, match=message) as exc:
        parse_rules(text, path="pipelines/rides.yaml")
    assert f"rules file pipelines/rides.yaml:{where}: " in str(exc.value)


def test_an_empty_file_has_no_rules_and_a_list_is_refused(tmp_path):
    assert parse_rules("# nothing yet\n") == {}
    with pytest.raises(RulesError, match=r"^rules: expected a mapping of frame name -> rules"):
        parse_rules("- rides\n")
