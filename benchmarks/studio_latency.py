"""Studio slider latency on this machine, in the toy world: what one slider move costs the server.

For each live-edit tool of pipeline/editing/session.py (what the studio's sliders call), the time of
one call with a new slider value, after the once-per-generator statistics are computed (timed
separately). Printed, never asserted. Goal (issue "A studio"): <= 100 ms for global directions,
GANSpace and interpolation on a 2-core CPU.

    python benchmarks/studio_latency.py [--moves 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn, moves: int) -> tuple[float, float]:
    times = []
    for i in range(moves):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from pipeline.config import load_params
    from pipeline.editing.session import EditSession
    from pipeline.models import load_generator
    from pipeline.nets.clip import build_clip

    exp = load_params(ROOT / "params.yaml", {"experiment": "toy"}).experiment
    G = load_generator(exp, ROOT / exp.assets.world_dir / "gan" / "netG.pth")
    c = exp.clip
    clip = build_clip(c.model, c.pretrained, str(ROOT / c.checkpoint))
    with tempfile.TemporaryDirectory() as cache:
        s = EditSession.for_experiment(G, clip, exp.editing, cache_dir=cache)
        w, w2 = s.sample_w(0), s.sample_w(1)
        t = time.perf_counter()
        _ = s.relevance, s.stats
        once_gd = time.perf_counter() - t
        t = time.perf_counter()
        _ = s.components
        once_gs = time.perf_counter() - t
        neutral, target = exp.source_prompt, exp.target_prompt
        s.text_direction(neutral, target)
        state = {k: v.clone() for k, v in G.state_dict().items()}
        tools = {
            "global_directions": lambda i: s.global_direction(w, neutral, target, -10 + 20 * i / args.moves, 0.1),
            "ganspace": lambda i: s.ganspace(w, {0: -5 + 10 * i / args.moves, 1: 1.0}),
            "interpolation_w": lambda i: s.interpolate_w(w, w2, i / args.moves),
            "interpolation_weights": lambda i: s.interpolate_weights(state, w, i / args.moves),
        }
        print(f"studio_latency device=cpu threads={args.threads} size={G.size} moves={args.moves} (toy world)")
        print(f"once per generator: relevance+stats {once_gd:.1f} s, GANSpace components {once_gs:.1f} s")
        for name, fn in tools.items():
            med, p95 = timed(fn, args.moves)
            print(f"slider tool={name} median_ms={med:.1f} p95_ms={p95:.1f}")
        # the buttons: new start codes by optimization, at the page's default step counts
        colours = torch.zeros(3, G.size, G.size)
        colours[0] = 0.9  # a red patch on the body
        mask = torch.zeros(1, G.size, G.size)
        mask[:, G.size // 3 : 2 * G.size // 3, G.size // 3 : 2 * G.size // 3] = 1
        buttons = {
            "invert (60 steps x 2 restarts)": lambda: s.invert(s.render(w2)),
            "latent_opt (40 steps)": lambda: s.latent_opt(w, target, steps=40),
            "scribble (60 steps)": lambda: s.scribble(w, colours, mask),
        }
        for name, fn in buttons.items():
            t = time.perf_counter()
            fn()
            print(f"button tool={name} seconds={time.perf_counter() - t:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
