"""The cache between ops: DataFrames as Parquet, small results as JSON, keyed by run/step/output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa

from tfi_data import settings


class CacheError(RuntimeError):
    """An op output could not be stored in the cache."""


class ParquetCacheIOManager(dg.ConfigurableIOManager):
    """Stores each op output under ``base_path/<run_id>/<step_key>/<output>.parquet|json``."""

    base_path: str = settings.DEFAULT_CACHE_DIR

    def _path(self, context: dg.OutputContext) -> Path:
        return Path(self.base_path).joinpath(*context.get_identifier())

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        path = self._path(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(obj, pd.DataFrame):
            target = path.with_suffix(".parquet")
            try:
                # LZ4: decompresses at nearly the speed of an uncompressed file, a third smaller.
                obj.to_parquet(target, index=False, compression="lz4")
            except (pa.ArrowException, TypeError, ValueError) as exc:
                target.unlink(missing_ok=True)
                raise CacheError(
                    f"output {context.name!r} of {context.step_key}: cannot store as Parquet: {exc}"
                ) from exc
            context.add_output_metadata({"rows": len(obj), "cache_path": str(target)})
        else:
            with open(path.with_suffix(".json"), "w", encoding="utf-8") as fh:
                json.dump(obj, fh, default=str)

    def load_input(self, context: dg.InputContext) -> Any:
        path = self._path(context.upstream_output)
        parquet = path.with_suffix(".parquet")
        if parquet.exists():
            return pd.read_parquet(parquet)
        with open(path.with_suffix(".json"), encoding="utf-8") as fh:
            return json.load(fh)
