"""Config layer: what a dataloader declares. Pure, validated data; imports nothing of ours.

Every error names the pipeline and the field, so a dataloader author can find the mistake
without reading tfi-data's code.
"""

from __future__ import annotations

import hashlib
import inspect
import keyword
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Names become Dagster op/job names and file names in the cache: keep them to identifiers.
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names Dagster refuses for jobs, inputs and outputs besides Python's keywords (its
# DISALLOWED_NAMES; this layer does not import dagster).
_RESERVED = frozenset(
    {"arg_dict", "bool", "conf", "config", "context", "dict", "float", "input", "input_arg_dict", "int", "meta"}
    | {"output", "output_arg_dict", "str", "type"}
)

SOURCE_KINDS = ("csv", "json", "jsonl", "parquet", "excel", "sql", "http")
EXPORT_MODES = ("append", "replace", "merge", "sync", "insert_new")
# Modes that compare rows by key need keys.
KEYED_MODES = ("merge", "sync", "insert_new")
ON_INVALID = ("fail", "warn", "quarantine")
# How a pipeline's job runs its steps: all in the run's process, or one process per step.
EXECUTORS = ("in_process", "multiprocess")
SCHEMA_CHANGES = ("add_columns", "freeze", "widen")


class DetailsError(ValueError):
    """A PipelineDetails, Source or Export was declared wrongly."""


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise DetailsError(
            f"{what}: {value!r} is not a valid name (letters, digits and '_', not starting with a digit)"
        )
    if keyword.iskeyword(value) or value in _RESERVED:
        raise DetailsError(f"{what}: {value!r} is a reserved word in Python or Dagster: choose another name")
    return value


def op_safe(name: str) -> str:
    """An identifier for any table name, for op and output names: ``café`` -> ``cafe``,
    ``growth %`` -> ``growth``, ``2024 sales`` -> ``t_2024_sales``; a name with no ASCII letter or
    digit gets one from its hash."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    key = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    if not key:
        return "t_" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"t_{key}" if key[0].isdigit() else key


@dataclass(frozen=True)
class Source:
    """One input of a pipeline. Build it with a constructor per kind: ``Source.csv(...)``.

    ``location`` is a path or glob (relative paths resolve against the dataloader's directory),
    a URL, or for SQL a query/table. ``options`` go to the underlying reader unchanged.
    """

    kind: str
    name: str
    location: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name, "Source.name")
        if self.kind not in SOURCE_KINDS:
            raise DetailsError(
                f"source {self.name!r}: unknown kind {self.kind!r}; expected one of {', '.join(SOURCE_KINDS)}"
            )
        if not isinstance(self.location, (str, Path)) or not str(self.location).strip():
            raise DetailsError(f"source {self.name!r}: location must be a non-empty path, URL or query")
        object.__setattr__(self, "location", str(self.location))
        object.__setattr__(self, "options", dict(self.options))

    # One constructor per kind: the public API (`Source.<kind>(name, location, **options)`).
    @classmethod
    def csv(cls, name: str, path: str | Path, **options: Any) -> Source:
        return cls("csv", name, str(path), options)

    @classmethod
    def json(cls, name: str, path: str | Path, **options: Any) -> Source:
        return cls("json", name, str(path), options)

    @classmethod
    def jsonl(cls, name: str, path: str | Path, **options: Any) -> Source:
        return cls("jsonl", name, str(path), options)

    @classmethod
    def parquet(cls, name: str, path: str | Path, **options: Any) -> Source:
        return cls("parquet", name, str(path), options)

    @classmethod
    def excel(cls, name: str, path: str | Path, **options: Any) -> Source:
        return cls("excel", name, str(path), options)

    @classmethod
    def sql(cls, name: str, query: str, **options: Any) -> Source:
        return cls("sql", name, query, options)

    @classmethod
    def http(cls, name: str, url: str, **options: Any) -> Source:
        return cls("http", name, url, options)


@dataclass(frozen=True)
class Export:
    """Where and how a DataFrame is written.

    mode: ``append`` (insert all rows), ``replace`` (swap the table's rows atomically),
    ``merge`` (insert new keys, update changed rows), ``sync`` (merge + delete keys absent
    from the new data, at most ``max_delete_fraction`` of the table unless ``allow_mass_delete``),
    ``insert_new`` (insert only new keys).
    """

    table: str
    keys: Sequence[str] = ()
    mode: str = "merge"
    schema: str | None = None
    # Which transformer output feeds this export when the transformer returns a dict
    # (default: the table name).
    frame: str | None = None
    max_delete_fraction: float = 0.5
    allow_mass_delete: bool = False
    schema_changes: str = "add_columns"
    keep_last_duplicate: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.table, str) or not self.table.strip():
            raise DetailsError(f"Export.table: {self.table!r} must be a non-empty string")
        where = f"export {self.table!r}"
        if isinstance(self.keys, str):
            raise DetailsError(f"{where}: keys must be a list of column names, not the string {self.keys!r}")
        keys = tuple(self.keys)
        for key in keys:
            if not isinstance(key, str) or not key:
                raise DetailsError(f"{where}: keys: {key!r} is not a column name")
        if len(set(keys)) != len(keys):
            raise DetailsError(f"{where}: keys: duplicate column in {list(keys)}")
        object.__setattr__(self, "keys", keys)
        if self.mode not in EXPORT_MODES:
            raise DetailsError(f"{where}: mode: unknown mode {self.mode!r}; expected one of {', '.join(EXPORT_MODES)}")
        if self.mode in KEYED_MODES and not keys:
            raise DetailsError(f"{where}: mode {self.mode!r} compares rows by key: give keys=[...]")
        if self.schema is not None and (not isinstance(self.schema, str) or not self.schema):
            raise DetailsError(f"{where}: schema: {self.schema!r} must be a non-empty string or None")
        if not (0.0 <= float(self.max_delete_fraction) <= 1.0):
            raise DetailsError(f"{where}: max_delete_fraction must be between 0 and 1")
        if self.schema_changes not in SCHEMA_CHANGES:
            raise DetailsError(
                f"{where}: schema_changes: {self.schema_changes!r}; expected one of {', '.join(SCHEMA_CHANGES)}"
            )

    @property
    def frame_name(self) -> str:
        return self.frame or self.table

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    @property
    def key(self) -> str:
        """An identifier naming this export in Dagster (op and output names), from its table."""
        return op_safe(self.qualified_name)


def _check_timezone(name: object) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DetailsError(f"timezone: {name!r} is not an IANA time zone (e.g. 'Europe/Dublin', 'UTC')") from None


def _caller_dir() -> Path:
    """Directory of the module that constructed the details (for relative source paths)."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            filename = frame.f_globals.get("__file__")
            if frame.f_globals.get("__name__") != __name__ and filename:
                return Path(filename).resolve().parent
            frame = frame.f_back
    finally:
        del frame
    return Path.cwd()


@dataclass(frozen=True)
class PipelineDetails:
    """Everything tfi-data needs to build and run one pipeline.

    ``transformer(frames: dict[str, DataFrame]) -> DataFrame | dict[str, DataFrame]``; without one,
    a single source passes through unchanged. ``pre_ingest()`` runs before any load;
    ``post_ingest(results: dict[str, dict])`` runs after every export with their counts.
    ``rules`` is a rules file path, a pandera ``DataFrameSchema`` (for a single source) or a dict
    of frame name -> schema. Relative paths resolve against ``base_dir`` (default: the directory
    of the module that declared the details). ``skip_unchanged``: a run whose file sources are
    identical to the last successful run's writes nothing and skips its loads and exports.
    """

    name: str
    sources: Sequence[Source]
    exports: Sequence[Export]
    transformer: Callable[..., Any] | None = None
    rules: Any = None
    pre_ingest: Callable[[], Any] | None = None
    post_ingest: Callable[..., Any] | None = None
    schedule: str | None = None
    description: str | None = None
    base_dir: Path | None = None
    # Skip a run when every (file) source is byte-for-byte what the last successful run read.
    skip_unchanged: bool = False
    # What invalid data does: stop the run before any export, only be reported, or have its
    # bad rows set aside in ``rejected_table`` while the valid rows are exported.
    on_invalid: str = "fail"
    rejected_table: str = "tfi_rejected"
    # The schedule's time zone (IANA name, e.g. "Europe/Dublin"); default UTC.
    timezone: str | None = None
    # "in_process" (default: small work, fast start) or "multiprocess" (one process per step).
    executor: str = "in_process"
    # Shown on the table assets in Dagster: owners ("team:data", e-mail addresses) and tags.
    owners: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name or ""):
            raise DetailsError(
                f"PipelineDetails.name: {self.name!r} is not a valid pipeline name "
                "(letters, digits and '_', not starting with a digit)"
            )
        _check_name(self.name, "PipelineDetails.name")
        where = f"pipeline {self.name!r}"
        try:
            self._validate()
        except DetailsError as exc:
            raise DetailsError(f"{where}: {exc}") from None
        if self.base_dir is None:
            object.__setattr__(self, "base_dir", _caller_dir())
        else:
            object.__setattr__(self, "base_dir", Path(self.base_dir).resolve())

    def _validate(self) -> None:
        if isinstance(self.sources, (Source, str)) or not self.sources:
            raise DetailsError("sources: give a non-empty list of Source.<kind>(...)")
        sources = tuple(self.sources)
        for i, src in enumerate(sources):
            if not isinstance(src, Source):
                raise DetailsError(f"sources[{i}]: {src!r} is not a Source (use Source.csv(...) etc.)")
        names = [s.name for s in sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DetailsError(f"sources: duplicate source name(s) {dup}")
        object.__setattr__(self, "sources", sources)

        if isinstance(self.exports, Export) or not self.exports:
            raise DetailsError("exports: give a non-empty list of Export(...)")
        exports = tuple(self.exports)
        for i, exp in enumerate(exports):
            if not isinstance(exp, Export):
                raise DetailsError(f"exports[{i}]: {exp!r} is not an Export")
        tables = [e.qualified_name for e in exports]
        dup = sorted({t for t in tables if tables.count(t) > 1})
        if dup:
            raise DetailsError(f"exports: table(s) {dup} exported twice")
        keys: dict[str, str] = {}
        for e in exports:
            if e.key in keys:
                raise DetailsError(
                    f"exports: tables {keys[e.key]!r} and {e.qualified_name!r} have one name in Dagster "
                    f"({e.key!r}): rename one of them"
                )
            keys[e.key] = e.qualified_name
        object.__setattr__(self, "exports", exports)

        for fname in ("transformer", "pre_ingest", "post_ingest"):
            fn = getattr(self, fname)
            if fn is not None and not callable(fn):
                raise DetailsError(f"{fname}: {fn!r} is not callable")
        if self.transformer is None and len(sources) > 1:
            raise DetailsError("transformer: several sources need a transformer that combines them")
        if self.schedule is not None and (not isinstance(self.schedule, str) or len(self.schedule.split()) != 5):
            raise DetailsError(f"schedule: {self.schedule!r} is not a cron string of five fields (e.g. '0 6 * * *')")
        if self.timezone is not None:
            _check_timezone(self.timezone)
        if self.executor not in EXECUTORS:
            raise DetailsError(f"executor: {self.executor!r}; expected one of {', '.join(EXECUTORS)}")
        if isinstance(self.owners, str) or not all(isinstance(o, str) and o for o in self.owners):
            raise DetailsError(f"owners: {self.owners!r} must be a list of names (e.g. ['team:data'])")
        object.__setattr__(self, "owners", tuple(self.owners))
        if not isinstance(self.tags, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.tags.items()
        ):
            raise DetailsError(f"tags: {self.tags!r} must be a dict of strings")
        object.__setattr__(self, "tags", dict(self.tags))
        if self.on_invalid not in ON_INVALID:
            raise DetailsError(f"on_invalid: {self.on_invalid!r}; expected one of {', '.join(ON_INVALID)}")
        if not isinstance(self.rejected_table, str) or not self.rejected_table.strip():
            raise DetailsError(f"rejected_table: {self.rejected_table!r} must be a table name")
        if not isinstance(self.skip_unchanged, bool):
            raise DetailsError(f"skip_unchanged: {self.skip_unchanged!r} must be True or False")
        if self.rules is not None and isinstance(self.rules, (str, Path)):
            object.__setattr__(self, "rules", str(self.rules))

    def resolve(self, path: str | Path) -> Path:
        """A path from the details, made absolute against the dataloader's directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p
