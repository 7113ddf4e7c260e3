"""Data: the Shapes visual world, loaders for the official benchmark formats, and the validator."""
