"""Identifiers on every path (COPY included): any name a database accepts works, names that
collide once folded are refused naming both, and database errors name table and column."""

import pandas as pd
import pytest
import sqlalchemy as sa

from tfi_data import Export
from tfi_data.export import Exporter, ExportError, make_engine


def counts(result):
    return (result.inserted, result.updated, result.deleted, result.unchanged, result.rows_in_table)


@pytest.mark.parametrize("table", ["growth %", "q'uote\"d", "spa ced", "tabl€ ünï"])
def test_odd_names_work_on_every_path(db_url, table):
    df = pd.DataFrame(
        {"id %": [1, 2], "growth %": [1.5, 2.5], 'it\'s "q"': ["a", "b"], "naïve 名前": ["x", "y"], "%(x)s": [1, 2]}
    )
    ex = Exporter(db_url)
    spec = Export(table=table, keys=["id %"], mode="sync")
    assert counts(ex.export(df, spec)) == (2, 0, 0, 0, 2)  # into an empty table: COPY on PostgreSQL
    assert counts(ex.export(df, spec)) == (0, 0, 0, 2, 2)  # staging + set-based SQL
    changed = pd.concat([df.assign(**{"growth %": [1.5, 9.0]}), df.iloc[[0]].assign(**{"id %": [3]})])
    assert counts(ex.export(changed, spec)) == (1, 1, 0, 1, 3)
    log = Export(table=f"{table} log", mode="append")
    assert counts(ex.export(df, log)) == (2, 0, 0, 0, 2)
    assert counts(ex.export(df, log)) == (2, 0, 0, 0, 4)  # COPY into a table with rows


def test_names_sqlalchemy_would_escape_to_the_same_bind_name(db_url):
    df = pd.DataFrame({"id": [1, 2], "a.b": [1, 2], "a]b": [3, 4], "a[b": [5, 6], "a b": [7, 8]})
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="sync")
    assert counts(ex.export(df, spec)) == (2, 0, 0, 0, 2)
    assert counts(ex.export(df.assign(**{"a]b": [3, 5]}), spec)) == (0, 1, 0, 1, 2)


def test_a_column_that_changes_case_is_refused_naming_both(db_url):
    ex = Exporter(db_url)
    ex.export(pd.DataFrame({"id": [1], "Value": [1]}), Export(table="t", keys=["id"]))
    with pytest.raises(ExportError, match=r"table 't': column 'value' collides with the table's column 'Value'"):
        ex.export(pd.DataFrame({"id": [1], "value": [2]}), Export(table="t", keys=["id"]))
    with pytest.raises(ExportError, match=r"column 'B' collides with the data's column 'b'"):
        ex.export(pd.DataFrame({"id": [1], "b": [1], "B": [2]}), Export(table="u", keys=["id"]))


def test_a_1600_column_table_merges_on_postgres(pg_url):
    wide = pd.DataFrame({"id": [1, 2], **{f"c{i}": ["a", "b"] for i in range(1599)}})
    ex = Exporter(pg_url)
    spec = Export(table="wide", keys=["id"], mode="sync")
    assert counts(ex.export(wide, spec)) == (2, 0, 0, 0, 2)
    assert counts(ex.export(wide, spec)) == (0, 0, 0, 2, 2)
    assert counts(ex.export(wide.assign(c5=["a", "z"]), spec)) == (0, 1, 0, 1, 2)


def test_database_errors_name_table_and_column(db_url):
    ex = Exporter(db_url)
    ex.export(pd.DataFrame({"id": [1], "code": ["ab"]}), Export(table="t", keys=["id"]))
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE narrow (id BIGINT PRIMARY KEY, code VARCHAR(2) NOT NULL)"))
    engine.dispose()
    with pytest.raises(ExportError, match=r"table 'narrow', column 'code': the database refused the export"):
        ex.export(pd.DataFrame({"id": [1], "code": [None]}), Export(table="narrow", keys=["id"]))


def test_a_nul_character_in_text_is_refused_on_postgres_naming_the_column(pg_url):
    df = pd.DataFrame({"id": [1], "note": ["a\x00b"]})
    with pytest.raises(ExportError, match=r"table 't': column 'note' .*NUL character"):
        Exporter(pg_url).export(df, Export(table="t", keys=["id"]))


def test_tables_differing_only_in_case_are_refused_on_sqlite(sqlite_url):
    """SQLite takes Orders and orders as one table: a sync into one would delete the other's rows."""
    exporter = Exporter(sqlite_url)
    exporter.export(pd.DataFrame({"id": [1], "v": ["a"]}), Export("Orders", keys=["id"]))
    with pytest.raises(ExportError, match="table 'orders' is the table 'Orders' on sqlite"):
        exporter.export(pd.DataFrame({"id": [2], "v": ["b"]}), Export("orders", keys=["id"], mode="sync"))
    assert exporter.read(Export("Orders", keys=["id"]))["id"].tolist() == [1]


def test_names_mariadb_cannot_give_back_are_refused_at_once(mariadb_url):
    exporter = Exporter(mariadb_url)
    for name in ("back`tick", "new\nline"):
        with pytest.raises(ExportError, match="a backtick or a line break"):
            exporter.export(pd.DataFrame({"id": [1], name: ["x"]}), Export("names", keys=["id"]))
