"""`tunebench data shapes`: render the Shapes world and write every training and evaluation file.

Layout under the output folder (all paths in manifest.json are relative to it):
  scenes.json                       scene graphs of both splits
  images/{train,test}/*.png         the rendered scenes
  train/pretrain_plain.json         stage-1 captions, LLaVA "plain" pretraining JSON (image folder: images)
  train/instruct_mix.json           stage-2 LLaVA-1.5 conversations (image folder: images)
  train/cc_sbu_align/               MiniGPT-4 stage-2 layout: filter_cap.json + image/<id>.jpg
  eval/vqav2/, eval/gqa/, eval/pope/  official file layouts (image folder: images/test)
  eval/mme/MME_Benchmark/<subtask>/ MME release layout with its own image copies
  eval/<task>/blind_baseline.json   score of an image-blind majority-answer model
Same arguments give byte-identical files.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tunebench.core.errors import DataError
from tunebench.core.io import atomic_write_json, read_json
from tunebench.data.formats import ccsbu, gqa, mme, pope, vqav2
from tunebench.data.formats.llava import write_llava
from tunebench.data.shapes import evalsets, trainsets
from tunebench.data.shapes.questions import question_mix
from tunebench.data.shapes.render import RenderJob, run_job
from tunebench.data.shapes.world import MAX_OBJECTS, Scene, sample_scenes

GENERATOR = "tunebench-shapes"
FORMAT_VERSION = 1
OWNED = ("images", "train", "eval", "scenes.json", "manifest.json")
PARALLEL_MIN_SCENES = 200


@dataclass(frozen=True)
class ShapesConfig:
    out: Path
    seed: int = 0
    train: int = 2000
    test: int = 500
    image_size: int = 224
    texture: bool = True
    workers: int = 1
    force: bool = False
    max_objects: int = MAX_OBJECTS  # objects per scene, 1 to this many: the world's difficulty
    questions_per_image: int = trainsets.QUESTIONS_PER_IMAGE  # stage-2 questions per training image
    question_mix: dict[str, float] = field(default_factory=dict)  # changes to the stage-2 question mix: type -> weight

    def check(self) -> None:
        if self.train < 1 or self.test < 1:
            raise DataError("--train and --test must be at least 1")
        if self.questions_per_image < 1:
            raise DataError(f"--questions-per-image must be at least 1, got {self.questions_per_image}")
        if not 1 <= self.max_objects <= MAX_OBJECTS:
            raise DataError(f"--max-objects must be between 1 and {MAX_OBJECTS}, got {self.max_objects}")
        if not 64 <= self.image_size <= 1024:
            raise DataError(f"--image-size must be between 64 and 1024, got {self.image_size}")
        question_mix(self.question_mix)


def _prepare(out: Path, force: bool) -> None:
    """Refuse to mix with other files; with force, remove only what an earlier run wrote."""
    if out.exists() and not out.is_dir():
        raise DataError("output path exists and is not a folder", where=str(out))
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        return
    manifest = out / "manifest.json"
    is_ours = manifest.is_file() and read_json(manifest).get("generator") == GENERATOR
    if not (force and is_ours):
        hint = "pass --force to replace it" if is_ours else "choose an empty or new folder"
        raise DataError(f"output folder is not empty; {hint}", where=str(out))
    for name in OWNED:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _render_all(jobs: list[RenderJob], workers: int) -> None:
    if workers > 1 and len(jobs) >= PARALLEL_MIN_SCENES:
        with get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(run_job, jobs, chunksize=32):
                pass
    else:
        for job in jobs:
            run_job(job)


def _render(cfg: ShapesConfig, train: list[Scene], test: list[Scene]) -> None:
    out = cfg.out
    align_images = out / "train" / "cc_sbu_align" / ccsbu.IMAGE_FOLDER
    for folder in (out / "images" / "train", out / "images" / "test", align_images):
        folder.mkdir(parents=True, exist_ok=True)
    jobs = [RenderJob(s, cfg.texture, cfg.seed, (out / "images" / "train" / s.file,),
                      (align_images / f"{s.image_id}.jpg",)) for s in train]
    jobs += [RenderJob(s, cfg.texture, cfg.seed, (out / "images" / "test" / s.file,)) for s in test]
    _render_all(jobs, cfg.workers)


def _write_train(cfg: ShapesConfig, scenes: list[Scene]) -> dict[str, Any]:
    train_dir = cfg.out / "train"
    write_llava(train_dir / "pretrain_plain.json",
                trainsets.pretrain_records(scenes, "train", cfg.texture, cfg.seed))
    write_llava(train_dir / "instruct_mix.json",
                trainsets.instruct_records(scenes, "train", cfg.texture, cfg.seed, cfg.questions_per_image,
                                           cfg.question_mix))
    ccsbu.write_ccsbu(train_dir / "cc_sbu_align", trainsets.ccsbu_items(scenes, cfg.texture, cfg.seed))
    return {
        "pretrain": {"format": "llava", "file": "train/pretrain_plain.json", "image_folder": "images"},
        "instruct": {"format": "llava", "file": "train/instruct_mix.json", "image_folder": "images"},
        "cc_sbu_align": {"format": "ccsbu", "root": "train/cc_sbu_align"},
    }


def _write_eval(cfg: ShapesConfig, scenes: list[Scene]) -> dict[str, Any]:
    ev = cfg.out / "eval"
    subtype = "shapestest"
    for task in ("vqav2", "gqa", "pope"):
        (ev / task).mkdir(parents=True, exist_ok=True)
    q_path, a_path = vqav2.write_vqav2(ev / "vqav2", subtype, evalsets.vqa_items(scenes, cfg.seed))
    gqa.write_gqa(ev / "gqa" / gqa.FILE_NAME, evalsets.gqa_items(scenes, cfg.seed))
    pope_files = []
    for split, items in evalsets.pope_items(scenes, cfg.seed).items():
        pope_files.append(str(pope.write_pope(ev / "pope" / pope.file_name(split), items).relative_to(cfg.out)))
    mme_root = ev / "mme" / "MME_Benchmark"
    mme.write_mme(mme_root, evalsets.mme_images(scenes, cfg.out / "images" / "test", cfg.seed))

    def rel(path: Path) -> str:
        return str(path.relative_to(cfg.out))

    return {
        "vqav2": {"questions": rel(q_path), "annotations": rel(a_path), "image_folder": "images/test"},
        "gqa": {"questions": rel(ev / "gqa" / gqa.FILE_NAME), "image_folder": "images/test"},
        "mme": {"root": rel(mme_root)},
        "pope": {"files": pope_files, "image_folder": "images/test"},
    }


def _baselines(cfg: ShapesConfig, eval_entries: dict[str, Any]) -> dict[str, Any]:
    from tunebench.data.shapes.baseline import blind_baseline
    from tunebench.evaluation.tasks import get_task

    headlines = {}
    for task, entry in eval_entries.items():
        result = blind_baseline(get_task(task).load_manifest(cfg.out, entry), task)
        atomic_write_json(cfg.out / "eval" / task / "blind_baseline.json", result)
        headlines[task] = result["headline"]
    return headlines


def generate(cfg: ShapesConfig) -> dict[str, Any]:
    """Write everything; returns the manifest (also saved, last, as manifest.json)."""
    cfg.check()
    _prepare(cfg.out, cfg.force)
    train = sample_scenes(cfg.seed, "train", cfg.train, cfg.image_size, cfg.max_objects)
    test = sample_scenes(cfg.seed, "test", cfg.test, cfg.image_size, cfg.max_objects)
    atomic_write_json(cfg.out / "scenes.json", {"seed": cfg.seed, "image_size": cfg.image_size,
                                                "scenes": [s.to_json() for s in train + test]}, indent=None)
    _render(cfg, train, test)
    train_entries = _write_train(cfg, train)
    eval_entries = _write_eval(cfg, test)
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("out", "workers", "force")}
    manifest = {
        "generator": GENERATOR,
        "format_version": FORMAT_VERSION,
        "settings": settings,
        "counts": {"train_images": len(train), "test_images": len(test)},
        "train": train_entries,
        "eval": eval_entries,
        "blind_baseline": _baselines(cfg, eval_entries),
    }
    atomic_write_json(cfg.out / "manifest.json", manifest)
    return manifest
