"""Fine-tuning methods, looked up by name from params.yaml (`methods.<block>.method`).

A method is a class with a `Config` dataclass (its params block) registered with
`@register_method(name)`. The trainer (pipeline.train) owns the loop, data, checkpoints and
logging; a method owns its losses and optimizers:

    m = Method(cfg, nets, exp)          # builds optimizers, freezes what it does not train
    logs = m.step(it, data)             # one training iteration -> {loss name: float}
    m.modules(), m.optimizers()         # what a checkpoint saves and restores
    m.generator()                       # the module sampled from afterwards
    m.sampler()                         # it, as the sample stage renders it (previews in training)
"""

from __future__ import annotations

from ..config import ConfigError

METHODS: dict[str, type] = {}


def register_method(name: str):
    def deco(cls):
        METHODS[name] = cls
        cls.name = name
        return cls

    return deco


def prompts(exp, method_cfg) -> tuple[str, str]:
    """(target, source) prompt of a method block: its own when set, else the experiment's."""
    return (
        getattr(method_cfg, "target_prompt", None) or exp.target_prompt,
        getattr(method_cfg, "source_prompt", None) or exp.source_prompt,
    )


def get_method(name: str, where: str = "method") -> type:
    _import_builtin()
    if name not in METHODS:
        raise ConfigError(f"{where}: unknown method {name!r}; registered: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def method_config_class(name: str, where: str = "method") -> type:
    return get_method(name, f"{where}.method").Config


def _import_builtin():
    from . import clip_direction, clip_global, diagonal, syog  # noqa: F401
