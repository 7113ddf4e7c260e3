"""Training throughput: tunebench's training path against a Hugging Face `Trainer` baseline, in one run.

Both paths train the same VisionLanguageModel (same seed, so the same weights), the same trainable
parameters, on the same records, with the same micro-batch size, precision (--precision) and number of
samples. Only how the work is done differs:

  tunebench  `build_examples` (frozen image features computed once per image and cached) + `train()`
             (length-grouped batches, LM-head logits only at supervised positions), as `tunebench train` runs.
  baseline   `transformers.Trainer`, as TRL / LLaVA-style scripts run it: a collator loads and preprocesses
             the images of every batch, the vision tower runs inside every step, the LM head produces
             full-vocabulary logits at every position with the standard causal-LM loss (labels -100),
             random batches (no length grouping), tokenization in the dataset's `__getitem__`.

Model loading is timed for neither path. With --repeats R the two paths alternate (A B, B A, ...) and the
fastest repeat of each is reported (on a shared machine, other jobs only ever add time).

Usage (from the repository root):
  .venv/bin/python benchmarks/train_throughput.py [--stage stage1|stage2|both] [--samples N] [--arch llava]
"""

from __future__ import annotations

import argparse
import copy
import gc
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Timer,
    add_shared_args,
    apply_threads,
    cold_feature_cache,
    matmul_peak_gflops,
    peak_rss_gb,
    scratch_dir,
    settings_line,
    shapes_world,
    table,
    training_flops,
)

RECIPES = {"llava": "llava-1.5", "minigpt4": "minigpt4"}
BASELINE = "baseline: HF Trainer, features on the fly"
OURS_COLD = "tunebench, cold feature cache"
OURS_WARM = "tunebench, warm feature cache"


@dataclass
class Measured:
    path: str
    samples: int
    tokens: int  # real input tokens (image + text), no padding
    seconds: float
    cpu_seconds: float
    work: dict[str, float] = field(default_factory=dict)  # padded and LM-head positions, feature seconds

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


@dataclass
class WorkCounter:
    """What a path's collate function handed to the model: samples, tokens, padded and LM-head positions."""

    samples: int = 0
    tokens: int = 0
    padded: int = 0
    head: int = 0

    def add(self, lengths: Sequence[int], head: int) -> None:
        self.samples += len(lengths)
        self.tokens += sum(lengths)
        self.padded += len(lengths) * max(lengths)
        self.head += head

    def work(self) -> dict[str, int]:
        return {"padded positions": self.padded, "LM-head positions": self.head}


# ----- tunebench ----------------------------------------------------------------------------------------
def fresh_model(recipe, stage, tower, seed: int):
    """The model `run_stage` would train, with the stage's parts unfrozen; returns (model, param groups)."""
    from tunebench.train.stage import prepare_model, select_trainable

    model = prepare_model(recipe, stage, tower, init=None, qformer_run=None, seed=seed)
    return model, select_trainable(model, stage)


def counting_pad(pad_id: int, counter: WorkCounter, handed: list[dict]) -> Callable[[list], dict]:
    """`run_stage`'s collate function (right padding), counting the work it hands out and keeping each batch
    in `handed` (to count its FLOPs afterwards, outside the timing)."""
    from tunebench.models.batching import pad_batch
    from tunebench.train.loop import supervised_units

    def collate(items: list) -> dict:
        batch = pad_batch(items, pad_id, "right")
        counter.add([len(e["input_ids"]) for e in items], supervised_units(batch))
        handed.append(batch)
        return batch

    return collate


def run_tunebench(recipe, stage, tower, records, seed: int, cache: Path, count: bool = False
                  ) -> tuple[Measured, Measured]:
    """`build_examples` on a cold then a warm feature cache, then `train()`: the body of `run_stage`. With `count`,
    the FLOPs of the training steps are counted afterwards (work["step GFLOP"]) and the time of `train()` alone
    kept (work["train s"])."""
    from tunebench.core.device import resolve_precision
    from tunebench.models.batching import pad_batch
    from tunebench.train.loop import train
    from tunebench.train.stage import build_examples

    model, groups = fresh_model(recipe, stage, tower, seed)
    precision = resolve_precision(stage.optim.precision)
    cold, warm, fit = Timer(), Timer(), Timer()
    with cold_feature_cache(cache):
        with cold.measure():
            examples = build_examples(model, records)
        with warm.measure():
            examples = build_examples(model, records)
    pad_id = model.tokenizer.pad_token_id
    warm_up(model, lambda: model(pad_batch(examples[:2], pad_id, "right"))[0], precision)
    counter, handed = WorkCounter(), []
    with fit.measure():
        result = train(model, groups, examples, counting_pad(pad_id, counter, handed), lambda m, b: m(b),
                       stage.optim, run_dir=None, resume=False, lengths=[len(e["input_ids"]) for e in examples],
                       label=f"tunebench {stage.name}")
    if result.samples != counter.samples:
        raise RuntimeError(f"train() counted {result.samples} samples, its collate function {counter.samples}")
    work = {**counter.work(), "trainable": trainable_count(model), "features cold s": cold.seconds,
            "features warm s": warm.seconds, "train s": fit.seconds, "steps": result.steps}
    if count:
        work["step GFLOP"] = training_flops(model, handed, precision) / 1e9
    return (Measured(OURS_COLD, counter.samples, counter.tokens, cold.seconds + fit.seconds,
                     cold.cpu_seconds + fit.cpu_seconds, work),
            Measured(OURS_WARM, counter.samples, counter.tokens, warm.seconds + fit.seconds,
                     warm.cpu_seconds + fit.cpu_seconds, work))


def warm_up(model: nn.Module, loss_of_two_samples: Callable[[], torch.Tensor], precision) -> None:
    """One untimed forward/backward on two samples, so neither path pays the process's one-time costs
    (thread pools, kernel selection) inside its timing; no optimizer step, so the weights do not change."""
    with precision.autocast():
        loss = loss_of_two_samples()
    loss.backward()
    model.zero_grad(set_to_none=True)


# ----- baseline: transformers.Trainer, features on the fly --------------------------------------------
class PixelsVLM(nn.Module):
    """LLaVA's `LlavaLlamaForCausalLM.forward` on our modules: tower -> connector -> splice -> HF causal LM."""

    def __init__(self, vlm):
        super().__init__()
        self.vlm = vlm

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor):
        with torch.no_grad():  # the frozen tower (LLaVA's CLIPVisionTower.forward is @torch.no_grad())
            features = self.vlm.tower(pixel_values)
        image = self.vlm.connector(features)
        embeds = self.vlm.llm.get_input_embeddings()(input_ids)
        is_image = (input_ids == self.vlm.image_token_id).unsqueeze(-1)
        embeds = embeds.masked_scatter(is_image, image.to(embeds.dtype).reshape(-1, image.shape[-1]))
        # Full-vocabulary logits at every position; HF's ForCausalLMLoss (shift, -100 ignored, mean).
        return self.vlm.llm(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels, use_cache=False)


class LazyRecords(torch.utils.data.Dataset):
    """LLaVA's LazySupervisedDataset: tokenize in __getitem__, keep the image as a path."""

    def __init__(self, vlm, records: Sequence):
        self.vlm = vlm
        self.records = list(records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        r = self.records[i]
        return {"image": r.image, **self.vlm.encode(r.turns, record_id=r.id)}


class PixelCollator:
    """Load + preprocess the images of the batch, right-pad ids (labels with -100); counts the work."""

    def __init__(self, tower, pad_id: int):
        self.tower = tower
        self.pad_id = pad_id
        self.counter = WorkCounter()

    def __call__(self, items: list[dict]) -> dict:
        from tunebench.models.features import open_image

        lengths = [len(it["input_ids"]) for it in items]
        width = max(lengths)
        ids = [list(it["input_ids"]) + [self.pad_id] * (width - len(it["input_ids"])) for it in items]
        labels = [list(it["labels"]) + [-100] * (width - len(it["labels"])) for it in items]
        mask = [[1] * n + [0] * (width - n) for n in lengths]
        self.counter.add(lengths, head=len(items) * width)  # logits at every position, padding included
        return {"pixel_values": self.tower.preprocess([open_image(it["image"]) for it in items]),
                "input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def trainer_args(stage, out: Path):
    from transformers import TrainingArguments

    from tunebench.core.device import resolve_precision

    cfg = stage.optim
    return TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.lr, weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type="cosine", num_train_epochs=cfg.epochs, max_grad_norm=cfg.max_grad_norm, seed=cfg.seed,
        bf16=resolve_precision(cfg.precision).bf16, use_cpu=not torch.cuda.is_available(),
        train_sampling_strategy="random",
        report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
        dataloader_num_workers=0, dataloader_pin_memory=False, remove_unused_columns=False)


def run_baseline(recipe, stage, tower, records, seed: int, out: Path) -> Measured:
    from transformers import Trainer

    from tunebench.core.device import resolve_precision

    model, _ = fresh_model(recipe, stage, tower, seed)
    wrapped, dataset = PixelsVLM(model), LazyRecords(model, records)
    pad_id = model.tokenizer.pad_token_id
    warm_up(model, lambda: wrapped(**PixelCollator(tower, pad_id)([dataset[0], dataset[1]])).loss,
            resolve_precision(stage.optim.precision))
    collator = PixelCollator(tower, pad_id)
    trainer = Trainer(model=wrapped, args=trainer_args(stage, out), train_dataset=dataset, data_collator=collator)
    fit = Timer()
    with fit.measure():
        trainer.train()
    c = collator.counter
    work = {**c.work(), "trainable": trainable_count(model)}
    return Measured(BASELINE, c.samples, c.tokens, fit.seconds, fit.cpu_seconds, work)


def trainable_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def reset_accelerate() -> None:
    """Each path builds its own Accelerator; clear the process-wide state between them."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


# ----- driver -------------------------------------------------------------------------------------------
def stage_config(recipe, name: str, seed: int, batch_size: int | None, precision: str = "auto"):
    stage = copy.deepcopy(next(s for s in recipe.stages if s.name == name))
    stage.optim.batch_size = batch_size or stage.optim.batch_size
    stage.optim.precision = precision
    stage.optim.epochs = 1.0
    stage.optim.max_steps = None
    stage.optim.checkpoint_every = 0
    stage.optim.seed = seed
    return stage


def repeat_paths(recipe, stage, tower, records, seed: int, work: Path, repeats: int) -> dict[str, list[Measured]]:
    """Run both paths `repeats` times, alternating which goes first."""
    runs: dict[str, list[Measured]] = {BASELINE: [], OURS_COLD: [], OURS_WARM: []}
    for r in range(repeats):
        for who in ("ours", "base") if r % 2 == 0 else ("base", "ours"):
            if who == "ours":
                cold, warm = run_tunebench(recipe, stage, tower, records, seed, work / f"cache-{stage.name}-{r}",
                                           count=r == 0)
                runs[OURS_COLD].append(cold)
                runs[OURS_WARM].append(warm)
            else:
                runs[BASELINE].append(run_baseline(recipe, stage, tower, records, seed, work / f"trainer-{r}"))
            reset_accelerate()
            gc.collect()  # free the path's model and optimizer state before the next one starts
    return runs


def bench_stage(recipe, name: str, tower, records, args: argparse.Namespace, work: Path, peak: float
                ) -> tuple[list[list[object]], list[object]]:
    """The stage's throughput rows (every path against the baseline) and its peak-fraction row."""
    seed, repeats = args.seed, args.repeats
    stage = stage_config(recipe, name, seed, args.batch_size, args.precision)
    runs = repeat_paths(recipe, stage, tower, records, seed, work, repeats)
    best = {path: min(ms, key=lambda m: m.seconds) for path, ms in runs.items()}
    base, ours = best[BASELINE], best[OURS_COLD]
    if (base.samples, base.tokens, base.work["trainable"]) != (ours.samples, ours.tokens, ours.work["trainable"]):
        raise RuntimeError("paths differ in samples, tokens or trainable parameters (did build_examples drop "
                           f"records whose answers max_length cuts off?):\n{base}\n{ours}")
    describe_stage(stage, runs)
    return [_row(name, m, base) for m in best.values()], peak_row(name, runs, base, peak)


def peak_row(name: str, runs: dict[str, list[Measured]], base: Measured, peak: float) -> list[object]:
    """What share of the machine's matmul peak our steps reach: the steps' counted FLOPs over the fastest
    `train()` time; the baseline's time doing the same useful work, on the same scale."""
    flops = runs[OURS_WARM][0].work["step GFLOP"]
    train_s = min(m.work["train s"] for m in runs[OURS_WARM])
    steps = runs[OURS_WARM][0].work["steps"]
    ours, theirs = flops / train_s, flops / base.seconds
    return [name, steps, f"{train_s / steps:.2f}", f"{flops / steps:.1f}", f"{ours:.1f}", f"{peak:.1f}",
            f"{ours / peak:.0%}", f"{theirs / peak:.0%}", f"{base.seconds / train_s:.2f}x"]


def describe_stage(stage, runs: dict[str, list[Measured]]) -> None:
    from tunebench.core.device import resolve_precision

    o, b = runs[OURS_COLD][0].work, runs[BASELINE][0].work
    trainable = o["trainable"]
    walls = "; ".join(f"{label} " + ", ".join(f"{m.seconds:.1f}" for m in runs[path])
                      for label, path in (("baseline", BASELINE), ("tunebench cold", OURS_COLD)))
    print(f"{stage.name}: trains {'+'.join(stage.train)} ({trainable:,} parameters), micro-batch "
          f"{stage.optim.batch_size}, precision {resolve_precision(stage.optim.precision).used}, "
          f"template {stage.template}\n"
          f"  padded positions: tunebench {o['padded positions']:,} / baseline {b['padded positions']:,}; "
          f"LM-head positions: tunebench {o['LM-head positions']:,} / baseline {b['LM-head positions']:,}\n"
          f"  tunebench features: cold {o['features cold s']:.2f} s, warm {o['features warm s']:.2f} s; "
          f"wall s per repeat ({walls})", flush=True)


def _row(stage: str, m: Measured, base: Measured) -> list[object]:
    return [stage, m.path, m.samples, m.tokens, m.seconds, m.samples_per_s, m.tokens_per_s,
            f"{base.seconds / m.seconds:.2f}x", m.cpu_seconds, f"{base.cpu_seconds / m.cpu_seconds:.2f}x"]


def load_records(shapes: Path, stages: list[str], recipe, n: int) -> dict[str, list]:
    from tunebench.train.pipeline import load_train_data

    data = load_train_data(shapes)
    out = {}
    for name in stages:
        kind = next(s for s in recipe.stages if s.name == name).data
        records = data.for_stage(kind)
        if len(records) < n:
            raise SystemExit(f"{name}: only {len(records)} {kind} records in {shapes}, asked for {n}")
        out[name] = records[:n]
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["stage1", "stage2", "both"], default="both")
    parser.add_argument("--samples", type=int, default=64, help="training samples per stage and path")
    parser.add_argument("--arch", choices=sorted(RECIPES), default="llava")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="micro-batch of both paths (default: the recipe stage's, 16); smaller needs less memory")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each path (alternating order; best kept)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="both paths' (auto: bf16 where the hardware computes it natively, else fp32)")
    add_shared_args(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    from tunebench.components import load_llm, load_vision_tower
    from tunebench.core.device import resolve_precision
    from tunebench.train.recipes import get_recipe

    args = parse_args(argv)
    apply_threads(args.threads)
    recipe = get_recipe(RECIPES[args.arch])
    stages = ["stage1", "stage2"] if args.stage == "both" else [args.stage]
    precision = resolve_precision(args.precision)
    with scratch_dir("tunebench-train-bench-") as work:
        shapes = args.shapes or shapes_world(work / "shapes", train=args.samples, test=1, seed=args.seed)
        records = load_records(shapes, stages, recipe, args.samples)
        tower = load_vision_tower(recipe.model.vision, allow_pickle=recipe.model.allow_pickle)
        peak = matmul_peak_gflops(load_llm(recipe.model.llm).model.config, precision.dtype)
        print(settings_line(recipe=recipe.name, vision=recipe.model.vision, llm=recipe.model.llm,
                            samples=args.samples, repeats=args.repeats, precision=precision.used,
                            matmul_peak_gflops=f"{peak:.1f}"), flush=True)
        measured = [bench_stage(recipe, name, tower, records[name], args, work, peak) for name in stages]
    print(settings_line(when="end", peak_rss_gb=f"{peak_rss_gb():.1f}"))
    print()
    print(table(["stage", "path", "samples", "tokens", "wall s", "samples/s", "tokens/s", "speed-up",
                 "CPU s", "CPU speed-up"], [row for rows, _ in measured for row in rows]))
    print("tokens = real input tokens (image + text, no padding): both paths see the same samples and tokens, so "
          "the tokens/s ratio equals the samples/s ratio. speed-up = baseline wall s / path wall s; CPU s = this "
          "process's CPU time (all threads), less sensitive to other jobs on a shared machine.")
    print()
    print(table(["stage", "steps", "s/step", "GFLOP/step", "GFLOP/s", f"{precision.used} peak GFLOP/s",
                 "tunebench % of peak", "baseline % of peak", "vs Trainer"], [row for _, row in measured]))
    print(f"GFLOP = the forward and backward of every matrix product our steps run (attention included), counted by "
          f"torch's FLOP counter; peak = {precision.used} matrix products at the LLM's shapes on this machine, same "
          f"threads. baseline % = the same useful FLOPs over the Trainer's time; vs Trainer = its time / train() time.")


if __name__ == "__main__":
    main()
