"""Training sets from the train scenes: stage-1 captions (LLaVA "plain" JSON), stage-2 instructions
(LLaVA-1.5 conversations) and MiniGPT-4's cc_sbu_align captions."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from tunebench.data.formats.ccsbu import CaptionItem
from tunebench.data.formats.llava import SHORT_ANSWER_SUFFIX
from tunebench.data.records import IMAGE_TOKEN
from tunebench.data.shapes.questions import QA, question_mix
from tunebench.data.shapes.select import select_questions
from tunebench.data.shapes.text import CAPTION_PROMPTS, DETAIL_PROMPTS, caption, description
from tunebench.data.shapes.world import Scene

QUESTIONS_PER_IMAGE = 4  # the default; all of an image's questions go in one multi-turn record
CONVERSATIONAL_SHARE = 0.25  # records answered in full sentences instead of single words
DETAIL_SHARE = 0.5  # scenes that also get a detailed-description record


def _turn(role: str, value: str) -> dict[str, str]:
    return {"from": role, "value": value}


def pretrain_records(scenes: Sequence[Scene], image_prefix: str, texture: bool, seed: int) -> list[dict]:
    rng = random.Random(f"shapes:{seed}:captions")
    return [{
        "id": f"shapes-cap-{scene.image_id:06d}",
        "image": f"{image_prefix}/{scene.file}",
        "conversations": [_turn("human", rng.choice(CAPTION_PROMPTS)),
                          _turn("gpt", caption(scene, texture, rng))],
    } for scene in scenes]


def _qa_records(scene: Scene, qas: list[QA], image: str, rng: random.Random, max_turns: int) -> list[dict[str, Any]]:
    records = []
    for part, start in enumerate(range(0, len(qas), max_turns)):
        chunk = qas[start:start + max_turns]
        conversational = rng.random() < CONVERSATIONAL_SHARE
        turns = []
        for j, qa in enumerate(chunk):
            question = qa.question if conversational else qa.question + SHORT_ANSWER_SUFFIX
            turns.append(_turn("human", f"{IMAGE_TOKEN}\n{question}" if j == 0 else question))
            turns.append(_turn("gpt", qa.full_answer if conversational else qa.answer))
        records.append({"id": f"shapes-qa-{scene.image_id:06d}-{part}", "image": image,
                        "conversations": turns, "skills": [qa.skill for qa in chunk]})
    return records


def instruct_records(scenes: Sequence[Scene], image_prefix: str, texture: bool, seed: int,
                     per_image: int = QUESTIONS_PER_IMAGE, mix: Mapping[str, float] | None = None) -> list[dict]:
    """Multi-turn short-answer and yes/no questions (balanced, about `per_image` per scene, packed into one
    record per image: more supervision per image token) plus detailed descriptions. `mix` changes the
    question types' relative weights (`questions.DEFAULT_MIX`)."""
    weights = question_mix(mix or {})
    qtypes = [name for name, weight in weights.items() if weight > 0]
    qas = select_questions(scenes, qtypes, per_image, seed, "instruct", weights)
    by_image: dict[int, list[QA]] = defaultdict(list)
    for qa in qas:
        by_image[qa.image_id].append(qa)
    rng = random.Random(f"shapes:{seed}:instruct:records")
    records: list[dict[str, Any]] = []
    for scene in scenes:
        image = f"{image_prefix}/{scene.file}"
        mine = by_image.get(scene.image_id, [])
        rng.shuffle(mine)
        records += _qa_records(scene, mine, image, rng, per_image)
        if rng.random() < DETAIL_SHARE:
            prompt = rng.choice(DETAIL_PROMPTS)
            records.append({"id": f"shapes-detail-{scene.image_id:06d}", "image": image, "conversations": [
                _turn("human", f"{IMAGE_TOKEN}\n{prompt}"), _turn("gpt", description(scene, texture, rng))]})
    return records


def ccsbu_items(scenes: Sequence[Scene], texture: bool, seed: int) -> list[CaptionItem]:
    rng = random.Random(f"shapes:{seed}:ccsbu")
    return [CaptionItem(str(scene.image_id), description(scene, texture, rng)) for scene in scenes]
