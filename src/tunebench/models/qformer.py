"""BLIP-2's Querying Transformer, built from transformers' Blip2QFormerModel and sized to the parts.

Learnable query tokens attend to each other and, every `cross_attention_frequency` layers, to the frozen
image features; the same BERT-style layers encode text (with their own feed-forward weights) for the
stage-1 objectives. As in BLIP-2, the self-attention and feed-forward weights start from a pretrained
BERT — here the bundled all-MiniLM-L6-v2 (384 wide, 6 layers) — and cross-attention starts random.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, load_model
from torch import nn
from transformers import AutoTokenizer, Blip2QFormerConfig, Blip2QFormerModel, PreTrainedTokenizerBase
from transformers.models.blip_2.modeling_blip_2 import Blip2TextEmbeddings

from tunebench.core.config import STRICT
from tunebench.core.errors import UserError
from tunebench.core.io import read_json

WEIGHTS_FILE = "qformer.safetensors"  # a pretrained Q-Former run: its weights and its config
CONFIG_FILE = "qformer_config.json"


@dataclass
class QFormerConfig:
    __pydantic_config__ = STRICT
    num_query_tokens: int = 32
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    cross_attention_frequency: int = 2
    embed_dim: int = 256  # shared image-text space of the contrastive objective
    max_text_length: int = 40
    init_from: str | None = "all-minilm-l6-v2"  # a BERT sentence encoder folder or registry name; None = random
    vocab_size: int = 30522


def text_tokenizer(cfg: QFormerConfig) -> PreTrainedTokenizerBase:
    """The BERT tokenizer of the encoder the Q-Former starts from (bundled MiniLM by default)."""
    return AutoTokenizer.from_pretrained(_init_folder(cfg.init_from or "all-minilm-l6-v2"))


def _init_folder(name_or_path: str) -> Path:
    if name_or_path == "all-minilm-l6-v2":
        from tunebench.components.embedder import minilm_folder

        return minilm_folder()
    return Path(name_or_path).expanduser()


class QFormer(nn.Module):
    """Query tokens + Q-Former + the stage-1 heads (image/text projections, ITM head, temperature)."""

    def __init__(self, cfg: QFormerConfig, vision_dim: int):
        super().__init__()
        self.cfg = cfg
        self.hf_config = Blip2QFormerConfig(
            vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
            num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
            cross_attention_frequency=cfg.cross_attention_frequency, encoder_hidden_size=vision_dim,
            use_qformer_text_input=True, max_position_embeddings=512,
        )
        self.hf_config._attn_implementation = "eager"
        self.qformer = Blip2QFormerModel(self.hf_config)
        self.query_tokens = nn.Parameter(torch.randn(1, cfg.num_query_tokens, cfg.hidden_size) * 0.02)
        self.text_embeddings = Blip2TextEmbeddings(self.hf_config)
        self.vision_proj = nn.Linear(cfg.hidden_size, cfg.embed_dim)
        self.text_proj = nn.Linear(cfg.hidden_size, cfg.embed_dim)
        self.itm_head = nn.Linear(cfg.hidden_size, 2)
        self.temp = nn.Parameter(torch.tensor(0.07))
        if cfg.init_from:
            self.load_bert(_init_folder(cfg.init_from))

    @property
    def hidden_size(self) -> int:
        return self.cfg.hidden_size

    def load_bert(self, folder: Path) -> None:
        """Copy a BERT encoder's embeddings, self-attention and feed-forward weights (BLIP-2's init)."""
        bert = {k.removeprefix("bert."): v for k, v in load_file(str(folder / "model.safetensors")).items()}
        mapped = {
            "text_embeddings.word_embeddings.weight": bert["embeddings.word_embeddings.weight"],
            # token type 0 is added to every BERT input; folding it into positions keeps the sum exact.
            "text_embeddings.position_embeddings.weight": bert["embeddings.position_embeddings.weight"]
            + bert["embeddings.token_type_embeddings.weight"][0],
            "qformer.layernorm.weight": bert["embeddings.LayerNorm.weight"],
            "qformer.layernorm.bias": bert["embeddings.LayerNorm.bias"],
        }
        for i in range(self.cfg.num_layers):
            src, dst = f"encoder.layer.{i}.", f"qformer.encoder.layer.{i}."
            for name in ("query", "key", "value"):
                for p in ("weight", "bias"):
                    mapped[f"{dst}attention.attention.{name}.{p}"] = bert[f"{src}attention.self.{name}.{p}"]
            for p in ("dense.weight", "dense.bias", "LayerNorm.weight", "LayerNorm.bias"):
                mapped[f"{dst}attention.output.{p}"] = bert[f"{src}attention.output.{p}"]
                mapped[f"{dst}output.{p}"] = bert[f"{src}output.{p}"]
                mapped[f"{dst}output_query.{p}"] = bert[f"{src}output.{p}"]
            for p in ("weight", "bias"):
                mapped[f"{dst}intermediate.dense.{p}"] = bert[f"{src}intermediate.dense.{p}"]
                mapped[f"{dst}intermediate_query.dense.{p}"] = bert[f"{src}intermediate.dense.{p}"]
        missing = set(mapped) - set(self.state_dict())
        if missing:
            raise ValueError(f"Q-Former/BERT shape mismatch: {sorted(missing)[:3]}")
        self.load_state_dict(mapped, strict=False)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, vision_dim) image features -> (batch, num_query_tokens, hidden) query outputs."""
        queries = self.query_tokens.expand(image_features.shape[0], -1, -1)
        return self.qformer(query_embeds=queries, encoder_hidden_states=image_features).last_hidden_state

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Unimodal text encoding; returns the [CLS] hidden state."""
        embeds = self.text_embeddings(input_ids=input_ids)
        out = self.qformer(query_embeds=embeds, query_length=0, attention_mask=attention_mask)
        return out.last_hidden_state[:, 0]

    def itm_logits(self, image_features: torch.Tensor, input_ids: torch.Tensor,
                   attention_mask: torch.Tensor) -> torch.Tensor:
        """Image-text matching: queries and text attend to each other; queries see the image."""
        batch = input_ids.shape[0]
        queries = self.query_tokens.expand(batch, -1, -1)
        embeds = self.text_embeddings(input_ids=input_ids, query_embeds=queries)
        mask = torch.cat([torch.ones(batch, queries.shape[1], dtype=attention_mask.dtype,
                                     device=attention_mask.device), attention_mask], dim=1)
        out = self.qformer(query_embeds=embeds, query_length=queries.shape[1], attention_mask=mask,
                           encoder_hidden_states=image_features).last_hidden_state
        return self.itm_head(out[:, : queries.shape[1]]).mean(dim=1)

    def similarity(self, image_features: torch.Tensor, input_ids: torch.Tensor,
                   attention_mask: torch.Tensor) -> torch.Tensor:
        """(images, texts) similarity: the best-matching query per pair, as in BLIP-2's ITC."""
        img = F.normalize(self.vision_proj(self(image_features)), dim=-1)  # (B, Q, E)
        txt = F.normalize(self.text_proj(self.encode_text(input_ids, attention_mask)), dim=-1)  # (T, E)
        return torch.einsum("bqe,te->bqt", img, txt).amax(dim=1)


def load_qformer_weights(qformer: QFormer, run: Path) -> None:
    """Copy a pretrained Q-Former's weights into `qformer` (their configs must agree)."""
    meta = read_json(Path(run) / CONFIG_FILE)
    expected = {k: v for k, v in meta["qformer"].items() if k != "init_from"}
    actual = {k: v for k, v in asdict(qformer.cfg).items() if k != "init_from"}
    if expected != actual:
        raise UserError("the pretrained Q-Former's config differs from the model's", where=str(run))
    load_model(qformer, str(Path(run) / WEIGHTS_FILE))
