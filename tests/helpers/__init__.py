"""Shared helpers for tests: tiny Shapes worlds, tiny recipe configs and subprocess control."""
