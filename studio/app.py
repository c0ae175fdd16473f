"""The studio's Gradio interface (README "Studio"). `python -m studio` (make studio) starts it.

Panels: Sketch (canvas, uploads, the set), Customize (prompt, methods, iterations; launches a DVC
experiment and shows its live progress), Results (every studio experiment), Edit (live edits on any
produced generator). All state that matters is on disk: sketch sets (pipeline.sketchset), the job
(studio.jobs) and the experiments (DVC); the page only holds the set being drawn.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from pipeline.config import load_params
from pipeline.data import DataError
from pipeline.io import write_bytes
from pipeline.sketchset import MAX_SKETCHES, as_sketch, decode_upload, save_set, set_folder

from . import experiment as form_lib
from . import results as results_lib
from .jobs import FINAL, JobBusy, JobRunner, busy_message
from .progress import read_progress

log = logging.getLogger("studio")
SKETCH_ROOT = Path("data") / "studio" / "sketches"  # project-relative: what assets.sketch_dir names


def _error(text: str) -> str:
    return f"<span class='studio-error'>⚠ {text}</span>" if text else ""


def _load(path: Path | None) -> Image.Image | None:
    """An image file's pixels, loaded here: Gradio serves files only from its allowed folders, and the
    preview lives in DVC's temporary workspace. None if it is missing or still being written."""
    if path is None:
        return None
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except OSError:
        return None


def _thumb(img: Image.Image, size: int = 128) -> np.ndarray:
    return np.asarray(img.convert("RGB").resize((size, size), Image.LANCZOS))


class Studio:
    """Callbacks, independent of Gradio so that tests can call them directly."""

    def __init__(self, root: Path, state_dir: Path | None = None):
        self.root = Path(root)
        self.runner = JobRunner(self.root, state_dir)
        self.params = load_params(self.root / "params.yaml")
        self.sessions: dict[str, object] = {}  # generator key -> EditSession
        self._session_lock = threading.Lock()

    # -- sketch set ---------------------------------------------------------------

    def add_drawing(self, editor_value, sketches: list):
        img = None if editor_value is None else editor_value.get("composite")
        if img is None:
            return sketches, "draw on the canvas first"
        if len(sketches) >= MAX_SKETCHES:
            return sketches, f"the set is full ({MAX_SKETCHES} sketches)"
        try:
            return sketches + [as_sketch(Image.fromarray(np.asarray(img)), "the drawing")], ""
        except DataError as e:
            return sketches, str(e)

    def add_uploads(self, files, sketches: list):
        added, errors = [], []
        for f in files or []:
            path = Path(f if isinstance(f, str) else f.name)
            label = path.name  # shown to the user; never used as a path of ours
            if len(sketches) + len(added) >= MAX_SKETCHES:
                errors.append(f"{label}: the set is full ({MAX_SKETCHES} sketches)")
                continue
            try:
                added.append(as_sketch(decode_upload(path.read_bytes(), label), label))
            except DataError as e:
                errors.append(str(e))
        return sketches + added, "; ".join(errors)

    @staticmethod
    def remove(sketches: list, index):
        if index is None or not 0 <= int(index) < len(sketches):
            return sketches, "select a sketch in the gallery first"
        return sketches[: int(index)] + sketches[int(index) + 1 :], ""

    # -- customize ----------------------------------------------------------------

    def customize(self, target: str, source: str, methods: list, iters, sketches: list) -> dict:
        """Validate, store the sketch set, launch the experiment. Returns {field: error} or {"job": ...}."""
        errors = {}
        sketch_dir = None
        if sketches:
            try:  # where the set will be stored; nothing is written before the whole form is valid
                sketch_dir = str(set_folder(sketches, self.root / SKETCH_ROOT).relative_to(self.root))
            except DataError as e:
                errors["sketches"] = str(e)
        try:
            iters = int(iters)
        except (TypeError, ValueError):
            errors["iters"] = f"must be a whole number, got {iters!r}"
            iters = 0
        form = form_lib.Form(target or "", source or "", tuple(methods or ()), iters, sketch_dir)
        try:
            form_lib.validate(form, self.root)
        except form_lib.FormError as e:
            errors = {**e.errors, **errors}
        if errors:
            return {"errors": errors}
        busy = self.runner.running()
        if busy:  # refused before the sketch set is stored (launch checks again, under the lock)
            return {"errors": {"form": busy_message(busy)}}
        save_set(sketches, self.root / SKETCH_ROOT)
        over = form_lib.overrides(form, form_lib.read_params(self.root))
        name = f"{results_lib.PREFIX}{time.strftime('%Y%m%d-%H%M%S')}"
        meta = {"form": form.__dict__, "iters": iters}
        try:
            job = self.runner.launch(name, form_lib.dvc_set_args(over), [sketch_dir], meta=meta)
        except JobBusy as e:
            return {"errors": {"form": str(e)}}
        return {"job": job}

    def edit_session(self, key: str):
        """The live-edit session of a generator: 'pretrained' or '<experiment>/<method>' (cached)."""
        with self._session_lock:  # the sliders all ask at once when the generator changes: build it once
            if key not in self.sessions:
                self.sessions[key] = self._new_session(key)
        return self.sessions[key]

    def _new_session(self, key: str):
        from pipeline.editing.session import EditSession
        from pipeline.models import load_generator
        from pipeline.nets.clip import build_clip

        exp = self.params.experiment
        if key == "pretrained":
            path = (
                self.root / (exp.assets.world_dir or "data/world") / "gan" / "netG.pth"
                if exp.is_toy
                else self.root / "data/prepared/pretrained/netG.pth"
            )
        else:
            name, method = key.split("/", 1)
            res = {r.name: r for r in results_lib.experiments(self.root)}[name]
            path = self.runner.dir / "results" / name / f"{method}.netG.pth"
            path.parent.mkdir(parents=True, exist_ok=True)
            # atomic (temp file + rename): never a half-written file where a reader looks
            write_bytes(path, results_lib.read_bytes(self.root, res.rev, f"data/finetune/{method}/model/netG.pth"))
        c = exp.clip
        checkpoint = str(self.root / c.checkpoint) if c.checkpoint else None
        clip = build_clip(c.model, c.pretrained, checkpoint, cache_dir=c.cache_dir)
        # the experiment's editing sizes: a slider shows what its edit stage would compute
        return EditSession.for_experiment(
            load_generator(exp, path), clip, exp.editing, cache_dir=self.runner.dir / "relevance"
        )

    def status(self) -> dict:
        job = self.runner.current()
        if job is None:
            return {"status": "no customization has run yet", "progress": None, "log": ""}
        text = self.runner.log_tail(job, 400)
        iters = (job.get("meta") or {}).get("iters", 0)
        p = read_progress(self.root, job, iters, text) if job["status"] not in FINAL else None
        line = f"**{job['name']}**: {job['status']}"
        if job["status"] == "failed":
            line += f" — {job.get('error')}"
        return {"status": line, "progress": p, "log": "\n".join(text.splitlines()[-30:]), "job": job}


# ----------------------------------------------------------------------------
# The Gradio interface


def build(studio: Studio):
    import pandas as pd

    methods = list(studio.params.methods)
    exp = studio.params.experiment
    with gr.Blocks(title="Sketch + text GAN studio", analytics_enabled=False) as app:
        gr.Markdown(
            "# Studio\nDraw or upload sketches, write a prompt, customize the generator, edit the result. "
            "Every run is a DVC experiment (`dvc exp show`). "
            + ("**TOY WORLD**: trained tiny networks on drawn cats; toy-world numbers." if exp.is_toy else "")
        )
        sketches = gr.State([])
        with gr.Tab("Sketch"):
            with gr.Row():
                editor = gr.ImageEditor(
                    label="canvas",
                    type="numpy",
                    image_mode="RGBA",
                    sources=(),
                    canvas_size=(256, 256),
                    fixed_canvas=True,
                    brush=gr.Brush(default_size=4, colors=["#000000"], color_mode="fixed"),
                    eraser=gr.Eraser(default_size=12),
                    layers=False,
                    transforms=(),
                    elem_id="canvas",
                )
                with gr.Column():
                    add_btn = gr.Button("Add drawing to the set", elem_id="add-drawing")
                    uploads = gr.File(
                        label="upload sketches", file_count="multiple", file_types=["image"], elem_id="uploads"
                    )
                    sketch_msg = gr.Markdown(elem_id="sketch-msg")
            gallery = gr.Gallery(label="the sketch set", columns=8, height=180, elem_id="gallery")
            selected = gr.State(None)
            with gr.Row():
                remove_btn = gr.Button("Remove selected", elem_id="remove")
                clear_btn = gr.Button("Clear the set", elem_id="clear")

        def show(sk, msg):
            return sk, [_thumb(s) for s in sk], _error(msg)

        add_btn.click(
            lambda v, sk: show(*studio.add_drawing(v, sk)), [editor, sketches], [sketches, gallery, sketch_msg]
        )
        uploads.upload(
            lambda f, sk: show(*studio.add_uploads(f, sk)), [uploads, sketches], [sketches, gallery, sketch_msg]
        )

        def on_select(evt: gr.SelectData):
            return evt.index

        gallery.select(on_select, None, selected)
        remove_btn.click(
            lambda sk, i: show(*Studio.remove(sk, i)), [sketches, selected], [sketches, gallery, sketch_msg]
        )
        clear_btn.click(lambda: show([], ""), None, [sketches, gallery, sketch_msg])

        with gr.Tab("Customize"):
            with gr.Row():
                with gr.Column():
                    target = gr.Textbox(
                        label="target prompt", value=exp.target_prompt, max_length=200, elem_id="target"
                    )
                    target_err = gr.Markdown(elem_id="target-error")
                    source = gr.Textbox(label="source prompt (optional)", placeholder=exp.source_prompt, max_length=200)
                    source_err = gr.Markdown()
                    chosen = gr.CheckboxGroup(methods, value=methods[:2], label="method blocks", elem_id="methods")
                    methods_err = gr.Markdown()
                    iters = gr.Number(value=exp.train.iters, precision=0, label="iterations", elem_id="iters")
                    iters_err = gr.Markdown()
                    sketches_err = gr.Markdown(elem_id="sketches-error")
                    with gr.Row():
                        go = gr.Button("Customize", variant="primary", elem_id="customize")
                        cancel = gr.Button("Cancel", elem_id="cancel")
                    form_err = gr.Markdown(elem_id="form-error")
                with gr.Column():
                    status = gr.Markdown(elem_id="job-status")
                    step = gr.Markdown(elem_id="job-step")
                    preview = gr.Image(label="preview (fixed noise)", elem_id="preview", height=160)
                    losses = gr.LinePlot(x="step", y="value", color="loss", label="losses", height=220)
            logs = gr.Textbox(label="log", lines=10, max_lines=10, elem_id="log")

        err_boxes = {
            "target_prompt": target_err,
            "source_prompt": source_err,
            "methods": methods_err,
            "iters": iters_err,
            "sketches": sketches_err,
            "form": form_err,
        }

        def launch(t, s, m, n, sk):
            out = studio.customize(t, s, m, n, sk)
            errs = out.get("errors", {})
            return [_error(errs.get(k, "")) for k in err_boxes]

        # "multiple": every click is answered. Gradio's default ("once") drops a click made while the
        # previous launch's reply is still on its way, so a quick second click got no message at all;
        # queued clicks run one at a time, and the second finds the first job running.
        go.click(launch, [target, source, chosen, iters, sketches], list(err_boxes.values()), trigger_mode="multiple")
        cancel.click(lambda: studio.runner.cancel() and None, None, None)

        def poll():
            st = studio.status()
            p = st["progress"]
            if p is None:
                return st["status"], "", None, pd.DataFrame({"step": [], "value": [], "loss": []}), st["log"]
            eta = f", ETA {p.eta_s:.0f} s" if p.eta_s is not None else ""
            where = f"stage `{p.stage}`" if p.stage else "starting"
            stepline = f"{where}; {p.method or ''} step {p.step} / {p.total}{eta}"
            rows = [(s_, v, k) for k, pts in p.losses.items() for s_, v in pts]
            df = pd.DataFrame(rows, columns=["step", "value", "loss"])
            grid = _load(p.preview)
            if grid is not None:  # a grid of 32 px samples: twice as large, pixels kept
                grid = grid.resize((grid.width * 2, grid.height * 2), Image.NEAREST)
            return st["status"], stepline, grid, df, st["log"]

        timer = gr.Timer(2.0)
        timer.tick(poll, None, [status, step, preview, losses, logs])

        with gr.Tab("Results"):
            refresh = gr.Button("Refresh", elem_id="refresh-results")
            table = gr.Dataframe(headers=results_lib.TABLE_HEADERS, elem_id="results-table")
            pick = gr.Dropdown(label="experiment", choices=[], elem_id="pick-result")
            result_sketches = gr.Gallery(label="its sketches", columns=10, height=150, elem_id="result-sketches")
            with gr.Row():
                before = gr.Image(label="before: pretrained", elem_id="before")
                after = gr.Gallery(
                    label="after: each method", columns=1, height=420, object_fit="contain", elem_id="after"
                )
            files = gr.File(label="downloads: report and netG.pth", file_count="multiple", elem_id="downloads")

        def list_results():
            res = results_lib.experiments(studio.root)
            table_df = pd.DataFrame(results_lib.table_rows(res), columns=results_lib.TABLE_HEADERS)
            generators = ["pretrained"] + [f"{r.name}/{m}" for r in res for m in r.metrics if m != "pretrained"]
            return (
                table_df,
                gr.update(choices=[r.name for r in res]),
                gr.update(choices=generators),
                gr.update(choices=generators),
            )

        def open_result(name):
            res = {r.name: r for r in results_lib.experiments(studio.root)}.get(name)
            if res is None:
                return None, [], [], []
            folder = results_lib.sketch_dir(res)
            # the stored set (content-addressed, never rewritten); a name from params, checked to stay inside
            shown = []
            if folder:
                path = (studio.root / folder).resolve()
                if path.is_relative_to((studio.root / SKETCH_ROOT).resolve()) and path.is_dir():
                    shown = [_load(f) for f in sorted(path.glob("*.png"))]
            grids = {
                row: results_lib.read_image(studio.root, res.rev, f"reports/grids/{row}.png") for row in res.metrics
            }
            out_dir = studio.runner.dir / "results" / name
            out_dir.mkdir(parents=True, exist_ok=True)
            downloads = []
            for rel in ["reports/index.html"] + [
                f"data/finetune/{m}/model/netG.pth" for m in res.metrics if m != "pretrained"
            ]:
                try:
                    data = results_lib.read_bytes(studio.root, res.rev, rel)
                except Exception:
                    continue
                dest = out_dir / rel.replace("/", "__")
                dest.write_bytes(data)
                downloads.append(str(dest))
            after_imgs = [(img, row) for row, img in grids.items() if img is not None and row != "pretrained"]
            return grids.get("pretrained"), after_imgs, downloads, shown

        pick.change(open_result, pick, [before, after, files, result_sketches])

        with gr.Tab("Edit") as edit_tab:
            gr.Markdown(
                "Live edits on the pretrained generator or any result (`Refresh` in Results lists them). "
                "Start from a sample, an inverted photo, a scribble or a latent optimization; every slider "
                "below edits that start code."
            )
            code = gr.State(None)  # the start code: W+ [1, n_latent, D] of the chosen generator
            with gr.Row():
                edit_src = gr.Dropdown(
                    label="generator", choices=["pretrained"], value="pretrained", elem_id="edit-generator"
                )
                seed = gr.Slider(0, 999, value=0, step=1, label="sample seed", elem_id="edit-seed")
            with gr.Row():
                start_img = gr.Image(label="start", height=192, elem_id="edit-start")
                with gr.Column():
                    photo = gr.Image(label="a photo to invert", type="pil", sources=["upload"], height=140)
                    invert_btn = gr.Button("Invert the photo (start from it)", elem_id="invert")
                with gr.Column():
                    lo_prompt = gr.Textbox(label="latent optimization prompt", value=exp.target_prompt, max_length=200)
                    lo_steps = gr.Slider(5, 200, value=40, step=5, label="steps")
                    lo_btn = gr.Button("Optimize toward the prompt", elem_id="latent-opt")
            edit_msg = gr.Markdown(elem_id="edit-msg")
            with gr.Accordion("Scribble: paint colours on the start image, then apply", open=False):
                scribble = gr.ImageEditor(
                    type="numpy",
                    image_mode="RGBA",
                    sources=(),
                    canvas_size=(256, 256),
                    brush=gr.Brush(default_size=12, colors=["#f078b4", "#3264dc", "#32b446", "#262428", "#ecebe4"]),
                    layers=False,
                    transforms=(),
                    elem_id="scribble",
                )
                scribble_btn = gr.Button("Apply the scribble", elem_id="apply-scribble")
            with gr.Row():
                edited = gr.Image(label="global directions", height=192, elem_id="edit-global")
                gs_img = gr.Image(label="GANSpace", height=192, elem_id="edit-ganspace")
                interp_img = gr.Image(label="interpolation (W)", height=192, elem_id="edit-interp")
                winterp_img = gr.Image(label="interpolation (weights)", height=192, elem_id="edit-winterp")
            with gr.Row():
                with gr.Column():
                    neutral = gr.Textbox(label="neutral prompt", value=exp.source_prompt, max_length=200)
                    tgt = gr.Textbox(label="target prompt", value=exp.target_prompt, max_length=200)
                    alpha = gr.Slider(-10, 10, value=0, step=0.1, label="alpha (strength)", elem_id="alpha")
                    beta = gr.Slider(0.0, 0.3, value=0.1, step=0.01, label="beta (disentanglement)", elem_id="beta")
                with gr.Column():
                    gs_sliders = [
                        gr.Slider(-5, 5, value=0, step=0.1, label=f"GANSpace component {k}") for k in range(4)
                    ]
                with gr.Column():
                    seed_b = gr.Slider(0, 999, value=1, step=1, label="second sample seed")
                    t = gr.Slider(0, 1, value=0, step=0.05, label="interpolate samples (W)")
                    other_src = gr.Dropdown(
                        label="second generator", choices=["pretrained"], value="pretrained", elem_id="edit-other"
                    )
                    tw = gr.Slider(0, 1, value=0, step=0.05, label="interpolate generators (weights)")

        def to_np(img, shown: int = 192):
            """[3, H, W] in [-1, 1] -> uint8 H' x W' x 3, enlarged (nearest) so a 32 px image is visible."""
            arr = ((img.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
            k = max(1, shown // arr.shape[0])
            return arr.repeat(k, axis=0).repeat(k, axis=1)

        def from_np(arr, size):
            """H x W x 3 uint8 -> [3, size, size] in [-1, 1]."""
            import torch

            img = Image.fromarray(np.asarray(arr)[..., :3]).resize((size, size), Image.LANCZOS)
            return torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)

        def session(key):
            return studio.edit_session(key)

        def the_code(key, w, sd):
            """The state's code as a tensor (a numpy array in the state: Gradio compares states by value)."""
            import torch

            s = session(key)
            return torch.from_numpy(w).to(s.device) if w is not None else s.wplus(s.sample_w(int(sd)))

        def start_code(key, sd):
            s = session(key)
            return s.wplus(s.sample_w(int(sd)))

        def shown(key, w, msg=""):
            """The new start code, its image, and the scribble canvas on it."""
            img = to_np(session(key).render(w))
            big = np.asarray(Image.fromarray(img).resize((256, 256), Image.NEAREST))  # the scribble canvas
            return w.detach().cpu().numpy(), img, {"background": big, "layers": [], "composite": big}, msg

        def do_invert(key, pil):
            if pil is None:
                return gr.update(), gr.update(), gr.update(), _error("upload a photo first")
            s = session(key)
            w = s.invert(from_np(np.asarray(pil.convert("RGB")), s.G.size))
            return shown(key, w, "inverted the photo: the sliders now edit it")

        def do_latent_opt(key, w, sd, prompt, steps, progress=gr.Progress()):  # noqa: B008 (Gradio's API)
            if not (prompt or "").strip():
                return gr.update(), gr.update(), gr.update(), _error("write a prompt first")
            total = int(steps)
            w = session(key).latent_opt(
                the_code(key, w, sd), prompt, steps=total, callback=lambda i, _: progress((i + 1) / total)
            )
            return shown(key, w, f"optimized toward '{prompt}' in {total} steps")

        def do_scribble(key, w, sd, value):
            import torch

            layers = (value or {}).get("layers") or []
            if not layers or np.asarray(layers[0])[..., 3].max() == 0:
                return gr.update(), gr.update(), gr.update(), _error("paint on the image first")
            s = session(key)
            rgba = np.asarray(layers[0])
            size = s.G.size
            colours = from_np(rgba[..., :3], size)
            alpha = Image.fromarray(rgba[..., 3]).resize((size, size), Image.BILINEAR)
            mask = torch.from_numpy((np.asarray(alpha, dtype=np.float32) / 255 > 0.5).astype(np.float32))[None]
            w = s.scribble(the_code(key, w, sd), colours, mask)
            return shown(key, w, "applied the scribble")

        def global_edit(key, w, sd, n, tg, a, b):
            s = session(key)
            img, _ = s.global_direction(the_code(key, w, sd), n, tg, float(a), float(b))
            return to_np(img)

        def ganspace_edit(key, w, sd, *vals):
            s = session(key)
            return to_np(s.ganspace(the_code(key, w, sd), {k: float(v) for k, v in enumerate(vals)}))

        def interp(key, w, sd, b, tt):
            s = session(key)
            return to_np(s.interpolate_w(the_code(key, w, sd), s.sample_w(int(b)), float(tt)))

        def winterp(key, other, w, sd, tt):
            s = session(key)
            return to_np(s.interpolate_weights(session(other).weights(), the_code(key, w, sd), float(tt)))

        outs = [code, start_img, scribble, edit_msg]
        for c in (edit_src, seed):
            c.change(lambda k, sd: shown(k, start_code(k, sd)), [edit_src, seed], outs)
        invert_btn.click(do_invert, [edit_src, photo], outs)
        lo_btn.click(do_latent_opt, [edit_src, code, seed, lo_prompt, lo_steps], outs)
        scribble_btn.click(do_scribble, [edit_src, code, seed, scribble], outs)
        g_in = [edit_src, code, seed, neutral, tgt, alpha, beta]
        for c in (alpha, beta, code):
            c.change(global_edit, g_in, edited, show_progress="hidden")
        for c in (*gs_sliders, code):
            c.change(ganspace_edit, [edit_src, code, seed, *gs_sliders], gs_img, show_progress="hidden")
        for c in (t, seed_b, code):
            c.change(interp, [edit_src, code, seed, seed_b, t], interp_img, show_progress="hidden")
        for c in (tw, other_src, code):
            c.change(winterp, [edit_src, other_src, code, seed, tw], winterp_img, show_progress="hidden")
        refresh.click(list_results, None, [table, pick, edit_src, other_src])
        # on first opening the tab, not at page load: global directions measure the generator's channel
        # relevance once (about 30 s here), which a page that only draws or customizes should not wait for
        edit_tab.select(
            lambda k, sd, w: shown(k, start_code(k, sd)) if w is None else (gr.update(),) * 4,
            [edit_src, seed, code],
            outs,
        )
    return app


# Gradio 6.31 lays a gallery out in one column whatever `columns` says (measured: grid-template-columns
# is the full width), so a sketch fills the box and only its white top shows: set the grid ourselves.
CSS = (
    ".studio-error{color:#b00020;font-weight:600}"
    "#gallery .grid-container{grid-template-columns:repeat(8,minmax(0,1fr))!important}"
    "#result-sketches .grid-container{grid-template-columns:repeat(10,minmax(0,1fr))!important}"
)
