"""Every strategy end to end on tiny random models (LLM + sentence embedder): batching, the pipeline, the
files it writes, the fine-tuning path through the shared trainer, user data and CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast, LlamaConfig, LlamaForCausalLM

from tests.tiny import tiny_tokenizer
from tunebench.components import load_llm
from tunebench.core.config import build, override
from tunebench.core.io import sha256_file
from tunebench.data.records import Turn
from tunebench.models.batching import pad_batch
from tunebench.strategies import finetune as ft
from tunebench.strategies import prompts
from tunebench.strategies.config import STRATEGIES, StrategiesConfig
from tunebench.strategies.constrained import cut_value, fill_object
from tunebench.strategies.extraction import format_items
from tunebench.strategies.generation import Generator
from tunebench.strategies.pipeline import run_strategies


def save_tiny_llm(folder: Path, seed: int = 0) -> Path:
    """The shared tiny tokenizer (one token per character) on a tiny Llama with room for long prompts."""
    torch.manual_seed(seed)
    tok = tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def save_tiny_sentence_embedder(folder: Path, seed: int = 0) -> Path:
    """A random 1-layer BERT with mean pooling, saved as a sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    torch.manual_seed(seed)
    bert = folder.parent / f"{folder.name}-bert"
    bert.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz0123456789.,?"]
    (bert / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(bert / "vocab.txt")).save_pretrained(bert)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)).save_pretrained(bert)
    modules = [Transformer(str(bert), max_seq_length=128), Pooling(32, "mean")]
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a small shared CPU two threads wait on each other at every operator."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    return save_tiny_llm(root / "llm"), save_tiny_sentence_embedder(root / "embedder")


def tiny_config(llm: Path, embedder: Path, **changes) -> StrategiesConfig:
    base = {
        "llm": str(llm), "embedder": str(embedder), "precision": "fp32", "generation": {"batch_size": 3,
        "short_tokens": 4, "cot_tokens": 6, "json_tokens": 6, "answer_json_tokens": 6, "latency_probe": 1},
        "world": {"towns": 3, "companies": 3, "people": 4, "products": 3, "changed_facts": 3},
        "sizes": {"knowledge_test": 4, "knowledge_train": 5, "format_test": 3, "format_train": 3},
        "retrieval": {"chunk_words": 12, "overlap_words": 2, "top_k": 2, "recall_ks": [1, 2]},
        "finetune": {"max_steps": 2, "batch_size": 4, "max_length": 4096, "rank": 4, "alpha": 8},
        "few_shot_k": 2, "structured_retries": 1, "bootstrap_resamples": 50,
    }
    return build(StrategiesConfig, {**base, **changes})


@pytest.fixture(scope="module")
def run(parts, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return run_strategies(tiny_config(*parts), out), out


def test_batched_left_padded_generation_equals_one_at_a_time(parts):
    llm = load_llm(str(parts[0]))
    gen = Generator(llm.model, llm.tokenizer, batch_size=3)
    conversations = [prompts.qa_zero_shot(q) for q in ("Who?", "In which town is Korr Works based?", "Why not?")]
    together = gen.answer(conversations, max_new_tokens=6)
    alone = [gen.answer([c], max_new_tokens=6, batch_size=1)[0] for c in conversations]
    assert [g.text for g in together] == [g.text for g in alone]
    assert [g.prompt_tokens for g in together] == [len(gen.encode(c)) for c in conversations]
    assert all(g.batch_size == 3 for g in together) and all(g.new_tokens <= 6 for g in together)
    assert gen.answer([conversations[0]], 4, prefix="{")[0].text.startswith("{")


def test_every_strategy_is_measured_on_every_task(run):
    results, _ = run
    tasks = results["tasks"]
    assert list(tasks["knowledge"]["strategies"]) == list(STRATEGIES)
    assert list(tasks["format"]["strategies"]) == ["zero_shot", "few_shot", "cot", "structured", "finetune"]
    assert list(tasks["freshness"]["strategies"]) == ["zero_shot", "rag", "finetune_rag", "finetune",
                                                      "finetune_rag+retrain"]
    for task, keys in (("knowledge", ("em", "f1")), ("format", ("valid", "em", "f1"))):
        for name, s in tasks[task]["strategies"].items():
            assert s["n"] == len(s["rows"]) == tasks[task]["n_test"]
            for key in keys:
                ci = s["metrics"][key]
                assert 0.0 <= ci["low"] <= ci["mean"] <= ci["high"] <= 1.0, (task, name, key)
            assert s["latency_ms"]["n"] == 1 and s["amortised_ms"]["p95"] > 0 and s["prompt_tokens"]["mean"] > 0
            if name != "zero_shot":
                assert s["vs_zero_shot"]["f1"]["n"] == s["n"]
    knowledge = tasks["knowledge"]["strategies"]
    assert knowledge["structured"]["metrics"]["valid"]["n"] == 4
    for row in tasks["format"]["strategies"]["structured"]["rows"]:  # constrained: keys always right
        assert row["raw"].startswith('{"customer": "') and '"wheelchair_access": ' in row["raw"]
    assert knowledge["rag"]["prompt_tokens"]["mean"] > knowledge["zero_shot"]["prompt_tokens"]["mean"]
    assert all(len(r["retrieved"]) == 2 for r in knowledge["rag"]["rows"])


def test_costs_and_freshness_updates_are_timed(run):
    results, _ = run
    costs = results["costs"]
    for key in ("index_build_s", "example_index_s", "reindex_s", "finetune_train_s", "retrain_s",
                "format_finetune_train_s"):
        assert costs[key] > 0, key
    assert costs["finetune"]["steps"] == 2 and costs["finetune_update"]["examples"] > 0
    fresh = results["tasks"]["freshness"]["strategies"]
    assert fresh["rag"]["update_s"] == costs["reindex_s"] and fresh["finetune"]["update_s"] == costs["retrain_s"]
    assert fresh["finetune_rag"]["update_s"] == costs["reindex_s"]
    assert fresh["finetune_rag+retrain"]["update_s"] == pytest.approx(costs["reindex_s"] + costs["retrain_s"])
    assert fresh["zero_shot"]["update_s"] is None
    assert fresh["rag"]["before"]["n"] == fresh["rag"]["after"]["n"] == 3
    assert all("stale" in row for row in fresh["rag"]["after"]["rows"])
    knowledge = results["tasks"]["knowledge"]["strategies"]
    assert knowledge["rag"]["one_off_s"] == pytest.approx(costs["index_build_s"] + costs["example_index_s"])
    assert knowledge["finetune"]["one_off_s"] == costs["finetune_train_s"]
    assert knowledge["finetune"]["labelled_examples"] == {"needed": 5, "measured_with": 5}


def test_files_written(run):
    results, out = run
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(results))
    for name, digest in results["data"]["sha256"].items():
        assert sha256_file(out / "data" / f"{name}.jsonl") == digest
    for folder in ("original", "updated"):
        assert (out / "index" / folder / "dense.faiss").is_file() and (out / "index" / folder / "bm25").is_dir()
    for adapter in ("knowledge", "knowledge_updated", "format"):
        assert (out / "adapters" / adapter / "adapter_model.safetensors").is_file()
    rows = (out / "predictions" / "knowledge__rag.jsonl").read_text().splitlines()
    assert len(rows) == 4 and json.loads(rows[0])["id"] == results["tasks"]["knowledge"]["strategies"]["rag"][
        "rows"][0]["id"]
    assert results["environment"]["versions"]["faiss-cpu"] != "not installed"
    assert results["model"]["dtype"] == "fp32" and results["config"]["seed"] == 0
    assert results["precision"]["precision"] == "fp32" and results["precision"]["cpu_capability"]


def test_lora_training_through_the_shared_trainer_lowers_the_loss(parts):
    llm = load_llm(str(parts[0]))
    train, _ = format_items(4, 0, seed=0)
    examples = ft.encode_examples(llm.tokenizer, ft.format_conversations(train), max_length=4096)
    assert len(examples) == 4 and all(any(label != -100 for label in e["labels"]) for e in examples)
    cfg = override(tiny_config(*parts).finetune, {"max_steps": 20, "lr": 1e-2})
    model = ft.add_lora(llm.model, cfg)
    batch = pad_batch(examples, llm.tokenizer.pad_token_id, side="right")
    with torch.no_grad():
        before, supervised = ft.lm_loss(model, batch)
    assert supervised == sum(sum(label != -100 for label in e["labels"][1:]) for e in examples)
    result = ft.train_adapter(model, llm.tokenizer, examples, cfg, epochs=20, seed=0, run_dir=None, label="t",
                              precision="fp32")
    with torch.no_grad():
        after, _ = ft.lm_loss(model, batch)
    assert result.steps == 20 and float(after) < float(before) - 0.05
    assert not model.training
    assert any(float(p.detach().abs().sum()) > 0 for n, p in model.named_parameters() if "lora_B" in n)
    base = model.unload()
    assert not any("lora" in name for name, _ in base.named_parameters())


def test_answers_cut_away_by_max_length_are_dropped(parts):
    llm = load_llm(str(parts[0]))
    conversation = [Turn("human", "x" * 50), Turn("gpt", "answer")]
    assert ft.encode_examples(llm.tokenizer, [conversation], max_length=20) == []
    assert len(ft.encode_examples(llm.tokenizer, [conversation], max_length=400)) == 1


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_user_corpus_and_questions(parts, tmp_path):
    corpus = _jsonl(tmp_path / "corpus.jsonl", [
        {"id": "a", "title": "Velna", "text": "Velna lies on the Oskar River."},
        {"id": "b", "title": "Korr", "text": "Korr Works makes kettles."},
    ])
    qa = _jsonl(tmp_path / "qa.jsonl", [
        {"id": "t1", "question": "Which river is Velna on?", "answers": ["Oskar River"], "split": "test",
         "doc_ids": ["a"]},
        {"id": "t2", "question": "What does Korr Works make?", "answers": ["kettles"], "split": "test"},
    ])
    cfg = tiny_config(*parts, knowledge_strategies=["zero_shot", "few_shot", "structured", "rag"],
                      format_strategies=["structured"], freshness_strategies=[], structured_mode="retry")
    results = run_strategies(cfg, tmp_path / "out", corpus, qa)
    knowledge = results["tasks"]["knowledge"]
    assert results["data"]["source"] == "user" and "freshness" not in results["tasks"]
    assert list(knowledge["strategies"]) == ["zero_shot", "structured", "rag"] and "few_shot" in knowledge["skipped"]
    format_rows = results["tasks"]["format"]["strategies"]["structured"]["rows"]
    assert all(1 <= row["attempts"] <= 2 for row in knowledge["strategies"]["structured"]["rows"] + format_rows)
    assert results["retrieval"]["hybrid"]["recall@2"]["n"] == 2


def test_cli_reports_a_bad_line_in_one_line(tmp_path, capsys):
    from tunebench.cli import main

    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "title": "T", "text": "x"}\n{"id": "b", "title": 3, "text": "y"}\n')
    qa = _jsonl(tmp_path / "q.jsonl", [{"id": "q", "question": "Q?", "answers": ["a"], "split": "test"}])
    with pytest.raises(SystemExit) as exit_info:
        main(["strategies", "--profile", "smoke", "--out", str(tmp_path / "o"), "--corpus", str(corpus), "--qa",
              str(qa)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "c.jsonl:2: field 'title' must be a non-empty string" in err


@pytest.mark.parametrize(("text", "kind", "value"), [
    ('Mira Olsen", "x": 1', "string", "Mira Olsen"),
    ("Mira \\ Olsen\nand more", "string", "Mira Olsen and more"),
    (" 12 seats", "integer", "12"),
    ("twelve", "integer", ""),
    ("45.50 crowns", "number", "45.50"),
    ("true,", "boolean", "true"),
    ("maybe", "boolean", ""),
])
def test_cut_value_keeps_what_the_type_allows(text, kind, value):
    assert cut_value(text, kind) == value


def test_constrained_decoding_always_writes_the_keys_and_a_boolean_choice(parts):
    llm = load_llm(str(parts[0]))
    gen = Generator(llm.model, llm.tokenizer, batch_size=2)
    fields = {"name": "string", "count": "integer", "ok": "boolean"}
    filled = fill_object(gen, [prompts.fmt_zero_shot("a"), prompts.fmt_zero_shot("bb"), prompts.qa_zero_shot("c")],
                         fields, value_tokens=5)
    for item in filled:
        assert item.text.startswith('{"name": "') and '", "count": ' in item.text
        assert item.text.endswith(('"ok": true}', '"ok": false}')) and item.prompt_tokens > 0 and item.ms > 0
    picks, shares = gen.choose([gen.encode(prompts.qa_zero_shot("x"))], ("yes", "no"))
    assert picks[0] in ("yes", "no") and len(shares) == 1
    assert gen.pick([prompts.qa_zero_shot("x")], ("yes", "no")) == picks  # the same choice, from the conversation
