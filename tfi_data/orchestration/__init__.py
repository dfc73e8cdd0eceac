"""Orchestration: thin Dagster wiring around the components. Logic belongs in components."""

from tfi_data.orchestration.factory import build_job, table_asset_key
from tfi_data.orchestration.io_manager import ParquetCacheIOManager
from tfi_data.orchestration.resources import DatabaseResource

__all__ = ["DatabaseResource", "ParquetCacheIOManager", "build_job", "table_asset_key"]
