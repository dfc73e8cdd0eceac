"""Property: for random old/new data, every dialect ends with the table and counts that a plain
Python model of the mode predicts (nulls, unicode, floats, timestamps, compound keys)."""

import datetime as dt
import itertools

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfi_data import Export
from tfi_data.export import Exporter, make_engine

KEYS = ["k1", "k2"]
VALUES = ["i", "f", "s", "ts", "b"]
_table_ids = itertools.count()

keys = st.tuples(st.integers(0, 6), st.sampled_from(["a", "A", "a ", "é", "日本", ""]))
texts = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8)
row_values = st.tuples(
    st.none() | st.integers(-(2**63), 2**63 - 1),
    st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.none() | texts,
    st.none() | st.datetimes(dt.datetime(1970, 1, 2), dt.datetime(2100, 1, 1)),
    st.none() | st.booleans(),
)
tables = st.dictionaries(keys, row_values, max_size=12)


def frame(rows: dict) -> pd.DataFrame:
    items = sorted(rows.items(), key=repr)
    col = {name: [v[i] for _, v in items] for i, name in enumerate(VALUES)}
    return pd.DataFrame(
        {
            "k1": pd.array([k[0] for k, _ in items], dtype="int64"),
            "k2": pd.array([k[1] for k, _ in items], dtype="string"),
            "i": pd.array(col["i"], dtype="Int64"),
            "f": pd.array(col["f"], dtype="Float64"),
            "s": pd.array(col["s"], dtype="string"),
            "ts": pd.to_datetime(pd.Series(col["ts"], dtype=object)).astype("datetime64[ns]"),
            "b": pd.array(col["b"], dtype="boolean"),
        }
    )


def model(old: dict, new: dict, mode: str) -> tuple[dict, tuple]:
    """What the table holds afterwards and (inserted, updated, deleted, unchanged)."""
    if mode == "replace":
        return dict(new), (len(new), 0, len(old), 0)
    table = dict(old)
    ins = upd = dele = same = 0
    for key, row in new.items():
        if key not in old:
            table[key], ins = row, ins + 1
        elif mode != "insert_new" and row != old[key]:
            table[key], upd = row, upd + 1
        else:
            same += 1
    if mode == "sync":
        for key in set(old) - set(new):
            del table[key]
            dele += 1
    return table, (ins, upd, dele, same)


def read_back(url: str, table: str) -> dict:
    engine = make_engine(url)
    with engine.connect() as conn:
        tbl = sa.Table(table, sa.MetaData(), autoload_with=conn)
        cols = [sa.type_coerce(tbl.c.f, sa.Double()).label("f") if c == "f" else tbl.c[c] for c in KEYS + VALUES]
        rows = conn.execute(sa.select(*cols)).all()
    engine.dispose()
    out = {}
    for k1, k2, i, f, s, ts, b in rows:
        ts = pd.Timestamp(ts).to_pydatetime() if ts is not None else None
        out[(k1, k2)] = (i, f, s, ts, None if b is None else bool(b))
    return out


@pytest.mark.parametrize("mode", ["merge", "sync", "insert_new", "replace"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=tables, new=tables)
def test_every_dialect_matches_the_model(db_url, mode, old, new):
    table = f"prop_{next(_table_ids)}"
    ex = Exporter(db_url)
    ex.export(frame(old), Export(table=table, keys=KEYS, mode="sync", allow_mass_delete=True))
    result = ex.export(frame(new), Export(table=table, keys=KEYS, mode=mode, allow_mass_delete=True))
    expected, counts = model(old, new, mode)
    assert (result.inserted, result.updated, result.deleted, result.unchanged) == counts
    assert result.rows_in_table == len(expected)
    assert read_back(db_url, table) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=tables, new=tables)
def test_plan_predicts_the_export(db_url, old, new):
    table = f"plan_{next(_table_ids)}"
    ex = Exporter(db_url)
    spec = Export(table=table, keys=KEYS, mode="sync", allow_mass_delete=True)
    ex.export(frame(old), spec)
    plan = ex.plan(frame(new), spec)
    assert read_back(db_url, table) == model({}, old, "sync")[0]  # nothing written
    done = ex.export(frame(new), spec)
    assert (plan.inserted, plan.updated, plan.deleted, plan.unchanged, plan.rows_in_table) == (
        done.inserted,
        done.updated,
        done.deleted,
        done.unchanged,
        done.rows_in_table,
    )
