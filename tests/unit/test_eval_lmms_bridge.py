"""The lmms-eval model "tunebench", driven with Instance-shaped requests (lmms-eval itself is optional)."""

from __future__ import annotations

import abc
import importlib
import importlib.util
import json
import sys
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.helpers.tiny_world import make_world, tiny_eval_vlm
from tunebench.core.errors import DataError, UserError
from tunebench.data.records import IMAGE_TOKEN, Turn
from tunebench.evaluation import lmms_bridge, lmms_plugin
from tunebench.evaluation.engine import answer_ids, predict
from tunebench.evaluation.lmms_bridge import TunebenchLMM, parse_model_args
from tunebench.evaluation.lmms_tasks import doc_to_visual, write_tasks
from tunebench.evaluation.tasks import get_task, load_task_records
from tunebench.models.batching import pad_batch
from tunebench.models.checkpoint import save_run
from tunebench.models.features import open_image
from tunebench.models.prompting import apply_template

SEEDS = {"llava": 3, "minigpt4": 3}  # tiny models that answer POPE both ways (see test_eval_batch_invariance)


@dataclass
class Request:
    """What the bridge reads of lmms-eval's `Instance`: `.args`."""

    args: tuple


pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lmms")
    make_world(root / "world", train=2, test=6)
    return root


@pytest.fixture(autouse=True)
def cache(root, monkeypatch):
    monkeypatch.setenv("TUNEBENCH_CACHE", str(root / "cache"))


@pytest.fixture(scope="module", params=["llava", "minigpt4"])
def run_dir(request, root) -> Path:
    mp = pytest.MonkeyPatch()
    mp.setenv("TUNEBENCH_CACHE", str(root / "cache"))
    out = root / f"run-{request.param}"
    save_run(tiny_eval_vlm(root / "parts", request.param, seed=SEEDS[request.param]), out, llm_trained=True)
    mp.undo()
    return out


def bridge(run_dir: Path, batch_size: int, records) -> TunebenchLMM:
    lm = TunebenchLMM.create_from_arg_string(f"run={run_dir},batch_size={batch_size}",
                                             {"batch_size": 1, "max_batch_size": None, "device": None})
    lm.task_dict = {"shapes": {"test": [{"image": open_image(r.image), "question": r.question} for r in records]}}
    return lm


def visual(doc: dict) -> list:
    return [doc["image"]]


def generate_requests(task, records, **gen_kwargs: Any) -> list[Request]:
    return [Request((task.question(r), dict(gen_kwargs), visual, i, "shapes", "test")) for i, r in enumerate(records)]


def test_generate_until_answers_like_tunebench_eval_at_any_batch_size(root, run_dir):
    task = get_task("vqav2")
    records = load_task_records(task, [root / "world"])
    lm = bridge(run_dir, 16, records)
    assert lm.batch_size == 16  # --model_args win over lmms-eval's CLI default
    want = {p.record.id: p.raw for p in predict(lm.model, task, records, batch_size=16)}
    got = lm.generate_until(generate_requests(task, records, max_new_tokens=task.max_new_tokens))
    assert got == [want[r.id] for r in records]
    assert len(set(got)) > 1
    assert bridge(run_dir, 1, records).generate_until(generate_requests(task, records, max_new_tokens=12)) == got


def test_requests_are_answered_in_order_across_windows(root, run_dir, monkeypatch):
    task = get_task("vqav2")
    records = load_task_records(task, [root / "world"])[:12]
    lm = bridge(run_dir, 4, records)
    whole = lm.generate_until(generate_requests(task, records))
    monkeypatch.setattr(lmms_bridge, "WINDOW", 5)
    assert lm.generate_until(generate_requests(task, records)) == whole


def test_each_image_is_prefilled_once_for_all_its_requests(root, run_dir, monkeypatch):
    task = get_task("pope")
    records = load_task_records(task, [root / "world"])[:24]
    images = len({r.image for r in records})
    lm = bridge(run_dir, 4, records)
    prefilled: list = []
    prefix_kv = lm.model.prefix_kv
    monkeypatch.setattr(lm.model, "prefix_kv", lambda ids, feats: prefilled.extend(ids) or prefix_kv(ids, feats))
    lm.generate_until(generate_requests(task, records))
    assert len(prefilled) == images < len(records)
    prefilled.clear()
    lm.loglikelihood([Request((task.question(r), "Yes", visual, i, "shapes", "test")) for i, r in enumerate(records)])
    assert len(prefilled) == images


def whole_prompt_loss(lm: TunebenchLMM, question: str, image, continuation: str) -> float:
    """-log p(continuation | image, question) per continuation token, from one forward pass over the whole
    prompt (no shared prefix)."""
    model = lm.model
    ids = model.encode([Turn("human", f"{IMAGE_TOKEN}\n{question}")], for_generation=True)["input_ids"]
    cont = answer_ids(model, continuation)
    example = {"input_ids": ids + cont, "frozen_features": lm._frozen_features([image])[0]}
    batch = pad_batch([example], model.tokenizer.pad_token_id)
    with torch.inference_mode():
        logprobs = model.logits(batch)[0, -len(cont) - 1 : -1].log_softmax(-1)
    return -float(logprobs.gather(-1, torch.tensor(cont)[:, None]).sum()) / len(cont)


@pytest.mark.parametrize("template", ["model's own", "plain"])
def test_loglikelihood_is_the_loss_of_a_whole_prompt_forward_pass(root, run_dir, template):
    task = get_task("pope")
    records = load_task_records(task, [root / "world"])[:8]
    lm = bridge(run_dir, 4, records)
    if template == "plain":  # LLaVA's stage-1 template: the prompt ends on the image, nothing to share
        apply_template(lm.model.tokenizer, "plain")
        lm.model.cfg.template = "plain"
        ids = lm.model.encode([Turn("human", f"{IMAGE_TOKEN}\nq")], for_generation=True)["input_ids"]
        assert ids[-1] == lm.model.image_token_id
    answers = ["Yes", "No", "a small red square"]  # continuations of different lengths in one batch
    requests = [Request((task.question(r), answers[i % 3], visual, i, "shapes", "test")) for i, r in enumerate(records)]
    got = [loss for loss, _ in lm.loglikelihood(requests)]
    want = [whole_prompt_loss(lm, task.question(r), open_image(r.image), answers[i % 3])
            for i, r in enumerate(records)]
    assert got == pytest.approx(want, abs=1e-4)


def test_until_and_max_new_tokens_cut_the_answer(root, run_dir):
    task = get_task("vqav2")
    records = load_task_records(task, [root / "world"])[:8]
    lm = bridge(run_dir, 4, records)
    full = lm.generate_until(generate_requests(task, records, max_new_tokens=12))
    short = lm.generate_until(generate_requests(task, records, max_new_tokens=3))
    # the tiny tokenizer decodes its (character) tokens joined by spaces
    assert all(f.startswith(s) and len(s.split()) <= 3 for s, f in zip(short, full, strict=True))
    assert short != full
    stop = next(f for f in full if len(f.split()) >= 3).split()[1]
    cut = lm.generate_until(generate_requests(task, records, max_new_tokens=12, until=["@@", stop]))
    assert cut == [f.split(stop)[0].strip() for f in full] != full


def test_loglikelihood_ranks_answers_like_tunebench_eval(root, run_dir):
    task = get_task("pope")
    records = load_task_records(task, [root / "world"])[:24]
    requests = []
    for i, r in enumerate(records):
        requests.append(Request((task.question(r), "Yes", visual, i, "shapes", "test")))
        requests.append(Request((task.question(r), lambda doc: " No ", visual, i, "shapes", "test")))
    lm = bridge(run_dir, 16, records)
    scores = lm.loglikelihood(requests)
    assert all(isinstance(loss, float) and loss > 0 and isinstance(greedy, bool) for loss, greedy in scores)
    # tunebench eval ranks by the summed log p; the loss is its mean over the candidate's tokens
    yes, no = (len(answer_ids(lm.model, c)) for c in ("Yes", "No"))
    picked = ["Yes" if scores[2 * i][0] * yes < scores[2 * i + 1][0] * no else "No" for i in range(len(records))]
    want = {p.record.id: p.raw for p in predict(lm.model, task, records, batch_size=16, scoring="likelihood")}
    assert picked == [want[r.id] for r in records]
    assert len(set(picked)) == 2
    alone = bridge(run_dir, 1, records).loglikelihood(requests)
    assert [g for _, g in alone] == [g for _, g in scores]
    assert [lp for lp, _ in alone] == pytest.approx([lp for lp, _ in scores], abs=1e-5)


def test_is_greedy_says_whether_greedy_decoding_starts_with_the_continuation(root, run_dir):
    task = get_task("vqav2")
    records = load_task_records(task, [root / "world"])[:8]
    lm = bridge(run_dir, 8, records)
    first = lm.generate_until(generate_requests(task, records, max_new_tokens=1))  # one (character) token
    requests, expected = [], []
    for i, (record, token) in enumerate(zip(records, first, strict=True)):
        if len(token) != 1:  # whitespace or a word token: not a one-character answer
            continue
        for answer in (token, "Z" if token != "Z" else "Q"):
            requests.append(Request((task.question(record), answer, visual, i, "shapes", "test")))
            expected.append(answer == token)
    assert sum(expected) >= 3
    assert [greedy for _, greedy in lm.loglikelihood(requests)] == expected


def test_user_errors_end_the_process_with_one_line(root, run_dir, tmp_path):
    """Inside lmms-eval a DataError would become a traceback and exit status 0; SystemExit passes through."""
    records = load_task_records(get_task("pope"), [root / "world"])[:1]
    lm = bridge(run_dir, 4, records)
    with pytest.raises(SystemExit, match=r"^error: shapes doc 0: 2 visuals .*one image per prompt"):
        lm.generate_until([Request(("q", {}, lambda doc: [doc["image"]] * 2, 0, "shapes", "test"))])
    with pytest.raises(SystemExit, match="no document 5"):
        lm.generate_until([Request(("q", {}, visual, 5, "shapes", "test"))])
    with pytest.raises(SystemExit, match=r"^error: .*nowhere"):
        TunebenchLMM.create_from_arg_string(f"run={tmp_path / 'nowhere'}")


def test_a_missing_image_names_the_file_and_the_sample(root, run_dir, tmp_path):
    task = get_task("pope")
    records = load_task_records(task, [root / "world"])[:2]
    names = write_tasks({"pope": records}, tmp_path / "tasks")
    assert names == ["tunebench_pope", "tunebench_pope_choice"]
    docs = [json.loads(line) for line in (tmp_path / "tasks" / "tunebench_pope.jsonl").read_text().splitlines()]
    assert doc_to_visual(docs[0])[0].size == open_image(records[0].image).size
    missing = {**docs[0], "image": "images/test/gone.png"}
    lm = bridge(run_dir, 4, records)
    lm.task_dict = {"pope": {"test": [missing]}}
    with pytest.raises(SystemExit, match=rf"^error: sample {records[0].id}: image not found: 'images/test/gone.png'"):
        lm.generate_until([Request((task.question(records[0]), {}, doc_to_visual, 0, "pope", "test"))])
    with pytest.raises(DataError, match="leave the image folder"):
        doc_to_visual({**docs[0], "image": "../outside.png"})


def test_model_args_parsing():
    assert parse_model_args("run=/a/b, batch_size=16,flag=true,x=0.5") == {
        "run": "/a/b", "batch_size": 16, "flag": True, "x": 0.5}
    with pytest.raises(UserError, match="key=value"):
        parse_model_args("run")


def test_imports_without_lmms_eval_on_a_stand_in_of_the_same_interface():
    installed = importlib.util.find_spec("lmms_eval") is not None
    assert lmms_bridge.HAVE_LMMS_EVAL is installed
    if not installed:
        assert issubclass(TunebenchLMM, lmms_bridge._StandInLMM)
        for name in ("loglikelihood", "generate_until", "generate_until_multi_round"):
            assert name in lmms_bridge._StandInLMM.__abstractmethods__ and callable(getattr(TunebenchLMM, name))
        assert not TunebenchLMM.__abstractmethods__


def fake_lmms_eval() -> dict[str, types.ModuleType]:
    """The three lmms-eval modules the bridge touches, as in 0.7: base class, registry, manifests."""
    modules = {name: types.ModuleType(name) for name in (
        "lmms_eval", "lmms_eval.api", "lmms_eval.api.model", "lmms_eval.api.registry", "lmms_eval.models",
        "lmms_eval.models.registry_v2")}

    class lmms(abc.ABC):  # lmms-eval's name
        def __init__(self) -> None:
            self.task_dict, self.cache_hook = {}, None

        @abc.abstractmethod
        def generate_until(self, requests): ...

    registry: dict[str, type] = {}

    def register_model(*names):
        def decorate(cls):
            assert issubclass(cls, lmms)
            registry.update(dict.fromkeys(names, cls))
            return cls
        return decorate

    @dataclass(frozen=True)
    class ModelManifest:
        model_id: str
        simple_class_path: str | None = None
        chat_class_path: str | None = None

    modules["lmms_eval.api.model"].lmms = lmms
    modules["lmms_eval.api.registry"].register_model = register_model
    modules["lmms_eval.api.registry"].MODEL_REGISTRY = registry
    modules["lmms_eval.models.registry_v2"].ModelManifest = ModelManifest
    return modules


def test_with_lmms_eval_the_class_registers_as_tunebench(monkeypatch):
    modules = fake_lmms_eval()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("lmms_bridge_under_lmms_eval", lmms_bridge.__file__)
    copy = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, copy)
    spec.loader.exec_module(copy)
    assert copy.HAVE_LMMS_EVAL
    assert modules["lmms_eval.api.registry"].MODEL_REGISTRY["tunebench"] is copy.TunebenchLMM
    assert issubclass(copy.TunebenchLMM, modules["lmms_eval.api.model"].lmms)
    entry = lmms_plugin.manifest()
    assert (entry.model_id, entry.chat_class_path) == ("tunebench", None)
    module_name, _, cls_name = entry.simple_class_path.rpartition(".")
    assert getattr(importlib.import_module(module_name), cls_name) is TunebenchLMM


def test_pyproject_declares_the_entry_point():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    target = pyproject["project"]["entry-points"]["lmms_eval.models"]["tunebench"]
    module_name, _, attr = target.partition(":")
    assert getattr(importlib.import_module(module_name), attr) is lmms_plugin.manifest
    assert "lmms-eval" in " ".join(pyproject["project"]["optional-dependencies"]["lmms"])


def test_a_torchvision_that_cannot_be_imported_is_named_in_one_line(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "torchvision" else None)

    def broken(name):
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ImportError, match=r"^torchvision \S+ cannot be imported beside torch .*nms.*pip uninstall"):
        lmms_plugin.manifest()
