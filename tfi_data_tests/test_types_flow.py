"""Column types through a whole run: a JSON source with nested values and a rules file with
declared types, through the cache, into the database; a rerun writes nothing."""

import json

import pandas as pd
import sqlalchemy as sa

from tfi_data import Export, PipelineDetails, Source
from tfi_data.pipeline import Pipeline

RULES = """
events:
  columns:
    id:     {type: int, nullable: false}
    price:  {type: number, precision: 10, scale: 2}
    at:     {type: datetime, tz: Europe/Dublin}
    note:   {type: str, length: 20}
"""


def test_nested_values_and_rules_types_survive_the_cache(tmp_path, sqlite_url):
    (tmp_path / "events.json").write_text(
        json.dumps(
            [
                {"id": 1, "tags": [40, 60], "price": 1.0, "at": "2026-03-29 03:30:00", "note": None},
                {"id": 2, "tags": None, "price": None, "at": None, "note": None},
            ]
        )
    )
    (tmp_path / "rules.yaml").write_text(RULES)
    details = PipelineDetails(
        name="events",
        sources=[Source.json("events", "events.json")],
        rules="rules.yaml",
        transformer=lambda f: f["events"].assign(at=pd.to_datetime(f["events"]["at"])),
        exports=[Export(table="events", keys=["id"], mode="sync")],
        base_dir=tmp_path,
    )
    first = Pipeline(details, database_url=sqlite_url).ingest()
    assert first.success, first.error
    assert first.exports[0].inserted == 2
    assert first.exports[0].columns == {
        "id": "BIGINT",
        "tags": "JSON",
        "price": "NUMERIC(10, 2)",
        "at": "DATETIME",
        "note": "VARCHAR(20)",
    }
    second = Pipeline(details, database_url=sqlite_url).ingest()
    assert second.success, second.error
    assert (second.exports[0].updated, second.exports[0].unchanged) == (0, 2)
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        tags, at = conn.execute(sa.text("SELECT tags, at FROM events WHERE id = 1")).one()
    engine.dispose()
    assert json.loads(tags) == [40, 60]  # integers, not 40.0
    assert at.startswith("2026-03-29 02:30:00")  # read in Europe/Dublin (UTC+1 from 01:00 UTC), stored as UTC
