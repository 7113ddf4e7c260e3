"""The closed vocabulary of the Shapes world and the small English helpers built on it."""

from __future__ import annotations

SHAPES = ("circle", "square", "triangle", "star", "diamond", "hexagon")

# Saturated, well separated hues; gray and white stay apart from the dark background.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38),
    "green": (34, 170, 60),
    "blue": (40, 92, 235),
    "yellow": (245, 220, 30),
    "purple": (150, 55, 205),
    "orange": (250, 140, 20),
    "gray": (140, 140, 140),
    "white": (245, 245, 245),
}
SIZES = ("small", "large")

# Side of an object's bounding box at 224 px; scaled with the image size.
SIZE_RANGE_224: dict[str, tuple[int, int]] = {"small": (30, 40), "large": (60, 75)}

# Shapes come in two families that tend to appear together, so object co-occurrence is not uniform
# (POPE's "adversarial" split needs that) and some shapes are more frequent (its "popular" split).
SHAPE_FAMILIES: tuple[dict[str, float], ...] = (
    {"circle": 0.5, "hexagon": 0.3, "star": 0.2},
    {"square": 0.5, "triangle": 0.3, "diamond": 0.2},
)
FAMILY_PROBABILITY = 0.75

# Answers a human annotator would also give (VQA-v2 keeps ten human answers per question).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "gray": ("grey",),
    "large": ("big",),
    "small": ("little",),
    "center": ("middle",),
    "diamond": ("rhombus",),
}

NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

BACKGROUND = (46, 50, 60)


def article(phrase: str) -> str:
    """'a' or 'an' for the phrase, by its first letter (enough for this vocabulary)."""
    return "an" if phrase[:1] in "aeiou" else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def plural(noun: str) -> str:
    return noun + "es" if noun.endswith(("s", "x", "sh", "ch")) else noun + "s"


def join_words(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def number_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)
