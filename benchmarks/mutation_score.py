"""Mutation score from mutmut's results: killed / (killed + survived + timeouts), per module and overall.

Run after `mutmut run` (make mutation). Printed, never asserted:

    mutation module=pipeline.losses killed=.. survived=.. score=0.93
    mutation all killed=.. survived=.. score=..
"""

from __future__ import annotations

import collections
import subprocess
import sys


def main() -> int:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True
    ).stdout
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        if ":" not in line:
            continue
        name, status = (s.strip() for s in line.rsplit(":", 1))
        module = ".".join(name.split(".")[:2])
        counts[module][status] += 1
        counts["all"][status] += 1
    for module, c in sorted(counts.items()):
        killed, survived = c["killed"], c["survived"] + c["timeout"] + c["suspicious"]
        total = killed + survived
        print(
            f"mutation module={module} killed={killed} survived={survived} "
            f"score={killed / total if total else float('nan'):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
