"""Fast, batch-invariant inference: each image's features once, each image's prompt prefix (system prompt,
image tokens) prefilled once and shared by all its questions, batched greedy generation with a KV cache
over left-padded question tokens, and one-pass log-likelihood ranking of closed answer sets.

Batch invariance: a sample's prediction never depends on the batch it ran in. Image features are computed
in fixed chunks independent of the batch size; the prefixes of a batch have one length (no padding); the
question tokens after them are left-padded (padding sits between prefix and question) with position ids
taken from the attention mask, so padding changes neither positions nor attended tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tunebench.core.device import Precision, resolve_precision
from tunebench.data.records import Record, Turn
from tunebench.evaluation.tasks import Task
from tunebench.models.batching import pad_batch
from tunebench.models.features import frozen_features_for
from tunebench.models.prefix import PrefixKV, prefix_length
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


def prompt_turns(task: Task, record: Record) -> list[Turn]:
    """LLaVA's evaluation layout: the image placeholder first, then the question with the task's suffix."""
    return image_turns(task.question(record)) if record.image else [Turn("human", task.question(record))]


@dataclass
class Prompt:
    """One question's prompt, split where its image's tokens end."""

    index: int
    prefix: list[int]  # up to the image's last token: shared by every question on the image (empty: none)
    suffix: list[int]  # the rest, prefilled per question
    image: str | None  # what identifies the image (a path, a content hash)
    feat: torch.Tensor | None
    name: str = ""  # named in error messages (a record id)

    @property
    def key(self) -> tuple:
        return (self.image, tuple(self.prefix))


def split_prompt(model: VisionLanguageModel, index: int, ids: list[int], image: str | None,
                 feat: torch.Tensor | None, name: str = "") -> Prompt:
    """A prompt's token ids, cut after the image's last token."""
    cut = prefix_length(ids, model.image_token_id)
    cut = cut if cut < len(ids) else 0  # a prompt ending on its image has nothing to share
    return Prompt(index, ids[:cut], ids[cut:], image, feat, name)


def build_prompts(model: VisionLanguageModel, task: Task, records: Sequence[Record],
                  feats: dict[str, torch.Tensor] | None = None) -> list[Prompt]:
    """Each record's prompt, split where its image's tokens end; `feats` maps an image to its features."""
    prompts = []
    for i, r in enumerate(records):
        ids = model.encode(prompt_turns(task, r), record_id=r.id, for_generation=True)["input_ids"]
        feat = feats[r.image] if feats is not None and r.image else None
        prompts.append(split_prompt(model, i, ids, r.image, feat, r.id))
    return prompts


def prompt_batches(prompts: list[Prompt], batch_size: int) -> Iterator[list[Prompt]]:
    """Questions of one image together, shorter ones first; a batch never mixes prefix lengths, nor prompts
    with and without an image."""
    first = {}
    for p in prompts:
        first.setdefault(p.key, len(first))

    def kind(p: Prompt) -> tuple[int, bool]:
        return len(p.prefix), p.image is None

    ordered = sorted(prompts, key=lambda p: (kind(p), first[p.key], len(p.suffix), p.index))
    batch: list[Prompt] = []
    for p in ordered:
        if batch and (len(batch) == batch_size or kind(p) != kind(batch[0])):
            yield batch
            batch = []
        batch.append(p)
    if batch:
        yield batch


Step = Callable[[dict, PrefixKV | None, list[Prompt]], list[Any]]


def run_batches(model: VisionLanguageModel, prompts: list[Prompt], batch_size: int, step: Step
                ) -> Iterator[tuple[Prompt, Any]]:
    """Yield (prompt, output) for every prompt; `step(inputs, prefix, batch)` gives one output per batch row.

    Each image's prefix is prefilled once (the batch's new ones together), shared by all its prompts and
    dropped after the last; `inputs` holds the left-padded suffixes (whole prompts where there is no prefix).
    """
    remaining = Counter(p.key for p in prompts if p.prefix)
    shared: dict[tuple, PrefixKV] = {}
    model.eval()
    for batch in prompt_batches(prompts, batch_size):
        prefix = None
        if batch[0].prefix:
            new = list({p.key: p for p in batch if p.key not in shared}.values())  # one per image
            if new:
                feats_new = torch.stack([p.feat for p in new]) if new[0].feat is not None else None
                shared.update(zip([p.key for p in new], model.prefix_kv([p.prefix for p in new], feats_new),
                                  strict=True))
            prefix = PrefixKV.stack([shared[p.key] for p in batch])
            examples = [{"input_ids": p.suffix} for p in batch]
        else:
            examples = [{"input_ids": p.suffix, "frozen_features": p.feat} for p in batch]
        inputs = pad_batch(examples, model.tokenizer.pad_token_id, side="left")
        inputs["ids"] = [p.name for p in batch]
        inputs = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        for p, output in zip(batch, step(inputs, prefix, batch), strict=True):
            yield p, output
            if p.prefix:
                remaining[p.key] -= 1
                if not remaining[p.key]:
                    del shared[p.key]  # its last prompt is done


def predict(model: VisionLanguageModel, task: Task, records: Sequence[Record], batch_size: int = 16,
            scoring: str = "generate", precision: Precision = "auto") -> Iterator[Prediction]:
    """Yield a prediction per record, grouped by image (results depend on neither the order nor the batch), computed
    in the precision the package's policy resolves `precision` to on the model's device."""
    if scoring == "likelihood" and not task.candidates:
        from tunebench.core.errors import UserError

        raise UserError(f"task {task.name} has no closed answer set; use --scoring generate")
    paths = list(dict.fromkeys(r.image for r in records if r.image))
    prompts = build_prompts(model, task, records, dict(zip(paths, frozen_features_for(model, paths), strict=True))
                            if paths else None)
    candidates = [answer_ids(model, c) for c in task.candidates] if scoring == "likelihood" else None

    def step(inputs: dict, prefix: PrefixKV | None, batch: list[Prompt]) -> list[str]:
        if candidates is not None:
            best = model.score_candidates(inputs, candidates, prefix).argmax(dim=1).tolist()
            return [task.candidates[b] for b in best]
        return [model.decode_answer(ids) for ids in model.generate(inputs, task.max_new_tokens, prefix)]

    with resolve_precision(precision, model.device).autocast():
        for p, raw in run_batches(model, prompts, batch_size, step):
            yield Prediction(records[p.index], task.question(records[p.index]), raw)
