"""The Dagster code location: every pipeline under $TFI_DATALOADERS_DIR (default: the examples)."""

from tfi_data import settings
from tfi_data.discovery import discover
from tfi_data.orchestration.definitions import build_definitions

defs = build_definitions(discover(settings.dataloaders_dir()))
