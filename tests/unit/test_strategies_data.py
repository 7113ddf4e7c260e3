"""Generated tasks (world, documents, questions, freshness, format) and the user's own files."""

from __future__ import annotations

import json

import pytest

from tunebench.core.errors import DataError
from tunebench.evaluation.metrics.squad import normalize_answer
from tunebench.strategies.config import WorldConfig
from tunebench.strategies.extraction import Booking, format_items, shape_text
from tunebench.strategies.tasks import CHANGEABLE, knowledge_task
from tunebench.strategies.userdata import load_corpus, user_task

WORLD = WorldConfig(towns=5, companies=5, people=8, products=5, changed_facts=6)


def _task(seed: int = 0):
    return knowledge_task(WORLD, n_test=20, n_train=25, seed=seed)


def test_same_seed_same_task_other_seed_other_task():
    a, b, c = _task(0), _task(0), _task(1)
    assert a.docs == b.docs and a.test == b.test and a.fresh == b.fresh and a.updated_docs == b.updated_docs
    assert a.docs != c.docs


def test_splits_are_disjoint_and_every_answer_is_in_its_source_documents():
    task = _task()
    docs = {d.id: d for d in task.docs}
    assert len(task.test) == 20 and len(task.train) == 25 and len(task.fresh) == 6
    facts = {(q.kind, q.question) for q in task.test}
    assert not facts & {(q.kind, q.question) for q in task.train}
    for q in task.test + task.train:
        text = normalize_answer(" ".join(docs[d].text for d in q.doc_ids))
        assert any(normalize_answer(a) in text for a in q.answers), (q, q.doc_ids)
        if q.kind.startswith("two_hop"):
            assert len(q.doc_ids) == 2


def test_fresh_facts_change_in_the_updated_document_only():
    task = _task()
    old = {d.id: d for d in task.docs}
    new = {d.id: d for d in task.updated_docs}
    assert set(new) <= set(old)
    for q in task.fresh:
        assert q.kind in CHANGEABLE and q.answers != q.stale_answers
        doc = q.doc_ids[0]
        assert normalize_answer(q.answers[0]) in normalize_answer(new[doc].text)
        assert normalize_answer(q.stale_answers[0]) in normalize_answer(old[doc].text)
    # No test or train question asks about a changed fact, and every answer still holds after the update.
    assert not {(q.kind, q.doc_ids) for q in task.fresh} & {(q.kind, q.doc_ids) for q in task.test + task.train}
    after = {**old, **new}
    for q in task.test + task.train:
        text = normalize_answer(" ".join(after[d].text for d in q.doc_ids))
        assert any(normalize_answer(a) in text for a in q.answers), q


def test_format_items_follow_the_schema_and_their_messages_hold_every_value():
    train, test = format_items(5, 7, seed=3)
    assert len(train) == 5 and len(test) == 7
    for item in train + test:
        Booking.model_validate(item.gold)
        assert item.gold["customer"] in item.text and item.gold["event"] in item.text
        assert f"{item.gold['total_price']:.2f}" in item.text
    assert json.loads(train[0].gold_json) == train[0].gold
    assert '"seats": <integer>' in shape_text()


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_user_files_load(tmp_path):
    corpus = _write(tmp_path / "c.jsonl", [{"id": "d1", "title": "Alpha", "text": "Alpha is blue."}])
    qa = _write(tmp_path / "q.jsonl", [
        {"id": "q1", "question": "What colour is Alpha?", "answers": ["blue"], "split": "test", "doc_ids": ["d1"]},
        {"id": "q2", "question": "Is Alpha blue?", "answers": ["yes"], "split": "train"},
    ])
    task = user_task(corpus, qa)
    assert task.source == "user" and [q.id for q in task.test] == ["q1"] and task.test[0].doc_ids == ("d1",)
    assert [q.id for q in task.train] == ["q2"] and not task.fresh


@pytest.mark.parametrize(("rows", "message"), [
    (['{"id": "d1", "title": "A"'], "c.jsonl:1: invalid JSON"),
    ([{"id": "d1", "title": "A", "text": ""}], "c.jsonl:1: field 'text' must be a non-empty string"),
    ([{"id": "d1", "title": "A", "text": "x"}, {"id": "d1", "title": "B", "text": "y"}],
     "c.jsonl:2: field 'id': duplicate id 'd1'"),
    ([["not", "an", "object"]], "c.jsonl:1: each line must be a JSON object"),
])
def test_bad_corpus_lines_name_file_line_and_field(tmp_path, rows, message):
    with pytest.raises(DataError) as err:
        load_corpus(_write(tmp_path / "c.jsonl", rows))
    assert message in err.value.one_line(), err.value.one_line()


@pytest.mark.parametrize(("row", "message"), [
    ({"id": "q", "question": "Q?", "answers": ["a"], "split": "dev"}, "q.jsonl:2: field 'split' must be one of"),
    ({"id": "q", "question": "Q?", "answers": [], "split": "test"}, "q.jsonl:2: field 'answers' must be a non-empty"),
    ({"id": "q", "question": "Q?", "answers": ["a"], "split": "test", "doc_ids": ["nope"]},
     "q.jsonl:2: field 'doc_ids' names unknown document 'nope'"),
    ({"id": "q", "answers": ["a"], "split": "test"}, "q.jsonl:2: field 'question' must be a non-empty string"),
])
def test_bad_qa_lines_name_file_line_and_field(tmp_path, row, message):
    corpus = _write(tmp_path / "c.jsonl", [{"id": "d1", "title": "A", "text": "x"}])
    good = {"id": "q0", "question": "Q?", "answers": ["a"], "split": "test"}
    with pytest.raises(DataError) as err:
        user_task(corpus, _write(tmp_path / "q.jsonl", [good, row]))
    assert message in err.value.one_line(), err.value.one_line()


def test_fresh_questions_need_updates(tmp_path):
    corpus = _write(tmp_path / "c.jsonl", [{"id": "d1", "title": "A", "text": "x"}])
    qa = _write(tmp_path / "q.jsonl", [{"id": "q", "question": "Q?", "answers": ["a"], "split": "test"},
                                       {"id": "f", "question": "Q?", "answers": ["b"], "split": "fresh"}])
    with pytest.raises(DataError, match="--updates"):
        user_task(corpus, qa)
    updates = _write(tmp_path / "u.jsonl", [{"id": "d1", "title": "A", "text": "y"}])
    task = user_task(corpus, qa, updates)
    assert [q.id for q in task.fresh] == ["f"] and task.updated_docs[0].text == "y"
