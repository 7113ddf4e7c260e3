"""A fifth benchmark is one new file: a toy task module registers itself, and `tunebench eval`, the blind
baseline, the bench's breakdown and labels, and `tunebench data convert` then all know it."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from tests.helpers.tiny_world import make_world, tiny_eval_vlm
from tunebench.bench.results import breakdown
from tunebench.cli import main
from tunebench.core.errors import UserError
from tunebench.core.io import read_json
from tunebench.data.shapes.baseline import blind_baseline
from tunebench.evaluation import tasks
from tunebench.models.checkpoint import save_run

pytestmark = pytest.mark.usefixtures("one_thread_per_module")

# The whole of the new benchmark: its loader, prompt, metric, breakdown and blind-baseline rule.
TOY_MODULE = '''
import json
from pathlib import Path

from tunebench.data.records import Record, Turn
from tunebench.evaluation.metrics import Metric
from tunebench.evaluation.tasks import Task, expect_inputs, register_task


def load(inputs, image_folder):
    expect_inputs("toy", inputs, 1, 1, "one toy.jsonl")
    rows = [json.loads(line) for line in Path(inputs[0]).read_text().splitlines()]
    return [Record(id=r["id"], image=str(Path(image_folder) / r["image"]), turns=(Turn("human", r["question"]),),
                   answers=(r["answer"],), task="toy", meta={"kind": r["kind"]}) for r in rows]


def aggregate(rows):
    value = 100.0 * sum(r["score"] for r in rows) / len(rows)
    kinds = sorted({r["meta"]["kind"] for r in rows})
    per_kind = {k: 100.0 * sum(r["score"] for r in rows if r["meta"]["kind"] == k)
                / sum(r["meta"]["kind"] == k for r in rows) for k in kinds}
    return {"accuracy": value, "per_kind": per_kind, "headline": {"name": "toy_accuracy", "value": value}}


METRIC = Metric("toy", lambda raw: raw.strip().lower(), lambda parsed, answers, meta: float(parsed == answers[0]),
                aggregate)
TASK = register_task(Task(name="toy", label="Toy accuracy", metric=METRIC, load=load,
                          breakdown=lambda summary: summary["per_kind"], question_type="kind",
                          suffix=" One word."))
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    tasks.task_names()  # the built-in tasks first, so the restored registry keeps them
    monkeypatch.setattr(tasks, "_TASKS", dict(tasks._TASKS))
    (tmp_path / "toy_task.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_task", raising=False)
    importlib.import_module("toy_task")
    world = make_world(tmp_path / "world", train=2, test=3)
    images = sorted((world / "images" / "test").iterdir())
    rows = [{"id": f"t{i}", "image": p.name, "question": "What is drawn?", "answer": ["shapes", "art"][i % 2],
             "kind": ["easy", "hard"][i % 2]} for i, p in enumerate(images * 2)]
    (tmp_path / "toy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_a_toy_task_in_one_new_file_works_everywhere(toy, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(toy / "cache"))
    task = tasks.get_task("toy")
    assert "toy" in tasks.task_names() and tasks.task_label("toy") == "Toy accuracy"
    records = tasks.load_task_records(task, [toy / "toy.jsonl"], toy / "world" / "images" / "test")
    assert len(records) == 6 and task.question(records[0]) == "What is drawn? One word."

    save_run(tiny_eval_vlm(toy / "parts", "llava", seed=1), toy / "run", llm_trained=True)
    main(["eval", str(toy / "run"), "--task", "toy", "--data", str(toy / "toy.jsonl"),
          "--image-folder", str(toy / "world" / "images" / "test"), "--out", str(toy / "out")])
    results = read_json(toy / "out" / "results.json")
    assert results["headline"]["name"] == "toy_accuracy" and results["configs"]["toy"]["metric"] == "toy"
    assert set(breakdown("toy", results["summary"])) == {"easy", "hard"}

    blind = blind_baseline(records, "toy")  # majority answer per kind: "shapes" for easy, "art" for hard
    assert blind["majority_answer"] == {"easy": "shapes", "hard": "art"} and blind["headline"]["value"] == 100.0

    main(["data", "convert", "--from", "toy", str(toy / "toy.jsonl"), "--image-folder",
          str(toy / "world" / "images" / "test"), "--out", str(toy / "toy_llava.json")])
    converted = json.loads((toy / "toy_llava.json").read_text())
    assert converted[0]["conversations"][1] == {"from": "gpt", "value": "shapes"}


def test_a_second_task_of_the_same_name_is_refused(toy):
    clash = tasks.Task(name="toy", label="other", metric=tasks.get_task("toy").metric, load=lambda i, f: [])
    with pytest.raises(ValueError, match="registered already"):
        tasks.register_task(clash)
    with pytest.raises(UserError, match=r"unknown task 'toy2'.*toy"):
        tasks.get_task("toy2")
