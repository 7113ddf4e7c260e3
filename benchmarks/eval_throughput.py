"""Evaluation throughput: tunebench's engine against LLaVA's `model_vqa_loader` loop, in one run.

Both paths answer the same questions with the same model weights, the same prompts, fp32, greedy decoding
and the same `max_new_tokens`; every raw output is compared.

  tunebench  `tunebench.evaluation.engine.predict` (batch 16): image features once per image (cached),
             batched greedy generation with a KV cache over left-padded prompts.
  baseline   LLaVA's `model_vqa_loader`: one question at a time; its image loaded, preprocessed and run
             through the tower for every question (no sharing); `generate` (greedy) on the spliced prompt.

Usage (from the repository root):
  .venv/bin/python benchmarks/eval_throughput.py [--task vqav2|gqa|pope|mme] [--n N] [--run DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Timer,
    add_shared_args,
    apply_threads,
    cold_feature_cache,
    scratch_dir,
    settings_line,
    shapes_world,
    table,
)


@dataclass
class Measured:
    path: str
    samples: int
    seconds: float
    cpu_seconds: float
    raw: dict[str, str]

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds


# ----- tunebench ----------------------------------------------------------------------------------------
def run_tunebench(model, task, records, batch_size: int, cache: Path, label: str) -> Measured:
    from tunebench.evaluation.engine import predict

    timer = Timer()
    with cold_feature_cache(cache), timer.measure():
        raw = {p.record.id: p.raw for p in predict(model, task, records, batch_size=batch_size)}
    return Measured(label, len(raw), timer.seconds, timer.cpu_seconds, raw)


# ----- baseline: one question at a time, features recomputed per question ------------------------------
@torch.inference_mode()
def answer_one(model, task, record) -> str:
    """LLaVA's `model_vqa_loader` for one question: load + preprocess the image, tower, generate."""
    from tunebench.evaluation.engine import prompt_turns
    from tunebench.models.features import open_image

    pixels = model.tower.preprocess([open_image(record.image)]).to(model.device) if record.image else None
    feat = model.frozen_features(pixels) if pixels is not None else None
    ids = model.encode(prompt_turns(task, record), record_id=record.id, for_generation=True)["input_ids"]
    input_ids = torch.tensor([ids], device=model.device)
    embeds = model.input_embeds(input_ids, feat)
    out = model.llm.generate(
        inputs_embeds=embeds, attention_mask=torch.ones_like(input_ids), max_new_tokens=task.max_new_tokens,
        do_sample=False, num_beams=1, pad_token_id=model.tokenizer.pad_token_id,
        eos_token_id=model.tokenizer.eos_token_id, suppress_tokens=[model.image_token_id])
    new = out[0].tolist()
    eos = model.tokenizer.eos_token_id
    return model.decode_answer(new[: new.index(eos)] if eos in new else new)


def run_baseline(model, task, records) -> Measured:
    model.eval()
    timer = Timer()
    with timer.measure():
        raw = {r.id: answer_one(model, task, r) for r in records}
    return Measured("baseline: one question at a time, features per question", len(raw), timer.seconds,
                    timer.cpu_seconds, raw)


# ----- driver -------------------------------------------------------------------------------------------
def load_model(run: Path | None, arch: str, seed: int):
    from tunebench.components import load_vision_tower
    from tunebench.models.build import build_vlm
    from tunebench.models.checkpoint import load_run
    from tunebench.models.config import VLMConfig

    if run is not None:
        return load_run(run)
    cfg = VLMConfig(arch=arch)
    model = build_vlm(cfg, tower=load_vision_tower(cfg.vision, allow_pickle=cfg.allow_pickle), seed=seed)
    return model.eval()


def warm_up(model, task, records) -> None:
    """One untimed question through both code paths, so neither pays the process's one-time start costs."""
    from tunebench.evaluation.engine import predict

    answer_one(model, task, records[0])
    with scratch_dir("tunebench-eval-warmup-") as cache, cold_feature_cache(cache):
        list(predict(model, task, records[:1]))


def describe_work(model, task, records, batch_size: int) -> str:
    """Load-independent work of each path: tower forwards, prompt positions prefilled, generate calls."""
    from tunebench.evaluation.engine import build_prompts, prompt_batches

    prompts = build_prompts(model, task, records)
    lengths = [len(p.prefix) + len(p.suffix) for p in prompts]
    batches = list(prompt_batches(prompts, batch_size))
    shared = {p.key: len(p.prefix) for p in prompts}
    ours = sum(shared.values()) + sum(len(b) * max(len(p.suffix) for p in b) for b in batches)
    images = len({r.image for r in records if r.image})
    return (f"work: tower images tunebench {images} / baseline {sum(1 for r in records if r.image)}; "
            f"prompt positions prefilled tunebench {ours:,} ({len(shared)} shared prefixes + padded questions) / "
            f"baseline {sum(lengths):,}; generate calls tunebench {len(batches)} / baseline {len(records)}")


def differences(ours: dict[str, str], base: dict[str, str]) -> list[str]:
    if ours.keys() != base.keys():
        raise RuntimeError("the two paths answered different questions")
    return [key for key in base if ours[key] != base[key]]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="vqav2", help="vqav2 | gqa | pope | mme (from the Shapes world)")
    parser.add_argument("--n", type=int, default=64, help="questions (the first N of the task)")
    parser.add_argument("--run", type=Path, default=None, help="a trained run folder (else a fresh LLaVA model)")
    parser.add_argument("--arch", choices=["llava", "minigpt4"], default="llava", help="fresh model's design")
    parser.add_argument("--batch-size", type=int, default=16, help="tunebench's batch size")
    add_shared_args(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    from tunebench.evaluation.tasks import get_task, load_task_records

    args = parse_args(argv)
    apply_threads(args.threads)
    task = get_task(args.task)
    with scratch_dir("tunebench-eval-bench-") as work:
        shapes = args.shapes or shapes_world(work / "shapes", train=1, test=max(8, args.n // 2), seed=args.seed)
        records = load_task_records(task, [shapes])[: args.n]
        model = load_model(args.run, args.arch, args.seed)
        print(settings_line(task=task.name, questions=len(records), images=len({r.image for r in records}),
                            max_new_tokens=task.max_new_tokens, dtype=next(model.llm.parameters()).dtype,
                            device=model.device,
                            model=args.run or f"fresh {args.arch}", batch=args.batch_size), flush=True)
        warm_up(model, task, records)
        cold = run_tunebench(model, task, records, args.batch_size, work / "cache",
                             f"tunebench predict (batch {args.batch_size}), cold feature cache")
        warm = run_tunebench(model, task, records, args.batch_size, work / "cache",
                             f"tunebench predict (batch {args.batch_size}), warm feature cache")
        base = run_baseline(model, task, records)
    rows = [[m.path, m.samples, m.seconds, m.samples_per_s, f"{base.seconds / m.seconds:.2f}x", m.cpu_seconds,
             f"{base.cpu_seconds / m.cpu_seconds:.2f}x"] for m in (base, cold, warm)]
    print(describe_work(model, task, records, args.batch_size))
    print(settings_line(when="end"))
    print()
    print(table(["path", "questions", "wall s", "samples/s", "speed-up", "CPU s", "CPU speed-up"], rows))
    print("speed-up = baseline wall s / path wall s; CPU s = this process's CPU time (all threads), less "
          "sensitive to other jobs on a shared machine.")
    report_identity(cold.raw, warm.raw, base.raw)


def report_identity(cold: dict[str, str], warm: dict[str, str], base: dict[str, str]) -> None:
    differ = sorted(set(differences(cold, base)) | set(differences(warm, base)))
    if not differ:
        print(f"predictions identical: all {len(base)} raw outputs equal")
        return
    print(f"predictions differ: {len(differ)} of {len(base)} raw outputs")
    for key in differ[:5]:
        print(f"  {key}: tunebench {cold[key]!r} / baseline {base[key]!r}")


if __name__ == "__main__":
    main()
