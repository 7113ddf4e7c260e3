"""One model class for both designs: frozen tower -> connector -> image tokens spliced into the LLM.

The image path, for either design:

    pixels --tower--> features --connector.frozen_part--> frozen features   (no gradient: cacheable per image)
    frozen features --connector.trainable_part--> image embeddings          (`image_embeds`)
    prompt embeddings with the image embeddings at the `<image>` positions  (`input_embeds`)
    --llm--> hidden states -> loss at supervised positions, or generation  (`hidden_states`, `loss`, `generate`)

The feature cache (`models/features.py`) holds the frozen features of every image, so training and
evaluation start at the second line: a batch carries `batch["frozen_features"]`, never pixels.
`frozen_features(pixels)` is the first line, uncached. LLaVA's frozen features are the tower's own;
MiniGPT-4's are the frozen Q-Former's 32 query outputs.

The prompt holds the `<image>` placeholder expanded to as many tokens as the connector emits. Loss logits
are computed only at supervised positions (most positions are prompt or image tokens, and the LM head is
the largest matmul).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunebench.core.errors import DataError, UserError
from tunebench.data.records import IMAGE_TOKEN, Turn
from tunebench.models.batching import position_ids
from tunebench.models.config import VLMConfig
from tunebench.models.connectors import Connector, MlpProjector, QFormerConnector
from tunebench.models.packing import as_additive, encode_isolated, isolated_attention_mask
from tunebench.models.prefix import PrefixKV
from tunebench.models.prompting import IGNORE_INDEX, encode_chat, encode_prompt, image_after_question


@dataclass
class LossOutput:
    loss: torch.Tensor
    n_tokens: int
    weight: float  # what the loss is the mean over: n_tokens, or the sum of the batch's `label_weights`


class VisionLanguageModel(nn.Module):
    def __init__(self, cfg: VLMConfig, tower: nn.Module, llm: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 connector: Connector, weights_hashes: dict[str, str] | None = None):
        super().__init__()
        self.cfg = cfg
        self.tower = tower
        self.connector = connector
        self.llm = llm
        self.tokenizer = tokenizer
        self.image_token_id = add_image_token(tokenizer, llm)
        self.weights_hashes = dict(weights_hashes or {})  # provenance of every weight file loaded or saved
        self.peft = None  # the PEFT wrapper of `llm` once LoRA adapters are attached

    def attach_lora(self, peft_model: nn.Module) -> None:
        """Keep the PEFT wrapper of `llm` beside it, unregistered: it holds the same parameters, and
        registering it would list them twice in `parameters()` and the state dict."""
        object.__setattr__(self, "peft", peft_model)

    def record_weights(self, hashes: dict[str, str]) -> None:
        self.weights_hashes.update(hashes)

    @property
    def num_image_tokens(self) -> int:
        return self.connector.output_tokens(self.tower.num_tokens)

    @property
    def device(self) -> torch.device:
        return next(self.llm.parameters()).device

    # ----- images -------------------------------------------------------------------------------
    def frozen_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The frozen part of the image path (tower, plus a frozen Q-Former): cacheable per image."""
        with torch.no_grad():
            return self.connector.frozen_part(self.tower(pixel_values))

    def image_embeds(self, feat: torch.Tensor) -> torch.Tensor:
        return self.connector.trainable_part(feat)

    def expand_image_tokens(self, ids: Sequence[int], labels: Sequence[int] | None = None
                            ) -> tuple[list[int], list[int]]:
        """Replace each single `<image>` token id by `num_image_tokens` copies (labels: ignored)."""
        labels = labels if labels is not None else [IGNORE_INDEX] * len(ids)
        out_ids: list[int] = []
        out_labels: list[int] = []
        for token, label in zip(ids, labels, strict=True):
            n = self.num_image_tokens if token == self.image_token_id else 1
            out_ids += [token] * n
            out_labels += [label if n == 1 else IGNORE_INDEX] * n
        return out_ids, out_labels

    def encode(self, turns: Sequence[Turn], record_id: str = "?", for_generation: bool = False,
               isolate_turns: bool = False) -> dict:
        """Token ids (image placeholder expanded) and labels of one conversation, within max_length.

        With `isolate_turns`, each question-answer pair sees the image and itself only (`models/packing.py`).
        """
        if isolate_turns:
            return encode_isolated(lambda pair: self.encode(pair, record_id), turns, self.image_token_id,
                                   self.cfg.max_length, record_id)
        if self.cfg.question_first:
            turns = image_after_question(turns)
        if for_generation:
            ids, labels = encode_prompt(self.tokenizer, turns), None
        else:
            ids, labels = encode_chat(self.tokenizer, turns, record_id=record_id)
        placeholders = ids.count(self.image_token_id)
        if placeholders > 1:  # one image per sample: a second placeholder would misalign every image token
            raise DataError(f"{placeholders} {IMAGE_TOKEN} placeholders in the text but a sample holds one image",
                            where=f"record {record_id}")
        ids, labels = self.expand_image_tokens(ids, labels)
        limit = self.cfg.max_length
        if len(ids) > limit:
            if for_generation or self.image_token_id in ids[limit:]:
                raise DataError(f"{len(ids)} tokens exceed max_length {limit} and truncation would cut the "
                                "prompt or the image tokens; raise max_length or shorten the text",
                                where=f"record {record_id}")
            ids, labels = ids[:limit], labels[:limit]
        return {"input_ids": ids, "labels": labels}

    def encode_chat_pair(self, question: str, answer: str) -> tuple[list[int], list[int]]:
        """ids and labels of a one-turn text exchange (how an answer is tokenized under the template)."""
        return encode_chat(self.tokenizer, [Turn("human", question), Turn("gpt", answer)])

    def decode_answer(self, ids: Sequence[int]) -> str:
        """Text of generated ids, cut at the template's stop string (e.g. MiniGPT-4's '###')."""
        from tunebench.models.prompting import STOP_STRINGS

        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        stop = STOP_STRINGS.get(self.cfg.template)
        return (text.split(stop)[0] if stop else text).strip()

    def input_embeds(self, input_ids: torch.Tensor, feat: torch.Tensor | None,
                     sample_ids: Sequence[str] | None = None, repeated: bool = False) -> torch.Tensor:
        """Token embeddings with each row's image embeddings at its image positions. With `repeated`, a row may
        hold its image several times (isolated turns with the question first: one copy per question)."""
        embeds = self.llm.get_input_embeddings()(input_ids)
        is_image = input_ids == self.image_token_id
        counts = is_image.sum(dim=1)
        per_image = self.num_image_tokens if feat is not None else 0
        if not per_image:
            wrong = counts != 0
        else:
            wrong = (counts % per_image != 0) | (counts == 0) if repeated else counts != per_image
        bad = wrong.nonzero().flatten()
        if len(bad):
            i = int(bad[0])
            name = sample_ids[i] if sample_ids else f"batch row {i}"
            raise DataError(
                f"{int(counts[i])} image tokens in the prompt but the image gives {per_image}; "
                "was the prompt truncated or the <image> placeholder repeated?", where=f"sample {name}")
        if feat is not None:
            image = self.image_embeds(feat.to(self.device)).to(embeds.dtype)
            copies = (counts // per_image).tolist()
            flat = torch.cat([image[i].repeat(n, 1) for i, n in enumerate(copies)])
            embeds = embeds.masked_scatter(is_image.unsqueeze(-1), flat)
        return embeds

    # ----- text ---------------------------------------------------------------------------------
    def hidden_states(self, batch: dict, prefix: PrefixKV | None = None) -> torch.Tensor:
        """Last hidden states of the batch's positions; with `prefix`, the batch holds only what follows it."""
        mask = batch["attention_mask"]
        if prefix is not None:
            full = prefix.full_mask(mask)
            out = self.llm.model(input_ids=batch["input_ids"], attention_mask=full, cache=prefix.cache(),
                                 position_ids=position_ids(full)[:, prefix.length:], use_cache=True)
            return out.last_hidden_state
        isolated = "segment_ids" in batch
        embeds = self.input_embeds(batch["input_ids"], batch.get("frozen_features"), batch.get("ids"), isolated)
        if isolated:
            with record_function("isolated mask"):
                mask = self.isolated_mask(batch["segment_ids"], mask, embeds.dtype)
        out = self.llm.model(inputs_embeds=embeds, attention_mask=mask,
                             position_ids=batch.get("position_ids", position_ids(batch["attention_mask"])),
                             use_cache=False)
        return out.last_hidden_state

    def isolated_mask(self, segment_ids: torch.Tensor, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The 4D mask of isolated turns, in the form the LLM's attention implementation takes."""
        allowed = isolated_attention_mask(segment_ids, mask)
        impl = self.llm.config._attn_implementation
        if impl == "sdpa":
            return allowed
        if impl == "eager":
            return as_additive(allowed, dtype)
        raise UserError(f"isolated turns need an attention that takes a 4D mask (sdpa or eager), not '{impl}'; "
                        "set stage2.isolate_turns: false or load the LLM with attn_implementation='sdpa'")

    @torch.inference_mode()
    def prefix_kv(self, input_ids: Sequence[Sequence[int]], feats: torch.Tensor | None) -> list[PrefixKV]:
        """Keys and values of prompt prefixes of one length (their images' tokens included), one per row."""
        ids = torch.tensor([list(row) for row in input_ids], device=self.device)
        cache = self.llm.model(inputs_embeds=self.input_embeds(ids, feats), use_cache=True).cache
        return [PrefixKV(tuple((layer.keys[i : i + 1], layer.values[i : i + 1]) for layer in cache.layers))
                for i in range(len(ids))]

    def forward(self, batch: dict) -> tuple[torch.Tensor, float]:
        """Training entry point (what DDP/FSDP wrap): (mean loss over supervised tokens, their total weight)."""
        out = self.loss(batch)
        return out.loss, out.weight

    def loss(self, batch: dict) -> LossOutput:
        """Next-token cross-entropy over supervised positions only: their mean, or their mean weighted by the
        batch's `label_weights` (one weight per label position, `train/loss_average.py`)."""
        hidden = self.hidden_states(batch)
        targets = batch["labels"][:, 1:]
        keep = targets != IGNORE_INDEX
        n_tokens = int(keep.sum())
        if n_tokens == 0:
            return LossOutput(hidden.sum() * 0.0, 0, 0.0)
        logits = self.llm.lm_head(hidden[:, :-1][keep]).float()
        if "label_weights" not in batch:
            return LossOutput(F.cross_entropy(logits, targets[keep]), n_tokens, float(n_tokens))
        weights = batch["label_weights"][:, 1:][keep].float()
        per_token = F.cross_entropy(logits, targets[keep], reduction="none")
        return LossOutput((per_token * weights).sum() / weights.sum(), n_tokens, float(weights.sum()))

    def logits(self, batch: dict, prefix: PrefixKV | None = None) -> torch.Tensor:
        return self.llm.lm_head(self.hidden_states(batch, prefix)).float()

    @torch.inference_mode()
    def generate(self, batch: dict, max_new_tokens: int = 16, prefix: PrefixKV | None = None) -> list[list[int]]:
        """Greedy decoding with a KV cache over a left-padded batch; returns the new token ids.

        With `prefix` (keys and values of each row's shared start) the batch holds only what follows it.
        """
        if prefix is None:
            embeds = self.input_embeds(batch["input_ids"], batch.get("frozen_features"), batch.get("ids"))
            inputs = {"inputs_embeds": embeds, "attention_mask": batch["attention_mask"]}
        else:
            inputs = {"input_ids": batch["input_ids"], "attention_mask": prefix.full_mask(batch["attention_mask"]),
                      "cache": prefix.cache()}
        out = self.llm.generate(
            **inputs, max_new_tokens=max_new_tokens,
            do_sample=False, num_beams=1, pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id, suppress_tokens=[self.image_token_id],
        )
        if prefix is not None:  # from input ids, generate returns them in front of the new tokens
            out = out[:, batch["input_ids"].shape[1]:]
        eos = self.tokenizer.eos_token_id
        return [row[: row.index(eos)] if eos in row else row for row in out.tolist()]

    @torch.inference_mode()
    def score_candidates(self, batch: dict, candidates: Sequence[Sequence[int]],
                         prefix: PrefixKV | None = None) -> torch.Tensor:
        """Log-likelihood of each candidate answer after each prompt: (batch, n_candidates).

        Single-token candidates (yes/no) need one forward pass over the prompts; longer ones are scored
        by appending each candidate to every prompt in one larger batch.
        """
        if all(len(c) == 1 for c in candidates):
            hidden = self.hidden_states(batch, prefix)[:, -1]
            logprobs = self.llm.lm_head(hidden).float().log_softmax(-1)
            return logprobs[:, [c[0] for c in candidates]]
        return self._score_long(batch, candidates, prefix)

    def _score_long(self, batch: dict, candidates: Sequence[Sequence[int]], prefix: PrefixKV | None
                    ) -> torch.Tensor:
        bsz = batch["input_ids"].shape[0]
        width = max(len(c) for c in candidates)
        scores = torch.empty(bsz, len(candidates))
        for j, cand in enumerate(candidates):
            pad = width - len(cand)
            tail = torch.tensor(list(cand) + [self.tokenizer.pad_token_id] * pad, device=self.device).expand(bsz, -1)
            tail_mask = torch.tensor([1] * len(cand) + [0] * pad, device=self.device).expand(bsz, -1)
            ids = torch.cat([batch["input_ids"], tail], dim=1)
            mask = torch.cat([batch["attention_mask"], tail_mask], dim=1)
            extended = {**batch, "input_ids": ids, "attention_mask": mask, "position_ids": position_ids(mask)}
            logprobs = self.logits(extended, prefix)[:, -width - 1 : -1].log_softmax(-1)
            picked = logprobs.gather(-1, tail.unsqueeze(-1)).squeeze(-1)[:, : len(cand)]
            scores[:, j] = picked.sum(-1)
        return scores

    # ----- bookkeeping --------------------------------------------------------------------------
    def parameter_table(self) -> list[dict]:
        rows = []
        for name, module in (("vision_tower", self.tower), ("connector", self.connector), ("llm", self.llm)):
            params = list(module.parameters())
            trainable = sum(p.numel() for p in params if p.requires_grad)
            rows.append({"module": name, "parameters": sum(p.numel() for p in params), "trainable": trainable})
        return rows


def add_image_token(tokenizer: PreTrainedTokenizerBase, llm: PreTrainedModel) -> int:
    """Add `<image>` to the vocabulary; its embedding row is the mean of the others (deterministic).

    The row is never read for image positions (they are replaced) and is suppressed in generation.
    """
    if IMAGE_TOKEN in tokenizer.get_vocab():
        return tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    old = llm.get_input_embeddings().weight.shape[0]
    llm.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        table = llm.get_input_embeddings().weight
        table[old:] = table[:old].mean(dim=0)
        out = llm.get_output_embeddings()
        if out is not None and out.weight.data_ptr() != table.data_ptr():
            out.weight[old:] = out.weight[:old].mean(dim=0)
    return tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)


def build_connector(cfg: VLMConfig, vision_dim: int, llm_dim: int) -> Connector:
    if cfg.arch == "llava":
        return MlpProjector(vision_dim, llm_dim, cfg.pixel_shuffle)
    from tunebench.models.qformer import QFormer

    return QFormerConnector(QFormer(cfg.qformer, vision_dim), llm_dim, cfg.train_qformer)
