"""Greedy, batched generation with left padding, timed per batch; prompts go through the chat template.

Prompts are encoded with the same function the fine-tuning data uses (`encode_prompt`), so a fine-tuned
model sees at test time exactly the tokens it was trained on. Batches are formed from prompts of
similar length (less padding); results come back in the caller's order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from tunebench.data.records import Turn
from tunebench.models.batching import pad_id_of
from tunebench.models.prompting import encode_prompt


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    batch_ms: float  # wall time of the whole batch this prompt ran in
    batch_size: int

    @property
    def amortised_ms(self) -> float:
        """This prompt's share of its batch: the cost per query when serving in batches."""
        return self.batch_ms / self.batch_size


class Generator:
    """A causal LM + tokenizer that answers chat prompts greedily, in batches."""

    def __init__(self, model, tokenizer, batch_size: int = 16):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.pad_id = pad_id_of(tokenizer)

    def encode(self, turns: Sequence[Turn], prefix: str = "") -> list[int]:
        """Prompt ids for a conversation ending with a human turn; `prefix` starts the answer (e.g. "{")."""
        ids = encode_prompt(self.tokenizer, list(turns))
        if prefix:
            ids = ids + self.tokenizer(prefix, add_special_tokens=False)["input_ids"]
        return ids

    def _left_pad(self, batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, int]:
        width = max(len(ids) for ids in batch)
        input_ids = torch.tensor([[self.pad_id] * (width - len(ids)) + ids for ids in batch])
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
        return input_ids, mask, width

    def _run(self, batch: list[list[int]], max_new_tokens: int) -> tuple[list[str], list[int], float]:
        input_ids, mask, width = self._left_pad(batch)
        start = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                max_new_tokens=max_new_tokens, do_sample=False, temperature=None, top_p=None, top_k=None,
                pad_token_id=self.pad_id, eos_token_id=self.tokenizer.eos_token_id,
            )
        elapsed_ms = 1000 * (time.perf_counter() - start)
        new = out[:, width:].cpu()
        texts, counts = [], []
        for row in new:
            tokens = row.tolist()
            if self.tokenizer.eos_token_id in tokens:
                tokens = tokens[: tokens.index(self.tokenizer.eos_token_id)]
            counts.append(len(tokens))
            texts.append(self.tokenizer.decode(tokens, skip_special_tokens=True))
        return texts, counts, elapsed_ms

    def generate(self, prompts: Sequence[list[int]], max_new_tokens: int, batch_size: int | None = None,
                 prefix: str = "") -> list[Generation]:
        """Answers for already-encoded prompts; `prefix` (already in the ids) is put back in front of the text."""
        size = batch_size or self.batch_size
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        for start in range(0, len(order), size):
            members = order[start : start + size]
            texts, counts, ms = self._run([list(prompts[i]) for i in members], max_new_tokens)
            for i, text, count in zip(members, texts, counts, strict=True):
                results[i] = Generation(prefix + text, len(prompts[i]), count, ms, len(members))
        return results  # type: ignore[return-value]

    def choose(self, prompts: Sequence[list[int]], options: Sequence[str],
               batch_size: int | None = None) -> tuple[list[str], list[float]]:
        """For each prompt, the option whose first token the model scores highest next (a constrained
        choice), and each prompt's share of its batch time in milliseconds."""
        first = [self.tokenizer(o, add_special_tokens=False)["input_ids"][0] for o in options]
        size = batch_size or self.batch_size
        picks: list[str] = []
        shares: list[float] = []
        for start in range(0, len(prompts), size):
            batch = [list(p) for p in prompts[start : start + size]]
            input_ids, mask, _ = self._left_pad(batch)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            device = self.model.device
            t0 = time.perf_counter()
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                                    position_ids=positions.to(device)).logits[:, -1, first]
            elapsed = 1000 * (time.perf_counter() - t0)
            picks += [options[int(i)] for i in logits.float().argmax(-1).cpu()]
            shares += [elapsed / len(batch)] * len(batch)
        return picks, shares

    def warm_up(self) -> None:
        """One tiny batched and one single generation, so that one-time kernel set-up is not timed later."""
        ids = self.tokenizer("Hello", add_special_tokens=False)["input_ids"]
        self.generate([ids, ids + ids], 2, batch_size=2)
        self.generate([ids], 2, batch_size=1)

    def answer(self, conversations: Sequence[Sequence[Turn]], max_new_tokens: int, prefix: str = "",
               batch_size: int | None = None) -> list[Generation]:
        prompts = [self.encode(turns, prefix) for turns in conversations]
        return self.generate(prompts, max_new_tokens, batch_size, prefix)

    def pick(self, conversations: Sequence[Sequence[Turn]], options: Sequence[str],
             batch_size: int | None = None) -> list[str]:
        """`choose` for conversations: the option each answer most likely starts with."""
        return self.choose([self.encode(turns) for turns in conversations], options, batch_size)[0]
