"""Write deploy/constraints.txt: tfi-data's runtime dependencies pinned to the versions installed
in the current environment (the ones the test suite ran against).

    .venv/bin/python deploy/lock.py          # after changing [project.dependencies]

pip resolves the package's own dependencies (not the dev extras) without installing anything,
constrained to what is installed here; a dependency missing from this environment is resolved to
the newest version pyproject.toml allows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "deploy" / "constraints.txt"
HEADER = """\
# Pinned runtime dependencies of tfi-data: the versions the image installs (pip install -c).
# Regenerate after changing [project.dependencies]:  python deploy/lock.py
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        freeze = Path(tmp, "installed.txt")
        report = Path(tmp, "report.json")
        installed = subprocess.run(
            [sys.executable, "-m", "pip", "freeze", "--exclude-editable"], check=True, capture_output=True, text=True
        ).stdout
        freeze.write_text(installed, encoding="utf-8")
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"),
                *("--report", str(report), "-c", str(freeze), str(ROOT)),
            ],
            check=True,
        )
        resolved = json.loads(report.read_text(encoding="utf-8"))["install"]
    pins = sorted(
        ((item["metadata"]["name"], item["metadata"]["version"]) for item in resolved),
        key=lambda pin: pin[0].lower(),
    )
    pins = [pin for pin in pins if pin[0].lower() != "tfi-data"]
    TARGET.write_text(HEADER + "".join(f"{name}=={version}\n" for name, version in pins), encoding="utf-8")
    print(f"wrote {len(pins)} pins to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
