"""LoRA fine-tuning through the shared trainer, on conversations built from the task's own data.

Knowledge task: the corpus passages ("Tell me about X" -> passage, knowledge injection), the train
questions with their short answers (closed book), and the same questions with retrieved passages in
the RAG prompt (so fine-tuned + RAG has learnt to read passages). Format task: train messages -> gold
JSON. Labels come from `encode_chat`, which supervises only the answer tokens and refuses a template
that would leave nothing supervised.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch

from tunebench.core.device import Precision
from tunebench.data.records import Turn
from tunebench.models.batching import pad_batch, pad_id_of
from tunebench.models.prompting import IGNORE_INDEX, encode_chat
from tunebench.strategies import prompts
from tunebench.strategies.chunking import Chunk
from tunebench.strategies.config import FineTuneConfig
from tunebench.strategies.extraction import FormatItem
from tunebench.strategies.tasks import QAItem
from tunebench.train.loop import OptimConfig, TrainResult, train


def passage_conversations(chunks: Sequence[Chunk]) -> list[list[Turn]]:
    return [[Turn("human", f"Tell me about {c.title}."), Turn("gpt", c.text)] for c in chunks]


def qa_conversations(items: Sequence[QAItem]) -> list[list[Turn]]:
    return [[*prompts.qa_zero_shot(q.question), Turn("gpt", q.answers[0])] for q in items]


def rag_conversations(items: Sequence[QAItem], found: Sequence[Sequence[Chunk]]) -> list[list[Turn]]:
    return [[*prompts.qa_rag(q.question, chunks), Turn("gpt", q.answers[0])]
            for q, chunks in zip(items, found, strict=True)]


def format_conversations(items: Sequence[FormatItem]) -> list[list[Turn]]:
    return [[*prompts.fmt_zero_shot(x.text), Turn("gpt", x.gold_json)] for x in items]


def encode_examples(tokenizer, conversations: Sequence[list[Turn]], max_length: int) -> list[dict]:
    """Token ids + labels; an example whose answer was cut away entirely by `max_length` is dropped."""
    examples = []
    for i, turns in enumerate(conversations):
        ids, labels = encode_chat(tokenizer, turns, max_length=max_length, record_id=str(i))
        if any(label != IGNORE_INDEX for label in labels[1:]):
            examples.append({"input_ids": ids, "labels": labels})
    return examples


def add_lora(model, cfg: FineTuneConfig):
    """Wrap the model with fresh LoRA adapters (fp32 adapter weights even on a bf16 base)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                        target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, config, autocast_adapter_dtype=True)


def lm_loss(model, batch: dict) -> tuple[torch.Tensor, int]:
    """Mean next-token loss over the supervised tokens, and how many there were."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                position_ids=batch["position_ids"], labels=batch["labels"])
    return out.loss, int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


def train_adapter(peft_model, tokenizer, examples: list[dict], cfg: FineTuneConfig, epochs: float, seed: int,
                  run_dir: Path | None, label: str, precision: Precision = "auto") -> TrainResult:
    """Train the adapter's parameters only; the model is left in eval mode for generation."""
    if not examples:
        raise ValueError(f"{label}: no training examples")
    optim = OptimConfig(lr=cfg.lr, epochs=epochs, max_steps=cfg.max_steps, batch_size=cfg.batch_size,
                        warmup_ratio=0.05, seed=seed, precision=precision, log_every=5)
    return train_causal_lm(peft_model, tokenizer, examples, optim, run_dir, label)


def train_causal_lm(model, tokenizer, examples: list[dict], optim: OptimConfig, run_dir: Path | None, label: str,
                    resume: bool = False) -> TrainResult:
    """Train the model's trainable parameters on encoded chat examples (next-token loss on the answers);
    the model is left in eval mode for generation."""
    params = [p for p in model.parameters() if p.requires_grad]
    collate = partial(pad_batch, pad_id=pad_id_of(tokenizer), side="right")
    result = train(model, [{"params": params}], examples, collate, lm_loss, optim, run_dir=run_dir, resume=resume,
                   lengths=[len(e["input_ids"]) for e in examples], label=label)
    model.eval()
    return result
