"""`tunebench data shapes | validate | convert` end to end on small inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tunebench.cli import main
from tunebench.core.io import read_json
from tunebench.data.commands import register
from tunebench.data.formats.convert import to_llava
from tunebench.data.formats.loading import load_format
from tunebench.data.validate import validate_llava_file

FIXTURES = Path(__file__).parents[1] / "fixtures" / "formats"
SUFFIX = "\nAnswer the question using a single word or phrase."


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


@pytest.fixture(scope="module")
def world(tmp_path_factory, app) -> Path:
    out = tmp_path_factory.mktemp("cli") / "world"
    result = CliRunner().invoke(app, ["data", "shapes", "--out", str(out), "--seed", "2", "--train", "12",
                                      "--test", "20", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "blind baseline vqav2" in result.output and "blind baseline pope" in result.output
    return out


def test_generated_training_files_pass_validation(app, world):
    for name in ("pretrain_plain.json", "instruct_mix.json"):
        result = CliRunner().invoke(app, ["data", "validate", str(world / "train" / name),
                                          "--image-folder", str(world / "images")])
        assert result.exit_code == 0, result.output
        assert "no problems" in result.output


def test_validate_lists_problems_and_exits_1(app, world, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"id": 1, "image": "../x.png", "conversations": []}]))
    result = CliRunner().invoke(app, ["data", "validate", str(path), "--image-folder", str(world / "images")])
    assert result.exit_code == 1
    assert "record 0 (id '1') image" in result.output and "record 0 (id '1') conversations" in result.output
    assert "2 problems in 1 record" in result.output


def test_main_turns_data_errors_into_one_line(capsys, tmp_path):
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["data", "shapes", "--out", str(tmp_path), "--train", "1", "--test", "1"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "error:" in err and "not empty" in err and "Traceback" not in err


def test_convert_vqav2_fixture_uses_the_majority_answer_and_suffix():
    folder = FIXTURES / "vqav2"
    records = load_format("vqav2", [folder / "v2_OpenEnded_mscoco_val2014_questions.json",
                                    folder / "v2_mscoco_val2014_annotations.json"], Path("/coco"))
    out = to_llava(records, Path("/coco"))
    assert out[0] == {"id": "vqav2-262148000", "image": "COCO_val2014_000000262148.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhere is he looking?" + SUFFIX}, {"from": "gpt", "value": "down"}]}
    assert out[3]["conversations"][1]["value"] == "2"


def test_convert_mme_keeps_its_yes_no_prompt():
    root = FIXTURES / "mme" / "MME_Benchmark"
    out = to_llava(load_format("mme", [root]), root)
    assert out[0]["image"] == "artwork/images/10002.jpg"
    assert out[0]["conversations"][0]["value"].endswith("Please answer yes or no.")
    assert [o["conversations"][1]["value"] for o in out] == ["Yes", "No", "Yes", "No"]


@pytest.mark.parametrize("source", ["vqav2", "gqa", "pope", "mme", "ccsbu"])
def test_converted_shapes_sets_pass_validation(app, world, tmp_path, source):
    manifest = read_json(world / "manifest.json")
    entry = manifest["eval"].get(source) or manifest["train"]["cc_sbu_align"]
    if source == "vqav2":
        inputs, folder = [entry["questions"], entry["annotations"]], entry["image_folder"]
    elif source == "gqa":
        inputs, folder = [entry["questions"]], entry["image_folder"]
    elif source == "pope":
        inputs, folder = entry["files"], entry["image_folder"]
    else:
        inputs, folder = [entry["root"]], None
    out = tmp_path / f"{source}.json"
    args = ["data", "convert", "--from", source, *[str(world / i) for i in inputs], "--out", str(out)]
    if folder:
        args += ["--image-folder", str(world / folder)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    base = world / (folder or inputs[0])
    report = validate_llava_file(out, base)
    assert report.ok, report.problems[:3]
    assert report.records == len(read_json(out)) > 0


def test_convert_refuses_unknown_formats_and_wrong_inputs(app, tmp_path):
    result = CliRunner().invoke(app, ["data", "convert", "--from", "coco", "x.json", "--out", str(tmp_path / "o")])
    assert "unknown format" in str(result.exception)
    inputs = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in inputs:
        path.write_text("{}")
    result = CliRunner().invoke(app, ["data", "convert", "--from", "gqa", *map(str, inputs),
                                      "--out", str(tmp_path / "o")])
    assert "takes QUESTIONS.json" in str(result.exception)
    result = CliRunner().invoke(app, ["data", "convert", "--from", "gqa", str(tmp_path / "missing.json"),
                                      "--out", str(tmp_path / "o")])
    assert "missing.json: file not found" in str(result.exception)


def test_convert_refuses_questions_without_answers(tmp_path):
    records = load_format("vqav2", [FIXTURES / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions.json"])
    with pytest.raises(Exception, match="no reference answer"):
        to_llava(records, None)


def test_a_full_disk_and_any_other_os_error_are_one_line_naming_path_and_operation(monkeypatch, capsys, tmp_path):
    import errno

    import tunebench.cli as cli

    def full(**_):
        raise OSError(errno.ENOSPC, "No space left on device", "run/.checkpoint.tmp")

    monkeypatch.setattr(cli, "app", full)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench"])
    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "disk is full while writing run/.checkpoint.tmp" in lines[0]

    def write_on_a_folder(**_):
        with open(tmp_path, "w"):  # a real file-system error, raised in a frame whose call the boundary names
            pass

    monkeypatch.setattr(cli, "app", write_on_a_folder)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["bench"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"error: cannot open {tmp_path}: Is a directory"]

    def bug(**_):
        raise ValueError("a programming error")

    monkeypatch.setattr(cli, "app", bug)
    with pytest.raises(ValueError):  # not a user's or the machine's problem: the traceback is the useful report
        cli.main(["bench"])
