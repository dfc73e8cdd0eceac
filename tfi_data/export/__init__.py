"""Exporter: writes a DataFrame into a database as the smallest change set. Never imports dagster."""

from tfi_data.export.diff import Changes, diff
from tfi_data.export.engine import make_engine, safe_url
from tfi_data.export.exporter import Exporter, ExportError, ExportResult

__all__ = ["Changes", "ExportError", "ExportResult", "Exporter", "diff", "make_engine", "safe_url"]
