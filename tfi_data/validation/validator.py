"""Validator: applies pandera schemas to named frames and reports every failure at once.

``Validator.check(frames)`` never raises for bad data: it returns a ``Report`` with one ``Outcome``
per declared check (passed or failed, its level, failure count, sample values and rows, and the
positions of every failing row). ``Validator.validate(frames)`` raises ``ValidationFailed`` when a
check of level ``error`` failed, and logs warnings. ``Report.split(name, frame)`` parts a frame
into valid and rejected rows for quarantine.

Failures that belong to no row (a row count out of bounds, a column of the wrong type, a missing
or unexpected column, a check that could not run) have no row positions: ``split`` cannot reject
them by row, so they are listed in ``Report.frame_errors`` (and ``frame_failures(name)``); a caller
that quarantines rows must still stop on those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa
import pyarrow

from tfi_data.validation.rules import RulesError, load_rules_file

log = logging.getLogger(__name__)

_SAMPLE = 5
FAILED_CHECKS = "failed_checks"
TABLE = "<table>"

# pandera's names for the checks that are schema properties rather than Check objects
_BUILTIN = {
    "not_nullable": "nullable",
    "field_uniqueness": "unique",
    "column_in_dataframe": "required",
    "column_in_schema": "strict",
    "multiple_fields_uniqueness": "unique",
}


@dataclass(frozen=True, eq=False)
class Outcome:
    """One declared check on one frame. ``column`` is None for table checks (rows, unique, strict)."""

    frame: str
    column: str | None
    rule: str  # the rules-file name: type, nullable, unique, min, ..., rows, strict, required
    check: str  # pandera's name for it, e.g. "less_than_or_equal_to(100)"
    level: str  # "error" or "warn"
    failures: int = 0
    values: list[Any] = field(default_factory=list)  # up to 5 failing values
    positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # every failing row
    sample: pd.DataFrame | None = None  # up to 5 failing rows, as they are in the frame
    columns: tuple[str, ...] = ()  # the key columns of a table `unique`

    @property
    def passed(self) -> bool:
        return self.failures == 0

    @property
    def by_row(self) -> bool:
        """Whether the failure is pinned to rows (else it concerns the whole frame or column)."""
        return len(self.positions) > 0

    @property
    def label(self) -> str:
        where = self.column if self.column is not None else TABLE
        return f"{where}: {self.rule}" + (" (warn)" if self.level == "warn" else "")

    def __str__(self) -> str:
        if self.passed:
            return f"frame {self.frame!r} {self.label}: passed"
        rows = f" (rows {', '.join(map(str, self.positions[:_SAMPLE].tolist()))})" if self.by_row else ""
        return (
            f"[{self.level}] frame {self.frame!r} {self.label} ({self.check}): {self.failures} failure(s), "
            f"e.g. {', '.join(map(repr, self.values))}{rows}"
        )


@dataclass
class Report:
    """Every outcome of one ``Validator.check`` run, in declaration order per frame."""

    outcomes: list[Outcome]
    rows: dict[str, int] = field(default_factory=dict)  # rows per checked frame

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed]

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.failures if o.level == "error"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.failures if o.level == "warn"]

    @property
    def ok(self) -> bool:
        """No error-level failure (warnings allowed)."""
        return not self.errors

    @property
    def frame_errors(self) -> list[Outcome]:
        """Error-level failures that no row split can remove: the frame as a whole is invalid."""
        return [o for o in self.errors if not o.by_row]

    def frame(self, name: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.frame == name]

    def frame_failures(self, name: str) -> list[Outcome]:
        """Failures of one frame that are not pinned to rows (both levels)."""
        return [o for o in self.failures if o.frame == name and not o.by_row]

    def records(self) -> list[dict[str, Any]]:
        """Failures as plain dicts: frame, column, check, failures, sample, rows, level, rule.

        A table ``unique`` gives one dict per key column (the values there); ``rows`` are the
        first failing row positions."""
        out = []
        for o in self.failures:
            columns = o.columns or (o.column if o.column is not None else TABLE,)
            for i, column in enumerate(columns):
                sample = [v[i] for v in o.values] if o.columns else list(o.values)
                out.append(
                    {
                        "frame": o.frame,
                        "column": column,
                        "check": o.check,
                        "failures": o.failures,
                        "sample": sample,
                        "rows": o.positions[:_SAMPLE].tolist(),
                        "level": o.level,
                        "rule": o.rule,
                    }
                )
        return out

    def split(
        self, name: str, frame: pd.DataFrame, levels: Iterable[str] = ("error",)
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Part ``frame`` (the one checked as ``name``) into (valid rows, rejected rows).

        A row is rejected when a check of one of ``levels`` failed on it; rejected rows keep their
        values and index and gain a ``failed_checks`` column ("column: check; ..."). Every row
        lands in exactly one part. Failures not pinned to rows are not split: see ``frame_errors``.
        """
        if name in self.rows and self.rows[name] != len(frame):
            raise ValueError(f"split: frame {name!r} has {len(frame)} rows, the report was made on {self.rows[name]}")
        levels = set(levels)
        chosen = [o for o in self.failures if o.frame == name and o.level in levels and o.by_row]
        if not chosen:
            rejected = frame.iloc[0:0].copy()
            rejected[FAILED_CHECKS] = pd.Series(dtype="string")
            return frame, rejected
        positions = np.unique(np.concatenate([o.positions for o in chosen]))
        # one bit per failed check and row; rows share few combinations, so join labels per combination
        masks = np.zeros(len(positions), dtype=np.uint64 if len(chosen) <= 64 else object)
        for bit, o in enumerate(chosen):
            masks[np.searchsorted(positions, o.positions)] |= masks.dtype.type(1) << masks.dtype.type(bit)
        combos, which = np.unique(masks, return_inverse=True)
        names = [o.label for o in chosen]
        joined = np.array(["; ".join(n for b, n in enumerate(names) if int(c) >> b & 1) for c in combos], dtype=object)
        bad = np.zeros(len(frame), dtype=bool)
        bad[positions] = True
        rejected = frame.iloc[positions].copy()
        rejected[FAILED_CHECKS] = pd.array(joined[which.ravel()], dtype="string")
        return frame.iloc[~bad], rejected

    def __str__(self) -> str:
        failures = self.failures
        if not failures:
            return f"validation passed: {len(self.outcomes)} check(s)"
        head = f"validation: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        return "\n".join([head, *(f"  {o}" for o in failures)])


class ValidationFailed(ValueError):
    """Data broke its rules. ``report`` lists one dict per failed (frame, column, check), with its
    level; ``result`` is the full ``Report`` when the Validator raised it."""

    def __init__(self, report: list[dict[str, Any]], result: Report | None = None) -> None:
        self.report = report
        self.result = result
        errors = [r for r in report if r.get("level", "error") == "error"]
        lines = [f"validation failed: {sum(r['failures'] for r in errors)} failure(s)"]
        for r in report:
            level = "" if r.get("level", "error") == "error" else "[warn] "
            lines.append(
                f"  {level}frame {r['frame']!r} column {r['column']!r} check {r['check']}: "
                f"{r['failures']} failure(s), e.g. {', '.join(map(repr, r['sample']))}"
                + (f" (rows {', '.join(map(str, r['rows']))})" if r["rows"] else "")
            )
        super().__init__("\n".join(lines))


class Validator:
    """Checks frames by name against pandera schemas (from a rules file, a schema or a dict)."""

    def __init__(self, schemas: Mapping[str, pa.DataFrameSchema] | None = None) -> None:
        self.schemas = dict(schemas or {})

    @classmethod
    def from_rules(
        cls,
        rules: Any,
        frame_names: Sequence[str],
        resolve: Callable[[str], Path] = Path,
    ) -> Validator:
        """``rules``: None, a rules file path, one DataFrameSchema (single frame) or a dict."""
        if rules is None:
            return cls()
        if isinstance(rules, (str, Path)):
            schemas = load_rules_file(resolve(str(rules)))
        elif isinstance(rules, pa.DataFrameSchema):
            if len(frame_names) != 1:
                raise RulesError(
                    f"rules: one DataFrameSchema given for {len(frame_names)} sources; "
                    "give a dict of source name -> schema"
                )
            schemas = {frame_names[0]: rules}
        elif isinstance(rules, Mapping) and all(isinstance(v, pa.DataFrameSchema) for v in rules.values()):
            schemas = dict(rules)
        else:
            raise RulesError(f"rules: {rules!r} is not a rules file path, a DataFrameSchema or a dict of them")
        unknown = sorted(set(schemas) - set(frame_names))
        if unknown:
            raise RulesError(f"rules name frame(s) {unknown}, but the pipeline's frames are {sorted(frame_names)}")
        return cls(schemas)

    def check(self, frames: Mapping[str, pd.DataFrame]) -> Report:
        """Check every frame that has rules; never raises for bad data."""
        return self._run(frames)[0]

    def validate(self, frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Validate every frame that has rules; raise ValidationFailed if any error-level check failed."""
        report, out = self._run(frames)
        for o in report.warnings:
            log.warning("validation warning: %s", o)
        if report.errors:
            raise ValidationFailed(report.records(), result=report)
        return out

    def _run(self, frames: Mapping[str, pd.DataFrame]) -> tuple[Report, dict[str, pd.DataFrame]]:
        outcomes: list[Outcome] = []
        rows: dict[str, int] = {}
        out = dict(frames)
        for name in sorted(frames):
            schema = self.schemas.get(name)
            if schema is None:
                continue
            frame = frames[name]
            rows[name] = len(frame)
            # validate a shallow copy indexed by position: failure indexes are then row positions
            # whatever the frame's index, and nothing is copied (no coercion happens in place)
            view = frame.copy(deep=False)
            view.index = pd.RangeIndex(len(frame))
            for i in range(view.shape[1]):
                if isinstance(view.dtypes.iloc[i], pd.ArrowDtype) and pyarrow.types.is_nested(
                    view.dtypes.iloc[i].pyarrow_dtype
                ):
                    # lists as tuples: still JSON values to the type check, and comparable by unique
                    view.isetitem(i, view.iloc[:, i].astype(object).map(_frozen))
            cases = None
            try:
                checked = schema.validate(view, lazy=True, inplace=True)
                if len(checked) == len(frame):
                    checked.index = frame.index
                out[name] = checked
            except pandera.errors.SchemaErrors as exc:
                cases = exc.failure_cases
            outcomes.extend(_outcomes(name, schema, frame, cases))
        return Report(outcomes, rows), out


def _frozen(value: Any) -> Any:
    """A list or dict as nested tuples (hashable), other values as they are."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    return value


def _declared(schema: pa.DataFrameSchema) -> list[tuple[tuple[Any, Any], str | None, str, str, str]]:
    """Every check a schema makes: (key, column, rule, pandera name, level), key matching _key()."""
    out = []
    meta = (schema.metadata or {}).get("tfi", {})
    warn = set(meta.get("warn", []))
    for col_name, col in schema.columns.items():
        cmeta = (col.metadata or {}).get("tfi", {})
        cwarn = set(cmeta.get("warn", []))
        if col.required:
            out.append(((col_name, "required"), col_name, "required", "column_in_dataframe", "error"))
        if col.dtype is not None:
            out.append(((col_name, "dtype"), col_name, "type", f"dtype('{col.dtype}')", "error"))
        rules = cmeta.get("checks") or [c.name for c in col.checks]
        for i, (check, rule) in enumerate(zip(col.checks, rules, strict=False)):
            level = "warn" if rule in cwarn or check.raise_warning else "error"
            out.append(((col_name, i), col_name, rule, _check_name(check), level))
        if not col.nullable:
            out.append(((col_name, "nullable"), col_name, "nullable", "not_nullable", _lvl("nullable", cwarn)))
        if col.unique:
            out.append(((col_name, "unique"), col_name, "unique", "field_uniqueness", _lvl("unique", cwarn)))
    rules = meta.get("checks") or [c.name for c in schema.checks]
    for i, (check, rule) in enumerate(zip(schema.checks, rules, strict=False)):
        level = "warn" if rule in warn or check.raise_warning else "error"
        out.append(((None, i), None, rule, _check_name(check), level))
    if schema.unique:
        out.append(((None, "unique"), None, "unique", "multiple_fields_uniqueness", _lvl("unique", warn)))
    if schema.strict:
        out.append(((None, "strict"), None, "strict", "column_in_schema", _lvl("strict", warn)))
    return out


def _lvl(rule: str, warn: set[str]) -> str:
    return "warn" if rule in warn else "error"


def _check_name(check: pa.Check) -> str:
    return check.error if check.error is not None else check.name if check.name is not None else str(check)


def _key(context: str, column: Any, check: str, number: Any) -> tuple[Any, Any]:
    """The declared-check key of a pandera failure case (``column``: the missing one for column_in_dataframe)."""
    if context == "DataFrameSchema":
        if check == "column_in_dataframe":
            return (column, "required")
        if check in ("column_in_schema", "multiple_fields_uniqueness"):
            return (None, _BUILTIN[check])
        return (None, int(number)) if pd.notna(number) else (None, check)
    if pd.notna(number):
        return (column, int(number))
    if check in _BUILTIN:
        return (column, _BUILTIN[check])
    return (column, "dtype") if str(check).startswith("dtype(") else (column, check)


def _outcomes(name: str, schema: pa.DataFrameSchema, frame: pd.DataFrame, cases: pd.DataFrame | None) -> list[Outcome]:
    declared = _declared(schema)
    groups: dict[tuple[Any, Any], pd.DataFrame] = {}
    if cases is not None:
        # classify per distinct (context, column, check, number), not per failure case
        column = cases["column"].where(cases["check"] != "column_in_dataframe", cases["failure_case"])
        by = [cases["schema_context"], column, cases["check"], cases["check_number"]]
        parts: dict[tuple[Any, Any], list[np.ndarray]] = {}
        for combo, idx in cases.groupby(by, dropna=False, sort=False).indices.items():
            parts.setdefault(_key(*combo), []).append(idx)
        groups = {key: cases.iloc[np.sort(np.concatenate(idx))] for key, idx in parts.items()}
    known = {d[0] for d in declared}
    # failures of checks pandera adds by itself (e.g. a missing column named by `unique`)
    for key, group in groups.items():
        if key not in known:
            declared.append((key, key[0], str(group["check"].iloc[0]), str(group["check"].iloc[0]), "error"))
    out = []
    for key, column, rule, check, level in declared:
        group = groups.get(key)
        if group is None:
            out.append(Outcome(name, column, rule, check, level))
            continue
        out.append(_failed(name, frame, schema, key, column, rule, str(group["check"].iloc[0]), level, group))
    return out


def _failed(name, frame, schema, key, column, rule, check, level, group) -> Outcome:
    index = pd.to_numeric(group["index"], errors="coerce").dropna()
    positions = np.unique(index.to_numpy(dtype=np.int64))
    columns: tuple[str, ...] = ()
    if key == (None, "unique"):
        # one failure case per key column and row: count rows, sample the key combinations
        columns = tuple(schema.unique)
        present = [c for c in columns if c in frame.columns]
        if len(present) < len(columns):
            # pandera then checks the remaining columns alone: duplicates there say nothing
            missing = ", ".join(c for c in columns if c not in present)
            return Outcome(name, column, rule, check, level, 1, [f"key column(s) missing: {missing}"])
        failures = len(positions)
        values = [
            tuple(_plain(v) for v in row) for row in frame[present].iloc[positions[:_SAMPLE]].itertuples(index=False)
        ]
    else:
        failures = len(positions) if len(positions) else len(group)
        values = [_plain(v) for v in group["failure_case"].head(_SAMPLE).tolist()]
    if rule == "type" and column in frame:
        # a whole-column check fails with False: show what the column is instead
        values = [f"{frame[column].dtype} ({pd.api.types.infer_dtype(frame[column], skipna=True)})"]
    elif rule == "rows" and column is None:
        values = [len(frame)]
    sample = frame.iloc[positions[:_SAMPLE]] if len(positions) else None
    return Outcome(name, column, rule, check, level, failures, values, positions, sample, columns)


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, (list, dict, tuple, str)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
