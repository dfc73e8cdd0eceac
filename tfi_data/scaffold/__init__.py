"""``tfi-data init PATH``: write a ready private dataloaders repository from the template files
shipped in this package (``template/``): one example dataloader with a small data file and
rules, a compose override that mounts it into tfi-data's compose stack, a run script, a
``pyproject.toml`` that depends on tfi-data, and tests that pass right away."""

from __future__ import annotations

import re
from importlib import metadata, resources
from pathlib import Path

__all__ = ["ScaffoldError", "init_repository"]

# Files stored under another name in the package (so packaging and tools leave them alone).
_RENAMES = {"gitignore": ".gitignore", "pyproject.toml.tmpl": "pyproject.toml"}
_TEXT_SUFFIXES = {".py", ".md", ".toml", ".tmpl", ".yaml", ".yml", ".csv", ".txt", ""}


class ScaffoldError(Exception):
    """The target cannot be initialised (e.g. it already holds files)."""


def tfi_data_requirement() -> str:
    """``tfi-data>=X.Y,<X.(Y+1)`` for the installed release: the dataloaders pin the minor line."""
    try:
        version = metadata.version("tfi-data")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        version = "0.1.0"
    major, minor = (int(p) for p in re.findall(r"\d+", version)[:2])
    return f"tfi-data>={major}.{minor},<{major}.{minor + 1}"


def init_repository(path: str | Path, *, name: str | None = None) -> list[Path]:
    """Write the template into ``path`` (created if missing; it must be empty) and return the
    files written. ``name`` is the project name in ``pyproject.toml`` (default: the directory's)."""
    target = Path(path).resolve()
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target} exists and is not a directory")
    if target.is_dir() and any(target.iterdir()):
        raise ScaffoldError(f"{target} is not empty: tfi-data init writes a new repository into an empty directory")
    project = re.sub(r"[^A-Za-z0-9._-]+", "-", name or target.name).strip("-") or "dataloaders"
    values = {
        "{{project}}": project,
        "{{tfi_data_requirement}}": tfi_data_requirement(),
        "{{repository}}": str(target),
    }
    written = []
    template = resources.files(__package__) / "template"
    for source, relative in _walk(template, Path()):
        destination = target / relative.parent / _RENAMES.get(relative.name, relative.name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        data = source.read_bytes()
        if destination.suffix in _TEXT_SUFFIXES:
            text = data.decode("utf-8")
            for key, value in values.items():
                text = text.replace(key, value)
            data = text.encode("utf-8")
        destination.write_bytes(data)
        if destination.name.endswith(".sh") or destination.name == "run.py":
            destination.chmod(0o755)
        written.append(destination)
    return written


def _walk(node, relative: Path):
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            yield from _walk(child, relative / child.name)
        else:
            yield child, relative / child.name
