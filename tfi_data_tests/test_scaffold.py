"""`tfi-data init`: a ready private dataloaders repository whose own tests pass right away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tfi_data_tests.conftest import run_cli, table_rows

pytestmark = pytest.mark.slow


def test_init_writes_a_repository_whose_tests_and_run_script_pass(tmp_path: Path) -> None:
    repo = tmp_path / "acme-dataloaders"
    done = run_cli("init", str(repo))
    assert done.returncode == 0, done.stderr
    for name in (
        "pyproject.toml",
        ".gitignore",
        "README.md",
        "run.py",
        "compose.override.yaml",
        "dataloaders/trips.py",
        "dataloaders/data/trips_2026-01.csv",
        "dataloaders/rules/trips.yaml",
        "tests/test_dataloaders.py",
    ):
        assert (repo / name).is_file(), name
    pyproject = (repo / "pyproject.toml").read_text()
    assert 'name = "acme-dataloaders"' in pyproject and '"tfi-data>=0.1,<0.2"' in pyproject
    assert "{{" not in pyproject + (repo / "compose.override.yaml").read_text()

    # The compose override mounts this repository's dataloaders in the stack's services.
    override = yaml.safe_load((repo / "compose.override.yaml").read_text())
    mounts = {svc: cfg["volumes"] for svc, cfg in override["services"].items()}
    assert mounts == {
        s: [f"${{DATALOADERS_REPO:-{repo}}}/dataloaders:/opt/dataloaders:ro"] for s in ("code-server", "run")
    }

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout

    url = f"sqlite:///{tmp_path / 'run.sqlite'}"
    run = subprocess.run(
        [sys.executable, "run.py", "--database", url], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "trips -> trips: +6 ~0 -0 =0 (6 rows)" in run.stdout
    assert len(table_rows(url, "trips", "day, route")) == 6


def test_init_refuses_a_directory_with_files(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    done = run_cli("init", str(tmp_path))
    assert done.returncode == 2
    assert f"tfi-data: init: {tmp_path} is not empty" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
