"""Mutation score from mutmut's results: killed / (killed + survived + timeouts), per module and overall.

Two ways to run it (make mutation):

    python benchmarks/mutation_score.py              # score what `mutmut run` has checked so far
    python benchmarks/mutation_score.py --sample 40  # check a seeded random sample of 40 mutants per
                                                     # module first, then score that sample

All 5,000-odd mutants take the better part of a day on a 2-core CPU; a seeded sample of a few dozen per
module gives the score with a 95 % Wilson interval in an hour or two. Printed, never asserted:

    mutation module=pipeline.losses checked=40 killed=38 survived=2 score=0.950 ci95=[0.835, 0.986]
    mutation all checked=200 killed=.. survived=.. score=.. ci95=[.., ..]
    survived pipeline.metrics.world.x_fid_from_features__mutmut_7

A timeout counts as survived here (the conservative reading): a mutant that only hangs the tests is not
a bug the tests name.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import random
import subprocess
import sys

# mutmut forks a child per mutant from a parent that has run the tests: with more than one OpenMP
# thread in the parent, a forked child that uses torch can deadlock on the thread pool's locks (seen
# as timeouts). One thread each, as the CI's tests are fast enough without more.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

MODULES = ("pipeline.losses", "pipeline.methods", "pipeline.metrics", "pipeline.editing", "pipeline.assets")


def mutmut_results() -> dict[str, str]:
    """Every mutant's name -> status ('killed', 'survived', 'timeout', 'not checked', ...)."""
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    ).stdout
    results = {}
    for line in out.splitlines():
        if ":" in line:
            name, status = (s.strip() for s in line.rsplit(":", 1))
            results[name] = status
    return results


def module_of(name: str) -> str:
    return ".".join(name.split(".")[:2])


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion k / n (Wilson 1927); sound for k near 0 or n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sample(results: dict[str, str], per_module: int, seed: int) -> list[str]:
    """A seeded random sample of per_module mutant names from each module (all, where fewer)."""
    by_module = collections.defaultdict(list)
    for name in sorted(results):
        by_module[module_of(name)].append(name)
    rng = random.Random(seed)
    chosen = []
    for module in MODULES:
        names = by_module.get(module, [])
        chosen += rng.sample(names, min(per_module, len(names)))
    return chosen


def report(results: dict[str, str], names: list[str] | None = None) -> None:
    names = [n for n in (names or results) if results.get(n, "not checked") != "not checked"]
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for name in names:
        counts[module_of(name)][results[name]] += 1
        counts["all"][results[name]] += 1
    for module, c in sorted(counts.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        killed = c["killed"]
        survived = c["survived"] + c["timeout"] + c["suspicious"]
        total = killed + survived
        lo, hi = wilson(killed, total)
        print(
            f"mutation module={module} checked={total} killed={killed} survived={survived} "
            f"score={killed / total if total else float('nan'):.3f} ci95=[{lo:.3f}, {hi:.3f}]"
        )
    for name in sorted(names):
        if results[name] in ("survived", "timeout", "suspicious"):
            print(f"{results[name]} {name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=0, help="check this many mutants per module first (0: none)")
    ap.add_argument("--seed", type=int, default=0, help="the sample's seed")
    ap.add_argument("--max-children", type=int, default=2)
    args = ap.parse_args()
    if not args.sample:
        report(mutmut_results())
        return 0
    # `mutmut run` with a name that matches nothing still generates the mutants; it then fails its
    # own filter check, which is expected here.
    subprocess.run([sys.executable, "-m", "mutmut", "run", "no-such-mutant"], capture_output=True, env=ENV)
    results = mutmut_results()
    names = sample(results, args.sample, args.seed)
    # A re-run checks only what is left: mutants not checked yet, and timeouts (checked again, since
    # a timeout is more often a slow machine than a mutant that hangs).
    todo = [n for n in names if results.get(n) not in ("killed", "survived", "no tests")]
    print(f"{len(names)} sampled mutants (seed {args.seed}), {len(todo)} to check", flush=True)
    if todo:
        cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *todo]
        subprocess.run(cmd, env=ENV)
    report(mutmut_results(), names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
