"""Stations register: the JSON file is the whole truth, so the table is synced to it."""

from tfi_data import Export, PipelineDetails, Source

details = PipelineDetails(
    name="stations",
    description="Station register (zones, location, accessibility)",
    sources=[Source.json("stations", "data/stations.json")],
    rules="rules/stations.yaml",
    exports=[Export(table="stations", keys=["station_id"], mode="sync")],
)
