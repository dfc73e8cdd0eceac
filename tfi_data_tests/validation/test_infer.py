"""Rules inferred from data: exact on data with known properties, valid on the data they came from."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfi_data import Source
from tfi_data.loader import GeneralLoader
from tfi_data.validation import Validator, infer_rules, parse_rules, rules_to_yaml, schemas_from_mapping
from tfi_data.validation.infer import frame_findings, shape_regex, widen

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dataloaders"
N = 200


def generated() -> pd.DataFrame:
    """Columns whose properties are known by construction."""
    rng = np.random.default_rng(11)
    qty = rng.integers(0, 51, N).astype(object)
    qty[:3] = [0, 50, None]  # observed 0..50 with one null
    temp = rng.uniform(-12.5, 30.0, N)
    temp[:2] = [-12.5, 30.0]
    kinds = rng.choice(["bus", "tram", "ferry"], N)
    days = [(dt.date(2026, 1, 1) + dt.timedelta(days=int(d))).isoformat() for d in rng.integers(0, 60, N)]
    return pd.DataFrame(
        {
            "order_id": pd.array(np.arange(1000, 1000 + N), dtype="Int64"),
            "code": pd.array([f"AB-{i:04d}" for i in range(N)], dtype="string[pyarrow]"),
            "riders": pd.array(rng.permutation(np.arange(5000, 5000 + 7 * N, 7)), dtype="Int64"),
            "qty": pd.array(qty, dtype="Int64"),
            "temp": pd.array(temp, dtype="Float64"),
            "kind": pd.array(kinds, dtype="string[pyarrow]"),
            "day": pd.array(days, dtype="string[pyarrow]"),
            "email": pd.array([f"user{i % 150}@example.org" for i in range(N)], dtype="string[pyarrow]"),
            "note": pd.array([f"note number {i % 40}" for i in range(N)], dtype="string[pyarrow]"),
            "zip": pd.array([f"{i % 90:05d}" for i in range(N)], dtype="string[pyarrow]"),
            "flag": pd.array([True, False, None, *([True] * (N - 3))], dtype="boolean"),
            "when": pd.date_range("2026-01-01", periods=N, freq="h"),
            "date": [dt.date(2026, 1, 1) + dt.timedelta(days=i % 30) for i in range(N)],
            "empty": pd.Series([None] * N, dtype=object),
        }
    )


AHEAD = max(2028, (dt.date.today() + dt.timedelta(days=365)).year + 1)
EXPECTED = {
    "strict": False,
    "columns": {
        # key-like name, all distinct: an id, unique and non-negative but no max (the next id is higher)
        "order_id": {"type": "int", "nullable": False, "unique": True, "min": 0},
        # letter-and-digit codes, all distinct: a shape and unique
        "code": {"type": "str", "nullable": False, "unique": True, "regex": r"^[A-Z]{2}-\d{4}$"},
        # all distinct but a measurement: no unique; 5000..6393 widened on each side by 10% of the
        # larger of the range (1393) and the side's own size (500, 639.3), rounded to hundreds
        "riders": {"type": "int", "nullable": False, "min": 4500, "max": 7100},
        # non-negative: the margin does not cross zero
        "qty": {"type": "int", "nullable": True, "min": 0, "max": 55},
        "temp": {"type": "float", "nullable": False, "min": -17, "max": 35},
        "kind": {"type": "str", "nullable": False, "allowed": ["bus", "ferry", "tram"]},
        "day": {"type": "str", "nullable": False, "regex": r"^\d{4}-\d{2}-\d{2}$"},
        "email": {"type": "str", "nullable": False, "regex": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"},
        "note": {"type": "str", "nullable": False, "min_length": 1},
        "zip": {"type": "str", "nullable": False, "regex": r"^\d{5}$"},
        "flag": {"type": "bool", "nullable": True},
        # dates: a window of whole years, a year before what was seen, to a year after today
        "when": {"type": "datetime", "nullable": False, "min": "2025-01-01", "max": f"{AHEAD}-01-01"},
        "date": {"type": "date", "nullable": False, "min": dt.date(2025, 1, 1), "max": dt.date(AHEAD, 1, 1)},
        "empty": {"nullable": True},
    },
}


def test_inferred_rules_are_exact_on_data_with_known_properties():
    frame = generated()
    rules = infer_rules({"g": frame})
    assert rules == {"g": EXPECTED}
    report = Validator(schemas_from_mapping(rules)).check({"g": frame})
    assert not report.failures, str(report)


def test_margin_categories_and_keys_are_configurable():
    frame = generated()
    rules = infer_rules({"g": frame}, margin=0, max_categories=2, key_columns=["order_id", "code"])["g"]
    assert rules["unique"] == ["order_id", "code"]
    assert "unique" not in rules["columns"]["order_id"]  # the frame's unique covers it
    assert (rules["columns"]["riders"]["min"], rules["columns"]["riders"]["max"]) == (5000, 6393)
    assert (rules["columns"]["temp"]["min"], rules["columns"]["temp"]["max"]) == (-12.5, 30)
    assert "allowed" not in rules["columns"]["kind"]  # 3 values > max_categories
    assert not Validator(schemas_from_mapping({"g": rules})).check({"g": frame}).failures


def test_key_problems_are_findings_showing_the_keys_not_exceptions():
    frame = generated()
    frame.loc[5, "order_id"] = 1000  # 1000 twice
    frame.loc[7, "order_id"] = pd.NA
    rules = infer_rules({"g": frame}, key_columns=["order_id"])["g"]  # used to raise ValueError
    assert rules["unique"] == ["order_id"]  # the export's key stays the rule: the data breaks it
    found = frame_findings(frame, rules, ["order_id", "nope"])
    assert found[:3] == [
        "key column(s) ['nope'] not in the frame; it has " + str(list(frame.columns)),
        "key ['order_id']: 1 row(s) with a null key (rows 7)",
        "key ['order_id'] is not unique: 2 rows share 1 key(s): 1000 x2",
    ]
    kinds = infer_rules({"g": frame}, key_columns=["kind", "day"])["g"]
    text = rules_to_yaml({"g": kinds}, {"g": frame})
    assert "  # NOTE key ['kind', 'day'] is not unique: " in text
    assert parse_rules(text) == {"g": kinds}


@pytest.mark.parametrize(
    ("lo", "hi", "margin", "integer", "expected"),
    [
        (980, 2302, 0.1, True, (800, 2600)),
        (53.3472, 53.4213, 0.1, False, (48, 59)),
        (-6.3012, -6.2386, 0.1, False, (-7, -5.6)),  # each side by 10% of its own size; non-positive stays non-positive
        (0, 3, 0.5, True, (0, 5)),
        (-3, 3, 0.1, True, (-4, 4)),
        (7, 7, 0.1, True, (6, 8)),
        (0.5, 0.5, 0.1, False, (0.45, 0.55)),
        (5, 9, 0, True, (5, 9)),
    ],
)
def test_widen_rounds_outward_and_keeps_the_sign(lo, hi, margin, integer, expected):
    assert widen(lo, hi, margin, integer) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["R1", "T3", "R12"], r"^[A-Z]\d+$"),
        (["AB-001", "CD-120"], r"^[A-Z]{2}-\d{3}$"),
        (["2026-01-05", "1999-12-31"], r"^\d{4}-\d{2}-\d{2}$"),
        (["10:30", "09:05"], r"^\d{2}:\d{2}$"),
        (["v1.2", "v10.0"], r"^[a-z]\d+\.\d+$"),
        (["a@b.io", "x.y@z.org"], r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
        (["R1", "R 2"], None),  # free text
        (["abc", "def"], None),  # no digits: words, not codes
        (["R1", "1R"], None),  # two shapes
    ],
)
def test_shapes_become_regexes_only_when_every_value_has_one(values, expected):
    assert shape_regex(pd.Series(values, dtype="string[pyarrow]")) == expected


@pytest.mark.parametrize("seed", range(5))
def test_inferred_rules_validate_random_frames(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))

    def gaps(values, dtype):
        arr = pd.array(values, dtype=dtype)
        arr[rng.random(n) < rng.random() * 0.3] = pd.NA
        return arr

    frame = pd.DataFrame(
        {
            "i": gaps(rng.integers(-(10 ** int(rng.integers(0, 9))), 10**6, n), "Int64"),
            "f": gaps(rng.normal(rng.normal(0, 100), rng.uniform(0.001, 1000), n), "Float64"),
            "c": gaps(rng.choice([f"K{i}" for i in range(int(rng.integers(1, 40)))], n), "string[pyarrow]"),
            "b": gaps(rng.random(n) < 0.5, "boolean"),
        }
    )
    rules = infer_rules(
        {"r": frame}, margin=float(rng.choice([0, 0.01, 0.1, 1])), max_categories=int(rng.integers(1, 30))
    )
    assert not Validator(schemas_from_mapping(rules)).check({"r": frame}).failures


@pytest.fixture(scope="module")
def examples():
    loader = GeneralLoader(EXAMPLES)
    return {
        "ridership": loader.load(Source.csv("ridership", "data/ridership_*.csv")),
        "stations": loader.load(Source.json("stations", "data/stations.json")),
    }


def test_rules_inferred_from_the_example_data_validate_it_and_read_well(examples):
    rules = infer_rules(examples, key_columns={"ridership": ["Day", "Route"]})
    text = rules_to_yaml(rules, examples)
    assert parse_rules(text) == rules  # the written file says exactly what was inferred
    report = Validator(schemas_from_mapping(parse_rules(text))).check(examples)
    assert not report.failures, str(report)

    lines = text.splitlines()
    assert "ridership:  # 12 rows, 5 columns" in lines
    assert "  unique: [Day, Route]" in lines
    assert (
        "    Riders:      {type: int, nullable: true, min: 800, max: 2600}"
        "  # 12 rows, 1 null, 11 distinct, observed 980..2302"
    ) in lines
    assert (
        "    Route:       {type: str, nullable: false, allowed: [R1, R2, T3]}"
        "  # 12 rows, no nulls, 3 distinct, length 2" in lines
    )
    assert (
        "    station_id: {type: int, nullable: false, unique: true, min: 0}"
        "  # 5 rows, no nulls, 5 distinct, observed 101..301"
    ) in lines
    assert "    opened:     {type: str, nullable: false, regex: '^\\d{4}-\\d{2}-\\d{2}$'}" in text
    assert "    zone:       {type: str, nullable: false, allowed: [A, B, C]}" in text
    assert "    accessible: {type: bool, nullable: true}  # 5 rows, 1 null, 2 distinct" in lines


def test_inferred_rules_catch_what_the_hand_written_example_rules_catch(examples):
    rules = infer_rules(examples)
    validator = Validator(schemas_from_mapping(rules))
    bad = examples["stations"].copy()
    bad.loc[0, "zone"] = "D"
    bad.loc[1, "lat"] = 91.0
    bad.loc[2, "opened"] = "2019/06/01"
    bad.loc[3, "station_id"] = 101
    report = validator.check({**examples, "stations": bad})
    assert {(o.column, o.rule) for o in report.errors} == {
        ("zone", "allowed"),
        ("lat", "max"),
        ("opened", "regex"),
        ("station_id", "unique"),
    }


def test_values_yaml_would_misread_are_quoted(tmp_path):
    frame = pd.DataFrame({"answer": pd.array(["on", "off", "on", "1e3", "2026-01-01", "1e3"], dtype="string[pyarrow]")})
    rules = infer_rules({"q": frame})
    assert rules["q"]["columns"]["answer"]["allowed"] == ["1e3", "2026-01-01", "off", "on"]
    text = rules_to_yaml(rules)
    assert "'2026-01-01', 'off', 'on']" in text  # 1e3 is text in YAML 1.1 and left bare
    assert parse_rules(text) == rules


def test_infer_writes_the_column_types_the_exporter_creates(tmp_path):
    from decimal import Decimal

    import pyarrow

    from tfi_data import Export
    from tfi_data.export import Exporter
    from tfi_data.validation import column_types, schemas_from_mapping

    frame = pd.DataFrame(
        {
            "id": pd.array([1, 2], dtype="Int64"),
            "amount": [Decimal("123.45"), Decimal("-0.5")],
            "at": pd.to_datetime(["2026-01-01 10:00", "2026-06-01 10:00"]).tz_localize("Europe/Dublin"),
            "tags": pd.Series([[1, 2], []], dtype=pd.ArrowDtype(pyarrow.list_(pyarrow.int64()))),
        }
    )
    rules = infer_rules({"t": frame}, key_columns=["id"])
    columns = rules["t"]["columns"]
    assert columns["amount"]["type"] == "number" and (columns["amount"]["precision"], columns["amount"]["scale"]) == (
        7,
        2,
    )
    assert columns["at"]["type"] == "datetime" and columns["at"]["tz"] == "Europe/Dublin"
    assert columns["tags"]["type"] == "json"
    schema = schemas_from_mapping(rules)["t"]
    declared = column_types(schema)
    result = Exporter(f"sqlite:///{tmp_path / 'x.sqlite'}").export(
        frame, Export(table="t", keys=["id"]), types=declared
    )
    assert result.columns["amount"] == "NUMERIC(7, 2)" and result.columns["tags"] == "JSON"
