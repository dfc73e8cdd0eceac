"""Validator: rules files compile to pandera and every failure is reported at once."""

import pandas as pd
import pandera.pandas as pa
import pytest

from tfi_data.validation import RulesError, ValidationFailed, Validator, load_rules_file

RULES = """
rides:
  strict: false
  unique: [day, route]
  columns:
    day:    {type: date, nullable: false}
    route:  {type: str, nullable: false, regex: '^[A-Z]\\d+$'}
    riders: {type: int, min: 0, max: 1000}
    kind:   {type: str, allowed: [bus, tram], min_length: 3, max_length: 4}
"""

GOOD = pd.DataFrame(
    {
        "day": pd.to_datetime(["2026-01-01", "2026-01-01"]).date,
        "route": ["R1", "R2"],
        "riders": pd.array([5, None], dtype="Int64"),
        "kind": ["bus", "tram"],
    }
)


@pytest.fixture
def validator(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return Validator.from_rules(str(path), ["rides"])


def test_good_data_passes_unchanged(validator):
    out = validator.validate({"rides": GOOD})
    pd.testing.assert_frame_equal(out["rides"], GOOD)


def test_every_failure_is_reported_with_column_check_and_sample(validator):
    bad = GOOD.copy()
    bad.loc[1, "route"] = "r2"
    bad.loc[0, "riders"] = -3
    bad.loc[1, "kind"] = "ferry"
    with pytest.raises(ValidationFailed) as exc:
        validator.validate({"rides": bad})
    by_column = {(r["column"], r["check"].split("(")[0]) for r in exc.value.report}
    assert ("route", "str_matches") in by_column
    assert ("riders", "greater_than_or_equal_to") in by_column
    assert ("kind", "isin") in by_column
    assert ("kind", "str_length") in by_column
    text = str(exc.value)
    assert "frame 'rides' column 'riders'" in text and "-3" in text and "'r2'" in text


def test_type_nullability_and_unique_key_combination(validator):
    bad = pd.DataFrame(
        {"day": ["x", "x"], "route": ["R1", "R1"], "riders": [1.5, 2.0], "kind": [None, "bus"]},
    )
    with pytest.raises(ValidationFailed) as exc:
        validator.validate({"rides": bad})
    report = {(r["column"], r["check"]): r for r in exc.value.report}
    assert report[("day", "type is not date")]["sample"] == ["object (string)"]
    assert report[("riders", "type is not int")]["sample"] == ["float64 (floating)"]
    assert report[("route", "multiple_fields_uniqueness")]["rows"] == [0, 1]


def test_a_pandera_schema_is_accepted_directly():
    schema = pa.DataFrameSchema({"n": pa.Column(int, pa.Check.gt(0))})
    v = Validator.from_rules(schema, ["only"])
    with pytest.raises(ValidationFailed, match="frame 'only' column 'n'"):
        v.validate({"only": pd.DataFrame({"n": [1, 0]})})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rides:\n  columns:\n    a: {tpye: int}\n", r"rides: columns: a: unknown check\(s\) \['tpye'\]"),
        ("rides:\n  columns:\n    a: {type: integer}\n", r"rides: columns: a: unknown type 'integer'"),
        ("rides:\n  colums: {}\n", r"rides: unknown key\(s\) \['colums'\]"),
        ("rides:\n  columns: [a\n", r"rules.yaml:3:\d+: not valid YAML"),
    ],
)
def test_bad_rules_files_name_path_and_entry(tmp_path, text, message):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulesError, match=message) as exc:
        load_rules_file(path)
    assert str(path) in str(exc.value)


def test_rules_for_an_unknown_frame_are_an_error(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    with pytest.raises(
        RulesError, match=r"rules name frame\(s\) \['rides'\], but the pipeline's frames are \['trips'\]"
    ):
        Validator.from_rules(str(path), ["trips"])


def test_a_pandera_schema_reports_by_its_own_check_names():
    schema = pa.DataFrameSchema(
        {"n": pa.Column(int, pa.Check.gt(0)), "s": pa.Column(str, nullable=True)},
        checks=[pa.Check(lambda df: len(df) > 5)],
    )
    report = Validator.from_rules(schema, ["only"]).check({"only": pd.DataFrame({"n": [1, 0], "s": [1.5, None]})})
    assert [(o.column, o.rule, o.level, o.failures) for o in report.outcomes] == [
        ("n", "required", "error", 0),
        ("n", "type", "error", 0),
        ("n", "greater_than", "error", 1),
        ("n", "nullable", "error", 0),  # pandera's columns are not nullable by default
        ("s", "required", "error", 0),
        ("s", "type", "error", 1),
        (None, "<lambda>", "error", 1),
    ]
    assert report.errors[0].positions.tolist() == [1]
