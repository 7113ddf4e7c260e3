"""tunebench: decide how to adapt a model to your problem, then do it.

Two halves: a head-to-head benchmark of the LLaVA-1.5 and MiniGPT-4 designs on shared parts, and a
side-by-side measurement of prompting, retrieval and fine-tuning for LLM customization.
"""

import os

# Nothing in tunebench may reach a model hub: every part is loaded from local files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# tunebench shows its own Rich progress; the libraries' per-file bars would only add noise.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

__version__ = "0.1.0"
