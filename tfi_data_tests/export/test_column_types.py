"""Column types have one source of truth: the rules, else the existing table, else the widest
safe inference; all-null columns wait; narrowing is an error; widening is opt-in and reported.
Plans change nothing in any catalog; results carry the table's columns with the database's types."""

from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from tfi_data import Export
from tfi_data.export import Exporter, ExportError, ExportResult, make_engine
from tfi_data.validation import Validator, enforce, schemas_from_mapping


def counts(result):
    return (result.inserted, result.updated, result.deleted, result.unchanged, result.rows_in_table)


def catalog(url: str) -> dict:
    """Every table with its columns and their types, as the database's catalog has them."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                t: [(c["name"], str(c["type"])) for c in inspector.get_columns(t)] for t in inspector.get_table_names()
            }
    finally:
        engine.dispose()


def test_an_all_null_column_waits_for_its_first_values(db_url):
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="merge")
    first = ex.export(pd.DataFrame({"id": [1, 2], "later": [None, None]}), spec)
    assert list(first.columns) == ["id"]  # no value, no type: not created yet
    second = ex.export(pd.DataFrame({"id": [1, 2], "later": pd.array([None, 7], dtype="Int64")}), spec)
    assert counts(second) == (0, 1, 0, 1, 2)
    assert second.columns["later"] == "BIGINT"
    assert second.schema_changes and "added column 'later'" in second.schema_changes[0]


def test_rules_types_decide_the_column_types(db_url):
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="merge")
    types = {
        "price": {"type": "number", "precision": 12, "scale": 2},
        "code": {"type": "str", "length": 8},
        "empty": {"type": "int"},
        "ratio": {"type": "float"},
    }
    df = pd.DataFrame({"id": [1, 2], "price": [1.005, 2], "code": ["ab", "c"], "empty": [None, None], "ratio": [1, 2]})
    result = ex.export(df, spec, types=types)
    assert counts(result) == (2, 0, 0, 0, 2)
    cols = {k: v.upper() for k, v in result.columns.items()}
    assert cols["price"].startswith(("NUMERIC(12, 2)", "DECIMAL(12, 2)", "DECIMAL(12,2)"))
    assert cols["code"].startswith("VARCHAR(8)")
    assert "INT" in cols["empty"]  # the rules' type, although every value is null
    assert cols["ratio"] in ("DOUBLE PRECISION", "DOUBLE", "FLOAT")  # whole numbers, but the rules say float
    assert counts(ex.export(df, spec, types=types)) == (0, 0, 0, 2, 2)  # 1.005 is stored as 1.01 (half up)
    assert counts(ex.export(df.assign(ratio=[1.5, 2.0]), spec, types=types)) == (0, 1, 0, 1, 2)
    with pytest.raises(ExportError, match=r"table 't': column 'code' .* has text of 9 characters; the column holds 8"):
        ex.export(df.assign(code=["x" * 9, "c"]), spec, types=types)


def test_rules_that_would_narrow_a_column_are_an_error_naming_both_types(db_url):
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="merge")
    ex.export(pd.DataFrame({"id": [1], "v": [1.5]}), spec)
    narrowing = r"table 't': column 'v' is (DOUBLE|FLOAT).* in the table but the rules declare int"
    with pytest.raises(ExportError, match=narrowing):
        ex.export(pd.DataFrame({"id": [1], "v": [2]}), spec, types={"v": "int"})


def test_a_validated_frame_carries_its_rules_types_to_the_exporter(db_url):
    rules = {"t": {"columns": {"amount": {"type": "number", "precision": 10, "scale": 3}}}}
    frame = pd.DataFrame({"id": [1], "amount": [Decimal("1.23456")]})
    checked = enforce(Validator(schemas_from_mapping(rules)), {"t": frame}, "fail").frames["t"]
    result = Exporter(db_url).export(checked, Export(table="t", keys=["id"]))
    assert "10, 3" in result.columns["amount"].replace(",", ", ").replace(",  ", ", ")


def test_json_whole_floats_make_a_float_column(db_url, tmp_path):
    from tfi_data.loader.readers.files import read_json

    (tmp_path / "a.json").write_text('[{"id": 1, "price": 1.0}, {"id": 2, "price": null}]')
    (tmp_path / "b.json").write_text('[{"id": 3, "price": 1.5}]')
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="merge")
    assert counts(ex.export(read_json(tmp_path / "a.json", {}), spec)) == (2, 0, 0, 0, 2)
    assert counts(ex.export(read_json(tmp_path / "b.json", {}), spec)) == (1, 0, 0, 0, 3)


def test_widening_is_opt_in_done_in_the_transaction_where_possible_and_reported(db_url):
    ex = Exporter(db_url)
    ex.export(pd.DataFrame({"id": [1], "v": [1]}), Export(table="t", keys=["id"]))
    frac = pd.DataFrame({"id": [1], "v": [1.5]})
    with pytest.raises(ExportError, match=r"table 't': column 'v' is BIGINT.* in the table but the data is float"):
        ex.export(frac, Export(table="t", keys=["id"]))
    widen = Export(table="t", keys=["id"], schema_changes="widen")
    if db_url.startswith("postgresql"):
        plan = ex.plan(frac, widen)
        assert plan.columns["v"] == "DOUBLE PRECISION" and catalog(db_url)["t"][1][1] == "BIGINT"
        result = ex.export(frac, widen)
        assert counts(result) == (0, 1, 0, 0, 1)
        assert result.schema_changes == ["widened column 'v' from BIGINT to DOUBLE PRECISION"]
        assert result.columns == {"id": "BIGINT", "v": "DOUBLE PRECISION"}
        assert plan.schema_changes == result.schema_changes
    else:
        with pytest.raises(ExportError, match=r"cannot be widened inside the export's transaction"):
            ex.export(frac, widen)


@pytest.mark.parametrize("new_table", [True, False])
def test_plan_changes_no_catalog(db_url, new_table):
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="sync")
    base = pd.DataFrame({"id": [1, 2], "v": ["a", "b"]})
    if not new_table:
        ex.export(base, spec)
    before = catalog(db_url)
    frame = base.assign(
        extra=[1.5, None],
        nested=[[1, 2], None],
        flag=pd.array([True, None], dtype="boolean"),
        amount=[Decimal("1.5"), None],
        at=pd.to_datetime(["2026-01-01 10:00", None]),
    )
    plan = ex.plan(frame, spec)
    assert catalog(db_url) == before  # no CREATE TABLE, no ADD COLUMN, on MariaDB too
    assert list(plan.columns) == ["id", "v", "extra", "nested", "flag", "amount", "at"]
    assert counts(plan) == ((2, 0, 0, 0, 2) if new_table else (0, 1, 0, 1, 2))  # row 2 gains only NULLs
    done = ex.export(frame, spec)
    assert counts(done) == counts(plan)
    assert done.columns == plan.columns
    assert [name for name, _ in catalog(db_url)["t"]] == list(done.columns)


def test_result_columns_use_the_database_type_names_and_round_trip(db_url):
    df = pd.DataFrame({"day": pd.to_datetime(["2026-01-01"]).date, "riders": [3]})
    result = Exporter(db_url).export(df, Export(table="t", keys=["day"]))
    expected = {
        "sqlite": {"day": "DATE", "riders": "BIGINT"},
        "postgresql": {"day": "DATE", "riders": "BIGINT"},
        "mysql": {"day": "DATE", "riders": "BIGINT"},
    }[make_engine(db_url).dialect.name]
    assert result.columns == expected
    assert ExportResult(**result.to_dict()) == result


def test_nested_values_are_exported_as_json_and_rerun_without_updates(db_url):
    lists = pd.Series([[40, 60], None, []], dtype=pd.ArrowDtype(pa.list_(pa.int64())))
    objects = pd.Series([{"a": 1, "b": [1.5]}, {"a": None, "b": []}, None], dtype=object)
    df = pd.DataFrame({"id": [1, 2, 3], "tags": lists, "meta": objects})
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="sync")
    result = ex.export(df, spec)
    dialect = make_engine(db_url).dialect.name
    assert result.columns["tags"] == {"postgresql": "JSONB", "mysql": "LONGTEXT", "sqlite": "JSON"}[dialect]
    assert counts(ex.export(df, spec)) == (0, 0, 0, 3, 3)
    changed = df.assign(tags=pd.Series([[40, 61], None, []], dtype=pd.ArrowDtype(pa.list_(pa.int64()))))
    assert counts(ex.export(changed, spec)) == (0, 1, 0, 2, 3)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        tags = conn.execute(sa.text("SELECT tags FROM t ORDER BY id")).scalars().all()
    engine.dispose()
    import json

    assert [json.loads(v) if isinstance(v, str) else v for v in tags] == [[40, 61], None, []]


def test_mixed_nested_and_scalar_values_are_refused_naming_every_column(db_url):
    df = pd.DataFrame({"id": [1, 2], "a": [[1], 2], "b": [{"x": 1}, "y"]})
    with pytest.raises(ExportError, match=r"column 'a' mixes value types .*; column 'b' mixes value types"):
        Exporter(db_url).export(df, Export(table="t", keys=["id"]))


def test_values_a_database_cannot_hold_are_refused_naming_the_column(db_url):
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="merge")
    inf = pd.DataFrame({"id": [1], "f": [float("inf")]})
    if make_engine(db_url).dialect.name == "mysql":
        with pytest.raises(
            ExportError, match=r"table 't': column 'f' .*has an infinite value, which mysql cannot store"
        ):
            ex.export(inf, spec)
    else:
        assert counts(ex.export(inf, spec)) == (1, 0, 0, 0, 1)
        assert counts(ex.export(inf, spec)) == (0, 0, 0, 1, 1)
    ex.export(pd.DataFrame({"id": [2], "n": [1]}), spec)
    with pytest.raises(
        ExportError, match=r"column 'n' is BIGINT.* but the data is json; flatten it in the transformer"
    ):
        ex.export(pd.DataFrame({"id": [2], "n": [[1, 2]]}), spec)


def test_unsigned_64_bit_ints_and_categoricals_rerun_without_updates(db_url):
    df = pd.DataFrame(
        {
            "id": pd.array([1, 2], dtype="UInt64"),
            "big": pd.array([2**64 - 1, None], dtype="UInt64"),
            "kind": pd.Categorical(["bus", None]),
        }
    )
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="sync")
    result = ex.export(df, spec)
    assert counts(result) == (2, 0, 0, 0, 2)
    assert counts(ex.export(df, spec)) == (0, 0, 0, 2, 2)


def test_time_spans_are_intervals_on_postgres_and_refused_elsewhere(db_url):
    df = pd.DataFrame({"id": [1, 2], "span": pd.to_timedelta(["1 days 00:00:01.5", None])})
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="sync")
    if make_engine(db_url).dialect.name != "postgresql":
        with pytest.raises(ExportError, match=r"column 'span' holds time spans, which only PostgreSQL stores"):
            ex.export(df, spec)
        return
    assert ex.export(df, spec).columns["span"] == "INTERVAL"
    assert counts(ex.export(df, spec)) == (0, 0, 0, 2, 2)
