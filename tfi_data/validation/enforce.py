"""What a pipeline does with data that broke its rules: fail, warn, or quarantine the bad rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from tfi_data.details import ON_INVALID
from tfi_data.export.types import COLUMN_TYPES_ATTR
from tfi_data.validation.rules import RulesError, column_types, compile_rules
from tfi_data.validation.validator import FAILED_CHECKS, Report, Validator


@dataclass
class Enforced:
    frames: dict[str, pd.DataFrame]  # what goes on to the next step
    report: Report
    rejected: dict[str, pd.DataFrame] = field(default_factory=dict)  # quarantined rows, with failed_checks
    stop: str | None = None  # why the run must stop before any export, if it must

    @property
    def rejected_rows(self) -> int:
        return sum(len(r) for r in self.rejected.values())

    def verdict(self, name: str) -> pd.DataFrame:
        """What quarantine decided for frame ``name``, small enough to pass between steps instead
        of a second copy of the frame: the position of each rejected row and its failed checks.
        Positions are the frame's own (frames between steps have a RangeIndex)."""
        rejected = self.rejected.get(name)
        if rejected is None:
            return pd.DataFrame({"row": pd.Series(dtype="int64"), FAILED_CHECKS: pd.Series(dtype="string")})
        return pd.DataFrame(
            {"row": rejected.index.to_numpy(dtype="int64"), FAILED_CHECKS: rejected[FAILED_CHECKS].to_numpy()}
        )


def enforce(validator: Validator, frames: Mapping[str, pd.DataFrame], on_invalid: str) -> Enforced:
    """Check ``frames`` lazily (every failure at once) and apply the policy:

    - ``fail``: any error-level failure stops the run;
    - ``warn``: everything goes on, failures are only reported;
    - ``quarantine``: rows that failed an error-level check are set aside, the valid rows go on;
      a failure no row split can remove (row count, a missing column, a wrong type) stops the run.
    Warnings never stop anything."""
    if on_invalid not in ON_INVALID:
        raise ValueError(f"on_invalid={on_invalid!r}: expected one of {', '.join(ON_INVALID)}")
    report = validator.check(frames)
    out = Enforced(frames=dict(frames), report=report)
    if on_invalid == "fail" and report.errors:
        out.stop = str(report)
    elif on_invalid == "quarantine":
        if report.frame_errors:
            out.stop = "the data cannot be quarantined row by row:\n" + str(report)
        else:
            for name in sorted(validator.schemas):
                if name in frames:
                    valid, rejected = report.split(name, frames[name])
                    out.frames[name] = valid.reset_index(drop=True)
                    if len(rejected):
                        out.rejected[name] = rejected
    for name, schema in validator.schemas.items():
        # The frame carries its declared column types to the Exporter (kept by the cache).
        if name in out.frames and (declared := column_types(schema)):
            frame = out.frames[name].copy(deep=False)
            frame.attrs = {**frame.attrs, COLUMN_TYPES_ATTR: declared}
            out.frames[name] = frame
    return out


def apply_verdict(frame: pd.DataFrame, verdict: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Part ``frame`` by a ``verdict`` into (valid rows, rejected rows with ``failed_checks``),
    as ``enforce`` parted it when it checked the same frame."""
    if not len(verdict):
        return frame, frame.iloc[0:0]
    if len(frame) and verdict["row"].max() >= len(frame):
        raise ValueError(f"verdict names row {verdict['row'].max()}, the frame has {len(frame)} rows")
    bad = np.zeros(len(frame), dtype=bool)
    bad[verdict["row"].to_numpy()] = True
    rejected = frame.iloc[verdict["row"].to_numpy()].copy()
    rejected[FAILED_CHECKS] = pd.array(verdict[FAILED_CHECKS].to_numpy(), dtype="string")
    return frame.iloc[~bad].reset_index(drop=True), rejected


def rejected_records(pipeline: str, run_id: str, frame: str, rejected: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows as they are kept: who set them aside, why, and the original row as JSON,
    so a person can fix and replay them whatever the frame's columns were."""
    values = rejected.drop(columns=[FAILED_CHECKS])
    rows = [
        json.dumps(r, default=str, ensure_ascii=False)
        for r in values.astype(object).where(values.notna(), None).to_dict("records")
    ]
    return pd.DataFrame(
        {
            "pipeline": pipeline,
            "run_id": run_id,
            "frame": frame,
            "row_index": rejected.index.to_numpy(dtype="int64"),  # its position in the checked frame
            "failed_checks": rejected[FAILED_CHECKS].astype(str).to_numpy(),
            "row": rows,
            "rejected_at": pd.Timestamp(dt.datetime.now(dt.timezone.utc)),
        }
    )


@dataclass
class RulesPlan:
    """Where each frame's rules apply: rules named after an export's frame check the data going
    into that table (after the transformer); rules named only after a source check it as loaded
    (before the transformer). ``mapping`` is the rules file's content (None for pandera schemas)."""

    sources: dict[str, pa.DataFrameSchema]
    exports: dict[str, pa.DataFrameSchema]
    mapping: dict | None = None


def plan_rules(
    rules: Any, sources: Sequence[str], export_frames: Sequence[str], resolve: Callable[[str], Path] = Path
) -> RulesPlan:
    if rules is None:
        return RulesPlan({}, {})
    if isinstance(rules, pa.DataFrameSchema):  # one schema: the pipeline's one source
        return RulesPlan(Validator.from_rules(rules, list(sources)).schemas, {})
    mapping = None
    names = sorted(set(sources) | set(export_frames))
    if isinstance(rules, (str, Path)):
        path = resolve(str(rules))
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesError(f"rules file {path}: cannot read: {exc.strerror or exc}") from exc
        mapping, compiled = compile_rules(text, path)
        schemas = Validator.from_rules(compiled, names).schemas
    else:
        schemas = Validator.from_rules(rules, names, resolve=resolve).schemas
    exports = {n: s for n, s in schemas.items() if n in export_frames}
    return RulesPlan({n: s for n, s in schemas.items() if n not in exports}, exports, mapping)
