"""Benchmark plumbing on synthetic numbers: subsampling, intervals, paired tests, verdict, config."""

from __future__ import annotations

import pytest

from tunebench.bench.config import arm_recipe, load_config, profile
from tunebench.bench.curves import compute_to_reach
from tunebench.bench.pipeline import spread
from tunebench.bench.results import mean_breakdown, mean_reliance, skill_scores
from tunebench.bench.stats import headline_ci, mean_score, paired_headline_test, paired_test
from tunebench.bench.verdict import verdict
from tunebench.core.config import override
from tunebench.core.errors import UserError
from tunebench.data.records import Record, Turn
from tunebench.evaluation.tasks import get_task
from tunebench.train.recipes import get_recipe, recipe_changes


def _pope_rows(correct: list[bool]) -> list[dict]:
    rows = []
    for i, ok in enumerate(correct):
        truth = "yes" if i % 2 == 0 else "no"
        pred = truth if ok else ("no" if truth == "yes" else "yes")
        rows.append({"id": f"q{i:03d}", "score": float(ok), "parsed": pred, "answers": (truth,),
                     "meta": {"split": "random"}})
    return rows


def test_spread_keeps_mme_pairs_and_covers_the_file():
    records = [Record(f"{s}-{i}-{q}", f"{s}{i}.png", (Turn("human", "?"),), ("yes",), "mme",
                      {"subtask": s, "image": f"{s}{i}.png"}) for s in ("count", "color") for i in range(10)
               for q in range(2)]
    picked = spread(records, 8, "mme")
    assert len(picked) == 8
    assert {r.meta["subtask"] for r in picked} == {"count", "color"}
    pairs = {}
    for r in picked:
        pairs.setdefault(r.meta["image"], []).append(r)
    assert all(len(v) == 2 for v in pairs.values())
    assert spread(records, 0, "mme") == records


def test_spread_keeps_pope_images_whole_so_the_subset_stays_balanced():
    # Each image asks two "yes" then two "no" questions; an evenly strided pick of single questions would
    # land on one answer far more often than the other.
    records = [Record(f"{split}-{i}-{q}", f"{i}.png", (Turn("human", "?"),), ("yes" if q < 2 else "no",), "pope",
                      {"split": split}) for split in ("random", "adversarial") for i in range(30) for q in range(4)]
    picked = spread(records, 60, "pope")  # one question in four: always the same position in an image
    assert len(picked) == 60
    assert sum(r.answers[0] == "yes" for r in picked) == 30
    assert {r.meta["split"] for r in picked} == {"random", "adversarial"}


def test_spread_puts_pope_splits_on_different_images():
    # POPE's splits list the same images in the same order; evenly spaced picks would land on the same ones.
    records = [Record(f"{split}-{i}-{q}", f"{i}.png", (Turn("human", "?"),), ("yes" if q % 2 else "no",), "pope",
                      {"split": split}) for split in ("random", "popular", "adversarial") for i in range(30)
               for q in range(6)]
    picked = spread(records, 54, "pope")  # 9 groups: every 10th, i.e. images 0, 10, 20 of each split
    assert len(picked) == 54 and {r.meta["split"] for r in picked} == {"random", "popular", "adversarial"}
    assert len({r.image for r in picked}) == 9  # each group on its own image
    uneven = [Record(f"q{i}", f"{img}.png", (Turn("human", "?"),), ("yes",), "pope", {"split": "random"})
              for i, img in enumerate([0, 1, 2, 2, 2])]
    assert [r.id for r in spread(uneven, 4, "pope")] == ["q0", "q1", "q2", "q3", "q4"]  # never a group twice


def test_headline_ci_brackets_the_value_and_paired_test_detects_a_real_gap():
    good = _pope_rows([True] * 90 + [False] * 10)
    bad = _pope_rows([True] * 55 + [False] * 45)
    ci = headline_ci("pope", [good], n=300)
    assert ci["low"] <= ci["mean"] <= ci["high"] and ci["high"] - ci["low"] < 20
    test = paired_headline_test("pope", [good], [bad], n=300)
    assert test["diff"] > 20 and test["significant"] and test["p_value"] < 0.05
    same = paired_headline_test("pope", [good], [good], n=300)
    assert same["diff"] == 0 and not same["significant"]


def test_intervals_resample_whole_images():
    # 20 images, 5 questions each, each image all right or all wrong: 20 independent draws, not 100.
    rows = [{"id": f"q{i:03d}-{k}", "image": f"{i}.png", "score": float(i % 2 == 0), "parsed": "yes",
             "answers": ("yes",) if i % 2 == 0 else ("no",), "meta": {"split": "random"}}
            for i in range(20) for k in range(5)]
    alone = [{**row, "image": None} for row in rows]
    clustered, independent = headline_ci("vqav2", [rows], n=400), headline_ci("vqav2", [alone], n=400)
    assert clustered["n_images"] == 20 and independent["n_images"] == 100
    assert clustered["mean"] == independent["mean"] == 50.0
    width = {name: ci["high"] - ci["low"] for name, ci in (("clustered", clustered), ("alone", independent))}
    assert width["clustered"] > 1.7 * width["alone"]  # sqrt(5) ~ 2.2 in expectation
    other = [{**row, "score": 1.0 - row["score"]} for row in rows]
    test = paired_test(mean_score, [rows], [other], n=400)
    assert test["diff"] == 0.0 and test["n_images"] == 20 and not test["significant"]


def test_paired_test_refuses_misaligned_questions():
    rows = _pope_rows([True] * 10)
    with pytest.raises(ValueError, match="same questions"):
        paired_headline_test("pope", [rows], [rows[::-1]], n=10)


def _results(diffs: dict[str, tuple[float, bool]]) -> dict:
    arms = {}
    for name, sign in (("a", 1), ("b", -1)):
        arms[name] = {"label": name.upper(), "ablation": False,
                      "tasks": {t: {"mean": 50 + sign * d / 2, "low": 40 + sign * d / 2, "high": 60 + sign * d / 2}
                                for t, (d, _) in diffs.items()},
                      "cost": {"stages": {"stage2": {"trainable_params": 10}}, "train_wall_s": 60.0,
                               "train_flops": 1e15, "qformer_pretrain_s": 0.0}}
    comp = {"a": "a", "b": "b", "skills": {},
            "tasks": {t: {"diff": d, "low": d - 1, "high": d + 1, "p_value": 0.01 if s else 0.5, "significant": s}
                      for t, (d, s) in diffs.items()}}
    return {"arms": arms, "comparison": comp, "data": {"blind_baseline": {t: 10.0 for t in diffs}},
            "tasks": list(diffs), "config": {"seeds": [0]}}


def test_verdict_names_the_design_with_more_significant_wins():
    out = verdict(_results({"vqav2": (5.0, True), "gqa": (3.0, True), "pope": (-2.0, False)}))
    assert out["winner"] == "a" and out["sentences"][1].startswith("A wins")
    assert any("POPE" in s and "not significant" in s for s in out["sentences"])
    tie = verdict(_results({"vqav2": (5.0, True), "gqa": (-3.0, True)}))
    assert tie["winner"] is None and tie["sentences"][1].startswith("No clear winner")
    assert "Every arm beats every blind" in " ".join(tie["sentences"])


def test_a_difference_where_a_design_is_at_the_blind_baseline_is_never_a_win():
    results = _results({"vqav2": (5.0, True), "gqa": (-3.0, True), "pope": (-60.0, True)})
    results["data"]["blind_baseline"]["pope"] = 5.0
    assert verdict(results)["winner"] == "b"  # both above blind on POPE: B 2 significant wins to 1
    results["data"]["blind_baseline"]["pope"] = 66.7  # A's POPE interval [10, 30] reaches it: language priors
    out = verdict(results)
    assert out["winner"] is None and out["significant_wins"] == {"a": ["vqav2"], "b": ["gqa"]}
    assert out["sentences"][1] == ("No clear winner: A leads on 1 and B on 1 of 2 benchmarks (POPE mean F1 left out: a "
                                   "design is not clearly above the blind baseline there), with 1 vs 1 significant "
                                   "differences.")
    said = "not a win for either: A not clearly above the blind baseline 66.7"
    assert any(s.startswith("POPE mean F1: ") and said in s for s in out["sentences"])
    results["data"]["blind_baseline"] = {t: 95.0 for t in results["tasks"]}
    assert verdict(results)["sentences"][1].startswith("No verdict: on no benchmark are both designs")


def test_the_verdict_answers_the_two_design_questions_yes_or_no_with_numbers():
    results = _results({"vqav2": (5.0, True)})
    results["arms"]["a"]["design"], results["arms"]["b"]["design"] = "llava", "minigpt4"
    for name, score in (("a", 50.0), ("b", 46.0)):
        results["arms"][name]["skills"] = {"spatial": {"score": score}}
    results["data"]["blind_skills"] = {"spatial": {"score": 30.0}}
    results["comparison"]["skills"] = {"spatial": {"diff": 4.0, "low": -2.0, "high": 10.0, "p_value": 0.2,
                                                   "significant": False}}
    text = " ".join(verdict(results)["sentences"])
    assert ("Does the Q-Former still compete on spatial reasoning? Yes: spatial B 46.0 vs A 50.0 (+4.0 for A, "
            "95% CI [-2.0, +10.0], not significant).") in text
    assert "A took 1.00x the training time of B." in text
    results["comparison"]["skills"]["spatial"].update(low=1.0, significant=True)
    assert "spatial reasoning? No: " in " ".join(verdict(results)["sentences"])
    results["data"]["blind_skills"]["spatial"]["score"] = 47.0
    assert "spatial reasoning? Not measured: " in " ".join(verdict(results)["sentences"])

    curve = [{"step": s, "flops": f, "train_wall_s": 60, "scores": {"vqav2": m}, "mean": m}
             for s, f, m in ((0, 1e14, 10.0), (5, 3e14, 60.0))]
    slow = [{**point, "flops": 4 * point["flops"]} for point in curve]
    results["arms"]["a"]["learning_curve"], results["arms"]["b"]["learning_curve"] = curve, slow
    results["comparison"]["compute"] = compute_to_reach({"a": curve, "b": slow})
    assert ("Does the simpler MLP train faster? Yes: to reach 60.0, A needed 0.300 PFLOP, B 1.200 (4.0x less "
            "compute for the MLP).") in " ".join(verdict(results)["sentences"])


def test_verdict_flags_an_arm_whose_answers_do_not_depend_on_the_image():
    results = _results({"vqav2": (5.0, True)})
    results["arms"]["a"]["image_reliance"] = {"vqav2": {"gap": 0.40}, "pope": {"gap": 0.20}}
    results["arms"]["b"]["image_reliance"] = {"vqav2": {"gap": 0.01}, "pope": {"gap": 0.03}}
    text = " ".join(verdict(results)["sentences"])
    assert "A 0.300; B 0.020" in text and "for B: its scores mostly reflect language priors" in text
    results["arms"]["b"]["image_reliance"] = {"vqav2": {"gap": 0.5}}
    assert "Every arm's answers depend on the image" in " ".join(verdict(results)["sentences"])


def test_profiles_and_yaml_overrides(tmp_path):
    assert [a.name for a in profile("default").arms] == ["llava", "minigpt4"]
    full = profile("full")
    assert len(full.seeds) >= 3 and {a.name for a in full.arms if a.ablation} == {
        "llava-frozen-llm", "llava-published-lr", "minigpt4-lora", "minigpt4-qformer", "minigpt4-published-lr"}
    lrs = {a.name: [s.optim.lr for s in arm_recipe(full, a).stages] for a in full.arms}  # every arm resolves
    assert lrs["minigpt4"] == lrs["minigpt4-qformer"] == [3e-3, 1e-3]
    assert lrs["minigpt4-published-lr"] == [s.optim.lr for s in get_recipe("minigpt4").stages] == [1e-4, 3e-5]
    assert lrs["llava-published-lr"] == [s.optim.lr for s in get_recipe("llava-1.5").stages] == [1e-3, 2e-5]
    assert lrs["llava"] == lrs["llava-frozen-llm"] == [3e-3, 2e-5]  # short-run stage-1 rate, published stage 2
    cfg_file = tmp_path / "bench.yaml"
    cfg_file.write_text("llm: ./my-vicuna\ndata:\n  eval_per_task: 50\narms:\n"
                        "  - {name: x, recipe: llava-1.5, label: X, design: llava}\n")
    cfg = load_config("smoke", cfg_file)
    assert cfg.llm == "./my-vicuna" and cfg.data.eval_per_task == 50 and [a.name for a in cfg.arms] == ["x"]
    cfg_file.write_text("data:\n  nonsense: 1\n")
    with pytest.raises(UserError, match="unknown config field"):
        load_config("smoke", cfg_file)
    with pytest.raises(UserError, match="unknown profile"):
        profile("huge")


def test_blind_baseline_fits_majorities_on_the_whole_file_and_scores_the_subset():
    from tunebench.data.shapes.baseline import blind_baseline

    def gqa(i: int, answer: str) -> Record:
        return Record(f"g{i}", "x.png", (Turn("human", "?"),), (answer,), "gqa",
                      {"detailed": "color", "types": {"structural": "query", "semantic": "attr", "detailed": "color"}})

    whole = [gqa(i, "red") for i in range(6)] + [gqa(6 + i, "blue") for i in range(4)]
    subset = whole[6:8]  # two "blue" questions: a majority fitted on them alone would score 100
    assert blind_baseline(subset, "gqa")["headline"]["value"] == pytest.approx(100.0)
    assert blind_baseline(subset, "gqa", fit=whole)["headline"]["value"] == pytest.approx(0.0)


def test_results_count_only_the_questions_the_bench_asks(tmp_path):
    from tunebench.bench.results import _rows
    from tunebench.core.io import append_jsonl

    samples = tmp_path / "arms" / "llava-s0" / "eval" / "pope" / "samples.jsonl"
    samples.parent.mkdir(parents=True)
    for i in range(4):  # q1 and q3 were asked by an earlier run with another subset
        append_jsonl(samples, {"id": f"q{i}", "answers": ["yes"], "score": float(i % 2)})
    rows = _rows(tmp_path, "llava", 0, "pope", ["q2", "q0"])
    assert [r["id"] for r in rows] == ["q0", "q2"] and rows[0]["answers"] == ("yes",)
    with pytest.raises(ValueError, match="no answer to 1 of"):
        _rows(tmp_path, "llava", 0, "pope", ["q0", "q9"])


def test_data_hash_follows_content_not_just_ids(tmp_path):
    from dataclasses import replace

    from tunebench.bench.pipeline import data_hash
    from tunebench.train.pipeline import TrainData

    image = tmp_path / "a.png"
    image.write_bytes(b"one world")
    record = Record(id="shapes-qa-0-0", image=str(image), turns=(Turn("human", "<image>\nWhat color?"),
                                                                   Turn("gpt", "red")))
    question = Record(id="q0", image=str(image), turns=(Turn("human", "What color?"),), answers=("red",))

    def digest(rec: Record = record, q: Record = question) -> str:
        return data_hash(TrainData([], [rec]), {"vqav2": [q]})

    before = digest()
    assert digest() == before
    assert digest(rec=replace(record, turns=(record.turns[0], Turn("gpt", "blue")))) != before  # same id
    assert digest(q=replace(question, answers=("blue",))) != before
    image.write_bytes(b"another world")  # same file name, other pixels
    assert digest() != before


def test_verdict_opens_with_the_state_of_the_evidence_before_any_win():
    results = _results({"vqav2": (5.0, True), "gqa": (3.0, True)})
    results["arms"]["a"]["image_reliance"] = {"vqav2": {"gap": 0.4}}
    results["arms"]["b"]["image_reliance"] = {"vqav2": {"gap": 0.3}}
    assert verdict(results)["sentences"][0].startswith("Both designs use the image")
    results["data"]["blind_baseline"]["gqa"] = 45.0  # B's GQA interval [38.5, 58.5] reaches it; A's [41.5, ...] too
    first = verdict(results)["sentences"][0]
    assert first.startswith("Weak evidence") and "A is clearly above the blind baseline on 1 of 2" in first
    assert "B is clearly above the blind baseline on 1 of 2" in first
    results["data"]["blind_baseline"]["gqa"] = 10.0
    results["arms"]["b"]["image_reliance"] = {"vqav2": {"gap": 0.01}}  # above blind, but blind to the image
    first = verdict(results)["sentences"][0]
    assert first.startswith("Weak evidence") and "B is clearly above the blind baseline on 2 of 2" in first
    assert "image-use gap 0.010" in first and "A is clearly" not in first
    assert verdict(results)["sentences"][1].startswith("A wins")


def test_verdict_says_which_design_reaches_a_common_score_with_less_compute():
    results = _results({"vqav2": (5.0, True)})
    curve_a = [{"step": s, "flops": f, "train_wall_s": w, "scores": {"vqav2": m, "gqa": m}, "mean": m}
               for s, f, w, m in ((0, 1e14, 60, 10.0), (5, 2e14, 120, 40.0), (10, 3e14, 180, 60.0))]
    curve_b = [{"step": s, "flops": f, "train_wall_s": w, "scores": {"vqav2": m, "gqa": m}, "mean": m}
               for s, f, w, m in ((0, 2e14, 90, 5.0), (5, 4e14, 200, 20.0), (10, 8e14, 300, 45.0))]
    results["arms"]["a"]["learning_curve"], results["arms"]["b"]["learning_curve"] = curve_a, curve_b
    results["comparison"]["compute"] = compute_to_reach({"a": curve_a, "b": curve_b})
    assert results["comparison"]["compute"]["target"] == 45.0  # the lower final score: both reach it
    assert results["comparison"]["compute"]["reached"]["a"]["flops"] == 3e14  # A's first point at or above 45
    text = " ".join(verdict(results)["sentences"])
    assert "to reach 45.0" in text and "A got there with 2.7x less compute" in text and "seed 0" not in text
    results["config"]["seeds"] = [0, 1, 2]  # the curves come from the first seed only, and the verdict says so
    assert "Learning curves (seed 0, mean of" in " ".join(verdict(results)["sentences"])
    results["data"]["curve_blind"] = {"vqav2": 50.0, "gqa": 50.0}
    assert "not above the blind baseline on this subset" in " ".join(verdict(results)["sentences"])
    assert compute_to_reach({"a": curve_a, "b": curve_b[:1]}) is None  # one point is no curve


def test_recipe_changes_list_every_departure_from_the_published_recipe():
    cfg = profile("default")
    llava = next(a for a in cfg.arms if a.name == "llava")
    changes = {c["field"]: (c["published"], c["as_run"]) for c in recipe_changes(get_recipe("llava-1.5"),
                                                                                  arm_recipe(cfg, llava))}
    assert all(not k.startswith(("qformer_optim", "model.qformer")) for k in changes)  # LLaVA has no Q-Former
    assert changes and all(before != after for before, after in changes.values())
    published = get_recipe("llava-1.5")
    assert recipe_changes(published, get_recipe("llava-1.5")) == []
    tweaked = override(published, {"stage2.connector_lr": 2e-3, "stage2.optim.lr": 1e-4})
    assert recipe_changes(published, tweaked) == [
        {"field": "stages.stage2.connector_lr", "published": None, "as_run": 2e-3},
        {"field": "stages.stage2.optim.lr", "published": 2e-5, "as_run": 1e-4}]


def test_yes_no_prompts_ask_for_a_short_answer_as_lmms_eval_does():
    mme = Record("m", "a.png", (Turn("human", "Is there a red circle? Please answer yes or no."),), ("Yes",), "mme", {})
    pope_q = Record("p", "a.png", (Turn("human", "Is there a circle in the image?"),), ("yes",), "pope", {})
    assert get_task("mme").question(mme) == "Is there a red circle?\nAnswer the question using a single word or phrase."
    assert get_task("pope").question(pope_q) == ("Is there a circle in the image?\n"
                                                 "Answer the question using a single word or phrase.")


def test_the_report_lists_the_shapes_world_settings_that_differ_from_the_full_profile():
    from tunebench.report.bench import data_changes

    cfg = profile("default")
    results = {"config": cfg.to_dict(), "data": {"world": {"max_objects": cfg.data.max_objects}}}
    changes = {ch["field"]: (ch["full"], ch["as_run"]) for ch in data_changes(results)}
    assert changes["data.max_objects"] == ("6", "2") and changes["data.questions_per_image"] == ("4", "12")
    assert changes["data.captions"] == ("all", "960")
    assert "data.seed" not in changes and "data.image_folder" not in changes
    assert data_changes({"config": profile("full").to_dict(), "data": {"world": {"max_objects": 6}}}) == []
    assert data_changes({"config": cfg.to_dict(), "data": {"world": None}}) == []  # a user's own data
    mixed = cfg.to_dict()
    mixed["data"]["question_mix"] = {"exist_shape": 2.0, "count": 0.5}
    changes = {ch["field"]: (ch["full"], ch["as_run"]) for ch in data_changes({**results, "config": mixed})}
    assert changes["data.question_mix"] == ("default", "exist_shape x2, count x0.5")


def test_paired_test_gives_each_seeds_difference_and_whether_it_keeps_the_sign():
    strong, weak = _pope_rows([True] * 90 + [False] * 10), _pope_rows([True] * 50 + [False] * 50)
    steady = paired_test(mean_score, [strong, strong, strong], [weak, weak, weak], n=200)
    assert steady["per_seed"] == [40.0, 40.0, 40.0] and steady["seeds_same_sign"] == 3
    # Seed 2 reverses the order: the mean difference stays positive but only two seeds agree with it.
    flipped = paired_test(mean_score, [strong, strong, weak], [weak, weak, strong], n=200)
    assert flipped["per_seed"] == [40.0, 40.0, -40.0] and flipped["seeds_same_sign"] == 2
    with pytest.raises(ValueError, match="same seeds"):
        paired_test(mean_score, [strong, strong], [weak], n=10)


def test_skills_and_image_use_are_means_over_seeds_not_the_first_seed():
    def rows(scores: list[float]) -> list[dict]:
        return [{"score": x, "meta": {"skill": "color" if i % 2 else "shape"}} for i, x in enumerate(scores)]

    # One task, two seeds: seed 0 gets every colour question right, seed 1 none.
    skills = skill_scores([[rows([1.0, 1.0, 1.0, 1.0]), rows([1.0, 0.0, 1.0, 0.0])]])
    assert skills["color"] == {"score": 50.0, "per_seed": [100.0, 0.0], "n": 2}
    assert skills["shape"]["score"] == 100.0
    seed = {"questions": 8, "answer_tokens": 16}
    mean = mean_reliance([{"vqav2": {**seed, "loss_right_image": 0.5, "loss_other_image": 0.9, "gap": 0.4},
                           "pope": {**seed, "loss_right_image": 0.3, "loss_other_image": 0.3, "gap": 0.0}},
                          {"vqav2": {**seed, "loss_right_image": 0.7, "loss_other_image": 0.8, "gap": 0.1}}])
    assert list(mean) == ["vqav2"]  # a task not measured on every seed has no mean
    assert mean["vqav2"]["gap"] == pytest.approx(0.25) and mean["vqav2"]["per_seed_gap"] == [0.4, 0.1]
    assert mean["vqav2"]["loss_right_image"] == pytest.approx(0.6) and mean["vqav2"]["questions"] == 8
    # POPE's sub-scores: a seed that says yes to everything and one that says no to everything average to 50%.
    def pope(yes_ratio: float, f1: float) -> dict:
        return {"splits": {"random": {"f1": f1, "yes_ratio": yes_ratio}}, "pooled": {"f1": f1}}

    sub = mean_breakdown("pope", [pope(100.0, 66.7), pope(0.0, 0.0)])
    assert sub == {"random F1": pytest.approx(33.35), "random yes-ratio": 50.0, "pooled F1": pytest.approx(33.35)}


def _with_seeds(results: dict, per_seed: dict[str, list[float]]) -> dict:
    for task, diffs in per_seed.items():
        test = results["comparison"]["tasks"][task]
        test["per_seed"] = diffs
        test["seeds_same_sign"] = sum(1 for d in diffs if d * test["diff"] > 0)
    return results


def test_verdict_says_whether_significant_differences_hold_on_every_seed():
    base = {"vqav2": (5.0, True), "gqa": (3.0, True), "pope": (-2.0, False)}
    stable = verdict(_with_seeds(_results(base), {"vqav2": [4.0, 6.0, 5.0], "gqa": [2.0, 3.0, 4.0],
                                                   "pope": [-3.0, 1.0, -4.0]}))
    text = " ".join(stable["sentences"])
    assert "Every significant difference has the same sign on each of the 3 seeds." in text
    assert "same sign on 2 of 3 seeds" in text  # POPE's line: not significant, and seed 1 disagrees
    unstable = verdict(_with_seeds(_results(base), {"vqav2": [4.0, 12.0, -1.0], "gqa": [2.0, 3.0, 4.0],
                                                     "pope": [-3.0, 1.0, -4.0]}))
    assert "Not stable across seeds" in " ".join(unstable["sentences"]) and "VQA-v2 (2 of 3)" in " ".join(
        unstable["sentences"])
    skill = {"diff": 8.0, "low": 2.0, "high": 14.0, "significant": True, "per_seed": [9.0, -1.0, 16.0],
             "seeds_same_sign": 2}
    with_skill = _with_seeds(_results(base), {"vqav2": [4.0, 6.0, 5.0], "gqa": [2.0, 3.0, 4.0],
                                               "pope": [-3.0, 1.0, -4.0]})
    with_skill["comparison"]["skills"] = {"size": skill}  # a significant skill difference counts as well
    assert "Not stable across seeds" in " ".join(verdict(with_skill)["sentences"]) and "skill size (2 of 3)" in (
        " ".join(verdict(with_skill)["sentences"]))
    one_seed = verdict(_results(base))  # one seed: nothing to say about seeds
    assert not any("seed" in s for s in one_seed["sentences"])


def test_the_report_tabulates_each_seed_when_there_are_several():
    from tunebench.report.bench import _seed_markdown
    from tunebench.report.render import Cells

    results = _with_seeds(_results({"vqav2": (5.0, True)}), {"vqav2": [4.0, 6.0]})
    for name, values in (("a", [52.0, 53.0]), ("b", [48.0, 47.0])):
        results["arms"][name]["tasks"]["vqav2"]["per_seed"] = values
    results["config"] = {"seeds": [0, 1]}
    lines = _seed_markdown(results, Cells(results))
    assert lines[-1] == "| VQA-v2 | 52.0 | 53.0 | 48.0 | 47.0 | 4.0 | 6.0 | 2 of 2 |"
    assert _seed_markdown({**results, "config": {"seeds": [0]}}, Cells(results)) == []
