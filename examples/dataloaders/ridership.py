"""Daily ridership per route: two monthly CSV files merged on (day, route)."""

import logging
from pathlib import Path

import pandas as pd

from tfi_data import Export, PipelineDetails, Source

log = logging.getLogger(__name__)
DATA = Path(__file__).parent / "data"


def check_inputs():
    """Pre-ingestion: refuse to start when the monthly files are missing."""
    files = sorted(DATA.glob("ridership_*.csv"))
    if not files:
        raise FileNotFoundError(f"no ridership_*.csv in {DATA}")
    log.info("ridership: %d monthly file(s) to load", len(files))


def tidy(frames):
    """Transformer: snake_case columns, real dates, revenue per rider."""
    df = frames["ridership"].rename(
        columns={"Day": "day", "Route": "route", "Riders": "riders", "Revenue EUR": "revenue_eur"}
    )
    df["day"] = pd.to_datetime(df["day"]).dt.date
    df["revenue_per_rider"] = (df["revenue_eur"] / df["riders"]).round(4)
    return df


def report(results):
    """Post-ingestion: one log line per table written."""
    for table, counts in results.items():
        log.info("%s: +%d ~%d -%d", table, counts["inserted"], counts["updated"], counts["deleted"])


details = PipelineDetails(
    name="ridership",
    description="Daily ridership and revenue per route",
    sources=[Source.csv("ridership", "data/ridership_*.csv")],
    rules="rules/ridership.yaml",
    pre_ingest=check_inputs,
    transformer=tidy,
    post_ingest=report,
    exports=[Export(table="ridership", keys=["day", "route"], mode="merge")],
    schedule="0 6 * * *",
)
