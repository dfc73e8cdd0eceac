"""tfi-data: declare a dataloader, get a Dagster pipeline that writes only what changed."""

from tfi_data.details import DetailsError, Export, PipelineDetails, Source

__all__ = ["DetailsError", "Export", "Pipeline", "PipelineDetails", "Source", "Task"]


def __getattr__(name: str):
    # Pipeline pulls in dagster; dataloader modules importing the config types should not.
    if name in ("Pipeline", "Task", "PipelineResult"):
        from tfi_data import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'tfi_data' has no attribute {name!r}")
