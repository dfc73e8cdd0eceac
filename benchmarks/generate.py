"""Deterministic benchmark data: the W1 (initial load) and W2 (1% changed) CSV files.

W1: N rows x 8 columns

    id          bigint, unique key (ascending, with random gaps)
    name        text ("<first> <last>")
    city        text
    note        text, 10% NULL (an empty unquoted CSV field)
    amount      float (two decimals)
    qty         int
    created_at  timestamp (second precision, 2020-2024)
    active      bool

W2: W1 with 1% of the rows updated (``amount`` always changes; some also change ``qty``,
``city`` or ``note``), 1% of the ids deleted and 1% new ids appended (N rows again).
Applied to a table holding W1 it must insert, update and delete N/100 rows each.

W3 (unchanged re-ingest) reuses the W1 file.

Strings are always quoted and NULL is an unquoted empty field, so PostgreSQL's COPY ... CSV,
pandas and pyarrow all read the same values. Files go to benchmarks/data/ (gitignored):
``w1_<N>.csv``, ``w2_<N>.csv`` and ``manifest_<N>.json`` (sizes and expected counts).

    python benchmarks/generate.py --rows 1000000     # ~80 MB per file
    python benchmarks/generate.py --quick            # 100,000 rows
    python benchmarks/generate.py --big              # 10,000,000 rows (~0.8 GB per file)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 20240611
# Bump when the generated data changes shape, so stale files are regenerated.
GENERATOR_VERSION = 1
QUICK_ROWS = 100_000
DEFAULT_ROWS = 1_000_000
BIG_ROWS = 10_000_000
CHANGE_FRACTION = 0.01  # W2: fraction of N updated, inserted and deleted (each)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FIRST = _words(
    "Anna Ben Carla David Elif Farid Greta Hugo Ines Jonas Karin Lars Mona Nils Olga Per Quinn Rosa Sven "
    "Tara Ugo Vera Wim Xenia Yusuf Zoe Amir Birgit Chen Dagny Emil Freya Gustav Hana Ivan Jana Kofi Lena "
    "Mateo Nadia"
)
_LAST = _words(
    "Andersen Berg Costa Dahl Eriksen Fischer Garcia Hansen Iversen Jensen Kovac Larsen Moreau Nielsen "
    "Olsen Petersen Qureshi Rossi Schmidt Thomsen Umarov Vidal Weber Xu Yilmaz Zhang Bakke Lund Nyberg "
    "Strand"
)
_CITIES = _words(
    "Oslo Bergen Trondheim Stavanger Tromso Drammen Kristiansand Fredrikstad Sandnes Bodo Alesund "
    "Tonsberg Moss Haugesund Arendal Hamar Larvik Halden Lillehammer Molde Kongsberg Gjovik Horten "
    "Harstad Narvik"
)
_WORDS = _words(
    "late early delayed platform bus tram ferry ticket refund zone transfer night weekend peak staff "
    "repair seat door card app check route stop"
)
_NOTE_POOL = 4096


@dataclass
class Manifest:
    rows: int
    seed: int
    generator_version: int
    w1_path: str
    w2_path: str
    w1_bytes: int
    w2_bytes: int
    w2_rows: int
    # What applying W2 to a table holding W1 must do (sync semantics).
    expected_inserted: int
    expected_updated: int
    expected_deleted: int
    expected_unchanged: int
    seconds: float


def paths(rows: int, data_dir: Path = DATA_DIR) -> tuple[Path, Path, Path]:
    return data_dir / f"w1_{rows}.csv", data_dir / f"w2_{rows}.csv", data_dir / f"manifest_{rows}.json"


def _notes(rng: np.random.Generator) -> pa.Array:
    counts = rng.integers(1, 4, _NOTE_POOL)
    words = rng.integers(0, len(_WORDS), (_NOTE_POOL, 3))
    return pa.array([" ".join(_WORDS[w] for w in words[i, : counts[i]]) for i in range(_NOTE_POOL)], pa.string())


def _columns(rng: np.random.Generator, ids: np.ndarray, notes: pa.Array) -> dict[str, pa.Array]:
    """The seven value columns for ``ids``, drawn from ``rng``."""
    n = len(ids)
    names = pa.array([f"{f} {last}" for f in _FIRST for last in _LAST], pa.string())
    cities = pa.array(_CITIES, pa.string())
    note_idx = rng.integers(0, len(notes), n)
    note_null = rng.random(n) < 0.10
    seconds = rng.integers(0, 5 * 365 * 86400, n) + np.datetime64("2020-01-01T00:00:00", "s").astype(np.int64)
    return {
        "id": pa.array(ids, pa.int64()),
        "name": names.take(pa.array(rng.integers(0, len(names), n))),
        "city": cities.take(pa.array(rng.integers(0, len(cities), n))),
        "note": notes.take(pa.array(note_idx, mask=note_null)),
        "amount": pa.array(rng.integers(0, 1_000_000, n) / 100.0, pa.float64()),
        "qty": pa.array(rng.integers(0, 1000, n), pa.int64()),
        "created_at": pa.array(seconds.astype("datetime64[s]"), pa.timestamp("s")),
        "active": pa.array(rng.random(n) < 0.7, pa.bool_()),
    }


def _ascending_ids(rng: np.random.Generator, n: int, start: int) -> np.ndarray:
    """n unique ascending ids after ``start`` with random gaps of 1-3."""
    return start + np.cumsum(rng.integers(1, 4, n, dtype=np.int64))


def build(rows: int, seed: int = SEED) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    """(W1, W2, expected counts) for ``rows`` rows; the same arguments give the same tables."""
    rng = np.random.default_rng(seed)
    notes = _notes(rng)
    w1_ids = _ascending_ids(rng, rows, 0)
    w1 = pa.table(_columns(rng, w1_ids, notes))

    k = int(rows * CHANGE_FRACTION)
    picked = rng.choice(rows, 2 * k, replace=False)
    deleted, updated = np.sort(picked[:k]), np.sort(picked[k:])
    keep = np.ones(rows, dtype=bool)
    keep[deleted] = False

    cols = {name: w1.column(name).combine_chunks() for name in w1.column_names}
    amount = cols["amount"].to_numpy().copy()
    amount[updated] = (np.round(amount[updated] * 100) + rng.integers(1, 10_000, k)) / 100.0  # always differs
    qty = cols["qty"].to_numpy().copy()
    bump = updated[rng.random(k) < 0.5]
    qty[bump] += 1
    fresh = _columns(rng, np.zeros(k, dtype=np.int64), notes)  # replacement values for some updates
    cols["amount"] = pa.array(amount, pa.float64())
    cols["qty"] = pa.array(qty, pa.int64())
    for name in ("city", "note"):
        chosen = updated[rng.random(k) < 0.3]  # sorted, as ``updated`` is
        mask = np.zeros(rows, dtype=bool)
        mask[chosen] = True
        cols[name] = pc.replace_with_mask(cols[name], pa.array(mask), fresh[name][: len(chosen)])
    changed = pa.table(cols).filter(pa.array(keep))
    new_ids = _ascending_ids(rng, k, int(w1_ids[-1]) if rows else 0)
    added = pa.table(_columns(rng, new_ids, notes))
    w2 = pa.concat_tables([changed, added]).combine_chunks()
    expected = {"inserted": k, "updated": k, "deleted": k, "unchanged": rows - 2 * k}
    return w1, w2, expected


def _write(table: pa.Table, path: Path) -> int:
    tmp = path.with_suffix(".csv.tmp")
    pacsv.write_csv(table, tmp, pacsv.WriteOptions(include_header=True, batch_size=65_536))
    tmp.replace(path)
    return path.stat().st_size


def load_manifest(rows: int, data_dir: Path = DATA_DIR) -> Manifest | None:
    w1, w2, manifest = paths(rows, data_dir)
    if not manifest.exists():
        return None
    try:
        m = Manifest(**json.loads(manifest.read_text()))
    except (TypeError, ValueError):
        return None
    fresh = (
        m.seed == SEED
        and m.generator_version == GENERATOR_VERSION
        and w1.exists()
        and w2.exists()
        and w1.stat().st_size == m.w1_bytes
        and w2.stat().st_size == m.w2_bytes
    )
    return m if fresh else None


def ensure(rows: int, *, force: bool = False, data_dir: Path = DATA_DIR, log=print) -> Manifest:
    """The data files for ``rows``, generated unless up to date already."""
    if not force:
        m = load_manifest(rows, data_dir)
        if m is not None:
            return m
    data_dir.mkdir(parents=True, exist_ok=True)
    w1_path, w2_path, manifest_path = paths(rows, data_dir)
    log(f"generating {rows:,} rows into {data_dir} ...")
    start = time.perf_counter()
    w1, w2, expected = build(rows)
    w1_bytes = _write(w1, w1_path)
    w2_bytes = _write(w2, w2_path)
    m = Manifest(
        rows=rows,
        seed=SEED,
        generator_version=GENERATOR_VERSION,
        w1_path=str(w1_path),
        w2_path=str(w2_path),
        w1_bytes=w1_bytes,
        w2_bytes=w2_bytes,
        w2_rows=w2.num_rows,
        expected_inserted=expected["inserted"],
        expected_updated=expected["updated"],
        expected_deleted=expected["deleted"],
        expected_unchanged=expected["unchanged"],
        seconds=round(time.perf_counter() - start, 2),
    )
    manifest_path.write_text(json.dumps(asdict(m), indent=2) + "\n")
    log(f"  W1 {w1_path.name}: {w1_bytes / 1e6:.1f} MB, W2 {w2_path.name}: {w2_bytes / 1e6:.1f} MB ({m.seconds} s)")
    return m


def rows_from_args(args: argparse.Namespace) -> int:
    if getattr(args, "quick", False):
        return QUICK_ROWS
    if getattr(args, "big", False):
        return BIG_ROWS
    return args.rows


def add_size_args(p: argparse.ArgumentParser) -> None:
    size = p.add_mutually_exclusive_group()
    size.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"rows in W1 (default {DEFAULT_ROWS:,})")
    size.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows")
    size.add_argument("--big", action="store_true", help=f"{BIG_ROWS:,} rows (about 0.8 GB per CSV file)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_size_args(p)
    p.add_argument("--force", action="store_true", help="regenerate even if the files are up to date")
    args = p.parse_args(argv)
    rows = rows_from_args(args)
    if rows < 100:
        p.error("--rows must be at least 100")
    m = ensure(rows, force=args.force)
    print(json.dumps(asdict(m), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
