"""Values compared in what the database stores: a second export of the same frame writes
nothing on any dialect, for every dtype the loader produces, and a read back equals the frame up to
the database's documented precision (the dialect-by-dtype matrix of the README)."""

import datetime as dt
import itertools
import json
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from upath import UPath

from tfi_data import Export
from tfi_data.cache import read_frame, write_frame
from tfi_data.export import Exporter, make_engine

_ids = itertools.count()


def counts(result):
    return (result.inserted, result.updated, result.deleted, result.unchanged, result.rows_in_table)


def read(url: str, table: str) -> dict[str, list]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            tbl = sa.Table(table, sa.MetaData(), autoload_with=conn)
            cols = [
                sa.type_coerce(c, sa.Double()).label(c.name)
                if isinstance(c.type, sa.Float) or (conn.dialect.name == "sqlite" and isinstance(c.type, sa.Numeric))
                else c
                for c in tbl.columns
            ]
            rows = conn.execute(sa.select(*cols).order_by(tbl.c.id)).all()
    finally:
        engine.dispose()
    return {c.name: [r[i] for r in rows] for i, c in enumerate(cols)}


def dialect_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "mysql" if url.startswith("mysql") else "sqlite"


# -- the defects, one by one ------------------------------------------------------------------


def test_nanosecond_timestamps_are_compared_at_the_database_precision(db_url):
    ts = pd.to_datetime(
        ["2026-01-01 10:00:00.1234565", "2026-01-01 10:00:00.1234564999", "1969-12-31 23:59:59.9999999"]
    )
    df = pd.DataFrame({"id": [1, 2, 3], "ts": ts, "tz": ts.tz_localize("Europe/Dublin")})
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="sync")
    assert counts(ex.export(df, spec)) == (3, 0, 0, 0, 3)
    assert counts(ex.export(df, spec)) == (0, 0, 0, 3, 3)
    got = read(db_url, "t")["ts"]
    if dialect_of(db_url) == "postgresql":  # PostgreSQL rounds to microseconds
        assert [pd.Timestamp(v).microsecond for v in got[:2]] == [123456, 123456]  # half to even, below half
        assert pd.Timestamp(got[2]) == pd.Timestamp("1970-01-01")
    else:  # SQLite (through Python datetimes) and MariaDB truncate
        assert [pd.Timestamp(v).microsecond for v in got[:2]] == [123456, 123456]
        assert pd.Timestamp(got[2]) == pd.Timestamp("1969-12-31 23:59:59.999999")


def test_postgres_rounds_half_microseconds_like_the_database(pg_url):
    ts = pd.to_datetime(["2026-01-01 10:00:00.1234575", "2026-01-01 10:00:00.123456501"])
    ex = Exporter(pg_url)
    spec = Export(table="t", keys=["id"], mode="merge")
    ex.export(pd.DataFrame({"id": [1, 2], "ts": ts}), spec)
    assert [pd.Timestamp(v).microsecond for v in read(pg_url, "t")["ts"]] == [123458, 123457]
    assert counts(ex.export(pd.DataFrame({"id": [1, 2], "ts": ts}), spec)) == (0, 0, 0, 2, 2)


def test_decimals_into_a_float_column_are_compared_as_floats(db_url):
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="merge")
    ex.export(pd.DataFrame({"id": [1, 2], "v": [0.1, 2.5]}), spec)  # a DOUBLE column
    dec = pd.DataFrame({"id": [1, 2], "v": [Decimal("0.1"), Decimal("12345678901234567.5")]})
    assert counts(ex.export(dec, spec)) == (0, 1, 0, 1, 2)
    assert counts(ex.export(dec, spec)) == (0, 0, 0, 2, 2)


def test_high_precision_decimals_rerun_without_updates(db_url):
    df = pd.DataFrame({"id": [1, 2, 3], "d": [Decimal("12345678901234567.5"), Decimal("-0.000000000123"), None]})
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="merge")
    assert counts(ex.export(df, spec)) == (3, 0, 0, 0, 3)
    assert counts(ex.export(df, spec)) == (0, 0, 0, 3, 3)
    got = read(db_url, "t")["d"]
    if dialect_of(db_url) == "sqlite":  # NUMERIC affinity: a REAL, 15-17 significant digits
        assert got[0] == float(Decimal("12345678901234567.5"))
    else:
        assert Decimal(got[0]) == Decimal("12345678901234567.5") and Decimal(got[1]) == Decimal("-0.000000000123")


# -- property: every dtype the loader produces --------------------------------------------------

_ns = st.integers(-(10**9), 10**9)
_moments = st.builds(
    lambda s, ns: pd.Timestamp("2000-01-01") + pd.Timedelta(seconds=s) + pd.Timedelta(ns, "ns"),
    st.integers(-(10**9), 3 * 10**9),
    _ns,
)
_decimals = st.decimals(
    min_value=Decimal("-1e24"), max_value=Decimal("1e24"), allow_nan=False, allow_infinity=False, places=10
)
_texts = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=6)
_lists = st.lists(st.integers(-(2**53), 2**53), max_size=3)
_objects = st.dictionaries(st.sampled_from(["a", "b", "ü"]), st.none() | st.integers(-10, 10) | _texts, max_size=2)


def _floats(dialect: str):
    special = [0.0, -0.0, 1e308, 5e-324] + ([float("inf"), float("-inf")] if dialect != "mysql" else [])
    return st.floats(allow_nan=False, allow_infinity=False, width=64) | st.sampled_from(special)


def _rows(dialect: str):
    return st.lists(
        st.tuples(
            st.none() | _moments,
            st.none() | _moments,
            st.none() | st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
            st.none() | _decimals,
            st.none() | st.integers(-(2**63), 2**63 - 1),
            st.none() | _floats(dialect),
            st.none() | _texts,
            st.none() | st.booleans(),
            st.none() | _lists,
            st.none() | _objects,
        ),
        min_size=1,
        max_size=8,
    )


NAMES = ["ts", "tz", "day", "dec", "big", "f", "s", "b", "l", "o"]


def loader_frame(rows: list[tuple]) -> pd.DataFrame:
    """The dtypes the loader produces for these values."""
    col = {name: [r[i] for r in rows] for i, name in enumerate(NAMES)}
    return pd.DataFrame(
        {
            "id": pd.array(range(len(rows)), dtype="Int64"),
            "ts": pd.Series(col["ts"], dtype="datetime64[ns]"),
            "tz": pd.Series(col["tz"], dtype="datetime64[ns]").dt.tz_localize("UTC").dt.tz_convert("America/New_York"),
            "day": pd.Series(col["day"], dtype=object),
            "dec": pd.Series(col["dec"], dtype=object),
            "big": pd.array(col["big"], dtype="Int64"),
            "f": pd.array(col["f"], dtype="Float64"),
            "s": pd.array(col["s"], dtype="string[pyarrow]"),
            "b": pd.array(col["b"], dtype="boolean"),
            "l": pd.Series(col["l"], dtype=pd.ArrowDtype(pa.list_(pa.int64()))),
            "o": pd.Series(col["o"], dtype=object),
        }
    )


def _close_decimal(got, want, dialect):
    if want is None:
        return got is None
    if dialect == "sqlite":
        return got == float(want)
    return Decimal(got) == want


def check_read_back(url: str, table: str, rows: list[tuple], dialect: str) -> None:
    got = read(url, table)
    for i, name in enumerate(NAMES):  # a column with no value yet has no type yet: not created
        assert name in got or all(row[i] is None for row in rows), name
        got.setdefault(name, [None] * len(rows))
    for i, row in enumerate(rows):
        ts, tz, day, dec, big, f, s, b, lst, obj = row
        for name, want in (("ts", ts), ("tz", tz)):
            value = got[name][i]
            if want is None:
                assert value is None
                continue
            value = pd.Timestamp(value)
            value = value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
            assert abs(value - want) < pd.Timedelta(1, "us"), (name, value, want)  # microseconds
        assert got["day"][i] == day
        assert _close_decimal(got["dec"][i], dec, dialect), (got["dec"][i], dec)
        assert got["big"][i] == big
        if f is None:
            assert got["f"][i] is None
        else:
            assert got["f"][i] == f  # bitwise but for the sign of zero (-0.0 == 0.0, as in SQL)
        assert got["s"][i] == s
        assert (None if got["b"][i] is None else bool(got["b"][i])) == b
        for name, want in (("l", lst), ("o", obj)):
            value = got[name][i]
            assert (json.loads(value) if isinstance(value, str) else value) == want


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_rerun_of_any_frame_writes_nothing_and_reads_back_equal(db_url, data):
    dialect = dialect_of(db_url)
    rows = data.draw(_rows(dialect))
    df = loader_frame(rows)
    table = f"p{next(_ids)}"
    ex = Exporter(db_url)
    spec = Export(table=table, keys=["id"], mode="sync")
    assert counts(ex.export(df, spec))[0] == len(df)
    assert counts(ex.export(df, spec)) == (0, 0, 0, len(df), len(df))
    check_read_back(db_url, table, rows, dialect)
    # the same frame as the next run reads it from the cache (Parquet): still nothing to write
    path = UPath(f"memory://tfi-precision/{table}.parquet")
    write_frame(path, df, "frame")
    assert counts(ex.export(read_frame(path), spec)) == (0, 0, 0, len(df), len(df))


def test_a_changed_value_of_every_dtype_is_one_update(db_url):
    rows = [
        (
            pd.Timestamp("2026-01-01 10:00:00.000001"),
            pd.Timestamp("2026-01-01 10:00"),
            dt.date(2026, 1, 1),
            Decimal("1.10"),
            2**62,
            0.1,
            "a",
            True,
            [1],
            {"a": 1},
        ),
        (None,) * 10,
    ]
    changed = [
        pd.Timestamp("2026-01-01 10:00:00.000002"),
        pd.Timestamp("2026-01-01 10:00:01"),
        dt.date(2026, 1, 2),
        Decimal("1.11"),
        2**62 + 1,
        0.1 + 2**-55,
        "A",
        False,
        [1, 2],
        {"a": 2},
    ]
    ex = Exporter(db_url)
    spec = Export(table="t", keys=["id"], mode="sync")
    ex.export(loader_frame(rows), spec)
    for i, name in enumerate(NAMES):
        new = list(rows[0])
        new[i] = changed[i]
        assert counts(ex.export(loader_frame([tuple(new), rows[1]]), spec)) == (0, 1, 0, 1, 2), name
        filled = list(rows[1])
        filled[i] = changed[i]
        assert counts(ex.export(loader_frame([tuple(new), tuple(filled)]), spec)) == (0, 1, 0, 1, 2), name
        assert counts(ex.export(loader_frame(rows), spec)) == (0, 2, 0, 0, 2), name  # back to the start
    check_read_back(db_url, "t", rows, dialect_of(db_url))
