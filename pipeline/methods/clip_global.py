"""`clip_global`: Sketch Your Own GAN + a CLIP global loss toward a text prompt.

    L = L_SYOG + lambda_global * L_global,   L_global = 1 - cos(E_I(G(w)), E_T(t_target))

The mapping network is trained by L_SYOG; only its last `clip_layers` layers also receive
L_global, so the text steers the top of the mapping while the sketch loss shapes all of it.
"""

from __future__ import annotations

from ..config import ConfigError, NonNegFloat, PosInt, spec
from ..losses.clip import global_loss
from . import register_method
from .guidance import ClipConfig, ClipGuidance, set_grads
from .syog import SketchYourOwnGAN, requires_grad


@spec
class ClipGlobalConfig(ClipConfig):
    lambda_global: NonNegFloat = 1.0
    clip_layers: PosInt = 4  # last mapping layers that receive L_global


@register_method("clip_global")
class ClipGlobal(SketchYourOwnGAN):
    Config = ClipGlobalConfig

    def __init__(self, cfg: ClipGlobalConfig, nets, exp):
        super().__init__(cfg, nets, exp)
        layers = nets.G.mapping_layers()
        if cfg.clip_layers > len(layers):
            raise ConfigError(
                f"methods.{cfg.method}.clip_layers: {cfg.clip_layers} exceeds the mapping "
                f"network's {len(layers)} layers"
            )
        self.clip_params = [p for layer in layers[-cfg.clip_layers :] for p in layer.parameters()]
        self.guide = ClipGuidance(cfg, exp, nets.device)

    def g_step(self, data) -> dict:
        for m in self.d_modules:
            requires_grad(m, False)
        with self.nets.perf.autocast():
            fake = self.fake(self.exp.train.batch)
            loss_syog, logs = self.syog_generator_loss(fake)
            l_glob = global_loss(self.guide.encode(fake), self.guide.target)
        logs["clip_global"] = l_glob.item()
        self.g_optim.zero_grad(set_to_none=True)
        set_grads([(loss_syog, self.g_params), (self.cfg.lambda_global * l_glob, self.clip_params)])
        self.g_optim.step()
        return logs
