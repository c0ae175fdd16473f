"""CUDA speed settings for fine-tuning: TF32, channels-last, bf16 autocast, torch.compile.

Each is a `train.perf` key (config.PerfSpec) and each is measured by benchmarks/train_step.py
(`--perf off` vs the defaults). What stays in float32, and why:
  * R1: the gradient penalty is a second-order quantity (grad of grad); bf16's 8-bit mantissa makes
    its small per-pixel gradients noisy, so `r1_step` runs outside autocast.
  * Loss reductions: every loss casts its logits / embeddings to float32 before softplus, cosine and
    mean (losses/gan.py, losses/clip.py), so the scalar that Adam sees is float32.
  * Weights, gradients and Adam states are float32 throughout (autocast casts on the fly), so no
    loss scaler is needed with bf16 (it has float32's exponent range).
On CPU nothing here is applied: the demo and the tests run float32, bit-reproducibly.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Perf:
    """The resolved settings a method uses while it runs: how to open an autocast region."""

    device_type: str = "cpu"
    autocast_dtype: Optional[torch.dtype] = None

    def autocast(self):
        """Context for network forwards: bf16 autocast on CUDA when enabled, else a no-op."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.autocast_dtype)


OFF = Perf()


def set_backend_flags(spec, device: torch.device) -> None:
    """Process-wide cuBLAS/cuDNN switches (no effect on CPU)."""
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = spec.tf32
    torch.backends.cudnn.allow_tf32 = spec.tf32
    torch.backends.cudnn.benchmark = spec.cudnn_benchmark


def to_channels_last(*modules: nn.Module) -> int:
    """4-D weights and buffers in NHWC, in place; returns how many tensors were converted.

    cuDNN picks NHWC kernels when a convolution's weight or input is channels-last, and its output
    stays channels-last, so the activations follow. Only 4-D tensors: the generator's modulated
    convolutions keep a 5-D weight [1, out, in, k, k] that becomes a per-sample grouped-conv weight
    at every call, so channels-last pays off in the discriminators and the sketch extractor.
    """
    n = 0
    for m in modules:
        for t in [*m.parameters(), *m.buffers()]:
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=torch.channels_last)
                n += 1
    return n


def compile_layers(G: nn.Module, sketcher: nn.Module, backend: str = "inductor") -> int:
    """torch.compile, in place, the generator's styled layers and the sketch extractor.

    In place (`nn.Module.compile`) so state-dict keys stay the published ones. Per layer rather
    than the whole generator: G.forward branches on the style-mixing crossover row (a Python int
    drawn every step), which would recompile the whole graph for each value. The discriminators
    stay eager: lazy R1 differentiates through D twice, which compiled graphs do not support.
    Returns the number of modules compiled.
    """
    mods = [G.conv1, G.to_rgb1, *G.convs, *G.to_rgbs, sketcher]
    for m in mods:
        m.compile(backend=backend, dynamic=False)
    return len(mods)


def configure(spec, nets) -> Perf:
    """Apply `spec` (a PerfSpec) to `nets` on its device; return what the method needs at run time.

    Call it after the method is built, so that what the method builds or copies is converted too
    (syog's fresh D_sketch), and so that a copy it keeps frozen (clip_direction's G_frozen) is not
    a copy of compiled layers: a compiled layer's call stays bound to the original layer, so the
    copy would run the trained weights.
    """
    device = nets.device
    if device.type != "cuda":
        log.info("train.perf applies on CUDA only; this %s run is float32 end to end", device.type)
        return OFF
    set_backend_flags(spec, device)
    if spec.channels_last:
        to_channels_last(nets.D_sketch, nets.D_image, nets.sketcher)
    if spec.compile:
        n = compile_layers(nets.G, nets.sketcher)
        log.info("torch.compile: %d generator layers and the sketch extractor (compiled on first use)", n)
    dtype = torch.bfloat16 if spec.autocast == "bf16" else None
    log.info(
        "perf on %s: tf32=%s channels_last=%s autocast=%s compile=%s",
        device,
        spec.tf32,
        spec.channels_last,
        spec.autocast,
        spec.compile,
    )
    return Perf(device.type, dtype)
