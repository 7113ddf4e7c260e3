"""Score a table of model outputs with lmms-eval's own scorer functions and with tunebench's.

Run inside the lmms-eval environment (`python -m tests.helpers.lmms_scorers` from the repository root);
it prints one JSON list: per case, the benchmark, output, references and both scores.
"""

from __future__ import annotations

import json

VQA_REFS = ("2",) * 7 + ("two",) * 3
# (benchmark, model output, reference answers): ordinary answers, near misses, and the strings where the two
# scorers are known to part.
CASES: list[tuple[str, str, tuple[str, ...]]] = [
    *[("vqav2", out, VQA_REFS) for out in ("2", "two", " 2. ", "2!", "Two", "3", "2 circles", "the 2")],
    *[("vqav2", out, ("red",) * 10) for out in ("red", "Red.", "a red", "red,", "reddish", "")],
    *[("gqa", out, ("left",)) for out in ("left", "Left", "left.", "left,", "left!", "the left", "right", " left ")],
    *[("gqa", out, ("yes",)) for out in ("yes", "Yes.", "yes!", "yes, it is", "no")],
    *[("mme", out, ("yes",)) for out in ("yes", "Yes", "Yes.", "y", "n", "Yes, there is a circle.", "no",
                                         "Not sure", "yesterday", "nope", "")],
    *[("mme", out, ("no",)) for out in ("no", "No.", "n", "No, there is not.", "none", "yes")],
    *[("pope", out, ("yes",)) for out in ("yes", "Yes", " yes ", "Yes.", "Yes, there is a circle.", "no",
                                          "There is a circle.", "y", "")],
    *[("pope", out, ("no",)) for out in ("no", "No", "No.", "No, there is not.", "not at all", "nope", "yes")],
]


def lmms_score(benchmark: str, output: str, refs: tuple[str, ...]) -> float:
    """The per-sample score lmms-eval's task for this benchmark gives (vqav2_val, gqa, mme, pope)."""
    if benchmark == "vqav2":
        from lmms_eval.tasks.vqav2.utils import vqav2_process_results

        from tunebench.evaluation.tasks.vqav2 import vqa_answers

        doc = {"question_id": 0, "answers": vqa_answers(refs)}
        return float(vqav2_process_results(doc, [output])["exact_match"])
    if benchmark == "gqa":  # the gqa task's metric_list: exact_match, ignore_case and ignore_punctuation
        from lmms_eval.api.metrics import exact_match_hf_evaluate

        return float(exact_match_hf_evaluate([output], [refs[0]], ignore_case=True, ignore_punctuation=True)
                     ["exact_match"])
    if benchmark == "mme":
        from lmms_eval.tasks.mme.utils import mme_process_results

        doc = {"answer": refs[0], "category": "color", "question_id": "q"}
        return float(mme_process_results(doc, [output])["mme_perception_score"]["score"])
    from lmms_eval.tasks.pope.utils import pope_process_results

    return float(pope_process_results({"answer": refs[0], "question_id": 0}, [output])["pope_accuracy"]["score"])


def tunebench_scores(benchmark: str, output: str, refs: tuple[str, ...]) -> dict[str, float]:
    """tunebench's score (its headline rule) and, for POPE, its lmms-eval exact-match rule."""
    from tunebench.evaluation.metrics import METRICS
    from tunebench.evaluation.metrics.pope import parse_exact

    scores = {"ours": float(METRICS[benchmark].evaluate(output, refs)["score"])}
    if benchmark == "pope":
        scores["ours_exact"] = float(parse_exact(output) == refs[0])
    return scores


def main() -> None:
    rows = [{"benchmark": b, "output": out, "refs": list(refs), "lmms": lmms_score(b, out, refs),
             **tunebench_scores(b, out, refs)} for b, out, refs in CASES]
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
