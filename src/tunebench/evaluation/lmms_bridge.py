"""lmms-eval model "tunebench": evaluate any tunebench run (or llava-hf checkpoint) inside lmms-eval.

    make lmms          # lmms-eval in its own environment (docs/lmms-eval.md)
    lmms-eval --model tunebench --model_args run=RUN_DIR,batch_size=16 --tasks tunebench_pope \
        --include_path TASKS      # task files for tunebench data: `tunebench lmms-tasks` (lmms_tasks)

lmms-eval 0.7 finds the class through the `lmms_eval.models` entry point (`lmms_plugin.manifest`); with
lmms-eval imported first, `register_model` registers it too. Requests follow lmms-eval's "simple" model
protocol: `Instance.args` is (context, gen_kwargs, doc_to_visual, doc_id, task, split) for `generate_until`
and (context, continuation_or_doc_to_target, doc_to_visual, doc_id, task, split) for `loglikelihood`; the
image comes from `doc_to_visual(self.task_dict[task][split][doc_id])`.

Inference is tunebench's own engine (`evaluation.engine.run_batches`): one image per prompt through the
frozen path in fixed chunks, each image's prompt prefix prefilled once and shared by all its requests,
left-padded batches with positions from the attention mask, greedy decoding. Results do not depend on
`batch_size`.
One process (device from `device=`, else CUDA when present); lmms-eval's multi-process launch is not used.
A user error (bad run folder, missing image) ends the process with one line and exit status 1: lmms-eval
would log a traceback and exit 0.
Without lmms-eval installed the module still imports, with a stand-in base class of the same interface.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch

from tunebench.core.errors import DataError, UserError
from tunebench.data.records import IMAGE_TOKEN, Turn
from tunebench.evaluation.engine import Prompt, answer_ids, run_batches, split_prompt
from tunebench.evaluation.lmms_plugin import MODEL_ID
from tunebench.models.features import CHUNK
from tunebench.models.prefix import PrefixKV

log = logging.getLogger(__name__)
# Requests are handled in fixed windows (their images' features held at once); the windows, not the batch
# size, decide which images share a forward pass of the frozen path.
WINDOW = 1024


class _StandInLMM(abc.ABC):
    """The part of `lmms_eval.api.model.lmms` this bridge relies on, for use without lmms-eval."""

    is_simple: bool = True

    def __init__(self) -> None:
        self._rank, self._world_size = 0, 1
        self.task_dict: dict = {}
        self.cache_hook = None

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def world_size(self) -> int:
        return self._world_size

    @abc.abstractmethod
    def loglikelihood(self, requests: list) -> list[tuple[float, bool]]: ...

    @abc.abstractmethod
    def generate_until(self, requests: list) -> list[str]: ...

    @abc.abstractmethod
    def generate_until_multi_round(self, requests: list) -> list[str]: ...


try:
    from lmms_eval.api.model import lmms as _Base
    from lmms_eval.api.registry import register_model

    HAVE_LMMS_EVAL = True
except ImportError:  # the optional extra is not installed
    _Base = _StandInLMM  # type: ignore[assignment, misc]
    HAVE_LMMS_EVAL = False

    def register_model(*names: str) -> Callable[[type], type]:
        return lambda cls: cls


def exits_on_user_error(method: Callable) -> Callable:
    """A UserError inside lmms-eval becomes one line on stderr and exit status 1 (SystemExit passes through
    lmms-eval's `except Exception`, which would print a traceback and exit 0)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except UserError as exc:
            raise SystemExit(f"error: {exc.one_line()}") from None

    return wrapper


def parse_model_args(text: str) -> dict[str, Any]:
    """`run=DIR,batch_size=16` -> {"run": "DIR", "batch_size": 16} (lmms-eval's conventions)."""
    out: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--model_args expects key=value pairs, got {item!r}")
        out[key.strip()] = _scalar(value.strip())
    return out


def _scalar(text: str) -> Any:
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@register_model(MODEL_ID)
class TunebenchLMM(_Base):
    """A tunebench run as an lmms-eval "simple" model (images via the task's doc_to_visual)."""

    is_simple = True

    @exits_on_user_error
    def __init__(self, run: str, batch_size: int | str = 16, device: str | None = None, max_new_tokens: int = 16,
                 **unused: Any) -> None:
        super().__init__()
        from tunebench.core.device import pick_device
        from tunebench.models.checkpoint import load_run

        if unused:
            log.info("ignoring model_args %s", sorted(unused))
        self.run = str(run)
        self.model_name = self.run
        self.batch_size_per_gpu = _batch_size(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.model = load_run(self.run).to(pick_device(device)).eval()

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> TunebenchLMM:
        """`--model_args` win over lmms-eval's own CLI defaults (it always passes batch_size and device)."""
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None}
        return cls(**{**extra, **parse_model_args(arg_string)})

    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    # ----- lmms-eval API ------------------------------------------------------------------------------------
    @exits_on_user_error
    def generate_until(self, requests: Sequence) -> list[str]:
        """Greedy answers; each stops at the template's end, `until` strings and `max_new_tokens`."""
        return [out for a in range(0, len(requests), WINDOW) for out in self._generate(requests[a : a + WINDOW])]

    @exits_on_user_error
    def loglikelihood(self, requests: Sequence) -> list[tuple[float, bool]]:
        """(mean negative log-likelihood per token of the continuation given image and context, whether greedy
        decoding would produce it) per request: lmms-eval's models answer with the loss (its multiple_choice
        takes the argmin), not with log p.

        The continuation is tokenized as the model writes an answer under its template (what training
        supervised), without the end-of-turn marker; surrounding whitespace is dropped.
        """
        return [out for a in range(0, len(requests), WINDOW) for out in self._loglikelihood(requests[a : a + WINDOW])]

    def generate_until_multi_round(self, requests: Sequence) -> list[str]:
        raise NotImplementedError("tunebench models answer single-round prompts (generate_until)")

    # ----- internals ----------------------------------------------------------------------------------------
    def _generate(self, requests: Sequence) -> list[str]:
        args = [req.args for req in requests]
        prompts = self._prompts([(a[0], a[2], a[3], a[4], a[5]) for a in args])
        kwargs = [dict(a[1] or {}) for a in args]
        if any(k.get("do_sample") or float(k.get("temperature", 0) or 0) > 0 for k in kwargs):
            log.warning("tunebench decodes greedily; sampling settings in gen_kwargs are ignored")
        limits = [int(k.get("max_new_tokens", self.max_new_tokens)) for k in kwargs]

        def step(inputs: dict, prefix: PrefixKV | None, batch: list[Prompt]) -> list[list[int]]:
            return self.model.generate(inputs, max(limits[p.index] for p in batch), prefix)

        outputs: list[str] = [""] * len(prompts)
        for p, new in run_batches(self.model, prompts, self.batch_size, step):
            outputs[p.index] = _cut(self.model.decode_answer(new[: limits[p.index]]), kwargs[p.index].get("until"))
        for arg, text in zip(args, outputs, strict=True):
            if self.cache_hook is not None:
                self.cache_hook.add_partial("generate_until", (arg[0], arg[1]), text)
        return outputs

    def _loglikelihood(self, requests: Sequence) -> list[tuple[float, bool]]:
        args = [req.args for req in requests]
        targets = []
        for arg in args:
            target = arg[1] if isinstance(arg[1], str) else arg[1](self._doc(arg[4], arg[5], arg[3]))
            targets.append(answer_ids(self.model, str(target).strip()))
        if any(not t for t in targets):
            raise DataError("an empty continuation has no likelihood to score")
        prompts = self._prompts([(a[0], a[2], a[3], a[4], a[5]) for a in args], tails=targets)

        @torch.inference_mode()
        def step(inputs: dict, prefix: PrefixKV | None, batch: list[Prompt]) -> list[tuple[float, bool]]:
            conts = [targets[p.index] for p in batch]
            width = max(len(c) for c in conts)
            hidden = self.model.hidden_states(inputs, prefix)[:, -width - 1 : -1]  # positions that predict the tails
            logprobs = self.model.llm.lm_head(hidden).float().log_softmax(-1)
            out = []
            for row, cont in enumerate(conts):
                lp = logprobs[row, width - len(cont) :]
                target = torch.tensor(cont, device=lp.device)
                picked = lp.gather(-1, target[:, None]).squeeze(-1)
                out.append((-float(picked.mean()), bool((lp.argmax(-1) == target).all())))
            return out

        results: list[tuple[float, bool]] = [(0.0, False)] * len(prompts)
        for p, scored in run_batches(self.model, prompts, self.batch_size, step):
            results[p.index] = scored
        return results

    def _doc(self, task: str, split: str, doc_id: int) -> Any:
        try:
            return self.task_dict[task][split][doc_id]
        except (KeyError, IndexError, TypeError) as exc:
            raise DataError(f"no document {doc_id} in task_dict[{task!r}][{split!r}]") from exc

    def _prompts(self, requests: list[tuple], tails: list[list[int]] | None = None) -> list[Prompt]:
        """Every request's prompt (its continuation's tokens appended, when given), split after its image's
        tokens, with the frozen image path of every distinct image (computed in fixed chunks)."""
        images, keys, rows = [], {}, []
        for context, doc_to_visual, doc_id, task, split in requests:
            visuals = [v for v in (doc_to_visual(self._doc(task, split, doc_id)) if doc_to_visual else []) or []
                       if v is not None]
            if len(visuals) > 1 or not all(hasattr(v, "convert") for v in visuals):
                raise DataError(f"{len(visuals)} visuals ({', '.join(type(v).__name__ for v in visuals)}), but a "
                                "tunebench model takes one image per prompt", where=f"{task} doc {doc_id}")
            key = None
            if visuals:
                image = visuals[0].convert("RGB")
                key = hashlib.sha256(image.tobytes() + repr(image.size).encode()).hexdigest()
                if key not in keys:
                    keys[key] = len(images)
                    images.append(image)
            text = context.replace(IMAGE_TOKEN, "").strip() if key is not None else context
            turn = Turn("human", f"{IMAGE_TOKEN}\n{text}" if key is not None else text)
            ids = self.model.encode([turn], record_id=f"{task}/{doc_id}", for_generation=True)["input_ids"]
            rows.append((ids, key, f"{task}/{doc_id}"))
        feats = self._frozen_features(images) if images else None
        prompts = [split_prompt(self.model, i, ids, key, feats[keys[key]] if key is not None else None, name)
                   for i, (ids, key, name) in enumerate(rows)]
        if tails:  # appended after the split, so a tail never becomes part of a shared prefix
            for p in prompts:
                p.suffix = p.suffix + tails[p.index]
        return prompts

    @torch.inference_mode()
    def _frozen_features(self, images: list) -> torch.Tensor:
        model = self.model
        out = [model.frozen_features(model.tower.preprocess(images[a : a + CHUNK]).to(model.device)).float().cpu()
               for a in range(0, len(images), CHUNK)]
        return torch.cat(out)


def _batch_size(value: int | str) -> int:
    if isinstance(value, int) or str(value).isdigit():
        return max(1, int(value))
    log.warning("batch_size %r is not a number; using 16", value)
    return 16


def _cut(text: str, until: str | Sequence[str] | None) -> str:
    """Text before the first stop string."""
    stops = [until] if isinstance(until, str) else list(until or [])
    for stop in stops:
        if stop:
            text = text.split(stop)[0]
    return text.strip()
