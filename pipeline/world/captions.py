"""Captions of toy cats in varied phrasings: the text half of the world CLIP's training pairs.

The real CLIP learned "pink" and "standing" from captions on the web; the world's CLIP learns them
from these. Each caption mentions a random subset of the factors (colour, pose, background), in
one of several sentence shapes and synonyms, with or without articles ("a photo of pink cat", the
study's own prompt, has none). `colour_in(prompt)` finds the palette colour a prompt names.
"""

from __future__ import annotations

import random
import re

from .render import BACKGROUND_NAMES, COLOUR_NAMES, POSES

POSE_PHRASES = {
    "standing": ("standing", "standing up", "that is standing", "standing on four legs", "walking"),
    "sitting": ("sitting", "sitting down", "that is sitting", "sitting upright"),
    "lying": ("lying", "lying down", "that is lying down", "resting on the ground", "lying on its belly"),
}
POSE_ADJECTIVES = {"standing": ("standing",), "sitting": ("sitting", "seated"), "lying": ("lying", "resting")}
BACKGROUND_PHRASES = {
    "grass": ("on grass", "on the grass", "in a field", "on a lawn"),
    "sand": ("on sand", "on the beach", "in the desert", "on sand dunes"),
    "snow": ("in the snow", "on snow", "in a snowy field"),
    "room": ("in a room", "indoors", "on a wooden floor", "in the living room"),
}
COLOUR_SYNONYMS = {"gray": ("gray", "grey"), "orange": ("orange", "ginger"), "purple": ("purple", "violet")}
PHOTO = ("a photo of", "a picture of", "an image of", "a rendering of", "a drawing of", "")


def _article(word: str, rng: random.Random) -> str:
    if rng.random() < 0.2:
        return ""  # "a photo of pink cat"
    return "an" if word[0] in "aeiou" else "a"


def caption(pose: str, colour: str, background: str, rng: random.Random) -> str:
    """One caption of a cat with these factors; each factor is mentioned with its own probability."""
    say_colour, say_pose, say_bg = rng.random() < 0.85, rng.random() < 0.6, rng.random() < 0.4
    col = rng.choice(COLOUR_SYNONYMS.get(colour, (colour,))) if say_colour else ""
    shape = rng.random()
    if say_pose and shape < 0.5:  # adjective before the noun: "a lying blue cat"
        noun = " ".join(w for w in (rng.choice(POSE_ADJECTIVES[pose]), col, "cat") if w)
        tail = ""
    else:  # phrase after the noun: "a pink cat standing"
        noun = " ".join(w for w in (col, "cat") if w)
        tail = rng.choice(POSE_PHRASES[pose]) if say_pose else ""
    bg = rng.choice(BACKGROUND_PHRASES[background]) if say_bg else ""
    art = _article(noun, rng)
    head = rng.choice(PHOTO)
    text = " ".join(w for w in (head, art, noun, tail, bg) if w)
    return text + ("." if rng.random() < 0.3 else "")


def captions_for(factors, seed: int) -> list[str]:
    """A caption per cat of a Factors batch, reproducible from `seed`."""
    rng = random.Random(seed)
    return [
        caption(POSES[p], COLOUR_NAMES[c], BACKGROUND_NAMES[b], rng)
        for p, c, b in zip(factors.pose.tolist(), factors.colour.tolist(), factors.background.tolist())
    ]


_WORDS = {w: name for name in COLOUR_NAMES for w in COLOUR_SYNONYMS.get(name, (name,))}


def colour_in(prompt: str) -> str | None:
    """The palette colour a prompt names (synonyms included), or None. Two different colours: ValueError."""
    found = {_WORDS[w] for w in re.findall(r"[a-z]+", prompt.lower()) if w in _WORDS}
    if len(found) > 1:
        raise ValueError(
            f"prompt {prompt!r} names several colours ({', '.join(sorted(found))}); the toy "
            "world measures one target colour"
        )
    return found.pop() if found else None


def known_colours() -> str:
    return ", ".join(COLOUR_NAMES)
