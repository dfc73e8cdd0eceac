"""Orchestration: thin Dagster wiring around the components. Logic belongs in components."""

from tfi_data.orchestration.definitions import build_definitions, pipeline_definitions
from tfi_data.orchestration.factory import build_pipeline, source_asset_key, table_asset_key
from tfi_data.orchestration.io_manager import ParquetCacheIOManager
from tfi_data.orchestration.resources import DatabaseResource, SourceLoader

__all__ = [
    "DatabaseResource",
    "ParquetCacheIOManager",
    "SourceLoader",
    "build_definitions",
    "build_pipeline",
    "pipeline_definitions",
    "source_asset_key",
    "table_asset_key",
]
