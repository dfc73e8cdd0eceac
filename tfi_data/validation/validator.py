"""Validator: applies pandera schemas to named frames and reports every failure at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.errors
import pandera.pandas as pa

from tfi_data.validation.rules import RulesError, load_rules_file

_SAMPLE = 5


class ValidationFailed(ValueError):
    """Data broke its rules. ``report`` lists one dict per (frame, column, check)."""

    def __init__(self, report: list[dict[str, Any]]) -> None:
        self.report = report
        lines = [f"validation failed: {sum(r['failures'] for r in report)} failure(s)"]
        for r in report:
            lines.append(
                f"  frame {r['frame']!r} column {r['column']!r} check {r['check']}: "
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
            raise RulesError(f"rules name frame(s) {unknown}, but the sources are {sorted(frame_names)}")
        return cls(schemas)

    def validate(self, frames: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Validate every frame that has rules; raise ValidationFailed listing every failure."""
        report: list[dict[str, Any]] = []
        out = dict(frames)
        for name in sorted(frames):
            schema = self.schemas.get(name)
            if schema is None:
                continue
            try:
                out[name] = schema.validate(frames[name], lazy=True)
            except pandera.errors.SchemaErrors as exc:
                report.extend(_report(name, exc.failure_cases, frames[name]))
        if report:
            raise ValidationFailed(report)
        return out


def _report(frame: str, cases: pd.DataFrame, data: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    cases = cases.copy()
    cases["column"] = cases["column"].fillna("<table>")
    for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        index = [i for i in group["index"].tolist() if i is not None and not pd.isna(i)]
        sample = [_plain(v) for v in group["failure_case"].head(_SAMPLE).tolist()]
        if str(check).startswith("type is not") and column in data:
            # a whole-column check fails with False: show what the column is instead
            sample = [f"{data[column].dtype} ({pd.api.types.infer_dtype(data[column], skipna=True)})"]
        rows.append(
            {
                "frame": frame,
                "column": str(column),
                "check": str(check),
                "failures": len(group),
                "sample": sample,
                "rows": [int(i) for i in index[:_SAMPLE] if isinstance(i, (int, float))],
            }
        )
    return rows


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
