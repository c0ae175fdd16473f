"""FID, KID and k-NN precision/recall through torch-fidelity, with a cached reference set.

- FID (Heusel et al. 2017, arXiv 1706.08500): ||mu_f - mu_r||^2 + Tr(S_f + S_r - 2 (S_f S_r)^(1/2))
  over extractor features of fakes (f) and reals (r).
- KID (Binkowski et al. 2018, arXiv 1801.01401): unbiased MMD^2 with the cubic polynomial kernel
  k(x, y) = (x.y / d + 1)^3, averaged over `kid_subsets` random subsets of `kid_subset_size`
  (mean and std reported).
- Precision / recall (Kynkaanniemi et al. 2019, arXiv 1904.06991): precision = fraction of fakes
  inside the union of k-NN balls around reals; recall = fraction of reals inside the balls around
  fakes; k = `prc_neighborhood` (3, as GANSketching). As the reference, more reals than
  `prc_reals` (2,500) are randomly subsampled to that many (seeded) for P&R only.

All three come from one `torch_fidelity.calculate_metrics` call (fakes = input1, reals = input2)
with one feature extractor. Reference-set features are cached by torch-fidelity under
`ctx.cache_dir`, named by the reals' content digest, the extractor (and its weights) and the resize
mode, so every method is compared against features computed once.

Comparability (reference spec §1.7): the published GANSketching FIDs used clean-fid: PIL bicubic
resize to 299x299 on float data, then the TF Inception-v3 (2015-12-05), 2,500 samples, against
`data/eval/<task>/image`. Precision/recall used VGG-16 features under TensorFlow 1.x, so our P&R is
never directly comparable. `comparable_to_published` is True only for the FID protocol match:
extractor `inception-v3-compat` (the same 2015-12-05 Inception, converted to PyTorch), resize
"clean" and exactly 2,500 fakes. Residual differences: our clean resize rounds the resized image
to uint8 (torch-fidelity's Inception takes uint8), clean-fid feeds the float result (<= 0.5/255 per
pixel); the matrix square root differs in method (eigenvalues here, scipy sqrtm in clean-fid).
torch-fidelity's default "tf" resize (bilinear without anti-aliasing) is not comparable.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torch_fidelity
from PIL import Image
from torch.utils.data import Dataset
from torch_fidelity.datasets import ImagesPathDataset

from . import EvalContext, list_images, register_metric

DEMO_EXTRACTOR = "demo-tiny"
INCEPTION_EXTRACTOR = "inception-v3-compat"
PUBLISHED_N = 2500  # GANSketching `--eval_samples`
CLEAN_SIZE = 299  # clean-fid's Inception input size

# ----------------------------------------------------------------------------
# Demo feature extractor (offline, no downloads; numbers are demo numbers only)


class DemoTinyExtractor(torch_fidelity.FeatureExtractorBase):
    """A fixed random conv net: uint8 [B,3,H,W] -> 64-d features. Seeded, deterministic, CPU-fast.

    Resize to 64x64 (bilinear, anti-aliased) -> 3 stride-2 convs (3->16->32->64, LeakyReLU 0.2)
    -> global average pooling. Weights are drawn from a private generator seeded with `SEED`, so
    every process builds the same network without touching the global RNG. It measures nothing
    meaningful about image quality; it only lets the offline demo and the tests run the real
    FID/KID/P&R code paths.
    """

    SEED = 20240611
    INPUT_SIZE = 64
    samples_seen = 0  # class-wide counter of images processed (tests check reference-cache reuse)

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        g = torch.Generator().manual_seed(self.SEED)
        self.convs = torch.nn.ModuleList()
        for cin, cout in ((3, 16), (16, 32), (32, 64)):
            conv = torch.nn.Conv2d(cin, cout, 4, stride=2, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2.0 / (cin * 16)) ** 0.5)
                conv.bias.copy_(torch.randn(conv.bias.shape, generator=g) * 0.1)
            self.convs.append(conv)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3):
            raise ValueError(
                f"demo-tiny expects uint8 [B,3,H,W], got {getattr(x, 'dtype', type(x))} "
                f"{tuple(getattr(x, 'shape', ()))}"
            )
        type(self).samples_seen += x.shape[0]
        h = x.float() / 127.5 - 1.0
        h = F.interpolate(
            h, size=(self.INPUT_SIZE, self.INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True
        )
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        return (h.mean(dim=(2, 3)),)  # [B, 64]

    @staticmethod
    def get_provided_features_list():
        return ("64",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "64"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 64, 64, dtype=torch.uint8)


if DEMO_EXTRACTOR not in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY:  # survive module reloads
    torch_fidelity.register_feature_extractor(DEMO_EXTRACTOR, DemoTinyExtractor)


def demo_extractor_digest() -> str:
    """sha256 of the demo net's weights: proves two runs used the same random network."""
    net = DemoTinyExtractor(DEMO_EXTRACTOR, ["64"])
    h = hashlib.sha256()
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------
# Inputs: digests and the clean resize


def folder_digest(files: list[Path], root: Path) -> str:
    """sha256 over the sorted relative file names and their bytes: the identity of a reference set."""
    h = hashlib.sha256()
    for p in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    from ..nets.checkpoint import file_digest

    return file_digest(path)


def clean_resize(img: Image.Image, size: int = CLEAN_SIZE) -> np.ndarray:
    """clean-fid's "clean" resize: each channel as a float32 PIL image, bicubic to size x size, clipped
    to [0, 255]. Returns float32 [size, size, 3]."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    chans = [
        np.asarray(Image.fromarray(np.ascontiguousarray(a[..., c])).resize((size, size), Image.BICUBIC))
        for c in range(3)
    ]
    return np.clip(np.stack(chans, axis=-1), 0, 255)


class CleanResizedImages(Dataset):
    """Image files -> uint8 [3, 299, 299] tensors after `clean_resize` (rounded: torch-fidelity's
    extractors take uint8). torch-fidelity's own resize to 299 is then the identity for Inception."""

    def __init__(self, files: list[Path], size: int = CLEAN_SIZE):
        self.files, self.size = [str(f) for f in files], size

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with Image.open(self.files[i]) as im:
            a = clean_resize(im, self.size)
        return torch.from_numpy(np.rint(a).astype(np.uint8)).permute(2, 0, 1).contiguous()


def _weights_provenance(ctx: EvalContext) -> dict:
    if ctx.feature_extractor == DEMO_EXTRACTOR:
        return {"weights": "seeded random (demo)", "weights_sha256": demo_extractor_digest()}
    if ctx.feature_weights_path is not None:
        if not ctx.feature_weights_path.is_file():
            raise ValueError(f"evaluate.feature_weights_path {str(ctx.feature_weights_path)!r} does not exist")
        return {"weights": str(ctx.feature_weights_path), "weights_sha256": file_sha256(ctx.feature_weights_path)}
    if ctx.feature_extractor == INCEPTION_EXTRACTOR:  # torch-fidelity downloads into the torch hub cache
        from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

        cached = Path(torch.hub.get_dir()) / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1]
        return {"weights": URL_INCEPTION_V3, "weights_sha256": file_sha256(cached) if cached.is_file() else None}
    return {"weights": "torch-fidelity default", "weights_sha256": None}


def comparable_to_published(extractor: str, resize: str, n_fakes: int, feature_layer: str | None = None) -> bool:
    """True only for the published GANSketching FID protocol (reference spec §1.7): clean-fid's
    Inception (pool features, 2048-d), clean resize, 2,500 samples. See the module docstring for
    residual differences."""
    return (
        extractor == INCEPTION_EXTRACTOR
        and resize == "clean"
        and n_fakes == PUBLISHED_N
        and feature_layer in (None, "2048")
    )


# ----------------------------------------------------------------------------
# The provider

_WANTS = {"fid": "fid", "kid": "kid", "precision": "prc", "recall": "prc"}


@register_metric("fid", "kid", "precision", "recall", key="fidelity")
def fidelity_metrics(ctx: EvalContext, names: list[str]) -> tuple[dict[str, float], dict]:
    """FID / KID (mean, std) / precision, recall of ctx.fakes_dir against ctx.reals_dir."""
    fakes = list_images(ctx.fakes_dir, "generated-samples folder (evaluate fakes_dir)")
    if ctx.reals_dir is None:
        raise ValueError("FID/KID/precision/recall need an evaluation set: reals_dir is not set")
    reals = list_images(ctx.reals_dir, "evaluation set")
    wants = {_WANTS[n] for n in names}
    n_fakes, n_reals = len(fakes), len(reals)
    if "kid" in wants:
        if n_fakes < ctx.kid_subset_size:
            raise ValueError(
                f"KID needs at least kid_subset_size samples: N fakes = {n_fakes} < "
                f"evaluate.kid_subset_size = {ctx.kid_subset_size}; lower evaluate.kid_subset_size "
                f"or generate more samples"
            )
        if n_reals < ctx.kid_subset_size:
            raise ValueError(
                f"KID needs at least kid_subset_size reals: N reals = {n_reals} in "
                f"{str(ctx.reals_dir)!r} < evaluate.kid_subset_size = {ctx.kid_subset_size}"
            )
    if "prc" in wants and min(n_fakes, n_reals) <= ctx.prc_neighborhood:
        raise ValueError(
            f"precision/recall need more than k = {ctx.prc_neighborhood} samples per set "
            f"(N fakes = {n_fakes}, N reals = {n_reals})"
        )

    reals_digest = folder_digest(reals, ctx.reals_dir)
    weights = _weights_provenance(ctx)
    # The cache entry name: which reals, which resize, which network (torch-fidelity appends the
    # extractor name and the feature layer).
    wtag = (weights["weights_sha256"] or "default")[:12]
    cache_name = f"reals-{reals_digest[:24]}-{ctx.resize}-w{wtag}"

    # Datasets over our own file lists, so the files measured are exactly the files digested.
    if ctx.resize == "clean":
        input1, input2 = CleanResizedImages(fakes), CleanResizedImages(reals)
    else:  # uint8 at native size; the extractor does torch-fidelity's TF1-compatible resize
        input1, input2 = ImagesPathDataset([str(f) for f in fakes]), ImagesPathDataset([str(f) for f in reals])

    kwargs = dict(
        input1=input1,
        input2=input2,
        fid="fid" in wants,
        kid="kid" in wants,
        prc="prc" in wants,
        feature_extractor=ctx.feature_extractor,
        kid_subset_size=int(ctx.kid_subset_size),
        kid_subsets=int(ctx.kid_subsets),
        prc_neighborhood=int(ctx.prc_neighborhood),
        batch_size=int(ctx.batch_size),
        cuda=str(ctx.device).startswith("cuda"),
        rng_seed=int(ctx.seed),
        save_cpu_ram=bool(ctx.save_cpu_ram),
        verbose=False,
        cache=ctx.cache_dir is not None,
    )
    if ctx.cache_dir is not None:
        ctx.cache_dir.mkdir(parents=True, exist_ok=True)
        kwargs.update(cache_root=str(ctx.cache_dir), input2_cache_name=cache_name)
    if ctx.feature_layer is not None:
        kwargs.update(
            feature_layer_fid=ctx.feature_layer,
            feature_layer_kid=ctx.feature_layer,
            feature_layer_prc=ctx.feature_layer,
        )
    if ctx.feature_weights_path is not None and ctx.feature_extractor != DEMO_EXTRACTOR:
        kwargs["feature_extractor_weights_path"] = str(ctx.feature_weights_path)

    # Without a local file, torch-fidelity downloads its Inception weights; offline that fails deep
    # inside urllib, so say what to do instead.
    downloads = (
        ctx.feature_extractor == INCEPTION_EXTRACTOR
        and ctx.feature_weights_path is None
        and weights["weights_sha256"] is None
    )
    # Precision / recall as the reference computes them (PeterWang512/precision_recall): the reals
    # are randomly subsampled to `prc_reals` (2,500) when there are more; a second call on the subset.
    prc_subset = None
    if "prc" in wants and ctx.prc_reals is not None and n_reals > ctx.prc_reals:
        g = torch.Generator().manual_seed(int(ctx.seed))
        prc_subset = sorted(torch.randperm(n_reals, generator=g)[: ctx.prc_reals].tolist())
        kwargs["prc"] = False
    try:
        out = torch_fidelity.calculate_metrics(**kwargs) if (kwargs["fid"] or kwargs["kid"] or kwargs["prc"]) else {}
        if prc_subset is not None:
            sub = [reals[i] for i in prc_subset]
            sub_kwargs = {
                **kwargs,
                "fid": False,
                "kid": False,
                "prc": True,
                "cache": False,
                "input2": CleanResizedImages(sub)
                if ctx.resize == "clean"
                else ImagesPathDataset([str(f) for f in sub]),
            }
            sub_kwargs.pop("input2_cache_name", None)
            out.update(torch_fidelity.calculate_metrics(**sub_kwargs))
    except (OSError, RuntimeError) as e:
        if downloads:
            raise RuntimeError(
                f"could not get the Inception weights {weights['weights']} ({e}); without network "
                f"access set evaluate.feature_weights_path to a local copy of that file"
            ) from e
        raise

    values: dict[str, float] = {}
    if "fid" in wants:
        values["fid"] = float(out[torch_fidelity.KEY_METRIC_FID])
    if "kid" in wants:
        values["kid_mean"] = float(out[torch_fidelity.KEY_METRIC_KID_MEAN])
        values["kid_std"] = float(out[torch_fidelity.KEY_METRIC_KID_STD])
    if "precision" in names:
        values["precision"] = float(out[torch_fidelity.KEY_METRIC_PRECISION])
    if "recall" in names:
        values["recall"] = float(out[torch_fidelity.KEY_METRIC_RECALL])

    provenance = {
        "library": "torch-fidelity",
        "torch_fidelity_version": torch_fidelity.__version__,
        "feature_extractor": ctx.feature_extractor,
        "feature_layer": ctx.feature_layer or "default",
        **weights,
        "n_fakes": n_fakes,
        "n_reals": n_reals,
        "fakes_dir": str(ctx.fakes_dir),
        "reals_dir": str(ctx.reals_dir),
        "reals_digest": reals_digest,
        "resize": ctx.resize,
        "resize_detail": (
            "clean: PIL bicubic to 299x299 per channel on float32, clipped, rounded to uint8"
            if ctx.resize == "clean"
            else "tf: torch-fidelity's TF1-compatible bilinear resize inside the extractor"
        ),
        "kid_subset_size": int(ctx.kid_subset_size),
        "kid_subsets": int(ctx.kid_subsets),
        "prc_neighborhood": int(ctx.prc_neighborhood),
        "seed": int(ctx.seed),
        "prc_reals": (len(prc_subset) if prc_subset is not None else n_reals),
        "prc_features": (
            f"{ctx.feature_extractor} layer {ctx.feature_layer or 'default'} (the reference uses "
            "VGG-16 fc2, 4096-d, under TensorFlow 1; not comparable)"
        ),
        "reference_cache": ({"root": str(ctx.cache_dir), "name": cache_name} if ctx.cache_dir is not None else None),
        "comparable_to_published": comparable_to_published(
            ctx.feature_extractor, ctx.resize, n_fakes, ctx.feature_layer
        ),
        "demo": ctx.feature_extractor == DEMO_EXTRACTOR,
    }
    return values, provenance
