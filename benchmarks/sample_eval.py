"""Sampling throughput and the evaluation's wall time: FID + KID + precision/recall on N samples.

Not a test. A random generator in the published architecture (256 px, channel_base 32768) stands in
for a fine-tuned one; the timing does not depend on the weights. Phases, as the sample and
evaluate stages run them:
  1. sampling: generator forwards only (images/s);
  2. generate + write: `write_samples`, the sample stage's loop (N PNGs, threaded encoding);
  3. metrics, cold: `fidelity_metrics` (torch-fidelity) with an empty reference cache, so the
     evaluation photos' features are computed too;
  4. metrics, cached: the same with the reference features cached (every method after the first).
"total" = 2 + 4, what one method's sample + evaluate cost once the reference set is cached.

Inception: `--inception-weights PATH` (torch-fidelity's pt_inception-2015-12-05 file) for the real
network; without it a randomly initialised network of the same architecture is used (offline
machines), which costs exactly the same time. Stable output lines:

    sampling size=256 batch=50 device=cuda imgs_per_s=...
    evaluate n=2500 size=256 device=cuda extractor=inception-v3-compat resize=clean generate_write_s=...
             metrics_cold_s=... metrics_cached_s=... total_s=...      (one line when printed)

GPU:  python benchmarks/sample_eval.py --device cuda
CPU:  python benchmarks/sample_eval.py --size 64 --channel-base 2048 --n 200 --extractor demo-tiny
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import pipeline  # noqa: E402,F401
from pipeline.metrics import EvalContext  # noqa: E402
from pipeline.metrics.fidelity import fidelity_metrics  # noqa: E402
from pipeline.nets.stylegan2 import Generator, StyleGAN2Config  # noqa: E402
from pipeline.sample import Sampler, write_samples  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_inception_weights(path: Path) -> Path:
    """torch-fidelity's Inception-v3 architecture with random weights, saved where it loads from."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    cls, load, url_loader = (
        fe.FeatureExtractorInceptionV3,
        fe.FeatureExtractorInceptionV3.load_state_dict,
        fe.load_state_dict_from_url,
    )
    cls.load_state_dict = lambda self, *a, **k: None  # keep the random initialisation
    fe.load_state_dict_from_url = lambda *a, **k: {}  # and download nothing
    try:
        net = cls("inception-v3-compat", ["2048", "logits_unbiased"])
    finally:
        cls.load_state_dict, fe.load_state_dict_from_url = load, url_loader
    torch.save(net.state_dict(), path)
    return path


def sampling_rate(G, batch, iters, device) -> float:
    z = torch.randn(batch, G.style_dim, device=device)
    with torch.no_grad():
        G([z])
        sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            G([torch.randn(batch, G.style_dim, device=device)])
        sync(device)
    return batch * iters / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--channel-base", type=int, default=32768)
    ap.add_argument("--n", type=int, default=2500, help="samples (paper protocol: %(default)s)")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--extractor", default="inception-v3-compat", choices=["inception-v3-compat", "demo-tiny"])
    ap.add_argument("--inception-weights", type=Path, default=None)
    ap.add_argument("--resize", default="clean", choices=["clean", "tf"])
    ap.add_argument("--sampling-iters", type=int, default=10)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    G = Generator(StyleGAN2Config(size=args.size, channel_base=args.channel_base)).to(device).eval()

    rate = sampling_rate(G, args.batch, args.sampling_iters, device)
    print(f"sampling size={args.size} batch={args.batch} device={device.type} imgs_per_s={rate:.1f}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = args.inception_weights
        if args.extractor == "inception-v3-compat" and weights is None:
            weights = random_inception_weights(tmp / "inception-random.pth")
        # the evaluation photos: another seed's samples (their content does not change the timing)
        write_samples(Sampler(G), tmp / "reals", args.n, seed=1, batch=args.batch, device=device)
        sync(device)
        t0 = time.perf_counter()
        write_samples(Sampler(G), tmp / "fakes", args.n, seed=0, batch=args.batch, device=device)
        sync(device)
        gen_s = time.perf_counter() - t0
        ctx = EvalContext(
            fakes_dir=tmp / "fakes",
            reals_dir=tmp / "reals",
            feature_extractor=args.extractor,
            feature_weights_path=weights,
            resize=args.resize,
            cache_dir=tmp / "cache",
            device=str(device),
            kid_subset_size=min(1000, args.n),
            batch_size=args.batch,
        )
        names = ["fid", "kid", "precision", "recall"]
        times = []
        for _ in range(2):  # cold (reference features computed), cached
            t0 = time.perf_counter()
            values, _ = fidelity_metrics(ctx, names)
            sync(device)
            times.append(time.perf_counter() - t0)
    print(
        f"evaluate n={args.n} size={args.size} device={device.type} extractor={args.extractor} "
        f"resize={args.resize} generate_write_s={gen_s:.1f} metrics_cold_s={times[0]:.1f} "
        f"metrics_cached_s={times[1]:.1f} total_s={gen_s + times[1]:.1f}",
        flush=True,
    )
    print(f"# values (random networks, meaningless): {values}", flush=True)


if __name__ == "__main__":
    main()
