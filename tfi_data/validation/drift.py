"""Drift between a rules file and new data, and merging accepted changes into a hand-edited file.

``drift(rules, frames)`` checks the frames against the rules (the Validator, every check, both
levels) and compares their columns, and returns ``Finding``s: ``new_frame``, ``new_column``,
``missing_column``, ``type_change``, ``out_of_range``, ``new_category``, ``nulls`` (in a
``nullable: false`` column), and, report-only, ``pattern``, ``length``, ``duplicates``,
``row_count``, ``violation`` (any other failed check).

``merge_rules(text, frames, accept=...)`` re-infers against an existing rules file without
overwriting it: by default it only reports drift (the text comes back unchanged); ``accept`` (a set
of finding kinds, or "all") merges those findings that carry a ``change``: new frames and columns
are added, ``min``/``max`` widened, categories added to ``allowed``, ``nullable`` set to true,
``type`` replaced: a type change also removes every check the new type cannot carry (and its
name from ``warn``) and infers the new type's own checks in their place, so the file stays
consistent (the rules loader refuses checks that do not fit a type). Missing columns and
report-only kinds are never merged: removing or loosening a person's rule is theirs to do.

Edits are made in the text, at the YAML nodes' positions: only the value of the changed key is
rewritten (``max: 2500`` -> ``max: 2600``; a changed ``allowed`` list is rewritten in flow style
``[a, b, c]``) and new column lines are inserted after the frame's last column; an entry that
loses checks (a type change) is rewritten whole in flow style on its key's line. The
``# N rows, ...`` observation comment of every changed entry is rewritten with what the data shows
now. Every other line, comment and layout stays byte for byte (comments inside a rewritten
block-style ``allowed`` list or a block entry rewritten whole are the one loss).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tfi_data.validation.infer import (
    _plain,
    _show,
    column_lines,
    dump_value,
    frame_lines,
    infer_column,
    infer_frame,
    observe,
    widen,
)
from tfi_data.validation.rules import (
    COLUMN_CHECKS,
    RulesError,
    _parse_yaml,
    _schemas,
    _Where,
    check_fits,
    parse_rules,
    schemas_from_mapping,
)
from tfi_data.validation.validator import Report, Validator

KINDS = (
    "new_frame",
    "new_column",
    "missing_column",
    "type_change",
    "out_of_range",
    "new_category",
    "nulls",
    "pattern",
    "length",
    "duplicates",
    "row_count",
    "violation",
)
MERGEABLE = ("new_frame", "new_column", "type_change", "out_of_range", "new_category", "nulls")
_KIND_OF_RULE = {
    "required": "missing_column",
    "type": "type_change",
    "min": "out_of_range",
    "max": "out_of_range",
    "allowed": "new_category",
    "nullable": "nulls",
    "regex": "pattern",
    "min_length": "length",
    "max_length": "length",
    "unique": "duplicates",
    "rows": "row_count",
}
_SHOWN = 10


class _Remove:
    """A change's value that removes its key from the column's entry."""

    def __repr__(self) -> str:
        return "REMOVE"


REMOVE = _Remove()


@dataclass(frozen=True)
class Finding:
    """One difference between rules and data. ``change``: what accepting it writes (empty: report only)."""

    kind: str
    frame: str
    column: str | None
    detail: str
    change: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        where = self.frame if self.column is None else f"{self.frame}: {self.column}"
        if self.kind == "new_column" and self.change:
            accept = f"; accepting adds {dump_value(self.change['spec'])}"
        elif self.change and self.kind != "new_frame":
            sets = {k: v for k, v in self.change.items() if v is not REMOVE}
            removes = [k for k, v in self.change.items() if v is REMOVE]
            accept = "; accepting " + " and ".join(
                ([f"sets {dump_value(sets)}"] if sets else []) + ([f"removes {', '.join(removes)}"] if removes else [])
            )
        else:
            accept = ""
        return f"{where}: {self.kind}: {self.detail}{accept}"


def drift(
    rules: Mapping[str, Any],
    frames: Mapping[str, pd.DataFrame],
    *,
    margin: float = 0.1,
    max_categories: int = 20,
    report: Report | None = None,
) -> list[Finding]:
    """Findings for every frame given (rules for frames not given are not looked at). ``report``:
    the Validator's report on these frames under these rules, if it was already made."""
    findings: list[Finding] = []
    if report is None:
        checked = {name: df for name, df in frames.items() if name in rules}
        report = Validator(schemas_from_mapping(rules)).check(checked)
    for name, df in frames.items():
        if name not in rules:
            spec, _ = infer_frame(df, margin=margin, max_categories=max_categories)
            findings.append(Finding("new_frame", name, None, f"{len(df)} rows, no rules yet", {"rules": spec}))
            continue
        listed = (rules[name] or {}).get("columns") or {}
        listed = {str(c): s or {} for c, s in listed.items()}
        for col in df.columns:
            if str(col) not in listed:
                spec, seen = infer_column(df[col], margin=margin, max_categories=max_categories)
                findings.append(Finding("new_column", name, str(col), f"not in the rules ({seen})", {"spec": spec}))
        failed = [o for o in report.failures if o.frame == name]
        wrong_type = {o.column for o in failed if o.rule == "type"}
        for o in failed:
            if o.rule == "strict" or (o.column in wrong_type and o.rule != "type"):
                continue  # unlisted columns are new_column findings; checks on a wrong type say nothing
            spec = listed.get(o.column, {}) if o.column is not None else {}
            findings.append(_finding(o, df, spec, margin))
    return findings


def _finding(o, df: pd.DataFrame, spec: Mapping[str, Any], margin: float) -> Finding:
    kind = _KIND_OF_RULE.get(o.rule, "violation")
    col = o.column
    level = " (a warning)" if o.level == "warn" else ""
    if kind == "missing_column":
        return Finding(kind, o.frame, col, "in the rules, not in the data")
    if kind == "type_change":
        return Finding(
            kind,
            o.frame,
            col,
            f"rules say {spec.get('type')}, data is {o.values[0]}{level}",
            _retype(df[col], spec, margin),
        )
    if kind == "nulls":
        return Finding(
            kind, o.frame, col, f"{o.failures} null(s) in a nullable: false column{level}", {"nullable": True}
        )
    if kind == "out_of_range":
        seen = observe(df[col])
        bound = spec.get(o.rule)
        side, most = ("below min", "lowest") if o.rule == "min" else ("above max", "highest")
        extreme = seen.lo if o.rule == "min" else seen.hi
        detail = f"{o.failures} value(s) {side} {bound} ({most} {_show(extreme)}){level}"
        change = {}
        if extreme is not None:
            if isinstance(bound, (int, float)) and isinstance(extreme, (int, float)):
                wide = widen(seen.lo, seen.hi, margin, seen.family == "int" and isinstance(bound, int))
                change = {o.rule: wide[0] if o.rule == "min" else wide[1]}
            else:
                change = {o.rule: extreme}
        return Finding(kind, o.frame, col, detail, change)
    if kind == "new_category":
        allowed = list(spec.get("allowed") or [])
        text = spec.get("type") == "str" or observe(df[col]).family == "str"
        # text compares as text (`allowed: [1, 2]` means "1", "2"); other values keep their type
        known = {str(v) for v in allowed} if text else set(allowed)
        seen = {str(v) if text else _plain(v) for v in df[col].dropna().unique()}
        new = sorted(seen - known, key=str)
        shown = ", ".join(map(str, new[:_SHOWN])) + (", ..." if len(new) > _SHOWN else "")
        detail = f"{len(new)} value(s) not in allowed: {shown} ({o.failures} row(s)){level}"
        return Finding(kind, o.frame, col, detail, {"allowed": allowed + new} if new else {})
    what = f"{o.check}: {o.failures} failure(s), e.g. {', '.join(map(repr, o.values))}"
    return Finding(kind, o.frame, col, what + level)


def _retype(s: pd.Series, spec: Mapping[str, Any], margin: float) -> dict[str, Any]:
    """What accepting a type change writes: the new type, every check the new type cannot carry
    removed (``REMOVE``), and the new type's own checks inferred from the data where the old
    entry had one of the same kind (``min: 0, max: 110000`` on a column now text becomes its
    ``regex`` or ``allowed``). ``warn`` loses the names of removed checks."""
    inferred, seen = infer_column(s, margin=margin)
    family = seen.family
    change: dict[str, Any] = {"type": family} if family else {"type": REMOVE}
    dropped = [k for k in spec if k in COLUMN_CHECKS and k != "type" and not check_fits(family, k)]
    if family is None:  # lists, mixed, ...: keep only what fits any column
        dropped = [k for k in spec if k in COLUMN_CHECKS and k not in ("type", "nullable", "unique")]
    for k in dropped:
        change[k] = REMOVE
    if dropped:  # the value checks of the new type take their place
        for k, v in inferred.items():
            if k not in ("type", "nullable", "unique") and k not in spec:
                change[k] = v
    warn = spec.get("warn")
    if isinstance(warn, (list, str)) and dropped:
        names = [warn] if isinstance(warn, str) else list(warn)
        kept = [w for w in names if w not in dropped]
        if kept != names:
            change["warn"] = kept or REMOVE
    return change


@dataclass
class Merge:
    """The result of ``merge_rules``: the new text, every finding, and the findings merged into it."""

    text: str
    findings: list[Finding]
    applied: list[Finding]

    @property
    def pending(self) -> list[Finding]:
        """Findings not merged (not accepted, or report-only)."""
        return [f for f in self.findings if f not in self.applied]


def merge_rules(
    existing_text: str,
    frames: Mapping[str, pd.DataFrame],
    *,
    accept: Collection[str] | str = (),
    margin: float = 0.1,
    max_categories: int = 20,
    path: str | Path | None = None,
) -> Merge:
    """Re-infer ``frames`` against an existing rules file's text without overwriting its edits.

    The new data is compared with the existing rules (``drift``); with ``accept`` (finding kinds,
    or "all") the findings of those kinds that carry a change are merged into the text. ``path``
    only names the file in errors."""
    kinds = set(KINDS) if accept == "all" else {accept} if isinstance(accept, str) else set(accept)
    unknown = sorted(kinds - set(KINDS))
    if unknown:
        raise ValueError(f"accept: unknown finding kind(s) {unknown}; expected some of {', '.join(KINDS)} or 'all'")
    rules = parse_rules(existing_text, path)
    findings = drift(rules, frames, margin=margin, max_categories=max_categories)
    applied = [f for f in findings if f.change and f.kind in kinds and f.kind in MERGEABLE]
    text = _apply(existing_text, applied, frames, path) if applied else existing_text
    return Merge(text, findings, applied)


def _apply(text: str, applied: list[Finding], frames: Mapping[str, pd.DataFrame], path: str | Path | None) -> str:
    label = f"rules file {path}" if path is not None else "rules"
    # in phases, re-reading positions after each, so that no two edits overlap
    data, nodes = _parse_yaml(text, label)
    changes: dict[tuple[str, str], dict[str, Any]] = {}
    for f in applied:
        if f.kind not in ("new_frame", "new_column"):
            changes.setdefault((f.frame, f.column), {}).update(f.change)
    edits = []
    for (frame, column), change in changes.items():
        path = (frame, "columns", column)
        if any(v is REMOVE for v in change.values()):  # the entry is rewritten whole, in flow style
            old = dict(((data[frame] or {}).get("columns") or {}).get(column) or {})
            spec = {k: change.get(k, v) for k, v in old.items()} | {k: v for k, v in change.items() if k not in old}
            edits.append(_set_entry(text, nodes, path, {k: v for k, v in spec.items() if v is not REMOVE}))
        else:
            edits += [_set_key(text, nodes, path, key, value) for key, value in change.items()]
    text = _edit(text, edits)
    if changes:  # what was observed has changed: so does the comment on each changed entry
        _, nodes = _parse_yaml(text, label)
        text = _edit(
            text,
            [
                e
                for frame, column in changes
                if frame in frames and column in frames[frame].columns
                for e in [_recomment(text, nodes, (frame, "columns", column), observe(frames[frame][column]))]
                if e is not None
            ],
        )
    new_columns: dict[str, list[Finding]] = {}
    for f in applied:
        if f.kind == "new_column":
            new_columns.setdefault(f.frame, []).append(f)
    if new_columns:
        data, nodes = _parse_yaml(text, label)
        edits = []
        for frame, found in new_columns.items():
            observed = {f.column: observe(frames[frame][f.column]) for f in found}
            specs = {f.column: f.change["spec"] for f in found}
            edits.append(_add_columns(text, data, nodes, frame, specs, observed))
        text = _edit(text, edits)
    for f in applied:
        if f.kind == "new_frame":
            block = "\n".join(frame_lines(f.frame, f.change["rules"], frames[f.frame]))
            text = (text if text.endswith("\n") or not text else text + "\n") + block + "\n"
    try:
        data, new_nodes = _parse_yaml(text, label)
        _schemas(data, _Where(label, new_nodes))
    except RulesError as exc:  # a bug here must not leave a broken file behind
        raise RuntimeError(f"merge_rules produced invalid rules: {exc}\n{text}") from exc
    return text


def _edit(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (start, end, replacement) edits, given as positions in ``text``."""
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _end(node: yaml.Node) -> int:
    """Where a node's own text ends (block collections' end marks run on to the next token)."""
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        return _end(last[1] if isinstance(last, tuple) else last)
    return node.end_mark.index


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def _set_key(text: str, nodes, column_path: tuple[str, ...], key: str, value: Any) -> tuple[int, int, str]:
    entry = nodes.get((*column_path, key))
    if entry is not None:  # replace just the value: the rest of the line (and file) stays
        key_node, node = entry
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style:
            # a block list becomes a flow list on the key's line
            return text.index(":", key_node.end_mark.index) + 1, _end(node), " " + dump_value(value)
        return node.start_mark.index, _end(node), dump_value(value)
    mapping = nodes[column_path][1]
    if isinstance(mapping, yaml.MappingNode) and mapping.flow_style:
        close = mapping.end_mark.index - 1  # the closing brace
        sep = ", " if mapping.value else ""
        return close, close, f"{sep}{key}: {dump_value(value)}"
    if isinstance(mapping, yaml.MappingNode) and mapping.value:
        indent = mapping.value[0][0].start_mark.column
        at = _line_end(text, _end(mapping))
        return at, at, "\n" + " " * indent + f"{key}: {dump_value(value)}"
    # an empty entry (`col:`): give it a flow mapping
    at = mapping.start_mark.index
    return at, _end(mapping), f"{{{key}: {dump_value(value)}}}"


def _set_entry(text: str, nodes, column_path: tuple[str, ...], spec: Mapping[str, Any]) -> tuple[int, int, str]:
    """Replace a column's whole entry by ``spec`` in flow style (on the key's line)."""
    key_node, node = nodes[column_path]
    if isinstance(node, yaml.MappingNode) and node.flow_style:
        return node.start_mark.index, _end(node), dump_value(dict(spec))
    after_colon = text.index(":", key_node.end_mark.index) + 1
    end = _end(node) if isinstance(node, yaml.MappingNode) and node.value else after_colon
    return after_colon, end, " " + dump_value(dict(spec))


_OBSERVATION = re.compile(r"[ \t]*#[ \t]*\d+ rows, [^\n]*")


def _recomment(text: str, nodes, column_path: tuple[str, ...], seen) -> tuple[int, int, str] | None:
    """The edit that replaces an entry's ``# N rows, ...`` comment (on its line) with ``seen``."""
    entry = nodes.get(column_path)
    if entry is None:
        return None
    end = _end(entry[1])
    found = _OBSERVATION.match(text, end, _line_end(text, end))
    if found is None:
        return None
    return found.start(), found.end(), f"  # {seen}"


def _add_columns(text: str, data, nodes, frame: str, specs: dict, observed: dict) -> tuple[int, int, str]:
    frame_node = nodes[(frame,)][1]
    columns = nodes.get((frame, "columns"))
    node = columns[1] if columns is not None else None
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:  # the usual layout
        indent = node.value[0][0].start_mark.column
        at = _line_end(text, _end(node))
        # line the new entries' checks up with the last entry's
        width = node.value[-1][1].start_mark.column - indent - 1
        return at, at, "\n" + "\n".join(column_lines(specs, indent, observed, width))
    if columns is not None:  # `columns: {...}` or an empty `columns:`: the value becomes a block
        key_node = columns[0]
        after_colon = text.index(":", key_node.end_mark.index) + 1
        end = _end(node) if isinstance(node, yaml.MappingNode) else after_colon
        existing = {str(k): v for k, v in (data[frame].get("columns") or {}).items()}
        lines = column_lines({**existing, **specs}, key_node.start_mark.column + 2, observed)
        return after_colon, end, "\n" + "\n".join(lines)
    if isinstance(frame_node, yaml.MappingNode) and not frame_node.flow_style and frame_node.value:
        indent = frame_node.value[0][0].start_mark.column
        at = _line_end(text, _end(frame_node))
        lines = [" " * indent + "columns:", *column_lines(specs, indent + 2, observed)]
        return at, at, "\n" + "\n".join(lines)
    raise RulesError(f"rules: {frame}: cannot add columns to this entry's layout; add them by hand")
