"""The `lmms_eval.models` entry point: model id "tunebench" -> `lmms_bridge.TunebenchLMM` (lmms-eval >= 0.7).

It imports nothing heavy, so that an environment the bridge cannot load in is named here, in the warning
lmms-eval prints, rather than only as lmms-eval's "Model 'tunebench' not found".
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import PackageNotFoundError, version

MODEL_ID = "tunebench"
CLASS_PATH = "tunebench.evaluation.lmms_bridge.TunebenchLMM"


def manifest():
    """lmms-eval's registry entry for the bridge (called when lmms-eval loads its model entry points)."""
    check_torchvision()
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=CLASS_PATH)


def check_torchvision() -> None:
    """transformers imports torchvision whenever it is installed, so a build that does not match torch (PyPI's
    CUDA torchvision beside a CPU torch) breaks every model load; tunebench's tasks do not need it."""
    if importlib.util.find_spec("torchvision") is None:
        return
    try:
        importlib.import_module("torchvision")
    except Exception as exc:
        raise ImportError(f"torchvision {_version('torchvision')} cannot be imported beside torch "
                          f"{_version('torch')} ({exc}); tunebench's lmms-eval tasks do not need it: "
                          "pip uninstall torchvision (make lmms does)") from None


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"
