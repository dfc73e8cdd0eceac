"""The frames a pipeline exports, loaded without Dagster: what inferred rules describe."""

from __future__ import annotations

import pandas as pd

from tfi_data.details import PipelineDetails
from tfi_data.loader import GeneralLoader
from tfi_data.transformer import transform


def export_frames(details: PipelineDetails) -> dict[str, pd.DataFrame]:
    """Load every source and run the transformer: one frame per export, by its frame name."""
    loader = GeneralLoader(details.base_dir)
    routed = transform(details, {s.name: loader.load(s) for s in details.sources})
    return {e.frame_name: routed[e.key] for e in details.exports}
