"""`tunebench bench`: data -> Q-Former pretraining -> both recipes -> every evaluation -> report.

Every stage writes its output atomically and is skipped when already there, so after a crash or Ctrl-C
the same command redoes only what is missing (training resumes from its last checkpoint).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from tunebench.bench.config import ArmSpec, BenchConfig, DataSpec, arm_recipe
from tunebench.core.device import resolve_precision
from tunebench.core.io import atomic_write_json, read_json, read_jsonl, sha256_json
from tunebench.data.records import Record, content_rows, records_hash
from tunebench.evaluation.tasks import get_task, load_task_records
from tunebench.train.pipeline import TrainData, load_train_data
from tunebench.train.recipes import Recipe
from tunebench.train.stage import optim_spec

console = Console()


def _say(step: str) -> None:
    console.rule(f"[bold cyan]{step}")


def prepare_data(cfg: BenchConfig, out: Path) -> tuple[TrainData, dict[str, list[Record]], dict]:
    """Training and evaluation records (generated Shapes world unless the config names a user's files)."""
    from tunebench.bench.curves import curve_records
    from tunebench.bench.results import skill_scores
    from tunebench.data.imagecheck import check_record_images
    from tunebench.data.shapes.baseline import blind_baseline, blind_rows

    spec = cfg.data
    info: dict = {}
    if spec.captions_file or spec.instructions_file:
        folder = Path(spec.image_folder) if spec.image_folder else None
        train = load_train_data(None, _path(spec.captions_file), _path(spec.instructions_file), folder)
        evals = {t: load_task_records(get_task(t), [Path(p) for p in files],
                                      Path(spec.eval_image_folder) if spec.eval_image_folder else None)
                 for t, files in spec.eval_files.items()}
    else:
        shapes = ensure_shapes(spec, out / "data")
        train = load_train_data(shapes)
        evals = {t: load_task_records(get_task(t), [shapes]) for t in read_json(shapes / "manifest.json")["eval"]}
    train = TrainData(_first(train.captions, spec.captions), _first(train.instructions, spec.instructions))
    whole, evals = evals, {t: spread(records, spec.eval_per_task, t) for t, records in evals.items()}
    check_record_images(r for records in evals.values() for r in records)  # training images are validated on load
    # Fitted on the whole file, scored on exactly the questions the arms answer: a like-for-like comparison.
    baselines = {t: blind_baseline(records, t, fit=whole[t])
                 for t, records in evals.items() if all(r.answers for r in records)}
    info["blind_baseline"] = {t: b["headline"]["value"] for t, b in baselines.items()}
    info["blind_skills"] = skill_scores([blind_rows(evals[t], t, b["majority_answer"])] for t, b in baselines.items())
    curve = curve_records(evals, cfg.curve_questions)
    info["curve_blind"] = {t: blind_baseline(rs, t, fit=whole[t])["headline"]["value"] for t, rs in curve.items()
                           if t in baselines}
    info["world"] = None if spec.captions_file or spec.instructions_file else world_settings(spec)
    info.update({"n_captions": len(train.captions), "n_instructions": len(train.instructions),
                 "eval_counts": {t: len(r) for t, r in evals.items()},
                 "hash": data_hash(train, evals)})
    return train, evals, info


def data_hash(train: TrainData, evals: dict[str, list[Record]]) -> str:
    """Content hash of every record the bench uses (ids alone would not tell a world generated with another
    seed, or a file edited in place, from the old one)."""
    images: dict[str, str] = {}
    return sha256_json([content_rows(train.captions, images), content_rows(train.instructions, images),
                        {t: content_rows(rs, images) for t, rs in evals.items()}])[:16]


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _first(records: list[Record], n: int) -> list[Record]:
    return records[:n] if n else records


def spread(records: list[Record], n: int, task: str) -> list[Record]:
    """n records spread evenly over the file, so every split/subtask is represented, on as many images as can be.

    Yes/no sets (MME, POPE) keep all questions of a chosen image together: MME scores image pairs (acc+),
    and POPE asks as many "yes" as "no" questions per image, so the subset stays balanced. Each pick is the
    first group in its stretch of the file whose image is not chosen yet: POPE's three splits list the same
    images in the same order, and evenly spaced picks put the same 10 images in all three (102 questions).
    """
    if not n or n >= len(records):
        return records
    if get_task(task).candidates:
        def key(r: Record) -> tuple:
            return r.meta.get("subtask"), r.meta.get("split"), _image(r)
    else:
        def key(r: Record) -> tuple:
            return (r.id,)
    groups: dict = {}
    for r in records:
        groups.setdefault(key(r), []).append(r)
    keys = list(groups)
    per_group = max(1, len(records) // len(keys))
    take = min(len(keys), max(1, n // per_group))
    chosen, images = [], set()
    for i in range(take):
        stretch = keys[int(i * len(keys) / take): int((i + 1) * len(keys) / take)]
        pick = next((k for k in stretch if _image(groups[k][0]) not in images), stretch[0])
        chosen.append(pick)
        images.add(_image(groups[pick][0]))
    return [r for k in chosen for r in groups[k]]


def _image(r: Record) -> str | None:
    return r.image or r.meta.get("image")


def ensure_shapes(spec: DataSpec, folder: Path) -> Path:
    """Generate the Shapes world once per settings; a different setting regenerates it."""
    from tunebench.data.shapes.generate import ShapesConfig, generate

    settings = {"seed": spec.seed, "train": spec.train_scenes, "test": spec.test_scenes, **world_settings(spec)}
    manifest = folder / "manifest.json"
    if manifest.is_file():
        have = read_json(manifest)["settings"]
        if all(have.get(k) == v for k, v in settings.items()):
            return folder
    _say(f"data: Shapes world ({spec.train_scenes} train / {spec.test_scenes} test scenes, "
         f"1-{spec.max_objects} objects each)")
    generate(ShapesConfig(folder, spec.seed, spec.train_scenes, spec.test_scenes, force=True, **world_settings(spec)))
    return folder


def world_settings(spec: DataSpec) -> dict[str, Any]:
    """The Shapes world's difficulty and stage-2 mix, as the generator takes them."""
    return {"max_objects": spec.max_objects, "questions_per_image": spec.questions_per_image,
            "question_mix": dict(spec.question_mix)}


def qformer_folder(recipe: Recipe, seed: int, out: Path) -> Path | None:
    """Where an arm's pretrained Q-Former lives; arms with the same Q-Former settings and seed share it."""
    if not recipe.pretrain_qformer:
        return None
    key = sha256_json({"q": asdict(recipe.model.qformer), "o": optim_spec(recipe.qformer_optim),
                       "v": recipe.model.vision})[:10]
    return out / "qformer" / f"{key}-s{seed}"


def pretrain_qformer_for(recipe: Recipe, label: str, seed: int, train: TrainData, out: Path, tower
                         ) -> Path | None:
    """An arm's pretrained Q-Former run (pretrained now unless already there); None for LLaVA arms."""
    from tunebench.train.pipeline import ensure_qformer, qformer_run_dir
    from tunebench.train.qformer_pretrain import is_pretrained

    shared = qformer_folder(recipe, seed, out)
    if shared is None:
        return None
    if not is_pretrained(qformer_run_dir(shared)):
        _say(f"{label} (seed {seed}): Q-Former pretraining")
    return ensure_qformer(recipe, train, shared, tower, seed)


def arm_folder(out: Path, arm: str, seed: int) -> Path:
    """Where one arm's training runs and evaluations live for one seed."""
    return out / "arms" / f"{arm}-s{seed}"


def run_arm(cfg: BenchConfig, arm: ArmSpec, seed: int, train: TrainData, evals: dict[str, list[Record]],
            out: Path, tower) -> dict:
    """Train one arm with one seed (cached/resumable), then evaluate it on every task (cached/resumable)."""
    trained = train_arm(cfg, arm, seed, train, evals, out, tower)
    return {**trained, **evaluate_trained_arm(cfg, arm, final_run(out, arm, seed, trained), evals, tower)}


def train_arm(cfg: BenchConfig, arm: ArmSpec, seed: int, train: TrainData, evals: dict[str, list[Record]],
              out: Path, tower) -> dict:
    """Train one arm with one seed (cached/resumable), scoring its learning curve on a fixed subset of `evals`."""
    from tunebench.bench.curves import CURVE, CurveProbe, curve_points, curve_records
    from tunebench.train.pipeline import train_recipe
    from tunebench.train.stage import SUMMARY

    recipe = arm_recipe(cfg, arm)
    arm_dir = arm_folder(out, arm.name, seed)
    qformer_run = pretrain_qformer_for(recipe, arm.label, seed, train, out, tower)
    missing = [s.name for s in recipe.stages if not (arm_dir / s.name / SUMMARY).is_file()]
    _say(f"{arm.label} (seed {seed}): " + (f"training {', '.join(missing)}" if missing else "trained (cached)"))
    last = recipe.stages[-1].name
    probes = {last: CurveProbe(curve_records(evals, cfg.curve_questions), cfg.curve_points, arm_dir / last / CURVE,
                               cfg.eval_batch_size, cfg.precision)} if cfg.curve_points and cfg.curve_questions else {}
    summaries = train_recipe(recipe, train, arm_dir, tower, seed=seed, qformer_run=qformer_run, on_step=probes)
    qsummary = read_json(qformer_run / "qformer_config.json")["summary"] if qformer_run else None
    return {"train": summaries, "qformer": qsummary, "recipe": recipe.to_dict(),
            "learning_curve": curve_points(arm_dir / last, summaries, qsummary, last)}


def final_run(out: Path, arm: ArmSpec, seed: int, trained: dict) -> Path:
    """The run folder of a trained arm's last stage (`trained`: what `train_arm` returned)."""
    return arm_folder(out, arm.name, seed) / trained["recipe"]["stages"][-1]["name"]


def evaluate_trained_arm(cfg: BenchConfig, arm: ArmSpec, run: Path, evals: dict[str, list[Record]], tower) -> dict:
    """Score the final model `run` of an arm on `evals` (every task, or a share of them) and probe its image use;
    results go to the arm's eval folder."""
    final_model = _lazy_model(run, tower)  # loaded only if a result is missing
    evaluations = evaluate_arm(cfg, arm, final_model, evals, run.parent / "eval")
    reliance = image_reliance_arm(cfg, final_model, evals, run.parent / "eval") if cfg.reliance_questions else {}
    return {"eval": evaluations, "image_reliance": reliance}


def _lazy_model(run: Path, tower) -> Callable[[], Any]:
    """The run's model, loaded on the first call and shared by every later one."""
    @functools.cache
    def load():
        from tunebench.core.device import pick_device
        from tunebench.models.checkpoint import load_run

        return load_run(run, tower=tower).to(pick_device())

    return load


def evaluate_arm(cfg: BenchConfig, arm: ArmSpec, model: Callable[[], Any], evals: dict[str, list[Record]],
                 out: Path) -> dict:
    from tunebench.evaluation.runner import RESULTS, SAMPLES, evaluate, prompt_config
    from tunebench.evaluation.tasks import get_task

    results = {}
    for task, records in evals.items():
        folder = out / task
        spec = get_task(task)
        done = (folder / RESULTS).is_file() and len(read_jsonl(folder / SAMPLES)) == len(records)
        if done:
            found = read_json(folder / RESULTS)
            prompt = {k: found["configs"][task].get(k) for k in prompt_config(spec)}
            same_precision = found["config"].get("precision") == resolve_precision(cfg.precision).used
            if found["hashes"]["data"] == records_hash(records) and prompt == prompt_config(spec) and same_precision:
                results[task] = found
                continue
        _say(f"{arm.label}: evaluating {task} ({len(records)} questions)")
        scoring = cfg.scoring if spec.candidates else "generate"
        results[task] = evaluate(model(), spec, records, folder, batch_size=cfg.eval_batch_size, scoring=scoring,
                                 resume=True, model_name=arm.name, precision=cfg.precision)
    return results


def image_reliance_arm(cfg: BenchConfig, model: Callable[[], Any], evals: dict[str, list[Record]], out: Path
                       ) -> dict:
    """Per task: answer loss with the right vs another image, on up to `reliance_questions` questions (cached)."""
    from tunebench.evaluation.image_reliance import image_reliance, probe_records
    from tunebench.evaluation.tasks import get_task

    found = {}
    for task, records in evals.items():
        records = spread(probe_records(records), cfg.reliance_questions, task)
        if not probe_records(records):
            continue  # nothing to swap the image with (or a text-only set)
        path, data_hash = out / task / "image_reliance.json", records_hash(records)
        precision = resolve_precision(cfg.precision).used
        cached = read_json(path) if path.is_file() else {}
        if cached.get("data") == data_hash and cached.get("precision") == precision:
            found[task] = cached["result"]
            continue
        found[task] = image_reliance(model(), get_task(task), records, batch_size=cfg.eval_batch_size,
                                     precision=precision)
        atomic_write_json(path, {"data": data_hash, "precision": precision, "result": found[task]})
    return found


def run_bench(cfg: BenchConfig, out: Path) -> dict:
    """Run (or finish) every arm and seed; returns the raw per-arm outputs for the results builder."""
    from tunebench.bench.parallel import run_jobs_in_parallel, worker_plan

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench_config.json", cfg.to_dict())
    train, evals, data_info = prepare_data(cfg, out)
    workers, threads = worker_plan(cfg.workers, len(cfg.arms) * len(cfg.seeds))
    if workers > 1:
        _say(f"{workers} arms at a time, {threads} thread(s) each; their logs: {out / 'logs'}")
        raw = run_jobs_in_parallel(cfg, train, evals, out, workers, threads)
    else:
        raw = _run_in_turn(cfg, train, evals, out)
    return {"data": data_info, "arms": raw, "wall_s": time.perf_counter() - start,
            "eval_ids": {t: [r.id for r in records] for t, records in evals.items()},
            "workers": {"processes": workers, "threads_each": threads}}


def _run_in_turn(cfg: BenchConfig, train: TrainData, evals: dict[str, list[Record]], out: Path) -> dict:
    from tunebench.components import load_vision_tower

    tower = load_vision_tower(cfg.vision)
    raw: dict = {}
    for seed in cfg.seeds:
        for arm in cfg.arms:
            raw.setdefault(arm.name, {})[seed] = run_arm(cfg, arm, seed, train, evals, out, tower)
    return raw
