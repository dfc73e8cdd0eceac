"""Every check of the rules file, passing and failing, as an error and as a warning; the Report."""

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest

from tfi_data.validation import FAILED_CHECKS, ValidationFailed, Validator, schema_from_rules


def ints(*values):
    return pd.array(list(values), dtype="Int64")


def texts(*values):
    return pd.array(list(values), dtype="string[pyarrow]")


# rule, column spec, passing column, failing column, failing row positions ([] = the whole column)
CASES = [
    ("type", {"type": "int"}, ints(1, 2, 3), pd.array([1.5, 2.0, 3.0], dtype="Float64"), []),
    ("type", {"type": "str"}, texts("a", "b"), ints(1, 2), []),
    ("type", {"type": "date"}, pd.Series([dt.date(2026, 1, 1), None]), texts("2026-01-01", None), []),
    ("type", {"type": "datetime"}, pd.to_datetime(["2026-01-01"]), texts("2026-01-01"), []),
    ("type", {"type": "bool"}, pd.array([True, None], dtype="boolean"), ints(1, 0), []),
    ("type", {"type": "number"}, pd.array([1.5], dtype="Float64"), texts("1.5"), []),
    ("nullable", {"nullable": False}, ints(1, 2, 3), ints(1, None, 3), [1]),
    ("unique", {"unique": True}, ints(1, 2, 3), ints(1, 2, 1), [0, 2]),
    ("min", {"min": 0}, ints(0, 1, None), ints(-1, 0, 5, -2), [0, 3]),
    (
        "max",
        {"max": 10.5},
        pd.array([10.5, 1.0], dtype="Float64"),
        pd.array([11.0, 1.0, 12.0], dtype="Float64"),
        [0, 2],
    ),
    (
        "min",
        {"type": "date", "min": dt.date(2026, 1, 1)},
        pd.Series([dt.date(2026, 1, 1)]),
        pd.Series([dt.date(2025, 12, 31)]),
        [0],
    ),
    (
        "max",
        {"type": "datetime", "max": dt.date(2026, 1, 1)},
        pd.to_datetime(["2025-12-31"]),
        pd.to_datetime(["2026-01-02"]),
        [0],
    ),
    ("allowed", {"allowed": ["a", "b"]}, texts("a", "b", None), texts("a", "c", "b", "d"), [1, 3]),
    ("allowed", {"type": "str", "allowed": [1, 2]}, texts("1", "2"), texts("1", "3"), [1]),
    ("regex", {"regex": r"^[A-Z]\d+$"}, texts("R1", "T22"), texts("R1", "r2", "X"), [1, 2]),
    ("min_length", {"min_length": 2}, texts("ab", "abc"), texts("a", "abc"), [0]),
    ("max_length", {"max_length": 2}, texts("ab", "a"), texts("abc", "a"), [0]),
]


def _validator(spec):
    return Validator({"t": schema_from_rules("t", {"columns": {"v": spec}})})


@pytest.mark.parametrize("level", ["error", "warn"])
@pytest.mark.parametrize(("rule", "spec", "good", "bad", "positions"), CASES)
def test_each_column_check_passes_and_fails_at_its_level(rule, spec, good, bad, positions, level, caplog):
    spec = {**spec, "warn": [rule]} if level == "warn" else spec
    validator = _validator(spec)

    report = validator.check({"t": pd.DataFrame({"v": good})})
    assert report.ok and not report.failures
    outcome = next(o for o in report.outcomes if o.rule == rule)
    assert outcome.passed and outcome.level == level and outcome.column == "v"

    bad_frame = pd.DataFrame({"v": bad})
    report = validator.check({"t": bad_frame})
    (failed,) = report.failures
    assert (failed.rule, failed.column, failed.level) == (rule, "v", level)
    assert failed.positions.tolist() == positions
    assert failed.failures == (len(positions) or 1)
    if positions:
        pd.testing.assert_frame_equal(failed.sample, bad_frame.iloc[positions])
    assert (report.errors, report.warnings) == (([failed], []) if level == "error" else ([], [failed]))

    if level == "error":
        with pytest.raises(ValidationFailed) as exc:
            validator.validate({"t": bad_frame})
        assert exc.value.result.errors[0].rule == rule
        assert exc.value.report[0]["level"] == "error" and exc.value.report[0]["rule"] == rule
    else:
        with caplog.at_level(logging.WARNING, logger="tfi_data.validation.validator"):
            out = validator.validate({"t": bad_frame})
        pd.testing.assert_frame_equal(out["t"], bad_frame)
        assert f"v: {rule} (warn)" in caplog.text


def test_type_failure_shows_what_the_column_is():
    report = _validator({"type": "int"}).check({"t": pd.DataFrame({"v": texts("1", "2")})})
    assert report.failures[0].values == ["string (string)"]
    assert not report.failures[0].by_row and report.frame_errors == report.failures


TABLE = {
    "rows": {"min": 2, "max": 3},
    "unique": ["a", "b"],
    "strict": True,
    "columns": {"a": {"type": "int"}, "b": {"type": "str"}},
}
GOOD = pd.DataFrame({"a": ints(1, 1, 2), "b": texts("x", "y", "x")})


@pytest.mark.parametrize("level", ["error", "warn"])
@pytest.mark.parametrize(
    ("rule", "bad", "positions", "values"),
    [
        ("rows", GOOD.iloc[:1], [], [1]),
        ("rows", pd.concat([GOOD, GOOD.assign(a=ints(7, 8, 9))], ignore_index=True), [], [6]),
        ("unique", pd.DataFrame({"a": ints(1, 2, 1), "b": texts("x", "y", "x")}), [0, 2], [(1, "x"), (1, "x")]),
        ("strict", GOOD.assign(extra=1), [], ["extra"]),
    ],
)
def test_each_table_check_passes_and_fails_at_its_level(rule, bad, positions, values, level):
    rules = {**TABLE, "warn": [rule]} if level == "warn" else TABLE
    validator = Validator({"t": schema_from_rules("t", rules)})
    passed = validator.check({"t": GOOD})
    assert passed.ok and not passed.failures
    assert {(o.rule, o.column, o.level) for o in passed.outcomes if o.column is None} == {
        (r, None, level if r == rule else "error") for r in ("rows", "unique", "strict")
    }

    report = validator.check({"t": bad})
    (failed,) = report.failures
    assert (failed.rule, failed.column, failed.level) == (rule, None, level)
    assert failed.positions.tolist() == positions and failed.values == values
    assert report.ok is (level == "warn")


def test_a_missing_column_is_an_error_that_no_row_split_removes():
    validator = Validator({"t": schema_from_rules("t", TABLE)})
    frame = GOOD[["a"]]
    report = validator.check({"t": frame})
    missing, unique = report.failures
    assert (missing.rule, missing.column, missing.level, missing.values) == ("required", "b", "error", ["b"])
    # pandera would check `unique: [a, b]` on `a` alone and blame rows 0 and 1
    assert (unique.rule, unique.values, unique.by_row) == ("unique", ["key column(s) missing: b"], False)
    assert report.frame_errors == [missing, unique] and report.frame_failures("t") == [missing, unique]
    valid, rejected = report.split("t", frame)
    assert len(valid) == 3 and len(rejected) == 0  # no row is to blame; the frame is: see frame_errors


def test_warnings_alone_do_not_raise_and_errors_list_warnings_too():
    rules = {"columns": {"n": {"min": 0, "max": 10, "warn": ["max"]}}}
    validator = Validator({"t": schema_from_rules("t", rules)})
    frame = pd.DataFrame({"n": ints(5, 20)})
    assert validator.validate({"t": frame})["t"] is not None
    with pytest.raises(ValidationFailed) as exc:
        validator.validate({"t": pd.DataFrame({"n": ints(-1, 20)})})
    text = str(exc.value)
    assert "validation failed: 1 failure(s)" in text
    assert "[warn] frame 't' column 'n' check less_than_or_equal_to(10)" in text
    assert {(r["rule"], r["level"]) for r in exc.value.report} == {("min", "error"), ("max", "warn")}


SPLIT_RULES = {
    "unique": ["day", "route"],
    "columns": {
        "day": {"type": "date", "nullable": False},
        "route": {"type": "str", "regex": r"^[A-Z]\d+$"},
        "riders": {"type": "int", "min": 0, "max": 1000, "warn": ["max"]},
    },
}


def _split_frame():
    day = dt.date(2026, 1, 5)
    return pd.DataFrame(
        {
            "day": [day, day, None, day, day, day],
            "route": texts("R1", "r2", "R3", "R4", "R4", "R6"),
            "riders": ints(10, -5, 20, 30, 31, 5000),
        },
        index=["a", "b", "c", "d", "e", "f"],  # labels, not positions: the split must keep them
    )


def test_split_keeps_every_row_and_names_the_failed_checks():
    frame = _split_frame()
    report = Validator({"t": schema_from_rules("t", SPLIT_RULES)}).check({"t": frame})
    valid, rejected = report.split("t", frame)
    assert len(valid) + len(rejected) == len(frame)
    assert list(valid.index) == ["a", "f"]  # f only breaks a warning
    pd.testing.assert_frame_equal(valid, frame.loc[["a", "f"]])
    pd.testing.assert_frame_equal(rejected.drop(columns=FAILED_CHECKS), frame.loc[["b", "c", "d", "e"]])
    assert rejected[FAILED_CHECKS].tolist() == [
        "route: regex; riders: min",
        "day: nullable",
        "<table>: unique",
        "<table>: unique",
    ]
    assert str(rejected[FAILED_CHECKS].dtype) == "string"

    valid, rejected = report.split("t", frame, levels=("error", "warn"))
    assert list(valid.index) == ["a"] and len(rejected) == 5
    assert rejected.loc["f", FAILED_CHECKS] == "riders: max (warn)"


def test_split_without_failures_and_on_the_wrong_frame():
    frame = _split_frame().iloc[[0]]
    report = Validator({"t": schema_from_rules("t", SPLIT_RULES)}).check({"t": frame})
    valid, rejected = report.split("t", frame)
    assert valid is frame and len(rejected) == 0 and list(rejected.columns) == [*frame.columns, FAILED_CHECKS]
    with pytest.raises(ValueError, match="has 6 rows, the report was made on 1"):
        report.split("t", _split_frame())


def test_report_lists_every_check_with_its_outcome():
    frame = _split_frame()
    report = Validator({"t": schema_from_rules("t", SPLIT_RULES)}).check({"t": frame})
    table = [(o.column, o.rule, o.level, o.failures) for o in report.frame("t")]
    assert table == [
        ("day", "required", "error", 0),
        ("day", "type", "error", 0),
        ("day", "nullable", "error", 1),
        ("route", "required", "error", 0),
        ("route", "type", "error", 0),
        ("route", "regex", "error", 1),
        ("riders", "required", "error", 0),
        ("riders", "type", "error", 0),
        ("riders", "min", "error", 1),
        ("riders", "max", "warn", 1),
        (None, "unique", "error", 2),
    ]
    assert report.rows == {"t": 6}
    assert "validation: 4 error(s), 1 warning(s)" in str(report)
    records = report.records()
    assert {(r["column"], r["rule"]) for r in records} >= {("day", "unique"), ("route", "unique")}
    assert next(r for r in records if r["column"] == "route" and r["rule"] == "unique")["sample"] == ["R4", "R4"]


def test_a_large_frame_with_many_failures_splits_exactly():
    n = 200_000
    rng = np.random.default_rng(3)
    values = rng.integers(-100, 1100, n)
    frame = pd.DataFrame({"n": pd.array(values, dtype="Int64"), "s": texts(*rng.choice(["a", "b", "zz"], n))})
    rules = {"columns": {"n": {"min": 0, "max": 1000}, "s": {"allowed": ["a", "b"]}}}
    report = Validator({"t": schema_from_rules("t", rules)}).check({"t": frame})
    valid, rejected = report.split("t", frame)
    bad = (values < 0) | (values > 1000) | (frame["s"] == "zz").to_numpy()
    assert len(rejected) == bad.sum() and len(valid) == n - bad.sum()
    assert valid["n"].between(0, 1000).all() and valid["s"].isin(["a", "b"]).all()


def test_split_names_every_failed_check_even_beyond_64_of_them():
    n = 70
    frame = pd.DataFrame({f"c{i}": ints(5, -1) for i in range(n)})
    rules = {"columns": {f"c{i}": {"min": 0} for i in range(n)}}
    report = Validator({"t": schema_from_rules("t", rules)}).check({"t": frame})
    valid, rejected = report.split("t", frame)
    assert len(valid) == 1 and rejected.index.tolist() == [1]
    assert rejected[FAILED_CHECKS].iloc[0] == "; ".join(f"c{i}: min" for i in range(n))
