"""Fast, batch-invariant inference: each image's features once, batched greedy generation with a KV cache
over left-padded prompts, and one-pass log-likelihood ranking of closed answer sets.

Batch invariance: a sample's prediction never depends on the batch it ran in. Image features are computed
in fixed chunks independent of the batch size; prompts are left-padded with position ids taken from the
attention mask, so padding changes neither positions nor attended tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from tunebench.data.records import Record, Turn
from tunebench.evaluation.tasks import Task
from tunebench.models.batching import pad_batch
from tunebench.models.features import stems_for
from tunebench.models.prompting import IGNORE_INDEX
from tunebench.models.prompting import image_prompt as image_turns
from tunebench.models.vlm import VisionLanguageModel


@dataclass
class Prediction:
    record: Record
    prompt: str
    raw: str


def answer_ids(model: VisionLanguageModel, answer: str) -> list[int]:
    """The tokens the model emits for `answer` under its template (what training supervised), minus EOS."""
    ids, labels = model.encode_chat_pair("x", answer)
    supervised = [t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX]
    if supervised and supervised[-1] == model.tokenizer.eos_token_id:
        supervised = supervised[:-1]
    return supervised


def _prompt_turns(task: Task, record: Record) -> list[Turn]:
    return image_turns(task.question(record)) if record.image else [Turn("human", task.question(record))]


def predict(model: VisionLanguageModel, task: Task, records: Sequence[Record], batch_size: int = 16,
            scoring: str = "generate") -> Iterator[Prediction]:
    """Yield a prediction per record, in order of increasing prompt length (results do not depend on it)."""
    paths = list(dict.fromkeys(r.image for r in records if r.image))
    stems = stems_for(model, paths) if paths else None
    row = {p: i for i, p in enumerate(paths)}
    encoded = []
    for r in records:
        ex = model.encode(_prompt_turns(task, r), record_id=r.id, for_generation=True)
        ex["stem"] = stems[row[r.image]] if r.image else None
        encoded.append(ex)
    order = sorted(range(len(records)), key=lambda i: (len(encoded[i]["input_ids"]), i))
    candidates = [answer_ids(model, c) for c in task.candidates] if scoring == "likelihood" else None
    if scoring == "likelihood" and not task.candidates:
        from tunebench.core.errors import UserError

        raise UserError(f"task {task.name} has no closed answer set; use --scoring generate")
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = pad_batch([encoded[i] for i in idx], model.tokenizer.pad_token_id, side="left")
        batch["ids"] = [records[i].id for i in idx]
        batch = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        if candidates is not None:
            best = model.score_candidates(batch, candidates).argmax(dim=1).tolist()
            outputs = [task.candidates[b] for b in best]
        else:
            new = model.generate(batch, max_new_tokens=task.max_new_tokens)
            outputs = [model.decode_answer(ids) for ids in new]
        for i, raw in zip(idx, outputs, strict=True):
            yield Prediction(records[i], task.question(records[i]), raw)
