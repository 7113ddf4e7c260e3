"""A third-party-style data set drawn without the Shapes renderer: one flat shape on a plain background.

Eight colours, three shapes; per image a colour question, a shape question and a yes/no question (half of them
true), in LLaVA conversation JSON for training and in VQA-v2's question and annotation files for evaluation.
It checks the custom-data path (`train --init RUN --instructions ...`, then `eval`) on images whose look, layout
and wording the bench never trained on.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (214, 39, 40), "green": (44, 160, 44), "blue": (31, 90, 220), "yellow": (240, 215, 30),
           "purple": (128, 60, 180), "orange": (255, 127, 14), "pink": (240, 120, 190), "brown": (140, 86, 45)}
SHAPES = ("circle", "square", "triangle")
BACKGROUND = (236, 236, 230)
SUFFIX = "\nAnswer the question using a single word or phrase."


def draw(shape: str, colour: str, rng: random.Random, size: int = 224) -> Image.Image:
    """One shape of side 70-130 px at a random place, filled with the colour, on the plain background."""
    image = Image.new("RGB", (size, size), BACKGROUND)
    side = rng.randint(70, 130)
    x, y = rng.randint(8, size - side - 8), rng.randint(8, size - side - 8)
    pen = ImageDraw.Draw(image)
    box = (x, y, x + side, y + side)
    if shape == "circle":
        pen.ellipse(box, fill=COLOURS[colour])
    elif shape == "square":
        pen.rectangle(box, fill=COLOURS[colour])
    else:
        pen.polygon([(x + side / 2, y), (x + side, y + side), (x, y + side)], fill=COLOURS[colour])
    return image


def questions(shape: str, colour: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """(kind, question, answer): the colour, the shape, and a yes/no question about the colour."""
    asked = colour if rng.random() < 0.5 else rng.choice([c for c in COLOURS if c != colour])
    return [("colour", f"What color is the {shape}?", colour),
            ("shape", "Which shape is drawn on the picture?", shape),
            ("yes/no", f"Is the {shape} {asked}?", "yes" if asked == colour else "no")]


def write_set(out: Path, train_images: int, test_images: int, seed: int = 0) -> dict[str, Path]:
    """Images, `train.json` (LLaVA conversations, one record per image) and VQA-v2 test files under `out`."""
    rng = random.Random(seed)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    train, test_questions, annotations = [], [], []
    for index in range(train_images + test_images):
        shape, colour = rng.choice(SHAPES), rng.choice(list(COLOURS))
        is_test = index >= train_images
        name = f"COCO_test_{index:012d}.png" if is_test else f"train_{index:06d}.png"
        draw(shape, colour, rng).save(images / name)
        asked = questions(shape, colour, rng)
        if not is_test:
            turns = []
            for j, (_, question, answer) in enumerate(asked):
                turns += [{"from": "human", "value": ("<image>\n" if j == 0 else "") + question + SUFFIX},
                          {"from": "gpt", "value": answer}]
            train.append({"id": f"single-{index}", "image": name, "conversations": turns})
            continue
        for j, (kind, question, answer) in enumerate(asked):
            qid = index * 10 + j
            test_questions.append({"question_id": qid, "image_id": index, "question": question, "skill": kind})
            annotations.append({"question_id": qid, "image_id": index, "question_type": kind,
                                "answer_type": "yes/no" if kind == "yes/no" else "other",
                                "multiple_choice_answer": answer,
                                "answers": [{"answer": answer, "answer_confidence": "yes", "answer_id": k}
                                            for k in range(1, 11)]})
    paths = {"train": out / "train.json", "questions": out / "test_questions.json",
             "annotations": out / "test_annotations.json", "images": images}
    paths["train"].write_text(json.dumps(train))
    paths["questions"].write_text(json.dumps({"data_subtype": "test", "questions": test_questions}))
    paths["annotations"].write_text(json.dumps({"annotations": annotations}))
    return paths
