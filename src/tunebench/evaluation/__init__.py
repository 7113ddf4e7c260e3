"""Evaluation: official metrics, fast batch-invariant inference, resumable runs, lmms-eval bridge."""
