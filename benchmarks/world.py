"""The toy world's renderer and oracle: images per second on this machine. Printed, never asserted.

    render size=32 batch=1000 threads=2 images_per_s=...
    oracle size=32 batch=500 threads=2 images_per_s=...

Run: .venv/bin/python benchmarks/world.py [--size 32] [--reps 5] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import pipeline  # noqa: E402,F401
from pipeline.world.render import render, sample_factors  # noqa: E402


def timed(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--oracle", default=str(Path(__file__).resolve().parents[1] / "data/world/oracle/oracle.pth"))
    a = ap.parse_args()
    f = sample_factors(1000, 0)
    photos, _ = render(f, a.size)
    oracle = None
    if Path(a.oracle).is_file():
        from pipeline.world.data import load_oracle

        oracle = load_oracle(Path(a.oracle), a.size)
    for threads in a.threads:
        torch.set_num_threads(threads)
        s = timed(lambda: render(f, a.size), a.reps)
        print(f"render size={a.size} batch=1000 threads={threads} images_per_s={1000 / s:.0f}")
        if oracle is not None:
            s = timed(lambda: oracle.predict(photos[:500]), a.reps)
            print(f"oracle size={a.size} batch=500 threads={threads} images_per_s={500 / s:.0f}")


if __name__ == "__main__":
    main()
