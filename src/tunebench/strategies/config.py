"""Settings of a strategies run: sizes of the generated tasks, which strategies run where, and their knobs.

Profiles are plain dictionaries merged under the user's YAML, so a user file only names what it changes.
`smoke` proves every code path on the real parts in a minute or two; `default` is sized to finish within
20 minutes on a 2-core CPU with SmolLM2-135M (sizes measured, not guessed: see docs/strategies.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tunebench.core.config import STRICT, build, merge, read_yaml
from tunebench.core.device import Precision
from tunebench.core.errors import UserError

Strategy = Literal["zero_shot", "few_shot", "cot", "structured", "rag", "finetune", "finetune_rag"]
STRATEGIES: tuple[str, ...] = ("zero_shot", "few_shot", "cot", "structured", "rag", "finetune", "finetune_rag")
SCHEMA = "tunebench.strategies/v1"  # the results.json this version writes, as `advise` expects it


@dataclass
class WorldConfig:
    """The fictional world behind the knowledge and freshness tasks."""

    __pydantic_config__ = STRICT
    towns: int = 8
    companies: int = 10
    people: int = 16
    products: int = 10
    changed_facts: int = 20  # facts that change after the strategies are built (freshness task)


@dataclass
class TaskSizes:
    __pydantic_config__ = STRICT
    knowledge_test: int = 60
    knowledge_train: int = 60
    format_test: int = 40
    format_train: int = 40


@dataclass
class RetrievalConfig:
    __pydantic_config__ = STRICT
    chunk_words: int = 70
    overlap_words: int = 15
    top_k: int = 2
    rrf_k: int = 60
    mode: Literal["dense", "bm25", "hybrid"] = "hybrid"
    recall_ks: list[int] = field(default_factory=lambda: [1, 2, 5])


@dataclass
class GenerationConfig:
    __pydantic_config__ = STRICT
    batch_size: int = 16
    short_tokens: int = 16  # short-answer strategies
    cot_tokens: int = 96
    json_tokens: int = 72  # the booking object
    answer_json_tokens: int = 32  # {"answer": ...}
    value_tokens: int = 16  # one field value in constrained decoding
    latency_probe: int = 3  # queries answered one at a time per strategy, for single-request latency


@dataclass
class FineTuneConfig:
    __pydantic_config__ = STRICT
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    lr: float = 1e-3
    epochs: float = 2.0
    update_epochs: float = 2.0  # continued training on the changed documents (freshness update)
    format_epochs: float = 1.0
    batch_size: int = 8
    max_length: int = 256
    max_steps: int | None = None
    train_on_documents: bool = True  # knowledge injection: also learn the corpus passages


@dataclass
class StrategiesConfig:
    __pydantic_config__ = STRICT
    seed: int = 0
    # CPU threads for torch; 0 keeps torch's choice. One, because on a shared 2-core VM each operator would
    # wait for a descheduled sibling thread (docs/decisions.md).
    threads: int = 1
    # The LLM's weights and its fine-tunes: auto = bf16 where the hardware computes it natively, else fp32.
    precision: Precision = "auto"
    llm: str = "smollm2-135m-instruct"
    embedder: str = "all-minilm-l6-v2"
    world: WorldConfig = field(default_factory=WorldConfig)
    sizes: TaskSizes = field(default_factory=TaskSizes)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    finetune: FineTuneConfig = field(default_factory=FineTuneConfig)
    few_shot_k: int = 3
    # Worked examples in the RAG prompt: the few-shot examples, each with its own retrieved passages, so that
    # rag - few_shot measures retrieval alone (fine-tuned + RAG uses none: it has learnt the answer form).
    rag_demos: int = 3
    # structured output: "constrained" = schema-guided decoding (keys and layout written for the model);
    # "retry" = free generation, strict validation, re-ask with the error up to `structured_retries` times.
    structured_mode: Literal["constrained", "retry"] = "constrained"
    structured_retries: int = 2
    bootstrap_resamples: int = 1000
    knowledge_strategies: list[Strategy] = field(default_factory=lambda: list(STRATEGIES))
    format_strategies: list[Strategy] = field(
        default_factory=lambda: ["zero_shot", "few_shot", "cot", "structured", "finetune"]
    )
    freshness_strategies: list[Strategy] = field(
        default_factory=lambda: ["zero_shot", "rag", "finetune", "finetune_rag"]
    )


PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "smoke": {
        "world": {"towns": 4, "companies": 4, "people": 6, "products": 4, "changed_facts": 4},
        "sizes": {"knowledge_test": 6, "knowledge_train": 12, "format_test": 4, "format_train": 6},
        "generation": {"batch_size": 8, "cot_tokens": 48, "json_tokens": 64, "latency_probe": 1},
        "finetune": {"epochs": 1.0, "update_epochs": 1.0, "format_epochs": 1.0, "max_steps": 4},
        "bootstrap_resamples": 200,
    },
}


def load_config(profile: str = "default", path: str | Path | None = None, **overrides: Any) -> StrategiesConfig:
    """Profile, then the YAML file, then keyword overrides (CLI flags) on top."""
    if profile not in PROFILES:
        raise UserError(f"unknown profile '{profile}' (choose {', '.join(PROFILES)})")
    data = dict(PROFILES[profile])
    if path is not None:
        data = merge(data, read_yaml(path))
    data = merge(data, {k: v for k, v in overrides.items() if v is not None})
    return build(StrategiesConfig, data, where=f"{path}: " if path else "")
