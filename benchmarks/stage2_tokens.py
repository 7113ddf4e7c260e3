"""Where stage 2's tokens go, as each design of a bench profile trains on them: image tokens, the shared start
(system prompt and template), questions, the short-answer suffix, the template around each turn, and answers.

Each category is counted by encoding the records as the stage does (template, isolated turns, max_length) and
again with that part removed from the text; the difference is its share. Every token costs the same matmul
FLOPs, so the shares are shares of stage 2's compute (padding aside). Run:

    python benchmarks/stage2_tokens.py --profile default --out /tmp/stage2-tokens [--config bench.yaml]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tunebench.bench.config import arm_recipe, load_config
from tunebench.bench.pipeline import prepare_data
from tunebench.components import load_vision_tower
from tunebench.data.formats.llava import SHORT_ANSWER_SUFFIX
from tunebench.data.records import IMAGE_TOKEN, Record, Turn
from tunebench.models.build import build_vlm
from tunebench.models.prompting import IGNORE_INDEX, apply_template


def _edit_questions(records: list[Record], edit: Callable[[str], str]) -> list[Record]:
    return [replace(r, turns=tuple(Turn(t.role, edit(t.text)) if t.role == "human" else t for t in r.turns))
            for r in records]


def _without_suffix(text: str) -> str:
    return text.replace(SHORT_ANSWER_SUFFIX, "")


def _only_image_and_suffix(text: str) -> str:
    """The question's words removed; the image placeholder and the suffix stay."""
    image = f"{IMAGE_TOKEN}\n" if IMAGE_TOKEN in text else ""
    suffix = SHORT_ANSWER_SUFFIX if SHORT_ANSWER_SUFFIX in text else ""
    return image + suffix.lstrip("\n")


def encode_all(model, records: list[Record], isolate_turns: bool) -> list[dict]:
    return [model.encode(r.turns, record_id=r.id, isolate_turns=isolate_turns) for r in records]


def token_shares(model, records: list[Record], isolate_turns: bool) -> dict[str, int]:
    """Each part's tokens in the records as encoded whole (no max_length cut, so that removing a part never lets
    a cut segment back in)."""
    def encode(recs: list[Record]) -> list[dict]:
        return encode_all(model, recs, isolate_turns)

    full = encode(records)
    total = sum(len(e["input_ids"]) for e in full)
    image = sum(e["input_ids"].count(model.image_token_id) for e in full)
    answer = sum(sum(label != IGNORE_INDEX for label in e["labels"]) for e in full)
    shared = sum(e.get("segment_ids", []).count(0) for e in full) - image if isolate_turns else 0
    suffix = total - sum(len(e["input_ids"]) for e in encode(_edit_questions(records, _without_suffix)))
    question = total - sum(len(e["input_ids"]) for e in encode(_edit_questions(records, _only_image_and_suffix)))
    template = total - image - answer - shared - suffix - question
    return {"records": len(records), "total": total, "image": image, "shared start (system prompt, template)": shared,
            "question": question, "short-answer suffix": suffix, "template around each turn": template,
            "answer (supervised)": answer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="Bench folder whose data is reused or generated.")
    args = parser.parse_args()
    cfg = load_config(args.profile, args.config)
    train, _, _ = prepare_data(cfg, args.out)
    tower = load_vision_tower(cfg.vision)
    for arm in cfg.arms:
        recipe = arm_recipe(cfg, arm)
        stage = next(s for s in recipe.stages if s.data == "instructions")
        model = build_vlm(recipe.model, tower=tower)
        apply_template(model.tokenizer, stage.template)
        trained = encode_all(model, train.instructions, stage.isolate_turns)
        limit, model.cfg.max_length = model.cfg.max_length, 10**6
        counts = token_shares(model, train.instructions, stage.isolate_turns)
        total = counts["total"]
        kept = sum(len(e["input_ids"]) for e in trained)
        kept_answers = sum(sum(label != IGNORE_INDEX for label in e["labels"]) for e in trained)
        print(f"\n{arm.label}: stage 2, {counts['records']} records, {total:,} tokens "
              f"({model.num_image_tokens} image tokens per image, isolated turns {stage.isolate_turns}); "
              f"max_length {limit} keeps {kept:,} ({100 * kept / total:.1f}%) and "
              f"{100 * kept_answers / counts['answer (supervised)']:.1f}% of the answer tokens")
        print(f"| {'part':42s} | {'tokens':>9s} | {'share':>6s} |")
        print(f"|{'-' * 44}|{'-' * 11}|{'-' * 8}|")
        for part, n in counts.items():
            if part not in ("records", "total"):
                print(f"| {part:42s} | {n:9,d} | {100 * n / total:5.1f}% |")


if __name__ == "__main__":
    main()
