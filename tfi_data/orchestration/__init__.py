"""Orchestration: thin Dagster wiring around the components. Logic belongs in components."""

from tfi_data.orchestration.factory import build_job, table_asset_key
from tfi_data.orchestration.io_manager import ParquetCacheIOManager
from tfi_data.orchestration.resources import DatabaseResource, SourceLoader

__all__ = ["DatabaseResource", "ParquetCacheIOManager", "SourceLoader", "build_job", "table_asset_key"]
