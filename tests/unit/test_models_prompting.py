"""Only assistant tokens are supervised, for every template; a template that breaks the masking raises."""

from __future__ import annotations

import pytest

from tests.tiny import tiny_tokenizer
from tunebench.core.errors import DataError
from tunebench.data.records import Turn
from tunebench.models.prompting import IGNORE_INDEX, apply_template, encode_chat, encode_prompt

TWO_ROUNDS = [Turn("human", "<image>\nwhat?"), Turn("gpt", "yes"), Turn("human", "and?"), Turn("gpt", "no way")]
CAPTION = [Turn("human", "<image>\nDescribe it."), Turn("gpt", "a red box")]
EOS = "<|im_end|>"

# The exact supervised text of each template (the tiny tokenizer has one token per character).
EXPECTED = {
    "chat": (TWO_ROUNDS, ["yes" + EOS, "no way" + EOS]),
    "vicuna_v1": (TWO_ROUNDS, [" yes" + EOS, " no way" + EOS]),
    "minigpt4": (TWO_ROUNDS, ["yes###", "no way###"]),
    "plain": (CAPTION, ["a red box" + EOS]),
}


def tokenizer_for(template: str):
    tok = tiny_tokenizer()
    apply_template(tok, template)
    return tok


def supervised_spans(tok, ids: list[int], labels: list[int]) -> list[str]:
    spans, current = [], []
    for token, label in zip(ids, labels, strict=True):
        if label != IGNORE_INDEX:
            assert label == token  # labels are the input ids themselves (the shift happens in the loss)
            current.append(token)
        elif current:
            spans.append(current)
            current = []
    if current:
        spans.append(current)
    return ["".join(tok.convert_ids_to_tokens(span)) for span in spans]


@pytest.mark.parametrize("template", sorted(EXPECTED))
def test_only_assistant_tokens_are_supervised(template):
    tok = tokenizer_for(template)
    turns, expected = EXPECTED[template]
    ids, labels = encode_chat(tok, turns, record_id="r")
    assert supervised_spans(tok, ids, labels) == expected
    rendered = tok.apply_chat_template(
        [{"role": "user" if t.role == "human" else "assistant", "content": t.text} for t in turns], tokenize=False)
    assert "".join(tok.convert_ids_to_tokens(ids)) == rendered  # nothing dropped or added by the splitting


@pytest.mark.parametrize("template", ["chat", "vicuna_v1", "minigpt4"])
def test_a_prompt_is_the_training_prefix_and_supervises_nothing_after_the_question(template):
    tok = tokenizer_for(template)
    prompt = encode_prompt(tok, TWO_ROUNDS[:3])
    ids, labels = encode_chat(tok, TWO_ROUNDS, record_id="r")
    assert ids[: len(prompt)] == prompt  # generation sees exactly the tokens training saw before the answer
    assert labels[len(prompt)] != IGNORE_INDEX  # and the answer starts right where the prompt ends
    prompt_ids, prompt_labels = encode_chat(tok, TWO_ROUNDS[:3], record_id="r")
    assert prompt_ids == prompt
    assert supervised_spans(tok, prompt_ids, prompt_labels) == EXPECTED[template][1][:1]  # the earlier answer only


@pytest.mark.parametrize("template", ["vicuna_v1", "minigpt4", "plain"])
def test_reference_templates_start_with_an_unsupervised_bos_token(template):
    tok = tokenizer_for(template)
    ids, labels = encode_chat(tok, EXPECTED[template][0], record_id="r")
    assert tok.bos_token and ids[0] == tok.bos_token_id and labels[0] == IGNORE_INDEX


def test_the_image_placeholder_is_one_token_and_never_supervised():
    for template in EXPECTED:
        tok = tokenizer_for(template)
        image_id = tok.convert_tokens_to_ids("<image>")
        ids, labels = encode_chat(tok, EXPECTED[template][0], record_id="r")
        assert ids.count(image_id) == 1
        assert labels[ids.index(image_id)] == IGNORE_INDEX


@pytest.mark.parametrize("template", [
    "{{ messages|length }}{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}",
    # keeps only the last exchange, as some templates do with a context window
    "{% for m in messages[-2:] %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}",
    # puts a generation prompt before the answer that differs from what the answer turn renders
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ 'Q: ' + m['content'] }}{% else %}{{ ' A= ' + "
    "m['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ ' A: ' }}{% endif %}",
])
def test_tokenization_mismatch_raises_instead_of_supervising_nothing(template):
    tok = tiny_tokenizer()
    tok.chat_template = template
    with pytest.raises(DataError, match="tokenization mismatch") as info:
        encode_chat(tok, TWO_ROUNDS, record_id="rec-7")
    assert "rec-7" in str(info.value)


def test_unknown_or_missing_templates_are_refused():
    with pytest.raises(DataError, match="unknown template"):
        apply_template(tiny_tokenizer(), "alpaca")
    tok = tiny_tokenizer()
    tok.chat_template = None
    with pytest.raises(DataError, match="no chat template"):
        apply_template(tok, "chat")
    with pytest.raises(DataError, match="human turn"):
        encode_prompt(tokenizer_for("chat"), TWO_ROUNDS)
