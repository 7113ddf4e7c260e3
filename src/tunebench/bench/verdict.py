"""The verdict, written from the measured numbers: who wins on what, by how much, and whether it holds up."""

from __future__ import annotations

from typing import Any

from tunebench.evaluation.tasks import task_label


def _fmt(x: float) -> str:
    return f"{x:+.1f}"


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    comp = results.get("comparison") or {}
    if not comp:
        return {"winner": None, "sentences": [*_evidence_sentences(results),
                                              "Only one main design was run: nothing to compare.",
                                              *_context_sentences(results)]}
    arms = results["arms"]
    a, b = comp["a"], comp["b"]
    la, lb = arms[a]["label"], arms[b]["label"]
    limited = blind_limited(results)
    wins = {a: [], b: []}
    significant = {a: [], b: []}
    lines = []
    for task, test in comp["tasks"].items():
        leader = a if test["diff"] > 0 else b
        if test["diff"] != 0 and task not in limited:
            wins[leader].append(task)
        if test["significant"] and task not in limited:
            significant[leader].append(task)
        va, vb = arms[a]["tasks"][task]["mean"], arms[b]["tasks"][task]["mean"]
        state = "significant" if test["significant"] else "not significant"
        blind_note = (f"; not a win for either: {' and '.join(limited[task])} not clearly above the blind baseline "
                      f"{results['data']['blind_baseline'][task]:.1f}" if task in limited else "")
        lines.append(f"{task_label(task)}: {la} {va:.1f} vs {lb} {vb:.1f} "
                     f"({_fmt(test['diff'])} for {la}, 95% CI [{test['low']:+.1f}, {test['high']:+.1f}], "
                     f"p={test['p_value']:.3f}, {state}{_seed_text(test)}{blind_note}).")
    n = len(comp["tasks"]) - len(limited)
    where = f"{n} benchmarks" + (f" ({', '.join(task_label(t) for t in limited)} left out: a design is not clearly "
                                 "above the blind baseline there)" if limited else "")
    sa, sb = len(significant[a]), len(significant[b])
    if n == 0:
        winner, headline = None, ("No verdict: on no benchmark are both designs clearly above the blind baseline, "
                                  "so no difference between them measures their connectors.")
    elif sa > sb:
        winner, headline = a, f"{la} wins: ahead on {len(wins[a])} of {where}, significantly on {sa}."
    elif sb > sa:
        winner, headline = b, f"{lb} wins: ahead on {len(wins[b])} of {where}, significantly on {sb}."
    else:
        winner = None
        headline = (f"No clear winner: {la} leads on {len(wins[a])} and {lb} on {len(wins[b])} of {where}, "
                    f"with {sa} vs {sb} significant differences.")
    sentences = [*_evidence_sentences(results), headline, *_seed_sentences(_named_tests(comp)), *lines,
                 *_skill_sentences(comp, la, lb, _blind_skills(results, a, b)),
                 *_cost_sentences(arms, a, b), *_compute_sentences(results), *_design_questions(results),
                 *_context_sentences(results)]
    return {"winner": winner, "winner_label": arms[winner]["label"] if winner else None,
            "significant_wins": {a: significant[a], b: significant[b]}, "sentences": sentences}


def blind_limited(results: dict[str, Any]) -> dict[str, list[str]]:
    """Benchmarks where a main design's 95% interval reaches the blind baseline, with those designs' labels:
    a difference there is between language priors, not connectors, and is never counted as a win."""
    blind = results["data"].get("blind_baseline") or {}
    main = [arm for arm in results["arms"].values() if not arm["ablation"]]
    limited = {t: [arm["label"] for arm in main if arm["tasks"][t]["low"] <= blind[t]]
               for t in results["tasks"] if t in blind}
    return {t: labels for t, labels in limited.items() if labels}


def _blind_skills(results: dict[str, Any], a: str, b: str) -> set[str]:
    """Skills on which either design scores no better than the blind baseline's answers."""
    blind = results["data"].get("blind_skills") or {}
    arms = results["arms"]
    return {skill for skill, base in blind.items()
            if any(arms[x].get("skills", {}).get(skill, {}).get("score", float("inf")) <= base["score"]
                   for x in (a, b))}


def _seed_text(test: dict) -> str:
    seeds = len(test.get("per_seed", []))
    return f"; same sign on {test['seeds_same_sign']} of {seeds} seeds" if seeds > 1 else ""


def _named_tests(comp: dict) -> dict[str, dict]:
    """Every paired test the verdict reports, benchmarks then skills, under the name a reader sees."""
    return {**{task_label(t): x for t, x in comp["tasks"].items()},
            **{f"skill {skill}": x for skill, x in (comp.get("skills") or {}).items()}}


def _seed_sentences(tests: dict[str, dict]) -> list[str]:
    """With several seeds: does every significant difference keep its sign on each seed?"""
    significant = {t: x for t, x in tests.items() if x["significant"] and len(x.get("per_seed", [])) > 1}
    if not significant:
        return []
    unstable = [f"{name} ({x['seeds_same_sign']} of {len(x['per_seed'])})"
                for name, x in significant.items() if x["seeds_same_sign"] < len(x["per_seed"])]
    if unstable:
        return [f"Not stable across seeds: the sign of the significant difference holds on only some seeds on "
                f"{', '.join(unstable)}."]
    seeds = len(next(iter(significant.values()))["per_seed"])
    return [f"Every significant difference has the same sign on each of the {seeds} seeds."]


def _evidence_sentences(results: dict[str, Any]) -> list[str]:
    """The state of the evidence, said before any "wins": does each main design beat the blind baseline
    clearly (its 95% interval above it) on every benchmark, and do its answers depend on the image?"""
    blind = results["data"].get("blind_baseline") or {}
    tasks = [t for t in results["tasks"] if t in blind]
    main = {k: a for k, a in results["arms"].items() if not a["ablation"]}
    if not tasks or not main:
        return []
    weak = []
    for arm in main.values():
        above = [t for t in tasks if arm["tasks"][t]["low"] > blind[t]]
        gap = _mean_gap(arm)
        gap_text = f", image-use gap {gap:.3f} nats per token" if gap is not None else ""
        if len(above) < len(tasks) or (gap is not None and gap < LOOKS_AT_IMAGE_NATS):
            weak.append(f"{arm['label']} is clearly above the blind baseline on {len(above)} of {len(tasks)} "
                        f"benchmarks{gap_text}")
    if weak:
        return [f"Weak evidence: {'; '.join(weak)}. Where a design is not clearly above blind, or its answers barely "
                "depend on the image, the comparison below reflects language priors more than the connectors."]
    subject = "Both designs use the image: each is" if len(main) > 1 else "The design uses the image: it is"
    return [f"{subject} clearly above the blind baseline on every benchmark (95% interval) and its image-use gap is "
            f"at least {LOOKS_AT_IMAGE_NATS:.3f} nats per token."]


def _mean_gap(arm: dict) -> float | None:
    gaps = [r["gap"] for r in arm.get("image_reliance", {}).values()]
    return sum(gaps) / len(gaps) if gaps else None


def _context_sentences(results: dict[str, Any]) -> list[str]:
    """What every arm is measured against: the blind baseline, the perception ceiling, its own image use."""
    return [*_baseline_sentences(results), *_ceiling_sentences(results), *_reliance_sentences(results["arms"])]


def _skill_sentences(comp: dict, la: str, lb: str, at_blind: set[str] = frozenset()) -> list[str]:
    skills = comp.get("skills") or {}
    if not skills:
        return []
    ranked = sorted(skills.items(), key=lambda kv: -abs(kv[1]["diff"]))
    parts = []
    for skill, t in ranked:
        who = la if t["diff"] > 0 else lb
        notes = [note for note, on in (("n.s.", not t["significant"]), ("a design at blind", skill in at_blind)) if on]
        parts.append(f"{skill} ({who} {abs(t['diff']):.1f} points ahead{''.join(', ' + n for n in notes)})")
    ahead_b = [s for s, t in skills.items() if t["diff"] < 0 and t["significant"] and s not in at_blind]
    tail = (f" {lb} is significantly better on: {', '.join(ahead_b)}." if ahead_b
            else f" {lb} is significantly better on no skill where both are above blind.")
    return [f"By skill, largest gaps first: {'; '.join(parts)}.{tail}"]


def _cost_sentences(arms: dict, a: str, b: str) -> list[str]:
    ca, cb = arms[a]["cost"], arms[b]["cost"]
    ta = max(ca["stages"].get("stage2", {}).get("trainable_params", 0), 1)
    tb = max(cb["stages"].get("stage2", {}).get("trainable_params", 0), 1)
    ratio = ca["train_wall_s"] / cb["train_wall_s"] if cb["train_wall_s"] else float("nan")
    return [f"Cost: {arms[a]['label']} trained {ta / 1e6:.2f}M parameters in stage 2 and took "
            f"{ca['train_wall_s'] / 60:.1f} min ({ca['train_flops'] / 1e15:.2f} PFLOP) to train; {arms[b]['label']} "
            f"trained {tb / 1e6:.2f}M in {cb['train_wall_s'] / 60:.1f} min ({cb['train_flops'] / 1e15:.2f} PFLOP, "
            f"including {cb['qformer_pretrain_s'] / 60:.1f} min of Q-Former pretraining): {arms[a]['label']} took "
            f"{ratio:.2f}x the training time of {arms[b]['label']}."]


def _compute_sentences(results: dict) -> list[str]:
    """The learning curves' answer to "which design trains faster": compute to reach a common score."""
    found = (results.get("comparison") or {}).get("compute")
    if not found:
        return []
    arms, target = results["arms"], found["target"]
    blind = results["data"].get("curve_blind") or {}
    parts = [f"{arms[name]['label']} {r['flops'] / 1e15:.3f} PFLOP and {r['train_wall_s'] / 60:.1f} min of training"
             for name, r in found["reached"].items()]
    (fast, rf), (_, rs) = sorted(found["reached"].items(), key=lambda kv: kv[1]["flops"])
    ratio = rs["flops"] / rf["flops"] if rf["flops"] else float("inf")
    tasks = " and ".join(task_label(t) for t in arms[fast]["learning_curve"][-1]["scores"])
    seeds = results["config"]["seeds"]
    which = f"seed {seeds[0]}, " if len(seeds) > 1 else ""
    line = (f"Learning curves ({which}mean of {tasks} on a fixed subset, scored during the last stage): to reach "
            f"{target:.1f}, the lower of the final scores, {'; '.join(parts)}; {arms[fast]['label']} got there with "
            f"{ratio:.1f}x less compute.")
    blind_mean = sum(blind.values()) / len(blind) if blind else None
    if blind_mean is not None and target <= blind_mean:
        line += (f" That score is not above the blind baseline on this subset ({blind_mean:.1f}),"
                 " so this compares how fast the designs learn the answer format, not how fast they learn to see.")
    return [line]


def _design_questions(results: dict[str, Any]) -> list[str]:
    """The two claims the comparison was built to test, answered yes or no with the numbers behind the answer."""
    comp = results.get("comparison") or {}
    arms = results["arms"]
    design = {arms[k].get("design"): k for k in (comp.get("a"), comp.get("b")) if k}
    if set(design) != {"llava", "minigpt4"}:
        return []
    return [*_trains_faster(results, design["llava"], design["minigpt4"]),
            *_spatial(results, design["llava"], design["minigpt4"])]


def _trains_faster(results: dict[str, Any], mlp: str, qformer: str) -> list[str]:
    found = results["comparison"].get("compute")
    if not found:
        return []
    arms, target = results["arms"], found["target"]
    fm, fq = found["reached"][mlp]["flops"], found["reached"][qformer]["flops"]
    numbers = (f"to reach {target:.1f}, {arms[mlp]['label']} needed {fm / 1e15:.3f} PFLOP, "
               f"{arms[qformer]['label']} {fq / 1e15:.3f}")
    blind = results["data"].get("curve_blind") or {}
    if blind and target <= sum(blind.values()) / len(blind):
        return [f"Does the simpler MLP train faster? Not measured: {numbers}, but that score is not above the "
                "blind baseline of the curves' subset."]
    answer = "Yes" if fm < fq else "No"
    return [f"Does the simpler MLP train faster? {answer}: {numbers} ({max(fm, fq) / max(min(fm, fq), 1.0):.1f}x "
            f"{'less' if fm < fq else 'more'} compute for the MLP)."]


def _spatial(results: dict[str, Any], mlp: str, qformer: str) -> list[str]:
    test = (results["comparison"].get("skills") or {}).get("spatial")
    if test is None:
        return []
    arms = results["arms"]
    diff = test["diff"] if results["comparison"]["a"] == mlp else -test["diff"]
    low, high = (test["low"], test["high"]) if results["comparison"]["a"] == mlp else (-test["high"], -test["low"])
    scores = {k: arms[k]["skills"]["spatial"]["score"] for k in (mlp, qformer)}
    numbers = (f"spatial {arms[qformer]['label']} {scores[qformer]:.1f} vs {arms[mlp]['label']} {scores[mlp]:.1f} "
               f"({diff:+.1f} for {arms[mlp]['label']}, 95% CI [{low:+.1f}, {high:+.1f}]"
               f"{', significant' if test['significant'] else ', not significant'})")
    blind = (results["data"].get("blind_skills") or {}).get("spatial")
    if blind is not None and min(scores.values()) <= blind["score"]:
        return [f"Does the Q-Former still compete on spatial reasoning? Not measured: {numbers}, and a design is not "
                f"above the blind baseline's {blind['score']:.1f} there."]
    behind = diff > 0 and test["significant"]
    return [f"Does the Q-Former still compete on spatial reasoning? {'No' if behind else 'Yes'}: {numbers}."]


def _baseline_sentences(results: dict) -> list[str]:
    blind = results["data"].get("blind_baseline")
    if not blind:
        return []
    misses = [f"{arm['label']} on {task_label(t)} ({arm['tasks'][t]['mean']:.1f} vs {blind[t]:.1f})"
              for arm in results["arms"].values() for t in results["tasks"]
              if t in blind and arm["tasks"][t]["mean"] <= blind[t]]
    if misses:
        return [f"Not above the blind (image-free) baseline: {'; '.join(misses)}."]
    return ["Every arm beats every blind (image-free) baseline."]


def _ceiling_sentences(results: dict) -> list[str]:
    """Where even the scene given in words is not clearly above the blind baseline, and how much of the room
    above it each arm uses where it is."""
    ceiling = results.get("ceiling")
    if not ceiling:
        return []
    arms, tasks = results["arms"], ceiling["tasks"]
    label = arms[ceiling["arm"]]["label"]
    scores = "; ".join(f"{task_label(t)} {v['value']:.1f}"
                       + f" [{v['low']:.1f}, {v['high']:.1f}]"
                       + (f" vs blind {v['blind']:.1f}" if v["blind"] is not None else "")
                       for t, v in tasks.items())
    lines = [f"Perception ceiling (the LLM told each scene in words instead of seeing it; {label}'s stage-2 "
             f"recipe, {ceiling['steps']} steps, one seed): {scores}."]
    flat = [task_label(t) for t, v in tasks.items() if v["blind"] is not None and not v["clearly_above_blind"]]
    if flat:
        lines.append(f"Not clearly above the blind baseline even with the scene in words (95% interval reaching "
                     f"it): {', '.join(flat)}; there the training budget is a limit for every design, whatever its "
                     "connector.")
    parts = [f"{arm['label']}: " + ", ".join(f"{task_label(t)} {_share(v['gap_closed_pct'][name])}"
                                             for t, v in tasks.items() if name in v["gap_closed_pct"])
             for name, arm in arms.items() if any(name in v["gap_closed_pct"] for v in tasks.values())]
    if parts:
        lines.append(f"Share of the blind-to-ceiling gap closed where the ceiling is clearly above blind: "
                     f"{'; '.join(parts)}.")
    return lines


def _share(percent: float) -> str:
    if percent > 100:
        return "above the ceiling"
    if percent < 0:
        return "below the blind baseline"
    return f"{percent:.0f}%"


# Below this many nats per answer token, the right image barely changes what the model expects to answer.
LOOKS_AT_IMAGE_NATS = 0.05


def _reliance_sentences(arms: dict) -> list[str]:
    gaps = {arm["label"]: _mean_gap(arm) for arm in arms.values()}
    gaps = {label: gap for label, gap in gaps.items() if gap is not None}
    if not gaps:
        return []
    parts = [f"{label} {gap:.3f}" for label, gap in gaps.items()]
    weak = [label for label, gap in gaps.items() if gap < LOOKS_AT_IMAGE_NATS]
    whose = "its" if len(weak) == 1 else "their"
    tail = (f" Below {LOOKS_AT_IMAGE_NATS:.3f} for {', '.join(weak)}: {whose} scores mostly reflect language priors, "
            "not vision." if weak else " Every arm's answers depend on the image.")
    return [f"Image use (answer loss with another image minus with the right one, nats per token, mean over "
            f"benchmarks): {'; '.join(parts)}.{tail}"]
