"""The IO manager: op outputs go to the cache (tfi_data.cache), keyed by run, step and output."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from tfi_data import cache, settings


class CacheIOManager(dg.UPathIOManager):
    """DataFrames as LZ4 Parquet, small results as JSON, at ``<base>/<run_id>/<step_key>/<output>``
    on a local path or any fsspec URL. Re-executing a run from failure reads the parent run's
    cached outputs from here."""

    def get_op_output_relative_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        output = context if isinstance(context, dg.OutputContext) else context.upstream_output
        frame = output.dagster_type.typing_type is pd.DataFrame
        return super().get_op_output_relative_path(context).with_suffix(".parquet" if frame else ".json")

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        if isinstance(obj, pd.DataFrame):
            # the node's name, as the user declared it, not its graph's path
            step = context.step_key.rsplit(".", 1)[-1]
            cache.write_frame(path, obj, f"output {context.name!r} of step {step!r}")
        else:
            cache.write_json(path, obj)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        return cache.read_frame(path) if path.suffix == ".parquet" else cache.read_json(path)

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        return {"rows": len(obj)} if isinstance(obj, pd.DataFrame) else {}


class ParquetCacheIOManager(dg.ConfigurableIOManagerFactory):
    """The cache between steps. ``base_path``: a directory or an fsspec URL such as
    ``s3://bucket/tfi-cache`` (the filesystem's package installed)."""

    base_path: str = settings.DEFAULT_CACHE_DIR

    def create_io_manager(self, context: dg.InitResourceContext) -> CacheIOManager:
        return CacheIOManager(base_path=cache.location(self.base_path))
