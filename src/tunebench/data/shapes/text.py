"""Captions (stage-1 alignment) and detailed descriptions (stage-2 / MiniGPT-4 style) of scenes."""

from __future__ import annotations

import random

from tunebench.data.shapes.refer import refer
from tunebench.data.shapes.vocab import join_words, number_word, with_article
from tunebench.data.shapes.world import Obj, Scene, horizontal, relation, vertical

CAPTION_PROMPTS = (
    "<image>\nGive a brief description of the image.",
    "Summarize the visual content of the image.\n<image>",
    "<image>\nWrite a short caption for the picture.",
    "Describe the image concisely.\n<image>",
    "<image>\nShare a concise interpretation of the image provided.",
)
DETAIL_PROMPTS = (
    "Describe the image in detail.",
    "Describe this image in detail.",
    "What do you see in this picture? Please be thorough.",
    "Give a detailed account of every shape in the image and where it is.",
)
_BACKGROUND_TEXT = {True: "a dark, mottled background", False: "a plain dark background"}


def _name(obj: Obj) -> str:
    return f"{obj.size} {obj.color} {obj.shape}"


def caption(scene: Scene, texture: bool, rng: random.Random) -> str:
    """One sentence listing every object, left to right."""
    names = [with_article(_name(obj)) for obj in scene.objects]
    text = join_words(names)
    template = rng.choice(("{objs} on {bg}.", "{objs}.", "A picture of {objs} on {bg}."))
    sentence = template.format(objs=text, bg=_BACKGROUND_TEXT[texture])
    return sentence[0].upper() + sentence[1:]


def _where(obj: Obj, scene: Scene) -> str:
    h, v = horizontal(obj, scene), vertical(obj, scene)
    if h == "center" and v == "middle":
        return "in the center of the image"
    if h and v:
        h_text = "" if h == "center" else f" {h}"
        v_text = "" if v == "middle" else f"{v}"
        if not v_text:
            return f"on the{h_text} side of the image, halfway down"
        return f"in the {v_text}{h_text} part of the image"
    if h:
        return "near the center" if h == "center" else f"on the {h} side"
    if v:
        return "in the middle band" if v == "middle" else f"near the {v}"
    return "between the regions of the image"


def description(scene: Scene, texture: bool, rng: random.Random) -> str:
    """Several sentences: how many objects, where each one is, and one relation between two."""
    n = len(scene.objects)
    noun = "shape" if n == 1 else "shapes"
    sentences = [f"The image shows {number_word(n)} {noun} on {_BACKGROUND_TEXT[texture]}."]
    for obj in scene.objects:
        sentences.append(f"There is {with_article(_name(obj))} {_where(obj, scene)}.")
    relations = []
    for a in scene.objects:
        for b in scene.objects:
            da, db = refer(a, scene), refer(b, scene)
            if a is not b and da and db and relation(a, b, scene, "x") == "left":
                relations.append(f"The {da} is to the left of the {db}.")
    if relations:
        sentences.append(rng.choice(relations))
    colors = sorted({obj.color for obj in scene.objects})
    if n > 1:
        sentences.append(f"The colors present are {join_words(colors)}.")
    return " ".join(sentences)
