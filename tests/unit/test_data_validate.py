"""The LLaVA-file validator: each kind of broken input is reported with its record index and field."""

from __future__ import annotations

import json
import logging
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tunebench.core.errors import DataError
from tunebench.data.validate import load_llava_for_training, validate_llava_file

GOOD = {"id": "good", "image": "ok.png",
        "conversations": [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A cat."}]}


def _turns(*pairs: tuple[str, object]) -> list[dict]:
    return [{"from": role, "value": value} for role, value in pairs]


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with almost no data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + \
        chunk(b"IEND", b"")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(images / "ok.png")
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    (images / "bomb.png").write_bytes(_png_header_only(60000, 60000))
    (images / "sub").mkdir()
    (tmp_path / "secret.png").write_bytes((images / "ok.png").read_bytes())
    (images / "link.png").symlink_to(tmp_path / "secret.png")
    (images / "linked_dir").symlink_to(images / "sub", target_is_directory=True)
    Image.new("RGB", (4, 4)).save(images / "sub" / "inner.png")
    return images


def _with(bad: object) -> str:
    return json.dumps([GOOD, bad])


CASES = {
    "record not an object": (_with(["not", "a", "dict"]), "record"),
    "missing id": (_with({k: v for k, v in GOOD.items() if k != "id"}), "id"),
    "id of wrong type": (_with({**GOOD, "id": [1]}), "id"),
    "duplicate id": (_with({**GOOD}), "id"),
    "list of images": (_with({**GOOD, "id": "x", "image": ["ok.png", "ok.png"]}), "image"),
    "image not a string": (_with({**GOOD, "id": "x", "image": 7}), "image"),
    "missing conversations": (_with({"id": "x", "image": "ok.png"}), "conversations"),
    "empty conversations": (_with({"id": "x", "image": "ok.png", "conversations": []}), "conversations"),
    "turn not an object": (_with({**GOOD, "id": "x", "conversations": ["hi", {"from": "gpt", "value": "a"}]}),
                           "conversations[0]"),
    "unknown role": (_with({**GOOD, "id": "x", "conversations": _turns(("user", "<image>\nq"), ("gpt", "a"))}),
                     "conversations[0].from"),
    "starts with gpt": (_with({**GOOD, "id": "x", "conversations": _turns(
        ("gpt", "hello"), ("human", "<image>\nq"), ("gpt", "a"))}),
                        "conversations[0].from"),
    "roles do not alternate": (_with({**GOOD, "id": "x", "conversations": _turns(
        ("human", "<image>\nq"), ("human", "q2"), ("gpt", "a"))}), "conversations[1].from"),
    "ends with a question": (_with({**GOOD, "id": "x", "conversations": _turns(
        ("human", "<image>\nq"), ("gpt", "a"), ("human", "q2"))}), "conversations[2].from"),
    "empty answer": (_with({**GOOD, "id": "x", "conversations": _turns(("human", "<image>\nq"), ("gpt", "  "))}),
                     "conversations[1].value"),
    "value not a string": (_with({**GOOD, "id": "x", "conversations": _turns(("human", "<image>\nq"), ("gpt", 3))}),
                           "conversations[1].value"),
    "image without placeholder": (_with({**GOOD, "id": "x", "conversations": _turns(("human", "q"), ("gpt", "a"))}),
                                  "conversations"),
    "two placeholders": (_with({**GOOD, "id": "x", "conversations": _turns(
        ("human", "<image>\n<image>\nq"), ("gpt", "a"))}), "conversations"),
    "placeholder without image": (_with({"id": "x", "conversations": _turns(("human", "<image>\nq"), ("gpt", "a"))}),
                                  "conversations"),
    "placeholder in an answer": (_with({**GOOD, "id": "x", "conversations": _turns(
        ("human", "<image>\nq"), ("gpt", "see <image>"))}), "conversations[1].value"),
    "missing image file": (_with({**GOOD, "id": "x", "image": "nope.png"}), "image"),
    "absolute path": (_with({**GOOD, "id": "x", "image": "/etc/passwd"}), "image"),
    "escapes with ..": (_with({**GOOD, "id": "x", "image": "sub/../../secret.png"}), "image"),
    "symlinked file": (_with({**GOOD, "id": "x", "image": "link.png"}), "image"),
    "symlinked folder": (_with({**GOOD, "id": "x", "image": "linked_dir/inner.png"}), "image"),
    "undecodable image": (_with({**GOOD, "id": "x", "image": "broken.png"}), "image"),
    "decompression bomb": (_with({**GOOD, "id": "x", "image": "bomb.png"}), "image"),
    "too many tokens": (_with({**GOOD, "id": "x", "conversations": _turns(
        ("human", "<image>\n" + "word " * 3000), ("gpt", "a"))}), "conversations"),
}
MESSAGES = {
    "duplicate id": "duplicate id, first used by record 0",
    "list of images": "list of 2 images is not supported",
    "absolute path": "absolute path",
    "escapes with ..": "'..'",
    "symlinked file": "symlink",
    "symlinked folder": "symlink",
    "undecodable image": "cannot decode",
    "decompression bomb": "decompression bomb",
    "two placeholders": "2 <image> placeholders",
    "too many tokens": "above the limit of 2048",
    "empty answer": "empty answer",
    "missing image file": "not found",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_broken_record_is_reported_precisely(tmp_path, folder, name):
    content, field = CASES[name]
    path = tmp_path / "data.json"
    path.write_text(content)
    report = validate_llava_file(path, folder)
    assert [(p.index, p.field) for p in report.problems] == [(1, field)], report.problems
    if name in MESSAGES:
        assert MESSAGES[name] in report.problems[0].message
    expected_id = None if name in ("record not an object", "missing id", "id of wrong type") else \
        ("good" if name == "duplicate id" else "x")
    assert report.problems[0].id == expected_id


def test_json_syntax_error_gives_line_and_column(tmp_path, folder):
    path = tmp_path / "data.json"
    path.write_text('[\n  {"id": "a",\n   "conversations": [}\n]')
    report = validate_llava_file(path, folder)
    assert [(p.index, p.field) for p in report.problems] == [(-1, "json")]
    assert report.problems[0].message.startswith("invalid JSON: ") and "(line 3, column " in report.problems[0].message
    assert str(path) not in report.problems[0].message  # the report names the file once, in its summary


def test_top_level_must_be_a_list(tmp_path, folder):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(GOOD))
    assert [(p.index, p.field) for p in validate_llava_file(path, folder).problems] == [(-1, "file")]


def test_every_problem_of_every_record_is_listed(tmp_path, folder):
    bad_a = {"id": "a", "image": "nope.png", "conversations": _turns(("human", "q"), ("gpt", ""))}
    bad_b = {"id": "b", "image": ["x"], "conversations": "hello"}
    path = tmp_path / "data.json"
    path.write_text(json.dumps([GOOD, bad_a, bad_b, {**GOOD, "id": "c"}]))
    report = validate_llava_file(path, folder)
    got = {(p.index, p.field) for p in report.problems}
    assert got == {(1, "conversations[1].value"), (1, "conversations"), (1, "image"), (2, "image"),
                   (2, "conversations")}
    assert report.bad_indices == {1, 2} and report.records == 4
    assert "5 problems in 2 records" in report.summary()


def test_text_only_records_and_a_clean_file_pass(tmp_path, folder):
    text_only = {"id": "t", "conversations": _turns(("human", "hello"), ("gpt", "hi"))}
    path = tmp_path / "data.json"
    path.write_text(json.dumps([GOOD, text_only]))
    report = validate_llava_file(path, folder)
    assert report.ok and report.records == 2 and "no problems" in report.summary()


def test_image_tokens_and_pixel_limit_options(tmp_path, folder):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([GOOD]))
    assert validate_llava_file(path, folder, max_tokens=580, image_tokens=576).problems[0].field == "conversations"
    small = validate_llava_file(path, folder, max_pixels=100).problems
    assert [(p.index, p.field) for p in small] == [(0, "image")] and "32x32" in small[0].message


def test_training_loader_fails_fast_by_default(tmp_path, folder):
    path = tmp_path / "data.json"
    path.write_text(_with({**GOOD, "id": "x", "image": "nope.png"}))
    with pytest.raises(DataError, match=r"1 problems in 1 records; first: record 1 \(id 'x'\) image"):
        load_llava_for_training(path, folder)


def test_training_loader_can_skip_bad_records(tmp_path, folder, caplog):
    path = tmp_path / "data.json"
    path.write_text(_with({**GOOD, "id": "x", "image": "../secret.png"}))
    with caplog.at_level(logging.WARNING):
        records = load_llava_for_training(path, folder, skip_bad=True)
    assert [r.id for r in records] == ["good"]
    assert records[0].image == str(folder / "ok.png")
    assert "skipped 1 of 2 records" in caplog.text


def test_training_loader_always_raises_on_unreadable_json(tmp_path, folder):
    path = tmp_path / "data.json"
    path.write_text("[{")
    with pytest.raises(DataError, match="invalid JSON"):
        load_llava_for_training(path, folder, skip_bad=True)
