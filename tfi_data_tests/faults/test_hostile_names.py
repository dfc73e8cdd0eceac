"""Thirty hostile identifiers, as table and column names, on every database, twice: the first
run writes the rows exactly, the second writes nothing."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import sqlalchemy as sa

from tfi_data import Export
from tfi_data.export import Exporter, ExportError, make_engine

NAMES = [
    "growth %",
    "100%",
    "a%%b",
    "%(name)s",
    "it's",
    'say "hi"',
    "back`tick",
    "semi;colon",
    "dash-name",
    "dot.name",
    "a]b",
    "[bracket]",
    "space name",
    " leading",
    "trailing ",
    "tab\there",
    "new\nline",
    "Café",
    "naïve",
    "東京",
    "emoji🚌",
    "select",
    "from",
    "order",
    "table",
    "1starts_with_digit",
    "$dollar",
    "@at",
    "question?",
    "back\\slash",
]


# Names a database itself refuses: there the export must be refused, naming the column.
# Surrounding spaces are refused everywhere (MySQL cannot hold a trailing one; elsewhere they are
# nearly always a header's typo); MariaDB's names with a backtick or a line break cannot be read
# back by SQLAlchemy's reflection, and it holds only Basic Multilingual Plane characters.
EVERYWHERE = {" leading", "trailing "}
REFUSED_BY = {
    "mysql": EVERYWHERE | {"emoji🚌", "back`tick", "new\nline"},
    "sqlite": EVERYWHERE,
    "postgresql": EVERYWHERE,
}


def test_thirty_hostile_names_on_every_database_twice(db_url, figures):
    engine = make_engine(db_url)
    dialect = engine.dialect.name
    engine.dispose()
    exporter = Exporter(db_url)
    passed, refused = 0, []
    for i, name in enumerate(NAMES):
        table = f"t{i} {name}".rstrip()
        frame = pd.DataFrame({"id": [1, 2], name: ["x", None], "plain": [1.5, 2.5]})
        spec = Export(table=table, keys=["id"], mode="merge")
        if name in REFUSED_BY[dialect]:
            with pytest.raises(ExportError, match=re.escape(repr(name)[1:-1])):
                exporter.export(frame, spec)
            refused.append(name)
            continue
        first = exporter.export(frame, spec)
        assert (first.inserted, first.updated) == (2, 0), name
        second = exporter.export(frame, spec)
        assert (second.inserted, second.updated, second.unchanged) == (0, 0, 2), f"{name!r}: a rerun wrote rows"
        check = make_engine(db_url)
        try:
            columns = [c["name"] for c in sa.inspect(check).get_columns(table)]
            with check.connect() as conn:
                rows = conn.execute(sa.select(sa.table(table, sa.column(name))).order_by(sa.text("1"))).all()
        finally:
            check.dispose()
        assert name in columns, f"{name!r} became {columns}"
        assert sorted(r[0] for r in rows if r[0] is not None) == ["x"]
        passed += 1
    figures.append(
        f"{dialect}: {passed}/{len(NAMES)} hostile identifiers as table and column names written and rerun "
        f"with 0 writes; {len(refused)} refused (by the database, or surrounding spaces), named in the error "
        f"({refused})"
    )
