"""Exporter on real databases: every mode writes exactly the change set and reports it."""

import datetime as dt
import re
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from tfi_data import Export
from tfi_data.export import Exporter, ExportError, make_engine


def read(url: str, table: str, order: list[str]) -> pd.DataFrame:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tbl = sa.Table(table, sa.MetaData(), autoload_with=conn)
            rows = conn.execute(sa.select(tbl).order_by(*(tbl.c[c] for c in order))).all()
            return pd.DataFrame(rows, columns=[c.name for c in tbl.columns])
    finally:
        engine.dispose()


def counts(result):
    return (result.inserted, result.updated, result.deleted, result.unchanged, result.rows_in_table)


BASE = pd.DataFrame(
    {
        "day": ["2026-01-01", "2026-01-01", "2026-01-02"],
        "route": ["R1", "R2", "R1"],
        "riders": [10, 20, 30],
        "note": ["a", None, "c"],
    }
)


def test_merge_inserts_then_updates_only_changed_rows(db_url):
    ex = Exporter(db_url)
    spec = Export(table="rides", keys=["day", "route"], mode="merge")
    assert counts(ex.export(BASE, spec)) == (3, 0, 0, 0, 3)
    assert counts(ex.export(BASE, spec)) == (0, 0, 0, 3, 3)

    new = BASE.copy()
    new.loc[1, "riders"] = 21  # changed value
    new.loc[2, "note"] = None  # value -> NULL is a change
    new = pd.concat([new, pd.DataFrame([{"day": "2026-01-03", "route": "R9", "riders": 5, "note": "n"}])])
    new = new[new["route"] != "R1"].pipe(lambda d: pd.concat([d, BASE.iloc[[0]]]))  # row order must not matter
    new.loc[new["day"] == "2026-01-02", "note"] = None
    assert counts(ex.export(new, spec)) == (1, 1, 0, 1, 4)  # merge never deletes
    got = read(db_url, "rides", ["day", "route"])
    assert got["riders"].tolist() == [10, 21, 30, 5]
    assert got["note"].tolist() == ["a", None, "c", "n"]


def test_sync_deletes_absent_keys_within_the_guard(db_url):
    ex = Exporter(db_url)
    spec = Export(table="rides", keys=["day", "route"], mode="sync")
    ex.export(BASE, spec)
    assert counts(ex.export(BASE.iloc[[0, 2]], spec)) == (0, 0, 1, 2, 2)
    assert read(db_url, "rides", ["day", "route"])["route"].tolist() == ["R1", "R1"]


def test_sync_delete_guard_refuses_and_leaves_table_unchanged(db_url):
    ex = Exporter(db_url)
    spec = Export(table="rides", keys=["day", "route"], mode="sync", max_delete_fraction=0.5)
    ex.export(BASE, spec)
    before = read(db_url, "rides", ["day", "route"])
    changed = BASE.iloc[[0]].assign(riders=99)
    with pytest.raises(ExportError, match=r"sync would delete 2 of 3 rows .*max_delete_fraction=0.5"):
        ex.export(changed, spec)
    pd.testing.assert_frame_equal(read(db_url, "rides", ["day", "route"]), before)
    allowed = Export(table="rides", keys=["day", "route"], mode="sync", allow_mass_delete=True)
    assert counts(ex.export(changed, allowed)) == (0, 1, 2, 0, 1)


def test_insert_new_never_updates(db_url):
    ex = Exporter(db_url)
    spec = Export(table="rides", keys=["day", "route"], mode="insert_new")
    ex.export(BASE, spec)
    new = pd.concat([BASE.assign(riders=0), pd.DataFrame([{"day": "d", "route": "X", "riders": 1, "note": None}])])
    assert counts(ex.export(new, spec)) == (1, 0, 0, 3, 4)
    assert read(db_url, "rides", ["day", "route"])["riders"].tolist()[:3] == [10, 20, 30]


def test_append_and_replace(db_url):
    ex = Exporter(db_url)
    log = Export(table="log", mode="append")
    ex.export(BASE, log)
    assert counts(ex.export(BASE, log)) == (3, 0, 0, 0, 6)
    rep = Export(table="log", mode="replace")
    assert counts(ex.export(BASE.iloc[:1], rep)) == (1, 0, 6, 0, 1)


def test_replace_keeps_views_on_the_table(db_url):
    ex = Exporter(db_url)
    ex.export(BASE, Export(table="rides", keys=["day", "route"], mode="replace"))
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE VIEW busy AS SELECT route FROM rides WHERE riders > 15"))
    ex.export(BASE.assign(riders=100), Export(table="rides", keys=["day", "route"], mode="replace"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM busy")).scalar_one() == 3
    engine.dispose()


def test_types_round_trip_without_spurious_updates(db_url):
    df = pd.DataFrame(
        {
            "id": pd.array([1, 2, 3], dtype="Int64"),
            "i": pd.array([1, None, -(2**40)], dtype="Int64"),
            "f": [1.5, float("nan"), 1e-300],
            "s": pd.array(["é", None, "日本"], dtype="string"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "d": [dt.date(2026, 1, 1), None, dt.date(1999, 12, 31)],
            "ts": pd.to_datetime(["2026-01-01 10:00:00.123456", None, "1970-01-01"], format="ISO8601"),
            "tz": pd.to_datetime(["2026-01-01 10:00:00+01:00", None, "2026-06-01 00:00:00+02:00"], utc=True).tz_convert(
                "Europe/Dublin"
            ),
            "dec": [Decimal("1.10"), None, Decimal("-3")],
        }
    )
    ex = Exporter(db_url)
    spec = Export(table="typed", keys=["id"], mode="sync")
    assert counts(ex.export(df, spec)) == (3, 0, 0, 0, 3)
    assert counts(ex.export(df, spec)) == (0, 0, 0, 3, 3)
    changed = df.copy()
    changed.loc[1, "tz"] = pd.Timestamp("2026-03-01 00:00:00", tz="UTC")
    changed.loc[2, "f"] = 1e-299
    assert counts(ex.export(changed, spec)) == (0, 2, 0, 1, 3)


def test_null_and_duplicate_keys_are_refused_with_rows_shown(db_url):
    ex = Exporter(db_url)
    spec = Export(table="rides", keys=["day", "route"])
    with pytest.raises(ExportError, match=r"1 row\(s\) with a NULL key \['day', 'route'\]"):
        ex.export(BASE.assign(route=["R1", None, "R3"]), spec)
    dup = pd.concat([BASE, BASE.iloc[[1]].assign(riders=77)])
    with pytest.raises(ExportError, match=r"2 row\(s\) share a key") as exc:
        ex.export(dup, spec)
    assert "77" in str(exc.value)
    keep = Export(table="rides", keys=["day", "route"], keep_last_duplicate=True)
    assert counts(ex.export(dup, keep)) == (3, 0, 0, 0, 3)
    assert read(db_url, "rides", ["day", "route"])["riders"].tolist() == [10, 77, 30]


def test_missing_key_column_is_named(db_url):
    with pytest.raises(ExportError, match=r"table 'rides': key column\(s\) \['route_id'\] not in the data"):
        Exporter(db_url).export(BASE, Export(table="rides", keys=["route_id"]))


def test_new_columns_are_added_or_refused_and_type_changes_are_errors(db_url):
    ex = Exporter(db_url)
    ex.export(BASE, Export(table="rides", keys=["day", "route"]))
    wider = BASE.assign(weather=["sun", "rain", "fog"])
    with pytest.raises(ExportError, match=r"new column\(s\) \['weather'\] and schema_changes='freeze'"):
        ex.export(wider, Export(table="rides", keys=["day", "route"], schema_changes="freeze"))
    assert counts(ex.export(wider, Export(table="rides", keys=["day", "route"]))) == (0, 3, 0, 0, 3)
    with pytest.raises(ExportError, match=r"column 'riders' is .* in the table but the data is str"):
        ex.export(BASE.assign(riders=["x", "y", "z"]), Export(table="rides", keys=["day", "route"]))


def test_existing_table_keeps_its_extra_columns(db_url):
    ex = Exporter(db_url)
    ex.export(BASE, Export(table="rides", keys=["day", "route"]))
    assert counts(ex.export(BASE.drop(columns=["note"]), Export(table="rides", keys=["day", "route"]))) == (
        0,
        0,
        0,
        3,
        3,
    )
    assert read(db_url, "rides", ["day", "route"])["note"].tolist() == ["a", None, "c"]


def test_plan_reports_counts_and_writes_nothing(db_url):
    ex = Exporter(db_url)
    spec = Export(table="rides", keys=["day", "route"], mode="sync")
    ex.export(BASE, spec)
    plan = ex.plan(BASE.iloc[[0]].assign(riders=1), spec.__class__(**{**spec.__dict__, "allow_mass_delete": True}))
    assert plan.dry_run and counts(plan) == (0, 1, 2, 0, 1)
    assert read(db_url, "rides", ["day", "route"])["riders"].tolist() == [10, 20, 30]


def test_a_failing_write_rolls_back_everything(db_url):
    ex = Exporter(db_url)
    spec = Export(table="rides", keys=["day", "route"], mode="sync")
    ex.export(BASE, spec)
    engine = make_engine(db_url)
    with engine.begin() as conn:  # a constraint the new data breaks, only after the updates ran
        conn.execute(sa.text("CREATE UNIQUE INDEX riders_unique ON rides (riders)"))
    engine.dispose()
    bad = pd.concat([BASE.assign(note="changed"), pd.DataFrame([{"day": "x", "route": "y", "riders": 10}])])
    with pytest.raises(ExportError, match=r"table 'rides'(, column 'riders')?: the database refused the export"):
        ex.export(bad, spec)
    got = read(db_url, "rides", ["day", "route"])
    assert got["note"].tolist() == ["a", None, "c"] and len(got) == 3


@pytest.mark.parametrize("bad", ["", " padded ", "nul\x00byte"])
def test_names_no_database_accepts_are_refused(db_url, bad):
    with pytest.raises(ExportError, match=re.escape(f"table 't': column name {bad!r} is not accepted")):
        Exporter(db_url).export(pd.DataFrame({"id": [1], bad: [1]}), Export(table="t", keys=["id"]))


def test_names_longer_than_postgres_accepts_are_refused(pg_url):
    with pytest.raises(ExportError, match="longer than 63 characters"):
        Exporter(pg_url).export(pd.DataFrame({"id": [1], "x" * 64: [1]}), Export(table="t", keys=["id"]))


def test_identifiers_are_quoted_not_formatted(db_url):
    df = pd.DataFrame({"key id": [1, 2], 'odd "name"; DROP TABLE x; --': ["a", "b"], "select": [1, 2]})
    ex = Exporter(db_url)
    spec = Export(table="Weird Table-Name", keys=["key id"], mode="sync")
    assert counts(ex.export(df, spec)) == (2, 0, 0, 0, 2)
    assert counts(ex.export(df.assign(select=[1, 3]), spec)) == (0, 1, 0, 1, 2)


def test_mixed_value_types_are_refused_with_the_column_named(db_url):
    df = pd.DataFrame({"id": [1, 2], "v": [1, "a"]})
    with pytest.raises(ExportError, match=r"column 'v' mixes value types"):
        Exporter(db_url).export(df, Export(table="t", keys=["id"]))


def test_a_refused_copy_is_an_export_error_and_rolls_back(pg_url):
    ex = Exporter(pg_url)
    ex.export(BASE, Export(table="rides", keys=["day", "route"]))
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE rides ADD CONSTRAINT few_riders CHECK (riders < 100)"))
    engine.dispose()
    with pytest.raises(ExportError, match=r"table 'rides': the database refused the export: .*few_riders"):
        ex.export(BASE.assign(riders=[1, 2, 300]), Export(table="rides", mode="append"))
    assert len(read(pg_url, "rides", ["day", "route"])) == 3


def test_a_data_column_named_like_internal_bookkeeping_is_fine(db_url):
    df = pd.DataFrame({"id": [1, 2], "tfi_action": ["x", "y"]})
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="sync")
    ex.export(df, spec)
    assert counts(ex.export(df.assign(tfi_action=["x", "z"]), spec)) == (0, 1, 0, 1, 2)


def test_preview_names_keys_of_each_change(db_url):
    ex = Exporter(db_url)
    spec = Export(table="rides", keys=["day", "route"], mode="sync")
    first = ex.export(BASE, spec)
    assert len(first.preview["inserted"]) == 3
    new = pd.concat([BASE.iloc[[0]], BASE.iloc[[1]].assign(riders=99), pd.DataFrame([{"day": "d", "route": "N"}])])
    plan = ex.plan(new, spec)
    assert plan.preview["inserted"] == [{"day": "d", "route": "N"}]
    assert plan.preview["updated"] == [{"day": "2026-01-01", "route": "R2"}]
    assert plan.preview["deleted"] == [{"day": "2026-01-02", "route": "R1"}]
    assert ex.export(new, spec).preview == plan.preview


def test_whole_floats_go_into_an_int_column_and_fractions_are_refused(db_url):
    ex = Exporter(db_url)
    spec = Export(table="rides", keys=["day", "route"], mode="merge")
    ex.export(BASE, spec)
    gap = BASE.assign(riders=[10.0, None, 31.0])  # what pandas makes of an int column with a gap
    assert counts(ex.export(gap, spec)) == (0, 2, 0, 1, 3)
    assert read(db_url, "rides", ["day", "route"])["riders"].tolist()[2] == 31
    with pytest.raises(ExportError, match=r"column 'riders' is .* in the table but the data is float"):
        ex.export(BASE.assign(riders=[1.5, 2.0, 3.0]), spec)
