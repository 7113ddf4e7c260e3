"""Where a training step's time goes: the default bench's stage 2 (or stage 1), run through `train()` under
torch's profiler.

The model, data and settings are the default profile's LLaVA-1.5 arm (`tunebench bench --profile default`): its
Shapes world (a smaller one), its stage's recipe as the bench runs it (isolated turns, batch 8, ...), at the precision
the package's policy picks on this machine (or --precision). Stage 2 starts from a fresh connector rather than from
stage 1's: the work per step is the same. The first --warmup steps are not profiled (thread pools, kernel choice).

It prints the real and the computed (padded) tokens, then a table of where a step's time goes: the loop's phases
(collate, forward, backward, optimizer: `train.loop` names them) and, inside forward and backward, the matrix
products, the attention kernel and everything else.

Usage (from the repository root):
  .venv/bin/python benchmarks/step_profile.py [--stage stage2] [--records 64] [--steps 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    apply_threads,
    matmul_peak_gflops,
    scratch_dir,
    settings_line,
    shapes_world,
    table,
    training_flops,
)

PHASES = ("collate", "forward", "backward", "optimizer")
MATMUL = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")
ATTENTION = ("flash_attention", "scaled_dot_product", "efficient_attention")


def default_arm(stage_name: str, precision: str):
    """The default profile's LLaVA-1.5 recipe as the bench runs it, and its stage `stage_name`."""
    from tunebench.bench.config import arm_recipe, profile

    cfg = profile("default")
    cfg.precision = precision  # type: ignore[assignment]
    recipe = arm_recipe(cfg, next(a for a in cfg.arms if a.design == "llava"))
    return cfg, recipe, next(s for s in recipe.stages if s.name == stage_name)


def category(name: str) -> str:
    if name in MATMUL:
        return "matrix products"
    if any(key in name for key in ATTENTION):
        return "attention"
    return "other ops"


def where_time_goes(prof, steps: int) -> tuple[dict[str, float], float]:
    """Seconds per step of each phase, and of each kind of op inside forward and backward (self time)."""
    totals: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        if event.key in PHASES or event.key == "isolated mask":
            totals[event.key] += event.cpu_time_total / 1e6
        elif event.key.startswith("ProfilerStep"):
            totals["step"] += event.cpu_time_total / 1e6
    ops: dict[str, float] = defaultdict(float)
    for event in prof.events():  # self time of every op, attributed to the phase it ran in
        if event.name in PHASES or event.name.startswith("ProfilerStep") or event.name == "isolated mask":
            continue
        phase = _phase_of(event)
        if phase in ("forward", "backward"):
            ops[category(event.name)] += event.self_cpu_time_total / 1e6
    per_step = {k: v / steps for k, v in {**totals, **ops}.items()}
    return per_step, per_step.get("step", 0.0)


def _phase_of(event) -> str | None:
    node = event.cpu_parent
    while node is not None:
        if node.name in PHASES:
            return node.name
        node = node.cpu_parent
    return "backward" if event.name.startswith(("autograd::", "torch::autograd")) else None


def padding(examples: list[dict], plan: list[list[list[int]]]) -> tuple[int, int]:
    """(real tokens, computed positions) over the steps of `plan`."""
    real = computed = 0
    for step in plan:
        for batch in step:
            lengths = [len(examples[i]["input_ids"]) for i in batch]
            real, computed = real + sum(lengths), computed + len(lengths) * max(lengths)
    return real, computed


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["stage1", "stage2"], default="stage2")
    parser.add_argument("--records", type=int, default=64, help="training records (a step takes the recipe's batch)")
    parser.add_argument("--steps", type=int, default=4, help="steps profiled")
    parser.add_argument("--warmup", type=int, default=1, help="steps run before profiling")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the bench's arm on a 2-core machine "
                                                               "alone: 2; side by side: 1 each)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    from tunebench.components import load_vision_tower
    from tunebench.core.device import resolve_precision
    from tunebench.models.batching import pad_batch
    from tunebench.train.loop import train
    from tunebench.train.loss_average import with_answer_weights
    from tunebench.train.pipeline import load_train_data
    from tunebench.train.sampling import step_plan
    from tunebench.train.stage import build_examples, prepare_model, select_trainable

    args = parse_args(argv)
    apply_threads(args.threads)
    cfg, recipe, stage = default_arm(args.stage, args.precision)
    precision = resolve_precision(stage.optim.precision)
    total = args.warmup + args.steps
    stage.optim.max_steps, stage.optim.checkpoint_every, stage.optim.seed = total, 0, args.seed
    with scratch_dir("tunebench-step-profile-") as work:
        world = {"max_objects": cfg.data.max_objects, "questions_per_image": cfg.data.questions_per_image,
                 "question_mix": dict(cfg.data.question_mix)}
        shapes = shapes_world(work / "shapes", train=args.records, test=1, seed=args.seed, **world)
        records = load_train_data(shapes).for_stage(stage.data)[: args.records]
        tower = load_vision_tower(recipe.model.vision)
        model = prepare_model(recipe, stage, tower, init=None, qformer_run=None, seed=args.seed)
        groups = select_trainable(model, stage)
        examples = build_examples(model, records, stage.isolate_turns)
        lengths = [len(e["input_ids"]) for e in examples]
        plan = step_plan(len(examples), stage.optim.batch_size, stage.optim.grad_accum, 1, stage.optim.epochs,
                         args.seed, lengths if stage.optim.group_by_length else None)[args.warmup: total]
        real, computed = padding(examples, plan)
        pad_id = model.tokenizer.pad_token_id

        def collate(items: list) -> dict:
            return with_answer_weights(pad_batch(items, pad_id, "right"), stage.loss_average)

        peak = matmul_peak_gflops(model.llm.config, precision.dtype)
        print(settings_line(stage=stage.name, records=len(examples), batch=stage.optim.batch_size,
                            isolate_turns=stage.isolate_turns, precision=precision.used,
                            matmul_peak_gflops=f"{peak:.1f}"), flush=True)
        with profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=1, warmup=args.warmup,
                                                                          active=args.steps)) as prof:
            train(model, groups, examples, collate, lambda m, b: m(b), stage.optim, lengths=lengths,
                  label=f"profile {stage.name}", on_step=lambda *_: prof.step())
        per_step, step_s = where_time_goes(prof, args.steps)
        report(per_step, step_s, real, computed, args.steps)
        flops = training_flops(model, [collate([examples[i] for i in b]) for step in plan for b in step], precision)
    achieved = flops / args.steps / step_s / 1e9
    print(f"{flops / args.steps / 1e9:.1f} GFLOP per step (forward and backward of every matrix product, attention "
          f"included): {achieved:.1f} GFLOP/s, {achieved / peak:.0%} of this machine's {precision.used} matmul "
          f"peak ({peak:.1f} GFLOP/s at {torch.get_num_threads()} threads). The profiler adds a little per op.")


def report(per_step: dict[str, float], step_s: float, real: int, computed: int, steps: int) -> None:
    print(f"tokens per step: {real / steps:,.0f} real, {computed / steps:,.0f} computed "
          f"({1 - real / computed:.1%} padding)")
    labels = {"collate": "collate", "forward": "forward", "isolated mask": "  isolated mask (in forward)",
              "backward": "backward", "optimizer": "optimizer (clip, AdamW, zero_grad)",
              "matrix products": "forward+backward: matrix products", "attention": "forward+backward: attention",
              "other ops": "forward+backward: other ops", "step": "step (profiled)"}
    print(table(["where", "s per step", "share"],
                [[label, f"{per_step.get(key, 0.0):.3f}", f"{per_step.get(key, 0.0) / step_s:.0%}"]
                 for key, label in labels.items()]), flush=True)


if __name__ == "__main__":
    main()
