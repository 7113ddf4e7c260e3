"""One reader (and, for the synthetic world, one writer) per public data format."""
