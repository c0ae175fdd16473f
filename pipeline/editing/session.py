"""Interactive edits on one generator: what a slider calls, with the slow parts computed once.

    session = EditSession(G, clip, cache_dir=...)      # a produced generator, held in memory
    w = session.sample_w(seed)                          # [1, D] start code (or session.invert(image))
    img = session.global_direction(w, "a photo of a cat", "a photo of a pink cat", alpha, beta)
    img = session.ganspace(w, {0: 2.0, 3: -1.5})        # component index -> scalar (x its stdev)
    img = session.interpolate_w(w_a, w_b, t)
    img = session.interpolate_weights(other_state, w, t)
    w = session.invert(photo) | session.latent_opt(w, prompt) | session.scribble(w, colours, mask)

Per generator, once: the style statistics and StyleCLIP channel relevance (cached on disk by
generator and CLIP digest, global_directions.channel_relevance), the GANSpace components. Per prompt
pair, once: the text direction. Per slider move: one synthesis from style space or W+, which is
milliseconds at the toy world's 32 px. Images come back as [3, H, W] in [-1, 1], CPU.

Thread-safe: a UI calls several of these at once from its worker threads (the studio's sliders all
fire when the start code changes), and `interpolate_weights` swaps G's weights for a moment, so
every method that touches G holds the session's lock. One render at a time loses nothing on a CPU
that a single render already keeps busy.
"""

from __future__ import annotations

import functools
import threading

import torch

from . import ganspace as gs
from . import global_directions as gd
from .interpolation import interpolate_weights


def _serial(fn):
    """Run the method under the session's (re-entrant) lock."""

    @functools.wraps(fn)
    def locked(self, *args, **kwargs):
        with self._lock:
            return fn(self, *args, **kwargs)

    return locked


class EditSession:
    def __init__(
        self,
        G,
        clip=None,
        cache_dir=None,
        seed: int = 0,
        relevance_images: int = 16,
        stats_n: int = 2000,
        ganspace_samples: int = 5000,
        ganspace_components: int = 16,
        alpha_sigma: float = 5.0,
    ):
        self.G = G.eval().requires_grad_(False)
        self.clip, self.cache_dir, self.seed = clip, cache_dir, seed
        self.relevance_images, self.stats_n, self.alpha_sigma = relevance_images, stats_n, alpha_sigma
        self.ganspace_samples, self.ganspace_components = ganspace_samples, ganspace_components
        self.noise = G.stored_noise()  # fixed: the same code always renders the same image
        self.device = next(G.parameters()).device
        self._directions: dict[tuple[str, str], torch.Tensor] = {}  # prompt pair -> text direction
        self._lock = threading.RLock()  # re-entrant: global_direction -> relevance -> render

    @classmethod
    def for_experiment(cls, G, clip, editing, cache_dir=None) -> EditSession:
        """A session whose sliders compute what the experiment's edit stage computes: the seed, relevance,
        statistics and GANSpace sizes of its `editing` block (an EditingSpec), not the defaults."""
        gd_spec, gs_spec = editing.global_directions, editing.ganspace
        return cls(
            G,
            clip,
            cache_dir=cache_dir,
            seed=editing.seed,
            relevance_images=gd_spec.n_images,
            stats_n=gd_spec.stats_n,
            alpha_sigma=gd_spec.alpha_sigma,
            ganspace_samples=gs_spec.n_samples,
            ganspace_components=gs_spec.n_components,
        )

    # -- codes and rendering ----------------------------------------------------------

    @torch.no_grad()
    @_serial
    def sample_w(self, seed: int) -> torch.Tensor:
        z = torch.randn(1, self.G.style_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
        return self.G.mapping(z)

    @_serial
    def wplus(self, w: torch.Tensor) -> torch.Tensor:
        return w if w.ndim == 3 else self.G.make_wplus(w, input_is_latent=True)

    @torch.no_grad()
    @_serial
    def render(self, w: torch.Tensor) -> torch.Tensor:
        return self.G.synthesis(self.wplus(w), noise=self.noise)[0].clamp(-1, 1).cpu()

    # -- StyleCLIP global directions ----------------------------------------------------

    @functools.cached_property
    @_serial
    def stats(self):
        return gd.style_stats(self.G, n=self.stats_n, seed=self.seed)

    @functools.cached_property
    @_serial
    def relevance(self):
        if self.clip is None:
            raise ValueError("global directions need a CLIP model; this session has none")
        return gd.channel_relevance(
            self.G,
            self.clip,
            n_images=self.relevance_images,
            alpha_sigma=self.alpha_sigma,
            seed=self.seed,
            cache_path=self.cache_dir,
            stats=self.stats,
            noise=self.noise,
        )

    @_serial
    def text_direction(self, neutral: str, target: str) -> torch.Tensor:
        key = (neutral, target)
        if key not in self._directions:
            self._directions[key] = gd.text_direction(self.clip, neutral, target)
        return self._directions[key]

    @torch.no_grad()
    @_serial
    def global_direction(self, w, neutral: str, target: str, alpha: float, beta: float) -> tuple[torch.Tensor, int]:
        """(image, channels moved): s' = s + alpha * ds(beta) for the prompt pair (StyleCLIP MapTS)."""
        delta = gd.global_direction(self.relevance, self.text_direction(neutral, target), beta=beta, std=self.stats[1])
        s = gd.apply_direction(self.G.wplus_to_s(self.wplus(w)), delta, alpha)
        img = self.G.synthesis(None, noise=self.noise, s=s)[0].clamp(-1, 1).cpu()
        return img, gd.active_channels(delta)

    # -- GANSpace -----------------------------------------------------------------------

    @functools.cached_property
    @_serial
    def components(self) -> dict:
        return gs.compute_ganspace(
            self.G, n_samples=self.ganspace_samples, n_components=self.ganspace_components, seed=self.seed
        )

    @torch.no_grad()
    @_serial
    def ganspace(self, w, scalars: dict[int, float], layers: tuple[int, int] = (0, 10_000)) -> torch.Tensor:
        """w + sum_k scalars[k] * stdev_k * comp_k on the rows in `layers` (inclusive), no truncation."""
        wp = self.wplus(w)
        for k, v in scalars.items():
            if v:
                wp = gs.apply_ganspace(wp, self.components, int(k), float(v), layers)
        return self.render(wp)

    # -- interpolation ------------------------------------------------------------------

    @_serial
    def interpolate_w(self, w_a, w_b, t: float) -> torch.Tensor:
        """(1 - t) w_a + t w_b in W+ (linear, as StyleGAN's W is): t = 0 renders w_a exactly."""
        return self.render(torch.lerp(self.wplus(w_a), self.wplus(w_b), float(t)))

    @functools.cached_property
    @_serial
    def _own_state(self) -> dict:
        return {k: v.detach().clone() for k, v in self.G.state_dict().items()}

    def weights(self) -> dict:
        """This generator's own weights (a copy, never a blend an interpolation holds for a moment)."""
        return self._own_state

    @torch.no_grad()
    @_serial
    def interpolate_weights(self, other_state: dict, w, t: float) -> torch.Tensor:
        """The same code through (1 - t) G + t G_other: t = 0 is this generator, t = 1 the other."""
        own = self._own_state
        self.G.load_state_dict(interpolate_weights(own, other_state, float(t)))
        try:
            return self.render(w)
        finally:
            self.G.load_state_dict(own)

    # -- new codes by optimization (seconds, not milliseconds) -----------------------------

    @_serial
    def invert(self, image: torch.Tensor, steps: int = 60, restarts: int = 2) -> torch.Tensor:
        """W+ [1, n_latent, D] whose render matches `image` [3, H, W] in [-1, 1] (any size: resized).
        The project's inverter with its weight-free perceptual term and this session's fixed noise."""
        from .inversion import PerceptualFeatures, invert

        res = invert(
            self.G,
            image[None].to(self.device),
            space="wplus",
            steps=steps,
            restarts=restarts,
            perceptual=PerceptualFeatures(None).to(self.device),
            noise=self.noise,
            seed=self.seed,
        )
        return res.wplus.detach()

    @_serial
    def latent_opt(self, w, prompt: str, steps: int = 40, callback=None) -> torch.Tensor:
        """StyleCLIP latent optimization of w toward `prompt`; callback(step, w) after each step."""
        from .latent_opt import latent_optimization

        if self.clip is None:
            raise ValueError("latent optimization needs a CLIP model; this session has none")
        out, _ = latent_optimization(
            self.G, self.clip, prompt, self.wplus(w), steps=steps, noise=self.noise, callback=callback
        )
        return out

    @_serial
    def scribble(self, w, colours: torch.Tensor, mask: torch.Tensor, steps: int = 60) -> torch.Tensor:
        """w moved so that the render takes `colours` [3, H, W] where `mask` [1, H, W] is 1."""
        from .scribble import scribble_edit

        out, _ = scribble_edit(
            self.G,
            self.wplus(w),
            colours[None].to(self.device),
            mask[None].to(self.device),
            steps=steps,
            noise=self.noise,
        )
        return out.detach()
