"""The published two-stage recipes as named presets (REFERENCE.md), every field overridable.

Global batch sizes are scaled down from the papers' (256/128 for LLaVA-1.5, 256/12 for MiniGPT-4) to
what a 2-core CPU trains in minutes; learning rates, schedules, weight decay and which parts train are
the published ones. Override any field from YAML (`--config`) or the CLI (`--set stage2.optim.lr=1e-4`).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Literal

from tunebench.core.errors import UserError
from tunebench.models.config import LoraConfig, VLMConfig
from tunebench.train.loop import OptimConfig

Part = Literal["connector", "llm", "lora"]


@dataclass
class StageConfig:
    name: str
    data: Literal["captions", "instructions"]
    train: list[str]  # parts that train: connector, llm, lora
    template: str = "chat"
    optim: OptimConfig = field(default_factory=OptimConfig)
    connector_lr: float | None = None  # own lr for the connector when the LLM trains too
    lora: LoraConfig | None = None
    gradient_checkpointing: bool = False  # trade compute for memory on long sequences


@dataclass
class Recipe:
    name: str
    model: VLMConfig
    stages: list[StageConfig]
    pretrain_qformer: bool = False
    qformer_optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        lr=1e-4, weight_decay=0.05, warmup_ratio=0.05, epochs=3, batch_size=32, bf16=True))
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _llava_stage1() -> StageConfig:
    return StageConfig("stage1", "captions", ["connector"], template="plain",
                       optim=OptimConfig(lr=1e-3, weight_decay=0.0, warmup_ratio=0.03, batch_size=16, epochs=1.0))


def _llava(lora: bool) -> Recipe:
    if lora:
        stage2 = StageConfig("stage2", "instructions", ["connector", "lora"], connector_lr=2e-5,
                             lora=LoraConfig(r=128, alpha=256, dropout=0.05),
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


def _flat_fields(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> value for every leaf of a recipe as a dict; stages keyed by their name."""
    if isinstance(node, list) and all(isinstance(item, dict) and "name" in item for item in node) and node:
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


def apply_overrides(obj: Any, overrides: dict[str, Any], where: str = "") -> Any:
    """Return a copy of a (nested) dataclass with fields replaced; unknown keys are a user error.

    Keys may be nested dicts or dotted paths; stages are addressed by name (`stage2.optim.lr`).
    """
    obj = copy.deepcopy(obj)
    for key, value in _nest(overrides).items():
        path = f"{where}{key}"
        if isinstance(obj, list):  # list of stages, addressed by name
            match = [s for s in obj if getattr(s, "name", None) == key]
            if not match:
                raise UserError(f"no stage named '{key}'", where=path)
            obj[obj.index(match[0])] = apply_overrides(match[0], value, f"{path}.")
            continue
        stage_names = [s.name for s in getattr(obj, "stages", [])]
        if key in stage_names and isinstance(value, dict):  # `stage2.optim.lr` at the recipe's top level
            obj.stages = apply_overrides(obj.stages, {key: value}, where)
            continue
        if not is_dataclass(obj) or key not in {f.name for f in fields(obj)}:
            raise UserError("unknown config field", where=path)
        current = getattr(obj, key)
        if isinstance(value, dict) and current is not None and (is_dataclass(current) or isinstance(current, list)):
            setattr(obj, key, apply_overrides(current, value, f"{path}."))
        elif isinstance(value, dict) and current is None and key == "lora":
            setattr(obj, key, apply_overrides(LoraConfig(), value, f"{path}."))
        elif _is_null(value) and "None" in str(next(f.type for f in fields(obj) if f.name == key)):
            setattr(obj, key, None)  # `--set qformer.init_from=none` on an optional field
        else:
            setattr(obj, key, _coerce(value, current, path))
    return obj


def _is_null(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in {"none", "null"}


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys -> nested dicts, merged deeply (`a.b.x` and `a.b.y` both survive)."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        part = _nest({rest: value}) if rest else value
        nested[head] = _merge(nested[head], part) if isinstance(nested.get(head), dict) else part
    return nested


def _merge(base: dict[str, Any], extra: Any) -> Any:
    if not isinstance(extra, dict):
        return extra
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(out.get(key), dict) else value
    return out


def _coerce(value: Any, current: Any, where: str) -> Any:
    """CLI values arrive as strings: convert to the type of the field they replace."""
    if isinstance(value, str) and current is None:
        return _parse_scalar(value)
    if not isinstance(value, str) or isinstance(current, str):
        return value
    if isinstance(current, list):  # `--set stage2.train=connector,llm`
        return [item.strip() for item in value.split(",") if item.strip()]
    try:
        if isinstance(current, bool):
            if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(value)
            return value.lower() in {"true", "1", "yes"}
        return type(current)(value)
    except (TypeError, ValueError) as exc:
        raise UserError(f"cannot read {value!r} as {type(current).__name__}", where=where) from exc


def _parse_scalar(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None if _is_null(text) else text


def parse_sets(items: list[str]) -> dict[str, str]:
    """`--set a.b=c` pairs -> {"a.b": "c"}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out
