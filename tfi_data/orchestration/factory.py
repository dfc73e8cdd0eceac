"""Factory: one PipelineDetails -> graph-backed assets, one per exported table, whose
materialization is the pipeline's graph of ops:

    pre_ingest -> [check_sources] -> load_<source> (one op per source) -> [validate] -> [transform]
               -> [check_<table>] -> export_<table> (one op per export) -> publish

``pre_ingest`` exists when the details declare it, ``check_sources`` with ``skip_unchanged``,
``validate`` when rules name a source, ``transform`` with a transformer, ``check_<table>`` when
rules name the frame an export writes. ``publish`` records each table's materialization, then
runs ``post_ingest`` and remembers the sources' fingerprints. The tables' ``rules`` and
``schema_drift`` checks are check specs of the assets, evaluated by ``check_<table>``.
Deterministic: same details, same definitions, in every process.
"""

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from tfi_data import cache
from tfi_data.details import Export, PipelineDetails, Source
from tfi_data.loader.fingerprint import same_content
from tfi_data.transformer import transform
from tfi_data.validation import (
    Enforced,
    RulesPlan,
    ValidationFailed,
    Validator,
    apply_verdict,
    column_types,
    drift,
    enforce,
    plan_rules,
    rejected_records,
)

# Loads that reach over the network get Dagster retries on top of the readers' own.
_RETRIED_KINDS = ("http", "sql")
_LOAD_RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL)
CHECK_NAMES = ("rules", "schema_drift")
# Dagster kinds of the databases exports write into, by SQLAlchemy dialect name.
DATABASE_KINDS = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mysql"}


class DryRun(dg.Config):
    """Config of every step that writes (validate, export_<table>)."""

    dry_run: bool = False  # plan only: report the counts, write nothing anywhere


def table_asset_key(export: Export) -> dg.AssetKey:
    return dg.AssetKey(["tables", *([export.schema] if export.schema else []), export.table])


def source_asset_key(details: PipelineDetails, source: Source) -> dg.AssetKey:
    """``sources/<pipeline>`` for a pipeline's one source named like it, else
    ``sources/<pipeline>/<source>``: keys that do not repeat a name."""
    if len(details.sources) == 1 and source.name == details.name:
        return dg.AssetKey(["sources", details.name])
    return dg.AssetKey(["sources", details.name, source.name])


def graph_name(details: PipelineDetails) -> str:
    """The graph's name (the job carries the pipeline's own); its steps are ``<graph>.<node>``."""
    return f"{details.name}__pipeline"


def pool_name(export: Export) -> str:
    """The concurrency pool of the steps that write one table: one at a time across runs."""
    return f"tfi_table_{export.key}"


@dataclass(frozen=True)
class PipelineAssets:
    """What one pipeline contributes to a code location."""

    details: PipelineDetails
    plan: RulesPlan
    tables: dg.AssetsDefinition
    checks: dg.AssetChecksDefinition | None  # the tables' rules and schema_drift checks
    sources: list[dg.AssetSpec]
    job: Any  # the asset job selecting the tables (dagster.define_asset_job)


def build_pipeline(
    details: PipelineDetails, plan: RulesPlan | None = None, *, database_kind: str | None = None
) -> PipelineAssets:
    """The assets, source specs and job of one pipeline. ``plan``: its rules, if already parsed."""
    if plan is None:
        plan = pipeline_rules(details)
    graph, outputs, inputs, frames = _graph(details, plan)
    sources = [
        dg.AssetSpec(
            source_asset_key(details, s),
            group_name=details.name,
            kinds={s.kind},
            description=f"{s.kind} source {s.name!r} of pipeline {details.name!r}: {_shown(s)}",
        )
        for s in details.sources
    ]
    by_output = {out: table_asset_key(e) for out, e in outputs.items()}
    tables = dg.AssetsDefinition.from_graph(
        graph,
        keys_by_input_name={n: source_asset_key(details, s) for n, s in inputs.items()},
        keys_by_output_name=by_output,
        group_name=details.name,
        descriptions_by_output_name={
            out: f"{e.mode} of pipeline {details.name!r} into {e.qualified_name}"
            + (f": {details.description}" if details.description else "")
            for out, e in outputs.items()
        },
        metadata_by_output_name={out: _table_metadata(e, plan) for out, e in outputs.items()},
        tags_by_output_name={out: dict(details.tags) for out in outputs},
        owners_by_output_name={out: list(details.owners) for out in outputs} if details.owners else None,
        can_subset=True,
    )
    kinds = {"pandas", *([database_kind] if database_kind else [])}
    tables = tables.map_asset_specs(lambda spec: spec.replace_attributes(kinds=kinds))
    job = dg.define_asset_job(
        name=details.name,
        # the checks are evaluated by the graph's check step: their own op has nothing to add here
        selection=dg.AssetSelection.assets(tables).without_checks(),
        description=details.description,
        executor_def=dg.multiprocess_executor if details.executor == "multiprocess" else dg.in_process_executor,
        tags={"tfi_data/pipeline": details.name},
    )
    return PipelineAssets(details, plan, tables, _table_checks(details, plan, frames), sources, job)


def pipeline_rules(details: PipelineDetails) -> RulesPlan:
    """The pipeline's rules, parsed once: where each frame's rules apply."""
    return plan_rules(
        details.rules,
        [s.name for s in details.sources],
        [e.frame_name for e in details.exports],
        resolve=details.resolve,
    )


_CHECK_DESCRIPTIONS = {
    "rules": "The rules file's checks on the data written into this table (evaluated before the export)",
    "schema_drift": "New or missing columns, type changes, values outside the rules' ranges or categories",
}


def _check_names(plan: RulesPlan) -> tuple[str, ...]:
    return CHECK_NAMES if plan.mapping is not None else ("rules",)


def _shown(source: Source) -> str:
    # An HTTP or SQL location may carry credentials: show only its kind's safe part.
    if source.kind == "http":
        from tfi_data.loader.readers.http import redact_url

        return redact_url(source.location)
    if source.kind == "sql":
        return "query" if " " in source.location.strip() else source.location
    return source.location


def _table_metadata(export: Export, plan: RulesPlan) -> dict[str, Any]:
    meta: dict[str, Any] = {"dagster/table_name": export.qualified_name, "mode": export.mode}
    if export.keys:
        meta["keys"] = ", ".join(export.keys)
    columns = ((plan.mapping or {}).get(export.frame_name) or {}).get("columns") or {}
    if columns:  # the rules' types until a materialization reports the database's
        meta["dagster/column_schema"] = dg.TableSchema(
            columns=[dg.TableColumn(str(name), str((spec or {}).get("type", "any"))) for name, spec in columns.items()]
        )
    return meta


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

    # Op names must be unique in a code location: they carry the pipeline's name; the nodes keep
    # the short names the design uses (load_x, validate, ...).
    return dg.OpDefinition(compute_fn=compute, name=f"{details.name}__{node}", ins=dict(ins), outs=dict(outs), **kw)


def _graph(
    details: PipelineDetails, plan: RulesPlan
) -> tuple[dg.GraphDefinition, dict[str, Export], dict[str, Source], dict[str, tuple[str, str]]]:
    """The graph, its asset outputs (output name -> export), inputs (input name -> source), and
    the step output that holds the frame each export writes (export key -> (node, output))."""
    nodes: dict[str, dg.OpDefinition] = {}
    deps: dict[str, dict[str, Any]] = {}
    names = [s.name for s in details.sources]
    keys = {e.key: e for e in details.exports}  # distinct: PipelineDetails checks it
    outputs = {f"table_{k}": e for k, e in keys.items()}
    inputs = {f"source_{s.name}": s for s in details.sources}

    gate: tuple[str, str] | None = None
    if details.pre_ingest is not None:

        def pre_ingest(context):
            details.pre_ingest()

        nodes["pre_ingest"] = _op(details, "pre_ingest", pre_ingest, {}, {"done": dg.Out(dg.Nothing)})
        gate = ("pre_ingest", "done")

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
            deps["check_sources"] = {"after": dg.DependencyDefinition(*gate)}
        gate = ("check_sources", "sources")

    for input_name, source in inputs.items():
        node = f"load_{source.name}"
        nodes[node] = _load_op(details, source, gated=gate is not None)
        deps[node] = {"source": input_name}
        if gate:
            deps[node]["after"] = dg.DependencyDefinition(*gate)

    # Where each frame comes from after each optional step.
    upstream = {n: (f"load_{n}", "result") for n in names}
    if plan.sources:
        nodes["validate"] = _validate_op(details, plan)
        deps["validate"] = {n: dg.DependencyDefinition(*upstream[n]) for n in names}
        upstream = {n: ("validate", n) for n in names}

    if details.transformer is not None:

        def transform_op(context, **frames):
            for key, frame in transform(details, frames).items():
                yield dg.Output(frame, f"frame_{key}")

        nodes["transform"] = _op(
            details,
            "transform",
            transform_op,
            {n: dg.In() for n in names},
            {f"frame_{k}": dg.Out(pd.DataFrame) for k in keys},
        )
        deps["transform"] = {n: dg.DependencyDefinition(*upstream[n]) for n in names}
        frame_of = {k: ("transform", f"frame_{k}") for k in keys}
    else:
        frame_of = {k: upstream[names[0]] for k in keys}

    checks: dict[str, str] = {}  # export key -> its check node
    for key, export in keys.items():
        if export.frame_name in plan.exports:
            nodes[f"check_{key}"] = _check_op(details, export, plan)
            deps[f"check_{key}"] = {"frame": dg.DependencyDefinition(*frame_of[key])}
            checks[key] = f"check_{key}"
    for key, export in keys.items():
        # No export starts before every table's checks are done: invalid data stops them all.
        others = [c for k, c in sorted(checks.items()) if k != key]
        node = f"export_{key}"
        nodes[node] = _export_op(details, export, plan, checked=key in checks, after=others)
        deps[node] = {
            "frame": dg.DependencyDefinition(*frame_of[key]),
            **({"verdict": dg.DependencyDefinition(checks[key], "verdict")} if key in checks else {}),
            **{f"after_{c}": dg.DependencyDefinition(c, "verdict") for c in others},
        }

    nodes["publish"] = _publish_op(details, keys, outputs)
    deps["publish"] = {f"export_{k}": dg.DependencyDefinition(f"export_{k}", "result") for k in keys}
    if details.skip_unchanged:
        deps["publish"]["sources"] = dg.DependencyDefinition("check_sources", "sources")

    graph_outputs = [dg.OutputMapping(o, "publish", o) for o in outputs]
    graph = dg.GraphDefinition(
        name=graph_name(details),
        node_defs=list(nodes.values()),
        dependencies={
            dg.NodeInvocation(op.name, alias=node): {
                name: d for name, d in deps.get(node, {}).items() if not isinstance(d, str)
            }
            for node, op in nodes.items()
        },
        input_mappings=[
            dg.InputMapping(graph_input_name=d, mapped_node_name=node, mapped_node_input_name=name)
            for node in nodes
            for name, d in deps.get(node, {}).items()
            if isinstance(d, str)
        ],
        output_mappings=graph_outputs,
        description=details.description,
    )
    return graph, outputs, inputs, frame_of


def _load_op(details: PipelineDetails, source: Source, *, gated: bool) -> dg.OpDefinition:
    def load(context, **_after):
        frame, fingerprint = context.resources.loader.load(details, source)
        context.log_event(
            dg.AssetObservation(
                asset_key=source_asset_key(details, source),
                metadata={
                    "dagster/row_count": len(frame),
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
        {"source": dg.In(dg.Nothing), **({"after": dg.In(dg.Nothing)} if gated else {})},
        {"result": dg.Out(pd.DataFrame)},
        required_resource_keys={"loader"},
        description=f"Read {source.kind} source {source.name!r}",
        retry_policy=_LOAD_RETRY if source.kind in _RETRIED_KINDS else None,
    )


def _validate_op(details: PipelineDetails, plan: RulesPlan) -> dg.OpDefinition:
    """Rules named after sources, checked as loaded (before the transformer)."""
    names = [s.name for s in details.sources]
    checked = sorted(plan.sources)
    validator = Validator(plan.sources)

    def validate(context, config: DryRun, **frames):
        result = enforce(validator, {n: frames[n] for n in checked}, details.on_invalid)
        _log_report(context, result)
        if result.stop:
            raise ValidationFailed(result.report.records(), result=result.report)
        for name, rejected in sorted(result.rejected.items()):
            yield from _set_aside(context, details, name, rejected, dry_run=config.dry_run)
        for name in names:
            yield dg.Output(result.frames.get(name, frames[name]), name)

    # dg.op reads the config class from the function's signature
    return dg.op(
        name=f"{details.name}__validate",
        ins={n: dg.In() for n in names},
        out={n: dg.Out(pd.DataFrame) for n in names},
        required_resource_keys={"database"},
        description=f"Check the sources {checked} against their rules",
    )(validate)


def _check_op(details: PipelineDetails, export: Export, plan: RulesPlan) -> dg.OpDefinition:
    """Evaluate the table's ``rules`` and ``schema_drift`` checks on the frame going into it, in
    one validation pass, and pass on a verdict (the rows quarantine sets aside) that gates the
    exports. The evaluations are those of the table's asset checks (``_table_checks``)."""
    name = export.frame_name
    validator = Validator({name: plan.exports[name]})

    def check(context, frame):
        result = enforce(validator, {name: frame}, details.on_invalid)
        _log_report(context, result)
        yield from _evaluations(details, plan, export, frame, result)
        if result.stop:
            raise ValidationFailed(result.report.records(), result=result.report)
        yield dg.Output(result.verdict(name), "verdict")

    return _op(
        details,
        f"check_{export.key}",
        check,
        {"frame": dg.In(pd.DataFrame)},
        {"verdict": dg.Out(pd.DataFrame)},
        description=f"Check the rules of {name!r} before it goes into {export.qualified_name}",
    )


def _evaluations(
    details: PipelineDetails, plan: RulesPlan, export: Export, frame: pd.DataFrame, result: Enforced, **extra: Any
) -> list[dg.AssetCheckEvaluation]:
    """The table's check evaluations from one validation: ``rules`` and (with a rules file)
    ``schema_drift``, the latter from the same report."""
    key, report = table_asset_key(export), result.report
    out = [
        dg.AssetCheckEvaluation(
            asset_key=key,
            check_name="rules",
            passed=not report.failures,
            # WARN only when warnings alone failed; a pass keeps the rules' own severity
            severity=dg.AssetCheckSeverity.WARN
            if report.failures and not report.errors
            else dg.AssetCheckSeverity.ERROR,
            metadata={
                "errors": len(report.errors),
                "warnings": len(report.warnings),
                "checks": len(report.outcomes),
                "rows": len(frame),
                "rejected_rows": result.rejected_rows,
                "on_invalid": details.on_invalid,
                "failures": dg.MetadataValue.md(failures_markdown(report)),
                **extra,
            },
        )
    ]
    if plan.mapping is not None:
        findings = drift(plan.mapping, {export.frame_name: frame}, report=report)
        out.append(
            dg.AssetCheckEvaluation(
                asset_key=key,
                check_name="schema_drift",
                passed=not findings,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "findings": len(findings),
                    "drift": dg.MetadataValue.md("\n".join(f"- {f}" for f in findings) or "no drift"),
                    **extra,
                },
            )
        )
    return out


def _table_checks(
    details: PipelineDetails, plan: RulesPlan, frames: Mapping[str, tuple[str, str]]
) -> dg.AssetChecksDefinition | None:
    """The tables' ``rules`` and ``schema_drift`` asset checks, each executable on its own from
    the UI. A materialization evaluates them in its ``check_<table>`` step, before the export
    (this op then finds them evaluated in its run and does nothing more). Launched alone, a check
    validates the frame the table's last materialization exported, read from the cache (the
    rules as they are now, on the data as it was written); when that run's cache is gone, the
    table's current rows, read from the database."""
    checked = [e for e in details.exports if e.frame_name in plan.exports]
    if not checked:
        return None
    specs = [
        dg.AssetCheckSpec(
            name,
            asset=table_asset_key(e),
            blocking=name == "rules" and details.on_invalid == "fail",
            description=_CHECK_DESCRIPTIONS[name],
        )
        for e in checked
        for name in _check_names(plan)
    ]

    @dg.multi_asset_check(
        specs=specs,
        name=f"{details.name}__table_checks",
        can_subset=True,
        required_resource_keys={"database", "loader"},
        description=f"The rules of pipeline {details.name!r} on its tables",
    )
    def table_checks(context: dg.AssetCheckExecutionContext):
        done = _evaluated_in_run(context)
        for export in checked:
            key = table_asset_key(export)
            wanted = {k.name for k in context.selected_asset_check_keys if k.asset_key == key}
            if not wanted or wanted <= done.get(key, set()):
                continue  # evaluated by this run's check step, on the frame it exported
            frame, source = _last_frame(context, details, export, frames[export.key])
            if frame is None:
                for name in sorted(wanted):
                    yield dg.AssetCheckResult(
                        asset_key=key, check_name=name, passed=False, metadata={"checked": source}
                    )
                continue
            result = enforce(
                Validator({export.frame_name: plan.exports[export.frame_name]}), {export.frame_name: frame}, "warn"
            )
            for evaluation in _evaluations(details, plan, export, frame, result, checked=source):
                if evaluation.check_name in wanted:
                    yield dg.AssetCheckResult(
                        asset_key=evaluation.asset_key,
                        check_name=evaluation.check_name,
                        passed=evaluation.passed,
                        severity=evaluation.severity,
                        metadata=evaluation.metadata,
                    )

    return table_checks


def _evaluated_in_run(context: dg.AssetCheckExecutionContext) -> dict[dg.AssetKey, set[str]]:
    """The checks this run has already evaluated (by a materialization's check step)."""
    done: dict[dg.AssetKey, set[str]] = {}
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        done.setdefault(evaluation.asset_key, set()).add(evaluation.check_name)
    return done


def _last_frame(
    context: dg.AssetCheckExecutionContext, details: PipelineDetails, export: Export, step: tuple[str, str]
) -> tuple[pd.DataFrame | None, str]:
    """The frame the table's last materialization exported (from the cache), else its rows,
    and which it is; None when there is no data to check yet."""
    event = context.instance.get_latest_materialization_event(table_asset_key(export))
    if event is not None:
        node, output = step
        path = cache.location(context.resources.loader.state_dir).joinpath(
            event.run_id, f"{graph_name(details)}.{node}", f"{output}.parquet"
        )
        if path.exists():
            return cache.read_frame(path), f"the frame exported by run {event.run_id}"
    exporter = context.resources.database.exporter()
    if not exporter.exists(export):
        return None, "nothing: the table does not exist yet; materialize it first"
    return exporter.read(export), "the table's current rows"


def _set_aside(context, details: PipelineDetails, frame: str, rejected: pd.DataFrame, *, dry_run: bool):
    """Append quarantined rows to the pipeline's rejected table, in the export database."""
    if not len(rejected):
        return
    if dry_run:
        context.log.warning(f"{len(rejected)} invalid row(s) of {frame!r} would be set aside (dry run)")
        return
    records = rejected_records(details.name, context.run_id, frame, rejected)
    written = context.resources.database.exporter().export(records, Export(table=details.rejected_table, mode="append"))
    context.log.warning(f"{written.inserted} invalid row(s) of {frame!r} set aside in {details.rejected_table!r}")
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


def _export_op(
    details: PipelineDetails, export: Export, plan: RulesPlan, *, checked: bool, after: Sequence[str]
) -> dg.OpDefinition:
    key = table_asset_key(export)
    # the column types the frame's rules declare (None: the table's, else the data's)
    types = (column_types(plan.exports[export.frame_name]) if export.frame_name in plan.exports else None) or None

    def export_fn(context, config: DryRun, frame, **inputs):
        verdict = inputs.get("verdict")
        if key not in context.selected_asset_keys:
            # another table of the pipeline was asked for: this one is left alone
            yield dg.Output(None, "result")
            return
        if verdict is not None:
            frame, rejected = apply_verdict(frame, verdict)
            yield from _set_aside(context, details, export.frame_name, rejected, dry_run=config.dry_run)
        exporter = context.resources.database.exporter()
        write = exporter.plan if config.dry_run else exporter.export
        yield dg.Output(write(frame, export, types=types).to_dict(), "result")

    return dg.op(
        name=f"{details.name}__export_{export.key}",
        ins={
            "frame": dg.In(pd.DataFrame),
            **({"verdict": dg.In(pd.DataFrame)} if checked else {}),
            **{f"after_{c}": dg.In(dg.Nothing) for c in after},
        },
        out={"result": dg.Out(dict | None)},
        required_resource_keys={"database"},
        pool=pool_name(export),
        description=f"{export.mode} into {export.qualified_name}",
    )(export_fn)


def _publish_op(details: PipelineDetails, keys: Mapping[str, Export], outputs: Mapping[str, Export]):
    """Record what each export did on its table asset, then run post_ingest and remember the
    sources' fingerprints (a dry run does neither: it only observes what would change)."""
    out_of = {k: f"table_{k}" for k in keys}

    def publish(context, sources=None, **results):
        written: dict[str, dict] = {}
        for k, export in keys.items():
            result = results[f"export_{k}"]
            if result is None:
                continue  # not selected in this run
            metadata = _result_metadata(export, result)
            if result["dry_run"]:
                # a plan is an observation of what would change, not a materialization
                context.log_event(dg.AssetObservation(asset_key=table_asset_key(export), metadata=metadata))
            else:
                yield dg.Output(None, out_of[k], metadata=metadata)
                written[export.qualified_name] = result
        if not written:
            return
        if details.post_ingest is not None:
            details.post_ingest(written)
        if sources is not None and len(written) == len(keys):
            context.resources.loader.remember(details, sources)

    return _op(
        details,
        "publish",
        publish,
        {
            **{f"export_{k}": dg.In(dict | None) for k in keys},
            **({"sources": dg.In(dict)} if details.skip_unchanged else {}),
        },
        {o: dg.Out(dg.Nothing, is_required=False) for o in outputs},
        required_resource_keys={"loader"} if details.skip_unchanged else set(),
        description="Record the tables' materializations"
        + (", run post_ingest" if details.post_ingest else "")
        + (", remember the sources' fingerprints" if details.skip_unchanged else ""),
    )


def _result_metadata(export: Export, result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "dagster/row_count": result["rows_in_table"],
        "dagster/table_name": export.qualified_name,
        "inserted": result["inserted"],
        "updated": result["updated"],
        "deleted": result["deleted"],
        "unchanged": result["unchanged"],
        "mode": export.mode,
        "dry_run": result["dry_run"],
        "duration_s": dg.MetadataValue.float(result["duration_s"]),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(str(c), str(t)) for c, t in result["columns"].items()]
        ),
        "preview": dg.MetadataValue.md(preview_markdown(result["preview"])),
    }


def preview_markdown(preview: Mapping[str, list[dict]]) -> str:
    """A small markdown table of sample keys per change kind."""
    rows = [(kind, keys) for kind in ("inserted", "updated", "deleted") for keys in preview.get(kind, [])]
    if not rows:
        return "no changes"
    columns = list(rows[0][1])
    lines = ["| change | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {kind} | " + " | ".join(str(k.get(c)) for c in columns) + " |" for kind, k in rows]
    return "\n".join(lines)
