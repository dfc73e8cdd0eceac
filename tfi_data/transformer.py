"""Transformer: runs the dataloader's own function and routes its result to the exports."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tfi_data.details import PipelineDetails


class TransformError(RuntimeError):
    """The transformer failed or returned something the exports cannot use."""


def transform(details: PipelineDetails, frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Apply the transformer; return one DataFrame per export, keyed by ``Export.key``."""
    where = f"pipeline {details.name!r}: transformer"
    if details.transformer is None:
        (result,) = frames.values()  # validated: without a transformer there is one source
    else:
        try:
            result = details.transformer(dict(frames))
        except Exception as exc:
            raise TransformError(
                f"{where} {getattr(details.transformer, '__name__', '')!r} raised {type(exc).__name__}: {exc}"
            ) from exc
    routed = {}
    for export in details.exports:
        if isinstance(result, pd.DataFrame):
            frame = result
        elif isinstance(result, Mapping):
            if export.frame_name not in result:
                raise TransformError(
                    f"{where} returned frames {sorted(result)}; export {export.qualified_name!r} "
                    f"needs {export.frame_name!r}"
                )
            frame = result[export.frame_name]
        else:
            raise TransformError(f"{where} returned {type(result).__name__}; expected a DataFrame or a dict of them")
        if not isinstance(frame, pd.DataFrame):
            raise TransformError(
                f"{where}: frame for {export.qualified_name!r} is {type(frame).__name__}, not a DataFrame"
            )
        routed[export.key] = frame
    return routed
