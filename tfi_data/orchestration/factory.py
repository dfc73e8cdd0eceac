"""Factory: one PipelineDetails -> one Dagster job.

    pre_ingest -> [check_sources] -> load_<source> (one op per source) -> validate -> transform
               -> check_<table> -> export_<table> (one op per export) -> post_ingest -> [record_sources]

``pre_ingest``/``post_ingest`` exist when the details declare them, ``transform`` when they
declare a transformer, ``validate`` when rules name a source, ``check_<table>`` when rules name
the frame an export writes, ``check_sources``/``record_sources`` with ``skip_unchanged``.
Deterministic: same details, same job snapshot, in every process.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd

from tfi_data.details import Export, PipelineDetails, Source
from tfi_data.loader.fingerprint import same_content
from tfi_data.transformer import export_key, transform
from tfi_data.validation import (
    Enforced,
    RulesPlan,
    ValidationFailed,
    Validator,
    drift,
    enforce,
    plan_rules,
    rejected_records,
)


def table_asset_key(export: Export) -> dg.AssetKey:
    return dg.AssetKey(["tables", *([export.schema] if export.schema else []), export.table])


def source_asset_key(details: PipelineDetails, source: Source) -> dg.AssetKey:
    return dg.AssetKey(["sources", details.name, source.name])


def _op(
    details: PipelineDetails, node: str, fn: Any, ins: Mapping[str, dg.In], outs: Mapping[str, dg.Out], **kw: Any
) -> dg.OpDefinition:
    """An op calling ``fn(context, **inputs)``. A generator yields its own events; otherwise the
    return value becomes the single output (none for a Nothing output)."""
    single = next(iter(outs)) if len(outs) == 1 else None

    def compute(context, inputs: Mapping[str, Any]) -> Iterator[Any]:
        result = fn(context, **inputs)
        if inspect.isgenerator(result):
            yield from result
        elif single is not None:
            yield dg.Output(None if outs[single].dagster_type.is_nothing else result, single)

    name = f"{details.name}__{node}"
    return dg.OpDefinition(compute_fn=compute, name=name, ins=dict(ins), outs=dict(outs), **kw)


def build_job(details: PipelineDetails, resources: Mapping[str, Any] | None = None) -> dg.JobDefinition:
    """The job of one pipeline; ``resources`` binds them to the job itself (else Definitions does)."""
    # Node name -> op. Op definition names must be unique in a code location, so they carry the
    # pipeline's name; the nodes keep the short names the design uses (load_x, validate, ...).
    nodes: dict[str, dg.OpDefinition] = {}
    deps: dict[str, dict[str, dg.DependencyDefinition]] = {}
    names = [s.name for s in details.sources]
    keys = {export_key(e): e for e in details.exports}
    if len(keys) != len(details.exports):
        raise ValueError(f"pipeline {details.name!r}: two exports map to the same op name")

    if details.pre_ingest is not None:

        def pre_ingest(context):
            details.pre_ingest()

        nodes["pre_ingest"] = _op(details, "pre_ingest", pre_ingest, {}, {"done": dg.Out(dg.Nothing)})

    gate = "pre_ingest" if details.pre_ingest is not None else None
    if details.skip_unchanged:

        def check_sources(context):
            loader = context.resources.loader
            current, last = loader.current_files(details), loader.last_success(details)
            unchanged = current is not None and last is not None and sorted(current) == sorted(last)
            if unchanged and all(same_content(current[n], last[n]) for n in current):
                context.log.info("every source is unchanged since the last successful run: skipping")
                return  # no output: every later step is skipped
            yield dg.Output(current or {}, "sources")

        nodes["check_sources"] = _op(
            details,
            "check_sources",
            check_sources,
            {"after": dg.In(dg.Nothing)} if gate else {},
            {"sources": dg.Out(dict, is_required=False)},
            required_resource_keys={"loader"},
        )
        if gate:
            deps["check_sources"] = {"after": dg.DependencyDefinition(gate, "done")}
        gate = "check_sources"

    for source in details.sources:
        nodes[f"load_{source.name}"] = _load_op(details, source, gated=gate is not None)
        if gate:
            output = "sources" if gate == "check_sources" else "done"
            deps[f"load_{source.name}"] = {"after": dg.DependencyDefinition(gate, output)}

    plan = plan_rules(details.rules, names, [e.frame_name for e in details.exports], resolve=details.resolve)
    # Where each frame comes from after each optional step.
    upstream = {n: (f"load_{n}", "result") for n in names}
    if plan.sources:
        checked = sorted(plan.sources)

        def validate(context, **frames):
            result = enforce(Validator(plan.sources), {n: frames[n] for n in checked}, details.on_invalid)
            yield from _rejected(context, details, result)
            _log_report(context, result)
            if result.stop:
                raise ValidationFailed(result.report.records(), result=result.report)
            for name in names:
                yield dg.Output(result.frames.get(name, frames[name]), name)

        nodes["validate"] = _op(
            details,
            "validate",
            validate,
            {n: dg.In() for n in names},
            {n: dg.Out() for n in names},
            required_resource_keys={"database"},
        )
        deps["validate"] = {n: dg.DependencyDefinition(*upstream[n]) for n in names}
        upstream = {n: ("validate", n) for n in names}

    if details.transformer is not None:

        def transform_op(context, **frames):
            for key, frame in transform(details, frames).items():
                yield dg.Output(frame, key)

        nodes["transform"] = _op(
            details, "transform", transform_op, {n: dg.In() for n in names}, {k: dg.Out() for k in keys}
        )
        deps["transform"] = {n: dg.DependencyDefinition(*upstream[n]) for n in names}
        frame_of = {k: ("transform", k) for k in keys}
    else:
        frame_of = {k: upstream[names[0]] for k in keys}

    checks = []
    for key, export in keys.items():
        if export.frame_name in plan.exports:
            nodes[f"check_{key}"] = _check_op(details, key, export, plan)
            deps[f"check_{key}"] = {"frame": dg.DependencyDefinition(*frame_of[key])}
            frame_of[key] = (f"check_{key}", "result")
            checks.append(f"check_{key}")
    for key, export in keys.items():
        # No export starts before every table's checks are done: invalid data stops them all.
        others = [c for c in checks if c != f"check_{key}"]
        nodes[f"export_{key}"] = _export_op(details, key, export, after=others)
        deps[f"export_{key}"] = {
            "frame": dg.DependencyDefinition(*frame_of[key]),
            **{f"after_{c}": dg.DependencyDefinition(c, "result") for c in others},
        }

    if details.post_ingest is not None:

        def post_ingest(context, **results):
            details.post_ingest({keys[k].qualified_name: r for k, r in results.items()})

        nodes["post_ingest"] = _op(
            details, "post_ingest", post_ingest, {k: dg.In() for k in keys}, {"done": dg.Out(dg.Nothing)}
        )
        deps["post_ingest"] = {k: dg.DependencyDefinition(f"export_{k}", "result") for k in keys}

    if details.skip_unchanged:

        def record_sources(context, sources):
            context.resources.loader.remember(details, sources)

        last = ["post_ingest"] if details.post_ingest is not None else [f"export_{k}" for k in keys]
        nodes["record_sources"] = _op(
            details,
            "record_sources",
            record_sources,
            {"sources": dg.In(dict), **{f"after_{n}": dg.In(dg.Nothing) for n in last}},
            {},
            required_resource_keys={"loader"},
        )
        deps["record_sources"] = {
            "sources": dg.DependencyDefinition("check_sources", "sources"),
            **{f"after_{n}": dg.DependencyDefinition(n, "done" if n == "post_ingest" else "result") for n in last},
        }

    graph = dg.GraphDefinition(
        name=details.name,
        node_defs=list(nodes.values()),
        dependencies={dg.NodeInvocation(op.name, alias=node): deps.get(node, {}) for node, op in nodes.items()},
        description=details.description,
    )
    return graph.to_job(tags={"tfi_data/pipeline": details.name}, resource_defs=dict(resources or {}))


def _load_op(details: PipelineDetails, source: Source, *, gated: bool) -> dg.OpDefinition:
    def load(context, **_after):
        frame, fingerprint = context.resources.loader.load(details, source)
        context.log_event(
            dg.AssetObservation(
                asset_key=source_asset_key(details, source),
                metadata={
                    "rows": len(frame),
                    "columns": len(frame.columns),
                    "kind": source.kind,
                    "fingerprint": dg.MetadataValue.json(fingerprint),
                },
            )
        )
        return frame

    return _op(
        details,
        f"load_{source.name}",
        load,
        {"after": dg.In(dg.Nothing)} if gated else {},
        {"result": dg.Out(pd.DataFrame)},
        required_resource_keys={"loader"},
        description=f"Read {source.kind} source {source.name!r}",
    )


def _check_op(details: PipelineDetails, key: str, export: Export, plan: RulesPlan) -> dg.OpDefinition:
    """Check the frame going into one table: asset checks ``rules`` and ``schema_drift`` on the
    table, quarantined rows to the rejected table, and the run stopped when the policy says so."""
    name = export.frame_name
    schema = plan.exports[name]

    def check(context, frame):
        result = enforce(Validator({name: schema}), {name: frame}, details.on_invalid)
        yield from _rejected(context, details, result)
        _log_report(context, result)
        report = result.report
        failed = report.failures
        yield dg.AssetCheckEvaluation(
            asset_key=table_asset_key(export),
            check_name="rules",
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if report.errors else dg.AssetCheckSeverity.WARN,
            metadata={
                "errors": len(report.errors),
                "warnings": len(report.warnings),
                "checks": len(report.outcomes),
                "rows": len(frame),
                "rejected_rows": result.rejected_rows,
                "on_invalid": details.on_invalid,
                "failures": dg.MetadataValue.md(failures_markdown(report)),
            },
        )
        if plan.mapping is not None:
            findings = drift(plan.mapping, {name: frame})
            yield dg.AssetCheckEvaluation(
                asset_key=table_asset_key(export),
                check_name="schema_drift",
                passed=not findings,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "findings": len(findings),
                    "drift": dg.MetadataValue.md("\n".join(f"- {f}" for f in findings) or "no drift"),
                },
            )
        if result.stop:
            raise ValidationFailed(report.records(), result=report)
        yield dg.Output(result.frames[name], "result")

    return _op(
        details,
        f"check_{key}",
        check,
        {"frame": dg.In(pd.DataFrame)},
        {"result": dg.Out(pd.DataFrame)},
        required_resource_keys={"database"},
        description=f"Check the rules of {name!r} before it goes into {export.qualified_name}",
    )


def _rejected(context, details: PipelineDetails, result: Enforced) -> Iterator[Any]:
    """Append quarantined rows to the pipeline's rejected table, in the export database."""
    if not result.rejected:
        return
    frames = [rejected_records(details.name, context.run_id, n, r) for n, r in sorted(result.rejected.items())]
    table = Export(table=details.rejected_table, mode="append")
    written = context.resources.database.exporter().export(pd.concat(frames, ignore_index=True), table)
    context.log.warning(f"{written.inserted} invalid row(s) set aside in {details.rejected_table!r}")
    yield dg.AssetMaterialization(
        asset_key=dg.AssetKey(["tables", details.rejected_table]),
        metadata={"inserted": written.inserted, "dagster/row_count": written.rows_in_table},
    )


def _log_report(context, result: Enforced) -> None:
    if result.report.failures:
        context.log.warning(str(result.report))


def failures_markdown(report: Any) -> str:
    rows = report.failures
    if not rows:
        return f"all {len(report.outcomes)} checks passed"
    lines = ["| level | column | check | failures | sample |", "|---|---|---|---|---|"]
    for o in rows:
        sample = ", ".join(repr(v) for v in o.values)[:80]
        lines.append(f"| {o.level} | {o.column or '(table)'} | {o.rule} | {o.failures} | {sample} |")
    return "\n".join(lines)


def _export_op(details: PipelineDetails, key: str, export: Export, after: Sequence[str] = ()) -> dg.OpDefinition:
    def export_fn(context, frame, **_after):
        exporter = context.resources.database.exporter()
        dry_run = context.op_config["dry_run"]
        result = exporter.plan(frame, export) if dry_run else exporter.export(frame, export)
        metadata = {
            "dagster/row_count": result.rows_in_table,
            "inserted": result.inserted,
            "updated": result.updated,
            "deleted": result.deleted,
            "unchanged": result.unchanged,
            "mode": export.mode,
            "dry_run": dry_run,
            "duration_s": dg.MetadataValue.float(result.duration_s),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(str(c), str(t)) for c, t in frame.dtypes.items()]
            ),
            "preview": dg.MetadataValue.md(preview_markdown(result.preview)),
        }
        # Only a write materializes the table; a plan is an observation of what would change.
        event = dg.AssetObservation if dry_run else dg.AssetMaterialization
        yield event(asset_key=table_asset_key(export), metadata=metadata)
        yield dg.Output(result.to_dict())

    return _op(
        details,
        f"export_{key}",
        export_fn,
        {"frame": dg.In(pd.DataFrame), **{f"after_{c}": dg.In(dg.Nothing) for c in after}},
        {"result": dg.Out(dict)},
        required_resource_keys={"database"},
        config_schema={
            "dry_run": dg.Field(bool, default_value=False, description="Plan only: report the counts, write nothing")
        },
        description=f"{export.mode} into {export.qualified_name}",
    )


def preview_markdown(preview: Mapping[str, list[dict]]) -> str:
    """A small markdown table of sample keys per change kind."""
    rows = [(kind, keys) for kind in ("inserted", "updated", "deleted") for keys in preview.get(kind, [])]
    if not rows:
        return "no changes"
    columns = list(rows[0][1])
    lines = ["| change | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {kind} | " + " | ".join(str(k.get(c)) for c in columns) + " |" for kind, k in rows]
    return "\n".join(lines)
