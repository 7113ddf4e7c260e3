"""Prompt builders for each strategy and the answer extraction that goes with them.

Every builder returns a conversation (a list of `Turn`); few-shot examples are earlier turns of the
same conversation, which is how chat models see demonstrations in their own format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tunebench.data.records import Turn
from tunebench.strategies.chunking import Chunk
from tunebench.strategies.extraction import keys_text

SHORT = "Answer in a few words."
QA_SHAPE = '{"answer": "<the answer in a few words>"}'
_ANSWER_LINE = re.compile(r"answer\s*(?:is)?\s*[:：]\s*(.+)", re.IGNORECASE)
_LEADS = re.compile(r"^(?:the answer is|answer is|answer|a)\s*[:：]?\s+", re.IGNORECASE)


def qa_zero_shot(question: str) -> list[Turn]:
    return [Turn("human", f"{SHORT}\nQuestion: {question}")]


def qa_few_shot(question: str, examples: Sequence[tuple[str, str]]) -> list[Turn]:
    turns: list[Turn] = []
    for example_question, example_answer in examples:
        turns += [*qa_zero_shot(example_question), Turn("gpt", example_answer)]
    return turns + qa_zero_shot(question)


def qa_cot(question: str) -> list[Turn]:
    return [Turn("human", f"Question: {question}\nThink step by step. Then write the final answer on its own "
                          "last line, starting with 'Answer:'.")]


def qa_structured(question: str) -> list[Turn]:
    return [Turn("human", f"Question: {question}\nReply with only a JSON object of this form: {QA_SHAPE}")]


def passages_text(chunks: Sequence[Chunk]) -> str:
    return "\n".join(f"[{i}] {c.title}: {c.text}" for i, c in enumerate(chunks, start=1))


def _rag_question(question: str, chunks: Sequence[Chunk]) -> str:
    return (f"Passages:\n{passages_text(chunks)}\n\nUsing the passages, answer the question. {SHORT}\n"
            f"Question: {question}")


def qa_rag(question: str, chunks: Sequence[Chunk],
           demos: Sequence[tuple[str, Sequence[Chunk], str]] = ()) -> list[Turn]:
    """Retrieved passages then the question; optional worked examples (their own passages + short answer)
    come first, because a small model otherwise tends to answer in a full sentence."""
    turns: list[Turn] = []
    for demo_question, demo_chunks, demo_answer in demos:
        turns += [Turn("human", _rag_question(demo_question, demo_chunks)), Turn("gpt", demo_answer)]
    return [*turns, Turn("human", _rag_question(question, chunks))]


def fmt_instruction() -> str:
    return (f"Extract the booking from the message as a JSON object with exactly these keys: {keys_text()}. "
            "Reply with only the JSON object.")


def fmt_zero_shot(text: str) -> list[Turn]:
    return [Turn("human", f"{fmt_instruction()}\nMessage: {text}")]


def fmt_few_shot(text: str, examples: Sequence[tuple[str, str]]) -> list[Turn]:
    turns: list[Turn] = []
    for example_text, example_json in examples:
        turns += [*fmt_zero_shot(example_text), Turn("gpt", example_json)]
    return turns + fmt_zero_shot(text)


def fmt_cot(text: str) -> list[Turn]:
    return [Turn("human", f"{fmt_instruction()}\nFirst note each key's value from the message, one per line. "
                          f"Then write the JSON object on the last line.\nMessage: {text}")]


def fmt_structured(text: str, shape: str) -> list[Turn]:
    return [Turn("human", f"Extract the booking from the message. Reply with only a JSON object of this form: "
                          f"{shape}\nMessage: {text}")]


def retry_turns(turns: Sequence[Turn], reply: str, error: str) -> list[Turn]:
    """Ask again, showing the model its invalid reply and what was wrong with it."""
    return [*turns, Turn("gpt", reply), Turn("human", f"That reply is not valid: {error}. "
                                                      "Reply with only the corrected JSON object.")]


def short_answer(text: str) -> str:
    """The answer span of a short reply: first non-empty line, lead-ins and trailing period removed."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = _LEADS.sub("", lines[0]).strip().strip('"').strip("*").strip()
    return line[:-1] if line.endswith(".") else line


def cot_answer(text: str) -> str:
    """The final answer of a chain of thought: after the last 'Answer:', else the last non-empty line."""
    matches = _ANSWER_LINE.findall(text)
    if matches:
        return short_answer(matches[-1])
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return short_answer(lines[-1]) if lines else ""
