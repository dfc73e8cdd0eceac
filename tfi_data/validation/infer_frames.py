"""The frames a pipeline exports, loaded without Dagster: what inferred rules describe."""

from __future__ import annotations

import pandas as pd

from tfi_data.details import PipelineDetails
from tfi_data.loader import GeneralLoader
from tfi_data.loader.general import FILE_KINDS
from tfi_data.transformer import transform


def export_frames(details: PipelineDetails) -> dict[str, pd.DataFrame]:
    """Load every source and run the transformer: one frame per export, by its frame name."""
    loader = GeneralLoader(details.base_dir)
    routed = transform(details, {s.name: loader.load(s) for s in details.sources})
    return {e.frame_name: routed[e.key] for e in details.exports}


def export_batches(details: PipelineDetails) -> tuple[str | None, list[dict[str, pd.DataFrame]]]:
    """The exported frames batch by batch: one batch per file of the file source with the most
    files (a glob of daily or monthly files: each file as one run would see it), the other
    sources whole in every batch, each batch through the transformer. Returns that source's name
    (None when no source has several files: then there is one batch) and the batches."""
    loader = GeneralLoader(details.base_dir)
    listed = {s.name: loader.files(s) for s in details.sources if s.kind in FILE_KINDS}
    batched = max(listed, key=lambda name: len(listed[name]), default=None)
    if batched is None or len(listed[batched]) < 2:
        return None, [export_frames(details)]
    whole = {s.name: loader.load(s) for s in details.sources if s.name != batched}
    source = next(s for s in details.sources if s.name == batched)
    batches = []
    for file in listed[batched]:
        # read as the whole glob reads it (with its file column), one file at a time
        frame = loader._load(source, ([file], True), {})
        routed = transform(details, {**whole, batched: frame})
        batches.append({e.frame_name: routed[e.key] for e in details.exports})
    return batched, batches
