"""One in-process measurement, run by benchmarks/run.py in a fresh interpreter.

A fresh process per measurement keeps measurements apart. The CSV is read (untimed) with tfi-data's
own CSV reader, so the DataFrame has the dtypes a pipeline's export receives; then the peak-RSS mark
is reset and only the write is timed, so ``peak_rss`` is the write's own high-water mark (the
interpreter, the libraries and the DataFrame included). Prints one JSON line on stdout.

    python benchmarks/bench_child.py exporter --csv F --url URL --mode merge|sync
    python benchmarks/bench_child.py to_sql --csv F --url URL [--method default|multi] [--chunksize N]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from pathlib import Path


def current_rss() -> int:
    """Resident set size now, in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def peak_rss() -> int:
    """High-water mark of the resident set since start, or since ``reset_peak_rss`` (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> None:
    """Start a new high-water mark at the current RSS (writing 5 to clear_refs, Linux >= 4.0),
    so the peak reported is the timed write's own, not the untimed CSV read's."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # give back what the CSV parser pooled
    Path("/proc/self/clear_refs").write_text("5")


def load(csv: str):
    from tfi_data.loader.readers import read_csv

    rss_after_imports = current_rss()  # the interpreter and every library the measurement needs
    start = time.perf_counter()
    df = read_csv(csv, {})
    seconds = time.perf_counter() - start
    gc.collect()
    peak_after_load = peak_rss()
    reset_peak_rss()
    return df, {
        "read_s": round(seconds, 3),
        "df_rows": len(df),
        "df_bytes": int(df.memory_usage(deep=True).sum()),
        "df_dtypes": {str(c): str(t) for c, t in df.dtypes.items()},
        "rss_after_imports": rss_after_imports,
        "rss_after_load": current_rss(),
        "peak_rss_after_load": peak_after_load,
    }


def run_exporter(args: argparse.Namespace) -> dict:
    from tfi_data import Export
    from tfi_data.export import Exporter

    df, info = load(args.csv)
    export = Export(table=args.table, keys=["id"], mode=args.mode)
    exporter = Exporter(args.url)
    start = time.perf_counter()
    result = exporter.export(df, export)
    info["seconds"] = round(time.perf_counter() - start, 4)
    info["result"] = result.to_dict()
    exporter.engine.dispose()
    return info


def run_to_sql(args: argparse.Namespace) -> dict:
    import sqlalchemy as sa

    df, info = load(args.csv)
    engine = sa.create_engine(args.url)
    method = None if args.method == "default" else args.method
    start = time.perf_counter()
    df.to_sql(args.table, engine, if_exists="append", index=False, chunksize=args.chunksize, method=method)
    info["seconds"] = round(time.perf_counter() - start, 4)
    info["result"] = {"method": args.method, "chunksize": args.chunksize}
    engine.dispose()
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    for name in ("exporter", "to_sql"):
        s = sub.add_parser(name)
        s.add_argument("--csv", required=True)
        s.add_argument("--url", required=True, help="SQLAlchemy URL")
        s.add_argument("--table", default="bench")
    sub.choices["exporter"].add_argument("--mode", default="merge")
    sub.choices["to_sql"].add_argument("--method", choices=("multi", "default"), default="default")
    # "default" is executemany, which SQLAlchemy 2 batches into multi-row INSERTs itself: ~10x faster
    # than method="multi" here. With "multi" keep 8 columns x chunksize under 65535 bind parameters.
    sub.choices["to_sql"].add_argument("--chunksize", type=int, default=10_000)
    args = p.parse_args(argv)
    info = run_exporter(args) if args.what == "exporter" else run_to_sql(args)
    info["peak_rss"] = peak_rss()
    print(json.dumps(info, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
