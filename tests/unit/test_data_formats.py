"""Readers of the public formats on hand-written fixtures, and the Shapes writers against them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tunebench.core.errors import DataError, UserError
from tunebench.core.io import read_json, read_jsonl
from tunebench.data.formats.ccsbu import load_ccsbu
from tunebench.data.formats.gqa import load_gqa
from tunebench.data.formats.llava import load_llava_json
from tunebench.data.formats.mme import load_mme, load_mme_parquet
from tunebench.data.formats.pope import load_pope
from tunebench.data.formats.vqav2 import load_vqav2
from tunebench.data.shapes.generate import ShapesConfig, generate
from tunebench.evaluation.tasks import get_task, load_task_records

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats"
EXTRA_FIELDS = {"skill"}  # ours only; real files do not have it


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("formats") / "world"
    generate(ShapesConfig(out, seed=5, train=10, test=16, workers=1))
    return out


def signature(value: Any) -> Any:
    """Field names, nesting and types; an empty list, empty object or null matches anything."""
    if isinstance(value, dict) and not value:
        return None
    if isinstance(value, dict):
        return {k: signature(v) for k, v in value.items() if k not in EXTRA_FIELDS}
    if isinstance(value, list):
        return [signature(value[0])] if value else None
    return None if value is None else type(value).__name__


def same_layout(ours: Any, real: Any, where: str = "") -> None:
    if ours is None or real is None:
        return
    assert type(ours) is type(real), f"{where}: {ours!r} vs {real!r}"
    if isinstance(real, dict):
        assert set(ours) == set(real), f"{where}: keys {sorted(ours)} vs {sorted(real)}"
        for key in real:
            same_layout(ours[key], real[key], f"{where}.{key}")
    elif isinstance(real, list):
        same_layout(ours[0], real[0], f"{where}[0]")
    else:
        assert ours == real, f"{where}: {ours} vs {real}"


def test_vqav2_fixture_reads_with_ten_answers():
    folder = FIXTURES / "vqav2"
    records = load_vqav2(folder / "v2_OpenEnded_mscoco_val2014_questions.json",
                         folder / "v2_mscoco_val2014_annotations.json", image_folder=Path("/coco/val2014"))
    assert [r.id for r in records] == ["262148000", "262148001", "393225000", "393225001"]
    first = records[0]
    assert len(first.answers) == 10 and first.answers.count("down") == 7
    assert first.image == "/coco/val2014/COCO_val2014_000000262148.jpg"
    assert first.meta["answer_type"] == "other" and first.meta["split"] == "val2014"
    assert first.skill is None and first.task == "vqav2"
    questions_only = load_vqav2(folder / "v2_OpenEnded_mscoco_val2014_questions.json")
    assert questions_only[3].answers == () and questions_only[3].question == "How many spoons are there?"


def test_vqav2_writer_matches_the_real_layout(shapes_dir):
    ours_q = next((shapes_dir / "eval" / "vqav2").glob("*_questions.json"))
    ours_a = next((shapes_dir / "eval" / "vqav2").glob("*_annotations.json"))
    real = FIXTURES / "vqav2"
    same_layout(signature(read_json(ours_q)), signature(read_json(real / "v2_OpenEnded_mscoco_val2014_questions.json")))
    same_layout(signature(read_json(ours_a)), signature(read_json(real / "v2_mscoco_val2014_annotations.json")))
    records = load_vqav2(ours_q, ours_a, shapes_dir / "images" / "test")
    assert all(Path(r.image).is_file() for r in records)
    assert all(len(r.answers) == 10 and r.meta["answer_type"] in ("yes/no", "number", "other") for r in records)
    assert {r.meta["skill"] for r in records} >= {"color", "count", "spatial"}


def test_vqav2_answers_include_synonyms():
    import random

    from tunebench.data.shapes.select import human_answers

    rng = random.Random(0)
    sets = [human_answers("gray", rng) for _ in range(30)]
    assert any("grey" in s for s in sets)
    assert all(len(s) == 10 and s.count("gray") > 5 for s in sets)


def test_gqa_fixture_and_writer(shapes_dir):
    real_path = FIXTURES / "gqa" / "testdev_balanced_questions.json"
    real = load_gqa(real_path, image_folder=Path("/gqa/images"))
    assert real[0].id == "20968379" and real[0].answers == ("white",)
    assert real[0].image == "/gqa/images/n288870.jpg"
    assert real[1].meta["structural"] == "verify" and real[1].meta["semantic"] == "rel"
    ours_path = shapes_dir / "eval" / "gqa" / "testdev_balanced_questions.json"
    ours_doc, real_doc = read_json(ours_path), read_json(real_path)
    same_layout(signature(next(iter(ours_doc.values()))), signature(next(iter(real_doc.values()))))
    ours = load_gqa(ours_path, shapes_dir / "images" / "test")
    assert all(Path(r.image).is_file() and r.meta["full_answer"] for r in ours)
    assert {r.meta["structural"] for r in ours} == {"verify", "query", "choose", "logical", "compare"}


def test_pope_fixture_and_writer(shapes_dir):
    real = load_pope(FIXTURES / "pope" / "coco_pope_adversarial.json", image_folder=Path("/coco"))
    assert [r.answers for r in real] == [("yes",), ("no",), ("yes",), ("no",)]
    assert real[0].meta["split"] == "adversarial" and real[0].image == "/coco/COCO_val2014_000000310196.jpg"
    ours_rows = read_jsonl(shapes_dir / "eval" / "pope" / "coco_pope_popular.json")
    same_layout(signature(ours_rows[0]), signature(read_jsonl(FIXTURES / "pope" / "coco_pope_adversarial.json")[0]))
    ours = load_pope(shapes_dir / "eval" / "pope" / "coco_pope_popular.json", shapes_dir / "images" / "test")
    assert all(Path(r.image).is_file() for r in ours) and ours[0].meta["split"] == "popular"
    with pytest.raises(DataError, match="split"):
        load_pope(FIXTURES / "llava" / "llava_v1_5_mix_sample.json")


def test_mme_release_fixture_reads_flat_and_split_layouts():
    records = load_mme(FIXTURES / "mme" / "MME_Benchmark")
    assert [r.id for r in records] == ["artwork/10002.jpg#0", "artwork/10002.jpg#1",
                                       "existence/000000006040.jpg#0", "existence/000000006040.jpg#1"]
    assert [r.answers[0] for r in records] == ["yes", "no", "yes", "no"]
    assert records[2].meta == {"subtask": "existence", "image": "existence/000000006040.jpg", "skill": "existence"}
    assert "skill" not in records[0].meta
    assert all(Path(r.image).is_file() for r in records)


def _parquet_from(records, path: Path) -> None:
    rows = {"question_id": [], "image": [], "question": [], "answer": [], "category": []}
    for record in records:
        rows["question_id"].append(record.meta["image"])
        rows["image"].append({"bytes": Path(record.image).read_bytes(), "path": Path(record.image).name})
        rows["question"].append(record.question)
        rows["answer"].append(record.answers[0].capitalize())
        rows["category"].append(record.meta["subtask"])
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({k: pa.array(v, type=image_type if k == "image" else pa.string()) for k, v in rows.items()})
    pq.write_table(table, path)


def test_mme_lmms_lab_parquet_gives_the_same_records(tmp_path):
    release = load_mme(FIXTURES / "mme" / "MME_Benchmark")
    _parquet_from(release, tmp_path / "test-00000-of-00001.parquet")
    images = tmp_path / "images"
    parquet = load_mme_parquet(tmp_path, images)
    assert sorted((r.id, r.question, r.answers, r.meta["image"]) for r in parquet) == \
        sorted((r.id, r.question, r.answers, r.meta["image"]) for r in release)
    for record in parquet:
        original = next(r for r in release if r.id == record.id)
        assert Path(record.image).read_bytes() == Path(original.image).read_bytes()
        assert Path(record.image).is_relative_to(images)
    again = load_mme_parquet(tmp_path / "test-00000-of-00001.parquet", images)
    assert [r.id for r in again] == [r.id for r in parquet]


def test_mme_parquet_without_the_columns_is_refused(tmp_path):
    pq.write_table(pa.table({"question": ["q"]}), tmp_path / "x.parquet")
    with pytest.raises(DataError, match="missing columns"):
        load_mme_parquet(tmp_path / "x.parquet", tmp_path / "img")


def test_llava_fixtures_read():
    mix = load_llava_json(FIXTURES / "llava" / "llava_v1_5_mix_sample.json", image_folder=Path("/data"))
    assert mix[0].image == "/data/coco/train2017/000000033471.jpg" and len(mix[0].turns) == 4
    assert mix[1].image is None and mix[1].turns[0].role == "human"
    plain = load_llava_json(FIXTURES / "llava" / "blip_laion_cc_sbu_sample.json")
    assert plain[0].question == "Render a clear and concise summary of the photo."


def test_llava_reader_stops_at_the_first_schema_problem(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[{"id": "a", "conversations": [{"from": "gpt", "value": "x"}]}]')
    with pytest.raises(DataError, match=r"record 0 \(id 'a'\) conversations\[0\]\.from"):
        load_llava_json(path)


def test_ccsbu_fixture_and_writer(shapes_dir):
    real = load_ccsbu(FIXTURES / "cc_sbu_align")
    assert [r.id for r in real] == ["2", "3"] and all(Path(r.image).is_file() for r in real)
    assert real[0].turns[1].text.startswith("The image shows a man fishing")
    root = shapes_dir / "train" / "cc_sbu_align"
    real_doc = read_json(FIXTURES / "cc_sbu_align" / "filter_cap.json")
    same_layout(signature(read_json(root / "filter_cap.json")), signature(real_doc))
    ours = load_ccsbu(root)
    assert len(ours) == 10
    for record in ours:
        assert Path(record.image).read_bytes()[:3] == b"\xff\xd8\xff"  # a real JPEG, as the .jpg name says


def test_manifest_loader_reads_every_eval_task(shapes_dir):
    for task in ("vqav2", "gqa", "mme", "pope"):
        records = load_task_records(get_task(task), [shapes_dir])
        assert records and all(r.task == task and r.answers and Path(r.image).is_file() for r in records)
    with pytest.raises(UserError, match="unknown task 'textvqa'"):
        get_task("textvqa")


@pytest.mark.parametrize("content, message", [
    ('{"questions": [', "invalid JSON"),
    ('{"data_subtype": "val2014", "questions": [{"image_id": 1, "question": "q"}]}', "question_id"),
    ('{"data_subtype": "val2014", "questions": [{"image_id": "1", "question": "q", "question_id": 2}]}',
     "must be int"),
])
def test_vqav2_reader_reports_malformed_files(tmp_path, content, message):
    path = tmp_path / "q.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_vqav2(path)
