"""Finds the PipelineDetails declared by dataloader modules (a directory or one file)."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
import traceback
from pathlib import Path

from tfi_data.details import PipelineDetails

# Dataloader modules are imported under this package name, so a dataloader's
# ``logging.getLogger(__name__)`` is a child of it: Dagster captures it into the run's events.
DATALOADER_LOGGERS = "tfi_dataloaders"


# INFO and up from dataloaders reach the run's events (Python's default would drop INFO).
if logging.getLogger(DATALOADER_LOGGERS).level == logging.NOTSET:
    logging.getLogger(DATALOADER_LOGGERS).setLevel(logging.INFO)


class DataloaderError(RuntimeError):
    """A dataloader module could not be imported, or its details clash with another's."""


def dataloader_files(path: str | Path) -> list[Path]:
    path = Path(path).resolve()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataloaderError(f"dataloaders path not found: {path}")
    return sorted(
        p for p in path.rglob("*.py") if not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    )


def load_module_details(file: Path) -> list[PipelineDetails]:
    """Import one dataloader module and return its module-level PipelineDetails, by name."""
    # A stable, unique module name per file, so two dataloaders called utils.py do not clash.
    digest = hashlib.sha1(str(file).encode()).hexdigest()[:10]
    mod_name = f"{DATALOADER_LOGGERS}.{file.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(mod_name, file)
    if spec is None or spec.loader is None:
        raise DataloaderError(f"{file}: not an importable Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    added = str(file.parent) not in sys.path
    if added:
        sys.path.insert(0, str(file.parent))  # lets a dataloader import its sibling helpers
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(mod_name, None)
        raise DataloaderError(
            f"{exc.filename or file}:{exc.lineno}:{exc.offset or 0}: syntax error: {exc.msg}"
        ) from None
    except Exception as exc:
        sys.modules.pop(mod_name, None)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(file)]
        line = f":{frames[-1].lineno}" if frames else ""
        raise DataloaderError(f"{file}{line}: {type(exc).__name__}: {exc}") from exc
    finally:
        if added:
            sys.path.remove(str(file.parent))
    found: dict[int, PipelineDetails] = {}
    for value in vars(module).values():
        if isinstance(value, PipelineDetails):
            found.setdefault(id(value), value)
    # Relative paths resolve against the declaring module's directory (PipelineDetails.base_dir).
    return sorted(found.values(), key=lambda d: d.name)


def discover(path: str | Path) -> list[PipelineDetails]:
    """Every PipelineDetails under ``path``, sorted by name. Names must be unique, and so must
    the tables: a table is the asset of the one pipeline that exports into it."""
    seen: dict[str, Path] = {}
    tables: dict[str, tuple[str, Path]] = {}
    out: list[PipelineDetails] = []
    for file in dataloader_files(path):
        for details in load_module_details(file):
            if details.name in seen:
                raise DataloaderError(
                    f"pipeline name {details.name!r} is declared in {seen[details.name]} and in {file}"
                )
            seen[details.name] = file
            for export in details.exports:
                if export.qualified_name in tables:
                    other, where = tables[export.qualified_name]
                    raise DataloaderError(
                        f"table {export.qualified_name!r} is exported by pipeline {other!r} ({where}) and by "
                        f"pipeline {details.name!r} ({file}): a table belongs to one pipeline; export into "
                        "another table, or make one pipeline of the two (its transformer can combine sources)"
                    )
                tables[export.qualified_name] = (details.name, file)
            out.append(details)
    return sorted(out, key=lambda d: d.name)
