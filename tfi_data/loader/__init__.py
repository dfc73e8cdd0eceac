"""GeneralLoader: reads every source of a pipeline into DataFrames. Never imports dagster."""

from tfi_data.loader.general import GeneralLoader, LoadError
from tfi_data.loader.readers import READERS, Reader

__all__ = ["READERS", "GeneralLoader", "LoadError", "Reader"]
