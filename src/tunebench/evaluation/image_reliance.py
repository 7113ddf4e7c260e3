"""Does the model look at the image? The loss of the reference answers with the right image versus with
another image of the same set.

A model that answers from the question alone (language priors) scores the same either way: a gap near zero
says its benchmark scores measure priors, however they compare with another model's. Teacher-forced, so it
needs no generation and reads the same whatever the answer format.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tunebench.core.device import Precision, resolve_precision
from tunebench.data.records import Record, Turn
from tunebench.evaluation.tasks import Task
from tunebench.models.batching import pad_batch
from tunebench.models.features import frozen_features_for
from tunebench.models.prompting import image_prompt
from tunebench.models.vlm import VisionLanguageModel


def probe_records(records: Sequence[Record]) -> list[Record]:
    """The questions the probe can use (an image and a reference answer; yes/no sets balanced per image);
    empty unless they span two images or more, since each needs another image of the set to be swapped in."""
    usable = balanced_per_image([r for r in records if r.image and r.answers])
    return usable if len({r.image for r in usable}) >= 2 else []


def balanced_per_image(records: list[Record]) -> list[Record]:
    """Yes/no sets: images with the same number of "yes" and of "no" questions each, from one split/subtask.

    The probe swaps each image for the next one, so every image is once the right image and once the wrong
    one. With equal yes/no counts per image, an effect of the image that ignores the question (it exists:
    docs/decisions.md) cancels exactly, and the gap measures what it should: whether the image matches the
    question. POPE's splits reuse images, so only each image's first split is kept. Other sets are returned as they are.
    """
    answers = [r.reference_answer.strip().lower() for r in records]
    if not records or not set(answers) <= {"yes", "no"}:
        return records

    def part(r: Record) -> tuple:
        return r.meta.get("subtask"), r.meta.get("split")

    first: dict = {}
    for r in records:
        first.setdefault(r.image, part(r))
    by_image: dict = {}
    for r, answer in zip(records, answers, strict=True):
        if first[r.image] == part(r):
            by_image.setdefault(r.image, {}).setdefault(answer, []).append(r)
    pairs = {k: min(len(v.get("yes", [])), len(v.get("no", []))) for k, v in by_image.items()}
    if not any(pairs.values()):
        return []
    # Per image `each` yes and `each` no; images with fewer are left out. The most questions in all wins.
    each = max(range(1, max(pairs.values()) + 1), key=lambda k: k * sum(n >= k for n in pairs.values()))
    return [r for k, v in by_image.items() if pairs[k] >= each for r in v["yes"][:each] + v["no"][:each]]


def _other_image(paths: list[str]) -> dict[str, str]:
    """Each image mapped to the next distinct one (cyclic): every question gets a wrong image, deterministically."""
    unique = sorted(set(paths))
    return {p: unique[(i + 1) % len(unique)] for i, p in enumerate(unique)}


def _mean_answer_loss(model: VisionLanguageModel, examples: list[dict], batch_size: int) -> tuple[float, int]:
    total, tokens = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = pad_batch(examples[start : start + batch_size], model.tokenizer.pad_token_id, side="right")
        batch = {k: v.to(model.device) for k, v in batch.items()}
        with torch.no_grad():
            out = model.loss(batch)
        total += float(out.loss) * out.n_tokens
        tokens += out.n_tokens
    return total / max(tokens, 1), tokens


def image_reliance(model: VisionLanguageModel, task: Task, records: Sequence[Record], batch_size: int = 16,
                   precision: Precision = "auto") -> dict[str, float | int]:
    """Mean answer-token loss with the right images and with swapped ones, and the gap (nats per token)."""
    records = probe_records(records)
    if not records:
        raise ValueError("image reliance needs questions about at least two different images")
    paths = list(dict.fromkeys(r.image for r in records))
    feats = frozen_features_for(model, paths)
    row = {p: i for i, p in enumerate(paths)}
    swap = _other_image(paths)
    matched, swapped = [], []
    model.eval()
    for r in records:
        turns = [*image_prompt(task.question(r)), Turn("gpt", r.reference_answer)]
        example = model.encode(turns, record_id=r.id)
        matched.append({**example, "frozen_features": feats[row[r.image]]})
        swapped.append({**example, "frozen_features": feats[row[swap[r.image]]]})
    with resolve_precision(precision, model.device).autocast():
        loss_matched, tokens = _mean_answer_loss(model, matched, batch_size)
        loss_swapped, _ = _mean_answer_loss(model, swapped, batch_size)
    return {"questions": len(records), "answer_tokens": tokens, "loss_right_image": loss_matched,
            "loss_other_image": loss_swapped, "gap": loss_swapped - loss_matched}
