"""Exports serialize per table, and unchanged rows are never rewritten."""

import threading

import pandas as pd
import sqlalchemy as sa

from tfi_data import Export
from tfi_data.export import Exporter, make_engine


def test_concurrent_exports_to_one_table_are_serialized(db_url):
    """Four exporters race to fill an empty table with the same rows: one inserts, the others
    then see those rows as unchanged. Interleaved, they would collide on the primary key."""
    df = pd.DataFrame({"id": range(5000), "v": [f"value {i}" for i in range(5000)]})
    spec = Export(table="race", keys=["id"], mode="merge")
    Exporter(db_url).export(df.iloc[:0], spec)  # the table exists, empty
    results, errors = [], []
    barrier = threading.Barrier(4)

    def worker():
        ex = Exporter(db_url)
        barrier.wait()
        try:
            results.append(ex.export(df, spec))
        except Exception as exc:  # collected: the assertion below shows them
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted((r.inserted, r.unchanged) for r in results) == [(0, 5000), (0, 5000), (0, 5000), (5000, 0)]


def _xmins(url: str) -> dict[int, str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, xmin::text FROM rewrites")).all()
    engine.dispose()
    return dict(rows)


def test_postgres_rewrites_only_changed_rows(pg_url):
    """Every UPDATE gives a row a new xmin: unchanged rows must keep theirs."""
    df = pd.DataFrame({"id": range(1000), "v": [float(i) for i in range(1000)], "s": ["x"] * 1000})
    ex = Exporter(pg_url)
    spec = Export(table="rewrites", keys=["id"], mode="sync")
    ex.export(df, spec)
    ex.export(df.iloc[:500], Export(table="rewrites", keys=["id"], mode="merge"))  # then populate stats
    before = _xmins(pg_url)
    assert ex.export(df, spec).unchanged == 1000
    assert _xmins(pg_url) == before  # a no-change re-run writes no tuple

    changed = df.copy()
    changed.loc[7, "s"] = None
    result = ex.export(changed, spec)
    assert (result.updated, result.unchanged) == (1, 999)
    after = _xmins(pg_url)
    assert [k for k in before if before[k] != after[k]] == [7]
