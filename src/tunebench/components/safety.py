"""Checkpoint safety: safetensors by default; pickle only behind an explicit flag."""

from __future__ import annotations

from pathlib import Path

from tunebench.core.errors import UnsafeCheckpointError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def require_safetensors(folder: Path, allow_pickle: bool) -> bool:
    """Decide `use_safetensors` for a local Hugging Face folder, refusing pickle unless allowed.

    Returns True when safetensors weights are present. Raises when only pickle weights exist and the
    user did not pass the allow flag (pickle can run arbitrary code while loading).
    """
    if any(folder.glob("*.safetensors")):
        return True
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles and not allow_pickle:
        raise UnsafeCheckpointError(
            f"only pickle weights found ({', '.join(pickles)}); pickle can execute code on load. "
            "Convert to safetensors, or pass --allow-pickle if you trust this file",
            where=str(folder),
        )
    return False
