"""Run every benchmark module in turn: ``python -m bench [TOPIC...]``."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path


def topics() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)])
                  if not m.name.startswith("_") and m.name != "common")


def main(argv: list[str]) -> int:
    wanted = argv or topics()
    failed = []
    for topic in wanted:
        importlib.util.find_spec(f"bench.{topic}")  # fail early on a typo
        print(f"== bench.{topic}", flush=True)
        proc = subprocess.run([sys.executable, "-m", f"bench.{topic}"], check=False)
        if proc.returncode:
            failed.append(topic)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
