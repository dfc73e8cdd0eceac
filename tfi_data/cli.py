"""The ``tfi-data`` command: run and list the pipelines of a dataloaders directory or file."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tfi_data import cache, settings
from tfi_data.details import DetailsError
from tfi_data.discovery import DataloaderError, discover
from tfi_data.loader import LoadError
from tfi_data.progress import LoadProgress
from tfi_data.transformer import TransformError
from tfi_data.validation import RulesError

_COLUMNS = ("pipeline", "table", "inserted", "updated", "deleted", "unchanged", "rows_in_table")


def _select(path: str, names: str | Sequence[str] | None):
    """The pipelines under ``path``, or those named (each name once, in the order given)."""
    pipelines = discover(path)
    if not names:
        return pipelines
    by_name = {d.name: d for d in pipelines}
    wanted = list(dict.fromkeys([names] if isinstance(names, str) else names))
    missing = [n for n in wanted if n not in by_name]
    if missing:
        raise DataloaderError(f"no pipeline {', '.join(map(repr, missing))} under {path}; found {sorted(by_name)}")
    return [by_name[n] for n in wanted]


def cmd_list(args: argparse.Namespace) -> int:
    for d in _select(args.path, None):
        sources = ", ".join(f"{s.name} ({s.kind})" for s in d.sources)
        exports = ", ".join(f"{e.qualified_name} ({e.mode})" for e in d.exports)
        print(f"{d.name}\n  sources: {sources}\n  exports: {exports}\n  schedule: {d.schedule or '-'}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from tfi_data.pipeline import Pipeline  # dagster is slow to import: only when running

    rows, failed = [], []
    for details in _select(args.path, args.pipeline):
        pipeline = Pipeline(details, database_url=args.database, cache_dir=args.cache_dir)
        progress = LoadProgress(details.name) if not args.json else None
        with progress or contextlib.nullcontext():
            result = pipeline.ingest(
                dry_run=args.dry_run, verbose=args.verbose, progress=progress, keep_cache=args.keep_cache
            )
        rows.extend(result.rows())
        if result.skipped:
            print(
                f"tfi-data: pipeline {result.pipeline!r}: sources unchanged since the last run; skipped",
                file=sys.stderr,
            )
        if not result.success:
            failed.append(result)
            print(f"tfi-data: pipeline {result.pipeline!r} failed: {result.error}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_table(rows))
        if args.dry_run:
            print("(dry run: the counts are what a run would change; nothing was written)")
    return 1 if failed else 0


def cmd_launch(args: argparse.Namespace) -> int:
    """Submit each pipeline's job to the Dagster instance of DAGSTER_HOME, as the UI does."""
    from tfi_data.pipeline import LaunchError, Pipeline

    failed = 0
    for details in _select(args.path, args.pipeline):
        try:
            launched = Pipeline(details).launch(wait=args.wait, dataloaders=args.path)
        except LaunchError as exc:
            print(f"tfi-data: pipeline {details.name!r}: {exc}", file=sys.stderr)
            return 2
        print(f"{details.name}\t{launched.run_id}\t{launched.status}")
        failed += args.wait and not launched.success
    return 1 if failed else 0


def cmd_ui(args: argparse.Namespace) -> int:
    """``dagster dev`` on the code location, with the dataloaders of PATH."""
    import os
    import subprocess

    path = Path(args.path or settings.env(settings.DATALOADERS_DIR_VAR) or Path.cwd()).resolve()
    discover(path)  # a broken dataloader is named here, before Dagster starts
    env = {**os.environ, settings.DATALOADERS_DIR_VAR: str(path)}
    command = [str(Path(sys.executable).with_name("dagster")), "dev", "-m", "tfi_data.definitions"]
    command += ["-p", str(args.port)] if args.port else []
    return subprocess.call(command, env=env)


def cmd_infer(args: argparse.Namespace) -> int:
    """Infer rules for what each named pipeline exports (``--pipeline`` repeated: each in turn, to
    its own rules file); against an existing file, report drift and merge only what is accepted
    with --update. Findings (duplicated or null keys, columns with no type, leading zeros) are
    printed, never raised."""
    selected = _select(args.path, args.pipeline)
    if args.output and len(selected) > 1:
        print(
            f"tfi-data: infer: -o/--output names one file, but {len(selected)} pipelines were given "
            f"({', '.join(d.name for d in selected)}); leave out -o to write each pipeline's own rules file",
            file=sys.stderr,
        )
        return 2
    for details in selected:
        _infer_one(details, args)
    return 0


def _infer_one(details, args: argparse.Namespace) -> None:
    from tfi_data.validation import infer_rules, merge_rules, rules_to_yaml
    from tfi_data.validation.infer import batch_notes, frame_findings, row_bounds
    from tfi_data.validation.infer_frames import export_batches, export_frames

    target = args.output or (details.resolve(details.rules) if isinstance(details.rules, str) else None)
    frames = export_frames(details)
    keys = {e.frame_name: list(e.keys) for e in details.exports if e.keys}
    if target is not None and Path(target).exists():
        accept = () if args.update is None else ("all" if args.update == "all" else tuple(args.update.split(",")))
        merged = merge_rules(
            Path(target).read_text(encoding="utf-8"),
            frames,
            accept=accept,
            margin=args.margin,
            max_categories=args.max_categories,
            path=target,
        )
        for finding in merged.findings:
            mark = "merged" if finding in merged.applied else "drift"
            print(f"{mark}: {finding}")
        if merged.applied:
            Path(target).write_text(merged.text, encoding="utf-8")
        print(
            f"{target}: {len(merged.findings)} finding(s), {len(merged.applied)} merged"
            + ("" if merged.applied or not merged.findings else "; accept them with --update KINDS or --update all")
        )
        return
    rules = infer_rules(frames, margin=args.margin, max_categories=args.max_categories, key_columns=keys)
    notes: dict[str, list[str]] = {}
    if args.profile:
        batched, batches = export_batches(details)
        for name in frames:
            counts = [len(batch[name]) for batch in batches]
            if batched is None:
                print(
                    f"tfi-data: infer: {details.name}: --profile: no source has several files; "
                    "no row-count bounds learnt",
                    file=sys.stderr,
                )
                break
            rules[name] = {**rules[name], "rows": row_bounds(counts)}
            notes[name] = batch_notes([batch[name] for batch in batches], repr(batched))
    for name, frame in frames.items():
        for finding in frame_findings(frame, rules[name], keys.get(name, ())):
            print(f"tfi-data: infer: {details.name}: {name}: {finding}", file=sys.stderr)
    text = rules_to_yaml(rules, frames, notes)
    if target is None:
        print(text, end="")
    else:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(text, encoding="utf-8")
        print(f"wrote rules for {', '.join(sorted(frames))} to {target}")


def cmd_cache_prune(args: argparse.Namespace) -> int:
    base = args.cache_dir or settings.cache_dir()
    try:
        age = cache.parse_duration(args.older_than)
    except ValueError as exc:
        print(f"tfi-data: --older-than: {exc}", file=sys.stderr)
        return 2
    pruned = cache.prune(base, age)
    print(f"removed {pruned.runs} cached run(s), {pruned.bytes / 1e6:.1f} MB, older than {args.older_than} from {base}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Write a ready private dataloaders repository (example, rules, tests, compose override)."""
    from tfi_data.scaffold import ScaffoldError, init_repository

    try:
        written = init_repository(args.path, name=args.name)
    except ScaffoldError as exc:
        print(f"tfi-data: init: {exc}", file=sys.stderr)
        return 2
    root = Path(args.path).resolve()
    for file in written:
        print(f"  {file.relative_to(root)}")
    print(
        f"wrote a dataloaders repository to {root}; next:\n"
        f"  cd {root} && python -m pytest     (its tests: every dataloader into a temporary database)\n"
        f"  python run.py                     (every dataloader into ./tfi_data.sqlite)"
    )
    return 0


def _table(rows: list[dict]) -> str:
    if not rows:
        return "(no exports ran)"
    cells = [list(_COLUMNS)] + [[str(r[c]) for c in _COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfi-data", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run pipelines in-process and print what each export changed")
    run.add_argument("path", help="a dataloaders directory or one dataloader module")
    run.add_argument("--pipeline", action="append", help="run only this pipeline (repeat for several)")
    run.add_argument("--database", help="SQLAlchemy URL (default: $TFI_DATABASE_URL or sqlite:///tfi_data.sqlite)")
    run.add_argument("--cache-dir", help="where op outputs are cached (default: $TFI_CACHE_DIR or .tfi_cache)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--dry-run", action="store_true", help="plan every export: print the counts, write nothing")
    run.add_argument("--verbose", action="store_true", help="show Dagster's event log")
    run.add_argument(
        "--keep-cache", action="store_true", help="keep the run's cached step outputs (default: removed on success)"
    )
    run.set_defaults(func=cmd_run)
    launch = sub.add_parser(
        "launch", help="submit pipelines' runs to the Dagster instance of DAGSTER_HOME (queued, run by its daemon)"
    )
    launch.add_argument("path", help="the dataloaders directory the instance's code location serves")
    launch.add_argument("--pipeline", action="append", help="launch only this pipeline (repeat for several)")
    launch.add_argument("--wait", action="store_true", help="wait for each run to end; exit 1 if one failed")
    launch.set_defaults(func=cmd_launch)
    ui = sub.add_parser("ui", help="the Dagster UI (dagster dev) on the pipelines of a dataloaders directory")
    ui.add_argument("path", nargs="?", help="dataloaders directory (default: $TFI_DATALOADERS_DIR, else .)")
    ui.add_argument("--port", type=int, help="the UI's port (default 3000)")
    ui.set_defaults(func=cmd_ui)
    infer = sub.add_parser("infer", help="infer a rules file from what a pipeline exports, or report its drift")
    infer.add_argument("path", help="a dataloaders directory or one dataloader module")
    infer.add_argument(
        "--pipeline",
        action="append",
        required=True,
        help="the pipeline to infer rules for (repeat for several: each to its own rules file)",
    )
    infer.add_argument("-o", "--output", help="rules file (default: the pipeline's rules path, else stdout)")
    infer.add_argument(
        "--update",
        nargs="?",
        const="all",
        metavar="KINDS",
        help="merge accepted drift into the existing file: 'all' or kinds, e.g. new_column,out_of_range",
    )
    infer.add_argument("--margin", type=float, default=0.1, help="widen observed ranges by this share (0.1)")
    infer.add_argument("--max-categories", type=int, default=20, help="most distinct values for 'allowed' (20)")
    infer.add_argument(
        "--profile",
        action="store_true",
        help="learn from each file of the source with several files (a glob) as a batch: a row-count bound, "
        "the files' sizes and the columns only some files have",
    )
    infer.set_defaults(func=cmd_infer)
    cache_cmd = sub.add_parser("cache", help="manage the cache of op outputs")
    cache_sub = cache_cmd.add_subparsers(dest="cache_command", required=True)
    prune = cache_sub.add_parser("prune", help="remove cached runs older than a duration")
    prune.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 90m, 12h, 7d, 2w")
    prune.add_argument("--cache-dir", help="the cache (default: $TFI_CACHE_DIR or .tfi_cache)")
    prune.set_defaults(func=cmd_cache_prune)
    init = sub.add_parser("init", help="write a new private dataloaders repository (example, tests, compose override)")
    init.add_argument("path", help="an empty or new directory")
    init.add_argument("--name", help="project name in its pyproject.toml (default: the directory's name)")
    init.set_defaults(func=cmd_init)
    lst = sub.add_parser("list", help="list the pipelines under a path")
    lst.add_argument("path")
    lst.set_defaults(func=cmd_list)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataloaderError, DetailsError, LoadError, TransformError, RulesError) as exc:
        print(f"tfi-data: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
