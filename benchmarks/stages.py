"""Per-stage costs of a pipeline on W1, each against its baseline measured in the same run.

    python benchmarks/stages.py --rows 1000000 [--url postgresql+psycopg://postgres@127.0.0.1:5432/tfi_bench]

- parse: GeneralLoader (CSV source, standard dtypes) vs ``pyarrow.csv.read_csv`` of the same file,
  as MB/s; target: within 1.2x.
- cache: one op boundary (write the W1 frame to the cache, read it back) vs the Exporter's W1
  time (merge into an empty PostgreSQL table); target: under 25%.
- validate: the Validator with about 20 checks on W1 vs the same Exporter time; target: at most
  25% (once rules exist for it).

Each figure is the best of ``--repeat`` runs (default 5). Data comes from generate.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import add_size_args, ensure, rows_from_args  # noqa: E402

from tfi_data import Export, Source, cache  # noqa: E402
from tfi_data.export import Exporter  # noqa: E402
from tfi_data.loader import GeneralLoader  # noqa: E402

RULES = {
    "bench": {
        "unique": ["id"],
        "columns": {
            "id": {"type": "int", "nullable": False, "unique": True, "min": 0},
            "name": {"type": "str", "nullable": False, "min_length": 1, "max_length": 64},
            "city": {"type": "str", "nullable": False, "max_length": 32},
            "note": {"type": "str", "nullable": True, "max_length": 64},
            "amount": {"type": "float", "min": 0, "max": 1_000_000},
            "qty": {"type": "int", "min": 0, "max": 1000},
            "created_at": {"type": "datetime", "nullable": False},
            "active": {"type": "bool", "nullable": False},
        },
    }
}


def best(fn, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_size_args(p)
    p.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/tfi_bench")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    rows = rows_from_args(args)
    manifest = ensure(rows)
    csv = HERE / "data" / f"w1_{rows}.csv"
    mb = manifest.w1_bytes / 1e6

    t_arrow, _ = best(lambda: pacsv.read_csv(csv), args.repeat)
    t_load, df = best(lambda: GeneralLoader(HERE).load(Source.csv("bench", str(csv))), args.repeat)

    with tempfile.TemporaryDirectory() as tmp:
        path = cache.location(tmp) / "run" / "step" / "result.parquet"

        def boundary():
            cache.write_frame(path, df, "bench")
            return cache.read_frame(path)

        t_cache, back = best(boundary, args.repeat)
    assert len(back) == len(df)

    engine = sa.create_engine(args.url)

    def export():
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS stages_w1"))
        return Exporter(engine).export(df, Export(table="stages_w1", keys=["id"], mode="merge"))

    t_export, result = best(export, args.repeat)
    assert result.inserted == len(df)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS stages_w1"))
    engine.dispose()

    t_validate = None
    try:
        from tfi_data.validation import Validator, schema_from_rules

        validator = Validator({"bench": schema_from_rules("bench", RULES["bench"])})
        t_validate, _ = best(lambda: validator.validate({"bench": df}), args.repeat)
    except Exception as exc:  # report, do not hide: the other figures still stand
        print(f"validate: not measured: {type(exc).__name__}: {exc}", file=sys.stderr)

    rows_out = [
        ("parse: pyarrow.csv.read_csv", t_arrow, f"{mb / t_arrow:.0f} MB/s", None, None),
        ("parse: GeneralLoader (standard dtypes)", t_load, f"{mb / t_load:.0f} MB/s", t_load / t_arrow, "<= 1.2x"),
        ("export: Exporter W1 (PostgreSQL, empty table)", t_export, "", None, None),
        ("cache: one op boundary (write + read)", t_cache, "", t_cache / t_export, "< 0.25 of export"),
    ]
    if t_validate is not None:
        rows_out.append(("validate: ~20 checks", t_validate, "", t_validate / t_export, "<= 0.25 of export"))
    print(f"stages on W1: {rows:,} rows, {mb:.1f} MB CSV, best of {args.repeat}")
    print(f"{'stage':<48}{'seconds':>9}{'rate':>11}{'ratio':>9}  target")
    for name, secs, rate, ratio, target in rows_out:
        ratio_s = f"{ratio:.2f}" if ratio is not None else ""
        print(f"{name:<48}{secs:>9.3f}{rate:>11}{ratio_s:>9}  {target or ''}")
    out = HERE / f"stages-{rows}.json"
    out.write_text(json.dumps({n: {"seconds": s, "ratio": r} for n, s, _, r, _ in rows_out}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
