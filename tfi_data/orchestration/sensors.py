"""File-arrival sensors: a new or changed file set of a pipeline's file sources requests one run."""

from __future__ import annotations

import hashlib
from typing import Any

import dagster as dg

from tfi_data.details import PipelineDetails
from tfi_data.loader import GeneralLoader, LoadError
from tfi_data.loader.fingerprint import listing_fingerprint
from tfi_data.loader.general import FILE_KINDS

MINIMUM_INTERVAL_S = 30


def file_sensor(
    details: PipelineDetails, job: Any, default_status: dg.DefaultSensorStatus
) -> dg.SensorDefinition | None:
    """``<pipeline>_files``: lists the pipeline's file sources on each tick (names, sizes and
    modification times; no file is read). The cursor holds the last listing's digest; a different
    one requests a run whose run key is that digest, so a re-tick over the same files requests
    nothing. None for a pipeline without file sources."""
    sources = [s for s in details.sources if s.kind in FILE_KINDS]
    if not sources:
        return None

    def evaluate(context: dg.SensorEvaluationContext):
        loader = GeneralLoader(details.base_dir)
        try:
            listing = {s.name: listing_fingerprint(loader.files(s)) for s in sources}
        except LoadError as exc:  # e.g. no file matches yet
            return dg.SkipReason(str(exc))
        digest = hashlib.sha256(repr(sorted(listing.items())).encode()).hexdigest()[:32]
        if digest == context.cursor:
            return dg.SkipReason("no new or changed file since the last run request")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"files-{digest}", tags={"tfi_data/trigger": "files"})],
            cursor=digest,
        )

    return dg.SensorDefinition(
        name=f"{details.name}_files",
        job=job,
        evaluation_fn=evaluate,
        minimum_interval_seconds=MINIMUM_INTERVAL_S,
        default_status=default_status,
        description=f"Runs {details.name!r} when the files of its sources "
        f"({', '.join(s.name for s in sources)}) appear or change",
    )
