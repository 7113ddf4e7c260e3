"""The published two-stage recipes as named presets, every field overridable.

Global batch sizes are scaled down from the papers' (256/128 for LLaVA-1.5, 256/12 for MiniGPT-4) to
what a 2-core CPU trains in minutes; learning rates, schedules, weight decay and which parts train are
the published ones. Override any field from YAML (`--config`) or the CLI (`--set stage2.optim.lr=1e-4`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tunebench.core.config import STRICT, is_named_list, override
from tunebench.core.errors import UserError
from tunebench.models.config import LoraSpec, VLMConfig
from tunebench.train.loop import OptimConfig
from tunebench.train.loss_average import LossAverage

Part = Literal["connector", "llm", "lora"]


@dataclass
class StageConfig:
    __pydantic_config__ = STRICT
    name: str
    data: Literal["captions", "instructions"]
    train: list[Part]  # parts that train
    template: str = "chat"
    optim: OptimConfig = field(default_factory=OptimConfig)
    connector_lr: float | None = None  # own lr for the connector when the LLM trains too
    top_layers: int = 0  # the LLM's last this many decoder layers and its final norm train at top_layers_lr
    top_layers_lr: float | None = None
    lora: LoraSpec | None = None
    gradient_checkpointing: bool = False  # trade compute for memory on long sequences
    isolate_turns: bool = False  # each question of a multi-turn record sees the image and itself only
    loss_average: LossAverage = "token"  # the loss is the mean over tokens, answers, or between (train/loss_average.py)

    def __post_init__(self) -> None:
        top = self.top_layers > 0
        if top != (self.top_layers_lr is not None) or (top and "llm" not in self.train):
            raise UserError(f"top_layers and top_layers_lr go together, in a stage that trains 'llm' (got "
                            f"{self.top_layers}, {self.top_layers_lr}, {self.train})", where=f"{self.name}.top_layers")


@dataclass
class Recipe:
    __pydantic_config__ = STRICT
    name: str
    model: VLMConfig
    stages: list[StageConfig]
    pretrain_qformer: bool = False
    qformer_optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        lr=1e-4, weight_decay=0.05, warmup_ratio=0.05, epochs=3, batch_size=32))
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _llava_stage1() -> StageConfig:
    return StageConfig("stage1", "captions", ["connector"], template="plain",
                       optim=OptimConfig(lr=1e-3, weight_decay=0.0, warmup_ratio=0.03, batch_size=16, epochs=1.0))


def _llava(lora: bool) -> Recipe:
    if lora:
        stage2 = StageConfig("stage2", "instructions", ["connector", "lora"], connector_lr=2e-5,
                             lora=LoraSpec(r=128, alpha=256, dropout=0.05),
                             optim=OptimConfig(lr=2e-4, weight_decay=0.0, warmup_ratio=0.03, batch_size=16))
    else:
        stage2 = StageConfig("stage2", "instructions", ["connector", "llm"],
                             optim=OptimConfig(lr=2e-5, weight_decay=0.0, warmup_ratio=0.03, batch_size=16))
    return Recipe("llava-1.5-lora" if lora else "llava-1.5", VLMConfig(arch="llava"), [_llava_stage1(), stage2],
                  note="global batch 16 (published: 256 stage 1, 128 stage 2); lr, schedule and parts as published")


def _minigpt4() -> Recipe:
    stage1 = StageConfig("stage1", "captions", ["connector"], template="plain",
                         optim=OptimConfig(lr=1e-4, weight_decay=0.05, warmup_ratio=0.03, min_lr_ratio=0.8,
                                           batch_size=16))
    stage2 = StageConfig("stage2", "instructions", ["connector"],
                         optim=OptimConfig(lr=3e-5, weight_decay=0.05, warmup_ratio=0.03, min_lr_ratio=1 / 3,
                                           batch_size=16))
    return Recipe("minigpt4", VLMConfig(arch="minigpt4"), [stage1, stage2], pretrain_qformer=True,
                  note="global batch 16 (published: 256 stage 1, 12 stage 2); only the linear layer trains")


RECIPES = {"llava-1.5": lambda: _llava(False), "llava-1.5-lora": lambda: _llava(True), "minigpt4": _minigpt4}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UserError(f"unknown recipe '{name}' (choose: {', '.join(RECIPES)})")
    return RECIPES[name]()


def inherit_from_run(recipe: Recipe, ran: dict[str, Any], where: str = "") -> Recipe:
    """`recipe` with the model and the stage that a finished run trained replaced by the settings it ran with
    (`ran`: the run's train summary), so that fine-tuning a run goes on at the rates that trained it rather than
    the published preset's. The seed and the precision stay the caller's; a stage the recipe lacks is ignored."""
    stage = dict(ran.get("stage") or {})
    name = stage.pop("name", None)
    if name not in [s.name for s in recipe.stages]:
        return recipe
    if ran["model"]["arch"] != recipe.model.arch:
        raise UserError(f"the run was trained as design {ran['model']['arch']}, the recipe {recipe.name} is "
                        f"{recipe.model.arch}: give the run's recipe ({ran.get('recipe', '?')})",
                        where=where.rstrip(": "))
    stage["optim"] = {k: v for k, v in stage.get("optim", {}).items() if k not in ("seed", "precision")}
    return override(recipe, {"model": ran["model"], name: stage}, where=where)


def _flat_fields(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> value for every leaf of a recipe as a dict; stages keyed by their name."""
    if is_named_list(node):
        return {k: v for item in node for k, v in _flat_fields(item, f"{prefix}{item['name']}.").items()}
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in _flat_fields(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: node}


def recipe_changes(published: Recipe, as_run: Recipe | dict[str, Any]) -> list[dict[str, Any]]:
    """Every setting in which `as_run` (a recipe, or one as a results file records it) differs from the
    `published` preset: [{field, published, as_run}]."""
    before, after = asdict(published), as_run if isinstance(as_run, dict) else asdict(as_run)
    unused = ("name", "note") if before["pretrain_qformer"] or after["pretrain_qformer"] else (
        "name", "note", "qformer_optim.", "model.qformer.", "model.train_qformer")  # no Q-Former in this design

    def relevant(recipe: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in _flat_fields(recipe).items() if not k.startswith(unused)}

    before, after = relevant(before), relevant(after)
    return [{"field": key, "published": before.get(key), "as_run": after.get(key)}
            for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)]
