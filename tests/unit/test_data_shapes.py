"""The Shapes generator: determinism, scene constraints, balance, blind baselines, POPE and MME rules."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from tunebench.core.errors import DataError
from tunebench.core.io import read_json, read_jsonl, sha256_file
from tunebench.data.formats.mme import load_mme
from tunebench.data.shapes.balance import MAX_RATIO, balanced_select, imbalance
from tunebench.data.shapes.evalsets import pope_items
from tunebench.data.shapes.generate import ShapesConfig, generate
from tunebench.data.shapes.questions import QTYPES
from tunebench.data.shapes.select import select_questions
from tunebench.data.shapes.vocab import COLORS, SHAPES, SIZE_RANGE_224
from tunebench.data.shapes.world import Obj, Scene, sample_scenes

SKILLS = {"color", "shape", "size", "count", "existence", "spatial", "position"}


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shapes") / "world"
    generate(ShapesConfig(out, seed=3, train=24, test=60, workers=1))
    return out


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_arguments_give_byte_identical_output(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    generate(ShapesConfig(first, seed=11, train=8, test=10, workers=1))
    generate(ShapesConfig(second, seed=11, train=8, test=10, workers=1))
    files_a, files_b = _files(first), _files(second)
    assert len(files_a) > 40
    assert files_a == files_b


def test_another_seed_changes_the_output(tmp_path):
    generate(ShapesConfig(tmp_path / "a", seed=1, train=4, test=4, workers=1))
    generate(ShapesConfig(tmp_path / "b", seed=2, train=4, test=4, workers=1))
    assert _files(tmp_path / "a")["scenes.json"] != _files(tmp_path / "b")["scenes.json"]


def test_refuses_a_non_empty_folder_and_force_replaces_only_its_own_output(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        generate(ShapesConfig(tmp_path, train=2, test=2, workers=1))
    out = tmp_path / "world"
    generate(ShapesConfig(out, train=2, test=2, workers=1))
    with pytest.raises(DataError, match="--force"):
        generate(ShapesConfig(out, train=2, test=2, workers=1))
    generate(ShapesConfig(out, train=3, test=2, workers=1, force=True))
    assert len(list((out / "images" / "train").iterdir())) == 3


def test_scenes_respect_the_world_rules():
    scenes = sample_scenes(5, "train", 300, 224)
    counts = Counter(len(s.objects) for s in scenes)
    assert set(counts) == set(range(1, 7))
    assert {o.shape for s in scenes for o in s.objects} == set(SHAPES) and len(SHAPES) >= 5
    assert {o.color for s in scenes for o in s.objects} == set(COLORS) and len(COLORS) == 8
    for scene in scenes:
        for i, a in enumerate(scene.objects):
            low, high = SIZE_RANGE_224[a.size]
            assert low <= a.box[2] - a.box[0] <= high
            assert a.box[0] >= 0 and a.box[2] <= 224 and a.box[1] >= 0 and a.box[3] <= 224
            for b in scene.objects[i + 1:]:
                overlap_x = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
                overlap_y = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
                assert overlap_x <= 0 or overlap_y <= 0


def test_scene_graphs_and_images_are_saved(shapes_dir):
    scenes = read_json(shapes_dir / "scenes.json")["scenes"]
    assert len(scenes) == 84
    first = scenes[0]
    assert set(first) == {"image_id", "split", "file", "width", "height", "objects"}
    assert set(first["objects"][0]) == {"id", "shape", "color", "size", "bbox"}
    from PIL import Image

    with Image.open(shapes_dir / "images" / "train" / first["file"]) as image:
        assert image.size == (224, 224) and image.mode == "RGB"


def test_test_images_never_appear_in_training(shapes_dir):
    train = {sha256_file(p) for p in (shapes_dir / "images" / "train").iterdir()}
    test = {sha256_file(p) for p in (shapes_dir / "images" / "test").iterdir()}
    assert not train & test
    used_in_training = {r["image"] for name in ("pretrain_plain.json", "instruct_mix.json")
                        for r in read_json(shapes_dir / "train" / name)}
    assert all(path.startswith("train/") for path in used_in_training)


def test_balanced_select_caps_a_skewed_pool():
    pool = [("a", i) for i in range(900)] + [("b", i) for i in range(60)] + [("c", i) for i in range(40)]
    chosen = balanced_select(pool, 300, answer=lambda x: x[0], group=lambda x: x[1], rng=random.Random(0))
    ratio = imbalance(chosen, qtype=lambda x: "t", answer=lambda x: x[0])["t"]
    assert ratio <= MAX_RATIO
    assert len(chosen) > 100


def test_every_question_set_is_balanced(shapes_dir):
    ann = read_json(next((shapes_dir / "eval" / "vqav2").glob("*annotations.json")))["annotations"]
    assert max(imbalance(ann, lambda a: a["question_type"], lambda a: a["multiple_choice_answer"]).values()) <= 2
    gqa = read_json(shapes_dir / "eval" / "gqa" / "testdev_balanced_questions.json").values()
    assert max(imbalance(gqa, lambda q: q["types"]["detailed"], lambda q: q["answer"]).values()) <= 2
    qas = select_questions(sample_scenes(3, "train", 80, 224), list(QTYPES), 4, 3, "instruct")
    ratios = imbalance(qas, lambda q: q.qtype, lambda q: q.answer)
    assert set(ratios) == set(QTYPES) and max(ratios.values()) <= 2


def test_every_question_has_a_skill_tag(shapes_dir):
    ev = shapes_dir / "eval"
    vqa = read_json(next((ev / "vqav2").glob("*questions.json")))["questions"]
    gqa = read_json(ev / "gqa" / "testdev_balanced_questions.json").values()
    pope = read_jsonl(ev / "pope" / "coco_pope_random.json")
    skills = [q["skill"] for q in vqa] + [q["skill"] for q in gqa] + [r["skill"] for r in pope]
    skills += [r.skill for r in load_mme(ev / "mme" / "MME_Benchmark")]
    instruct = read_json(shapes_dir / "train" / "instruct_mix.json")
    skills += [s for r in instruct for s in r.get("skills", [])]
    assert set(skills) == SKILLS


def test_blind_baselines_are_far_below_the_maximum(shapes_dir):
    manifest = read_json(shapes_dir / "manifest.json")
    for task in ("vqav2", "gqa", "mme", "pope"):
        saved = read_json(shapes_dir / "eval" / task / "blind_baseline.json")
        assert saved["headline"] == manifest["blind_baseline"][task]
        if task != "pope":  # F1 is 66.7 for "always yes" on any balanced set; its accuracy is checked below
            assert saved["headline"]["percent_of_max"] < 60, task
    # POPE's F1 favours "always yes" (F1 66.7 on a balanced split, accuracy 50): that is the blind bar.
    assert manifest["blind_baseline"]["pope"]["mean_accuracy"] == pytest.approx(50.0)
    assert manifest["blind_baseline"]["pope"]["value"] == pytest.approx(200 / 3)
    assert manifest["blind_baseline"]["mme"]["value"] == pytest.approx(200.0)


def test_pope_splits_are_half_yes_with_shared_positives(shapes_dir):
    splits = {s: read_jsonl(shapes_dir / "eval" / "pope" / f"coco_pope_{s}.json")
              for s in ("random", "popular", "adversarial")}
    for rows in splits.values():
        labels = Counter(r["label"] for r in rows)
        assert labels["yes"] == labels["no"] > 0
        assert [r["question_id"] for r in rows] == list(range(1, len(rows) + 1))
    positives = [{(r["image"], r["text"]) for r in rows if r["label"] == "yes"} for rows in splits.values()]
    assert positives[0] == positives[1] == positives[2]


def _scene(image_id: int, shapes: list[str]) -> Scene:
    objects = tuple(Obj(shape, "red", "small", (10 + 40 * i, 10, 40 + 40 * i, 40)) for i, shape in enumerate(shapes))
    return Scene(image_id, "test", f"img{image_id}.png", 224, objects)


def test_pope_negatives_follow_frequency_and_co_occurrence():
    # star is the most frequent shape overall; triangle co-occurs most with circle.
    scenes = [_scene(1, ["circle"])]
    scenes += [_scene(i, ["circle", "triangle"]) for i in range(2, 5)]
    scenes += [_scene(i, ["star", "square"]) for i in range(5, 12)]
    items = pope_items(scenes, seed=0)
    first_no = {split: [r.text for r in rows if r.image == "img1.png" and r.label == "no"]
                for split, rows in items.items()}
    assert first_no["adversarial"] == ["Is there a triangle in the image?"]
    assert first_no["popular"] == ["Is there a square in the image?"]  # ties with star, by name
    yes = [r.text for r in items["random"] if r.image == "img1.png" and r.label == "yes"]
    assert yes == ["Is there a circle in the image?"]


def test_mme_has_one_yes_and_one_no_per_image(shapes_dir):
    records = load_mme(shapes_dir / "eval" / "mme" / "MME_Benchmark")
    by_image: dict[str, list[str]] = {}
    for record in records:
        by_image.setdefault(record.meta["image"], []).append(record.answers[0])
        assert record.question.endswith("Please answer yes or no.")
    assert all(sorted(answers) == ["no", "yes"] for answers in by_image.values())
    assert {r.meta["subtask"] for r in records} == {"existence", "count", "position", "color"}


def test_image_size_option_scales_objects(tmp_path):
    generate(ShapesConfig(tmp_path / "w", train=3, test=3, image_size=112, texture=False, workers=1))
    scenes = read_json(tmp_path / "w" / "scenes.json")["scenes"]
    assert all(s["width"] == 112 for s in scenes)
    sides = [o["bbox"][2] - o["bbox"][0] for s in scenes for o in s["objects"]]
    assert max(sides) <= 38
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert manifest["settings"]["texture"] is False


@pytest.mark.integration
def test_full_size_generation_takes_under_a_minute(tmp_path):
    import time

    start = time.perf_counter()
    manifest = generate(ShapesConfig(tmp_path / "full", seed=0, train=2000, test=500))
    assert time.perf_counter() - start < 60
    assert manifest["counts"] == {"train_images": 2000, "test_images": 500}


def test_max_objects_sets_the_worlds_difficulty(tmp_path):
    scenes = sample_scenes(5, "train", 200, 224, max_objects=2)
    assert {len(s.objects) for s in scenes} == {1, 2}
    assert sample_scenes(5, "test", 50, 224) == sample_scenes(5, "test", 50, 224, max_objects=6)  # default: 1-6
    with pytest.raises(DataError, match="--max-objects must be between 1 and 6"):
        generate(ShapesConfig(tmp_path / "w", train=2, test=2, max_objects=7))
    manifest = generate(ShapesConfig(tmp_path / "ok", train=3, test=2, image_size=64, max_objects=1))
    assert manifest["settings"]["max_objects"] == 1
    assert all(len(s["objects"]) == 1 for s in read_json(tmp_path / "ok" / "scenes.json")["scenes"])


def test_the_question_mix_reweights_stage2_types_and_adds_object_existence_only_when_asked():
    from tunebench.data.shapes.trainsets import instruct_records

    scenes = sample_scenes(4, "train", 120, 224, max_objects=2)
    by_id = {s.image_id: s for s in scenes}

    def questions(mix: dict | None) -> list[tuple[int, str, str]]:
        rows = []
        for r in instruct_records(scenes, "train", True, 4, 12, mix):
            if "skills" not in r:
                continue
            image_id = int(r["id"].split("-")[2])
            turns = r["conversations"]
            rows += [(image_id, h["value"].split("?")[0].split("\n")[-1] + "?", g["value"].lower())
                     for h, g in zip(turns[0::2], turns[1::2], strict=True)]
        return rows

    def object_only(rows: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
        """'Is there a circle in the image?': POPE's form, the object category alone."""
        return [(i, q, a) for i, q, a in rows
                if len(q.split()) == 7 and q.split()[3] in SHAPES and q.endswith(" in the image?")]

    plain, mixed = questions(None), questions({"exist_shape": 2})
    assert questions({}) == plain  # no change asked: the default mix
    assert len(object_only(mixed)) > 3 * len(object_only(plain))  # the default asks a few, through `exist`
    for image_id, question, answer in object_only(mixed):  # right about the scene
        present = question.split()[-4] in {o.shape for o in by_id[image_id].objects}
        assert answer.startswith("yes" if present else "no"), (question, answer)
    answers = Counter(a.split(",")[0] for _, _, a in object_only(mixed))
    assert max(answers.values()) <= 2 * min(answers.values())  # balanced: no blind shortcut
    assert abs(len(mixed) - len(plain)) < 0.1 * len(plain)  # the same number of questions, shared differently


def test_a_bad_question_mix_is_refused_in_one_line():
    from tunebench.data.commands import parse_mix
    from tunebench.data.shapes.questions import question_mix

    with pytest.raises(DataError, match="unknown question type 'colour'"):
        question_mix({"colour": 1})
    with pytest.raises(DataError, match="weights must be >= 0"):
        question_mix({"count": -1})
    with pytest.raises(DataError, match="every question-mix weight is 0"):
        question_mix(dict.fromkeys(QTYPES, 0))
    with pytest.raises(DataError, match="TYPE=WEIGHT"):
        parse_mix(["exist_shape:2"])
    assert parse_mix(["exist_shape=2", "count=0.5"]) == {"exist_shape": 2.0, "count": 0.5}
    with pytest.raises(DataError, match="unknown question type"):
        ShapesConfig(Path("x"), question_mix={"nope": 1}).check()


def test_questions_per_image_packs_more_supervision_into_each_image_record():
    from tunebench.data.shapes.trainsets import instruct_records

    scenes = sample_scenes(2, "train", 120, 224, max_objects=2)

    def qa_records(per_image: int) -> list[dict]:
        return [r for r in instruct_records(scenes, "train", True, 2, per_image) if "skills" in r]

    four, twelve = qa_records(4), qa_records(12)
    assert sum(len(r["skills"]) for r in twelve) > 2 * sum(len(r["skills"]) for r in four)
    assert 4 < max(len(r["skills"]) for r in twelve) <= 12  # packed past the old 4-turn cap, up to per_image
    def turns_per_record(records: list[dict]) -> float:
        return sum(len(r["skills"]) for r in records) / len(records)

    assert turns_per_record(twelve) > 2 * turns_per_record(four)  # longer records: one image, many questions
    with pytest.raises(DataError, match="--questions-per-image"):
        ShapesConfig(Path("x"), questions_per_image=0).check()
