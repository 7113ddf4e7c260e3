"""Training: the generic resumable loop, feature caches, and the published two-stage recipes."""
