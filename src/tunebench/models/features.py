"""Frozen image features, computed once per (images, frozen module) and shared by every run.

The vision tower is frozen in both designs, and so is MiniGPT-4's Q-Former: their outputs never change
during training, so recomputing them every step (what a plain Trainer does) is wasted work. Entries are
keyed by content (image bytes + weights hash), stored as safetensors, and written atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from rich.progress import Progress
from safetensors.torch import load_file, save_file

from tunebench.components.cache import cache_root
from tunebench.core.errors import DataError
from tunebench.core.io import atomic_path, sha256_file

CHUNK = 32  # fixed, so a feature never depends on which other images shared its forward pass


def images_hash(paths: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def open_image(path: str) -> Image.Image:
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image: {exc}", where=path) from exc


def _cached(key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    path = cache_root() / "features" / f"{key}.safetensors"
    if path.is_file():
        try:
            return load_file(str(path))["feats"]
        except Exception:
            path.unlink(missing_ok=True)  # damaged entry: recompute, never trust it
    feats = compute()
    with atomic_path(path) as tmp:
        save_file({"feats": feats.contiguous()}, str(tmp))
    return feats


@torch.inference_mode()
def _run_chunks(fn: Callable[[torch.Tensor], torch.Tensor], inputs: Callable[[int, int], torch.Tensor],
                n: int, label: str) -> torch.Tensor:
    outs = []
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=n)
        for start in range(0, n, CHUNK):
            outs.append(fn(inputs(start, min(n, start + CHUNK))).float().cpu())
            progress.advance(task, min(CHUNK, n - start))
    return torch.cat(outs)


def tower_features(tower: torch.nn.Module, paths: Sequence[str], device: torch.device | None = None) -> torch.Tensor:
    """(n_images, tokens, dim) tower features for `paths`, cached by image content and tower weights."""
    device = device or torch.device("cpu")
    key = hashlib.sha256(f"tower:{tower.weights_hash}:{images_hash(paths)}".encode()).hexdigest()[:32]

    def compute() -> torch.Tensor:
        tower.to(device)

        def pixels(a: int, b: int) -> torch.Tensor:
            return tower.preprocess([open_image(p) for p in paths[a:b]]).to(device)

        return _run_chunks(tower, pixels, len(paths), "vision features")

    return _cached(key, compute)


def frozen_features_for(model, paths: Sequence[str]) -> torch.Tensor:
    """The frozen part of `model`'s image path per image: tower features, or a frozen Q-Former's outputs."""
    features = tower_features(model.tower, paths, model.device)
    connector = model.connector
    frozen = connector.frozen_cache_key()
    if frozen is None:  # LLaVA's projector, or a trainable Q-Former: the tower's features
        return features
    key = f"{frozen}:{images_hash(paths)}:{model.tower.weights_hash}"

    def compute() -> torch.Tensor:
        return _run_chunks(connector.frozen_part, lambda a, b: features[a:b].to(model.device), len(paths),
                           "Q-Former outputs")

    return _cached(hashlib.sha256(key.encode()).hexdigest()[:32], compute)
