"""CUDA speed settings (pipeline/perf.py), checked on CPU where the same code paths run:
bf16 autocast keeps R1 and the loss reductions in float32 and the weights float32; channels-last
and per-layer torch.compile leave outputs and published state-dict keys unchanged; on a CPU
device `configure` changes nothing (the demo and the resume tests stay float32 and exact)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch
from tiny import UNIT16, FakeData

from pipeline.config import ConfigError, load_params
from pipeline.losses import gan
from pipeline.methods import syog as syog_mod
from pipeline.methods.clip_global import ClipGlobal
from pipeline.methods.syog import SketchYourOwnGAN
from pipeline.models import Nets, stylegan_config
from pipeline.nets.stylegan2 import Discriminator, Generator
from pipeline.nets.xdog import XDoG
from pipeline.perf import OFF, Perf, compile_layers, configure, to_channels_last

pytestmark = pytest.mark.usefixtures("one_thread")

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
TINY = {**UNIT16, "experiments.demo.clip": {"model": "demo-tiny-clip", "pretrained": None}}
SIZE = TINY["experiments.demo.size"]


def nets_for(exp, seed=1234) -> Nets:
    torch.manual_seed(seed)
    cfg = stylegan_config(exp)
    return Nets(
        Generator(cfg), Discriminator(cfg), Discriminator(cfg), XDoG().requires_grad_(False), torch.device("cpu")
    )


def run_steps(method_cls, name, perf: Perf, steps=2, over=None):
    p = load_params(PARAMS, {**TINY, **(over or {})})
    exp, cfg = p.experiment, p.method(name)
    nets = nets_for(exp)
    method = method_cls(cfg, nets, exp)
    nets.perf = perf
    torch.manual_seed(0)
    data = FakeData(SIZE)
    logs = [method.step(it, data) for it in range(steps)]  # it=0 includes the lazy R1 step
    return logs, nets


def test_perf_config_is_validated_and_defaults_are_documented_choices():
    t = load_params(PARAMS, TINY).experiment.train
    assert (t.perf.tf32, t.perf.channels_last, t.perf.autocast, t.perf.compile) == (True, True, "bf16", False)
    with pytest.raises(ConfigError, match=r"train\.perf\.autocast.*'fp8'"):
        load_params(PARAMS, {**TINY, "experiments.demo.train.perf.autocast": "fp8"})


def test_configure_on_cpu_changes_nothing():
    exp = load_params(PARAMS, TINY).experiment
    nets = nets_for(exp)
    before = {k: v.clone() for k, v in nets.D_sketch.state_dict().items()}
    # every switch on, compile included: on a CPU device none of it may apply
    spec = dataclasses.replace(exp.train.perf, tf32=True, channels_last=True, autocast="bf16", compile=True)
    assert configure(spec, nets) is OFF
    four_d = [v for v in nets.D_sketch.state_dict().values() if v.dim() == 4]
    assert four_d and all(v.is_contiguous() for v in four_d)  # not channels-last
    assert all(torch.equal(v, before[k]) for k, v in nets.D_sketch.state_dict().items())
    assert nets.G.conv1._compiled_call_impl is None and nets.sketcher._compiled_call_impl is None


def test_bf16_autocast_keeps_r1_losses_and_weights_float32(monkeypatch):
    seen = {}

    def spy(name, fn):
        def wrapped(*args):
            seen.setdefault(name, []).append((tuple(a.dtype for a in args), torch.is_autocast_enabled("cpu")))
            out = fn(*args)
            seen[name][-1] += (out.dtype,)
            return out

        return wrapped

    monkeypatch.setattr(syog_mod, "r1_penalty", spy("r1", gan.r1_penalty))
    monkeypatch.setattr(syog_mod, "d_logistic", spy("d", gan.d_logistic))
    monkeypatch.setattr(syog_mod, "g_nonsaturating", spy("g", gan.g_nonsaturating))
    logs_bf16, nets = run_steps(SketchYourOwnGAN, "syog", Perf("cpu", torch.bfloat16))

    # the D and G losses see bf16 logits from autocast forwards, and return float32
    assert all(d == (torch.bfloat16, torch.bfloat16) and on and out == torch.float32 for d, on, out in seen["d"])
    assert all(d == (torch.bfloat16,) and on and out == torch.float32 for d, on, out in seen["g"])
    # R1 ran once (it=0), outside autocast, on float32 logits and inputs
    assert len(seen["r1"]) == 2  # sketch and image terms
    assert all(d == (torch.float32, torch.float32) and not on and out == torch.float32 for d, on, out in seen["r1"])
    # weights (and so Adam's states) stay float32
    for m in (nets.G, nets.D_sketch, nets.D_image):
        assert {p.dtype for p in m.parameters()} == {torch.float32}

    # same seeds in float32: bf16 changes the numbers a little, not the picture
    logs_fp32, _ = run_steps(SketchYourOwnGAN, "syog", OFF)
    for a, b in zip(logs_bf16, logs_fp32):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=0.05, abs=0.02), k


def test_bf16_autocast_clip_loss_is_float32_and_finite():
    over = {"methods.clip_global.clip_layers": 1}  # the tiny mapping has 2 layers
    logs, nets = run_steps(ClipGlobal, "clip_global", Perf("cpu", torch.bfloat16), over=over)
    assert all(torch.isfinite(torch.tensor(list(lg.values()))).all() for lg in logs)
    ref, _ = run_steps(ClipGlobal, "clip_global", OFF, over=over)
    assert logs[-1]["clip_global"] == pytest.approx(ref[-1]["clip_global"], abs=0.02)


def test_channels_last_same_outputs_and_published_checkpoint(tmp_path):
    exp = load_params(PARAMS, TINY).experiment
    nets = nets_for(exp)
    z = torch.randn(2, exp.generator.style_dim, generator=torch.Generator().manual_seed(3))
    noise = [n.clone() for n in nets.G.stored_noise()]
    img0, _ = nets.G([z], noise=noise)
    logit0 = nets.D_sketch(img0)
    assert to_channels_last(nets.G, nets.D_sketch) > 0
    four_d = [t for t in [*nets.D_sketch.parameters(), *nets.G.parameters()] if t.dim() == 4]
    assert four_d and all(t.is_contiguous(memory_format=torch.channels_last) for t in four_d)
    assert nets.G.convs[0].conv.weight.dim() == 5  # modulated: left as it is
    img1, _ = nets.G([z], noise=noise)
    torch.testing.assert_close(img1, img0, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(nets.D_sketch(img0), logit0, rtol=1e-4, atol=1e-5)
    # a checkpoint of a channels-last generator loads strictly into a fresh, contiguous one
    torch.save(nets.G.state_dict(), tmp_path / "netG.pth")
    fresh = Generator(stylegan_config(exp))
    fresh.load_state_dict(torch.load(tmp_path / "netG.pth", weights_only=True), strict=True)
    torch.testing.assert_close(fresh([z], noise=noise)[0], img0, rtol=1e-4, atol=1e-5)


def test_compiled_layers_keep_keys_outputs_and_gradients():
    exp = load_params(PARAMS, TINY).experiment
    nets = nets_for(exp)
    ref = copy.deepcopy(nets.G)
    keys = list(nets.G.state_dict())
    n = compile_layers(nets.G, nets.sketcher, backend="eager")  # inductor needs minutes on CPU
    assert n == 2 + len(nets.G.convs) + len(nets.G.to_rgbs) + 1
    assert list(nets.G.state_dict()) == keys  # published keys, no _orig_mod.
    z = torch.randn(2, exp.generator.style_dim, generator=torch.Generator().manual_seed(5))
    noise = [t.clone() for t in nets.G.stored_noise()]
    out, _ = nets.G([z], noise=noise, inject_index=None)
    want, _ = ref([z], noise=noise)
    torch.testing.assert_close(out, want)
    out.square().mean().backward()
    want.square().mean().backward()
    for (k, p), q in zip(nets.G.named_parameters(), ref.parameters()):
        if q.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, msg=k)
