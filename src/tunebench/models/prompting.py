"""Conversations -> token ids and labels, through a chat template, supervising only assistant tokens.

Every template is a Jinja chat template, so the tokenizer's own template (the default) and the
reference templates (LLaVA `vicuna_v1`, MiniGPT-4, LLaVA stage-1 `plain`) go through one code path.
Masking is derived by rendering growing prefixes of the conversation; if a rendered prefix is not a
prefix of the whole rendered conversation, the template and the masking disagree, and we raise instead
of silently training on nothing (the "tokenization mismatch" failure LLaVA users hit).
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

from tunebench.core.errors import DataError
from tunebench.data.records import IMAGE_TOKEN, Turn

IGNORE_INDEX = -100

# The reference code starts every sequence with the tokenizer's BOS token (LLaMA's tokenizer adds it), so the
# templates do too: without it the first image token has to double as the attention sink (docs/decisions.md).
BOS = "{{ bos_token or '' }}"
VICUNA_V1 = (
    BOS + "{{ 'A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user\\'s questions.' }}"
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ ' USER: ' + m['content'] }}"
    "{% else %}{{ ' ASSISTANT: ' + m['content'] + eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ ' ASSISTANT:' }}{% endif %}"
)
MINIGPT4 = (
    BOS + "{% for m in messages %}{% if m['role'] == 'user' %}"
    "{{ '###Human: ' + m['content'].replace('<image>\\n', '<image>').replace('<image>', '<Img><image></Img> ') + ' ' }}"
    "{% else %}{{ '###Assistant: ' + m['content'] + '###' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '###Assistant: ' }}{% endif %}"
)
# LLaVA stage-1 "plain": the image, then the caption; the human text is dropped.
PLAIN = (
    BOS + "{% for m in messages %}{% if m['role'] == 'user' %}{{ '<image>' }}"
    "{% else %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}"
)
TEMPLATES = {"vicuna_v1": VICUNA_V1, "minigpt4": MINIGPT4, "plain": PLAIN}
# Text that ends an answer in templates whose end marker is not the tokenizer's EOS token.
STOP_STRINGS = {"minigpt4": "###"}


def apply_template(tokenizer: PreTrainedTokenizerBase, template: str) -> None:
    """Select a template by name: "chat" is the tokenizer's own; others replace it (reversibly)."""
    if not hasattr(tokenizer, "own_chat_template"):
        tokenizer.own_chat_template = tokenizer.chat_template
    if template == "chat":
        if not tokenizer.own_chat_template:
            raise DataError("the tokenizer has no chat template; choose --template vicuna_v1, minigpt4 or plain")
        tokenizer.chat_template = tokenizer.own_chat_template
        return
    if template not in TEMPLATES:
        raise DataError(f"unknown template '{template}' (chat, {', '.join(TEMPLATES)})")
    tokenizer.chat_template = TEMPLATES[template]


def _messages(turns: Sequence[Turn]) -> list[dict[str, str]]:
    return [{"role": "user" if t.role == "human" else "assistant", "content": t.text} for t in turns]


def _render(tokenizer: PreTrainedTokenizerBase, messages: list[dict], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _pieces(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict], record_id: str
) -> list[tuple[str, bool]]:
    """Split the rendered conversation into (text, supervised) pieces at each assistant turn's bounds."""
    full = _render(tokenizer, messages, generation_prompt=messages[-1]["role"] == "user")
    pieces: list[tuple[str, bool]] = []
    cursor = 0
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:i], generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1], generation_prompt=False)
        if not (full.startswith(prompt) and full.startswith(through) and cursor <= len(prompt) < len(through)):
            raise DataError(
                "tokenization mismatch: the chat template does not render each turn as a prefix of the whole "
                "conversation, so the answer tokens cannot be located and nothing would be supervised",
                where=f"record {record_id}, turn {i}",
            )
        pieces += [(full[cursor : len(prompt)], False), (full[len(prompt) : len(through)], True)]
        cursor = len(through)
    pieces.append((full[cursor:], False))
    return [(text, supervised) for text, supervised in pieces if text]


def encode_chat(
    tokenizer: PreTrainedTokenizerBase,
    turns: Sequence[Turn],
    max_length: int | None = None,
    record_id: str = "?",
) -> tuple[list[int], list[int]]:
    """Token ids of a conversation and labels that keep only the assistant turns' tokens.

    Each piece (prompt, answer, prompt, ...) is tokenized on its own, as the reference implementations do,
    so the prompt tokens at training time equal the prompt tokens at generation time. An answer's
    supervised span ends with the first end-of-sequence token inside it (the model learns to stop);
    template whitespace after that token is not supervised. A conversation that ends with a human turn
    gets the generation prompt appended (nothing supervised): the input for generation and scoring.
    """
    ids: list[int] = []
    labels: list[int] = []
    eos = tokenizer.eos_token_id
    for text, supervised in _pieces(tokenizer, _messages(turns), record_id):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        keep = len(piece)
        if supervised and eos is not None and eos in piece:
            keep = piece.index(eos) + 1
        ids += piece
        labels += piece[:keep] + [IGNORE_INDEX] * (len(piece) - keep) if supervised else [IGNORE_INDEX] * len(piece)
    if max_length is not None and len(ids) > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    return ids, labels


def encode_prompt(tokenizer: PreTrainedTokenizerBase, turns: Sequence[Turn]) -> list[int]:
    """Token ids of a prompt that ends where the assistant's answer begins (for generation/scoring)."""
    if turns[-1].role != "human":
        raise DataError("a prompt must end with a human turn")
    return encode_chat(tokenizer, turns)[0]


def image_after_question(turns: Sequence[Turn]) -> list[Turn]:
    """The conversation with its image placeholder moved behind the text of the human turn that holds it
    ("{question}\n<image>"), so that the image tokens are computed with the question in view."""
    out = []
    for turn in turns:
        if turn.role == "human" and IMAGE_TOKEN in turn.text:
            turn = Turn("human", f"{turn.text.replace(IMAGE_TOKEN, '', 1).strip()}\n{IMAGE_TOKEN}")
        out.append(turn)
    return out


def image_prompt(question: str) -> list[Turn]:
    """A one-image, one-question conversation in LLaVA's layout (image placeholder first)."""
    return [Turn("human", f"{IMAGE_TOKEN}\n{question}")]
