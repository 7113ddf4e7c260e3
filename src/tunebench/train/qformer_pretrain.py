"""BLIP-2 stage 1 for the Q-Former, against the frozen vision tower: image-text contrastive (ITC) and
image-text matching (ITM, with hard negatives mined from the contrastive similarities).

No public Q-Former exists for the default tower, so the MiniGPT-4 recipe runs this first. Captions that
are identical count as positives of each other (synthetic captions repeat; they are not negatives).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_model

from tunebench.core.config import STRICT
from tunebench.core.io import atomic_path, atomic_write_json
from tunebench.core.seed import seed_everything
from tunebench.data.records import Record
from tunebench.models.features import tower_features
from tunebench.models.qformer import CONFIG_FILE, WEIGHTS_FILE, QFormer, QFormerConfig, text_tokenizer
from tunebench.train.checkpointing import remove_checkpoints
from tunebench.train.loop import OptimConfig, TrainResult, train


@dataclass
class PretrainConfig:
    __pydantic_config__ = STRICT
    qformer: QFormerConfig
    optim: OptimConfig
    holdout_fraction: float = 0.1


def captions_of(records: list[Record]) -> list[tuple[str, str]]:
    """(image path, caption) pairs from caption records (LLaVA plain JSON or cc_sbu_align)."""
    return [(r.image, next(t.text for t in r.turns if t.role == "gpt")) for r in records if r.image]


def contrastive_losses(qformer: QFormer, feats: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                       caption_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ITC loss, ITM loss) for a batch of image features and tokenized captions."""
    temp = qformer.temp.clamp(0.001, 0.5)
    sim = qformer.similarity(feats, ids, mask) / temp  # (B, B)
    same = (caption_ids[:, None] == caption_ids[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    itc = (F.cross_entropy(sim, targets) + F.cross_entropy(sim.t(), targets)) / 2
    with torch.no_grad():  # hard negatives: likely under ITC, but a different caption
        weights = sim.float().softmax(dim=1).masked_fill(same.bool(), 0) + 1e-8 * (1 - same)
        has_negative = (1 - same).sum(dim=1) > 0
    if not bool(has_negative.any()):
        return itc, itc * 0.0
    rows = has_negative.nonzero().flatten()
    neg_text = torch.multinomial(weights[rows], 1).flatten()
    neg_image = torch.multinomial(weights.t()[rows], 1).flatten()
    all_feats = torch.cat([feats, feats[rows], feats[neg_image]])
    all_ids = torch.cat([ids, ids[neg_text], ids[rows]])
    all_mask = torch.cat([mask, mask[neg_text], mask[rows]])
    labels = torch.cat([torch.ones(len(ids)), torch.zeros(2 * len(rows))]).long().to(ids.device)
    itm = F.cross_entropy(qformer.itm_logits(all_feats, all_ids, all_mask), labels)
    return itc, itm


def pretrain_qformer(records: list[Record], tower, cfg: PretrainConfig, out: Path, resume: bool = False,
                     device: torch.device | None = None) -> dict:
    """Train a Q-Former on captions; save it with its config and report ITC loss and retrieval recall."""
    pairs = captions_of(records)
    images = sorted({p for p, _ in pairs})
    n_hold = max(1, int(len(images) * cfg.holdout_fraction))
    held = set(images[-n_hold:])
    train_pairs = [(p, c) for p, c in pairs if p not in held]
    test_pairs = [(p, c) for p, c in pairs if p in held]
    paths = [p for p, _ in pairs]
    feats = tower_features(tower, list(dict.fromkeys(paths)), device)
    row = {p: i for i, p in enumerate(dict.fromkeys(paths))}
    tokenizer = text_tokenizer(cfg.qformer)
    caption_index = {c: i for i, c in enumerate(sorted({c for _, c in pairs}))}
    # Seeded here, not by whatever ran earlier in the process: a benchmark whose first arm was cached (or that
    # ran an extra probe) must still draw the same query tokens and new layers.
    seed_everything(cfg.optim.seed)
    qformer = QFormer(cfg.qformer, tower.hidden_size)
    dataset = [{"feat": feats[row[p]], "caption": c, "cid": caption_index[c]} for p, c in train_pairs]
    held_out = [{"feat": feats[row[p]], "caption": c, "cid": caption_index[c]} for p, c in test_pairs]

    def collate(items: list[dict]) -> dict:
        tok = tokenizer([i["caption"] for i in items], padding=True, truncation=True,
                        max_length=cfg.qformer.max_text_length, return_tensors="pt")
        return {"feats": torch.stack([i["feat"] for i in items]), "input_ids": tok["input_ids"],
                "attention_mask": tok["attention_mask"], "cids": torch.tensor([i["cid"] for i in items]),
                "n_units": len(items)}

    def loss_fn(model: QFormer, batch: dict) -> tuple[torch.Tensor, int]:
        itc, itm = contrastive_losses(model, batch["feats"], batch["input_ids"], batch["attention_mask"],
                                      batch["cids"])
        return itc + itm, len(batch["cids"])

    before = retrieval_recall(qformer, feats, row, test_pairs, tokenizer)
    itc_before = itc_loss(qformer, collate(held_out))
    start = time.perf_counter()
    params = [p for p in qformer.parameters() if p.requires_grad]
    result: TrainResult = train(qformer, [{"params": params}], dataset, collate, loss_fn, cfg.optim,
                                run_dir=out, resume=resume, label="Q-Former pretraining")
    qformer.eval()
    after = retrieval_recall(qformer, feats, row, test_pairs, tokenizer)
    summary = {
        "loss_first": result.losses[0], "loss_last": result.losses[-1],
        "heldout_itc_before": itc_before, "heldout_itc_after": itc_loss(qformer, collate(held_out)),
        "recall_at_1_before": before["recall_at_1"],
        "recall_at_1": after["recall_at_1"], "chance": after["chance"], "held_out_images": len(held),
        "wall_s": time.perf_counter() - start, "train": result.to_dict(),
        "train_flops": pretraining_flops(qformer, train_pairs, tokenizer, cfg),
    }
    save_qformer(qformer, cfg, out, summary)
    remove_checkpoints(out)  # it only served a resume
    return summary


@torch.no_grad()
def itc_loss(qformer: QFormer, batch: dict) -> float:
    """Contrastive loss on one fixed batch (the held-out captions): comparable before and after training."""
    qformer.eval()
    device = next(qformer.parameters()).device
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    with torch.random.fork_rng():
        itc, _ = contrastive_losses(qformer, batch["feats"], batch["input_ids"], batch["attention_mask"],
                                    batch["cids"])
    return float(itc)


@torch.no_grad()
def retrieval_recall(qformer: QFormer, feats: torch.Tensor, row: dict[str, int], pairs: list[tuple[str, str]],
                     tokenizer) -> dict:
    """Image -> text recall@1 over the distinct held-out captions (ITC similarity), and chance level."""
    qformer.eval()
    captions = sorted({c for _, c in pairs})
    tok = tokenizer(captions, padding=True, truncation=True, max_length=qformer.cfg.max_text_length,
                    return_tensors="pt")
    images = sorted({p for p, _ in pairs})
    truth = {p: {c for q, c in pairs if q == p} for p in images}
    device = next(qformer.parameters()).device
    sim = qformer.similarity(feats[[row[p] for p in images]].to(device), tok["input_ids"].to(device),
                             tok["attention_mask"].to(device))
    top = sim.argmax(dim=1).tolist()
    hits = sum(captions[t] in truth[p] for p, t in zip(images, top, strict=True))
    chance = sum(len(truth[p]) for p in images) / (len(images) * len(captions))
    return {"recall_at_1": 100.0 * hits / len(images), "chance": 100.0 * chance}


def pretraining_flops(qformer: QFormer, pairs: list[tuple[str, str]], tokenizer, cfg: PretrainConfig) -> float:
    """Rough training FLOPs: 6 per parameter per token (forward and backward), over the query and caption tokens
    of four passes per pair (one for ITC; ITM's positive and two hard negatives)."""
    embeddings = sum(m.weight.numel() for m in qformer.modules() if isinstance(m, torch.nn.Embedding))
    params = sum(p.numel() for p in qformer.parameters() if p.requires_grad) - embeddings
    text = sum(min(len(ids), cfg.qformer.max_text_length) for ids in tokenizer([c for _, c in pairs])["input_ids"])
    tokens = len(pairs) * cfg.qformer.num_query_tokens + text
    return 6.0 * params * 4 * tokens * cfg.optim.epochs


def save_qformer(qformer: QFormer, cfg: PretrainConfig, out: Path, summary: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_model(qformer, str(tmp))
    atomic_write_json(out / CONFIG_FILE, {"qformer": asdict(cfg.qformer), "summary": summary})


def is_pretrained(run: Path) -> bool:
    return (Path(run) / CONFIG_FILE).is_file() and (Path(run) / WEIGHTS_FILE).is_file()
