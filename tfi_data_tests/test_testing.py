"""tfi_data.testing: the helper dataloader authors call to run a pipeline on sample files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfi_data.testing import run_dataloader


def test_run_dataloader_reports_counts_and_rows(examples: Path, tmp_path: Path) -> None:
    run = run_dataloader(examples / "ridership.py", tmp_path=tmp_path / "run")
    run.assert_counts("ridership", inserted=12, updated=0, deleted=0, rows_in_table=12)
    assert run.database_url.startswith("sqlite:///") and str(tmp_path / "run") in run.database_url
    table = run.table("ridership")
    assert len(table) == 12 and set(table["route"]) == {"R1", "R2", "T3"}

    again = run.rerun()
    again.assert_counts("ridership", inserted=0, updated=0, deleted=0, unchanged=12)


def test_sources_are_replaced_by_sample_files(examples: Path, tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    stations = json.loads((examples / "data" / "stations.json").read_text())
    (samples / "stations.json").write_text(json.dumps(stations[:2]))
    run = run_dataloader(
        examples, pipeline="stations", tmp_path=tmp_path / "run", sources={"stations": samples / "stations.json"}
    )
    run.assert_counts("stations", inserted=2, deleted=0, rows_in_table=2)
    assert sorted(run.table("stations")["station_id"]) == [s["station_id"] for s in stations[:2]]


def test_wrong_counts_fail_naming_table_and_counts(examples: Path, tmp_path: Path) -> None:
    run = run_dataloader(examples / "stations.py", tmp_path=tmp_path)
    with pytest.raises(AssertionError, match=r"pipeline 'stations', table 'stations': inserted: expected 4, got 5"):
        run.assert_counts("stations", inserted=4)
    with pytest.raises(AssertionError, match=r"exported no table 'trips'; it exported \['stations'\]"):
        run.counts("trips")
    with pytest.raises(TypeError, match="unknown count"):
        run.assert_counts("stations", inserts=5)


def test_a_failing_pipeline_fails_with_its_own_error(examples: Path, tmp_path: Path) -> None:
    (examples / "data" / "stations.json").write_text("this is not JSON", encoding="utf-8")
    with pytest.raises(AssertionError, match=r"pipeline 'stations' failed: load_stations"):
        run_dataloader(examples / "stations.py", tmp_path=tmp_path)


def test_mistakes_in_the_call_are_named(examples: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"name one with pipeline="):
        run_dataloader(examples, tmp_path=tmp_path)
    with pytest.raises(ValueError, match=r"no pipeline 'nope'.*\['ridership', 'stations'\]"):
        run_dataloader(examples, pipeline="nope", tmp_path=tmp_path)
    with pytest.raises(ValueError, match=r"has no source\(s\) \['bogus'\]; its sources are \['ridership'\]"):
        run_dataloader(examples / "ridership.py", tmp_path=tmp_path, sources={"bogus": "x.csv"})
