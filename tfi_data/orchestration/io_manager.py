"""The IO manager: op outputs go to the cache (tfi_data.cache), keyed by run, step and output."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

from tfi_data import cache, settings


class ParquetCacheIOManager(dg.ConfigurableIOManager):
    """DataFrames as Parquet, small results as JSON, under ``base_path`` (a directory or an
    fsspec URL such as ``s3://bucket/tfi-cache``): ``<base>/<run_id>/<step_key>/<output>``.
    Re-executing a run from failure reads the parent run's cached outputs from here."""

    base_path: str = settings.DEFAULT_CACHE_DIR

    def _path(self, context: dg.OutputContext, suffix: str) -> Any:
        return cache.location(self.base_path).joinpath(*context.get_identifier()).with_suffix(suffix)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if isinstance(obj, pd.DataFrame):
            path = self._path(context, ".parquet")
            cache.write_frame(path, obj, f"output {context.name!r} of step {context.step_key!r}")
            context.add_output_metadata({"rows": len(obj), "cache_path": str(path)})
        else:
            cache.write_json(self._path(context, ".json"), obj)

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        parquet = self._path(upstream, ".parquet")
        if parquet.exists():
            return cache.read_frame(parquet)
        return cache.read_json(self._path(upstream, ".json"))
