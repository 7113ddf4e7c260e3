"""One training stage of a recipe: build or load the model, choose what trains, train, save the run."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import torch

from tunebench.components import load_llm
from tunebench.core.device import resolve_precision
from tunebench.core.errors import UserError
from tunebench.core.io import atomic_write_json, create_json, read_json, sha256_file, sha256_json
from tunebench.core.provenance import environment
from tunebench.data.records import Record, records_hash
from tunebench.models.batching import pad_batch
from tunebench.models.build import apply_lora, build_vlm
from tunebench.models.checkpoint import CONFIG, load_run, save_run
from tunebench.models.features import frozen_features_for
from tunebench.models.prompting import apply_template
from tunebench.models.vlm import VisionLanguageModel
from tunebench.train.checkpointing import remove_checkpoints
from tunebench.train.loop import OptimConfig, StepHook, train
from tunebench.train.loss_average import with_answer_weights
from tunebench.train.recipes import Recipe, StageConfig

SUMMARY = "train_summary.json"
log = logging.getLogger(__name__)


def prepare_model(recipe: Recipe, stage: StageConfig, tower, init: Path | None, qformer_run: Path | None,
                  seed: int) -> VisionLanguageModel:
    """Stage 1 builds the model fresh (with the pretrained Q-Former for MiniGPT-4); later stages load the
    previous stage's run. The LLM is always loaded fresh: runs never share mutable weights."""
    llm = load_llm(recipe.model.llm, allow_pickle=recipe.model.allow_pickle)
    if init is not None:
        model = load_run(init, tower=tower, loaded_llm=llm)
    else:
        model = build_vlm(recipe.model, tower=tower, loaded_llm=llm, seed=seed)
        if qformer_run is not None:
            model.connector.load_pretrained(qformer_run)
    apply_template(model.tokenizer, stage.template)
    model.cfg.template = stage.template
    return model


def select_trainable(model: VisionLanguageModel, stage: StageConfig) -> list[dict]:
    """Freeze everything, then unfreeze the stage's parts; returns optimizer parameter groups."""
    unknown = set(stage.train) - {"connector", "llm", "lora"}
    if unknown:
        raise UserError(f"unknown trainable part(s) {sorted(unknown)} (connector, llm, lora)", where=stage.name)
    model.requires_grad_(False)
    groups = []
    if "connector" in stage.train:
        params = model.connector.trainable_parameters()
        for p in params:
            p.requires_grad_(True)
        groups.append({"params": params, "lr": stage.connector_lr or stage.optim.lr})
    if "llm" in stage.train:
        model.llm.requires_grad_(True)
        top = top_layer_parameters(model.llm, stage)
        on_top = {id(p) for p in top}
        groups.append({"params": [p for p in model.llm.parameters() if id(p) not in on_top], "lr": stage.optim.lr})
        if top:
            groups.append({"params": top, "lr": stage.top_layers_lr})
    if "lora" in stage.train:
        if stage.lora is None:
            raise UserError("a stage that trains 'lora' needs a lora config (r, alpha, dropout)", where=stage.name)
        apply_lora(model, stage.lora)
        groups.append({"params": [p for p in model.llm.parameters() if p.requires_grad], "lr": stage.optim.lr})
    return groups


def top_layer_parameters(llm: torch.nn.Module, stage: StageConfig) -> list[torch.nn.Parameter]:
    """The parameters of the LLM's last `stage.top_layers` decoder layers and final norm: the read-out that turns
    what the LLM computed into the next token, given its own rate (empty when the stage sets none)."""
    if stage.top_layers == 0:
        return []
    layers = llm.get_decoder().layers
    if stage.top_layers > len(layers):
        raise UserError(f"the LLM has {len(layers)} decoder layers, not {stage.top_layers}",
                        where=f"{stage.name}.top_layers")
    return [p for m in [*layers[-stage.top_layers:], llm.get_decoder().norm] for p in m.parameters()]


def supervised_loss(model: VisionLanguageModel, batch: dict) -> tuple[torch.Tensor, float]:
    """(mean loss over the batch's answer tokens, what it is the mean over: their count or total weight), through
    `forward` so that a DDP or FSDP wrapper of the model sees the call."""
    return model(batch)


def build_examples(model: VisionLanguageModel, records: list[Record], isolate_turns: bool = False) -> list[dict]:
    """Token ids, labels and the cached frozen image input of every record (with `isolate_turns`, the record's
    question-answer pairs see the image and themselves only)."""
    paths = list(dict.fromkeys(r.image for r in records if r.image))
    feats = frozen_features_for(model, paths) if paths else None
    row = {p: i for i, p in enumerate(paths)}
    examples = []
    for r in records:
        ex = model.encode(r.turns, record_id=r.id, isolate_turns=isolate_turns)
        ex["frozen_features"] = feats[row[r.image]] if r.image else None
        examples.append(ex)
    kept = [ex for ex in examples if any(label != -100 for label in ex["labels"][1:])]
    if not kept:
        raise UserError("no answer token is supervised in the whole data set: the chat template and the label "
                        "masking disagree, or every answer is empty or truncated; training would learn nothing")
    if len(kept) < len(examples):  # a step made only of such records would have nothing to average over
        log.warning("dropped %d of %d records whose answers max_length %d cuts off entirely", len(examples) - len(kept),
                    len(examples), model.cfg.max_length)
    return kept


def training_flops(model: VisionLanguageModel, tokens_seen: int, llm_trains: bool) -> float:
    """Rough training FLOPs: 2*P per token forward; backward ~2x forward when the LLM's weights train,
    ~1x when only input gradients flow through a frozen LLM."""
    llm_params = sum(p.numel() for p in model.llm.parameters()) - model.llm.get_input_embeddings().weight.numel()
    connector_params = sum(p.numel() for p in model.connector.parameters())
    backward = 2.0 if llm_trains else 1.0
    return 2.0 * (llm_params + connector_params) * tokens_seen * (1 + backward)


RUN_KEY = "run_key.json"
KEY_FORMAT = 3  # 3: the precision used; 2: keyed on content (records, image bytes, starting runs); 1: on paths
BOOKKEEPING = ("checkpoint_every", "log_every")  # optimizer fields that never change a run's result


def optim_spec(optim: OptimConfig | dict) -> dict:
    """The optimizer settings that decide a result (bookkeeping left out), with the precision this machine
    resolves them to: a bf16 run is never resumed or reused as an fp32 one."""
    spec = asdict(optim) if isinstance(optim, OptimConfig) else dict(optim)
    for knob in BOOKKEEPING:
        spec.pop(knob, None)
    spec["precision"] = resolve_precision(spec.get("precision", "auto")).used
    return spec


def stage_spec(stage: StageConfig | dict) -> dict:
    """The stage's settings that decide its result (bookkeeping left out), for run keys; `stage` may also be
    a stage as recorded in a results file."""
    spec = asdict(stage) if isinstance(stage, StageConfig) else dict(stage)
    return {**spec, "optim": optim_spec(spec["optim"])}


def claim_run_dir(out: Path, spec: dict) -> None:
    """Record what a run directory is for; refuse to reuse or resume one that was made for something else."""
    key = sha256_json(spec)
    path = out / RUN_KEY
    if create_json(path, {"format": KEY_FORMAT, "key": key, "spec": spec}):
        return  # a new folder (two processes racing for it: one creates the key, the other checks it)
    found = read_json(path)
    if found.get("format") != KEY_FORMAT:
        raise UserError(f"this run folder's key has format {found.get('format')}, this tunebench writes "
                        f"{KEY_FORMAT}; choose another --out (or delete it)", where=str(out))
    if found["key"] != key:
        raise UserError("this run folder holds a run with a different recipe, data, model or seed; "
                        "choose another --out (or delete it) to train anew", where=str(out))


WEIGHT_FILES = (".safetensors", ".bin", ".pt", ".pth", ".model")
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def run_identity(run: Path | None) -> str:
    """What a starting run holds rather than where it lies, for the keys of runs trained from it: a tunebench
    run's config (model settings and its weights' hashes), else the hash of the folder's weights and model
    files. A moved folder still matches; one retrained to other weights no longer does."""
    if run is None:
        return ""
    run = Path(run)
    if (run / CONFIG).is_file():
        return sha256_json(read_json(run / CONFIG))[:32]
    files = sorted(p for p in run.rglob("*") if p.is_file() and (p.suffix in WEIGHT_FILES or p.name in MODEL_FILES)
                   and not any(part.startswith((".", "checkpoint")) for part in p.relative_to(run).parts[:-1]))
    if not files:
        raise UserError("no weights found to start from", where=str(run))
    return sha256_json({str(p.relative_to(run)): sha256_file(p) for p in files})[:32]


def run_stage(recipe: Recipe, stage: StageConfig, records: list[Record], out: Path, tower,
              init: Path | None = None, qformer_run: Path | None = None, resume: bool = True,
              seed: int = 0, on_step: StepHook | None = None, keep_checkpoint: bool = False) -> dict:
    """Train one stage into `out` (a run directory). A finished run is reused, a killed one resumed, but only
    when it was started with the same recipe stage, model, data, starting point and seed. Its resumable
    checkpoint is deleted once the summary is written, unless `keep_checkpoint`."""
    out = Path(out)
    stage.optim.seed = seed
    data_hash = records_hash(records)
    claim_run_dir(out, {"recipe": recipe.name, "stage": stage_spec(stage), "model": asdict(recipe.model),
                        "data": data_hash, "init": run_identity(init), "seed": seed,
                        "qformer": run_identity(qformer_run)})
    if (out / SUMMARY).is_file():
        return read_json(out / SUMMARY)
    start = time.perf_counter()
    model = prepare_model(recipe, stage, tower, init, qformer_run, seed)
    groups = select_trainable(model, stage)
    if stage.gradient_checkpointing:
        model.llm.gradient_checkpointing_enable()
    examples = build_examples(model, records, stage.isolate_turns)
    pad_id = model.tokenizer.pad_token_id
    result = train(model, groups, examples,
                   lambda items: with_answer_weights(pad_batch(items, pad_id, "right"), stage.loss_average),
                   supervised_loss, stage.optim, run_dir=out, resume=resume,
                   lengths=[len(e["input_ids"]) for e in examples], label=f"{recipe.name} {stage.name}",
                   on_step=on_step)
    llm_trains = "llm" in stage.train or "lora" in stage.train
    hashes = save_run(model, out, llm_trained="llm" in stage.train)
    tokens_seen = int(sum(len(e["input_ids"]) for e in examples) * stage.optim.epochs)
    summary = {
        "recipe": recipe.name, "stage": asdict(stage), "model": model.cfg.to_dict(), "init": str(init or ""),
        "n_records": len(records), "data_hash": data_hash, "weights": hashes,
        "base_weights": model.weights_hashes,
        "parameters": model.parameter_table(), "loss_first": result.losses[0], "loss_last": result.losses[-1],
        "train": result.to_dict(), "tokens_seen": tokens_seen,
        "train_flops": training_flops(model, tokens_seen, llm_trains),
        "stage_wall_s": time.perf_counter() - start - result.hook_s, "environment": environment(), "seed": seed,
    }
    atomic_write_json(out / SUMMARY, summary)
    if not keep_checkpoint:
        remove_checkpoints(out)  # it only served a resume; the stage's weights are saved beside it
    return summary
