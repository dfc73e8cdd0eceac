"""Every dataloader loads, and each runs on sample files into a temporary SQLite database."""

from pathlib import Path

import pytest

from tfi_data.discovery import discover
from tfi_data.testing import run_dataloader

ROOT = Path(__file__).resolve().parent.parent
DATALOADERS = ROOT / "dataloaders"
SAMPLES = Path(__file__).resolve().parent / "samples"


@pytest.mark.parametrize("details", discover(DATALOADERS), ids=lambda d: d.name)
def test_every_dataloader_runs_on_its_own_data(details, tmp_path):
    run = run_dataloader(details, tmp_path=tmp_path)
    for export in details.exports:
        counts = run.counts(export.table)
        assert counts["rows_in_table"] > 0, f"{details.name} wrote no rows into {export.table}"
    # A second run over the same files changes nothing.
    again = run.rerun()
    for export in details.exports:
        again.assert_counts(export.table, inserted=0, updated=0, deleted=0)


def test_trips_on_sample_files(tmp_path):
    run = run_dataloader(DATALOADERS / "trips.py", tmp_path=tmp_path, sources={"trips": SAMPLES / "trips_*.csv"})
    run.assert_counts("trips", inserted=3, updated=0, deleted=0, rows_in_table=3)
    table = run.table("trips")
    assert sorted(table["route"].unique()) == ["R1", "R7"]
    assert table["delayed"].sum() == 6
