"""The one place that reads environment configuration. Imports nothing of ours."""

from __future__ import annotations

import os
from pathlib import Path

DATABASE_URL_VAR = "TFI_DATABASE_URL"
CACHE_DIR_VAR = "TFI_CACHE_DIR"
DATALOADERS_DIR_VAR = "TFI_DATALOADERS_DIR"
SCHEDULES_RUNNING_VAR = "TFI_SCHEDULES_RUNNING"
SENSORS_RUNNING_VAR = "TFI_SENSORS_RUNNING"
CACHE_RETENTION_VAR = "TFI_CACHE_RETENTION"

CODE_LOCATION = "tfi_data"  # the code location's name (workspace.yaml, [tool.dagster])

DEFAULT_DATABASE_URL = "sqlite:///tfi_data.sqlite"
DEFAULT_CACHE_DIR = ".tfi_cache"
DEFAULT_CACHE_RETENTION = "7d"
# The examples shipped beside the package in a source checkout (and in the container image).
BUNDLED_DATALOADERS = Path(__file__).resolve().parent.parent / "examples" / "dataloaders"


def env(name: str) -> str | None:
    """An environment variable, or None when unset or empty."""
    value = os.environ.get(name)
    return value if value else None


def database_url() -> str:
    return env(DATABASE_URL_VAR) or DEFAULT_DATABASE_URL


def cache_dir() -> str:
    return env(CACHE_DIR_VAR) or DEFAULT_CACHE_DIR


def dataloaders_dir() -> Path:
    return Path(env(DATALOADERS_DIR_VAR) or BUNDLED_DATALOADERS)


def cache_retention() -> str:
    """How long the code location keeps a run's cached outputs (for re-execution from failure)."""
    return env(CACHE_RETENTION_VAR) or DEFAULT_CACHE_RETENTION


def running(var: str) -> bool:
    """A switch such as TFI_SCHEDULES_RUNNING: on when set to 1."""
    return env(var) == "1"
