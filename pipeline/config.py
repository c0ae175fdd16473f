"""Typed, validated configuration built once from params.yaml.

`load_params(path)` -> `Params` (the whole file, validated before any work); `Params.stage(...)`
gives the frozen config object a stage needs. Errors name the offending key path and what is
allowed, e.g. `params.yaml: methods.syog.lr: Input should be greater than 0, got float -0.1`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import os
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import pydantic
import pydantic.dataclasses
import yaml
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, Strict, TypeAdapter, ValidationError

from .io import write_bytes


class ConfigError(ValueError):
    """A params.yaml problem; the message names the key and what is expected."""


# ----------------------------------------------------------------------------
# Config dataclasses: pydantic does the type checks, unknown keys, missing keys and declared ranges;
# `validate(path)` methods hold the rules that relate several keys (run after construction).

_SPEC = ConfigDict(extra="forbid")


def spec(cls):
    """A frozen config dataclass validated by pydantic (still a dataclass: `dataclasses.replace`
    re-validates). Types are strict as YAML is typed: no "4" for 4, no True for 1; ints become floats."""
    return pydantic.dataclasses.dataclass(frozen=True, config=_SPEC)(cls)


def _as_tuple(v):
    return tuple(v) if isinstance(v, list) else v  # YAML lists -> the frozen configs' tuples


Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
PosInt = Annotated[int, Strict(), Field(gt=0)]
PosFloat = Annotated[float, Strict(), Field(gt=0)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
NonNegFloat = Annotated[float, Strict(), Field(ge=0)]
Unit = Annotated[float, Strict(), Field(ge=0, le=1)]


MAX_PROMPT_CHARS = 200  # CLIP reads 77 tokens; a longer prompt is cut off without a word


def _non_empty_prompt(v: str) -> str:
    if not v.strip():
        raise ValueError("must be a non-empty prompt")
    if len(v) > MAX_PROMPT_CHARS:
        raise ValueError(f"must be at most {MAX_PROMPT_CHARS} characters (CLIP reads 77 tokens), has {len(v)}")
    return v


Prompt = Annotated[str, Strict(), AfterValidator(_non_empty_prompt)]
StrTuple = Annotated[tuple[Str, ...], BeforeValidator(_as_tuple)]
IntTuple = Annotated[tuple[Int, ...], BeforeValidator(_as_tuple)]
OptStrTuple = Annotated[tuple[Optional[Str], ...], BeforeValidator(_as_tuple)]


def _unwrap(tp):
    """The config class inside Optional[...] / Annotated[...], or None."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            inner = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(inner) != 1:
                return None
            tp = inner[0]
        else:
            return tp if dataclasses.is_dataclass(tp) else None


def _class_at(cls, loc: tuple):
    for part in loc:
        if cls is None or not isinstance(part, str):
            return None
        hints = typing.get_type_hints(cls, include_extras=True)
        cls = _unwrap(hints[part]) if part in hints else None
    return cls


def _key_path(path: str, loc: tuple) -> str:
    out = path
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _describe(cls, path: str, err: dict) -> str:
    """One pydantic error -> `<file>: <key path>: <what is wrong>, got <value>`."""
    loc, kind = tuple(err["loc"]), err["type"]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        parent = _class_at(cls, loc[:-1])
        allowed = [f.name for f in dataclasses.fields(parent) if f.init] if parent else []
        if parent is Experiment:
            allowed.remove("name")  # the block's own name under experiments:, not a key
        return f"{_key_path(path, loc[:-1])}: unknown key {loc[-1]}" + (
            f"; allowed: {', '.join(allowed)}" if allowed else ""
        )
    if kind in ("missing_argument", "missing"):
        return f"{_key_path(path, loc[:-1])}: missing required key {loc[-1]!r}"
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    if isinstance(value, dict):
        return f"{_key_path(path, loc)}: {msg}, got a mapping"
    got = repr(value)
    if len(got) > 80:
        got = got[:77] + "..."
    return f"{_key_path(path, loc)}: {msg}, got {type(value).__name__} {got}"


def _check(obj, path: str) -> None:
    """Run the cross-key rules (`validate(path)`) of obj and of every config inside it, innermost first."""
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            _check(v, f"{path}.{f.name}")
    check = getattr(obj, "validate", None)
    if check:
        check(path)


@functools.cache
def _adapter(cls) -> TypeAdapter:
    return TypeAdapter(cls)  # built once per config class (its validator is compiled on construction)


def from_dict(cls, data, path: str):
    """Build config dataclass `cls` from a mapping, or raise ConfigError naming every bad key path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
    try:
        obj = _adapter(cls).validate_python(data)
    except ValidationError as e:
        raise ConfigError("\n".join(_describe(cls, path, err) for err in e.errors())) from None
    _check(obj, path)
    return obj


# ----------------------------------------------------------------------------
# Experiment


@spec
class GeneratorSpec:
    """Architecture of the pretrained networks (must match the checkpoint)."""

    style_dim: PosInt = 512
    n_mlp: PosInt = 8
    channel_base: PosInt = 32768
    channel_max: PosInt = 512
    lr_mlp: PosFloat = 0.01


@spec
class AssetsSpec:
    source: Literal["synthetic", "official", "mirror", "toy"] = "synthetic"
    mirror_dir: Optional[Str] = None  # folder with the same files as the official URLs
    base_url: Optional[Str] = None  # source official: fetch <base_url>/<file name> (a lab HTTP mirror)
    task: Str = "standing_cat"  # sketch/eval task folder name (official data)
    photos: Str = "cat"  # LSUN category for image regularization
    photo_cap: Optional[PosInt] = 10000  # how many LSUN photos to export (null: all, as the reference)
    sketch_set: Str = "photosketch"  # data/sketch/<sketch_set>/<task>
    stylegan: Str = "stylegan2-cat"  # pretrained/<stylegan>/netG.pth
    # Your own images instead of the fetched or synthetic ones (relative to the project root, or
    # absolute); a set given here is not downloaded.
    sketch_dir: Optional[Str] = None  # the sketches to customize the generator with
    photo_dir: Optional[Str] = None  # photos for image regularization (instead of LSUN)
    eval_dir: Optional[Str] = None  # evaluation photos for FID/KID/precision/recall
    world_dir: Str = "data/world"  # source toy: the world's trained networks (stage world@<part>)
    # source toy: the world part whose netG.pth / netD.pth are the pretrained generator: `gan`, or
    # `gan_continued` (world.gan_continued: the same generator after a pose curriculum)
    world_gan: Literal["gan", "gan_continued"] = "gan"

    def validate(self, path):
        if self.source == "mirror" and not self.mirror_dir:
            raise ConfigError(
                f"{path}.mirror_dir: required when source is 'mirror' (a folder holding the official archives)"
            )
        if self.base_url is not None:
            if self.source != "official":
                raise ConfigError(
                    f"{path}.base_url: only used with source 'official' (source is "
                    f"{self.source!r}); remove it or set source: official"
                )
            if not self.base_url.startswith(("http://", "https://")) or self.base_url.rstrip("/").endswith(":/"):
                raise ConfigError(
                    f"{path}.base_url: expected an http:// or https:// URL of a folder holding "
                    f"the archives, got {self.base_url!r}"
                )
        for k in ("sketch_dir", "photo_dir", "eval_dir"):
            v = getattr(self, k)
            if v is not None and not v.strip():
                raise ConfigError(f"{path}.{k}: must be a folder path or null, got an empty string")


@spec
class DemoDataSpec:
    """How the offline demo makes its data from scikit-image's CC0 `chelsea` photo."""

    n_sketches: PosInt = 8
    n_photos: PosInt = 64
    n_eval: PosInt = 64


@spec
class ToyDataSpec:
    """What the toy world renders for an experiment (assets.source: toy; README "The toy world")."""

    sketch_pose: Literal["standing", "sitting", "lying"] = "standing"  # the renderer's input sketches
    # How the input sketches are drawn: "photosketch" runs the world's sketch extractor on renders of
    # that pose, as the study's standing-cat set is PhotoSketch run on photos; "outline" takes the
    # renderer's own hand-like outlines (another stroke style than the extractor's: README).
    sketch_style: Literal["photosketch", "outline"] = "photosketch"
    n_sketches: PosInt = 30  # the study's standing-cat set has 30 sketches
    n_photos: PosInt = 2000  # image-regularization photos: the generator's training distribution
    n_eval: PosInt = 500  # evaluation set: natural-coloured cats of the sketched pose


@spec
class PerfSpec:
    """CUDA speed settings (pipeline/perf.py). On CPU they are ignored: CPU runs stay float32 and
    bit-reproducible (the resume and parity tests rely on that)."""

    tf32: Bool = True  # TF32 tensor-core matmuls and convolutions
    channels_last: Bool = True  # NHWC D and sketch extractor (cuDNN's fastest convolutions)
    autocast: Literal["off", "bf16"] = "bf16"  # forwards in bf16; R1 and loss reductions stay float32
    compile: Bool = False  # torch.compile G's layers + the sketch extractor (not D: R1)
    cudnn_benchmark: Bool = True  # let cuDNN pick convolution algorithms for the fixed shapes


@spec
class TrainSpec:
    iters: PosInt = 40000
    batch: PosInt = 4
    ckpt_every: PosInt = 2500  # resumable checkpoint cadence (steps)
    log_every: PosInt = 100  # loss-history cadence (steps)
    preview_every: NonNegInt = 0  # a fixed-noise preview grid every N steps (0: none; the studio asks for them)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    perf: PerfSpec = PerfSpec()


@spec
class ClipSpec:
    model: Str = "ViT-B-32-quickgelu"
    pretrained: Optional[Str] = "openai"
    checkpoint: Optional[Str] = None  # local open_clip state-dict file (offline)
    cache_dir: Optional[Str] = None  # where open_clip looks for / stores tagged weights (fetch stage)


@spec
class EvalSpec:
    n_samples: PosInt = 2500  # samples for FID/KID/PR (paper protocol: 2,500)
    grid_size: PosInt = 32  # fixed-noise grid (8 x 4)
    truncation: Unit = 1.0  # paper protocol: none
    metrics: StrTuple = (
        "fid",
        "kid",
        "precision",
        "recall",
        "clip_score_target",
        "clip_score_source",
        "sketch_chamfer",
    )
    feature_extractor: Str = "inception-v3-compat"
    feature_weights: Optional[Str] = None
    kid_subset_size: PosInt = 1000
    resize: Literal["tf", "clean"] = "clean"
    batch: PosInt = 50
    clip_templates: Literal["none", "imagenet"] = "none"  # CLIP score text: as written, or the 79-template average
    ppl_samples: PosInt = 50000  # perceptual path length pairs (GANSketching: 50,000)
    ppl_distance: Literal["lpips-vgg", "toy-oracle"] = "lpips-vgg"  # toy-oracle: the toy world's stand-in
    torch_hub_dir: Optional[Str] = None  # LPIPS's VGG-16 (vgg16-397923af.pth) under <dir>/checkpoints (fetch stage)

    def validate(self, path):
        if self.kid_subset_size > self.n_samples:
            raise ConfigError(
                f"{path}.kid_subset_size: {self.kid_subset_size} exceeds n_samples "
                f"{self.n_samples}; KID needs subset size <= number of samples"
            )


from .editing.spec import EditingSpec  # noqa: E402  (after ConfigError and the types, which it imports)


@spec
class Experiment:
    name: Str
    description: Str
    seed: Int
    size: Int
    demo: Bool
    generator: GeneratorSpec
    assets: AssetsSpec
    sketch_extractor: Literal["photosketch", "xdog"]
    train: TrainSpec
    clip: ClipSpec
    eval: EvalSpec
    target_prompt: Prompt = "a photo of a cat"
    source_prompt: Prompt = "a photo of a cat"
    demo_data: DemoDataSpec = field(default_factory=DemoDataSpec)
    toy_data: ToyDataSpec = field(default_factory=ToyDataSpec)
    photosketch_bn_mode: Literal["train", "eval"] = "train"
    photosketch_ngf: PosInt = 64  # PhotoSketch width (published: 64; the toy world's is narrower)
    editing: EditingSpec = field(default_factory=EditingSpec)
    # torch's CPU threads in every stage of this experiment (null: torch's default, one per core).
    # The thread count changes how floating-point sums are split, hence the trained weights: a fixed
    # count gives the same numbers however the stages are scheduled (stages/repro.py runs them side by side).
    cpu_threads: Optional[PosInt] = None
    # Values that replace the method blocks' own in this experiment: `key: value` for every block that
    # has the key, `<block>: {key: value}` for that block only (applied after the shared ones); the toy
    # world's short schedule, e.g. {direction_every: 10, syog: {l_image: 0.3}}; README "The toy world".
    method_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def is_toy(self) -> bool:
        """The toy world: trained tiny networks on drawn cats; its numbers are toy-world numbers."""
        return self.assets.source == "toy"

    def validate(self, path):
        if self.size < 8 or self.size & (self.size - 1):
            raise ConfigError(f"{path}.size: must be a power of two >= 8, got {self.size}")


# ----------------------------------------------------------------------------
# Sweep: methods x prompts x seeds (pipeline/sweep.py, stage `sweep`)


@spec
class SweepRunnerSpec:
    """Where the chains run. local: one after another in the stage's process. dask: on a Dask
    cluster through Prefect, either an existing scheduler (`address`, which wins when both are set)
    or a local cluster of `n_workers` worker processes started for the sweep."""

    kind: Literal["local", "dask"] = "local"
    address: Optional[Str] = None  # e.g. tcp://10.0.0.5:8786 (a running `dask scheduler`)
    n_workers: Optional[PosInt] = None  # without address: a local cluster of this many worker processes
    gpus_per_worker: NonNegInt = 0  # > 0: each chain asks for 1 GPU (Dask worker resource "GPU")

    def validate(self, path):
        if self.address is not None and not self.address.strip():
            raise ConfigError(f"{path}.address: must be a scheduler address (e.g. tcp://host:8786) or null")
        if self.kind == "dask" and not self.address and self.n_workers is None:
            raise ConfigError(
                f"{path}: kind 'dask' needs address (a running scheduler, e.g. tcp://host:8786) "
                "or n_workers (a local cluster of that many worker processes)"
            )


@spec
class SweepSpec:
    """The grid: every method block x prompt x seed is one fine-tune -> sample -> evaluate chain."""

    methods: StrTuple = ()  # blocks under `methods:`; empty: no sweep
    prompts: OptStrTuple = (None,)  # target prompts; null: the block's (or experiment's) own
    seeds: IntTuple = (0, 1, 2)  # replace the experiment's seed (training, samples, metrics)
    runner: SweepRunnerSpec = SweepRunnerSpec()
    retries: NonNegInt = 1  # Prefect retries of a failed chain (resumes from its checkpoint)
    retry_delay_s: NonNegFloat = 10.0
    threads_per_chain: PosInt = 1  # torch CPU threads inside a chain, the same on every route
    keep_samples: Bool = False  # keep each chain's metric sample PNGs (grid.png is always kept)

    def validate(self, path):
        for i, s in enumerate(self.seeds):
            if s in self.seeds[:i]:
                raise ConfigError(f"{path}.seeds[{i}]: {s} appears twice; seeds must be distinct")
        for i, p in enumerate(self.prompts):
            if p is not None and not p.strip():
                raise ConfigError(f"{path}.prompts[{i}]: must be a non-empty prompt or null (the method's own)")
            if p in self.prompts[:i]:
                raise ConfigError(f"{path}.prompts[{i}]: {p!r} appears twice; prompts must be distinct")
        for i, m in enumerate(self.methods):
            if m in self.methods[:i]:
                raise ConfigError(f"{path}.methods[{i}]: {m!r} appears twice")
        if self.methods and not self.seeds:
            raise ConfigError(f"{path}.seeds: at least one seed is needed to sweep {', '.join(self.methods)}")
        if self.methods and not self.prompts:
            raise ConfigError(f"{path}.prompts: at least one prompt is needed (null: the method's own)")

    def check_methods(self, where: str, methods: dict) -> None:
        for i, m in enumerate(self.methods):
            if m not in methods:
                raise ConfigError(
                    f"{where}: sweep.methods[{i}]: {m!r} is not a block under methods: (have: {', '.join(methods)})"
                )


# ----------------------------------------------------------------------------
# Methods: each registered method declares its own dataclass (see pipeline.methods)


@dataclasses.dataclass(frozen=True)
class Params:
    experiment: Experiment
    methods: dict[str, Any]  # name -> method config dataclass
    raw: dict
    sweep: SweepSpec = SweepSpec()  # the `sweep:` grid (empty: no sweep)
    world: Any = None  # the toy world's training settings (pipeline.world.spec.WorldSpec)

    def method(self, name: str):
        if name not in self.methods:
            raise ConfigError(f"params.yaml: methods.{name}: no such method block; defined: {', '.join(self.methods)}")
        return self.methods[name]


def load_params(path: str | os.PathLike = "params.yaml", overrides: dict | None = None) -> Params:
    """Read and validate params.yaml. `overrides` maps dotted keys to values (tests, CLIs)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    raw = yaml.safe_load(path.read_text()) or {}
    return params_from_dict(with_overrides(raw, overrides or {}), str(path))


def with_overrides(raw: dict, overrides: dict) -> dict:
    """raw (params.yaml as read) with dotted keys set; a value of DELETE removes the key."""
    raw = copy.deepcopy(raw)
    for key, value in overrides.items():
        node = raw
        *parents, leaf = key.split(".")
        for i, p in enumerate(parents):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}: {'.'.join(parents[: i + 1])} is a value, not a block")
        if value is DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return raw


DELETE = object()  # with_overrides: remove the key (as `dvc exp run -S '~key'` does)


def params_from_dict(raw: dict, where: str) -> Params:
    """Validate params as read from YAML; `where` prefixes every message (a file name)."""
    from .methods import method_config_class  # registry; imported here to avoid a cycle

    allowed = {"experiment", "experiments", "methods", "sweep", "world"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown top-level key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    exps = raw.get("experiments") or {}
    name = raw.get("experiment")
    if name not in exps:
        raise ConfigError(
            f"{where}: experiment: {name!r} is not a block under experiments: ({', '.join(exps) or 'none defined'})"
        )
    # Every block is validated, so a typo in an experiment you are not running surfaces now.
    blocks = {n: from_dict(Experiment, {"name": n, **(b or {})}, f"{where}: experiments.{n}") for n, b in exps.items()}
    experiment = blocks[name]
    methods_raw = raw.get("methods") or {}
    if not methods_raw:
        raise ConfigError(f"{where}: methods: at least one method block is required")
    methods = {}
    for mname, block in methods_raw.items():
        mpath = f"{where}: methods.{mname}"
        if mname == "pretrained":
            raise ConfigError(
                f"{mpath}: the name 'pretrained' is reserved for the unmodified generator's row "
                "in the report; call the block something else"
            )
        if not isinstance(block, dict) or "method" not in block:
            raise ConfigError(f"{mpath}.method: required (the registered method this block configures)")
        cls = method_config_class(block["method"], mpath)
        methods[mname] = from_dict(cls, apply_overrides(cls, block, experiment, mname, where), mpath)
    check_method_overrides(experiment, methods, where)
    if experiment.is_toy:
        check_toy_prompts(experiment, methods, where)
    sweep = from_dict(SweepSpec, raw.get("sweep") or {}, f"{where}: sweep")
    sweep.check_methods(where, methods)
    from .world.spec import WorldSpec

    world = from_dict(WorldSpec, raw.get("world") or {}, f"{where}: world")
    return Params(experiment=experiment, methods=methods, raw=raw, sweep=sweep, world=world)


def apply_overrides(cls, block: dict, exp: Experiment, name: str, where: str) -> dict:
    """Block `name` with the experiment's `method_overrides`: the shared ones for the keys its method
    has, then the ones under its own name (each of which its method must have)."""
    names = {f.name for f in dataclasses.fields(cls)} - {"method", "description"}
    shared = {k: v for k, v in exp.method_overrides.items() if not isinstance(v, dict) and k in names}
    own = exp.method_overrides.get(name)
    own = own if isinstance(own, dict) else {}
    for k in own:
        if k not in names:
            raise ConfigError(
                f"{where}: experiments.{exp.name}.method_overrides.{name}.{k}: block {name} has no such key; "
                f"its keys: {', '.join(sorted(names))}"
            )
    return {**block, **shared, **own}


def check_method_overrides(exp: Experiment, methods: dict, where: str) -> None:
    """A shared key must be a setting of some registered method (blocks without it ignore it); a
    mapping must be under a block's name (its keys are checked by `apply_overrides`) or a registered
    method's, the name of its default block: a project that drops that block keeps the params valid."""
    from .methods import METHODS, _import_builtin

    _import_builtin()
    key = f"{where}: experiments.{exp.name}.method_overrides"
    names = set().union(*({f.name for f in dataclasses.fields(m.Config)} for m in METHODS.values()))
    names -= {"method", "description"}
    for k, v in exp.method_overrides.items():
        if isinstance(v, dict) and k not in methods and k not in METHODS:
            raise ConfigError(
                f"{key}.{k}: no method block of this name; blocks: {', '.join(methods)}; methods: "
                f"{', '.join(sorted(METHODS))} (a mapping here overrides one block's settings)"
            )
        if not isinstance(v, dict) and k not in names:
            raise ConfigError(f"{key}.{k}: no method has this key; method keys: {', '.join(sorted(names))}")


def check_toy_prompts(exp: Experiment, methods: dict, where: str) -> None:
    """In the toy world every target prompt must name one palette colour (the measured target)."""
    from .methods import prompts
    from .world.captions import colour_in, known_colours

    checks = [(f"experiments.{exp.name}.target_prompt", exp.target_prompt)]
    checks += [(f"methods.{n}.target_prompt", prompts(exp, c)[0]) for n, c in methods.items()]
    for key, prompt in checks:
        try:
            colour = colour_in(prompt)
        except ValueError as e:
            raise ConfigError(f"{where}: {key}: {e}") from None
        if colour is None:
            raise ConfigError(
                f"{where}: {key}: {prompt!r} names no colour the toy world knows; name one of: "
                f"{known_colours()} (e.g. 'a photo of a pink cat')"
            )


# ----------------------------------------------------------------------------


def to_jsonable(obj):
    """Plain JSON types; NaN/inf become null (JSON has no NaN, and DVC's metrics parser rejects it)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if dataclasses.is_dataclass(obj):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


def to_yaml(**sections) -> str:
    """Resolved configs as indented YAML, keyed as params.yaml reads (stages' --dry-run)."""
    return yaml.safe_dump(to_jsonable(sections), sort_keys=False, indent=2, width=110, allow_unicode=True)


def write_json(obj, path: str | os.PathLike) -> None:
    """Atomic JSON write (temp file + rename); dataclasses are converted."""
    write_bytes(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")
