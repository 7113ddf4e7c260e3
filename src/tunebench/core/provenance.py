"""What every result carries so it can be reproduced: versions, machine, and time."""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime
from importlib import metadata

PACKAGES = ("tunebench", "torch", "transformers", "peft", "accelerate", "sentence-transformers",
            "faiss-cpu", "bm25s", "numpy", "pillow")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment() -> dict:
    import torch

    from tunebench.core.device import cpu_capability, native_bf16, pick_device

    return {
        "cpu_capability": cpu_capability(),
        "native_bf16": native_bf16(pick_device()),
        "versions": package_versions(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
