"""Which of the study's observations a toy-world run reproduces, stated with its numbers.

The study (sketch + text customization of StyleGAN2) reports three things this world can measure:
  1. method 1 (`clip_global`: Sketch Your Own GAN + the CLIP global loss) loses the sketched shape:
     its pose accuracy falls clearly below the baseline's;
  2. image regularization and NADA's directional loss conflict: without L_image
     (`clip_direction_no_image`) the colour changes more than with it (`clip_direction`);
  3. the DiagonalGAN-style variant (`diagonal`) does best: the highest joint accuracy of the text methods.
A finding is "reproduced" only when the difference exceeds `margin` (default 0.05, about two
standard errors of an accuracy over 500 samples near 0.5), "not reproduced" when it does not, and
"not measured" when a block is missing.
"""

from __future__ import annotations

TEXT_METHODS = ("clip_global", "clip_direction", "clip_direction_no_image", "diagonal", "diagonal_no_syog")


def _get(metrics: dict, method: str, key: str):
    v = metrics.get(method, {}).get(key)
    return v if isinstance(v, (int, float)) else None


def findings(metrics: dict[str, dict], margin: float = 0.05) -> list[dict]:
    """[{"claim", "status": reproduced | not reproduced | not measured, "evidence"}] from {method: metrics}."""
    out = []

    pg, ps = _get(metrics, "clip_global", "pose_acc"), _get(metrics, "syog", "pose_acc")
    claim = "Method 1 (SYOG + the CLIP global loss) loses the sketched shape"
    if pg is None or ps is None:
        out.append({"claim": claim, "status": "not measured", "evidence": "needs syog and clip_global"})
    else:
        ok = pg < ps - margin
        out.append(
            {
                "claim": claim,
                "status": "reproduced" if ok else "not reproduced",
                "evidence": f"pose_acc clip_global {pg:.3f} vs syog {ps:.3f}",
            }
        )

    ci, cn = _get(metrics, "clip_direction", "colour_acc"), _get(metrics, "clip_direction_no_image", "colour_acc")
    claim = "Image regularization (L_image) and the directional loss conflict"
    if ci is None or cn is None:
        out.append(
            {"claim": claim, "status": "not measured", "evidence": "needs clip_direction and clip_direction_no_image"}
        )
    else:
        ok = cn > ci + margin
        out.append(
            {
                "claim": claim,
                "status": "reproduced" if ok else "not reproduced",
                "evidence": f"colour_acc without L_image {cn:.3f} vs with {ci:.3f}",
            }
        )

    joint = {m: _get(metrics, m, "joint_acc") for m in TEXT_METHODS}
    joint = {m: v for m, v in joint.items() if v is not None}
    claim = "The DiagonalGAN-style variant does best"
    if "diagonal" not in joint or len(joint) < 2:
        out.append({"claim": claim, "status": "not measured", "evidence": "needs diagonal and another text method"})
    else:
        rest = {m: v for m, v in joint.items() if m != "diagonal"}
        best_other = max(rest, key=rest.get)
        ok = joint["diagonal"] > rest[best_other] + margin
        out.append(
            {
                "claim": claim,
                "status": "reproduced" if ok else "not reproduced",
                "evidence": f"joint_acc diagonal {joint['diagonal']:.3f} vs best other text method "
                f"{best_other} {rest[best_other]:.3f}",
            }
        )
    return out


def summary_paragraph(metrics: dict[str, dict], margin: float = 0.05) -> str:
    """One paragraph for the report: what this run reproduces and what it does not, with numbers."""
    fs = findings(metrics, margin)
    rep = [f for f in fs if f["status"] == "reproduced"]
    notrep = [f for f in fs if f["status"] == "not reproduced"]
    unmeasured = [f for f in fs if f["status"] == "not measured"]

    def join(items):
        return "; ".join(f"{f['claim'][0].lower()}{f['claim'][1:]} ({f['evidence']})" for f in items)

    parts = [f"In this toy-world run (margin {margin:g}), "]
    parts.append(f"reproduced: {join(rep)}. " if rep else "none of the study's three observations is reproduced. ")
    if notrep:
        parts.append(f"Not reproduced: {join(notrep)}. ")
    if unmeasured:
        parts.append(f"Not measured: {join(unmeasured)}. ")
    base = metrics.get("syog", {})
    pre = metrics.get("pretrained", {})
    if "pose_acc" in base and "pose_acc" in pre:
        parts.append(
            f"For reference, the baseline moves pose_acc from {pre['pose_acc']:.3f} (pretrained) to "
            f"{base['pose_acc']:.3f}"
            + (
                f"; inside the world's image manifold {pre['pose_acc_in_domain']:.3f} → "
                f"{base['pose_acc_in_domain']:.3f} (in_domain {pre['in_domain']:.3f} → {base['in_domain']:.3f})."
                if all("pose_acc_in_domain" in r and "in_domain" in r for r in (base, pre))
                else "."
            )
        )
    parts.append(_in_domain_sentence(metrics))
    parts.append(_render_fit_sentence(metrics))
    return "".join(parts).strip()


def _against_pretrained(
    metrics: dict[str, dict], key: str, question: str, share: float, below: str, verdict: str
) -> str:
    """' {question} (key; pretrained x): row v, ...; below {below} the pretrained generator's (rows) {verdict}.'
    naming the rows whose `key` is under `share` of the pretrained row's; "" when not measured."""
    pre = _get(metrics, "pretrained", key)
    rows = {m: _get(metrics, m, key) for m in metrics if m != "pretrained"}
    rows = {m: v for m, v in rows.items() if v is not None}
    if pre is None or not rows:
        return ""
    low = [m for m, v in rows.items() if v < pre * share]
    text = f" {question} ({key}; pretrained {pre:.3f}): " + ", ".join(f"{m} {v:.3f}" for m, v in rows.items())
    if low:
        text += f"; below {below} the pretrained generator's ({', '.join(low)}) {verdict}"
    return text + "."


def _in_domain_sentence(metrics: dict[str, dict]) -> str:
    """Which rows' samples are cats of this world at all. The oracle reads a pose and a colour from
    anything (a blurred figure too), so a row whose `in_domain` is far below the pretrained
    generator's has its pose and colour read from figures outside the world's images."""
    return _against_pretrained(
        metrics, "in_domain", "Whether the samples are cats of this world at all", 0.25, "a quarter of",
        "the oracle reads pose and colour from figures outside the world's images, so those rows' accuracies "
        "say what the samples resemble, not that they are cats",
    )  # fmt: skip


def _render_fit_sentence(metrics: dict[str, dict]) -> str:
    """Which rows' samples look like the world's renders in their pixels (`render_fit`,
    pipeline/metrics/render_fit.py): the oracle's features, and so `in_domain` and the FIDs, barely
    change when a figure is washed into colour smears; a row far below the pretrained generator's
    render_fit is what a person sees in its grid as smears."""
    return _against_pretrained(
        metrics, "render_fit", "Whether the samples look like the world's renders in their pixels", 0.5, "half",
        "the grids show smears and washes rather than drawn cats, whatever pose and colour the oracle reads in them",
    )  # fmt: skip
