"""Trips per route and day: daily CSV exports of the ticketing system, merged on (day, route).

A dataloader is a module with a PipelineDetails at module level; `tfi-data run dataloaders`
runs it, the code server shows it as a Dagster job named after the pipeline.
"""

import pandas as pd

from tfi_data import Export, PipelineDetails, Source


def tidy(frames):
    """The transformer: snake_case columns and real dates. What it prints shows in the step's
    logs in the Dagster UI."""
    df = frames["trips"].rename(columns={"Day": "day", "Route": "route", "Trips": "trips", "Delayed": "delayed"})
    df["day"] = pd.to_datetime(df["day"]).dt.date
    print(f"trips: {len(df)} rows for {df['route'].nunique()} routes")
    return df


details = PipelineDetails(
    name="trips",
    description="Trips and delayed trips per route and day",
    sources=[Source.csv("trips", "data/trips_*.csv")],
    rules="rules/trips.yaml",
    transformer=tidy,
    exports=[Export(table="trips", keys=["day", "route"], mode="merge")],
    schedule="30 6 * * *",
)
