"""The tfi-data command as a user runs it (a real subprocess of the installed entry point)."""

import json

import pytest

from .conftest import EXAMPLES, run_cli

pytestmark = pytest.mark.slow

KEYS = ["pipeline", "table", "inserted", "updated", "deleted", "unchanged", "rows_in_table"]


def test_run_json_twice_into_the_default_sqlite_file(tmp_path, examples):
    first = run_cli("run", str(examples), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    rows = json.loads(first.stdout)
    assert [list(r) for r in rows] == [KEYS, KEYS]
    assert [(r["pipeline"], r["inserted"], r["rows_in_table"]) for r in rows] == [
        ("ridership", 12, 12),
        ("stations", 5, 5),
    ]
    assert (tmp_path / "tfi_data.sqlite").exists()  # the embedded default database
    second = json.loads(run_cli("run", str(examples), "--json", cwd=tmp_path).stdout)
    assert [(r["inserted"], r["updated"], r["unchanged"]) for r in second] == [(0, 0, 12), (0, 0, 5)]


def test_run_one_pipeline_into_postgres_prints_a_table(tmp_path, pg_url, examples):
    out = run_cli("run", str(examples), "--pipeline", "stations", "--database", pg_url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    header, _rule, row = out.stdout.splitlines()
    assert header.split() == KEYS
    assert row.split() == ["stations", "stations", "5", "0", "0", "0", "5"]
    assert not (tmp_path / "tfi_data.sqlite").exists()


def test_run_a_single_module_file(tmp_path):
    out = run_cli("run", str(EXAMPLES / "stations.py"), "--json", "--database", f"sqlite:///{tmp_path}/x.db")
    assert out.returncode == 0, out.stderr
    assert [r["table"] for r in json.loads(out.stdout)] == ["stations"]


def test_a_failing_pipeline_exits_non_zero_with_the_error_on_stderr(tmp_path, examples):
    (examples / "data" / "stations.json").write_text("[{")
    out = run_cli("run", str(examples), "--json", cwd=tmp_path)
    assert out.returncode == 1
    assert "pipeline 'stations' failed: load_stations: LoadError: source 'stations': cannot read" in out.stderr
    assert [r["pipeline"] for r in json.loads(out.stdout)] == ["ridership"]  # the others still ran


def test_a_broken_module_exits_2_naming_file_and_line(tmp_path, examples):
    (examples / "broken.py").write_text("import pandas\ndef broken(:\n")
    out = run_cli("run", str(examples), cwd=tmp_path)
    assert out.returncode == 2
    assert f"tfi-data: {examples / 'broken.py'}:2:" in out.stderr and "syntax error" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_pipeline_and_list(tmp_path, examples):
    out = run_cli("run", str(examples), "--pipeline", "nope", cwd=tmp_path)
    assert out.returncode == 2 and "no pipeline 'nope'" in out.stderr and "ridership" in out.stderr
    listed = run_cli("list", str(examples), cwd=tmp_path)
    assert listed.returncode == 0
    assert "ridership\n  sources: ridership (csv)\n  exports: ridership (merge)\n  schedule: 0 6 * * *" in listed.stdout


def test_dry_run_prints_counts_and_writes_nothing(tmp_path, examples):
    out = run_cli("run", str(examples), "--dry-run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "ridership  ridership        12" in out.stdout and "nothing was written" in out.stdout
    again = json.loads(run_cli("run", str(examples), "--json", cwd=tmp_path).stdout)
    assert [r["inserted"] for r in again] == [12, 5]  # the dry run wrote nothing
