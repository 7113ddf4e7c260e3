"""Several independent questions about one image in one sequence, each seeing the image and itself only.

A multi-turn record of independent questions (the Shapes world's stage-2 records) saves recomputing the
image prefix for every question, but under a plain causal mask a later answer can be read off the earlier
turns' text ("What color is the circle? Red." ... "Is there a red circle?") instead of off the image. With
isolated turns the sequence is the shared start (everything through the image tokens) followed by one
segment per question-answer pair; a segment attends to the shared start and to itself, and its positions
continue from the shared start, so each segment is exactly the one-question prompt the evaluation scores.
This is sequence packing without cross-contamination (as padding-free packing in TRL), with the image
prefix shared instead of repeated. With the question before the image (`VLMConfig.question_first`) the shared
start ends before the first question, and each segment carries its own copy of the image tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from tunebench.core.errors import DataError
from tunebench.data.records import IMAGE_TOKEN, Turn
from tunebench.models.prompting import image_prompt

SHARED = 0  # segment id of the shared start; question-answer segments count from 1, padding is -1
PADDING = -1


def question_answer_pairs(turns: Sequence[Turn], record_id: str) -> list[list[Turn]]:
    """Each human/gpt pair as its own one-question conversation, the image placeholder put in front of every
    question after the first (LLaVA's layout, as the evaluation prompts it)."""
    roles = [t.role for t in turns]
    if len(turns) % 2 or roles != ["human", "gpt"] * (len(turns) // 2):
        raise DataError("isolated turns need alternating human/gpt turns, starting with human",
                        where=f"record {record_id}")
    if not turns[0].text.startswith(IMAGE_TOKEN) or any(IMAGE_TOKEN in t.text for t in turns[1:]):
        raise DataError(f"isolated turns need the {IMAGE_TOKEN} placeholder at the start of the first question "
                        "and nowhere else", where=f"record {record_id}")
    pairs = []
    for i in range(0, len(turns), 2):
        human = turns[i] if i == 0 else image_prompt(turns[i].text)[0]
        pairs.append([human, turns[i + 1]])
    return pairs


def shared_length(encoded: Sequence[dict], image_token_id: int) -> int:
    """How many leading tokens every encoding shares: through the image tokens where the image lies in the common
    start (image first), else the whole common start (question first: each segment carries its own image)."""
    rows = [e["input_ids"] for e in encoded]
    common = 0
    while common < min(map(len, rows)) and all(row[common] == rows[0][common] for row in rows):
        common += 1
    start = rows[0][:common]
    return len(start) - start[::-1].index(image_token_id) if image_token_id in start else common


def join_isolated(encoded: Sequence[dict], image_token_id: int, limit: int) -> dict:
    """One sequence from the encodings of one-question conversations about one image: their shared start once,
    then each one's rest as a segment. Returns ids, labels, each token's segment id and position id, cut at
    `limit` tokens as any sequence is, except that a segment whose image tokens the cut would split is left out."""
    shared = shared_length(encoded, image_token_id)
    ids, labels = list(encoded[0]["input_ids"][:shared]), list(encoded[0]["labels"][:shared])
    segments, positions = [SHARED] * shared, list(range(shared))
    for n, ex in enumerate(encoded, start=1):
        tail = len(ex["input_ids"]) - shared
        ids += ex["input_ids"][shared:]
        labels += ex["labels"][shared:]
        segments += [n] * tail
        positions += range(shared, shared + tail)
    cut = _cut(ids, segments, image_token_id, limit)
    return {"input_ids": ids[:cut], "labels": labels[:cut], "segment_ids": segments[:cut],
            "position_ids": positions[:cut]}


def _cut(ids: list[int], segments: list[int], image_token_id: int, limit: int) -> int:
    """`limit`, or the start of the segment it falls in where that segment's image tokens reach past it."""
    if len(ids) <= limit:
        return len(ids)
    inside = [i for i, s in enumerate(segments) if s == segments[limit]]
    images = [i for i in inside if ids[i] == image_token_id]
    return inside[0] if images and images[-1] >= limit else limit


def encode_isolated(encode: Callable[[list[Turn]], dict], turns: Sequence[Turn], image_token_id: int, limit: int,
                    record_id: str) -> dict:
    """`encode` (one conversation -> ids and labels, image placeholder expanded) applied to each question-answer
    pair, joined into one sequence of isolated turns."""
    encoded = [encode(pair) for pair in question_answer_pairs(turns, record_id)]
    return join_isolated(encoded, image_token_id, limit)


def isolated_attention_mask(segment_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch, 1, L, L) boolean mask, True where a query may attend: causal, never to padding, and only to the
    shared start and the query's own segment. Every row keeps its diagonal, so no softmax row is empty."""
    length = segment_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segment_ids.device).tril()
    query, key = segment_ids[:, :, None], segment_ids[:, None, :]
    visible = (key == SHARED) | (key == query)
    allowed = causal & visible & attention_mask.bool()[:, None, :]
    allowed |= torch.eye(length, dtype=torch.bool, device=segment_ids.device)
    return allowed[:, None]


def as_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A boolean attention mask as the additive float mask that eager attention implementations expect."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)
